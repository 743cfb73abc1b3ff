"""Game-theoretic maths as pure, batched functions (no solver, no scenario state)."""
