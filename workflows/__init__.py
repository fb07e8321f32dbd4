"""Temporal workflows: orchestration only (timers, signals, updates, compensation)."""
