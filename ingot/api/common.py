"""Shared building blocks of the metallb.io wire models: base config, metadata, label selectors.

Every model in :mod:`ingot.api` describes the *wire* shape of a MetalLB object exactly as a user
writes it (camelCase field names through aliases, MetalLB's defaults and ranges). Models are
strict (``"yes"`` is not a boolean, ``"179"`` is not a port) like the Kubernetes structural schema
the CRDs are generated from (:mod:`ingot.api.crdgen`), and frozen. Semantic rules that need more
than one field, or other objects, live in :mod:`ingot.api.validation` and :mod:`ingot.api.compile`.

Field documentation is written as attribute docstrings; pydantic turns them into descriptions,
which end up in the CRD schema and in ``docs/configuration.md``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "metallb.io"
"""API group of every kind ingot reads and writes (MetalLB's, unchanged)."""


class WireModel(BaseModel):
    """Base of every wire model: camelCase aliases, strict types, frozen, unknown fields kept.

    Unknown fields are not rejected, because the API server prunes them anyway (structural
    schema) and older/newer MetalLB manifests must keep loading; they are kept in
    ``model_extra`` so that the compiler can warn about them (:func:`unknown_fields`), since a
    misspelt field (``avoidBuggyIps``) would otherwise be silently ignored.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        strict=True,
        frozen=True,
        extra="allow",
        use_attribute_docstrings=True,
        serialize_by_alias=True,
    )


class ObjectMeta(WireModel):
    """The part of Kubernetes ``metadata`` that ingot reads (the CRD schema keeps it opaque)."""

    name: str = ""
    """Object name."""
    namespace: str = ""
    """Object namespace."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels, matched by ``ipAddressPoolSelectors``."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations (not interpreted)."""
    generate_name: str = ""
    """Prefix for a server-generated name (status objects use ``l2-`` and ``bgp-``)."""


SelectorOperator = Literal["In", "NotIn", "Exists", "DoesNotExist"]


class LabelSelectorRequirement(WireModel):
    """One requirement of a Kubernetes label selector (``matchExpressions[]``)."""

    key: str
    """The label key that the requirement applies to."""
    operator: SelectorOperator
    """Relationship of the key to the values: In, NotIn, Exists or DoesNotExist."""
    values: list[str] = Field(default_factory=list)
    """Values; non-empty for In and NotIn, empty for Exists and DoesNotExist."""


class LabelSelectorSpec(WireModel):
    """A Kubernetes label selector: ``matchLabels`` and ``matchExpressions``, ANDed.

    An empty selector matches everything (Kubernetes semantics).
    """

    match_labels: dict[str, str] = Field(default_factory=dict)
    """Map of {key: value}; each pair is equivalent to an In requirement with one value."""
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)
    """List of label selector requirements; all must hold."""


class TypedObject(WireModel):
    """Fields every Kubernetes object carries: apiVersion, kind and metadata."""

    api_version: str = f"{GROUP}/v1beta1"
    """API version, e.g. ``metallb.io/v1beta1``."""
    kind: str = ""
    """Object kind."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""


def unknown_fields(model: BaseModel, path: str = "") -> list[str]:
    """Field paths of every unknown field in a validated model tree (e.g. ``spec.autoassign``).

    Args:
        model: a validated wire model.
        path: the path of ``model`` itself (for recursion).

    Returns:
        Paths in document order.
    """
    out = [f"{path}.{k}" if path else k for k in (model.model_extra or {})]
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key = info.alias or name
        sub = f"{path}.{key}" if path else key
        if isinstance(value, BaseModel):
            out += unknown_fields(value, sub)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    out += unknown_fields(item, f"{sub}[{i}]")
    return out
