"""ZeroGPU hosting: with ``spaces`` present the page's setup, edits and dissection run in ``spaces.GPU`` calls."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

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


# -- ZeroGPU's rules: spaces before CUDA, module-level GPU functions, CPU values out -----------------------------------
def gpu_bound(value, path: str = "result", seen: set[int] | None = None) -> list[str]:
    """What in ``value`` could not leave a lent GPU: a tensor off the CPU, a model. Walks dataclasses, mappings,
    sequences and plain objects; arrays, images and scalars are CPU values."""
    import dataclasses

    import torch
    from PIL import Image

    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, torch.nn.Module):
        return [f"{path}: a model ({type(value).__name__})"]
    if isinstance(value, torch.Tensor):
        return [] if value.device.type == "cpu" else [f"{path}: a tensor on {value.device}"]
    if value is None or isinstance(value, (str, bytes, int, float, bool, np.ndarray, np.generic, Path, Image.Image,
                                           torch.device, torch.dtype, types.FunctionType)):
        return []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    elif isinstance(value, dict):
        items = [(repr(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(enumerate(value))
    elif hasattr(value, "__dict__"):
        items = list(vars(value).items())
    else:
        return []
    return [problem for key, item in items for problem in gpu_bound(item, f"{path}.{key}", seen)]


def checking_spaces(record: list[dict]) -> types.ModuleType:
    """A ``spaces`` whose ``GPU`` records each decorated function and, per call, what its result holds that is
    not a CPU value."""
    module = types.ModuleType("spaces")

    def GPU(fn=None, *, duration: int = 60):  # noqa: N802 - the real package's name
        def decorate(f):
            entry = {"fn": f, "duration": duration, "calls": 0, "problems": []}
            record.append(entry)

            def on_gpu(*args, **kwargs):
                result = f(*args, **kwargs)
                entry["calls"] += 1
                entry["problems"] += gpu_bound(result, f"{f.__name__}()")
                return result
            return on_gpu
        return decorate(fn) if fn is not None else decorate

    module.GPU = GPU
    return module


def test_the_checker_catches_what_may_not_leave_the_gpu():
    import torch

    assert gpu_bound({"latent": torch.zeros(2), "image": np.zeros((2, 2, 3), np.uint8), "device": torch.device("cuda")}) == []
    problems = gpu_bound(types.SimpleNamespace(state={"w": [torch.empty(3, device="meta")]}, g=torch.nn.Linear(1, 1)))
    assert problems == ["result.state.'w'.0: a tensor on meta", "result.g: a model (Linear)"]


def test_gpu_functions_are_module_level_and_return_only_cpu_values(monkeypatch, tmp_path):
    record: list[dict] = []
    monkeypatch.setitem(sys.modules, "spaces", checking_spaces(record))
    page = EditPage(make_engine(), out_dir=tmp_path / "renders")
    for entry in record:
        fn = entry["fn"]
        assert isinstance(fn, types.FunctionType), f"{fn!r} is not a plain function (a bound method?)"
        assert fn.__qualname__ == fn.__name__ and getattr(sys.modules[fn.__module__], fn.__name__) is fn, \
            f"{fn.__qualname__} is not a module-level function"

    photo = tmp_path / "scene.png"
    photo.write_bytes(scene_png(9_000_602, (96, 96)))
    session = list(page.open_photo(EditSession(model=page.default_model), str(photo), name="scene.png"))[-1].session
    rgba = np.zeros((96, 96, 4), np.uint8)
    rgba[..., 3] = (box_mask(96, 96, 0.3, 0.7, 0.3, 0.7) * 255).astype(np.uint8)
    settings = PaintSettings(concept="tree", action="add", strength=1.0)
    page.paint(session, [rgba], settings)
    page.render(session, [rgba], settings)
    calls = {e["fn"].__name__: e["calls"] for e in record}
    assert calls["run_setup"] == 1 and calls["run_edit"] >= 2
    assert [p for e in record for p in e["problems"]] == []


STAND_IN_SPACES = '''
import builtins
builtins.GANPAINT_EVENTS.append("import spaces")
decorated = []

def GPU(fn=None, *, duration=60):
    def decorate(f):
        decorated.append(f)
        return f
    return decorate(fn) if fn is not None else decorate
'''

APP_START = '''
import builtins, json, sys
events = builtins.GANPAINT_EVENTS = []
import torch
for name in ("is_available", "_lazy_init", "init", "device_count", "current_device", "set_device"):
    def query(*args, _name=name, _original=getattr(torch.cuda, name), **kwargs):
        events.append("torch.cuda." + _name)
        return _original(*args, **kwargs)
    setattr(torch.cuda, name, query)
import app  # first, as `python app.py` (gradio itself imports spaces where it is installed)
app.gr.Blocks.launch = lambda self, **kwargs: events.append("launch")  # the server is not under test
code = app.main([])
import spaces
print(json.dumps({"events": events, "code": code,
                  "decorated": [[f.__module__, f.__qualname__] for f in spaces.decorated]}))
'''


@pytest.mark.slow
def test_app_imports_spaces_before_anything_asks_cuda(tmp_path):
    """``python app.py`` as ZeroGPU runs it, with a stand-in ``spaces`` on the path: it is imported before
    torch's CUDA is first asked anything (ZeroGPU's emulation answers only once it is), and its GPU functions are
    the module-level ones."""
    import json
    import os
    import subprocess

    (tmp_path / "site" / "spaces").mkdir(parents=True)
    (tmp_path / "site" / "spaces" / "__init__.py").write_text(STAND_IN_SPACES)
    repo = Path(hosting.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{repo}", "GANPAINT_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", APP_START], cwd=repo, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    events = result["events"]
    assert result["code"] == 0 and events[-1] == "launch"
    cuda = [i for i, e in enumerate(events) if e.startswith("torch.cuda.")]
    assert events.index("import spaces") < min(cuda, default=len(events)), events
    assert sorted(map(tuple, result["decorated"])) == [("ganpaint_core.page.hosting", n)
                                                       for n in ("run_dissect", "run_edit", "run_setup")]


# ZeroGPU's documented versions (https://huggingface.co/docs/hub/spaces-zerogpu, "Supported Versions", read for this
# release): the Space must install within them. Update both lists together when the documentation changes.
ZEROGPU_PYTHON = ("3.12.12", "3.10.13")
ZEROGPU_TORCH = ("2.8.0", "2.9.1", "2.10.0", "2.11.0")
SPACE_ONLY = {"torch", "torchvision", "transformers"}  # what the Space's list may pin or add apart from the local one


def _requirements(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    out = {}
    for line in filter(None, lines):
        name = line.split("=")[0].split(">")[0].split("<")[0].strip().lower()
        out[name] = line
    return out


def test_the_space_installs_within_zerogpu_s_supported_versions():
    repo = Path(hosting.__file__).resolve().parents[2]
    front = (repo / "README.md").read_text().split("---")[1]
    python = [line.split(":", 1)[1].strip().strip('"') for line in front.splitlines() if line.startswith("python_version:")]
    assert python and python[0] in ZEROGPU_PYTHON, python
    space, local = _requirements(repo / "requirements.txt"), _requirements(repo / "requirements-local.txt")
    assert space["torch"].removeprefix("torch==") in ZEROGPU_TORCH, space["torch"]
    assert local["torch"] == "torch==2.14.1"  # the version the tests and the README's figures ran on
    assert {k: v for k, v in space.items() if k not in SPACE_ONLY} == {k: v for k, v in local.items() if k not in SPACE_ONLY}
    for reqs in (space, local):  # torchvision 0.N+15 goes with torch 2.N (0.26 with 2.11, 0.29 with 2.14)
        torch_minor = int(reqs["torch"].split("==")[1].split(".")[1])
        assert reqs["torchvision"].startswith(f"torchvision==0.{torch_minor + 15}."), reqs["torchvision"]
