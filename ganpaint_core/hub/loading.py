"""Load a model named by its manifest: generator (read-only, eval), concept dictionary, checks."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from ganpaint_core.core.errors import CheckpointError, ManifestError
from ganpaint_core.core.progress import Callback
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.derived import attach_derived_files, converted_e4e_encoder, drop_damaged_files
from ganpaint_core.hub.fetch import fetch, verify_file
from ganpaint_core.hub.manifest import ModelManifest
from ganpaint_core.hub.model import LoadedModel
from ganpaint_core.hub.prepared import install_prepared_files
from ganpaint_core.hub.registry import Registry
from ganpaint_core.models import detect_family, generator_from_state_dict
from ganpaint_core.models.checkpoint import read_checkpoint
from ganpaint_core.models.e4e import load_e4e_encoder
from ganpaint_core.models.encoder import load_encoder
from ganpaint_core.models.segmenter import load_segmenter

log = logging.getLogger(__name__)


def load_generator_file(path: Path, *, family: str | None = None) -> nn.Module:
    """A generator from a weight file, its family detected from the keys unless given."""
    return generator_from_checkpoint(read_checkpoint(path), where=str(path), family=family)[1]


def generator_from_checkpoint(state: dict, *, where: str, family: str | None = None) -> tuple[str, nn.Module]:
    """``(family, generator)`` from a checkpoint's top-level mapping; the family comes from the keys and must
    equal ``family`` when that is given. Every failure is a ``CheckpointError`` naming ``where``."""
    detected = detect_family(state)
    if family is not None and detected != family:
        raise CheckpointError(f"{where}: holds a {detected} generator, the manifest says {family}")
    try:
        return detected, generator_from_state_dict(state, family=detected)
    except (RuntimeError, KeyError, ValueError) as exc:
        # torch's strict-load message spreads the key lists over several lines: keep them, on one.
        detail = " ".join(str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).split())
        detail = detail if len(detail) <= 600 else detail[:600] + " …"
        raise CheckpointError(f"{where}: does not load strictly as a {detected} generator ({detail})") from None


def load_model(
    model: str | ModelManifest,
    *,
    device: torch.device | str = "cpu",
    progress: Callback | None = None,
) -> LoadedModel:
    """Fetch, verify and load a model's generator and concept dictionary; check they fit the manifest."""
    manifest = Registry.scan().get(model) if isinstance(model, str) else model
    device = torch.device(device)
    paths = {"generator": fetch(manifest, "generator", progress=progress)}
    generator = load_generator_file(paths["generator"], family=manifest.family)
    _check_against_manifest(manifest, generator)
    generator.requires_grad_(False).eval().to(device)
    concepts = None
    if "concepts" in manifest.files:
        paths["concepts"] = fetch(manifest, "concepts", progress=progress)
        concepts = ConceptDictionary.load(paths["concepts"])
        channels = dict((n, c) for n, c, _ in generator.layer_shapes())[manifest.edit_layer]
        concepts.check_layer(manifest.edit_layer, channels)
    segmenter = encoder = None
    if "segmenter" in manifest.files:
        paths["segmenter"] = fetch(manifest, "segmenter", progress=progress)
        segmenter = load_segmenter(paths["segmenter"], device=device).requires_grad_(False)
    sha = {"generator": verify_file(paths["generator"], manifest, manifest.files["generator"])}
    # Files prepared once for these weights (a 'prepared' Hub repo): downloaded instead of made again, before
    # the encoder, whose converted copy may be one of them.
    drop_damaged_files(manifest.name, sha["generator"])  # a damaged derived file is installed or made again
    install_prepared_files(manifest, generator_sha256=sha["generator"], progress=progress)
    if "encoder" in manifest.files:
        encoder = _load_encoder(manifest, generator, paths, sha, device=device, progress=progress)
    sha.update({role: verify_file(p, manifest, manifest.files[role]) for role, p in paths.items() if role not in sha})
    log.info("loaded %s (%s) on %s", manifest.name, manifest.family, device)
    loaded = LoadedModel(manifest=manifest, generator=generator, concepts=concepts, device=device,
                         segmenter=segmenter, encoder=encoder, sha256=sha, paths=paths)
    attach_derived_files(loaded)  # a dictionary / encoder made on this machine (`dissect`, `train-encoder`)
    return loaded


def _check_against_manifest(manifest: ModelManifest, generator: nn.Module) -> None:
    where = f"{manifest.name}: generator"
    if generator.resolution != manifest.resolution:
        raise ManifestError(f"{where} renders {generator.resolution}px, the manifest says {manifest.resolution}")
    if generator.latent_size != manifest.latent_size:
        raise ManifestError(f"{where} takes z of {generator.latent_size}, the manifest says {manifest.latent_size}")
    names = [n for n, _, _ in generator.layer_shapes()]
    if manifest.edit_layer not in names[:-1]:
        raise ManifestError(f"{where} has no layer {manifest.edit_layer!r} to edit; layers: {', '.join(names)}")
    after = names[names.index(manifest.edit_layer) + 1 :]
    wrong = [n for n in manifest.fine_layers if n not in after]
    if wrong:
        raise ManifestError(f"{where}: fine layers {wrong} are not layers after {manifest.edit_layer} ({', '.join(after)})")


def _load_encoder(manifest: ModelManifest, generator: nn.Module, paths: dict[str, Path], sha: dict[str, str], *,
                  device: torch.device, progress: Callback | None) -> nn.Module:
    """The manifest's encoder, of the kind its entry names; records its path and sha256 in ``paths``/``sha``."""
    if manifest.files["encoder"].kind != "e4e":
        paths["encoder"] = fetch(manifest, "encoder", progress=progress)
        return load_encoder(paths["encoder"], device=device).requires_grad_(False)
    # e4e is read from its converted copy in the derived folder (keyed by the generator's sha256): the
    # released file also holds a decoder. The sha256 recorded is the released file's.
    paths["encoder"], sha["encoder"] = converted_e4e_encoder(manifest, sha["generator"], progress=progress)
    encoder = load_e4e_encoder(paths["encoder"], device=device).requires_grad_(False)
    _check_encoder(manifest, encoder, generator)
    return encoder


def _check_encoder(manifest: ModelManifest, encoder: nn.Module, generator: nn.Module) -> None:
    """An encoder to W+ must read the generator's image side and give its W+ shape."""
    where = f"{manifest.name}: encoder"
    if generator.inversion_space != encoder.latent_space:
        raise ManifestError(f"{where} gives {encoder.latent_space} codes; the {manifest.family} generator inverts "
                            f"{generator.inversion_space}")
    got = (encoder.resolution, encoder.config.n_styles, encoder.latent_size)
    want = (generator.resolution, generator.n_latent, generator.latent_size)
    if got != want:
        raise ManifestError(f"{where} reads {got[0]}px images into W+ [{got[1]}, {got[2]}]; the generator is "
                            f"{want[0]}px with W+ [{want[1]}, {want[2]}]")
