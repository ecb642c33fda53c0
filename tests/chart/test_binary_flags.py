"""The flags the chart passes exist in the programs it starts (``--help`` of each entry point).

A renamed or missing flag would make the pod exit at start-up with an argparse error; this
test catches it before a cluster does. The values of ``flags.logLevel`` allowed by the schema
must be accepted by both programs too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCHEMA = Path(__file__).resolve().parents[2] / "charts" / "ingot" / "values.schema.json"

VARIANTS = [
    pytest.param({}, id="default"),
    pytest.param({"loadBalancerClass": "ingot.io/x"}, id="lb-class"),
    pytest.param({"controller": {"replicas": 2, "flags": {"leaderElect": True}}}, id="ha"),
    pytest.param({"webhook": {"certManager": {"enabled": True}}}, id="cert-manager"),
    pytest.param({"webhook": {"enabled": False}}, id="webhook-off"),
]
PROGRAMS = {"Deployment": "controller", "DaemonSet": "speaker"}


def _help(module: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def help_texts() -> dict[str, str]:
    return {module: _help(module) for module in PROGRAMS.values()}


def _options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", text))


@pytest.mark.parametrize("values", VARIANTS)
def test_chart_flags_exist(render: Any, help_texts: dict[str, str], values: dict[str, Any]) -> None:
    objs = render(values)
    for kind, module in PROGRAMS.items():
        (container,) = objs.one(kind)["spec"]["template"]["spec"]["containers"]
        assert container["command"] == [f"ingot-{module}"]
        flags = {a.split("=", 1)[0] for a in container["args"] if a.startswith("--")}
        unknown = sorted(flags - _options(help_texts[module]))
        assert not unknown, f"ingot-{module} has no {unknown} (chart: templates/_helpers.tpl)"


def test_schema_log_levels_are_accepted(help_texts: dict[str, str]) -> None:
    schema = json.loads(SCHEMA.read_text())
    flags = schema["properties"]["controller"]["properties"]["flags"]["properties"]
    levels = flags["logLevel"]["enum"]
    for module, text in help_texts.items():
        m = re.search(r"--log-level \{([a-z,]+)\}", text)
        if m:  # argparse choices: every schema level must be one of them
            assert set(levels) <= set(m.group(1).split(",")), module
    assert "warn" in levels  # MetalLB's spelling, accepted by both programs
