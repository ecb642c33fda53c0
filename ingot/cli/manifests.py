"""Reading manifests from files and directories, remembering where each object came from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SUFFIXES = (".yaml", ".yml", ".json")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in: ~10x faster


@dataclass(frozen=True)
class Loaded:
    """One object read from ``path`` (document number ``index``, from 0)."""

    obj: Mapping[str, Any]
    path: Path
    index: int


@dataclass(frozen=True)
class LoadProblem:
    """A file that could not be read or parsed."""

    path: Path
    message: str


def expand(paths: Iterable[str]) -> Iterator[Path]:
    """Files named by ``paths``: files as they are, directories walked for YAML/JSON files.

    Raises ``FileNotFoundError`` naming a path that does not exist.
    """
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file())
        elif p.exists():
            yield p
        else:
            raise FileNotFoundError(f"{raw}: no such file or directory")


def load(
    paths: Iterable[str], *, unpack_lists: bool = False
) -> tuple[list[Loaded], list[LoadProblem]]:
    """Every object in the files named by ``paths``.

    With ``unpack_lists``, each item of a ``kind: List`` (``kubectl get -o yaml``) becomes its
    own object that remembers the file; otherwise the List is returned as one object.
    """
    loaded: list[Loaded] = []
    problems: list[LoadProblem] = []
    for path in expand(paths):
        try:
            docs = list(yaml.load_all(path.read_text(), Loader=_LOADER))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(LoadProblem(path, f"cannot parse: {exc}".replace("\n", " ")))
            continue
        for i, doc in enumerate(docs):
            if doc is None:
                continue
            if not isinstance(doc, Mapping) or "kind" not in doc:
                problems.append(LoadProblem(path, f"document {i}: not a Kubernetes object"))
                continue
            items = doc.get("items")
            if unpack_lists and str(doc["kind"]).endswith("List") and isinstance(items, list):
                # `kubectl get -o yaml` output: each item keeps the file it came from
                item_kind = str(doc["kind"])[: -len("List")]
                for item in items:
                    if isinstance(item, Mapping) and "kind" not in item and item_kind:
                        item = {"kind": item_kind, **item}
                    if isinstance(item, Mapping):
                        loaded.append(Loaded(item, path, i))
                continue
            loaded.append(Loaded(doc, path, i))
    return loaded, problems


def origin_index(loaded: Iterable[Loaded]) -> dict[tuple[str, str, str], Path]:
    """``(kind, namespace, name)`` -> the file the object came from."""
    out: dict[tuple[str, str, str], Path] = {}
    for item in loaded:
        md = item.obj.get("metadata") or {}
        key = (str(item.obj.get("kind", "")), str(md.get("namespace") or ""), str(md.get("name")))
        out.setdefault(key, item.path)
    return out
