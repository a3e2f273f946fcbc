"""The ground floor: what every layer uses and that knows nothing of GANs.

``errors`` (messages a person can act on), ``files`` (atomic writes, bounded JSON), ``progress`` (the
``callback(step, total, info)`` contract), ``device`` (CPU / CUDA choice), ``photo`` (images in and out: decode,
square box, masks), ``metrics`` (PSNR, IoU, ...). Nothing here imports another layer of ``ganpaint_core``.
"""
