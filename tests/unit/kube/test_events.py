"""EventRecorder: core v1 Events only on change, repeats aggregated, never a flood."""

from __future__ import annotations

import pytest

from ingot import errors
from ingot.kube import events, source, timing

SVC = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "demo", "uid": "u-1", "resourceVersion": "5"},
}


def recorder(fake: source.FakeSource, clock: timing.FakeThreadClock, **kw) -> events.EventRecorder:
    return events.EventRecorder(
        fake, component="ingot-controller", host="node-a", clock=clock, **kw
    )


def test_first_event_is_a_core_v1_event_describe_can_find(fake, clock) -> None:
    rec = recorder(fake, clock)
    assert rec.normal(SVC, "IPAllocated", 'Assigned IP ["198.51.100.7"]')
    [ev] = fake.objects(source.EVENT)
    assert ev["apiVersion"] == "v1"
    assert ev["metadata"]["namespace"] == "demo"
    assert ev["involvedObject"] == {
        "kind": "Service",
        "apiVersion": "v1",
        "namespace": "demo",
        "name": "web",
        "uid": "u-1",
        "resourceVersion": "5",
    }
    assert (ev["type"], ev["reason"], ev["count"]) == ("Normal", "IPAllocated", 1)
    assert ev["source"] == {"component": "ingot-controller", "host": "node-a"}
    assert ev["firstTimestamp"] == ev["lastTimestamp"]
    assert ev["firstTimestamp"].endswith("Z")


def test_reconcile_loop_does_not_flood(fake, clock) -> None:
    rec = recorder(fake, clock, repeat_interval_s=600.0)
    for _ in range(1000):  # a reconcile every second for ~17 minutes, same outcome
        rec.normal(SVC, "IPAllocated", "Assigned IP 198.51.100.7")
        clock.advance(1.0)
    evs = fake.objects(source.EVENT)
    assert len(evs) == 1
    assert rec.writes == 2  # the create, then one aggregated update after 600 s
    assert evs[0]["count"] == 601  # occurrences up to the time of that update


def test_change_is_written_at_once_and_flip_back_reuses_event(fake, clock) -> None:
    rec = recorder(fake, clock)
    assert rec.warning(SVC, "AllocationFailed", "no available IPs in pool p")
    clock.advance(1.0)
    assert not rec.warning(SVC, "AllocationFailed", "no available IPs in pool p")
    assert rec.normal(SVC, "IPAllocated", "Assigned IP 198.51.100.7")
    clock.advance(1.0)
    assert rec.warning(SVC, "AllocationFailed", "no available IPs in pool p")  # news again
    evs = sorted(fake.objects(source.EVENT), key=lambda e: e["reason"])
    assert [(e["reason"], e["count"]) for e in evs] == [("AllocationFailed", 3), ("IPAllocated", 1)]
    failed = evs[0]
    assert failed["lastTimestamp"] > failed["firstTimestamp"]


def test_objects_are_independent(fake, clock) -> None:
    rec = recorder(fake, clock)
    other = {**SVC, "metadata": {**SVC["metadata"], "name": "db", "uid": "u-2"}}
    assert rec.normal(SVC, "IPAllocated", "a")
    assert rec.normal(other, "IPAllocated", "a")
    assert len(fake.objects(source.EVENT)) == 2


def test_cluster_scoped_object_events_go_to_default(fake, clock) -> None:
    rec = recorder(fake, clock)
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "uid": "n1"}}
    rec.warning(node, "AnnounceFailed", "interface eth9 missing")
    [ev] = fake.objects(source.EVENT)
    assert ev["metadata"]["namespace"] == "default"
    assert "namespace" not in ev["involvedObject"]


def test_api_errors_are_swallowed(fake, clock) -> None:
    rec = recorder(fake, clock)
    fake.fail_next(errors.Unavailable("down", status=503), verbs=("create",))
    assert not rec.normal(SVC, "IPAllocated", "x")
    assert fake.objects(source.EVENT) == []
    assert rec.normal(SVC, "IPAllocated", "y")  # later events still work


def test_expired_event_is_recreated(fake, clock) -> None:
    rec = recorder(fake, clock, repeat_interval_s=10.0)
    rec.normal(SVC, "IPAllocated", "x")
    [ev] = fake.objects(source.EVENT)
    fake.delete(source.EVENT, ev["metadata"]["name"], namespace="demo")  # TTL expiry
    clock.advance(11.0)
    assert rec.normal(SVC, "IPAllocated", "x")
    [ev2] = fake.objects(source.EVENT)
    assert ev2["count"] == 2


def test_message_truncated(fake, clock) -> None:
    rec = recorder(fake, clock)
    rec.normal(SVC, "Long", "x" * 5000)
    [ev] = fake.objects(source.EVENT)
    assert len(ev["message"]) == events.MAX_MESSAGE_LEN


@pytest.mark.parametrize("max_series", [1, 3])
def test_memory_is_bounded(fake, clock, max_series: int) -> None:
    rec = recorder(fake, clock, max_series=max_series)
    for i in range(20):
        rec.normal(
            {**SVC, "metadata": {"name": f"s{i}", "namespace": "d", "uid": f"u{i}"}}, "R", "m"
        )
    assert len(rec._series) <= max_series
    assert len(rec._last) <= max_series


def test_forget(fake, clock) -> None:
    rec = recorder(fake, clock)
    rec.normal(SVC, "IPAllocated", "x")
    rec.forget(SVC)
    assert rec.normal(SVC, "IPAllocated", "x")
    assert len(fake.objects(source.EVENT)) == 2
