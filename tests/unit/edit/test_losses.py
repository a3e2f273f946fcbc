"""LPIPS is loaded quietly, and never tried where its download cannot work."""
from __future__ import annotations

import logging
import warnings

import pytest
import torch

from ganpaint_core.edit import losses

pytest.importorskip("lpips")


@pytest.fixture
def no_backbone(tmp_path, monkeypatch):
    """An empty torch hub cache, a fresh LPIPS cache, and a download that fails loudly if tried."""
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch-hub"))
    monkeypatch.setattr(losses, "_lpips", {})
    tried = []

    def download(*args, **kwargs):
        tried.append(args)
        raise OSError("no network here")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", download)
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", download)  # what AlexNet calls
    yield tried
    torch.hub.set_dir(hub)


@pytest.mark.parametrize("why", ["offline", "unreachable"])
def test_no_download_is_attempted_where_it_cannot_work(no_backbone, monkeypatch, caplog, why):
    if why == "offline":
        monkeypatch.setenv("GANPAINT_OFFLINE", "1")
    monkeypatch.setattr(losses, "download_reachable", lambda *a, **k: why == "offline")
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        assert losses.get_lpips(torch.device("cpu")) is None
    assert no_backbone == [] and seen == []
    assert "LPIPS unavailable" in caplog.text and ("offline mode" if why == "offline" else "unreachable") in caplog.text


def test_building_lpips_prints_no_torchvision_deprecation_warning(no_backbone, monkeypatch):
    monkeypatch.setattr(losses, "download_reachable", lambda *a, **k: True)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert losses.get_lpips(torch.device("cpu")) is None  # the (stand-in) download failed: the fallback
    assert len(no_backbone) == 1  # tried once, since the host answered
    assert not [w for w in seen if "deprecated" in str(w.message)], [str(w.message) for w in seen]
