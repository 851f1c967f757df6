"""Temporal workflows: one per lifecycle, deterministic, every side effect in an activity."""

DEFAULT_TASK_QUEUE = "nudgeflow"
