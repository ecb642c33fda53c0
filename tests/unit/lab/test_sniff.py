"""ingot.lab.sniff.double_answer_overlap_s: when two MACs answered for one IP at once."""

from __future__ import annotations

import pytest

from ingot.lab.sniff import double_answer_overlap_s

A, B = "02:00:00:00:00:0b", "02:00:00:00:00:0c"


@pytest.mark.parametrize(
    ("frames", "overlap_s"),
    [
        pytest.param([], 0.0, id="nothing"),
        pytest.param([(0.0, A), (1.0, A)], 0.0, id="one-owner"),
        pytest.param([(0.0, A), (1.0, B), (1.2, B)], 0.0, id="clean-handover"),
        pytest.param([(0.0, A), (1.0, B), (1.3, A)], 0.0, id="handover-back-b-silent"),
        pytest.param([(0.0, A), (1.0, B), (1.25, A), (1.5, B)], 0.25, id="both-answering"),
        pytest.param([(0.0, A), (1.0, B), (2.5, A), (2.6, B)], 0.0, id="outside-window"),
    ],
)
def test_double_answer_overlap(frames, overlap_s):
    assert double_answer_overlap_s(frames) == pytest.approx(overlap_s)
