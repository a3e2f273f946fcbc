"""e4e's encoder: the released layout (key table), safe loading, conversion, and inversion from its W+ codes.

Numerical parity with the reference code (github.com/omertov/encoder4editing) was checked outside this
repository, on random weights in the released layout (its code is not copied here); these tests hold the
layout and the behaviour that parity rests on.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest
import torch

from ganpaint_core.core.errors import CheckpointError, ManifestError
from ganpaint_core.models import convert_e4e_encoder, load_e4e_encoder
from ganpaint_core.models.e4e import E4EConfig, Encoder4Editing, read_e4e_checkpoint
from tests.helpers import (
    E4E_KEYS_TSV,
    REPO,
    TINY_STYLEGAN2,
    tiny_e4e_checkpoint,
    tiny_e4e_config,
    tiny_generator,
    tiny_stylegan2,
    tiny_stylegan2_checkpoint,
)


def _table() -> list[tuple[str, list[int], str]]:
    rows = [line.split("\t") for line in E4E_KEYS_TSV.read_text().splitlines()[1:]]
    return [(key, json.loads(shape), dtype) for key, shape, dtype in rows]


def _images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_the_released_church_encoder_layout_is_what_encoder4editing_builds():
    with torch.device("meta"):  # shapes only: the real network is 209 M parameters
        enc = Encoder4Editing(E4EConfig(stylegan_size=256))
    ours = [(f"encoder.{k}", list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in enc.state_dict().items()]
    assert ours == _table()  # every key, in order, with its shape and dtype
    assert enc.config.n_styles == 14 and enc.latent_size == 512 and enc.resolution == 256
    assert sum(v.numel() for v in enc.parameters()) == 209_450_688  # float32: 838 MB of the released 959 MB


def test_a_tiny_file_in_the_released_layout_loads_strictly_with_weights_only(tmp_path):
    path = tiny_e4e_checkpoint(tmp_path / "e4e.pt", size=64, n_styles=10, seed=1)
    torch.load(path, weights_only=True)  # the container itself is safe-loadable (opts is a plain dict)
    enc = load_e4e_encoder(path)
    assert not enc.training and enc.latent_space == "w+"
    raw = torch.load(path, weights_only=True)
    state = {k.removeprefix("encoder."): v for k, v in raw["state_dict"].items() if k.startswith("encoder.")}
    assert all(torch.equal(enc.state_dict()[k], v) for k, v in state.items()) and len(enc.state_dict()) == len(state)
    codes = enc(_images(2, 64))
    assert codes.shape == (2, 10, 16)
    # latent_avg is added, row by row, as pSp.forward adds it before decoding
    bare = Encoder4Editing(enc.config).eval()
    bare.load_state_dict(enc.state_dict())
    torch.testing.assert_close(codes - bare(_images(2, 64)), raw["latent_avg"].expand(2, 10, 16), rtol=0, atol=1e-6)


def test_batchnorm_uses_its_running_statistics_so_a_photo_encodes_alone_as_in_a_batch(tmp_path):
    enc = load_e4e_encoder(tiny_e4e_checkpoint(tmp_path / "e4e.pt", seed=2))
    x = _images(3, 64, seed=5)
    torch.testing.assert_close(enc(x[1:2]), enc(x)[1:2], rtol=1e-5, atol=1e-5)


def test_the_deltas_build_on_the_first_row(tmp_path):
    """Row 0 is w0; every other row is w0 plus its own head's delta: zero a head, its row becomes w0."""
    enc = load_e4e_encoder(tiny_e4e_checkpoint(tmp_path / "e4e.pt", seed=3))
    enc.latent_avg.zero_()
    with torch.no_grad():
        enc.styles[8].linear.weight.zero_()
        enc.styles[8].linear.bias.zero_()
        codes = enc(_images(1, 64))
    torch.testing.assert_close(codes[:, 8], codes[:, 0], rtol=0, atol=0)
    assert not torch.allclose(codes[:, 7], codes[:, 0])


@pytest.mark.parametrize("shape", ["vector", "rows"])
def test_latent_avg_of_either_released_shape_and_options_as_a_namespace(tmp_path, shape):
    path = tiny_e4e_checkpoint(tmp_path / "e4e.pt", seed=4)
    raw = torch.load(path, weights_only=True)
    if shape == "vector":
        raw["latent_avg"] = raw["latent_avg"][0].clone()  # [D]: added to every row
    raw["opts"] = argparse.Namespace(**raw["opts"])  # how some pSp scripts save it: allowed, nothing else
    torch.save(raw, path)
    enc = load_e4e_encoder(path)
    torch.testing.assert_close(enc.latent_avg, raw["latent_avg"].expand(10, 16))
    assert enc.options["stylegan_size"] == 64


def test_other_pickled_objects_and_foreign_files_are_refused(tmp_path):
    path = tiny_e4e_checkpoint(tmp_path / "e4e.pt", seed=5)
    raw = torch.load(path, weights_only=True)
    torch.save({**raw, "opts": {**raw["opts"], "loss": torch.nn.MSELoss()}}, tmp_path / "unsafe.pt")
    with pytest.raises(CheckpointError, match="refused by safe loading"):
        load_e4e_encoder(tmp_path / "unsafe.pt")
    torch.save({**raw, "state_dict": {k: v for k, v in raw["state_dict"].items() if ".latlayer1." not in k
                                      and not k.startswith("encoder.latlayer1")}}, tmp_path / "short.pt")
    with pytest.raises(CheckpointError, match="does not load strictly.*latlayer1"):
        load_e4e_encoder(tmp_path / "short.pt")
    torch.save({**raw, "opts": {**raw["opts"], "encoder_type": "GradualStyleEncoder"}}, tmp_path / "psp.pt")
    with pytest.raises(CheckpointError, match="only 'Encoder4Editing'"):
        load_e4e_encoder(tmp_path / "psp.pt")
    torch.save(tiny_stylegan2_checkpoint(), tmp_path / "generator.pt")
    with pytest.raises(CheckpointError, match="not an e4e checkpoint"):
        load_e4e_encoder(tmp_path / "generator.pt")


def test_conversion_keeps_exactly_the_encoder_and_checks_its_content(tmp_path):
    src = tiny_e4e_checkpoint(tmp_path / "e4e.pt", seed=6, generator=tiny_stylegan2_checkpoint())
    dst = tmp_path / "e4e.safetensors"
    convert_e4e_encoder(src, dst)
    x = _images(2, 64)
    assert torch.equal(load_e4e_encoder(dst)(x), load_e4e_encoder(src)(x))
    from safetensors import safe_open

    with safe_open(str(dst), framework="pt") as f:
        keys, meta = set(f.keys()), f.metadata()
    assert not any(k.startswith("decoder.") for k in keys) and "latent_avg" in keys
    assert meta["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert read_e4e_checkpoint(dst).options["dataset_type"] == "church_encode"
    data = bytearray(dst.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte inside the last tensor
    dst.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its sha256"):
        load_e4e_encoder(dst)


def test_an_encoder_to_wplus_is_told_apart_by_its_space_not_its_shape():
    G = tiny_stylegan2()
    wplus = torch.randn(2, G.n_latent, 16)
    assert G.to_inversion_latent(wplus, space="w+") is wplus
    assert G.to_inversion_latent(torch.randn(2, 16), space="z").shape == (2, G.n_latent, 16)
    with pytest.raises(ValueError, match="z must be"):
        G.to_inversion_latent(wplus, space="z")  # W+ would otherwise go through the mapping network row by row
    with pytest.raises(ValueError, match="ProGAN inverts z"):
        tiny_generator().to_inversion_latent(torch.randn(1, 8), space="w+")


def test_inversion_starts_from_the_e4e_codes(tmp_path):
    from ganpaint_core.edit.invert import InversionConfig, invert

    G = tiny_stylegan2()
    enc = load_e4e_encoder(tiny_e4e_checkpoint(tmp_path / "e4e.pt", seed=7)).requires_grad_(False)
    image = _images(1, 64, seed=9)
    start = invert(G, image, layer="convs.1", encoder=enc, cfg=InversionConfig(latent_steps=0, joint_steps=0))
    assert torch.equal(start.latent, enc(image))  # exactly its W+, not latent_avg repeated
    assert not torch.allclose(start.latent, G.initial_latent())
    two = invert(G, image, layer="convs.1", encoder=enc, cfg=InversionConfig(latent_steps=2, joint_steps=0))
    assert two.latent.shape == (1, G.n_latent, 16) and not torch.equal(two.latent, start.latent)


def _e4e_model_folder(models: Path, src: Path, name: str = "tiny-e4e") -> Path:
    folder = models / name
    folder.mkdir(parents=True)
    ckpt = tiny_stylegan2_checkpoint(seed=1)
    torch.save(ckpt, folder / "g.pt")
    (folder / "e4e.pt").write_bytes(src.read_bytes())
    files = {"generator": {"filename": "g.pt", "format": "torch", "sources": [{"path": "g.pt"}],
                           "sha256": hashlib.sha256((folder / "g.pt").read_bytes()).hexdigest()},
             "encoder": {"filename": "e4e.pt", "format": "torch", "kind": "e4e", "sources": [{"path": "e4e.pt"}],
                         "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}}
    (folder / "model.json").write_text(json.dumps({
        "name": name, "family": "stylegan2", "resolution": 64, "latent_size": 16, "edit_layer": "convs.1",
        "fine_layers": ["convs.2"], "files": files}))
    return folder / "model.json"


def test_load_model_converts_the_e4e_file_once_and_later_starts_read_only_the_conversion(isolated_env):
    from ganpaint_core.hub.derived import E4E_FILE, derived_dir
    from ganpaint_core.hub.loading import load_model
    from ganpaint_core.hub.manifest import load_manifest

    src = tiny_e4e_checkpoint(isolated_env / "src.pt", seed=8, generator=tiny_stylegan2_checkpoint(seed=1))
    manifest = load_manifest(_e4e_model_folder(isolated_env / "models", src))
    model = load_model(manifest)
    converted = derived_dir("tiny-e4e", model.sha256["generator"]) / E4E_FILE
    assert model.paths["encoder"] == converted and converted.is_file()
    assert model.sha256["encoder"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert isinstance(model.encoder, Encoder4Editing) and model.encoder.latent_space == "w+"
    x = _images(1, 64)
    expected = load_e4e_encoder(src)(x)
    (manifest.folder / "e4e.pt").unlink()  # a later start must not need the released file
    again = load_model(manifest)
    assert torch.equal(again.encoder(x), expected)


def test_the_hub_file_is_downloaded_pinned_and_converted_once(isolated_env, monkeypatch):
    import io

    from ganpaint_core.hub.loading import load_model
    from ganpaint_core.hub.manifest import load_manifest
    from tests.hub_server import HubStandIn

    ckpt = tiny_stylegan2_checkpoint(seed=1)
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    src = tiny_e4e_checkpoint(isolated_env / "src.pt", seed=10, generator=ckpt)
    repo = "ganpaint-test/e4e"
    with HubStandIn({(repo, "g.pt"): buf.getvalue(), (repo, "e4e.pt"): src.read_bytes()}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        folder = isolated_env / "models" / "tiny-e4e"
        folder.mkdir(parents=True)
        files = {role: {"filename": name, "format": "torch", "sha256": None, "size": None,
                        "sources": [{"hub": {"repo_id": repo, "filename": name, "revision": "main"}}]}
                 for role, name in (("generator", "g.pt"), ("encoder", "e4e.pt"))}
        files["encoder"]["kind"] = "e4e"
        (folder / "model.json").write_text(json.dumps({
            "name": "tiny-e4e", "family": "stylegan2", "resolution": 64, "latent_size": 16,
            "edit_layer": "convs.1", "fine_layers": ["convs.2"], "files": files}))
        manifest = load_manifest(folder / "model.json")
        first = load_model(manifest)
        downloads = [r for r in hub.requests if r[1].endswith("/e4e.pt")]
        assert ("GET", f"/{repo}/resolve/main/e4e.pt") in downloads
        pins = json.loads((isolated_env / "cache" / "pins.json").read_text())
        assert pins["tiny-e4e/encoder/e4e.pt"] == first.sha256["encoder"]  # trust on first use
        hub.requests.clear()
        second = load_model(manifest)
        assert not [r for r in hub.requests if r[1].endswith("/e4e.pt")]  # read from the conversion alone
    x = _images(1, 64)
    assert second.paths["encoder"] == first.paths["encoder"] and torch.equal(second.encoder(x), first.encoder(x))


def test_an_e4e_encoder_that_does_not_fit_the_generator_is_refused(isolated_env):
    from ganpaint_core.hub.loading import load_model
    from ganpaint_core.hub.manifest import load_manifest

    src = tiny_e4e_checkpoint(isolated_env / "src.pt", size=32, seed=8)  # 8 rows of W+, the generator has 10
    with pytest.raises(ManifestError, match="reads 32px images into W\\+ \\[8, 16\\]"):
        load_model(load_manifest(_e4e_model_folder(isolated_env / "models", src)))


def test_manifest_encoder_kinds(tmp_path):
    from ganpaint_core.hub.manifest import parse_manifest

    def manifest(**encoder):
        return {"name": "m", "family": "stylegan2", "resolution": 64, "latent_size": 16, "edit_layer": "convs.1",
                "fine_layers": [], "files": {
                    "generator": {"filename": "g.pt", "format": "torch", "sources": [{"url": "https://x/g.pt"}]},
                    "encoder": {"filename": "e.pt", "format": "torch", "sources": [{"url": "https://x/e.pt"}],
                                **encoder}}}

    assert parse_manifest(manifest(kind="e4e"), folder=tmp_path).files["encoder"].kind == "e4e"
    assert parse_manifest(manifest(), folder=tmp_path).files["encoder"].kind is None  # our own encoder
    with pytest.raises(ManifestError, match="'kind' must be one of ganpaint, e4e"):
        parse_manifest(manifest(kind="psp"), folder=tmp_path)


def test_the_church_manifest_lists_e4e_from_the_hub_with_a_first_use_pin():
    from ganpaint_core.hub.manifest import load_manifest

    manifest = load_manifest(REPO / "weights" / "stylegan2-church" / "model.json", bundled=True)
    mf = manifest.files["encoder"]
    (source,) = [s for s in mf.sources if s.kind == "hub"]
    assert (source.repo_id, source.filename) == ("public-data/e4e", "e4e_church_encode.pt")
    assert mf.kind == "e4e" and mf.format == "torch" and mf.sha256 is None and mf.size == 959_033_364
    assert tiny_e4e_config(size=256, style_dim=512).n_styles == 14 == 2 * 8 - 2


@pytest.mark.slow
def test_the_full_size_encoder_in_the_released_layout_loads_and_runs(tmp_path, one_thread):
    """209 M random parameters from the key table, saved as the released file is, one 256 px forward."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape, dtype in _table():
        if dtype == "int64":
            state[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            fan_in = max(1, int(torch.tensor(shape[1:]).prod())) if len(shape) > 1 else 1
            state[key] = torch.randn(shape, generator=g) / fan_in**0.5
    state["decoder.style.1.weight"] = torch.randn(512, 512)
    latent_avg = torch.randn(14, 512, generator=g)
    opts = {"encoder_type": "Encoder4Editing", "stylegan_size": 256, "start_from_latent_avg": True}
    torch.save({"state_dict": state, "latent_avg": latent_avg, "opts": opts}, tmp_path / "e4e.pt")
    del state
    enc = load_e4e_encoder(tmp_path / "e4e.pt")
    with torch.no_grad():
        codes = enc(_images(1, 256))
    assert codes.shape == (1, 14, 512) and torch.isfinite(codes).all()
    assert TINY_STYLEGAN2.style_dim == 16  # the tiny stand-ins above are the same network, narrower
