"""`make bench`: the engine's orders per second beside a same-shape no-op baseline."""
