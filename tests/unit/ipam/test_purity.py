"""ipam and ingot.api.services are pure: no I/O, threads, clock or outside systems (AST check)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = {
    "asyncio",
    "socket",
    "threading",
    "multiprocessing",
    "subprocess",
    "time",
    "os",
    "random",
    "kubernetes",
    "scapy",
    "pyroute2",
    "exabgp",
    "aiohttp",
    "requests",
    "urllib",
}
FILES = sorted((ROOT / "ipam").glob("*.py")) + [ROOT / "ingot" / "api" / "services.py"]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_impure_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
