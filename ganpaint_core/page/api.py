"""The stateless endpoints for scripts (docs/api.md), without gradio: ``/edit``, ``/edit_recipe`` and
``/brush_candidates`` over a page's default engine and job board, edited through the one edit path.

An endpoint takes the files a client uploaded as ``File`` payloads (where the server saved them), runs its
work as a job and yields None while it runs, then its result as ``File`` payloads for the server to hand
back. A refusal is a ``GanpaintError`` raised before any setup. Endpoints are generators because a web server
closes one when its client cancels or goes away, which stops the job at its next step; a plain function's
thread would run its setup to the end. ``app.py`` registers :meth:`Endpoints.named` with gradio's file type in
place of ``File`` and shows refusals as messages; the parameter names, defaults and docstrings here are what
API clients see.

Example::

    endpoints = Endpoints(page)
    *_, png = endpoints.edit({"path": "church.jpg"}, {"path": "mask.png"}, "tree")  # png["path"]: the edit
    path = edit_file(page, "church.jpg", "mask.png", concept="tree")  # the same from Python, without payloads
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypedDict

from ganpaint_core.core.errors import GanpaintError, shown
from ganpaint_core.core.files import parse_json
from ganpaint_core.core.photo import header_pixels, load_photo
from ganpaint_core.edit.brush_recipe import RecipeBrush
from ganpaint_core.edit.concept_recipe import RecipeStroke
from ganpaint_core.edit.pipeline import EditOutcome, edit_files, edit_photo
from ganpaint_core.edit.recipe import parse_recipe
from ganpaint_core.edit.spec import EditOptions, unit_interval
from ganpaint_core.page.base import PageBase
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.session import file_stem

# A caller polls its job several times a second; one silent this long went away (closed its connection, was
# cancelled) and its setup stops at the next step, freeing the CPU for the next request.
EDIT_ORPHAN_S = 3.0
# How often an endpoint's job reports: the server closes a cancelled generator only between two reports, so
# this is also how long a cancel waits for the job to stop.
EDIT_POLL_S = 0.1


class File(TypedDict, total=False):
    """A file as the server and its clients pass it (gradio's ``FileData`` as a dict)."""

    path: str  # where the server keeps it
    orig_name: str | None  # the name it had on the client's side
    mime_type: str | None  # "image/png" for every result here
    meta: dict[str, str]  # {"_type": "gradio.FileData"}: how the server recognises a file in its output


def upload_path(payload: Any) -> tuple[str, str] | None:
    """(path, original file name) of an uploaded file's payload (a dict, or a model with ``model_dump``), or
    None when there is none."""
    data = payload if isinstance(payload, dict) else payload.model_dump() if hasattr(payload, "model_dump") else {}
    path = data.get("path") if data else None
    return (path, data.get("orig_name") or Path(path).name) if path else None


def result_file(path: Path) -> File:
    """A rendered PNG as a result payload."""
    return File(path=str(path), orig_name=path.name, mime_type="image/png", meta={"_type": "gradio.FileData"})


def _path(payload: Any) -> str | None:
    return (upload_path(payload) or (None,))[0]


def _served(items: Iterator[JobUpdate | Path | list[Path]]) -> Iterator[File | list[File] | None]:
    """A job's steps as an endpoint yields them: None while it runs, then its PNG (or list of PNGs)."""
    for item in items:
        yield [result_file(p) for p in item] if isinstance(item, list) else result_file(item) if isinstance(
            item, Path) else None


def _job(page: PageBase, work: Callable[[Any], Any]) -> Iterator[JobUpdate]:
    """An endpoint's job on the page's board, stopped soon after its caller goes silent."""
    return (yield from page._run(work, orphan_s=EDIT_ORPHAN_S, poll_s=EDIT_POLL_S))


def edit_steps(page: PageBase, image: str | None, mask: str | None, *, concept: str, action: str = "add",
               strength: float = 0.75, style: str | None = None, style_strength: float = 0.75,
               style_seed: int | None = None, invert: str = "single") -> Iterator[JobUpdate | Path]:
    """One photo edited start to finish on the default model, as the CLI edits it, as a job on ``page.jobs``:
    its progress, then the PNG's path (its JSON record beside it). A reference image ``style``, or a generated
    sample ``style_seed``, or neither; ``invert``: "single" code or "segments". The work stops at its next step
    once the iteration is closed or left alone for ``EDIT_ORPHAN_S``."""
    if image is None or mask is None:
        raise GanpaintError("give both an image and a mask image (white or opaque where to edit)")
    if style is not None and style_seed is not None:
        raise GanpaintError("give a style image or a style sample seed, not both")
    unit_interval("style strength", style_strength)  # checked even when there is no style to apply it to
    options = EditOptions(invert=invert)
    options.check()
    kind = "reference" if style is not None else "sample" if style_seed is not None else "dictionary"
    stroke = RecipeStroke(mask=Path(mask), concept=concept, action=action, strength=strength, style_kind=kind,
                          style_seed=style_seed, style_path=Path(style) if style is not None else None,
                          style_strength=style_strength)
    yield (yield from _edit_job(page, image, [stroke], options))


def edit_file(page: PageBase, image: str | None, mask: str | None, **kwargs: Any) -> Path:
    """:func:`edit_steps` run to its end: the PNG's path."""
    for item in edit_steps(page, image, mask, **kwargs):
        if isinstance(item, Path):
            return item
    raise GanpaintError("the edit ended without a result")


def edit_recipe_steps(page: PageBase, image: str | None, recipe_json: str) -> Iterator[JobUpdate | Path]:
    """A recipe (JSON text, as the CLI takes it, with its masks and paint inside: no file paths) on one photo,
    start to finish on the default model, as a job: its progress, then the PNG's path."""
    if image is None:
        raise GanpaintError("give an image to edit")
    if not isinstance(recipe_json, str):
        raise GanpaintError(f"the recipe must be JSON text, got {shown(recipe_json)}")
    data = parse_json(recipe_json, what="the recipe")
    if not isinstance(data, dict):
        raise GanpaintError(f"the recipe must be a JSON object with 'strokes', got {shown(data)}")
    strokes = parse_recipe(data, base=None, name="recipe")
    options = EditOptions.from_json(data.get("options"))
    yield (yield from _edit_job(page, image, strokes, options))


def _edit_job(page: PageBase, image: str, strokes: list[Any], options: EditOptions) -> Generator[JobUpdate, None, Path]:
    """The photo edited on the default model and saved, as a job (the PNG's path). A large photo waits for
    the page's heavy slot first: decode, paste-back and PNG of two 40-MP photos never run at once."""
    name = file_stem(Path(image).name)
    engine = page.catalog.engine(page.default_model)

    def work(cb: Any) -> Path:
        with page.heavy.held(header_pixels(image), callback=cb):
            outcome = page.gpu.setup(edit_files, engine, image, strokes, options=options, name=name, callback=cb)
            return page.save_render(name, outcome)[0]

    return (yield from _job(page, work))


def brush_candidate_steps(page: PageBase, image: str | None, color: str | None, sketch: str | None, *,
                          candidates: int = 4, seed: int = 0) -> Iterator[JobUpdate | list[Path]]:
    """A colour / sketch brush's candidates on one photo (images over the photo at any scale: colours opaque,
    or bright on black, where painted; lines likewise), each as the final PNG, best first."""
    if image is None or (color is None and sketch is None):
        raise GanpaintError("give the photo and colour strokes or a sketch (or both), as images over the photo")
    engine = page.catalog.engine(page.default_model)
    brush = RecipeBrush(color=color and Path(color), sketch=sketch and Path(sketch), candidates=candidates,
                        seed=seed, where="the brush")
    name = file_stem(Path(image).name)

    def edit(cb: Any) -> list[EditOutcome]:
        photo = load_photo(image, size=engine.resolution)
        spec = brush.to_spec(photo, engine, {})[0]
        spec.check(resolution=engine.resolution)  # before the setup
        state = engine.prepare(photo, adapt=True, callback=cb)
        found = engine.brush_candidates(state, spec)
        return [edit_photo(engine, state, [dataclasses.replace(spec, pick=i)], name=name) for i in range(len(found))]

    def work(cb: Any) -> list[Path]:
        with page.heavy.held(header_pixels(image), callback=cb):
            outcomes = page.gpu.setup(edit, cb)
            return [page.save_render(f"{name}-candidate-{i + 1}", o)[0] for i, o in enumerate(outcomes)]

    yield (yield from _job(page, work))


class Endpoints:
    """The endpoints over one page, as clients call them (docs/api.md)."""

    def __init__(self, page: PageBase) -> None:
        self.page = page

    def named(self) -> dict[str, Callable[..., Iterator[Any]]]:
        """Every endpoint by its API name."""
        return {"edit": self.edit, "edit_recipe": self.edit_recipe, "brush_candidates": self.brush_candidates}

    def edit(self, image: File, mask: File, concept: str, action: str = "add", strength: float = 0.75,
             style: File | None = None, style_strength: float = 0.75,
             style_seed: int | None = None, invert: str = "single") -> File:  # type: ignore[misc]
        """Edit one photo start to finish: returns the edited photo at the input's size (PNG). ``style``: a
        reference image whose look an "add" copies; ``style_seed``: a generated sample's look instead;
        ``invert``: "single" (one latent code) or "segments" (one per segment: closer, slower)."""
        yield from _served(edit_steps(self.page, _path(image), _path(mask), concept=concept, action=action,
                                      strength=strength, style=_path(style), style_strength=style_strength,
                                      style_seed=style_seed, invert=invert))

    def edit_recipe(self, image: File, recipe_json: str) -> File:  # type: ignore[misc]
        """Edit one photo with a recipe (JSON text as the CLI takes it: concept strokes, colour / sketch brushes,
        directions; masks and paint embedded as base64 PNGs, no file paths): the edited photo (PNG)."""
        yield from _served(edit_recipe_steps(self.page, _path(image), recipe_json))

    def brush_candidates(self, image: File, color_strokes: File | None = None, sketch: File | None = None,
                         candidates: int = 4, seed: int = 0) -> list[File]:  # type: ignore[misc]
        """A colour / sketch brush's candidates on one photo, each as the edited photo (PNG), best first. Colour
        strokes: an image over the photo, opaque (or not black) where painted; sketch: lines likewise."""
        yield from _served(brush_candidate_steps(self.page, _path(image), _path(color_strokes), _path(sketch),
                                                 candidates=candidates, seed=seed))
