"""ingot.apiserver: the built-in kinds ingot touches (Events, Leases, EndpointSlices...)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from ingot.apiserver.server import APIServer


def _event_v1(name: str, **extra: object) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "eventTime": "2026-11-29T23:00:00.000001Z",
        "reportingController": "metallb.io/controller",
        "reportingInstance": "controller-0",
        "action": "Assigning",
        "reason": "IPAllocated",
        "type": "Normal",
        "note": "Assigned IP 198.51.100.1",
        "regarding": {"kind": "Service", "namespace": "default", "name": "web", "apiVersion": "v1"},
        **extra,
    }


def test_events_share_storage_across_apis(kube_client: client.ApiClient) -> None:
    ev1 = client.EventsV1Api(kube_client)
    core = client.CoreV1Api(kube_client)
    created = ev1.create_namespaced_event("default", _event_v1("web.1"))
    assert created.regarding.name == "web"
    legacy = core.read_namespaced_event("web.1", "default")
    assert legacy.involved_object.name == "web"
    assert legacy.message == "Assigned IP 198.51.100.1"
    assert legacy.reporting_component == "metallb.io/controller"
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "db.1"},
            "involvedObject": {"kind": "Service", "namespace": "default", "name": "db"},
            "reason": "Pending",
            "message": "no pool",
            "type": "Warning",
            "count": 2,
        },
    )
    by_core = core.list_namespaced_event("default", field_selector="involvedObject.name=db")
    assert [e.metadata.name for e in by_core.items] == ["db.1"]
    by_v1 = ev1.list_namespaced_event("default", field_selector="regarding.name=web")
    assert [e.metadata.name for e in by_v1.items] == ["web.1"]
    # a legacy event has no eventTime; the official client's EventsV1Event model needs one, so
    # read it raw (a real server answers the same "eventTime": null)
    raw = json.loads(ev1.read_namespaced_event("db.1", "default", _preload_content=False).data)
    assert raw["deprecatedCount"] == 2
    assert raw["note"] == "no pool"


def test_events_v1_validation(kube_client: client.ApiClient) -> None:
    body = _event_v1("bad")
    del body["reportingController"]
    body["type"] = "Info"
    with pytest.raises(ApiException) as err:
        client.EventsV1Api(kube_client).create_namespaced_event("default", body)
    causes = {c["field"] for c in json.loads(err.value.body)["details"]["causes"]}
    assert err.value.status == 422
    assert causes == {"reportingController", "type"}


def test_lease_micro_time_round_trip_and_cas(kube_client: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(kube_client)
    when = dt.datetime(2026, 11, 29, 23, 0, 0, 123456, tzinfo=dt.UTC)
    lease = coord.create_namespaced_lease(
        "default",
        client.V1Lease(
            metadata=client.V1ObjectMeta(name="svc-web"),
            spec=client.V1LeaseSpec(
                holder_identity="node-a",
                lease_duration_seconds=15,
                renew_time=when,
                acquire_time=when,
            ),
        ),
    )
    assert lease.spec.renew_time == when
    raw = json.loads(coord.read_namespaced_lease("svc-web", "default", _preload_content=False).data)
    assert raw["spec"]["renewTime"] == "2026-11-29T23:00:00.123456Z"
    lease.spec.holder_identity = "node-b"
    renewed = coord.replace_namespaced_lease("svc-web", "default", lease)
    lease.spec.holder_identity = "node-c"
    with pytest.raises(ApiException) as err:  # lost the race: compare-and-swap by resourceVersion
        coord.replace_namespaced_lease("svc-web", "default", lease)
    assert err.value.status == 409
    assert coord.read_namespaced_lease("svc-web", "default").spec.holder_identity == "node-b"
    assert renewed.metadata.resource_version != lease.metadata.resource_version


def test_lease_invalid_duration(kube_client: client.ApiClient) -> None:
    with pytest.raises(ApiException) as err:
        client.CoordinationV1Api(kube_client).create_namespaced_lease(
            "default", {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0}}
        )
    assert err.value.status == 422


def test_endpointslices_by_service_label(kube_client: client.ApiClient) -> None:
    disc = client.DiscoveryV1Api(kube_client)
    for svc in ("web", "db"):
        disc.create_namespaced_endpoint_slice(
            "default",
            {
                "metadata": {
                    "generateName": f"{svc}-",
                    "labels": {"kubernetes.io/service-name": svc},
                },
                "addressType": "IPv4",
                "endpoints": [
                    {"addresses": ["10.0.0.1"], "nodeName": "n1", "conditions": {"ready": True}}
                ],
                "ports": [{"port": 80, "protocol": "TCP"}],
            },
        )
    got = disc.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=web"
    )
    assert len(got.items) == 1
    assert got.items[0].endpoints[0].node_name == "n1"
    with pytest.raises(ApiException) as err:
        disc.create_namespaced_endpoint_slice(
            "default", {"metadata": {"name": "x"}, "addressType": "IPv5", "endpoints": []}
        )
    assert err.value.status == 422


def test_secret_string_data_and_type(kube_client: client.ApiClient) -> None:
    got = client.CoreV1Api(kube_client).create_namespaced_secret(
        "default", {"metadata": {"name": "bgp"}, "stringData": {"password": "s3cret"}}
    )
    assert got.type == "Opaque"
    assert got.data == {"password": "czNjcmV0"}
    assert got.string_data is None


def test_nodes_keep_status_on_create_and_select_by_field(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_node(
        {
            "metadata": {"name": "n1", "labels": {"zone": "a"}},
            "status": {"addresses": [{"type": "InternalIP", "address": "198.51.100.11"}]},
        }
    )
    v1.create_node({"metadata": {"name": "n2"}, "spec": {"unschedulable": True}})
    assert v1.read_node("n1").status.addresses[0].address == "198.51.100.11"
    assert [
        n.metadata.name for n in v1.list_node(field_selector="spec.unschedulable=true").items
    ] == ["n2"]
    assert [n.metadata.name for n in v1.list_node(label_selector="zone in (a,b)").items] == ["n1"]


def test_dual_stack_service_defaults(kube_client: client.ApiClient) -> None:
    got = client.CoreV1Api(kube_client).create_namespaced_service(
        "default",
        {
            "metadata": {"name": "ds"},
            "spec": {
                "type": "LoadBalancer",
                "ipFamilyPolicy": "RequireDualStack",
                "ports": [{"port": 53, "protocol": "UDP"}],
            },
        },
    )
    assert got.spec.ip_families == ["IPv4", "IPv6"]
    assert len(got.spec.cluster_ips) == 2
    assert got.spec.external_traffic_policy == "Cluster"


def test_load_balancer_class_is_immutable(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    v1.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "s"},
            "spec": {"type": "LoadBalancer", "loadBalancerClass": "a/b", "ports": [{"port": 80}]},
        },
    )
    with pytest.raises(ApiException) as err:
        v1.patch_namespaced_service("s", "default", {"spec": {"loadBalancerClass": "c/d"}})
    assert err.value.status == 422
    assert json.loads(err.value.body)["details"]["causes"][0]["field"] == "spec.loadBalancerClass"


def test_validating_webhook_configuration_is_stored(kube_client: client.ApiClient) -> None:
    adm = client.AdmissionregistrationV1Api(kube_client)
    adm.create_validating_webhook_configuration(
        {
            "metadata": {"name": "ingot"},
            "webhooks": [
                {
                    "name": "ipaddresspools.metallb.io",
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "clientConfig": {"service": {"namespace": "metallb-system", "name": "webhook"}},
                }
            ],
        }
    )
    patched = adm.patch_validating_webhook_configuration(
        "ingot", [{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "Y2E="}]
    )
    assert patched.webhooks[0].client_config.ca_bundle == "Y2E="


def test_service_type_change_drops_allocated_fields(kube_client: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kube_client)
    lb = v1.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "s"},
            "spec": {
                "type": "LoadBalancer",
                "externalTrafficPolicy": "Local",
                "ports": [{"port": 80}],
            },
        },
    )
    assert lb.spec.health_check_node_port
    assert lb.spec.ports[0].node_port
    cip = v1.patch_namespaced_service(
        "s",
        "default",
        {"spec": {"type": "ClusterIP"}},
        _content_type="application/merge-patch+json",
    )
    assert cip.spec.ports[0].node_port is None
    assert cip.spec.external_traffic_policy is None
    assert cip.spec.allocate_load_balancer_node_ports is None
    assert cip.spec.cluster_ip == lb.spec.cluster_ip


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param({"ip": "2001:db8::1"}, id="colon-in-value"),
        pytest.param({"bad key": "x"}, id="space-in-key"),
        pytest.param({"a": "x" * 64}, id="value-too-long"),
    ],
)
def test_invalid_labels_are_422(kube_client: client.ApiClient, labels: dict[str, str]) -> None:
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(kube_client).create_namespaced_config_map(
            "default", {"metadata": {"name": "c", "labels": labels}}
        )
    assert err.value.status == 422
    assert json.loads(err.value.body)["details"]["causes"][0]["field"] == "metadata.labels"


def test_unknown_fields_of_builtins_are_dropped_with_a_warning(apiserver: APIServer) -> None:
    body = {"metadata": {"name": "c", "bogus": 1}, "data": {"a": "b"}, "spec": {"x": 1}}
    req = urllib.request.Request(
        f"{apiserver.url}/api/v1/namespaces/default/configmaps",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        got = json.loads(resp.read())
        warnings = resp.headers.get_all("Warning")
    assert "spec" not in got
    assert "bogus" not in got["metadata"]
    assert sorted(warnings) == [
        '299 - "unknown field "metadata.bogus""',
        '299 - "unknown field "spec""',
    ]
    strict = urllib.request.Request(
        f"{apiserver.url}/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        data=json.dumps({**body, "metadata": {"name": "d", "bogus": 1}}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(strict, timeout=10)
    with err.value:
        assert err.value.code == 400
        assert 'unknown field "metadata.bogus"' in json.loads(err.value.read())["message"]
