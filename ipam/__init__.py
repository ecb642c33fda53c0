"""ipam: IP address pools and the allocator of ingot. PURE: no Kubernetes, no I/O, no clock.

Place in the pipeline: ``ingot.api`` compiles the user's IPAddressPools into ``ipam`` pools; the
controller asks the allocator which IPs a LoadBalancer Service gets.
"""
