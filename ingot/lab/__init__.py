"""ingot.lab: the network-namespace lab (nodes, client, router) for the demo and netlab tests."""
