"""ingot: a bare-metal LoadBalancer for Kubernetes speaking MetalLB's configuration API.

Sub-packages: ``api`` (pure models and config compiler), ``kube`` (informers, work queue, Lease
elector, events over the official client), ``apiserver`` (the embedded development API server),
``lab`` (network-namespace lab), ``cli`` (the ``ingot`` command).
"""

__version__ = "0.1.0"
