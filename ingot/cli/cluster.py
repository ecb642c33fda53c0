"""The thin I/O layer: connect like kubectl and read a :class:`~ingot.cli.snapshot.Snapshot`.

Connection (``kubectl`` semantics): ``--server URL`` (no authentication: the embedded
``ingot.apiserver``), else ``--kubeconfig`` / ``$KUBECONFIG`` / ``~/.kube/config`` with
``--context``, else the in-cluster service account. Reads go through
:class:`ingot.kube.source.KubeSource` (the seam every component uses). Kinds whose CRD is not
installed, or that RBAC forbids, are left empty and named in ``Snapshot.notes``; Secrets are
redacted as they are read.
"""

from __future__ import annotations

import time
from typing import Any

from ingot import errors
from ingot.cli.snapshot import Snapshot
from ingot.kube import source as src

CONFIGURATION_STATE = src.CONFIGURATION_STATE
SERVICE_L2_STATUS = src.SERVICE_L2_STATUS
SERVICE_BGP_STATUS = src.SERVICE_BGP_STATUS

CLUSTER_WIDE = (src.SERVICE, src.ENDPOINT_SLICE, src.NODE, src.NAMESPACE)
IN_NAMESPACE = (
    src.IP_ADDRESS_POOL,
    src.L2_ADVERTISEMENT,
    src.BGP_ADVERTISEMENT,
    src.BGP_PEER,
    src.BFD_PROFILE,
    src.COMMUNITY,
    src.SECRET,
    src.LEASE,
    CONFIGURATION_STATE,
    SERVICE_L2_STATUS,
    SERVICE_BGP_STATUS,
)


class ConnectError(Exception):
    """No usable cluster configuration (bad kubeconfig, unknown context)."""


def api_client(
    *, kubeconfig: str | None = None, context: str | None = None, server: str | None = None
) -> Any:
    """A ``kubernetes.client.ApiClient`` configured as described in the module docstring.

    Raises:
        ConnectError: no configuration could be loaded (the message says why).
    """
    import kubernetes.client
    import kubernetes.config
    from kubernetes.config.config_exception import ConfigException

    kconfig: Any = kubernetes.config  # untyped package

    if server:
        cfg = kubernetes.client.Configuration()
        cfg.host = server.rstrip("/")
        return kubernetes.client.ApiClient(cfg)
    try:
        return kconfig.new_client_from_config(config_file=kubeconfig, context=context)
    except (ConfigException, OSError) as exc:
        if kubeconfig or context:
            raise ConnectError(f"cannot load kubeconfig: {exc}") from exc
        try:
            kconfig.load_incluster_config()
        except ConfigException as exc2:
            raise ConnectError(
                f"no kubeconfig ({exc}) and not running in a cluster ({exc2})"
            ) from exc2
        return kubernetes.client.ApiClient()


def read_snapshot(source: src.Source, *, namespace: str, now_s: float | None = None) -> Snapshot:
    """List every kind the reports need and build a snapshot (``now_s`` default: wall clock).

    Raises:
        ingot.errors.KubeError: the API is unreachable or refuses a core kind (Services, Nodes).
    """
    objects: list[dict[str, Any]] = []
    notes: list[str] = []
    for kind in (*CLUSTER_WIDE, *IN_NAMESPACE):
        ns = None if kind in CLUSTER_WIDE else namespace
        try:
            items = source.list(kind, namespace=ns).items
        except errors.NotFound:
            notes.append(f"{kind}: not served by this API server (CRD not installed?)")
            continue
        except errors.KubeError as exc:
            if kind in (src.SERVICE, src.NODE):
                raise
            notes.append(f"{kind}: could not list: {exc}")
            continue
        for item in items:
            item.setdefault("kind", kind.kind)
            objects.append(item)
    snap = Snapshot.from_objects(
        objects, namespace=namespace, now_s=time.time() if now_s is None else now_s
    )
    if notes:
        from dataclasses import replace

        snap = replace(snap, notes=tuple(notes))
    return snap
