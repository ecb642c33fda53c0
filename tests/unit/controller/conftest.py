from __future__ import annotations

import pytest

from controller.testing import Harness


@pytest.fixture
def h() -> Harness:
    return Harness()
