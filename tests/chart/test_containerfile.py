"""The Containerfile's install steps work, and the chart starts programs the image has.

There is no container engine here, so the test repeats what the Containerfile does, on this
machine: copy exactly the paths its build stage COPYs, build the package wheel (``pip wheel``,
as the build stage), install it into a fresh virtual environment (``pip install``, as the
runtime stage) and run both entry points with ``--help``. To stay fast, the package's
dependencies are not downloaded again: the fresh environment sees the project venv's
site-packages through a ``.pth`` file and the wheel is installed with ``--no-deps``.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = REPO / "Containerfile"
PY = sys.executable


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = CONTAINERFILE.read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            op, _, rest = line.strip().partition(" ")
            out.append((op.upper(), " ".join(rest.split())))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for op, args in _instructions():
        if op == "FROM":
            stages.append([])
        assert stages, "instruction before the first FROM"
        stages[-1].append((op, args))
    return stages


def test_containerfile_shape() -> None:
    stages = _stages()
    assert len(stages) == 2, "a build stage and a runtime stage"
    for stage in stages:
        assert stage[0][1].split()[0] == "python:3.11-slim"
    build, runtime = stages
    assert any(op == "RUN" and "pip wheel" in args for op, args in build)
    runs = " ".join(args for op, args in runtime if op == "RUN")
    assert "pip install --no-index --find-links=/wheels ingot-lb" in runs
    assert "ingot-controller --help" in runs
    assert "ingot-speaker --help" in runs
    users = [args for op, args in runtime if op == "USER"]
    assert users, "the runtime stage sets a user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "numeric uid, so runAsNonRoot can be verified by the kubelet"
    assert int(uid) != 0
    assert int(uid) == 10001, "matches controller.podSecurityContext.runAsUser in values.yaml"


def test_copied_sources_are_the_packages() -> None:
    copied = _copied_paths()
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    top_levels = {p.rstrip("*") for p in packages}
    assert top_levels <= set(copied), f"Containerfile does not COPY {top_levels - set(copied)}"
    assert "pyproject.toml" in copied
    assert "README.md" in copied, "pyproject's readme"


def _copied_paths() -> list[str]:
    build = _stages()[0]
    paths: list[str] = []
    for op, args in build:
        if op == "COPY":
            *sources, _dest = shlex.split(args)
            paths.extend(s for s in sources if not s.startswith("--"))
    return paths


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Build the wheel from the COPYed sources and install it into a fresh venv."""
    tmp = tmp_path_factory.mktemp("image")
    src = tmp / "src"
    src.mkdir()
    for rel in _copied_paths():
        path = REPO / rel
        if path.is_dir():
            shutil.copytree(path, src / rel, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / rel)
    wheels = tmp / "wheels"
    build = subprocess.run(
        [PY, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), str(src)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("ingot_lb-*.whl")

    venv = tmp / "venv"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    vpy = venv / "bin" / "python"
    site = subprocess.run(
        [str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    # Dependencies from the project venv (appended after the fresh site-packages, so the
    # freshly installed package wins over the editable checkout).
    Path(site, "_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = subprocess.run(
        [PY, "-m", "pip", "--python", str(vpy), "install", "-q", "--no-deps", "--no-index",
         str(wheel)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )  # fmt: skip
    assert inst.returncode == 0, inst.stderr[-3000:]
    return {"venv": venv, "python": vpy, "wheel": wheel, "site": Path(site)}


@pytest.mark.parametrize("program", ["ingot-controller", "ingot-speaker", "ingot"])
def test_entry_points_print_help(installed: dict[str, Any], program: str) -> None:
    exe = installed["venv"] / "bin" / program
    assert exe.exists(), f"console script {program} not installed"
    done = subprocess.run(
        [str(exe), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "usage:" in done.stdout.lower()


def test_programs_run_from_the_installed_wheel(installed: dict[str, Any]) -> None:
    code = "import controller, speaker, ingot, ipam; print(controller.__file__, speaker.__file__)"
    out = subprocess.run(
        [str(installed["python"]), "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=installed["venv"],
    ).stdout.split()
    for path in out:
        assert Path(path).is_relative_to(installed["site"]), f"{path} is not the installed copy"


def test_wheel_holds_every_tracked_package_file(installed: dict[str, Any]) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    listed = subprocess.run(
        ["git", "ls-files", "ipam", "ingot", "controller", "speaker"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=REPO,
    )
    if listed.returncode == 0:
        tracked = listed.stdout.split()
    else:  # not a git checkout (e.g. an exported tree): every file on disk
        tracked = [
            str(p.relative_to(REPO))
            for top in ("ipam", "ingot", "controller", "speaker")
            for p in (REPO / top).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ]
    assert tracked, "no package files found"
    missing = [f for f in tracked if f not in names]
    assert not missing, f"files the image would lack (declare them as package data): {missing}"


def test_wheel_requires_the_declared_dependencies(installed: dict[str, Any]) -> None:
    meta = zipfile.ZipFile(installed["wheel"]).read("ingot_lb-0.1.0.dist-info/METADATA").decode()
    requires = {
        re.split(r"[<>=!~ ;\[]", line.split(":", 1)[1].strip())[0].lower()
        for line in meta.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {re.split(r"[<>=!~ \[]", d)[0].lower() for d in declared} == requires
    assert "exabgp" in requires, "the speaker's BGP daemon comes with the package"
