"""Files made for a model on this machine (a dissection's ``concepts.json``, a trained encoder), and their use.

Example::

    folder = derived_dir("stylegan2-church", generator_sha256)  # <cache>/derived/stylegan2-church/<sha[:16]>/
    folder / CONCEPTS_FILE, folder / ENCODER_FILE                 # what `dissect` and `train-encoder` write

They live in the user's cache (``$GANPAINT_CACHE``, default ``~/.cache/ganpaint``), never in a model's
folder: bundled folders are read-only, remote models have none, and a manifest names only files whose
sha256 it knows. The folder is keyed by the generator file's sha256, so files made for other weights are
never used. ``load_model`` takes a dictionary or encoder from here only where the manifest names none, or,
for the dictionary, where it is the manifest's with concepts added by name (``dissect_concepts``); it keeps a
manifest's e4e encoder here converted (``E4E_FILE``), so the released file is read only once.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ganpaint_core.core.errors import CheckpointError, ConceptDictionaryError
from ganpaint_core.core.files import DamagedFileError
from ganpaint_core.core.progress import Callback
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.fetch import cache_dir, expected_sha256, fetch, sha256_file, verify_file
from ganpaint_core.hub.manifest import ModelManifest
from ganpaint_core.hub.model import LoadedModel
from ganpaint_core.models.e4e import convert_e4e_encoder, converted_source_sha256
from ganpaint_core.models.encoder import load_encoder

log = logging.getLogger(__name__)

CONCEPTS_FILE = "concepts.json"  # written by `python -m ganpaint_core dissect`
ENCODER_FILE = "encoder.safetensors"  # written by `python -m ganpaint_core train-encoder`
DIRECTIONS_FILE = "directions.safetensors"  # written by `python -m ganpaint_core directions`
E4E_FILE = "e4e-encoder.safetensors"  # the encoder part of a manifest's e4e file, converted once (at load or by `prepare`)


def derived_root() -> Path:
    return cache_dir() / "derived"


def derived_dir(model_name: str, generator_sha256: str) -> Path:
    """Where files made for this model's generator (by its sha256) are kept."""
    return derived_root() / model_name / generator_sha256[:16]


def report_path(path: Path) -> Path:
    """The JSON report written beside an output file: ``concepts.json`` -> ``concepts.report.json``."""
    path = Path(path)
    return path.with_name(path.stem + ".report.json")


def read_derived_concepts(path: Path, *, model_name: str) -> ConceptDictionary | None:
    """The dictionary a ``dissect`` (or a preparation) made in ``path``, verified by its content digest; None when
    there is none, or when it is damaged: then it is logged once and removed, so that it is installed or made
    again, never used. One made before digests gets its digest now (trusted once, as a manifest pins a
    file on first use). ``ConceptDictionaryError`` when it is sound but malformed."""
    if not path.is_file():
        return None
    try:
        concepts, checked = ConceptDictionary.read(path)
    except DamagedFileError as exc:
        log.warning("%s: %s; removed, it will be made again", model_name, exc)
        path.unlink(missing_ok=True)
        return None
    if not checked:
        concepts.save(path)
        log.info("%s: %s had no content checksum (made before checksums); it has one now", model_name, path)
    return concepts


def drop_damaged_files(model_name: str, generator_sha256: str) -> None:
    """Remove this generator's derived dictionary if its content does not match its checksum (before the prepared
    files are installed, so that a damaged one is downloaded again in the same load)."""
    try:
        read_derived_concepts(derived_dir(model_name, generator_sha256) / CONCEPTS_FILE, model_name=model_name)
    except ConceptDictionaryError:
        pass  # malformed but not damaged: attach_derived_files reports it with what to do


def _derived_concepts(model: LoadedModel, path: Path) -> ConceptDictionary | None:
    """The dictionary in ``path``, checked against the model's edit layer. A broken one is an error when the model
    has no other; beside a shipped dictionary it is only a comparison (``dissect --replace``): warned, ignored."""
    try:
        concepts = read_derived_concepts(path, model_name=model.manifest.name)
        if concepts is None:
            return None
        channels = dict((n, c) for n, c, _ in model.generator.layer_shapes())[model.manifest.edit_layer]
        concepts.check_layer(model.manifest.edit_layer, channels)
        return concepts
    except ConceptDictionaryError as exc:
        if model.concepts is not None:
            log.warning("%s: ignoring %s (%s)", model.manifest.name, path, exc)
            return None
        raise ConceptDictionaryError(f"{exc} (a dictionary made by `dissect`: delete {path} or run dissect "
                                     "again)") from None


def attach_derived_files(model: LoadedModel) -> None:
    """Give ``model`` the dictionary and encoder made for its generator on this machine, where it has none.

    Example::

        model = LoadedModel(...)          # manifest without concepts.json
        attach_derived_files(model)       # model.concepts now comes from a `dissect` run, if there was one
    """
    sha = model.sha256.get("generator")
    if not sha:
        return
    folder = derived_dir(model.manifest.name, sha)
    path = folder / CONCEPTS_FILE
    if path.is_file():
        concepts = _derived_concepts(model, path)
        # The manifest's dictionary wins, unless this one is it with concepts added by name (dissect_concepts).
        if concepts is not None and (model.concepts is None or concepts.extends(model.concepts)):
            model.concepts, model.paths["concepts"], model.sha256["concepts"] = concepts, path, sha256_file(path)
            log.info("%s: concept dictionary from %s", model.manifest.name, path)
    path = folder / ENCODER_FILE
    if model.encoder is None and path.is_file():
        hint = f"(an encoder made by `train-encoder`: delete {path} or train it again)"
        try:
            encoder = load_encoder(path, device=model.device).requires_grad_(False)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc} {hint}") from None
        g = model.generator
        if (encoder.resolution, encoder.latent_size) != (g.resolution, g.latent_size):
            raise CheckpointError(f"{path}: encoder for {encoder.resolution}px and z[{encoder.latent_size}], the "
                                  f"generator is {g.resolution}px with z[{g.latent_size}] {hint}")
        model.encoder, model.paths["encoder"], model.sha256["encoder"] = encoder, path, sha256_file(path)
        log.info("%s: encoder from %s", model.manifest.name, path)


def converted_e4e_encoder(manifest: ModelManifest, generator_sha256: str, *,
                          progress: Callback | None = None) -> tuple[Path, str]:
    """``(path, source sha256)`` of the manifest's e4e encoder, kept converted in the derived folder.

    The released file (959 MB for LSUN church, decoder included) is fetched, verified and converted only
    when no converted file made from the bytes the manifest (or its first-use pin) expects is there; later
    starts read the converted file alone, which checks its own content checksum when it is loaded.
    """
    mf = manifest.files["encoder"]
    path = derived_dir(manifest.name, generator_sha256) / E4E_FILE
    expected, _ = expected_sha256(manifest, mf)
    if path.is_file() and (expected is None or converted_source_sha256(path) == expected):
        return path, converted_source_sha256(path)  # made here, or downloaded from a prepared repo (verified)
    source = fetch(manifest, "encoder", progress=progress)
    sha = verify_file(source, manifest, mf)
    log.info("%s: converting the e4e encoder in %s to %s (once)", manifest.name, source, path)
    convert_e4e_encoder(source, path)
    return path, sha
