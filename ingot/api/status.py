"""Status kinds ingot writes: ServiceL2Status, ServiceBGPStatus, ConfigurationState.

Sources: MetalLB ``api/v1beta1/servicel2status_types.go``, ``servicebgpstatus_types.go``,
``configurationstate_types.go`` (v0.15.3 shape: ``result``, ``errorSummary``, ``conditions``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from ingot.api.common import TypedObject, WireModel

IMMUTABLE: dict[str, JsonValue] = {
    "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "Value is immutable"}]
}
"""CEL rule MetalLB puts on the node and Service fields of the status kinds."""

NODE_LABEL = "metallb.io/node"
SERVICE_NAME_LABEL = "metallb.io/service-name"
SERVICE_NAMESPACE_LABEL = "metallb.io/service-namespace"
COMPONENT_TYPE_LABEL = "metallb.io/component-type"
NODE_NAME_LABEL = "metallb.io/node-name"


class EmptySpec(WireModel):
    """Status kinds have an empty spec."""


class InterfaceInfo(WireModel):
    """A network interface an L2 announcement is made on."""

    name: str = ""
    """Interface name."""


class ServiceL2StatusStatus(WireModel):
    """Which node announces a Service in layer 2 mode (node and Service fields are immutable)."""

    node: str = Field(default="", json_schema_extra=IMMUTABLE)
    """The node that answers ARP/NDP for the Service's IPs."""
    service_name: str = Field(default="", json_schema_extra=IMMUTABLE)
    """Name of the Service."""
    service_namespace: str = Field(default="", json_schema_extra=IMMUTABLE)
    """Namespace of the Service."""
    interfaces: list[InterfaceInfo] = Field(default_factory=list)
    """Interfaces announced on; listed only when the advertisement restricts interfaces."""


class ServiceL2Status(TypedObject):
    """One per announced Service, written by the announcing speaker (``generateName: l2-``)."""

    spec: EmptySpec = Field(default_factory=EmptySpec)
    """Empty."""
    status: ServiceL2StatusStatus = Field(default_factory=ServiceL2StatusStatus)
    """Observed announcement."""


class ServiceBGPStatusStatus(WireModel):
    """Which peers a node hands a Service's prefixes to (node and Service fields are immutable)."""

    node: str = Field(default="", json_schema_extra=IMMUTABLE)
    """The advertising node."""
    service_name: str = Field(default="", json_schema_extra=IMMUTABLE)
    """Name of the Service."""
    service_namespace: str = Field(default="", json_schema_extra=IMMUTABLE)
    """Namespace of the Service."""
    peers: list[str] = Field(default_factory=list)
    """BGPPeer names the prefixes are handed to (intent, not session state)."""


class ServiceBGPStatus(TypedObject):
    """One per (Service, advertising node), written by that node's speaker (``bgp-``)."""

    spec: EmptySpec = Field(default_factory=EmptySpec)
    """Empty."""
    status: ServiceBGPStatusStatus = Field(default_factory=ServiceBGPStatusStatus)
    """Observed advertisement."""


class Condition(WireModel):
    """A Kubernetes status condition (``metav1.Condition``)."""

    type: str
    """Condition type, e.g. ``poolReconcilerValid`` or ``configReconcilerValid``."""
    status: Literal["True", "False", "Unknown"]
    """True, False or Unknown."""
    reason: str = ""
    """CamelCase reason: Reconciled, ConfigurationError, InfraError, UnknownError."""
    message: str = ""
    """Human-readable detail."""
    last_transition_time: str = ""
    """RFC 3339 time of the last status change."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` the condition was computed from."""


class ConfigurationStateStatus(WireModel):
    """Whether a component accepted the current configuration."""

    result: Literal["Valid", "Invalid", "Unknown"] = "Unknown"
    """Invalid iff some condition is False with reason ConfigurationError."""
    error_summary: str = ""
    """The errors, one per line, each naming the object and field path."""
    conditions: list[Condition] = Field(default_factory=list)
    """One condition per reconciler of the component."""


class ConfigurationState(TypedObject):
    """Named ``controller`` or ``speaker-<node>``: configuration health of each component."""

    status: ConfigurationStateStatus = Field(default_factory=ConfigurationStateStatus)
    """Observed configuration state."""
