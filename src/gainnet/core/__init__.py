"""Interfaces every problem family and solver implements (no torch in here)."""
