"""The one LRU (bounded, least recent dropped, computed once per key) and the engine's caches as objects it is
given: engines of two models may share them without meeting each other's entries; the engine does not
import the brush it caches candidates for."""
from __future__ import annotations

import ast
import dataclasses
import threading

import pytest

import ganpaint_core.edit.engine as engine_module
from ganpaint_core.core.lru import LRUCache
from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.caches import EditCaches
from ganpaint_core.edit.engine import EditEngine
from tests.helpers import scene_png, tiny_loaded_model


def test_the_least_recently_used_goes_first_and_a_look_is_not_a_use():
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    assert "b" in cache  # a look: b stays the least recent
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    assert cache.get("b") is None and cache.get("b", 0) == 0
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="capacity must be a whole number >= 1"):
            LRUCache(bad)


def test_a_key_asked_at_once_is_computed_once():
    cache: LRUCache[str, int] = LRUCache(4)
    calls, started, release = [], threading.Event(), threading.Event()

    def compute() -> int:
        calls.append(1)
        started.set()
        release.wait(5)
        return 7

    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute)))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute))) for _ in range(3)]
    for t in others:
        t.start()
    release.set()
    for t in (first, *others):
        t.join(5)
    assert results == [7, 7, 7, 7] and calls == [1]


def test_a_failed_computation_is_the_first_callers_error_and_a_waiter_computes_again():
    cache: LRUCache[str, int] = LRUCache(4)
    started, release = threading.Event(), threading.Event()

    def fails() -> int:
        started.set()
        release.wait(5)
        raise RuntimeError("out of memory")

    errors: list[Exception] = []

    def first() -> None:
        try:
            cache.get_or_compute("k", fails)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=first)
    t.start()
    started.wait(5)
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(cache.get_or_compute("k", lambda: 8)))
    waiter.start()
    release.set()
    t.join(5)
    waiter.join(5)
    assert [str(e) for e in errors] == ["out of memory"] and got == [8] and cache.get("k") == 8


def test_engines_of_two_models_share_caches_without_meeting(one_thread):
    # In memory, without file hashes: each model is named by its generator's parameters.
    one, two = (dataclasses.replace(tiny_loaded_model(seed), sha256={}) for seed in (0, 1))
    shared = EditCaches(setup_store=None)
    a, b = (EditEngine(m, use_lpips=False, caches=shared) for m in (one, two))
    again = EditEngine(one, use_lpips=False, caches=shared)  # another engine of the first model
    assert a.caches is b.caches is shared

    a.style_from_sample(7, concept="tree", strength=1.0)
    b.style_from_sample(7, concept="tree", strength=1.0)
    assert len(shared.styles) == 2  # the same sample and concept, analysed once per model
    again.style_from_sample(7, concept="tree", strength=0.5)
    assert len(shared.styles) == 2  # the first model's analysis, reused by its other engine

    photo = load_photo(scene_png(9_300_001, (80, 64)), size=a.resolution)
    assert a.setup_key(photo, adapt=True, seed=0, invert="single") != b.setup_key(photo, adapt=True, seed=0,
                                                                                 invert="single")
    assert a.setup_key(photo, adapt=True, seed=0, invert="single") == again.setup_key(photo, adapt=True, seed=0,
                                                                                     invert="single")
    found = object()  # stands for the first model's directions
    a.use_directions(found)
    assert again.directions() is found
    assert len(shared.directions) == 1  # b's were never asked for


def test_the_engine_does_not_import_the_brush():
    tree = ast.parse(open(engine_module.__file__, encoding="utf-8").read())  # every import, in functions too
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    names |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "ganpaint_core.edit.brush" not in names
    assert "ganpaint_core.edit.caches" in names  # the check reads the right file
