"""ingot.api and ipam are PURE (ARCHITECTURE.md section 1): no sockets, threads, clock, processes.

import-linter keeps third-party I/O libraries out; this AST walk covers the standard library,
which import-linter cannot tell apart. The two generator CLIs (crdgen, docgen) may write files.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
FORBIDDEN = {
    "socket",
    "threading",
    "time",
    "asyncio",
    "subprocess",
    "multiprocessing",
    "signal",
    "select",
    "selectors",
    "ssl",
    "http",
    "urllib",
    "concurrent",
    "random",
    "datetime",
}
FILE_WRITERS = {"ingot/api/crdgen.py", "ingot/api/docgen.py"}
MODULES = sorted(
    p.relative_to(ROOT).as_posix()
    for pkg in ("ingot/api", "ipam")
    for p in (ROOT / pkg).rglob("*.py")
)


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", MODULES)
def test_pure_module(module: str) -> None:
    roots = imported_roots((ROOT / module).read_text())
    assert not roots & FORBIDDEN, f"{module} imports {sorted(roots & FORBIDDEN)}"
    if module not in FILE_WRITERS:
        assert not roots & {"pathlib", "os", "io", "shutil", "tempfile"}, module


def test_checker_sees_forbidden_imports() -> None:
    assert imported_roots("import time\nfrom threading import Lock\n") == {"time", "threading"}
