"""Measurements and process control for the event pipeline (benchmark and fault tests)."""
