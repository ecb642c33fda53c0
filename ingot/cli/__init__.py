"""ingot.cli: the ``ingot`` command."""
