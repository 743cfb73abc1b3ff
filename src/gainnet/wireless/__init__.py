"""Physics as pure functions (no solver code)."""
