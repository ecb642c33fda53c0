"""Immutable, hashable, picklable label maps (``metadata.labels`` as plain values)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class Labels(Mapping[str, str]):
    """A read-only ``str -> str`` mapping, sorted by key, hashable and equal to any equal dict.

    Args:
        items: the labels to copy.
    """

    __slots__ = ("_d",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._d: dict[str, str] = dict(sorted((items or {}).items()))

    def __getitem__(self, key: str) -> str:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        return hash(tuple(self._d.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._d == other._d
        if isinstance(other, Mapping):
            return self._d == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Labels({self._d!r})"

    def __reduce__(self) -> tuple[type[Labels], tuple[dict[str, str]]]:
        return (Labels, (self._d,))
