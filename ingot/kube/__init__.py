"""ingot.kube: informers, work queue, Lease elector and event recorder over the official client.

Modules (see docs/kube.md for the guarantees):

* ``source``: the one seam to the API (``Source``, ``KubeSource``, ``FakeSource``, ``Kind``).
* ``informer``: list + watch into a thread-safe cache with handlers and indexes.
* ``workqueue``: client-go style rate-limited work queue.
* ``lease``: ``LeaseElector`` (many Leases, one thread) and ``LeaderElector``.
* ``events``: ``EventRecorder`` (core v1 Events, only on change).
* ``timing``: thread clocks (``FakeThreadClock`` for tests).
"""
