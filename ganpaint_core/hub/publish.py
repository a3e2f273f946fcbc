"""A publishable model folder (``model.json``, a model card, the prepared files) and its upload to the Hub.

Example::

    folder = write_prepared_folder(manifest, out=Path("prepared/stylegan2-church"), known={"generator": (sha, size)},
                                   made={"concepts": derived / "concepts.json"}, repo_id="me/church-ganpaint")
    commit = push_prepared_folder(folder, "me/church-ganpaint", token=os.environ["HF_TOKEN"])
    # then, in the model's manifest: "prepared": {"repo_id": "me/church-ganpaint", "revision": commit}

The folder's ``model.json`` is a whole manifest of the model: the base files with the sha256 and size now
known, and each prepared file with its sha256 and size, sourced from the folder itself and from the Hub
repo it is pushed to. ``ganpaint_core.hub.prepared`` reads it back.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import atomic_path, atomic_write_text, write_json
from ganpaint_core.core.progress import Callback, report
from ganpaint_core.hub.fetch import hub_endpoint, is_offline, sha256_file, short_reason
from ganpaint_core.hub.manifest import MANIFEST_NAME, REPO_RE, ModelManifest, file_to_json, parse_manifest

log = logging.getLogger(__name__)

CARD_NAME = "README.md"
FORMATS = {"concepts": "json", "directions": "safetensors", "encoder": "safetensors"}  # prepared role -> format
TOKEN_ENV = "HF_TOKEN"  # where `--push` reads the Hub token from


def write_prepared_folder(manifest: ModelManifest, *, out: Path, known: dict[str, tuple[str, int]],
                          made: dict[str, Path], repo_id: str | None = None, revision: str = "main",
                          figures: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy the ``made`` files (role -> path) into ``out`` and write its ``model.json`` and ``README.md``.

    ``known`` gives the sha256 and size of the base manifest's files (role -> (sha256, bytes)); a prepared file
    replaces the base entry of its role (an e4e encoder by its converted part). ``repo_id``: the Hub repo the
    folder is meant for, named in every prepared file's sources. Returns the ``model.json`` data."""
    out = Path(out)
    files: dict[str, Any] = {}
    for role, mf in manifest.files.items():
        entry = file_to_json(mf)
        if role in known:
            entry["sha256"], entry["size"] = known[role]
        files[role] = entry
    for role, src in made.items():
        dest = out / Path(src).name
        sha = sha256_file(src)
        if not dest.is_file() or sha256_file(dest) != sha:  # a rerun copies only what changed
            with atomic_path(dest) as tmp:
                shutil.copyfile(src, tmp)
        sources: list[dict[str, Any]] = [{"path": dest.name}]
        if repo_id:
            sources.append({"hub": {"repo_id": repo_id, "filename": dest.name, "revision": revision}})
        files[role] = {"filename": dest.name, "format": FORMATS[role], "sha256": sha, "size": dest.stat().st_size,
                       "sources": sources}
    extra = dict(manifest.extra)
    if "encoder" in made and manifest.files.get("encoder") is not None:
        extra["encoder_converted_from"] = {**file_to_json(manifest.files["encoder"]), **(
            {"sha256": known["encoder"][0], "size": known["encoder"][1]} if "encoder" in known else {})}
    data = {"name": manifest.name, "family": manifest.family, "description": manifest.description,
            "resolution": manifest.resolution, "latent_size": manifest.latent_size, "edit_layer": manifest.edit_layer,
            "fine_layers": list(manifest.fine_layers), "licence": manifest.licence, "citation": manifest.citation,
            "extra": extra, "files": files}
    parse_manifest(data, folder=out, where=f"{out / MANIFEST_NAME}")  # what a later start will read must parse
    write_json(out / MANIFEST_NAME, data)
    atomic_write_text(out / CARD_NAME, model_card(data, repo_id=repo_id, figures=figures or {}))
    return data


def model_card(data: dict[str, Any], *, repo_id: str | None, figures: dict[str, Any]) -> str:
    """The folder's README.md: licence, how to use it, the figures of the runs that made it, every sha256."""
    name = data["name"]
    lines = ["---", "license: other", "tags:", "- ganpaint", "- gan-dissection", "- image-editing", "---", "",
             f"# {name}: prepared for ganpaint", "", data["description"], "",
             (f"Files made once for this model's generator (sha256 `{data['files']['generator']['sha256']}`) by "
              f"`python -m ganpaint_core prepare --model {name}`, so that an app starting on it downloads them "
              "instead of making them again."), "",
             "## Licence", "", data["licence"] or "(not stated by the base manifest)", "",
             "The files here are derived from the weights above and carry their licence.", ""]
    if data["citation"]:
        lines += ["## Citation", "", data["citation"], ""]
    lines += ["## Use", "", f"In the model's manifest (`weights/{name}/model.json`):", "", "```json",
              f'"prepared": {{"repo_id": "{repo_id or "OWNER/NAME"}", "revision": "<the commit prepare --push printed>"}}',
              "```", "", "Every file is checked against the sha256 below before it is used.", "",
              "## Files", "", "| role | file | bytes | sha256 |", "|---|---|---:|---|"]
    for role, f in data["files"].items():
        lines.append(f"| {role} | {f['filename']} | {f['size'] or '?'} | `{f['sha256'] or 'pinned on first use'}` |")
    lines += [""] + _figure_lines(figures)
    return "\n".join(lines) + "\n"


def _figure_lines(figures: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    dissection = figures.get("dissection")
    if dissection:
        lines += ["## Concept dictionary", "", dissection.get("how", ""), "",
                  "| concept | add gain | remove drop | units IoU ≥ 0.10 | best IoU |", "|---|---:|---:|---:|---:|"]
        for concept, row in dissection.get("concepts", {}).items():
            lines.append(f"| {concept} | {_num(row.get('add_gain'))} | {_num(row.get('remove_drop'))} | "
                         f"{row.get('units_iou_010', '')} | {_num(row.get('best_iou'))} |")
        lines += ["", ("Add gain / remove drop: change of the concept's share where units were switched on / off "
                       "(verified on held-out samples)."), ""]
    directions = figures.get("directions")
    if directions:
        lines += ["## Latent directions", "", directions.get("how", ""), "", "| name | kind | score | label |",
                  "|---|---|---:|---|"]
        lines += [f"| {r['name']} | {r['kind']} | {_num(r['score'])} | {r['label']} |" for r in directions["table"]]
        lines += ["", "Score: R² of the concept-share fit (supervised), explained-variance ratio (pca).", ""]
    return lines


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value or "")


def hub_token() -> str:
    """The Hub token ``--push`` uploads with (``$HF_TOKEN``); one sentence saying how to supply it otherwise."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise GanpaintError(f"pushing to the Hub needs a token with write access: set {TOKEN_ENV} "
                            "(https://huggingface.co/settings/tokens)")
    return token


def check_can_push(repo_id: str) -> str:
    """The token, once it is known that an upload to ``repo_id`` can be tried (asked before any long work)."""
    if not isinstance(repo_id, str) or not REPO_RE.match(repo_id):
        raise GanpaintError(f"the repo to push to must look like 'owner/name', got {repo_id!r}")
    if is_offline():
        raise GanpaintError("cannot push while offline (HF_HUB_OFFLINE or GANPAINT_OFFLINE is set): unset it, "
                            "or prepare without --push")
    return hub_token()


def push_prepared_folder(folder: Path, repo_id: str, *, token: str, private: bool = False,
                         callback: Callback | None = None) -> str:
    """Create ``repo_id`` (a model repo; kept when it exists) and commit ``folder``'s files to its main branch.
    Returns the commit id, the revision a manifest's ``prepared`` entry should name."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint(), token=token)
    report(callback, 0, 2, stage="push", repo_id=repo_id)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        report(callback, 1, 2, stage="push", repo_id=repo_id)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder),
                                 commit_message=f"ganpaint prepare: {Path(folder).name}")
    except Exception as exc:  # noqa: BLE001 - any Hub failure is reported as one sentence
        raise GanpaintError(f"pushing {folder} to {repo_id} failed: {short_reason(exc)}") from None
    report(callback, 2, 2, stage="push", repo_id=repo_id)
    log.info("pushed %s to %s at %s", folder, repo_id, info.oid)
    return info.oid
