"""Concept dictionaries: which units of the edit layer draw which concept, and how strongly.

``concepts.json`` holds the edit layer, one insertion level per unit (its 0.99 activation quantile
over generated samples) and, per concept, units ranked strongest first with their scores and the
metric that ranked them (``iou`` for dissection, ``ace``/``causal`` for causal effect, or a blend).
A concept may also carry a ``remove`` ranking: the units whose ablation erases it best, which GAN
Dissection finds to differ from the units whose insertion draws it; without one, removal uses the
concept's main ranking.

A concept may also carry a ``template``: the mean edit-layer features (every unit) of the squares where
generated samples show the most of it, as a ``size × size`` pattern on the grid. Dissection keeps one
where writing that pattern draws the concept clearly better than setting its top units to their levels —
objects with an outline (domes, doors) on a small generator, whose tail turns a constant write into a
texture. *Add* strokes of such a concept write the template, resized to the stroke's box.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from ganpaint_core.core.errors import ConceptDictionaryError
from ganpaint_core.core.files import read_checked_json, write_checked_json

FORMAT = "ganpaint-concepts/1"


@dataclass(frozen=True)
class ConceptRanking:
    """One concept's units, strongest first."""

    metric: str  # what ranked them: "iou", "ace", "causal", "iou+causal"
    units: tuple[int, ...]  # unit ids in the edit layer, strongest first, no repeats
    scores: tuple[float, ...]  # one score per unit, higher is stronger


@dataclass(frozen=True)
class ConceptTemplate:
    """A concept's mean edit-layer features over ``size × size`` cells (all units), what an add writes."""

    size: int  # cells per side on the edit layer's grid
    values: tuple[float, ...]  # [units, size, size] flattened in C order


@dataclass(frozen=True)
class ConceptDictionary:
    """Units per concept for one generator's edit layer.

    Example::

        d = ConceptDictionary.load(Path("weights/synth-church/concepts.json"))
        units = d.top_units("tree", 10)         # ids into the edit layer's channels
        level = d.levels[units[0]]              # activation that "draws" the unit
    """

    layer: str  # edit layer the units belong to
    num_units: int  # channels of that layer
    level_quantile: float  # quantile the levels were taken at, e.g. 0.99
    levels: tuple[float, ...]  # insertion level per unit, len == num_units
    concepts: dict[str, ConceptRanking]  # concept name -> ranking (for "add", and "remove" without its own)
    source: str = ""  # where the figures come from
    removal: dict[str, ConceptRanking] = field(default_factory=dict)  # concept -> ranking for "remove", optional
    templates: dict[str, ConceptTemplate] = field(default_factory=dict)  # concept -> what "add" writes, optional

    def names(self) -> list[str]:
        return list(self.concepts)

    def ranking(self, concept: str) -> ConceptRanking:
        if concept not in self.concepts:
            raise ConceptDictionaryError(
                f"unknown concept {concept!r}; this model knows: {', '.join(self.concepts)}"
            )
        return self.concepts[concept]

    def ranking_for(self, concept: str, action: str = "add") -> ConceptRanking:
        """The ranking an edit uses: the removal ranking for ``remove`` when the dictionary has one."""
        ranking = self.ranking(concept)
        return self.removal.get(concept, ranking) if action == "remove" else ranking

    def top_units(self, concept: str, n: int, action: str = "add") -> list[int]:
        return list(self.ranking_for(concept, action).units[: max(0, n)])

    def template(self, concept: str) -> torch.Tensor | None:
        """The concept's template as a float tensor [units, size, size], or None when it has none."""
        t = self.templates.get(concept)
        return None if t is None else torch.tensor(t.values, dtype=torch.float32).view(self.num_units, t.size, t.size)

    def check_layer(self, layer: str, channels: int) -> None:
        """Refuse a dictionary measured on another layer or width than the generator's."""
        if layer != self.layer or channels != self.num_units:
            raise ConceptDictionaryError(
                f"concept dictionary is for {self.layer} with {self.num_units} units, but the generator's "
                f"edit layer is {layer} with {channels} units: it was measured on another model; "
                "re-run dissection for this one"
            )

    def extends(self, other: "ConceptDictionary") -> bool:
        """Whether this dictionary is ``other`` with concepts added: same layer and levels, and every concept of
        ``other`` with the same rankings and template (what adding concepts by name writes)."""
        return (
            (self.layer, self.num_units, self.levels) == (other.layer, other.num_units, other.levels)
            and all(self.concepts.get(c) == r for c, r in other.concepts.items())
            and all(self.removal.get(c) == r for c, r in other.removal.items())
            and all(self.templates.get(c) == t for c, t in other.templates.items())
        )

    # -- (de)serialisation --------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: Any, *, where: str = "concepts.json") -> "ConceptDictionary":
        if not isinstance(data, dict):
            raise ConceptDictionaryError(f"{where}: must be a JSON object")
        for key in ("layer", "units", "levels", "concepts"):
            if key not in data:
                raise ConceptDictionaryError(f"{where}: missing key {key!r}")
        num_units, levels = data["units"], data["levels"]
        if not isinstance(num_units, int) or isinstance(num_units, bool) or num_units <= 0:
            raise ConceptDictionaryError(f"{where}: 'units' must be a positive integer")
        if not isinstance(levels, list) or len(levels) != num_units:
            raise ConceptDictionaryError(
                f"{where}: 'levels' needs one level per unit ({num_units}), got "
                f"{len(levels) if isinstance(levels, list) else type(levels).__name__}"
            )
        if not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in levels):
            raise ConceptDictionaryError(f"{where}: every level must be a finite number ≥ 0")
        raw_concepts = data["concepts"]
        if not isinstance(raw_concepts, dict) or not raw_concepts:
            raise ConceptDictionaryError(f"{where}: 'concepts' must be a non-empty object")
        concepts: dict[str, ConceptRanking] = {}
        removal: dict[str, ConceptRanking] = {}
        templates: dict[str, ConceptTemplate] = {}
        for name, raw in raw_concepts.items():
            at = f"{where}: concept {name!r}"
            concepts[str(name)] = _ranking_from_json(raw, num_units, at=at)
            if isinstance(raw, dict) and "remove" in raw:
                removal[str(name)] = _ranking_from_json(raw["remove"], num_units, at=f"{at}, its 'remove' ranking")
            if isinstance(raw, dict) and "template" in raw:
                templates[str(name)] = _template_from_json(raw["template"], num_units, at=f"{at}, its 'template'")
        return cls(
            layer=str(data["layer"]),
            num_units=num_units,
            level_quantile=float(data.get("level_quantile", 0.99)),
            levels=tuple(float(v) for v in levels),
            concepts=concepts,
            source=str(data.get("source", "")),
            removal=removal,
            templates=templates,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "layer": self.layer,
            "units": self.num_units,
            "level_quantile": self.level_quantile,
            "source": self.source,
            "levels": list(self.levels),
            "concepts": {
                name: {**_ranking_to_json(r),
                       **({"remove": _ranking_to_json(self.removal[name])} if name in self.removal else {}),
                       **({"template": {"size": self.templates[name].size, "values": list(self.templates[name].values)}}
                          if name in self.templates else {})}
                for name, r in self.concepts.items()
            },
        }

    @classmethod
    def load(cls, path: Path) -> "ConceptDictionary":
        return cls.read(path)[0]

    @classmethod
    def read(cls, path: Path) -> tuple["ConceptDictionary", bool]:
        """The dictionary in ``path`` and whether its file carried a content digest (``save`` writes one; a
        manifest's file has its sha256 in the manifest instead). ``DamagedFileError`` when the digest does
        not match: a flipped bit never becomes a unit id or a level."""
        data, checked = read_checked_json(path, what="concept dictionary", error=ConceptDictionaryError)
        return cls.from_json(data, where=str(path)), checked

    def save(self, path: Path) -> None:
        """To ``path`` with its content digest, atomically."""
        write_checked_json(path, self.to_json())


def _ranking_from_json(raw: Any, num_units: int, *, at: str) -> ConceptRanking:
    if not isinstance(raw, dict) or not {"metric", "units", "scores"} <= set(raw):
        raise ConceptDictionaryError(f"{at}: needs 'metric', 'units' and 'scores'")
    units, scores = raw["units"], raw["scores"]
    if not isinstance(units, list) or not units or not isinstance(scores, list) or len(units) != len(scores):
        raise ConceptDictionaryError(f"{at}: 'units' and 'scores' must be non-empty lists of equal length")
    bad = [u for u in units if not isinstance(u, int) or isinstance(u, bool) or not 0 <= u < num_units]
    if bad:
        raise ConceptDictionaryError(f"{at}: unit ids out of range 0..{num_units - 1}: {bad[:5]}")
    if len(set(units)) != len(units):
        raise ConceptDictionaryError(f"{at}: a unit is listed twice")
    if not all(isinstance(s, (int, float)) and math.isfinite(s) for s in scores):
        raise ConceptDictionaryError(f"{at}: scores must be finite numbers")
    return ConceptRanking(metric=str(raw["metric"]), units=tuple(units), scores=tuple(float(s) for s in scores))


def _template_from_json(raw: Any, num_units: int, *, at: str) -> ConceptTemplate:
    if not isinstance(raw, dict) or not {"size", "values"} <= set(raw):
        raise ConceptDictionaryError(f"{at}: needs 'size' and 'values'")
    size, values = raw["size"], raw["values"]
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ConceptDictionaryError(f"{at}: 'size' must be a positive integer")
    if not isinstance(values, list) or len(values) != num_units * size * size:
        raise ConceptDictionaryError(
            f"{at}: 'values' needs units × size × size = {num_units} × {size} × {size} numbers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ConceptDictionaryError(f"{at}: 'values' must be finite numbers")
    return ConceptTemplate(size=size, values=tuple(float(v) for v in values))


def _ranking_to_json(r: ConceptRanking) -> dict[str, Any]:
    return {"metric": r.metric, "units": list(r.units), "scores": list(r.scores)}


# GANPaint's brushes use these recipes of GAN Dissection's ranking file (the others rank by IoU or ACE).
GANPAINT_RECIPES = {
    "tree": "tree-ace",
    "grass": "grass-ace",
    "door": "door-ace",
    "sky": "sky-iou",
    "cloud": "cloud-iou",
    "brick": "brick-iou",
    "dome": "dome-iou",
}


def from_gandissect(
    rankings: dict[str, Any], levels: dict[str, Any], *, top: int = 40, source: str = ""
) -> ConceptDictionary:
    """Convert GAN Dissection's demo files (``rankings_*.json``, ``levels_*.json``) to a dictionary.

    Their scores are stored negated (most negative = strongest); units scoring 0 are left out.
    Concepts with a GANPaint brush take that brush's recipe; others prefer ``ace`` over ``iou``.
    """
    layer = rankings["request"]["layer"]
    level_values = [float(row[0]) for row in levels["res"]]
    recipes = {r["name"]: r for r in rankings["res"]}
    by_concept: dict[str, str] = {}
    for name in recipes:
        concept, _, metric = name.rpartition("-")
        if not concept or concept.strip("-") == "":
            continue
        if concept not in by_concept or metric == "ace":
            by_concept[concept] = name
    by_concept.update(GANPAINT_RECIPES)
    concepts: dict[str, ConceptRanking] = {}
    for concept, name in by_concept.items():
        scores = recipes[name]["scores"]
        order = sorted((s, u) for u, s in enumerate(scores) if s < 0)[:top]  # stable by unit id on ties
        concepts[concept] = ConceptRanking(
            metric=recipes[name]["metric"],
            units=tuple(u for _, u in order),
            scores=tuple(round(-s, 6) for s, _ in order),
        )
    return ConceptDictionary(
        layer=layer,
        num_units=len(level_values),
        level_quantile=float(levels["request"]["quantiles"][0]),
        levels=tuple(level_values),
        concepts=concepts,
        source=source,
    )


def template_target(template: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``template`` [C, k, k] stretched over the bounding box of the cells where ``alpha`` [1, 1, g, g] > 0,
    as [1, C, g, g] (zero outside the box; the alpha decides how much of it is written)."""
    grid = alpha.shape[-1]
    out = torch.zeros(1, template.shape[0], grid, grid, dtype=template.dtype, device=template.device)
    rows = (alpha[0, 0] > 0).any(1).nonzero()
    cols = (alpha[0, 0] > 0).any(0).nonzero()
    if len(rows) == 0:
        return out
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    size = (y1 - y0, x1 - x0)
    resized = template[None] if size == tuple(template.shape[1:]) else F.interpolate(
        template[None], size=size, mode="bilinear", align_corners=False)
    out[:, :, y0:y1, x0:x1] = resized
    return out
