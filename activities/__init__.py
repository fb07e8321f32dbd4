"""Temporal activities: thin, idempotent calls into adapters, one class per process."""
