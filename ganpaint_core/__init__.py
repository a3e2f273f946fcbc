"""ganpaint_core: semantic photo editing with a generative image prior (GANPaint), as a library.

Models are described by manifests (``weights/<name>/model.json``) and loaded with
:func:`ganpaint_core.loading.load_model`; layers are read and edited through
:mod:`ganpaint_core.nethook`. Nothing here imports gradio.
"""
from __future__ import annotations

__version__ = "0.1.0"
