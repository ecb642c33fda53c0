"""Allocation decisions as values: :class:`Assigned` or :class:`Pending` with a reason.

Every reason is a frozen dataclass with a stable ``code`` (for metrics and Event reasons) and a
human ``message`` (for Events and ``ingot explain``). Reasons keep the per-pool detail that
MetalLB's final "no available IPs" drops (STYLE.md, "Patterns not to copy").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ipam.ranges import IPAddress
from ipam.request import ServiceKey

PoolCause = Literal["auto-assign-off", "not-admitted", "family", "exhausted"]
SharingCause = Literal["no-sharing-key", "key-differs", "backend-differs", "port-overlap"]


def _ips(ips: tuple[IPAddress, ...]) -> str:
    return ", ".join(str(ip) for ip in ips)


@dataclass(frozen=True)
class PoolVerdict:
    """Why one pool gave no address.

    Attributes:
        pool: pool name.
        cause: ``auto-assign-off`` (only used on explicit request), ``not-admitted``
            (serviceAllocation), ``family`` (no addresses of a needed family), ``exhausted``.
        detail: the specific rule or numbers, e.g. ``"all 4 IPv4 addresses in use"``.
    """

    pool: str
    cause: PoolCause
    detail: str

    def __str__(self) -> str:
        return f"pool {self.pool}: {self.detail}"


@dataclass(frozen=True)
class Reason:
    """Base of every Pending reason."""

    code: ClassVar[str] = "unknown"

    @property
    def message(self) -> str:
        """One human sentence naming the cause."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class NoPools(Reason):
    """No address pool is configured at all."""

    code: ClassVar[str] = "NoPools"

    @property
    def message(self) -> str:  # noqa: D102
        return "no IPAddressPool is configured"


@dataclass(frozen=True)
class NoAddressAvailable(Reason):
    """Automatic (or address-pool) allocation found no pool with a usable address.

    Attributes:
        verdicts: one verdict per pool, pools tried first first.
        pool: the requested pool (``metallb.io/address-pool``) or ``None`` for automatic.
    """

    verdicts: tuple[PoolVerdict, ...]
    pool: str | None = None

    code: ClassVar[str] = "NoAvailableIPs"

    @property
    def message(self) -> str:  # noqa: D102
        head = f"no available IPs in pool {self.pool}" if self.pool else "no available IPs"
        if not self.verdicts:
            return head
        return head + ": " + "; ".join(str(v) for v in self.verdicts)


@dataclass(frozen=True)
class UnknownPool(Reason):
    """``metallb.io/address-pool`` names a pool that does not exist."""

    pool: str
    code: ClassVar[str] = "UnknownPool"

    @property
    def message(self) -> str:  # noqa: D102
        return f"unknown pool {self.pool!r} (metallb.io/address-pool)"


@dataclass(frozen=True)
class PoolNotAdmitting(Reason):
    """The pool that must be used (requested by name or by IP) does not admit the Service."""

    pool: str
    detail: str
    code: ClassVar[str] = "PoolNotAdmitting"

    @property
    def message(self) -> str:  # noqa: D102
        return f"pool {self.pool} does not admit this service: {self.detail}"


@dataclass(frozen=True)
class RequestedIPNotInPool(Reason):
    """A requested (or held) IP lies outside every pool, or is excluded by ``avoidBuggyIPs``.

    Attributes:
        ip: the IP.
        detail: which of the two.
        requested: False when the IP is one the Service already held (restore, re-validation).
    """

    ip: IPAddress
    detail: str
    requested: bool = True
    code: ClassVar[str] = "RequestedIPNotInPool"

    @property
    def message(self) -> str:  # noqa: D102
        what = "requested IP" if self.requested else "IP"
        return f"{what} {self.ip} is not allowed in config: {self.detail}"


@dataclass(frozen=True)
class RequestedIPsInDifferentPools(Reason):
    """Requested IPs must all come from one pool (MetalLB rule)."""

    pools_by_ip: tuple[tuple[IPAddress, str], ...]
    code: ClassVar[str] = "RequestedIPsInDifferentPools"

    @property
    def message(self) -> str:  # noqa: D102
        where = ", ".join(f"{ip} in {pool}" for ip, pool in self.pools_by_ip)
        return f"requested IPs must come from one pool, but {where}"


@dataclass(frozen=True)
class RequestedPoolMismatch(Reason):
    """Requested IPs lie in a pool other than the one named by ``metallb.io/address-pool``."""

    ip: IPAddress
    ip_pool: str
    requested_pool: str
    code: ClassVar[str] = "RequestedPoolMismatch"

    @property
    def message(self) -> str:  # noqa: D102
        return (
            f"requested IP {self.ip} belongs to pool {self.ip_pool}, "
            f"not to the requested pool {self.requested_pool}"
        )


@dataclass(frozen=True)
class FamilyMismatch(Reason):
    """Requested IPs do not match the Service's IP families (case C12)."""

    requested: tuple[IPAddress, ...]
    families: tuple[int, ...]
    code: ClassVar[str] = "FamilyMismatch"

    @property
    def message(self) -> str:  # noqa: D102
        fams = "/".join(f"IPv{f}" for f in self.families)
        return (
            f"requested loadBalancer IP(s) {_ips(self.requested)} do not match the IP family "
            f"of the service ({fams}, from its ClusterIPs)"
        )


@dataclass(frozen=True)
class NotEnoughClusterIPs(Reason):
    """``RequireDualStack`` but the Service has fewer than two ClusterIPs."""

    families: tuple[int, ...]
    code: ClassVar[str] = "NotEnoughClusterIPs"

    @property
    def message(self) -> str:  # noqa: D102
        return "ipFamilyPolicy RequireDualStack but the service has only one ClusterIP family"


@dataclass(frozen=True)
class SharingConflict(Reason):
    """An IP is held by another Service and the two cannot share it.

    Attributes:
        ip: the contested IP.
        holder: ``namespace/name`` of the Service holding it.
        cause: ``no-sharing-key`` (either side lacks ``allow-shared-ip``), ``key-differs``,
            ``backend-differs`` (traffic policy or Local pod selector), ``port-overlap``.
        detail: the differing values.
    """

    ip: IPAddress
    holder: ServiceKey
    cause: SharingCause
    detail: str
    code: ClassVar[str] = "SharingConflict"

    @property
    def message(self) -> str:  # noqa: D102
        return f"IP {self.ip} is in use by {self.holder} without compatible sharing: {self.detail}"


@dataclass(frozen=True)
class StaleAssignment(Reason):
    """An existing assignment no longer fits the Service (restore / re-validation)."""

    ips: tuple[IPAddress, ...]
    detail: str
    code: ClassVar[str] = "StaleAssignment"

    @property
    def message(self) -> str:  # noqa: D102
        return f"existing IPs {_ips(self.ips)} no longer fit the service: {self.detail}"


@dataclass(frozen=True)
class Assigned:
    """The Service holds ``ips`` (IPv4 first when auto-allocated; requested order otherwise).

    Attributes:
        ips: one or two addresses, at most one per family.
        pool: the pool they come from (``metallb.io/ip-allocated-from-pool``).
        kept: True when the Service already held exactly these IPs. Its pool may still have
            been re-attributed by ``set_pools`` (IPs now in a differently named pool), so
            compare ``pool`` with the ``ip-allocated-from-pool`` annotation before skipping a
            write.
    """

    ips: tuple[IPAddress, ...]
    pool: str
    kept: bool = False


@dataclass(frozen=True)
class Pending:
    """The Service gets no IP; ``reason`` names the cause."""

    reason: Reason

    @property
    def message(self) -> str:
        """The reason's human message."""
        return self.reason.message


Decision = Assigned | Pending


@dataclass(frozen=True)
class RestoreConflict:
    """A claimed assignment that :meth:`ipam.allocator.Allocator.restore` did not accept.

    Attributes:
        key: the Service.
        ips: the IPs it claimed (from its status).
        reason: why the claim was refused (e.g. :class:`SharingConflict` naming the holder).
    """

    key: ServiceKey
    ips: tuple[IPAddress, ...]
    reason: Reason

    @property
    def message(self) -> str:
        """Human message."""
        return f"{self.key}: {self.reason.message}"
