"""The synthetic church scenes: procedural images with exact per-pixel concept labels (a dataset, no trainers).

The trainers that learn from them live in :mod:`ganpaint_core.training`.
"""
