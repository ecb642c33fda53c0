"""Kubernetes label selectors (``metav1.LabelSelector``) as pure values.

Used by ``IPAddressPool.spec.serviceAllocation`` (namespaceSelectors, serviceSelectors) and by
the advertisement kinds (nodeSelectors, serviceSelectors, ipAddressPoolSelectors).

Semantics are those of ``k8s.io/apimachinery/pkg/apis/meta/v1.LabelSelectorAsSelector``: all
``matchLabels`` pairs and all ``matchExpressions`` must hold (AND); an empty selector matches
every object. ``NotIn`` and ``DoesNotExist`` match objects that lack the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from ipam.labels import Labels

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
OPERATORS: frozenset[str] = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


@dataclass(frozen=True)
class Requirement:
    """One ``matchExpressions`` entry: ``key <operator> values``.

    Attributes:
        key: the label key.
        operator: ``In`` | ``NotIn`` | ``Exists`` | ``DoesNotExist``.
        values: the values for ``In``/``NotIn`` (non-empty); empty for the other two.
    """

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ValueError(f"operator {self.operator!r} is not one of {sorted(OPERATORS)}")
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfy this requirement (Kubernetes semantics)."""
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels

    def __str__(self) -> str:
        vals = ",".join(sorted(self.values))
        if self.operator == "In":
            return f"{self.key} in ({vals})"
        if self.operator == "NotIn":
            return f"{self.key} notin ({vals})"
        if self.operator == "Exists":
            return self.key
        return f"!{self.key}"


@dataclass(frozen=True)  # eq/hash over Labels (hashable)
class LabelSelector:
    """A label selector: ``match_labels`` AND every requirement of ``match_expressions``.

    ``match_labels`` is copied into a read-only mapping, so the selector is immutable and
    hashable. An empty selector matches everything (Kubernetes semantics).
    """

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "match_labels", Labels(self.match_labels))
        object.__setattr__(self, "match_expressions", tuple(self.match_expressions))

    @property
    def is_empty(self) -> bool:
        """True when the selector has no terms (it then matches every object)."""
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether ``labels`` satisfy every term; an empty selector matches all."""
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    def __str__(self) -> str:
        """Kubernetes selector string form, e.g. ``app=web,tier in (a,b)``."""
        parts = [f"{k}={v}" for k, v in self.match_labels.items()]
        parts += [str(r) for r in self.match_expressions]
        return ",".join(parts)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any] | None) -> LabelSelector:
        """Build a selector from its wire form (``{"matchLabels": ..., "matchExpressions": ...}``).

        Args:
            raw: the JSON dict of a ``metav1.LabelSelector``; ``None`` or ``{}`` is the empty
                selector.

        Returns:
            The selector.

        Raises:
            ValueError: on a malformed selector; the message names the field path relative to
                the selector (``matchExpressions[1].operator: ...``). Duplicate values in one
                expression and duplicate expressions are rejected, as MetalLB's webhook does.
        """
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ValueError(f"selector must be an object, got {type(raw).__name__}")
        unknown = set(raw) - {"matchLabels", "matchExpressions"}
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown selector field")
        raw_labels = raw.get("matchLabels") or {}
        if not isinstance(raw_labels, Mapping):
            raise ValueError("matchLabels: must be an object of string to string")
        labels: dict[str, str] = {}
        for key, value in raw_labels.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"matchLabels: invalid key {key!r}")
            if not isinstance(value, str):
                raise ValueError(f"matchLabels.{key}: value must be a string")
            labels[key] = value
        raw_exprs = raw.get("matchExpressions") or []
        if not isinstance(raw_exprs, list):
            raise ValueError("matchExpressions: must be a list")
        reqs: list[Requirement] = []
        for i, expr in enumerate(raw_exprs):
            path = f"matchExpressions[{i}]"
            if not isinstance(expr, Mapping):
                raise ValueError(f"{path}: must be an object")
            key = expr.get("key")
            if not isinstance(key, str) or not key:
                raise ValueError(f"{path}.key: required non-empty string")
            op = expr.get("operator")
            if not isinstance(op, str) or op not in OPERATORS:
                raise ValueError(f"{path}.operator: {op!r} is not one of {sorted(OPERATORS)}")
            values = expr.get("values") or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"{path}.values: must be a list of strings")
            if len(set(values)) != len(values):
                raise ValueError(f"{path}.values: duplicate value")
            try:
                req = Requirement(key, cast(Operator, op), frozenset(values))
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
            if req in reqs:
                raise ValueError(f"{path}: duplicate match expression")
            reqs.append(req)
        return cls(labels, tuple(reqs))


def matches_any(selectors: tuple[LabelSelector, ...], labels: Mapping[str, str]) -> bool:
    """Return whether any selector matches (OR); False for an empty tuple."""
    return any(sel.matches(labels) for sel in selectors)
