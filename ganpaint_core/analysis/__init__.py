"""What we learn about a generator: segmenters, dissection (concept units), latent directions.

Runs on a :class:`ganpaint_core.hub.model.LoadedModel`; writes files that ``hub`` reads back (dictionaries,
directions). ``nethook`` is the layer-reading utility (context-managed hooks), never on the edit path.
Imports ``core``, ``models`` and ``hub`` only; the edit chain sits above it.
"""
