"""Shared helpers for ingot.kube unit tests: fake source, fake thread clock, polling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from ingot.kube import source, timing


def eventually(
    pred: Callable[[], object], *, timeout_s: float = 10.0, step_s: float = 0.005
) -> None:
    """Poll ``pred`` until truthy; fail after ``timeout_s`` real seconds (a hang guard only)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(step_s)
    assert pred(), "condition not reached"


@pytest.fixture
def fake() -> source.FakeSource:
    return source.FakeSource()


@pytest.fixture
def clock() -> timing.FakeThreadClock:
    return timing.FakeThreadClock()


@pytest.fixture
def stopper() -> Iterator[list]:
    """Collects things with ``stop()`` (informers, electors) and stops them after the test."""
    items: list = []
    yield items
    for item in reversed(items):
        item.stop()
