"""Models by name: manifests, where their files come from, and loading them.

``manifest`` (``weights/<name>/model.json``) -> ``registry`` (which models exist) -> ``fetch`` (bundled path,
Hub, URL; sha256-verified cache) -> ``loading.load_model`` -> ``model.LoadedModel``. ``concepts`` is the concept
dictionary's format; ``derived`` finds the files made for a model on this machine (dictionaries, encoders).
Imports ``core`` and ``models`` only.
"""
