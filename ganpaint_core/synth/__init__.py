"""Synthetic training data: procedural scenes with exact per-pixel concept labels."""
