"""ganpaint_core: semantic photo editing with a generative image prior (GANPaint), as a library.

Models are described by manifests (``weights/<name>/model.json``) and loaded with
:func:`ganpaint_core.hub.loading.load_model`; a generator splits at its edit layer into ``head`` and ``tail``,
and edits change layer outputs per call through ``tail.run(features, latent=…, modify=…)``
(:mod:`ganpaint_core.models.layers`), never through hooks on the shared generator.
:mod:`ganpaint_core.analysis.nethook` is an analysis utility for reading layers. Nothing here imports gradio.
"""
from __future__ import annotations

__version__ = "0.1.0"
