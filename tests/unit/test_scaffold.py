"""The package imports and the console entry points answer --help."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["ingot.cli.main", "controller", "speaker"], ids=["ingot", "controller", "speaker"]
)
def test_entry_point_help(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


def test_fake_clock_moves_only_when_told() -> None:
    from ingot.clock import FakeClock

    clock = FakeClock(start_s=5.0)
    assert clock.now() == 5.0
    clock.advance(1.5)
    assert clock.now() == 6.5
    with pytest.raises(ValueError):
        clock.advance(-1)
