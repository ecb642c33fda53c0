"""ingot.apiserver: the embedded, in-memory Kubernetes API server.

A development server for tests, the lab and trying ingot without a cluster. Not for production.
"""
