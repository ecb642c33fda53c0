from __future__ import annotations

import copy

import pytest

from controller import status as st

T0 = "2026-11-29T10:00:00Z"
T1 = "2026-11-29T11:00:00Z"


def svc(ips=(), pool=None, cond=None, annotations=None):
    ann = dict(annotations or {})
    if pool:
        ann[st.POOL_ANNOTATION] = pool
    raw = {
        "metadata": {"name": "web", "namespace": "demo", "resourceVersion": "7"},
        "spec": {"type": "LoadBalancer"},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]} if ips else {}},
    }
    if ann:
        raw["metadata"]["annotations"] = ann
    if cond:
        raw["status"]["conditions"] = [cond]
    return raw


def settled(outcome, **kw):
    """A Service exactly as the controller would have written it for ``outcome`` at T0."""
    return st.desired_service(svc(**kw), outcome, now_iso=T0)


ALLOC = st.Allocated(ips=("203.0.113.1",), pool="p")
PENDING = st.Unallocated(reason="PoolExhausted", message="no available IPs in pool p")


def test_desired_allocated_sets_ingress_annotation_condition() -> None:
    raw = svc(annotations={"keep": "me"})
    before = copy.deepcopy(raw)
    d = st.desired_service(raw, ALLOC, now_iso=T0)
    assert raw == before, "input mutated"
    assert d["status"]["loadBalancer"] == {"ingress": [{"ip": "203.0.113.1"}]}
    assert d["metadata"]["annotations"] == {"keep": "me", st.POOL_ANNOTATION: "p"}
    (cond,) = d["status"]["conditions"]
    assert cond["type"] == "ingot.io/IPAllocated"
    assert cond["status"] == "True"
    assert cond["lastTransitionTime"] == T0
    assert d["metadata"]["resourceVersion"] == "7"


def test_desired_pending_and_cleared() -> None:
    d = st.desired_service(svc(ips=("203.0.113.1",), pool="p"), PENDING, now_iso=T0)
    assert d["status"]["loadBalancer"] == {}
    assert "annotations" not in d["metadata"]
    (cond,) = d["status"]["conditions"]
    assert (cond["status"], cond["reason"]) == ("False", "PoolExhausted")
    assert cond["message"] == "no available IPs in pool p"
    c = st.desired_service(settled(ALLOC), st.Cleared("not a LoadBalancer"), now_iso=T1)
    assert c["status"] == {"loadBalancer": {}}
    assert "annotations" not in c["metadata"]


@pytest.mark.parametrize(
    "outcome", [pytest.param(ALLOC, id="allocated"), pytest.param(PENDING, id="pending")]
)
def test_resync_writes_nothing_and_emits_nothing(outcome) -> None:
    current = settled(outcome)
    desired = st.desired_service(current, outcome, now_iso=T1)
    assert st.service_write(current, desired) is None
    assert st.event_for(current, outcome) is None


def test_cleared_from_nothing_writes_nothing() -> None:
    raw = svc()
    assert st.service_write(raw, st.desired_service(raw, st.Cleared("x"), now_iso=T0)) is None
    assert st.event_for(raw, st.Cleared("x")) is None


@pytest.mark.parametrize(
    ("current", "outcome", "write", "event"),
    [
        pytest.param(svc(), ALLOC, True, ("Normal", "IPAllocated"), id="new-allocation"),
        pytest.param(svc(), PENDING, True, ("Warning", "AllocationFailed"), id="new-pending"),
        pytest.param(
            settled(PENDING), ALLOC, True, ("Normal", "IPAllocated"), id="pending-to-allocated"
        ),
        pytest.param(
            settled(ALLOC), PENDING, True, ("Warning", "AllocationFailed"), id="lost-ip"
        ),
        pytest.param(
            settled(PENDING),
            st.Unallocated("SharingConflict", "203.0.113.1 in use by demo/a"),
            True,
            ("Warning", "AllocationFailed"),
            id="pending-reason-changed",
        ),
        pytest.param(
            settled(ALLOC),
            st.Allocated(("203.0.113.2",), "p"),
            True,
            ("Normal", "IPAllocated"),
            id="ip-moved",
        ),
        pytest.param(
            settled(ALLOC),
            st.Allocated(("203.0.113.1",), "q"),
            True,
            ("Normal", "IPAllocated"),
            id="reattributed-to-other-pool",
        ),
        pytest.param(
            settled(ALLOC), st.Cleared("type ClusterIP"), True, ("Normal", "ClearAssignment"),
            id="cleared",
        ),
        pytest.param(
            # restored from an older controller: ingress + annotation, no condition yet
            svc(ips=("203.0.113.1",), pool="p"), ALLOC, True, None, id="adopt-adds-condition-only"
        ),
    ],
)  # fmt: skip
def test_transitions(current, outcome, write, event) -> None:
    desired = st.desired_service(current, outcome, now_iso=T1)
    assert (st.service_write(current, desired) is not None) is write
    ev = st.event_for(current, outcome)
    assert (None if ev is None else (ev.type_, ev.reason)) == event


def test_moved_event_names_old_and_new() -> None:
    ev = st.event_for(settled(ALLOC), st.Allocated(("203.0.113.2",), "p"))
    assert ev is not None
    assert "203.0.113.2" in ev.message
    assert "was ['203.0.113.1']" in ev.message


def test_transition_time_kept_while_status_unchanged() -> None:
    pend = settled(PENDING)
    d = st.desired_service(pend, st.Unallocated("X", "other"), now_iso=T1)
    assert d["status"]["conditions"][0]["lastTransitionTime"] == T0
    d = st.desired_service(pend, ALLOC, now_iso=T1)
    assert d["status"]["conditions"][0]["lastTransitionTime"] == T1


def test_foreign_conditions_are_kept() -> None:
    raw = svc(cond={"type": "other.io/Thing", "status": "True"})
    d = st.desired_service(raw, ALLOC, now_iso=T0)
    assert [c["type"] for c in d["status"]["conditions"]] == ["other.io/Thing", st.CONDITION_TYPE]


def test_pool_status_exact_and_capped_at_int64_for_slash_64() -> None:
    assert st.pool_status(assigned_v4=1, assigned_v6=2, total_v4=4, total_v6=2**62) == {
        "assignedIPv4": 1,
        "assignedIPv6": 2,
        "availableIPv4": 3,
        "availableIPv6": 2**62 - 2,
    }
    s = st.pool_status(assigned_v4=1, assigned_v6=2, total_v4=4, total_v6=2**64)
    assert s["availableIPv6"] == 2**63 - 1
    raw_pool = {"metadata": {"name": "p"}, "status": dict(s)}
    assert st.pool_status_write(raw_pool, s) is None
    body = st.pool_status_write({"metadata": {"name": "p"}}, s)
    assert body is not None
    assert body["status"] == s


def test_duplicates() -> None:
    assert st.duplicates({"a": ["1"], "b": ["2"]}) == {}
    assert st.duplicates({"a": ["1"], "b": ["1"], "c": []}) == {"1": ["a", "b"]}
