"""Structured inputs are checked by type before use: every refusal is a sentence, never a bare error."""
from __future__ import annotations

import pytest

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.page.share import ShareError, check_bundle


@pytest.mark.parametrize("bundle,words", [
    ({"model": ["synth-church"], "strokes": []}, "'model' must be text"),
    ({"model": "synth-church", "weights_sha256": "abc", "strokes": []}, "'weights_sha256' must be an object"),
    ({"model": "synth-church", "weights_sha256": {"generator": 5}, "strokes": []}, "map file roles to sha256"),
    ({"strokes": {"a": 1}}, "'strokes' must be a list"),
    ({"strokes": [], "photo_png_base64": 7}, "'photo_png_base64' must be text"),
    ([1, 2], "not an edit record"),
])
def test_a_bundle_of_the_wrong_types_is_refused_in_one_sentence(bundle, words):
    with pytest.raises(ShareError, match=words) as caught:
        check_bundle(bundle)
    assert "\n" not in str(caught.value)


def test_a_sound_bundle_passes():
    b = {"model": "synth-church", "weights_sha256": {"generator": "0" * 64}, "options": None, "strokes": []}
    assert check_bundle(b) is b


@pytest.mark.parametrize("text,words", [("[" * 50_000 + "]" * 50_000, "nested too deeply"), ("[1, 2]", "JSON object"),
                                        ("{", "not valid JSON")])
def test_the_recipe_endpoint_refuses_deep_or_odd_json_before_anything_runs(text, words):
    from ganpaint_core.page.api import edit_recipe_steps

    with pytest.raises(GanpaintError, match=words):
        next(edit_recipe_steps(None, "photo.png", text))
