"""The line under the preview that says which fit it shows."""
from __future__ import annotations

from types import SimpleNamespace

from ganpaint_core.page.jobs import JobUpdate
from ganpaint_core.page.text import fit_line


def test_the_fit_line_names_the_stage_its_steps_count():
    quick = SimpleNamespace(fit="quick", recon_psnr_after=31.24)
    inverting = fit_line(quick, JobUpdate(step=16, total=50, info={"stage": "invert"}))
    adapting = fit_line(quick, JobUpdate(step=10, total=60, info={"stage": "adapt"}))
    assert inverting == "Quick fit (31.2 dB) · full fit in the background: finding the photo 16/50"
    assert adapting == "Quick fit (31.2 dB) · full fit in the background: fitting its details 10/60"
    assert fit_line(quick, JobUpdate(step=3, total=7)) == "Quick fit (31.2 dB) · full fit in the background: 3/7"
    assert fit_line(quick, JobUpdate()) == "Quick fit (31.2 dB) · full fit in the background"
    assert fit_line(SimpleNamespace(fit="full", recon_psnr_after=44.0)) == "Full fit (44.0 dB)"
    assert "stopped" in fit_line(quick, None)
