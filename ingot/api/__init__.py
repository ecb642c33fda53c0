"""ingot.api: pydantic models of the metallb.io kinds and the pure config compiler. PURE."""
