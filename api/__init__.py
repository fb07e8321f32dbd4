"""The HTTP API: a thin FastAPI edge that starts, updates and reads the processes."""
