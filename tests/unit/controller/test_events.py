from __future__ import annotations

from controller.events import COMPONENT, EventWriter, event_body
from controller.status import EventSpec
from ingot import errors
from ingot.kube import source as src

SVC = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "demo", "uid": "u-1", "resourceVersion": "9"},
}


def test_event_body_names_the_object_and_cause() -> None:
    body = event_body(SVC, EventSpec("Warning", "AllocationFailed", "no IPs"), now_s=0.0)
    assert body["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Service",
        "name": "web",
        "namespace": "demo",
        "uid": "u-1",
        "resourceVersion": "9",
    }
    assert (body["type"], body["reason"], body["message"]) == (
        "Warning",
        "AllocationFailed",
        "no IPs",
    )
    assert body["metadata"] == {"generateName": "web.", "namespace": "demo"}
    assert body["source"] == {"component": COMPONENT}
    assert body["firstTimestamp"] == "1970-01-01T00:00:00Z"


def test_writer_writes_in_background_and_survives_api_errors() -> None:
    fs = src.FakeSource()
    fs.create(src.NAMESPACE, {"metadata": {"name": "demo"}})
    w = EventWriter(fs)
    w.start()
    try:
        fs.fail_next(errors.Unavailable("down"), verbs=("create",), kinds=(src.EVENT,))
        w(SVC, EventSpec("Normal", "IPAllocated", "first"))
        w(SVC, EventSpec("Normal", "IPAllocated", "second"))
        assert w.flush(timeout_s=10)
    finally:
        w.stop()
    assert [e["message"] for e in fs.objects(src.EVENT)] == ["second"]
    assert w.written == 1


def test_writer_drops_when_full() -> None:
    w = EventWriter(src.FakeSource(), capacity=1)  # not started: the queue fills up
    w(SVC, EventSpec("Normal", "A", "1"))
    w(SVC, EventSpec("Normal", "A", "2"))
    assert w.dropped == 1


def test_writer_hands_events_to_the_kube_recorder() -> None:
    from ingot.kube.events import EventRecorder

    fs = src.FakeSource()
    fs.create(src.NAMESPACE, {"metadata": {"name": "demo"}})
    w = EventWriter(fs, recorder=EventRecorder(fs, component=COMPONENT))
    w.start()
    try:
        w(SVC, EventSpec("Warning", "AllocationFailed", "no IPs"))
        w(SVC, EventSpec("Warning", "AllocationFailed", "no IPs"))  # a repeat: no new object
        assert w.flush(timeout_s=10)
    finally:
        w.stop()
    (ev,) = fs.objects(src.EVENT)
    assert (ev["type"], ev["reason"], ev["involvedObject"]["name"]) == (
        "Warning",
        "AllocationFailed",
        "web",
    )
