"""ingot.apiserver: the embedded, in-memory Kubernetes API server.

**A development server, not for production**: no authentication or authorization, no
persistence, no controllers. It serves tests, the lab and a first try of ingot without a
cluster; the official ``kubernetes`` client and ``kubectl`` talk to it as to a real cluster.

Entry points: ``server.APIServer`` (``start()``, ``stop()``, ``write_kubeconfig()``,
``api_client()``, ``load_manifests()``, ``faults``, ``audit``, ``changes()``) and
``python -m ingot.apiserver --port N --manifests DIR`` (``__main__.main(argv)``).

Semantics covered (details and sources in docs/apiserver.md):

- one global resourceVersion; create 201 with generateName, uid, creationTimestamp;
  409 AlreadyExists; 409 Conflict on a stale resourceVersion (PUT, PATCH carrying one);
- status subresources (main endpoint keeps .status, /status changes only .status);
  generation on spec changes; no-op writes change nothing and emit no event;
- merge, JSON and strategic-merge patch; finalizers and deletionTimestamp; namespace
  termination; DeleteOptions preconditions; dryRun;
- label selectors (=, ==, !=, in, notin, exists, !exists, gt, lt) and per-kind field
  selectors; list resourceVersion, limit/continue with consistent pages;
- watch from a resourceVersion with replay from a bounded history, BOOKMARKs, timeoutSeconds,
  410 Expired (ERROR event or HTTP 410), selector transitions, sendInitialEvents;
- CRDs: structural-schema checks, pruning, defaulting, OpenAPI v3 validation (422 with field
  paths), served versions, status subresource, discovery; unknown fields of built-ins dropped
  (fieldValidation Warn/Strict);
- errors as metav1.Status with the real reasons; malformed input never crashes the server and
  never writes partially;
- discovery (/api, /apis, /version, /openapi/v3 index) and Tables for kubectl;
- test controls: compaction, dropped watches, dropped events, injected failures (409, 429 with
  Retry-After, 500, ...), added latency; an audit of every resource request;
- opt-in calls of validating admission webhooks over HTTPS.
"""
