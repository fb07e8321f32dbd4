"""Worker entry points, one per task queue: `python -m workers.orders|payments|notifications`."""
