"""Label and field selectors in their query-string form, as the kube-apiserver parses them.

Label selector grammar (k8s.io/apimachinery/pkg/labels/selector.go): comma-separated
requirements ``key``, ``!key``, ``key=v``, ``key==v``, ``key!=v``, ``key in (a,b)``,
``key notin (a,b)``, ``key>n``, ``key<n``. Field selectors (pkg/fields): ``path=v``,
``path==v``, ``path!=v``, comma-separated; which paths are allowed depends on the kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ingot.apiserver import errors

_KEY_RE = re.compile(
    r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE_RE = re.compile(r"^(([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?)$")


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``op`` in {exists, !exists, =, !=, in, notin, gt, lt}."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op in ("gt", "lt"):
            if not present:
                return False
            try:
                got, want = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return got > want if self.op == "gt" else got < want
        return False  # pragma: no cover - parse() only builds the ops above


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector; empty matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _check_key(key: str, raw: str) -> str:
    if not _KEY_RE.match(key):
        raise errors.bad_request(
            f'unable to parse requirement: invalid label key "{key}" in "{raw}"'
        )
    return key


def _check_value(value: str, raw: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise errors.bad_request(
            f'unable to parse requirement: invalid label value: "{value}" in "{raw}"'
        )
    return value


_SET_RE = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([^!=<>\s]+)\s*(==|=|!=|>|<)\s*(\S*)\s*$")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse ``text`` (the ``labelSelector`` query parameter).

    Raises:
        errors.ApiError: 400 BadRequest naming the requirement that does not parse.
    """
    if not text or not text.strip():
        return LabelSelector()
    reqs: list[Requirement] = []
    for raw_part in _split_top(text):
        part = raw_part.strip()
        if not part:
            raise errors.bad_request(f'unable to parse requirement: empty requirement in "{text}"')
        m = _SET_RE.match(part)
        if m:
            key = _check_key(m.group(1), text)
            values = tuple(_check_value(v.strip(), text) for v in m.group(3).split(","))
            reqs.append(Requirement(key, m.group(2), values))
            continue
        m = _CMP_RE.match(part)
        if m:
            key = _check_key(m.group(1), text)
            op = {"==": "=", "=": "=", "!=": "!=", ">": "gt", "<": "lt"}[m.group(2)]
            value = m.group(3)
            if op in ("gt", "lt") and not value.lstrip("-").isdigit():
                raise errors.bad_request(
                    f'unable to parse requirement: for "gt", "lt" operators, exactly one '
                    f'integer value is required in "{text}"'
                )
            reqs.append(Requirement(key, op, (_check_value(value, text),)))
            continue
        if part.startswith("!"):
            reqs.append(Requirement(_check_key(part[1:].strip(), text), "!exists"))
            continue
        if " " in part:
            raise errors.bad_request(f'unable to parse requirement: found "{part}" in "{text}"')
        reqs.append(Requirement(_check_key(part, text), "exists"))
    return LabelSelector(tuple(reqs))


@dataclass(frozen=True)
class FieldRequirement:
    """One field requirement: ``path`` (dotted), ``op`` ``=`` or ``!=``, ``value``."""

    path: str
    op: str
    value: str


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector; empty matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, fields: Callable[[str], str]) -> bool:
        for req in self.requirements:
            got = fields(req.path)
            if (got == req.value) != (req.op == "="):
                return False
        return True


def _split_escaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_field_selector(text: str | None, *, allowed: frozenset[str]) -> FieldSelector:
    """Parse ``text`` (the ``fieldSelector`` query parameter) allowing only ``allowed`` paths.

    Raises:
        errors.ApiError: 400 BadRequest for a malformed selector or an unsupported field
            ("field label not supported: x", as the real server says).
    """
    if not text or not text.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for part in _split_escaped(text, ","):
        part = part.strip()
        m = re.match(r"^([^!=]+)(==|=|!=)(.*)$", part)
        if not m:
            raise errors.bad_request(f'invalid field selector: "{part}" in "{text}"')
        path, op, value = m.group(1).strip(), m.group(2), m.group(3)
        if path not in allowed:
            raise errors.bad_request(f'field label not supported: "{path}"')
        reqs.append(FieldRequirement(path, "!=" if op == "!=" else "=", value))
    return FieldSelector(tuple(reqs))


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of dotted ``path`` in ``obj`` (missing -> "", bools lower-case)."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)
