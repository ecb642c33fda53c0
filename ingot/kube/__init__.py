"""ingot.kube: informers, work queue, Lease elector and event recorder over the official client."""
