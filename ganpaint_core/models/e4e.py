"""e4e ("encoder for editing", Tov et al. 2021): a pretrained image -> W+ encoder for a StyleGAN2, in plain PyTorch.

Example::

    enc = load_e4e_encoder(Path("e4e_church_encode.pt"))   # the released file, or its converted .safetensors
    wplus = enc(images)                # [N, 3, 256, 256] in [-1, 1] -> W+ [N, 14, 512], latent_avg included

The network is ``Encoder4Editing`` of github.com/omertov/encoder4editing (MIT), written here from its
description so that the released state dicts load strictly under the same parameter names: an IR-SE-50
backbone (ArcFace's ResNet with squeeze-excitation, four stages of 3, 4, 14 and 3 bottleneck units), a
feature pyramid over the outputs of stages 2-4, and one small conv head per W+ row. Head 0 predicts a ``w``
that fills every row; head ``i > 0`` adds its delta to row ``i`` (rows 1-2 read the 1/16 features, rows 3-6
the 1/8 pyramid level, rows 7+ the 1/4 one). pSp then adds ``latent_avg`` when the options say
``start_from_latent_avg``; this module does the same, so its output is what the reference decodes.

A released file is one ``torch.save``'d dict: ``state_dict`` (``encoder.*`` and ``decoder.*``),
``latent_avg`` and ``opts`` (the training options, a dict). Only ``encoder.*``, ``latent_avg`` and the
options are read, with ``weights_only=True`` and memory-mapped, so the decoder's bytes are never loaded.
:func:`convert_e4e_encoder` keeps those parts as safetensors, with a content checksum, for later starts.
Options the reference does not have (``ganpaint_input_size``, ``ganpaint_units``, ``ganpaint_widths``) make
small stand-ins for tests; absent, the network is the released IR-SE-50 at 256 px.
"""
from __future__ import annotations

import argparse
import json
import math
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.core.errors import CheckpointError
from ganpaint_core.core.files import sha256_file
from ganpaint_core.core.tensor_files import DamagedFileError, read_checked, write_checked
from ganpaint_core.models.checkpoint import looks_like_safetensors, unsafe_checkpoint_message
from ganpaint_core.models.stylegan2 import EqualLinear

__all__ = ["E4ECheckpoint", "E4EConfig", "Encoder4Editing", "convert_e4e_encoder", "converted_source_sha256",
           "load_e4e_encoder", "read_e4e_checkpoint"]

KIND = "ganpaint.e4e-encoder"  # the metadata "kind" of a converted file
IR_SE_50_UNITS = (3, 4, 14, 3)  # bottleneck units per backbone stage in IR-SE-50
IR_SE_50_WIDTHS = (64, 128, 256, 512)  # channels per stage; the last is also the length of w
COARSE_ROWS = 3  # rows 0-2 come from the 1/16 features (the reference's coarse_ind)
MIDDLE_ROWS = 7  # rows 3-6 from the 1/8 pyramid level, rows 7+ from the 1/4 one (middle_ind)
SE_REDUCTION = 16  # squeeze-excitation bottleneck: channels // 16


@dataclass(frozen=True)
class E4EConfig:
    """The shape of an e4e encoder; everything else is in the weights."""

    stylegan_size: int  # output side of the StyleGAN2 it encodes for; sets the W+ rows, 2·log2(size) − 2
    input_size: int = 256  # side of the images it reads (the released encoders: 256)
    units: tuple[int, ...] = IR_SE_50_UNITS  # bottleneck units per backbone stage (four stages)
    widths: tuple[int, ...] = IR_SE_50_WIDTHS  # channels per stage; the last is the length of w
    start_from_latent_avg: bool = True  # add latent_avg to the codes, as pSp does when this option is set

    def __post_init__(self) -> None:
        for name, side in (("stylegan_size", self.stylegan_size), ("input_size", self.input_size)):
            if side < 8 or side & (side - 1):
                raise ValueError(f"e4e {name} must be a power of two ≥ 8, got {side}")
        if self.input_size < 32:
            raise ValueError(f"e4e input_size must be ≥ 32 (the backbone halves it four times), "
                             f"got {self.input_size}")
        if len(self.units) != 4 or min(self.units) < 1:
            raise ValueError(f"e4e needs four backbone stages of ≥ 1 unit, got {self.units}")
        if len(self.widths) != 4 or min(self.widths) < SE_REDUCTION:
            raise ValueError(f"e4e needs four stage widths ≥ {SE_REDUCTION}, got {self.widths}")

    @property
    def n_styles(self) -> int:
        """Rows of W+ (the generator's n_latent)."""
        return 2 * int(math.log2(self.stylegan_size)) - 2

    @property
    def style_dim(self) -> int:
        """Length of w."""
        return self.widths[-1]

    @classmethod
    def from_options(cls, opts: Mapping[str, Any]) -> E4EConfig:
        """The config the released training options describe (``encoder_type`` must be Encoder4Editing)."""
        kind = opts.get("encoder_type", "Encoder4Editing")
        if kind != "Encoder4Editing":
            raise ValueError(f"encoder_type is {kind!r}; only 'Encoder4Editing' (e4e) is supported")
        if "stylegan_size" not in opts:
            raise ValueError("the options name no stylegan_size")
        return cls(stylegan_size=int(opts["stylegan_size"]),
                   input_size=int(opts.get("ganpaint_input_size", 256)),
                   units=tuple(int(u) for u in opts.get("ganpaint_units", IR_SE_50_UNITS)),
                   widths=tuple(int(w) for w in opts.get("ganpaint_widths", IR_SE_50_WIDTHS)),
                   start_from_latent_avg=bool(opts.get("start_from_latent_avg", False)))

    def to_options(self) -> dict[str, Any]:
        """Options that :meth:`from_options` reads back (the reference's names where it has them)."""
        return {"encoder_type": "Encoder4Editing", "stylegan_size": self.stylegan_size,
                "start_from_latent_avg": self.start_from_latent_avg, "ganpaint_input_size": self.input_size,
                "ganpaint_units": list(self.units), "ganpaint_widths": list(self.widths)}


class SqueezeExcite(nn.Module):
    """Channel gates from the global average: ``x · sigmoid(fc2(relu(fc1(mean(x)))))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // SE_REDUCTION, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // SE_REDUCTION, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, H, W] -> same
        gate = self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class IRSEUnit(nn.Module):
    """ArcFace's improved-residual bottleneck with squeeze-excitation; ``stride`` 2 halves the side.

    Residual: BN, 3x3 conv, PReLU, 3x3 conv (strided), BN, SE. Shortcut: a strided subsample when the width
    is kept (no weights), else a strided 1x1 conv and BN.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        if c_in == c_out:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)  # a 1x1 max is a subsample
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.PReLU(c_out),
            nn.Conv2d(c_out, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), SqueezeExcite(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, c_in, H, W] -> [N, c_out, H/stride, W/stride]
        return self.res_layer(x) + self.shortcut_layer(x)


class StyleHead(nn.Module):
    """Features ``[N, C, s, s]`` -> one W+ row ``[N, D]``: stride-2 3x3 convs with leaky ReLU down to 1x1,
    then an equalised linear map."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(max(1, int(math.log2(side)))):
            layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.LeakyReLU()]  # slope 0.01
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)  # [N, C, 1, 1]
        return self.linear(x.flatten(1))  # [N, C]


def _upsample_add(coarse: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    """A pyramid level: ``coarse`` resized (bilinear, corners aligned) to ``lateral``'s side, plus ``lateral``."""
    return F.interpolate(coarse, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral


class Encoder4Editing(nn.Module):
    """e4e: images ``[N, 3, S, S]`` in [-1, 1] -> W+ ``[N, n_styles, D]``, ``latent_avg`` included.

    Example::

        enc = Encoder4Editing(E4EConfig(stylegan_size=256)).eval()
        enc.load_state_dict(encoder_state)          # the released `encoder.*` weights, prefix removed
        enc.latent_avg.copy_(latent_avg)           # [n_styles, D]; not part of the state dict
        wplus = enc(images)                         # [N, 14, 512]

    Parameter names follow the released checkpoints (``input_layer``, ``body``, ``styles``, ``latlayer1/2``).
    BatchNorm uses its running statistics: call ``eval()`` (the loaders do).
    """

    latent_space = "w+"  # what forward() returns: rows of w, not a z for the mapping network

    def __init__(self, config: E4EConfig) -> None:
        super().__init__()
        self.config = config
        c = config.widths
        self.input_layer = nn.Sequential(nn.Conv2d(3, c[0], 3, 1, 1, bias=False), nn.BatchNorm2d(c[0]), nn.PReLU(c[0]))
        units: list[nn.Module] = []
        for stage, n in enumerate(config.units):
            c_in = c[max(stage - 1, 0)]
            units += [IRSEUnit(c_in if k == 0 else c[stage], c[stage], 2 if k == 0 else 1) for k in range(n)]
        self.body = nn.Sequential(*units)
        s = config.input_size
        sides = [s // 16 if i < COARSE_ROWS else s // 8 if i < MIDDLE_ROWS else s // 4 for i in range(config.n_styles)]
        self.styles = nn.ModuleList(StyleHead(c[3], side) for side in sides)
        self.latlayer1 = nn.Conv2d(c[2], c[3], 1)  # stage 3 -> the 1/8 pyramid level
        self.latlayer2 = nn.Conv2d(c[1], c[3], 1)  # stage 2 -> the 1/4 pyramid level
        self.register_buffer("latent_avg", torch.zeros(config.n_styles, config.style_dim), persistent=False)

    @property
    def resolution(self) -> int:
        """Side of the images it reads."""
        return self.config.input_size

    @property
    def latent_size(self) -> int:
        """Length of each W+ row."""
        return self.config.style_dim

    def set_latent_avg(self, latent_avg: torch.Tensor | None) -> None:
        """Store ``latent_avg`` (``[D]`` or ``[n_styles, D]``) as pSp adds it; zeros when the options say not to."""
        n, d = self.config.n_styles, self.config.style_dim
        if not self.config.start_from_latent_avg:
            self.latent_avg.zero_()
            return
        if latent_avg is None:
            raise ValueError("the options say start_from_latent_avg but the file has no latent_avg")
        if tuple(latent_avg.shape) not in ((d,), (n, d)):
            raise ValueError(f"latent_avg must be [{d}] or [{n}, {d}], got {list(latent_avg.shape)}")
        self.latent_avg.copy_(latent_avg.detach().float().expand(n, d))

    def _pyramid_inputs(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.input_layer(images)
        ends, k = [], 0
        for n in self.config.units:
            for unit in self.body[k:k + n]:
                x = unit(x)
            k += n
            ends.append(x)
        return ends  # each stage's output: 1/2, 1/4, 1/8, 1/16 of the side

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        s = self.config.input_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, s, s):
            raise ValueError(f"expected images [N, 3, {s}, {s}] in [-1, 1], got shape {tuple(images.shape)}: "
                             f"resize to {s}x{s}")
        _, fine, middle, coarse = self._pyramid_inputs(images)
        w0 = self.styles[0](coarse)  # [N, D]: the w every row starts from
        rows, features = [w0], coarse
        for i in range(1, self.config.n_styles):
            if i == COARSE_ROWS:
                features = level = _upsample_add(coarse, self.latlayer1(middle))  # [N, D, S/8, S/8]
            elif i == MIDDLE_ROWS:
                features = _upsample_add(level, self.latlayer2(fine))  # [N, D, S/4, S/4]
            rows.append(w0 + self.styles[i](features))
        return torch.stack(rows, dim=1) + self.latent_avg  # [N, n_styles, D]


# -- files --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class E4ECheckpoint:
    """What an e4e file holds that the encoder needs (CPU tensors)."""

    config: E4EConfig  # the network's shape, from the options
    state: dict[str, torch.Tensor]  # the encoder's state dict, ``encoder.`` prefix removed
    latent_avg: torch.Tensor | None  # [D] or [n_styles, D]; None when the file has none
    options: dict[str, Any]  # the training options as stored (JSON-safe values)


def _torch_load(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``, memory-mapped so that tensors never read stay on disk."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)  # a pre-1.6 (non-zip) file


def _load_released(path: Path) -> dict[str, Any]:
    try:
        data = _torch_load(path)
    except pickle.UnpicklingError:
        # Options saved as an argparse.Namespace (pSp-style scripts pickle it): a plain bag of attributes
        # whose unpickling sets __dict__ and runs no code, so exactly that type is allowed; anything else
        # is refused as read_checkpoint refuses it.
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        if unsafe != {"argparse.Namespace"}:
            raise CheckpointError(unsafe_checkpoint_message(path, sorted(unsafe))) from None
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = _torch_load(path)
    if not isinstance(data, dict) or not isinstance(data.get("state_dict"), dict):
        raise CheckpointError(f"{path}: not an e4e checkpoint (expected a dict with 'state_dict', 'opts' and "
                              "'latent_avg', as encoder4editing saves it)")
    return data


def read_e4e_checkpoint(path: Path) -> E4ECheckpoint:
    """The encoder part of a released e4e ``.pt`` (``weights_only=True``) or of a converted ``.safetensors``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if looks_like_safetensors(path):
        return _read_converted(path)
    try:
        data = _load_released(path)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    opts = data.get("opts")
    opts = vars(opts) if isinstance(opts, argparse.Namespace) else opts
    if not isinstance(opts, dict):
        raise CheckpointError(f"{path}: its 'opts' is a {type(opts).__name__}, expected the training options")
    state = {k[len("encoder."):]: v for k, v in data["state_dict"].items() if k.startswith("encoder.")}
    if not state:
        raise CheckpointError(f"{path}: its state_dict has no 'encoder.*' weights")
    latent_avg = data.get("latent_avg")
    if latent_avg is not None and not isinstance(latent_avg, torch.Tensor):
        raise CheckpointError(f"{path}: 'latent_avg' is a {type(latent_avg).__name__}, expected a tensor")
    try:
        config = E4EConfig.from_options(opts)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    options = json.loads(json.dumps(opts, default=str))  # JSON-safe: what a converted file's metadata keeps
    return E4ECheckpoint(config=config, state=state, latent_avg=latent_avg, options=options)


def _read_converted(path: Path) -> E4ECheckpoint:
    try:
        tensors, meta = read_checked(path, what="converted e4e encoder")
    except DamagedFileError as exc:
        raise CheckpointError(f"{exc}; delete it and convert the released file again") from None
    if meta.get("kind") != KIND:
        raise CheckpointError(f"{path}: not a converted e4e encoder (metadata kind {meta.get('kind')!r}); "
                              "make one with convert_e4e_encoder")
    try:
        config = E4EConfig.from_options(json.loads(meta["config"]))
        options = json.loads(meta.get("options", "{}"))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: unreadable e4e config in its metadata ({exc})") from None
    latent_avg = tensors.pop("latent_avg", None)
    return E4ECheckpoint(config=config, state=tensors, latent_avg=latent_avg, options=options)


def convert_e4e_encoder(src: Path, dst: Path) -> None:
    """Write the encoder part of e4e file ``src`` to ``dst`` as a checked safetensors file
    (:mod:`ganpaint_core.core.tensor_files`): weights, ``latent_avg``, the options and the source's sha256 in
    the metadata; atomic. ``src`` is checked to load strictly first, so ``dst`` is never a file that
    :func:`load_e4e_encoder` refuses."""
    src, dst = Path(src), Path(dst)
    ckpt = read_e4e_checkpoint(src)
    _build(ckpt, where=str(src))
    tensors = dict(ckpt.state)
    if ckpt.latent_avg is not None:
        tensors["latent_avg"] = ckpt.latent_avg.detach().cpu().float()
    meta = {"format": "pt", "kind": KIND, "config": json.dumps(ckpt.config.to_options(), sort_keys=True),
            "options": json.dumps(ckpt.options, sort_keys=True), "source_sha256": sha256_file(src)}
    write_checked(dst, tensors, meta)


def converted_source_sha256(path: Path) -> str | None:
    """The sha256 of the released file a converted file was made from (None if it is not one)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError):
        return None
    return meta.get("source_sha256") if meta.get("kind") == KIND else None


def _build(ckpt: E4ECheckpoint, *, where: str) -> Encoder4Editing:
    enc = Encoder4Editing(ckpt.config)
    try:
        enc.load_state_dict(ckpt.state, strict=True)
        enc.set_latent_avg(ckpt.latent_avg)
    except (RuntimeError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) <= 600 else detail[:600] + " …"
        raise CheckpointError(f"{where}: does not load strictly as an e4e encoder ({detail})") from None
    enc.options = ckpt.options  # the training options, for model cards and `doctor`
    return enc


def load_e4e_encoder(path: Path, *, device: torch.device | str = "cpu") -> Encoder4Editing:
    """An e4e encoder from the released ``.pt`` or a file written by :func:`convert_e4e_encoder`: strict
    load, float32, eval mode (BatchNorm on its running statistics), on ``device``."""
    path = Path(path)
    enc = _build(read_e4e_checkpoint(path), where=str(path))
    return enc.float().eval().to(device)
