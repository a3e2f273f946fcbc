"""Looking at edits: side-by-side comparisons, evaluation reports, unit heatmaps.

Each calls the one edit path (:func:`ganpaint_core.edit.pipeline.edit_photo`); the CLI and the page share them.
"""
