"""What every dissection segmenter is: label maps and probabilities for its labels, and concepts by name.

Example::

    seg = load_scene_segmenter("synth-church")
    seg.segment(images)                       # [N, 3, H, W] in [-1, 1] -> [N, H, W] ids into seg.label_names
    seg.segment_text(images, ["dome"])        # -> bool [N, 1, H, W]: where each named concept is
    seg.measurer("dome")                      # the segmenter dissection measures "dome" with

A closed-set segmenter (the synth-church U-Net, SegFormer ADE20K) answers for the names among its labels;
an open-vocabulary one (CLIPSeg) for any name. Dissection needs a segmenter whose labels include the
concept: for a closed set that is the segmenter itself, for a name it only knows as text a
:class:`ConceptView` (labels ``("other", name)``); :class:`CompositeSegmenter` sends each name to the
closed set when it has that class, else to the open-vocabulary one. Per-concept views let masks overlap
(a cloud is also sky) and keep a concept's measurement independent of the other names asked with it.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import torch

from ganpaint_core.core.errors import GanpaintError, shown
from ganpaint_core.hub.concepts import GANPAINT_RECIPES

GANPAINT_CONCEPTS: tuple[str, ...] = tuple(GANPAINT_RECIPES)  # the concepts GANPaint's brushes offer
CONCEPT_NAME_RE = re.compile(r"^\w[\w .-]{0,47}$")  # a concept's name: words, as the dictionary keys it


def concept_name(text: str) -> str:
    """The dictionary's name for a concept typed as ``text``: lower case, single spaces; refused if not words."""
    name = " ".join(str(text).split()).lower()
    if not CONCEPT_NAME_RE.match(name):
        raise GanpaintError(f"a concept's name must be a few words (letters, digits, spaces, '.', '-'; at most "
                            f"48 characters), got {shown(text)}")
    return name


def concept_names(text: str | Sequence[str]) -> list[str]:
    """Names from ``"dome, cloud"`` or ``["dome", "cloud"]``: normalised, repeats dropped, order kept."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = [concept_name(p) for p in parts if str(p).strip()]
    if not names:
        raise GanpaintError("no concept named: type one or more names, separated by commas (e.g. 'dome, statue')")
    return list(dict.fromkeys(names))


class SceneSegmenter(ABC):
    """Labels images with concept names. Subclasses set the attributes below and implement :meth:`segment`
    and :meth:`probabilities`; the text interface (:meth:`knows`, :meth:`segment_text`,
    :meth:`text_probabilities`, :meth:`measurer`) answers from the labels unless a kind says otherwise.

    Example::

        seg = load_scene_segmenter("segformer-ade20k", device="cuda")
        seg.label_names[seg.segment(images)[0, 10, 20]]    # e.g. "sky"
    """

    name: str  # how the CLI calls it, e.g. "synth-church"
    label_names: tuple[str, ...]  # label id -> name; id 0 is "other"
    concepts: tuple[str, ...]  # labels dissection ranks units for when none are asked for
    sources: dict[str, tuple[str, ...]]  # concept -> the segmenter's own class names merged into it
    fingerprint: str  # identifies weights and mapping; keys the dissection caches
    device: torch.device  # where it runs
    open_vocabulary: bool = False  # answers for any name, not only its labels

    @classmethod
    def load(cls, source: str | Path | None = None, *, device: torch.device | str = "cpu") -> "SceneSegmenter":
        """From its default weights, or ``source`` (a file, a folder or a Hub repo): how the registry
        (``segmenters.SEGMENTERS``) makes each kind."""
        raise GanpaintError(f"{cls.__name__} has no weights to load: build it directly")

    @abstractmethod
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """Images float ``[N, 3, H, W]`` in [-1, 1] (any device) -> labels int64 ``[N, H, W]`` on :attr:`device`."""

    @abstractmethod
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``[N, 3, H, W]`` in [-1, 1] -> per-label probabilities ``[N, len(label_names), H, W]``,
        differentiable with respect to the images (dissection's causal search descends through it)."""

    @property
    def missing_concepts(self) -> tuple[str, ...]:
        """GANPaint concepts this segmenter cannot see, so cannot dissect."""
        return tuple(c for c in GANPAINT_CONCEPTS if not self.knows(c))

    def knows(self, name: str) -> bool:
        """Whether :meth:`segment_text` can answer for ``name`` (a :func:`concept_name`)."""
        return name in self.label_names[1:]

    def segment_text(self, images: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        """Where each named concept is: bool ``[N, len(names), H, W]`` (masks may overlap)."""
        labels = self.segment(images)  # [N, H, W]
        return torch.stack([labels == self._label(n) for n in names], dim=1)

    def text_probabilities(self, images: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        """Each named concept's probability ``[N, len(names), H, W]``, differentiable like :meth:`probabilities`."""
        return self.probabilities(images)[:, [self._label(n) for n in names]]

    def measurer(self, name: str) -> "SceneSegmenter":
        """The segmenter whose label ``name`` dissection measures: this one when ``name`` is one of its labels,
        else a :class:`ConceptView` of its text interface."""
        if name in self.label_names[1:]:
            return self
        self._check_knows(name)
        return ConceptView(self, name)

    def _label(self, name: str) -> int:
        self._check_knows(name)
        return self.label_names.index(name)

    def _check_knows(self, name: str) -> None:
        if not self.knows(name):
            cannot = f"; it cannot see {', '.join(self.missing_concepts)}" if self.missing_concepts else ""
            raise GanpaintError(f"the {self.name} segmenter has no concept {name}; it knows: "
                                f"{', '.join(self.label_names[1:])}{cannot}")

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.segment(images)


class ConceptView(SceneSegmenter):
    """One concept of a segmenter's text interface as a segmenter of two labels, ``("other", name)``.

    Example::

        view = ConceptView(clipseg, "statue")
        view.segment(images)        # [N, H, W]: 1 where the statue is, else 0
    """

    def __init__(self, base: SceneSegmenter, name: str) -> None:
        base._check_knows(name)
        self.base = base
        self.name = f"{base.name}:{name}"
        self.label_names = ("other", name)
        self.concepts = (name,)
        self.sources = {name: (name,)}
        self.fingerprint = f"{base.fingerprint}|text:{name}"
        self.device = base.device

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        return self.base.segment_text(images, self.concepts)[:, 0].long()

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        p = self.base.text_probabilities(images, self.concepts)  # [N, 1, H, W]
        return torch.cat([1 - p, p], dim=1)


class CompositeSegmenter(SceneSegmenter):
    """A closed-set segmenter for the classes it has, an open-vocabulary one for every other name.

    Example::

        seg = CompositeSegmenter(segformer, clipseg)
        seg.measurer("sky")         # segformer: ADE20K has sky
        seg.measurer("dome")        # ConceptView(clipseg, "dome"): ADE20K has no dome
    """

    open_vocabulary = True

    def __init__(self, closed: SceneSegmenter, text: SceneSegmenter) -> None:
        self.closed, self.text = closed, text
        self.name = f"{closed.name}+{text.name}"
        self.label_names, self.concepts, self.sources = closed.label_names, closed.concepts, closed.sources
        self.fingerprint = f"{closed.fingerprint}+{text.fingerprint}"
        self.device = closed.device

    def _member(self, name: str) -> SceneSegmenter:
        return self.closed if self.closed.knows(name) else self.text

    def knows(self, name: str) -> bool:
        return self.closed.knows(name) or self.text.knows(name)

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        return self.closed.segment(images)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return self.closed.probabilities(images)

    def segment_text(self, images: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        return torch.cat([self._member(n).segment_text(images, [n]) for n in names], dim=1)

    def text_probabilities(self, images: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        return torch.cat([self._member(n).text_probabilities(images, [n]) for n in names], dim=1)

    def measurer(self, name: str) -> SceneSegmenter:
        if self.closed.knows(name):
            return self.closed.measurer(name)
        self._check_knows(name)
        return ConceptView(self.text, name)
