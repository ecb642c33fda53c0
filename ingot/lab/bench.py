"""Running a benchmark in the netns lab: a fresh run directory, the lab, the results file."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from ingot.lab.topology import Lab


def run_lab_bench(
    main_async: Callable[[Lab, Path], Coroutine[Any, Any, Any]],
    *,
    name: str,
    results: Path,
    doc: str | None = None,
    argv: list[str] | None = None,
) -> int:
    """Build the lab, run ``main_async(lab, run_dir)``, write and print its result as JSON.

    The command line takes ``--help`` (``doc`` is the description) and ``--out PATH`` (default
    ``results``), so asking a benchmark for help never overwrites its committed results.
    ``run_dir`` (``/tmp/ingot-bench-<name>-*``, mode 0755 so dropped-privilege daemons can read
    it) and the lab are removed also on failure. Returns the process exit status (0).
    """
    parser = argparse.ArgumentParser(
        prog=f"bench/{name}.py",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=results, help=f"default {results}")
    results = parser.parse_args(argv).out
    run_dir = Path(tempfile.mkdtemp(prefix=f"ingot-bench-{name}-"))
    run_dir.chmod(0o755)
    try:
        with Lab() as lab:
            lab.build()
            result: Any = asyncio.run(main_async(lab, run_dir))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0
