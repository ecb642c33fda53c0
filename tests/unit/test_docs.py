"""The documentation points at things that exist.

* every relative link in ``docs/*.md`` and ``README.md`` names an existing file or directory
  (anchors and external ``scheme:`` links are not followed);
* every ``ingot ...`` command written in a fenced code block names a subcommand (and, for
  commands with their own subcommands such as ``ingot explain service`` or ``ingot lab demo``,
  a sub-subcommand) that ``ingot.cli.main.build_parser`` knows;
* every ``--flag`` written after ``ingot``, ``ingot-controller`` or ``ingot-speaker`` on one
  (backslash-continued) code-block line is a flag of that parser.

Each rule is checked against a small known-bad document first, so the test cannot pass by
finding nothing.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]

# [text](target) and [text]: target reference definitions; images use the same syntax.
_INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
_FENCE = re.compile(r"^\s*(```|~~~)")
# Words that may precede the program in a shell command.
_PREFIX_WORDS = {"$", "#", "sudo", "exec", "time", "watch", "command", "env"}
_PROGRAMS = ("ingot", "ingot-controller", "ingot-speaker")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


@dataclass(frozen=True)
class Problem:
    """One broken reference: file, 1-based line, message."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _strip_code_spans(line: str) -> str:
    return re.sub(r"`[^`]*`", "", line)


def heading_anchors(text: str) -> set[str]:
    """GitHub-style anchors of the Markdown headings of ``text`` (duplicates get ``-1``, ...)."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if in_fence or not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def link_problems(text: str, *, doc: Path) -> Iterator[Problem]:
    """Relative links of ``text`` (a Markdown file at ``doc``) whose target does not exist."""
    in_fence = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        prose = _strip_code_spans(line)
        targets = [m.group(1) for m in _INLINE_LINK.finditer(prose)]
        targets += [m.group(1) for m in _REF_LINK.finditer(prose)]
        for target in targets:
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue  # http:, https:, mailto: ...
            path_part, _, anchor = target.partition("#")
            path_part = path_part.split("?", 1)[0]
            if path_part:
                resolved = (doc.parent / path_part).resolve()
                if not resolved.exists():
                    yield Problem(doc.name, lineno, f"link target {target!r} does not exist")
                    continue
                page = resolved.read_text(encoding="utf-8") if resolved.suffix == ".md" else None
            else:
                page = text
            if anchor and page is not None:
                if anchor not in heading_anchors(page):
                    yield Problem(doc.name, lineno, f"link target {target!r}: no such heading")


def code_block_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, logical line) of every fenced code block; backslash continuations joined."""
    in_fence = False
    pending: list[str] = []
    start = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            pending = []
            continue
        if not in_fence:
            continue
        if not pending:
            start = lineno
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        yield start, " ".join(pending)
        pending = []


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _nested_words(parser: argparse.ArgumentParser) -> set[str]:
    """Words allowed right after a subcommand: its own subcommands, or the choices of its first
    positional argument (``ingot lab demo``); empty when anything goes."""
    nested = set(_subparsers(parser))
    if nested:
        return nested
    for action in parser._actions:
        if not action.option_strings and action.dest != "help":
            return {str(c) for c in action.choices or ()}
    return set()


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    flags = {opt for action in parser._actions for opt in action.option_strings}
    for sub in _subparsers(parser).values():
        flags |= _flags(sub)
    return flags


def _strip_comment(line: str) -> str:
    return line.split(" #", 1)[0]


def command_problems(
    text: str,
    *,
    name: str,
    ingot: argparse.ArgumentParser,
    programs: dict[str, argparse.ArgumentParser],
) -> Iterator[Problem]:
    """``ingot`` subcommands and program flags in code blocks of ``text`` that do not exist."""
    commands = _subparsers(ingot)
    flags = {prog: _flags(parser) for prog, parser in programs.items()}
    for lineno, raw_line in code_block_lines(text):
        for words in shell_commands(_strip_comment(raw_line)):
            program = words[0].rsplit("/", 1)[-1]
            if program not in _PROGRAMS:
                continue
            args = words[1:]
            word_re = r"[a-z][a-z0-9-]*"
            allowed = flags[program]
            if program == "ingot" and args and re.fullmatch(word_re, args[0]):
                sub = args[0]
                if sub not in commands:
                    yield Problem(name, lineno, f"'ingot {sub}': no such subcommand of ingot")
                    continue
                allowed = flags.get(f"ingot {sub}", allowed)
                nested = _nested_words(commands[sub])
                if nested and len(args) > 1 and re.fullmatch(word_re, args[1]):
                    if args[1] not in nested:
                        yield Problem(
                            name, lineno, f"'ingot {sub} {args[1]}': not one of {sorted(nested)}"
                        )
            for word in args:
                fm = _FLAG.match(word.lstrip("["))
                if fm and fm.group(1) not in allowed:
                    yield Problem(name, lineno, f"'{program} {fm.group(1)}': no such flag")


def shell_commands(line: str) -> Iterator[list[str]]:
    """The words of each command of a shell line (split at ``|``, ``&&``, ``||``, ``;``), with
    leading prompt/``sudo``/``VAR=value`` words removed."""
    for part in re.split(r"\|\||&&|\||;", line):
        words = part.split()
        while words and (
            words[0] in _PREFIX_WORDS or re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0])
        ):
            words = words[1:]
        if words:
            yield words


@pytest.fixture(scope="module")
def parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from controller.__main__ import build_parser as controller_parser
    from ingot.apiserver.__main__ import build_parser as apiserver_parser
    from ingot.cli.main import build_parser as ingot_parser
    from speaker.__main__ import build_parser as speaker_parser

    ingot = ingot_parser()
    return ingot, {
        "ingot": ingot,
        "ingot-controller": controller_parser(),
        "ingot-speaker": speaker_parser(),
        # ``ingot apiserver`` hands its arguments to ingot.apiserver's own parser.
        "ingot apiserver": apiserver_parser(),
    }


def test_docs_exist() -> None:
    names = {p.name for p in DOCS}
    for required in ("README.md", "quickstart.md", "migration-from-metallb.md", "architecture.md"):
        assert required in names, f"docs/{required} is missing"


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(REPO)) for p in DOCS])
def test_relative_links_exist(doc: Path) -> None:
    problems = list(link_problems(doc.read_text(encoding="utf-8"), doc=doc))
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(REPO)) for p in DOCS])
def test_commands_in_code_blocks_exist(
    doc: Path, parsers: tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]
) -> None:
    ingot, programs = parsers
    problems = list(
        command_problems(
            doc.read_text(encoding="utf-8"), name=doc.name, ingot=ingot, programs=programs
        )
    )
    assert not problems, "\n".join(map(str, problems))


def test_docs_index_lists_every_doc() -> None:
    index = (REPO / "docs" / "README.md").read_text(encoding="utf-8")
    for doc in DOCS:
        if doc.parent.name == "docs" and doc.name != "README.md":
            assert f"({doc.name})" in index, f"docs/README.md does not link {doc.name}"


# --- the checkers themselves find what they must (so the tests above cannot pass vacuously) ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("see [x](missing.md)", ["'missing.md'"], id="missing-file"),
        pytest.param("see [x](install.md#rbac)", [], id="existing-with-anchor"),
        pytest.param("see [x](../README.md)", [], id="parent-dir"),
        pytest.param("see [x](https://example.org/a.md)", [], id="external"),
        pytest.param("# Local part\nsee [x](#local-part)", [], id="anchor-in-page"),
        pytest.param("see [x](#nowhere)", ["no such heading"], id="anchor-missing"),
        pytest.param("see [x](install.md#no-such-heading)", ["no such heading"], id="anchor-other"),
        pytest.param("[ref]: nowhere/file.md", ["'nowhere/file.md'"], id="reference-definition"),
        pytest.param("```\n[x](missing.md)\n```", [], id="inside-code-block-ignored"),
        pytest.param("`[x](missing.md)`", [], id="inside-code-span-ignored"),
    ],
)
def test_link_checker(text: str, expected: list[str]) -> None:
    problems = [str(p) for p in link_problems(text, doc=REPO / "docs" / "x.md")]
    assert len(problems) == len(expected), problems
    for want, got in zip(expected, problems, strict=True):
        assert want in got


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("```\ningot status -n metallb-system\n```", [], id="known"),
        pytest.param("```\n$ ingot explain service demo/web\n```", [], id="nested-known"),
        pytest.param("```\nsudo .venv/bin/ingot lab demo -o json\n```", [], id="path-prefix"),
        pytest.param("```\ningot frobnicate\n```", ["'ingot frobnicate'"], id="unknown-sub"),
        pytest.param(
            "```\ningot explain pool p\n```", ["'ingot explain pool'"], id="unknown-nested"
        ),
        pytest.param("```\ningot lab frobnicate\n```", ["'ingot lab frobnicate'"], id="bad-choice"),
        pytest.param("```\ningot apiserver --port 0 --tls\n```", [], id="apiserver-flags"),
        pytest.param("ingot frobnicate outside a block", [], id="prose-ignored"),
        pytest.param(
            "```\nkubectl get ingot.io/x; python -m ingot.apiserver\n```", [], id="not-cmd"
        ),
        pytest.param(
            "```\ningot-controller --namespace x \\\n   --no-such-flag\n```",
            ["'ingot-controller --no-such-flag'"],
            id="continued-flag",
        ),
        pytest.param(
            "```\ningot-speaker --node-name n1 --hold-down 10\n```", [], id="speaker-flags"
        ),
        pytest.param(
            "```\ningot status --bogus | grep x --color\n```",
            ["'ingot --bogus'"],
            id="flag-before-pipe-only",
        ),
    ],
)
def test_command_checker(
    text: str,
    expected: list[str],
    parsers: tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]],
) -> None:
    ingot, programs = parsers
    problems = [str(p) for p in command_problems(text, name="x.md", ingot=ingot, programs=programs)]
    assert len(problems) == len(expected), problems
    for want, got in zip(expected, problems, strict=True):
        assert want in got
