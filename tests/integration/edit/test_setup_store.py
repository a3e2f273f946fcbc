"""Photo setups kept on disk: a second engine (another CLI call, an app restart) on the same photo, model
and settings reuses the setup bit for bit; another photo, model or setting never does; the folder stays
under its cap."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from ganpaint_core.core.photo import load_photo
from ganpaint_core.edit.caches import EditCaches
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.setup_store import SetupStore
from tests.helpers import make_engine, scene_png

pytestmark = pytest.mark.slow  # each test sets photos up (a few seconds each on a 2-core CPU)


def _photo(seed: int, engine: EditEngine):
    return load_photo(scene_png(seed, (96, 80)), size=engine.resolution)


def _engine(store: SetupStore) -> EditEngine:
    """An engine as a new process builds it (nothing in memory) that keeps its setups in ``store``."""
    engine = make_engine()
    engine.caches = EditCaches(setup_store=store)
    return engine


def test_a_second_engine_reuses_the_setup_from_disk_bit_for_bit(tmp_path, one_thread):
    first = _engine(SetupStore(tmp_path / "setups", max_bytes=10**8))
    state = first.prepare(_photo(9_100_001, first))
    assert len(list((tmp_path / "setups").glob("*.safetensors"))) == 1

    second = _engine(SetupStore(tmp_path / "setups", max_bytes=10**8))

    def no_setup(*a, **k):
        raise AssertionError("the setup ran again")
    second._setup = no_setup
    again = second.prepare(_photo(9_100_001, second))
    for name in ("latent", "features", "base_render"):
        assert torch.equal(getattr(state, name), getattr(again, name)), name
    assert state.adapter.keys() == again.adapter.keys()
    assert all(torch.equal(state.adapter[k], again.adapter[k]) for k in state.adapter)
    assert again.recon_psnr_after == state.recon_psnr_after
    assert any("set up before" in n for n in again.notes)
    with pytest.raises(AssertionError, match="ran again"):  # another photo is not the same setup
        second.prepare(_photo(9_100_002, second))
    with pytest.raises(AssertionError, match="ran again"):  # nor the same photo without adaptation
        second.prepare(_photo(9_100_001, second), adapt=False)
    other = _engine(SetupStore(tmp_path / "setups", max_bytes=10**8))
    other.adapt_cfg = dataclasses.replace(other.adapt_cfg, steps=13)  # nor other settings
    other._setup = no_setup
    with pytest.raises(AssertionError, match="ran again"):
        other.prepare(_photo(9_100_001, other))


def test_the_store_is_capped_and_drops_the_least_recently_used(tmp_path, one_thread):
    store = SetupStore(tmp_path / "setups", max_bytes=10**8)
    engine = _engine(store)
    engine.prepare(_photo(9_100_011, engine))
    one = store.size_bytes()
    store.max_bytes = int(2.5 * one)  # room for two
    for seed in (9_100_012, 9_100_013):
        engine.prepare(_photo(seed, engine))
    assert store.size_bytes() <= store.max_bytes
    assert len(list(store.folder.glob("*.safetensors"))) == 2
    fresh = _engine(store)
    calls = []
    real = fresh._setup
    fresh._setup = lambda *a, **k: calls.append(1) or real(*a, **k)
    fresh.prepare(_photo(9_100_011, fresh))
    assert calls == [1]  # the first photo's setup went first (the least recently used)


def test_an_unreadable_file_is_set_up_again(tmp_path, one_thread):
    engine = _engine(SetupStore(tmp_path / "setups", max_bytes=10**8))
    engine.prepare(_photo(9_100_021, engine))
    (path,) = (tmp_path / "setups").glob("*.safetensors")
    path.write_bytes(b"not a safetensors file")
    fresh = _engine(engine.caches.setup_store)
    state = fresh.prepare(_photo(9_100_021, fresh))
    assert not any("set up before" in n for n in state.notes)


def test_a_setup_damaged_on_disk_is_set_up_again_with_the_clean_pixels(tmp_path, one_thread, caplog):
    """The issue's fault: bits flipped in 400 bytes of a stored setup's features were reused silently (wrong
    pixels, the old PSNR in the record). Now the next engine finds the damage, says so once, sets the photo up
    again and renders exactly the clean pixels."""
    import numpy as np

    from ganpaint_core.edit.pipeline import edit_photo
    from ganpaint_core.edit.spec import StrokeSpec
    from tests.helpers import flip_tensor_bytes

    mask = np.zeros((64, 64), np.float32)
    mask[20:44, 16:40] = 1
    stroke = StrokeSpec(mask=mask, concept="tree", action="add", strength=1.0)
    first = _engine(SetupStore(tmp_path / "setups", max_bytes=10**8))
    clean = edit_photo(first, _photo(9_100_031, first), [stroke])
    (path,) = (tmp_path / "setups").glob("*.safetensors")
    flip_tensor_bytes(path, "features", 400)
    second = _engine(SetupStore(tmp_path / "setups", max_bytes=10**8))
    again = edit_photo(second, _photo(9_100_031, second), [stroke])
    assert not any("set up before" in n for n in again.state.notes)  # recomputed, not reused
    assert np.array_equal(again.result.final, clean.result.final)
    assert again.record["reconstruction_psnr_db"] == clean.record["reconstruction_psnr_db"]
    assert caplog.text.count("does not match its sha256") == 1
    assert path.is_file()  # stored afresh, sound: a third engine reuses it
    third = _engine(SetupStore(tmp_path / "setups", max_bytes=10**8))
    assert any("set up before" in n for n in edit_photo(third, _photo(9_100_031, third), [stroke]).state.notes)
