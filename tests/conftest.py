"""Test-wide guards: tiers by directory, root-only netlab, and no leaked namespaces or children."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier (by directory); netlab skips only when not root."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(TESTS).parts
        tier = parts[0] if len(parts) > 1 else "unit"
        if tier in {"unit", "kube", "netlab", "chart"}:
            item.add_marker(getattr(pytest.mark, tier))
        if tier == "netlab" and not IS_ROOT:
            item.add_marker(
                pytest.mark.skip(
                    reason="netlab tier needs root (network namespaces); CI runs as root"
                )
            )


def _netns() -> set[str]:
    try:
        out = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _children() -> set[int]:
    me = os.getpid()
    kids: set[int] = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == me:
                kids.add(int(status.parent.name))
                break
    return kids


@pytest.fixture(autouse=True)
def _no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a netlab test that leaves a network namespace or a child process behind.

    Namespaces: those this process created through ``ingot.lab.netns`` and still exist; in CI
    (``CI`` set, one test run on the machine) also any namespace that appeared during the test,
    which catches leaks from subprocesses such as ``ingot lab demo``. On a developer machine
    other runs' namespaces would be blamed on this test, so only the first check applies.
    """
    if request.node.get_closest_marker("netlab") is None:
        yield
        return
    from ingot.lab import netns

    ns_before, kids_before = _netns(), _children()
    created_before = set(netns.CREATED)
    yield
    now = _netns()
    leaked_ns = (set(netns.CREATED) - created_before) & now
    if os.environ.get("CI"):
        leaked_ns |= now - ns_before
    leaked_kids = {pid for pid in _children() - kids_before if Path(f"/proc/{pid}").exists()}
    for ns in leaked_ns:  # clean up so one failure does not cascade
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=10)
    assert not leaked_ns, f"test leaked network namespaces: {sorted(leaked_ns)}"
    assert not leaked_kids, f"test leaked child processes: {sorted(leaked_kids)}"
