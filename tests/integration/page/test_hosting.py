"""ZeroGPU hosting: with ``spaces`` present the page's setup, edits and dissection run in ``spaces.GPU`` calls."""
from __future__ import annotations

import sys
import types

import numpy as np

from ganpaint_core.page import hosting
from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.page import EditPage, PageUpdate, PaintSettings
from ganpaint_core.page.session import EditSession
from tests.helpers import box_mask, make_engine, scene_png


def stand_in_spaces(calls: list[tuple[str, int]]) -> types.ModuleType:
    """A ``spaces`` module whose ``GPU(duration=)`` records which function ran, under which duration."""
    module = types.ModuleType("spaces")

    def GPU(*, duration: int):  # noqa: N802 - the real package's name
        def decorate(fn):
            def on_gpu(*args, **kwargs):
                calls.append((fn.__name__, duration))
                return fn(*args, **kwargs)
            on_gpu.decorated = fn
            return on_gpu
        return decorate

    module.GPU = GPU
    return module


def test_with_spaces_the_decorated_functions_are_the_gpu_ones(monkeypatch, tmp_path):
    calls: list[tuple[str, int]] = []
    monkeypatch.setitem(sys.modules, "spaces", stand_in_spaces(calls))
    page = EditPage(make_engine(), out_dir=tmp_path / "renders")
    assert page.gpu.hosted
    assert {f.decorated for f in (page.gpu.setup, page.gpu.edit, page.gpu.dissect)} == {
        hosting.run_setup, hosting.run_edit, hosting.run_dissect}

    photo = tmp_path / "scene.png"
    photo.write_bytes(scene_png(9_000_601, (96, 96)))
    items = list(page.open_photo(EditSession(model=page.default_model), str(photo), name="scene.png"))
    assert isinstance(items[-1], PageUpdate) and all(isinstance(i, JobUpdate) for i in items[:-1])
    assert calls == [("run_setup", hosting.SETUP_S)]

    rgba = np.zeros((96, 96, 4), np.uint8)
    rgba[..., 3] = (box_mask(96, 96, 0.3, 0.7, 0.3, 0.7) * 255).astype(np.uint8)
    update = page.render(items[-1].session, [rgba], PaintSettings(concept="tree", action="add", strength=1.0))
    assert update.png is not None  # the result came back and was written on the CPU side
    assert calls[1:] == [("run_edit", hosting.EDIT_S)]
    assert hosting.EDIT_S < hosting.SETUP_S < hosting.DISSECT_S
