"""ipam: IP address pools and the allocator of ingot. PURE: no Kubernetes, no I/O, no clock.

Place in the pipeline: ``ingot.api`` compiles the user's IPAddressPools into ``ipam`` pools; the
controller asks the allocator which IPs a LoadBalancer Service gets.

Modules: :mod:`ipam.ranges` (address entries), :mod:`ipam.selectors` (label selectors),
:mod:`ipam.pool` (pools and serviceAllocation), :mod:`ipam.request` (what a Service asks for),
:mod:`ipam.decisions` (``Assigned`` / ``Pending(reason)``), :mod:`ipam.sharing` (the IP sharing
rule), :mod:`ipam.occupancy` (used addresses as runs), :mod:`ipam.allocator` (the allocator).
Semantics and deliberate differences from MetalLB: ``docs/ipam.md``.
"""
