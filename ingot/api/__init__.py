"""ingot.api: pydantic models of the metallb.io kinds and the pure config compiler. PURE.

Public API (import the modules, e.g. ``from ingot.api import compile``):

* wire models, one module per kind, MetalLB's field names as aliases:
  :mod:`~ingot.api.ipaddresspool` (``IPAddressPool``), :mod:`~ingot.api.l2advertisement`
  (``L2Advertisement``), :mod:`~ingot.api.bgpadvertisement` (``BGPAdvertisement``),
  :mod:`~ingot.api.bgppeer` (``BGPPeer`` v1beta2, ``BGPPeerV1beta1``,
  ``convert_v1beta1_to_v1beta2``, ``convert_v1beta2_to_v1beta1``), :mod:`~ingot.api.bfdprofile`
  (``BFDProfile``), :mod:`~ingot.api.community` (``Community``), and the status kinds in
  :mod:`~ingot.api.status` (``ServiceL2Status``, ``ServiceBGPStatus``, ``ConfigurationState``);
* :mod:`~ingot.api.compile`: ``ClusterResources`` (raw snapshot), ``compile_config`` ->
  ``CompileResult(config, errors, warnings)``;
* :mod:`~ingot.api.config`: the compiled, frozen ``Config`` (``Pool`` from :mod:`ipam.pool`,
  ``L2Advertisement``, ``BGPAdvertisement``, ``BGPPeer``, ``BFDProfile``, ``Preference``);
* :mod:`~ingot.api.fielderror`: ``FieldError(kind, namespace, name, path, message)``;
* :mod:`~ingot.api.communityvalue`, :mod:`~ingot.api.durations`: value parsers;
* :mod:`~ingot.api.crdgen` / :mod:`~ingot.api.docgen`: ``python -m`` generators of
  ``charts/ingot/crds/`` and ``docs/configuration.md``.

``services`` (Service -> allocation request), ``l2`` (placement) and ``bgp`` (advertisement
planning) are the pure cores of the other components, built on the Config.
"""
