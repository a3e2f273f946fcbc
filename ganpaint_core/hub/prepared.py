"""Files prepared once for a model and published on the Hub: found by a later start instead of made again.

Example::

    # weights/stylegan2-church/model.json: "prepared": {"repo_id": "me/stylegan2-church-ganpaint", "revision": "<commit>"}
    install_prepared_files(manifest, generator_sha256=sha)   # -> {"concepts": "me/…@<commit>", "directions": …}
    # the files now lie in derived_dir(name, sha), where load_model and load_directions look

A prepared repository (written by ``python -m ganpaint_core prepare --push``) holds a ``model.json`` that is
a whole manifest of the model: its generator with sha256 and size, and the files made for exactly those
weights (``concepts.json``, ``directions.safetensors``, a converted encoder), each with its sha256. Only
what the model lacks on this machine is downloaded, only when its ``model.json`` was made for the same
generator bytes, and every byte is checked against that ``model.json`` before it is kept.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

from ganpaint_core.core.errors import ChecksumMismatch, FileUnavailable, ManifestError
from ganpaint_core.core.files import atomic_path, read_json
from ganpaint_core.core.progress import Callback
from ganpaint_core.hub.derived import CONCEPTS_FILE, DIRECTIONS_FILE, E4E_FILE, derived_dir
from ganpaint_core.hub.fetch import download_hub_file, fetch, sha256_file
from ganpaint_core.hub.manifest import MANIFEST_NAME, FileSource, ModelManifest, PreparedRepo, parse_manifest

log = logging.getLogger(__name__)

PREPARED_ROLES = ("concepts", "directions", "encoder")  # what `prepare` makes and a prepared repo may hold
E4E_KIND = "e4e"  # a manifest's encoder in e4e's released layout (its entry's "kind"): prepared as E4E_FILE


def has_e4e_encoder(manifest: ModelManifest) -> bool:
    """True when the manifest's encoder is e4e's released file, kept converted in the derived folder."""
    mf = manifest.files.get("encoder")
    return mf is not None and mf.kind == E4E_KIND


def derived_filename(manifest: ModelManifest, role: str) -> str | None:
    """The name a prepared file of ``role`` is kept under in the model's derived folder; None when the model
    does not use one (its manifest names that file itself; an encoder is prepared only from e4e's file)."""
    if role == "encoder":
        return E4E_FILE if has_e4e_encoder(manifest) else None
    if role in manifest.files and role != "directions":
        return None  # the manifest's own dictionary is loaded as it is
    return {"concepts": CONCEPTS_FILE, "directions": DIRECTIONS_FILE}.get(role)


def missing_roles(manifest: ModelManifest, generator_sha256: str) -> list[str]:
    """The prepared files this model lacks on this machine (none made or downloaded yet)."""
    folder = derived_dir(manifest.name, generator_sha256)
    out = []
    for role in PREPARED_ROLES:
        name = derived_filename(manifest, role)
        if name is not None and not (folder / name).is_file():
            out.append(role)
    return out


def read_prepared_manifest(repo: PreparedRepo, *, name: str, progress: Callback | None = None) -> ModelManifest:
    """The ``model.json`` of a prepared repository, its files sourced from that repository at ``repo.revision``."""
    path = download_hub_file(repo.repo_id, MANIFEST_NAME, revision=repo.revision, progress=progress)
    where = f"{repo.repo_id}@{repo.revision}/{MANIFEST_NAME}"
    if repo.sha256 is not None and sha256_file(path) != repo.sha256:
        raise ChecksumMismatch(f"{where} has sha256 {sha256_file(path)}, the manifest lists {repo.sha256}: "
                               "it is not the prepared model.json named; fix the 'prepared' entry's revision or sha256")
    prepared = parse_manifest(read_json(path, what="prepared manifest", error=ManifestError), folder=path.parent,
                              where=where)
    if prepared.name != name:
        raise ManifestError(f"{where} prepares {prepared.name!r}, not {name!r}: point 'prepared' at {name}'s repo")
    files = dict(prepared.files)
    for role in PREPARED_ROLES:  # the repo's own copy, at the revision named, whatever sources it lists
        if role in files:
            source = FileSource(kind="hub", repo_id=repo.repo_id, filename=files[role].filename, revision=repo.revision)
            files[role] = replace(files[role], sources=(source,))
    return replace(prepared, files=files)


def install_prepared_files(manifest: ModelManifest, *, generator_sha256: str,
                           progress: Callback | None = None) -> dict[str, str]:
    """Put the prepared files this model lacks into its derived folder: a directions file its manifest names,
    then those of its prepared repository. Returns ``{role: where it came from}``. A repository that cannot
    be reached (offline, unknown) is a warning: the model loads without those files. Wrong bytes are an error."""
    wanted = missing_roles(manifest, generator_sha256)
    folder = derived_dir(manifest.name, generator_sha256)
    installed: dict[str, str] = {}
    if "directions" in wanted and "directions" in manifest.files:
        _install(manifest, "directions", folder / DIRECTIONS_FILE, progress=progress)
        installed["directions"] = f"{manifest.name}'s manifest"
        wanted.remove("directions")
    if not wanted or manifest.prepared is None:
        return installed
    repo = manifest.prepared
    try:
        prepared = read_prepared_manifest(repo, name=manifest.name, progress=progress)
    except FileUnavailable as exc:
        log.warning("%s: prepared files not downloaded (%s); they are made on this machine when asked for",
                    manifest.name, exc)
        return installed
    generator = prepared.files["generator"]
    if generator.sha256 != generator_sha256:
        log.warning("%s: %s@%s was prepared for generator %s…, this one is %s…; its files are not used",
                    manifest.name, repo.repo_id, repo.revision, (generator.sha256 or "unknown")[:12],
                    generator_sha256[:12])
        return installed
    for role in wanted:
        if role not in prepared.files:
            continue
        if prepared.files[role].sha256 is None:
            raise ManifestError(f"{repo.repo_id}@{repo.revision}/{MANIFEST_NAME}: the {role} file has no sha256; "
                                "a prepared file must name it (prepare writes it)")
        try:
            _install(prepared, role, folder / derived_filename(manifest, role), progress=progress)
        except FileUnavailable as exc:
            log.warning("%s: prepared %s not downloaded (%s)", manifest.name, role, str(exc).splitlines()[0])
            continue
        installed[role] = f"{repo.repo_id}@{repo.revision}"
    if installed:
        log.info("%s: prepared files from %s: %s", manifest.name, repo.repo_id, ", ".join(installed))
    return installed


def _install(manifest: ModelManifest, role: str, dest: Path, *, progress: Callback | None) -> None:
    """Fetch ``role`` (verified against ``manifest``) and copy it to ``dest`` atomically, checked again there."""
    src = fetch(manifest, role, progress=progress)
    expected = manifest.files[role].sha256 or sha256_file(src)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
        if sha256_file(tmp) != expected:
            raise ChecksumMismatch(f"{dest}: the copy of {src} changed while it was written; load the model again")
