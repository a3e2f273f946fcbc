"""Benchmarks: ``python -m ganpaint_core bench --suite model|chain|peers|modes|service``.

``run`` dispatches the suites (and holds the model suite); the others are one module per suite. Benchmarks may
import every layer below and the synthetic scenes (``synth``) for held-out renders.
"""
