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

import ast
import importlib
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ingot.kube import source as src

REPO = Path(__file__).resolve().parents[2]

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


ANY_NAME = "<the configured name>"
"""``allowed(name=ANY_NAME)``: the code uses one configured object name (not visible to a scan)."""


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
    # Why a rule is granted although no code uses it yet (None: the code scan must find it).
    anticipated: str | None = None


def _config_reads(component: str) -> list[Use]:
    return [
        Use(component, ("list", "watch"), "metallb.io", r, "release",
            "metallb.io configuration (only this namespace is used)")
        for r in METALLB_CONFIG
    ]  # fmt: skip


USAGE: list[Use] = [
    # --- controller
    Use("controller", ("list", "watch", "patch"), "", "services", "cluster",
        "LoadBalancer Services everywhere; ip-allocated-from-pool annotation"),
    Use("controller", ("update",), "", "services/status", "cluster",
        "status.loadBalancer.ingress, ingot.io/IPAllocated condition"),
    Use("controller", ("list", "watch"), "discovery.k8s.io", "endpointslices", "cluster",
        "sharing keys, serving endpoints"),
    Use("controller", ("list", "watch"), "", "namespaces", "cluster",
        "serviceAllocation.namespaceSelectors (C38)"),
    Use("controller", ("list", "watch"), "", "nodes", "cluster", "node labels for the compiler"),
    *_config_reads("controller"),
    Use("controller", ("create", "patch"), "", "events", "cluster",
        "Service events; patch aggregates repeats (EventRecorder)"),
    Use("controller", ("list", "watch"), "", "secrets", "release",
        "BGPPeer passwordSecret checks"),
    Use("controller", ("get",), "", "secrets", "release", "read the webhook cert Secret",
        when="self-managed-cert"),
    Use("controller", ("create",), "", "secrets", "release", "create the webhook cert Secret",
        when="self-managed-cert"),
    Use("controller", ("update",), "", "secrets", "release", "rotate the webhook cert",
        name="ingot-webhook-cert", when="self-managed-cert"),
    Use("controller", ("get", "update"), "admissionregistration.k8s.io",
        "validatingwebhookconfigurations", "cluster", "caBundle of our own webhook",
        name="ingot-webhook", when="self-managed-cert"),
    Use("controller", ("update",), "metallb.io", "ipaddresspools/status", "release",
        "IPAddressPool.status counters"),
    Use("controller", ("get", "list", "watch", "create"), "metallb.io", "configurationstates",
        "release", "ConfigurationState controller (re-created when deleted)"),
    Use("controller", ("update",), "metallb.io", "configurationstates/status", "release",
        "ConfigurationState controller status"),
    Use("controller", ("create",), "coordination.k8s.io", "leases", "release",
        "leader election Lease (first start)", when="leader-elect"),
    Use("controller", ("get", "update"), "coordination.k8s.io", "leases", "release",
        "leader election Lease", name="ingot-controller", when="leader-elect"),
    # --- speaker
    Use("speaker", ("list", "watch"), "", "services", "cluster", "assigned IPs to announce"),
    Use("speaker", ("patch",), "", "services/status", "cluster", "ingot.io/Announced condition"),
    Use("speaker", ("list", "watch"), "discovery.k8s.io", "endpointslices", "cluster",
        "serving endpoints"),
    Use("speaker", ("list", "watch"), "", "nodes", "cluster", "node labels and conditions"),
    *_config_reads("speaker"),
    Use("speaker", ("create",), "", "events", "cluster", "nodeAssigned, announceFailed"),
    Use("speaker", ("list", "watch"), "", "secrets", "release", "BGP MD5 passwords"),
    Use("speaker", ("get", "list", "watch", "create", "update"), "coordination.k8s.io",
        "leases", "release", "node Leases: membership and fencing"),
    Use("speaker", ("get", "list", "create", "delete"), "metallb.io", "servicel2statuses",
        "release", "ServiceL2Status of announced Services"),
    Use("speaker", ("update",), "metallb.io", "servicel2statuses/status", "release",
        "ServiceL2Status status"),
    Use("speaker", ("get", "list", "create", "delete"), "metallb.io", "servicebgpstatuses",
        "release", "ServiceBGPStatus per (Service, node)"),
    Use("speaker", ("update",), "metallb.io", "servicebgpstatuses/status", "release",
        "ServiceBGPStatus status"),
]  # fmt: skip


def _active(values: dict[str, Any]) -> set[str]:
    flags = {"always"}
    webhook = values.get("webhook", {})
    if webhook.get("enabled", True) and not webhook.get("certManager", {}).get("enabled"):
        flags.add("self-managed-cert")
    if values.get("controller", {}).get("flags", {}).get("leaderElect"):
        flags.add("leader-elect")
    return flags


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
    """RBAC authorizer semantics (``Rendered.allowed``); ``namespace=None``: all namespaces."""
    return bool(
        objs.allowed(
            sa, verb, group, resource, namespace=namespace, name=name,
            any_name=name is ANY_NAME, sa_namespace=sa_namespace,
        )
    )  # fmt: skip


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
        for rule, where in objs.rules_for(sa, NS):
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
        assert allowed(objs, sa, "watch", "metallb.io", "ipaddresspools", namespace=NS)
        # Configuration objects are used only in the release namespace (as MetalLB).
        assert not allowed(objs, sa, "list", "metallb.io", "ipaddresspools", namespace=None)


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
    doc = (REPO / "docs" / "install.md").read_text()
    missing = sorted({use.resource for use in USAGE if f"`{use.resource}`" not in doc})
    assert not missing, f"docs/install.md does not explain: {missing}"


# --- what the code really calls -----------------------------------------------------------
#
# An AST scan of controller/ and speaker/ (plus ingot.kube modules they use for API writes)
# finds every call of the ingot.kube ``Source`` seam (``get``, ``list``, ``watch``, ``create``,
# ``replace``, ``replace_status``, ``patch``, ``patch_status``, ``delete``), every ``Informer``
# (list + watch) and every official-client call (``read_namespaced_secret`` ...), resolves the
# Kind, and maps it to the RBAC (verb, group, resource). Namespaced kinds whose objects belong
# to users (Services, EndpointSlices, Events) are cluster scope, everything else the release
# namespace. Names restricted by resourceNames are not visible to the scan (ANY_NAME).

SOURCE_VERBS = {
    "get": ("get", ""),
    "list": ("list", ""),
    "watch": ("watch", ""),
    "create": ("create", ""),
    "replace": ("update", ""),
    "replace_status": ("update", "/status"),
    "patch": ("patch", ""),
    "patch_status": ("patch", "/status"),
    "delete": ("delete", ""),
}
CLIENT_VERBS = {"read": "get", "list": "list", "create": "create", "replace": "update",
                "patch": "patch", "delete": "delete"}  # fmt: skip
CLIENT_RESOURCES = {
    "secret": ("", "secrets"),
    "config_map": ("", "configmaps"),
    "lease": ("coordination.k8s.io", "leases"),
    "service": ("", "services"),
    "event": ("", "events"),
    "validating_webhook_configuration": (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
}
USER_NAMESPACED = {"services", "endpointslices", "events"}
CLIENT_CALL = re.compile(
    r"^(read|list|create|replace|patch|delete)_(namespaced_)?([a-z_]+?)(_status)?$"
)


@dataclass(frozen=True)
class Call:
    component: str
    verb: str
    group: str
    resource: str
    scope: str
    where: str


KUBE_CALLERS = {
    "lease": ("LeaseElector", "LeaderElector", "fence_lease"),
    "events": ("EventRecorder",),
}


def _files_to_scan() -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for component in ("controller", "speaker"):
        for path in sorted((REPO / component).rglob("*.py")):
            if path.name == "testing.py" or "fake" in path.name:
                continue  # in-memory fakes for tests, not API calls
            files.append((component, path))
            text = path.read_text()
            # ingot.kube modules that call the API for a component that uses their callers
            # (not for a helper such as format_time).
            for module, callers in KUBE_CALLERS.items():
                if any(re.search(rf"\b{name}\b", text) for name in callers):
                    files.append((component, REPO / "ingot" / "kube" / f"{module}.py"))
    return list(dict.fromkeys(files))


def _scan_file(component: str, path: Path) -> set[Call]:
    """API calls of one module (see the comment above ``SOURCE_VERBS``)."""
    kinds = {k: v for k, v in vars(src).items() if isinstance(v, src.Kind)}
    kind_tuples = {
        k: v
        for k, v in vars(src).items()
        if isinstance(v, tuple) and v and all(isinstance(x, src.Kind) for x in v)
    }
    tree = ast.parse(path.read_text())
    local: dict[str, Any] = {}
    found: set[Call] = set()
    # Module globals resolve imported names and aliases (``rec.CONFIGURATION_STATE``).
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    namespace = vars(importlib.import_module(module))

    def const(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            base = namespace.get(node.value.id)
            if base is None and node.value.id in {"src", "source"}:
                base = src
            return getattr(base, node.attr, None) if isinstance(base, types.ModuleType) else None
        if isinstance(node, ast.Name):
            if node.id in local:
                return local[node.id]
            value = namespace.get(node.id, kinds.get(node.id, kind_tuples.get(node.id)))
            return value if isinstance(value, src.Kind | tuple) else None
        return None

    def kinds_of(node: ast.AST) -> tuple[Any, ...]:
        value = const(node)
        if isinstance(value, src.Kind):
            return (value,)
        return value if isinstance(value, tuple) else ()

    def add(verb: str, group: str, resource: str, scope: str, line: int) -> None:
        where = f"{path.relative_to(REPO)}:{line}"
        found.add(Call(component, verb, group, resource, scope, where))

    def add_kind(kind: Any, verb: str, sub: str, in_namespace: bool, line: int) -> None:
        user = kind.plural in USER_NAMESPACED or not kind.namespaced or not in_namespace
        add(verb, kind.group, kind.plural + sub, "cluster" if user else "release", line)

    # Kind(...) constants and tuples of kinds defined in the module; loop variables over them.
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            value, name = node.value, node.targets[0].id
            func = getattr(value, "func", None)
            if getattr(func, "attr", getattr(func, "id", None)) == "Kind":
                assert isinstance(value, ast.Call)
                args = [const(a) for a in value.args]
                kw = {k.arg: const(k.value) for k in value.keywords if k.arg}
                local[name] = src.Kind(*args, **kw)
            elif isinstance(value, ast.Tuple):
                items = tuple(const(e) for e in value.elts)
                if items and all(isinstance(i, src.Kind) for i in items):
                    local[name] = items
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            if isinstance(const(node.iter), tuple):
                local[node.target.id] = const(node.iter)

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fname = getattr(node.func, "attr", getattr(node.func, "id", ""))
        has_ns = any(k.arg == "namespace" for k in node.keywords)
        if fname in {"Informer", "informer"}:
            # Informer(source, KIND, namespace=...) or a local helper informer(KIND, ns).
            arg = node.args[1:2] if fname == "Informer" else node.args[:1]
            has_ns = has_ns or (fname == "informer" and len(node.args) > 1)
            for kind in (k for a in arg for k in kinds_of(a)):
                add_kind(kind, "list", "", has_ns, node.lineno)
                add_kind(kind, "watch", "", has_ns, node.lineno)
            continue
        if fname == "to_thread" and node.args and isinstance(node.args[0], ast.Attribute):
            op, kind_args = node.args[0].attr, node.args[1:2]
        else:
            op, kind_args = fname, node.args[:1]
        if op in SOURCE_VERBS:
            verb, sub = SOURCE_VERBS[op]
            for kind in (k for a in kind_args for k in kinds_of(a)):
                add_kind(kind, verb, sub, True, node.lineno)
            continue
        m = CLIENT_CALL.match(op)
        if m and m.group(3) in CLIENT_RESOURCES:
            group, resource = CLIENT_RESOURCES[m.group(3)]
            scope = "release" if m.group(2) and resource not in USER_NAMESPACED else "cluster"
            sub = "/status" if m.group(4) else ""
            add(CLIENT_VERBS[m.group(1)], group, resource + sub, scope, node.lineno)
    return found


def _scan() -> set[Call]:
    return {call for component, path in _files_to_scan() for call in _scan_file(component, path)}


@pytest.fixture(scope="module")
def code_calls() -> set[Call]:
    calls = _scan()
    assert {c.component for c in calls} == {"controller", "speaker"}, "scan found nothing"
    return calls


def _variant_for(call: Call) -> dict[str, Any]:
    if call.component == "controller" and call.resource == "leases":
        return {"controller": {"replicas": 2, "flags": {"leaderElect": True}}}
    return {}


def test_every_api_call_in_the_code_is_granted(render: Any, code_calls: set[Call]) -> None:
    """C38: a call the code makes and the chart does not grant is a crash loop in a cluster."""
    missing = sorted(
        f"{c.component}: {c.verb} {c.group or 'core'}/{c.resource} ({c.scope}) at {c.where}"
        for c in code_calls
        if not allowed(
            render(_variant_for(c)),
            SA[c.component],
            c.verb,
            c.group,
            c.resource,
            namespace=None if c.scope == "cluster" else NS,
            name=ANY_NAME,
        )
    )
    assert not missing, "the code calls what the chart does not grant:\n" + "\n".join(missing)


def test_every_usage_row_is_called_by_the_code(code_calls: set[Call]) -> None:
    """Nothing granted without use: each USAGE row is found in the code or says why not."""
    seen = {(c.component, c.verb, c.group, c.resource, c.scope) for c in code_calls}
    unused = sorted(
        f"{use.component}: {verb} {use.group or 'core'}/{use.resource} ({use.scope})"
        for use in USAGE
        if use.anticipated is None
        for verb in use.verbs
        if (use.component, verb, use.group, use.resource, use.scope) not in seen
    )
    assert not unused, "granted but no code calls it (drop it or mark anticipated):\n" + "\n".join(
        unused
    )
