"""The command line: ``python -m ganpaint_core <command>`` (``main`` parses, one module per command family).
"""
