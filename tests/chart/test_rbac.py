"""Least-privilege RBAC of the chart, checked against the API calls the components make (C38).

``USAGE`` lists every (verb, API group, resource, scope[, name]) the controller and the speaker
use, with the reason. The rendered Roles/ClusterRoles and bindings are evaluated the way the
Kubernetes RBAC authorizer does (rule matching by group, resource, verb, resourceNames; Role
only in its namespace), and two directions are asserted:

* nothing used is missing (MetalLB #2036 / Bitnami #15095: a crash-looping speaker and a
  controller that silently stopped allocating because the chart lagged the code);
* nothing granted is unused: every granted (verb, resource, scope) maps to a ``USAGE`` row.

``USAGE`` mirrors docs/install.md "RBAC". When a component starts using a new API, add the
row here (the first test then fails until the chart grants it). The same ``allowed`` helper
can check an audit log of ``ingot.apiserver`` (verb, group, resource, subresource, namespace).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

NS = "ingot-system"
OTHER_NS = "team-a"
CONTROLLER_SA = "ingot-controller"
SPEAKER_SA = "ingot-speaker"
METALLB_CONFIG = (
    "ipaddresspools",
    "l2advertisements",
    "bgpadvertisements",
    "bgppeers",
    "bfdprofiles",
    "communities",
)
READ = ("get", "list", "watch")


@dataclass(frozen=True)
class Use:
    """One API use: ``scope`` is ``cluster`` (all namespaces or cluster-scoped) or ``release``."""

    component: str
    verbs: tuple[str, ...]
    group: str
    resource: str
    scope: str
    reason: str
    name: str | None = None
    when: str = "always"  # always | self-managed-cert | leader-elect


def _config_reads(component: str) -> list[Use]:
    return [
        Use(component, READ, "metallb.io", r, "cluster", "metallb.io configuration")
        for r in METALLB_CONFIG
    ]


USAGE: list[Use] = [
    # --- controller
    Use("controller", (*READ, "update", "patch"), "", "services", "cluster",
        "LoadBalancer Services everywhere; ip-allocated-from-pool annotation"),
    Use("controller", ("update", "patch"), "", "services/status", "cluster",
        "status.loadBalancer.ingress, ingot.io/IPAllocated condition"),
    Use("controller", READ, "discovery.k8s.io", "endpointslices", "cluster",
        "sharing keys, serving endpoints"),
    Use("controller", READ, "", "namespaces", "cluster",
        "serviceAllocation.namespaceSelectors (C38)"),
    Use("controller", READ, "", "nodes", "cluster", "node labels for the compiler"),
    *_config_reads("controller"),
    Use("controller", ("create", "patch"), "", "events", "cluster", "Service events"),
    Use("controller", ("create", "patch"), "events.k8s.io", "events", "cluster",
        "Service events (events.k8s.io API)"),
    Use("controller", READ, "", "secrets", "release", "BGPPeer passwordSecret checks"),
    Use("controller", ("create",), "", "secrets", "release", "create the webhook cert Secret",
        when="self-managed-cert"),
    Use("controller", ("update", "patch"), "", "secrets", "release", "rotate the webhook cert",
        name="ingot-webhook-cert", when="self-managed-cert"),
    Use("controller", ("get", "update", "patch"), "admissionregistration.k8s.io",
        "validatingwebhookconfigurations", "cluster", "caBundle of our own webhook",
        name="ingot-webhook", when="self-managed-cert"),
    Use("controller", ("update", "patch"), "metallb.io", "ipaddresspools/status", "release",
        "IPAddressPool.status counters"),
    Use("controller", (*READ, "create", "update", "patch"), "metallb.io", "configurationstates",
        "release", "ConfigurationState controller"),
    Use("controller", ("update", "patch"), "metallb.io", "configurationstates/status",
        "release", "ConfigurationState controller status"),
    Use("controller", ("create",), "coordination.k8s.io", "leases", "release",
        "leader election Lease (first start)", when="leader-elect"),
    Use("controller", ("get", "update", "patch"), "coordination.k8s.io", "leases", "release",
        "leader election Lease", name="ingot-controller", when="leader-elect"),
    # --- speaker
    Use("speaker", READ, "", "services", "cluster", "assigned IPs to announce"),
    Use("speaker", ("update", "patch"), "", "services/status", "cluster",
        "ingot.io/Announced condition"),
    Use("speaker", READ, "discovery.k8s.io", "endpointslices", "cluster", "serving endpoints"),
    Use("speaker", READ, "", "nodes", "cluster", "node labels and conditions"),
    Use("speaker", READ, "", "namespaces", "cluster", "same Config as the controller"),
    *_config_reads("speaker"),
    Use("speaker", ("create", "patch"), "", "events", "cluster", "nodeAssigned, announceFailed"),
    Use("speaker", ("create", "patch"), "events.k8s.io", "events", "cluster",
        "Service events (events.k8s.io API)"),
    Use("speaker", READ, "", "secrets", "release", "BGP MD5 passwords, heartbeat key"),
    Use("speaker", READ, "", "configmaps", "release", "interface exclusion list"),
    Use("speaker", (*READ, "create", "update", "patch"), "coordination.k8s.io", "leases",
        "release", "node Leases: membership and fencing"),
    *[
        Use("speaker", (*READ, "create", "update", "patch", "delete"), "metallb.io", r,
            "release", "per-Service announcement status")
        for r in ("servicel2statuses", "servicebgpstatuses")
    ],
    Use("speaker", (*READ, "create", "update", "patch"), "metallb.io", "configurationstates",
        "release", "ConfigurationState speaker-<node>"),
    *[
        Use("speaker", ("update", "patch"), "metallb.io", f"{r}/status", "release",
            "status subresources")
        for r in ("servicel2statuses", "servicebgpstatuses", "configurationstates")
    ],
]  # fmt: skip


def _active(values: dict[str, Any]) -> set[str]:
    flags = {"always"}
    webhook = values.get("webhook", {})
    if webhook.get("enabled", True) and not webhook.get("certManager", {}).get("enabled"):
        flags.add("self-managed-cert")
    if values.get("controller", {}).get("flags", {}).get("leaderElect"):
        flags.add("leader-elect")
    return flags


def _rules_for(objs: Any, sa: str, namespace: str) -> list[tuple[dict[str, Any], str | None]]:
    """Rules granted to ``sa``: (rule, namespace it applies in, or None for everywhere)."""
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objs if o["kind"].endswith("Role")}
    out: list[tuple[dict[str, Any], str | None]] = []
    for binding in objs:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        subjects = binding["subjects"]
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == sa and s["namespace"] == namespace
            for s in subjects
        ):
            continue
        ref = binding["roleRef"]
        role = roles[(ref["kind"], ref["name"])]
        where = (
            None if binding["kind"] == "ClusterRoleBinding" else binding["metadata"]["namespace"]
        )
        out.extend((rule, where) for rule in role["rules"])
    return out


def allowed(
    objs: Any,
    sa: str,
    verb: str,
    group: str,
    resource: str,
    *,
    namespace: str | None,
    name: str | None = None,
    sa_namespace: str = NS,
) -> bool:
    """RBAC authorizer semantics; ``namespace=None`` asks for all namespaces / cluster scope."""
    for rule, where in _rules_for(objs, sa, sa_namespace):
        if where is not None and where != namespace:
            continue
        if group not in rule["apiGroups"] and "*" not in rule["apiGroups"]:
            continue
        if resource not in rule["resources"] and "*" not in rule["resources"]:
            continue
        if verb not in rule["verbs"] and "*" not in rule["verbs"]:
            continue
        names = rule.get("resourceNames")
        if names and name not in names:
            continue
        return True
    return False


VARIANTS = [
    pytest.param({}, id="default"),
    pytest.param({"webhook": {"certManager": {"enabled": True}}}, id="cert-manager"),
    pytest.param({"controller": {"replicas": 2, "flags": {"leaderElect": True}}}, id="ha"),
    pytest.param({"webhook": {"enabled": False}}, id="webhook-off"),
]
SA = {"controller": CONTROLLER_SA, "speaker": SPEAKER_SA}


@pytest.mark.parametrize("values", VARIANTS)
def test_everything_used_is_granted(render: Any, values: dict[str, Any]) -> None:
    objs = render(values)
    active = _active(values)
    missing = [
        f"{use.component}: {verb} {use.group or 'core'}/{use.resource} ({use.scope}) - {use.reason}"
        for use in USAGE
        if use.when in active
        for verb in use.verbs
        if not allowed(
            objs,
            SA[use.component],
            verb,
            use.group,
            use.resource,
            namespace=None if use.scope == "cluster" else NS,
            name=use.name,
        )
    ]
    assert not missing, "RBAC misses:\n" + "\n".join(missing)


@pytest.mark.parametrize("values", VARIANTS)
def test_everything_granted_is_used(render: Any, values: dict[str, Any]) -> None:
    objs = render(values)
    active = _active(values)
    used = {
        (use.component, verb, use.group, use.resource, use.scope, use.name)
        for use in USAGE
        if use.when in active
        for verb in use.verbs
    }
    unused = []
    for component, sa in SA.items():
        for rule, where in _rules_for(objs, sa, NS):
            scope = "cluster" if where is None else "release"
            names = rule.get("resourceNames") or [None]
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        for name in names:
                            key = (component, verb, group, resource, scope, name)
                            if key not in used:
                                unused.append(key)
    assert not unused, f"granted but not in USAGE (add a row with the reason or drop it): {unused}"


def test_c38_install_defaults_cover_namespace_selectors_and_speaker_start(render: Any) -> None:
    objs = render()
    # The controller lists Namespaces for pool namespaceSelectors (Bitnami #15095).
    assert allowed(objs, CONTROLLER_SA, "list", "", "namespaces", namespace=None)
    assert allowed(objs, CONTROLLER_SA, "watch", "", "namespaces", namespace=None)
    # The speaker reads what it needs at start-up without CRD discovery rights (MetalLB #2036).
    for resource in ("services", "nodes"):
        assert allowed(objs, SPEAKER_SA, "list", "", resource, namespace=None)
    assert allowed(objs, SPEAKER_SA, "list", "discovery.k8s.io", "endpointslices", namespace=None)
    assert allowed(objs, SPEAKER_SA, "create", "coordination.k8s.io", "leases", namespace=NS)
    for sa in (CONTROLLER_SA, SPEAKER_SA):
        assert allowed(objs, sa, "watch", "metallb.io", "ipaddresspools", namespace=None)


@pytest.mark.parametrize("values", VARIANTS)
def test_no_broad_grants(render: Any, values: dict[str, Any]) -> None:
    objs = render(values)
    for role in objs:
        if not role["kind"].endswith("Role"):
            continue
        for rule in role["rules"]:
            where = f"{role['kind']} {role['metadata']['name']}: {rule}"
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], where
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(
                rule["verbs"]
            ), where
            assert not {"pods/exec", "pods", "clusterroles", "roles"} & set(rule["resources"]), (
                where
            )
            if role["kind"] == "ClusterRole":
                # Secrets, Leases and ConfigMaps only in the release namespace.
                assert not {"secrets", "leases", "configmaps"} & set(rule["resources"]), where
            if "validatingwebhookconfigurations" in rule["resources"]:
                assert rule["resourceNames"] == ["ingot-webhook"], where
                assert set(rule["verbs"]) <= {"get", "update", "patch"}, where


@pytest.mark.parametrize(
    ("sa", "verb", "group", "resource", "namespace", "name"),
    [
        pytest.param(CONTROLLER_SA, "get", "", "secrets", OTHER_NS, None, id="secrets-elsewhere"),
        pytest.param(CONTROLLER_SA, "list", "", "secrets", None, None, id="secrets-cluster-wide"),
        pytest.param(SPEAKER_SA, "get", "", "secrets", "kube-system", None, id="speaker-secrets"),
        pytest.param(
            CONTROLLER_SA, "update", "", "secrets", NS, "other", id="rotate-any-secret"
        ),
        pytest.param(
            CONTROLLER_SA, "delete", "", "secrets", NS, "ingot-webhook-cert", id="delete-cert"
        ),
        pytest.param(
            CONTROLLER_SA,
            "patch",
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            None,
            "other-webhook",
            id="patch-foreign-webhook",
        ),
        pytest.param(
            CONTROLLER_SA,
            "list",
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            None,
            None,
            id="list-webhooks",
        ),
        pytest.param(SPEAKER_SA, "update", "", "services", None, None, id="speaker-edits-spec"),
        pytest.param(SPEAKER_SA, "create", "metallb.io", "ipaddresspools", NS, None, id="spk-cfg"),
        pytest.param(
            CONTROLLER_SA, "delete", "metallb.io", "ipaddresspools", NS, None, id="ctl-delete-cfg"
        ),
        pytest.param(
            SPEAKER_SA, "create", "coordination.k8s.io", "leases", "kube-node-lease", None,
            id="leases-elsewhere",
        ),
        pytest.param(
            CONTROLLER_SA, "create", "coordination.k8s.io", "leases", NS, None,
            id="no-lease-without-leader-elect",
        ),
        pytest.param(SPEAKER_SA, "update", "", "nodes", None, None, id="speaker-edits-nodes"),
        pytest.param(SPEAKER_SA, "get", "", "configmaps", OTHER_NS, None, id="configmaps-other"),
        pytest.param(
            SPEAKER_SA, "create", "metallb.io", "servicel2statuses", OTHER_NS, None,
            id="status-in-other-namespace",
        ),
    ],
)  # fmt: skip
def test_denied(
    render: Any, sa: str, verb: str, group: str, resource: str, namespace: str | None,
    name: str | None,
) -> None:  # fmt: skip
    assert not allowed(render(), sa, verb, group, resource, namespace=namespace, name=name)


def test_rbac_create_false_renders_no_rbac(render: Any) -> None:
    kinds = render({"rbac": {"create": False}}).kinds()
    assert not {"ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"} & kinds


def test_custom_namespace_binds_the_right_service_accounts(render: Any) -> None:
    objs = render(namespace="lb-prod", name="edge")
    assert allowed(
        objs, "edge-ingot-speaker", "create", "coordination.k8s.io", "leases",
        namespace="lb-prod", sa_namespace="lb-prod",
    )  # fmt: skip
    assert not allowed(
        objs, "edge-ingot-speaker", "create", "coordination.k8s.io", "leases",
        namespace=NS, sa_namespace="lb-prod",
    )  # fmt: skip


def test_usage_table_is_documented() -> None:
    """docs/install.md names every resource the components use."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "install.md").read_text()
    missing = sorted({use.resource for use in USAGE if f"`{use.resource}`" not in doc})
    assert not missing, f"docs/install.md does not explain: {missing}"
