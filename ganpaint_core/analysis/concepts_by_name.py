"""Concepts by name: dissect any concept typed as text and add it to the model's dictionary, cached.

Example::

    model = load_model("stylegan2-church", device="cuda")
    d = dissect_concepts(model, "dome, cloud, statue", callback=lambda s, t, info: print(s, t, info))
    d.top_units("statue", 10)
    load_model("stylegan2-church").concepts == d      # kept in the derived folder, used from now on

Each name goes to the model's own segmenter when it has that class (``segmenter_for``: the synth-church
U-Net, or SegFormer ADE20K), else to an open-vocabulary one (CLIPSeg) that finds it by name
(:func:`~ganpaint_core.analysis.segmenters.with_text_segmenter`). The concepts are measured as
:func:`~ganpaint_core.analysis.dissect_run.measure_concepts` measures any (resumable, one work folder per
concept's segmenter) and merged into the dictionary the model has: the derived ``concepts.json``, or a
copy of the one its manifest ships with the new concepts added (``load_model`` uses such an extension in
place of the shipped file, which it leaves untouched). Concepts the dictionary has already are kept as
they are (and cost nothing) unless ``replace`` asks to measure them again.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace as replace_fields
from pathlib import Path
from typing import Any

from ganpaint_core.analysis.dissect import DissectConfig
from ganpaint_core.analysis.dissect_run import measure_concepts
from ganpaint_core.analysis.scene_segmenter import GANPAINT_CONCEPTS, SceneSegmenter, concept_names
from ganpaint_core.analysis.segmenters import segmenter_for, with_text_segmenter
from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import write_json
from ganpaint_core.core.progress import Callback, report
from ganpaint_core.hub.concepts import ConceptDictionary
from ganpaint_core.hub.derived import CONCEPTS_FILE, derived_dir, report_path
from ganpaint_core.hub.fetch import fetch
from ganpaint_core.hub.loading import LoadedModel

log = logging.getLogger(__name__)


def dissect_concepts(
    model: LoadedModel,
    names: str | Sequence[str],
    *,
    segmenter: SceneSegmenter | None = None,
    text_segmenter: SceneSegmenter | None = None,
    text_kind: str = "clipseg",
    text_source: str | Path | None = None,
    cfg: DissectConfig = DissectConfig(),
    replace: bool = False,
    restart: bool = False,
    callback: Callback | None = None,
) -> ConceptDictionary:
    """``model``'s dictionary with the concepts ``names`` (``"dome, statue"`` or a list) measured and added.

    ``segmenter``: the closed-set segmenter (default ``segmenter_for(model)``); names it lacks are found by
    ``text_segmenter`` (default: the segmenter kind ``text_kind``, CLIPSeg, from ``text_source`` or its Hub
    checkpoint, loaded only when a name
    needs it; one error saying how to get it when it cannot be loaded). ``replace`` measures again concepts
    the dictionary has (not those its manifest ships: those stay as shipped). ``callback(step, total, info)``
    as :func:`~ganpaint_core.analysis.dissect_run.measure_concepts`'; when nothing needs measuring it is
    called once, ``stage="concept"``, ``step == total``. Writes ``concepts.json`` (and its report) in the
    model's derived folder, and returns the dictionary; a model loaded afterwards has it (one loaded before
    keeps the dictionary it had).
    """
    names = concept_names(names)
    existing = model.concepts
    shipped = _shipped(model)
    if replace and shipped is not None and (kept := [n for n in names if n in shipped.concepts]):
        raise GanpaintError(f"{model.manifest.name}'s manifest ships {', '.join(kept)}: those are not measured "
                            "again here; dissect them with --out FILE to compare")
    todo = [n for n in names if replace or existing is None or n not in existing.concepts]
    if not todo:
        report(callback, len(names), len(names), stage="concept", concept=None, resumed=True)
        assert existing is not None
        return existing
    closed = segmenter if segmenter is not None else segmenter_for(model, device=model.device)
    measurer = with_text_segmenter(closed, todo, text=text_segmenter, text_kind=text_kind,
                                   text_source=text_source)
    added, run_report = measure_concepts(model, measurer, concepts=todo, cfg=cfg, restart=restart,
                                         callback=callback)
    dictionary = extend_dictionary(existing, added) if existing is not None else added
    out = derived_dir(model.manifest.name, run_report["generator_sha256"]) / CONCEPTS_FILE
    dictionary.save(out)
    write_json(report_path(out), {**run_report, "added": todo,
                                  "kept": [c for c in dictionary.names() if c not in todo]})
    log.info("%s: %s measured and added to %s", model.manifest.name, ", ".join(todo), out)
    return dictionary


def missing_concepts(model: LoadedModel, names: Sequence[str] = GANPAINT_CONCEPTS) -> list[str]:
    """Those of ``names`` (default: GANPaint's seven concepts) the model's dictionary lacks: what
    :func:`dissect_concepts` would measure for them."""
    have = model.concepts.concepts if model.concepts is not None else {}
    return [n for n in concept_names(names) if n not in have]


def extend_dictionary(base: ConceptDictionary, added: ConceptDictionary) -> ConceptDictionary:
    """``base`` with ``added``'s concepts put in (a concept in both takes ``added``'s figures); ``base``'s levels,
    which its concepts' strokes write, are kept."""
    if (added.layer, added.num_units) != (base.layer, base.num_units):
        raise GanpaintError(f"concepts measured on {added.layer} ({added.num_units} units) cannot join a dictionary "
                            f"for {base.layer} ({base.num_units} units)")
    spread = max((abs(a - b) for a, b in zip(base.levels, added.levels)), default=0.0)
    if spread > 0.05 * max(max(base.levels, default=1.0), 1e-6):
        log.warning("levels measured now differ from the dictionary's by up to %.3g (other samples or settings); "
                    "the added concepts were ranked with the new ones, strokes write the dictionary's", spread)
    new = set(added.concepts)

    def merged(old: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in old.items() if k not in new}, **extra}

    return replace_fields(base, concepts={**base.concepts, **added.concepts},
                          removal=merged(base.removal, added.removal), templates=merged(base.templates, added.templates),
                          source=f"{base.source}; added by name: {', '.join(added.concepts)} ({added.source})"
                          if base.source else added.source)


def _shipped(model: LoadedModel) -> ConceptDictionary | None:
    """The dictionary the model's manifest ships (verified when the model was loaded), when it ships one."""
    if "concepts" not in model.manifest.files:
        return None
    return ConceptDictionary.load(fetch(model.manifest, "concepts"))
