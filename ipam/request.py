"""What the allocator needs to know about one LoadBalancer Service.

``ingot.api.services.service_request`` builds a :class:`ServiceRequest` from a raw Service; the
allocator never sees Kubernetes objects. Every field is plain data, so a request can be logged,
compared and replayed in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, NewType

from ipam.labels import Labels
from ipam.ranges import IPAddress

ServiceKey = NewType("ServiceKey", str)  # "namespace/name"

FamilyPolicy = Literal["SingleStack", "PreferDualStack", "RequireDualStack"]
TrafficPolicy = Literal["Cluster", "Local"]
FAMILY_POLICIES: frozenset[str] = frozenset({"SingleStack", "PreferDualStack", "RequireDualStack"})


class Port(NamedTuple):
    """One Service port as far as IP sharing cares: ``(protocol, port)``, e.g. ``("TCP", 80)``."""

    protocol: str
    port: int


@dataclass(frozen=True)
class ServiceRequest:
    """An allocation request for one Service.

    Attributes:
        key: ``"namespace/name"``.
        families: the Service's IP families in primary-first order, from its ClusterIPs
            (``(4,)``, ``(6,)``, ``(4, 6)`` or ``(6, 4)``); MetalLB derives the family from
            ``spec.clusterIPs`` so a PreferDualStack Service with one ClusterIP is single-stack
            (case C13).
        family_policy: ``spec.ipFamilyPolicy``.
        labels: Service ``metadata.labels`` (pool serviceSelectors).
        namespace_labels: labels of the Service's Namespace (pool namespaceSelectors).
        requested_ips: ``metallb.io/loadBalancerIPs`` or ``spec.loadBalancerIP``, in the user's
            order; empty for automatic allocation.
        pool: ``metallb.io/address-pool`` or ``None``.
        sharing_key: ``metallb.io/allow-shared-ip`` or ``None`` (an empty value is ``None``).
        traffic_policy: ``spec.externalTrafficPolicy``.
        backend_key: the pod selector in canonical string form (``app=web``); only compared
            between Local-policy Services, as MetalLB ``k8salloc.BackendKey`` does.
        ports: ``(protocol, port)`` pairs of ``spec.ports``; sharers must not overlap.
    """

    key: ServiceKey
    families: tuple[int, ...] = (4,)
    family_policy: FamilyPolicy = "SingleStack"
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    requested_ips: tuple[IPAddress, ...] = ()
    pool: str | None = None
    sharing_key: str | None = None
    traffic_policy: TrafficPolicy = "Cluster"
    backend_key: str = ""
    ports: frozenset[Port] = frozenset()

    def __post_init__(self) -> None:
        if "/" not in self.key:
            raise ValueError(f"service key {self.key!r} is not 'namespace/name'")
        if (
            not self.families
            or len(self.families) > 2
            or len(set(self.families)) != len(self.families)
        ):
            raise ValueError(f"families {self.families!r}: need one or two distinct families")
        if any(f not in (4, 6) for f in self.families):
            raise ValueError(f"families {self.families!r}: each must be 4 or 6")
        if self.family_policy not in FAMILY_POLICIES:
            raise ValueError(f"family_policy {self.family_policy!r} is not valid")
        object.__setattr__(self, "labels", Labels(self.labels))
        object.__setattr__(self, "namespace_labels", Labels(self.namespace_labels))
        object.__setattr__(self, "requested_ips", tuple(self.requested_ips))
        object.__setattr__(self, "ports", frozenset(Port(*p) for p in self.ports))
        if self.sharing_key == "":
            object.__setattr__(self, "sharing_key", None)

    @property
    def namespace(self) -> str:
        """The namespace part of :attr:`key`."""
        return self.key.partition("/")[0]

    @property
    def is_dual(self) -> bool:
        """True when the Service has two families (two ClusterIPs)."""
        return len(self.families) == 2
