"""An evaluation report: one recipe applied to a folder of photos, on one model or several, written as a
self-contained ``index.html`` with its images beside it (opens from disk, offline) and the same figures as
JSON.

Per photo: before / after / changed-area overlay; reconstruction PSNR after inversion and after adaptation;
locality (PSNR of the render with vs without the edit, outside the strokes dilated by 1/16 of the side, as
the chain benchmark measures it); per stroke, the segmenter's share of the stroke's concept under the stroke
in the reconstruction and in the render; timings. A summary table gives the medians. A photo that cannot be
read is listed with the reason and skipped; the rest go on.

Example::

    summary = write_report({"synth-church": engine}, Path("photos"), load_recipe("r.json"), Path("report"),
                           recipe_text=Path("r.json").read_text())
    summary["models"]["synth-church"]["medians"]["locality_psnr_db"]
"""
from __future__ import annotations

import html
import json
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganpaint_core.core.errors import GanpaintError
from ganpaint_core.core.files import atomic_write_text, write_json
from ganpaint_core.core.metrics import psnr
from ganpaint_core.core.photo import to_uint8
from ganpaint_core.core.progress import Callback
from ganpaint_core.core.progress import report as report_progress
from ganpaint_core.edit.engine import EditEngine
from ganpaint_core.edit.kinds import RecipeEntry
from ganpaint_core.edit.pipeline import EditOutcome, edit_files
from ganpaint_core.edit.spec import EditOptions

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
SHOWN_SIDE = 384  # images in the page are at most this side (the report stays small)
SUMMARY_KEYS = ("recon_psnr_inverted_db", "recon_psnr_adapted_db", "locality_psnr_db", "concept_share_before",
                "concept_share_after", "setup_s", "edit_s")  # per-photo figures the summary takes medians of


def photo_figures(engine: EditEngine, outcome: EditOutcome) -> dict[str, Any]:
    """The figures of one edited photo (see the module's docstring)."""
    state, result = outcome.state, outcome.result
    base = to_uint8(state.base_render[0])  # the reconstruction, uint8 [S, S, 3]
    active = [s for s in outcome.strokes if s.enabled and s.strength > 0]
    union = np.maximum.reduce([s.mask for s in active]) if active else np.zeros(base.shape[:2], np.float32)
    r = max(1, engine.resolution // 16)
    grown = torch.nn.functional.max_pool2d(torch.from_numpy(union)[None, None], 2 * r + 1, stride=1, padding=r)[0, 0]
    outside = grown.numpy() == 0
    a = torch.from_numpy(result.preview[outside].astype(np.float32) / 127.5 - 1)
    b = torch.from_numpy(base[outside].astype(np.float32) / 127.5 - 1)
    locality = psnr(a, b) if outside.any() else float("nan")
    strokes = []
    seg = engine.model.segmenter
    labels = None
    if seg is not None:
        x = torch.from_numpy(np.stack([base, result.preview])).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        with torch.no_grad():
            labels = seg.predict(x.to(engine.device)).cpu().numpy()  # [2, S, S]
    for s in outcome.strokes:
        row: dict[str, Any] = {"concept": s.concept, "action": s.action, "strength": s.strength, "enabled": s.enabled}
        inside = s.mask > 0.5
        if labels is not None and s.concept in seg.labels and inside.any():
            label = list(seg.labels).index(s.concept)
            row["share_before"] = round(float((labels[0][inside] == label).mean()), 4)
            row["share_after"] = round(float((labels[1][inside] == label).mean()), 4)
        strokes.append(row)
    measured = [row for row in strokes if "share_before" in row]
    timings = outcome.record["timings_s"]
    return {
        "recon_psnr_inverted_db": round(state.recon_psnr_before, 3),
        "recon_psnr_adapted_db": round(state.recon_psnr_after, 3),
        "locality_psnr_db": round(locality, 3),
        "concept_share_before": round(float(np.mean([r["share_before"] for r in measured])), 4) if measured else None,
        "concept_share_after": round(float(np.mean([r["share_after"] for r in measured])), 4) if measured else None,
        "strokes": strokes,
        "setup_s": round(float(timings.get("setup_s", 0.0)), 3),
        "setup_reused": any("set up before" in n for n in state.notes),  # from the setup cache (memory or disk)
        "edit_s": round(float(sum(v for k, v in timings.items() if k in ("style_s", "tail_s", "paste_s"))), 4),
        "timings_s": timings,
        "changed_share": outcome.record.get("changed_share", outcome.record["paste_region_share"]),  # of the photo
        "notes": outcome.record["notes"],
    }


def medians(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The median of each summary figure over the photos that have it."""
    out: dict[str, float | None] = {}
    for key in SUMMARY_KEYS:
        values = [float(r[key]) for r in rows if r.get(key) is not None and np.isfinite(float(r[key]))]
        out[key] = round(statistics.median(values), 4) if values else None
    return out


def software_versions() -> dict[str, str]:
    import PIL

    from ganpaint_core import __version__ as ours

    return {"ganpaint": ours, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "pillow": PIL.__version__, "platform": platform.platform()}


def _shown(image: np.ndarray, path: Path) -> str:
    img = Image.fromarray(image)
    if max(img.size) > SHOWN_SIDE:
        scale = SHOWN_SIDE / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BOX)
    img.save(path, format="PNG")
    return path.name


def overlay(outcome: EditOutcome) -> np.ndarray:
    """The result with the changed area (every pixel that differs from the photo) tinted orange."""
    final = outcome.result.final
    changed = outcome.result.changed if outcome.result.changed is not None else np.zeros(final.shape[:2], bool)
    alpha = changed[..., None].astype(np.float32) * 0.55
    tint = np.array([255, 120, 0], np.float32)
    return np.clip(final * (1 - alpha) + tint * alpha, 0, 255).round().astype(np.uint8)


def write_report(engines: Mapping[str, EditEngine] | Callable[[str], EditEngine], images: Path,
                 strokes: Sequence[RecipeEntry], out: Path, *, models: Sequence[str] | None = None,
                 recipe_text: str = "", options: EditOptions = EditOptions(),
                 progress: Callable[[Sequence[Any], str], Any] | None = None,
                 callback: Callback | None = None) -> dict[str, Any]:
    """Edit every photo of ``images`` with ``strokes`` on each model, write ``out/index.html``, its images
    and ``out/report.json``; returns the report's JSON. ``progress(items, desc)`` wraps the loop (tqdm);
    ``callback(step, total, info)`` sees inside each photo: its setup's stages and steps, ``info["photo"]`` and
    ``info["model"]`` added, and ``stage="photo"`` (step: photos done) as each photo starts."""
    get = engines.__getitem__ if isinstance(engines, Mapping) else engines
    names = list(models) if models else list(engines) if isinstance(engines, Mapping) else []
    if not names:
        raise GanpaintError("name at least one model")
    paths = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if Path(images).is_dir() \
        else []
    if not paths:
        raise GanpaintError(f"{images}: no images (jpg, png, webp, gif, bmp, tiff) in this folder")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    report: dict[str, Any] = {"format": "ganpaint-report/1", "images": str(images), "recipe": _recipe_json(recipe_text),
                              "software": software_versions(), "options": options.__dict__, "models": {}}
    jobs = [(name, path) for name in names for path in paths]
    references: dict = {}
    for done, (name, path) in enumerate(progress(jobs, "photos") if progress else jobs):
        where = {"photo": path.name, "model": name}
        report_progress(callback, done, len(jobs), stage="photo", **where)  # at once: a slow setup still shows

        def inside(step: int, total: int, info: dict[str, Any], where: dict[str, str] = where) -> None:
            report_progress(callback, step, total, **{**info, **where})

        engine = get(name)
        entry = report["models"].setdefault(name, {
            "weights_sha256": engine.weights_sha256(), "resolution": engine.resolution, "photos": [], "skipped": []})
        try:
            outcome = edit_files(engine, path, strokes, options=options, references=references,
                                 callback=inside if callback is not None else None)
        except GanpaintError as exc:  # one bad photo is reported and skipped
            entry["skipped"].append({"photo": path.name, "reason": str(exc)})
            continue
        stem = f"{name}-{path.stem}"
        figures = {"photo": path.name, **photo_figures(engine, outcome),
                   "images": {"before": "images/" + _shown(outcome.state.photo.original, out / "images" / f"{stem}-before.png"),
                              "after": "images/" + _shown(outcome.result.final, out / "images" / f"{stem}-after.png"),
                              "changed": "images/" + _shown(overlay(outcome), out / "images" / f"{stem}-changed.png")}}
        write_json(out / "images" / f"{stem}.json", figures)
        entry["photos"].append(figures)
    for entry in report["models"].values():
        entry["medians"] = medians(entry["photos"])
    report["seconds"] = round(time.monotonic() - t_start, 2)
    write_json(out / "report.json", report)
    atomic_write_text(out / "index.html", render_html(report))
    return report


def _recipe_json(text: str) -> Any:
    """The recipe as the report shows it: masks embedded as base64 are left out (they are in the records)."""
    try:
        data = json.loads(text) if text else None
    except json.JSONDecodeError:
        return text
    if isinstance(data, dict) and isinstance(data.get("strokes"), list):
        data = dict(data)
        data["strokes"] = [{k: ("<embedded PNG>" if k.endswith("base64") else v) for k, v in s.items()}
                           if isinstance(s, dict) else s for s in data["strokes"]]
        data = {k: v for k, v in data.items() if not str(k).endswith("base64")}
    return data


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if not np.isfinite(value) else f"{value:.{digits}f}"
    return html.escape(str(value))


COLUMNS = (("recon_psnr_inverted_db", "PSNR inverted (dB)", 1), ("recon_psnr_adapted_db", "PSNR adapted (dB)", 1),
           ("locality_psnr_db", "locality (dB)", 1), ("concept_share_before", "concept share before", 3),
           ("concept_share_after", "concept share after", 3), ("setup_s", "setup (s)", 1),
           ("edit_s", "edit (s)", 3))

STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}.photo{margin:16px 0;border-top:1px solid #ddd}
.photo img{max-width:32%;margin-right:1%;image-rendering:auto}.skipped{color:#a00}pre{background:#f7f7f7;padding:8px;
overflow:auto;max-height:240px}small{color:#666}"""


def render_html(report: Mapping[str, Any]) -> str:
    """The report page: summary (medians), per-photo table and images, skipped photos, provenance."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>GANPaint evaluation report</title>",
             f"<style>{STYLE}</style></head><body><h1>GANPaint evaluation report</h1>",
             f"<p>{html.escape(str(report['images']))} · recipe below · {report['seconds']:.0f} s</p>"]
    for name, entry in report["models"].items():
        weights = ", ".join(f"{role} <code>{sha}</code>" for role, sha in entry["weights_sha256"].items())
        parts.append(f"<h2>{html.escape(name)} ({entry['resolution']} px)</h2><p><small>weights sha256: {weights}"
                     "</small></p><h3>Summary (medians over the photos)</h3><table id='summary-" + html.escape(name)
                     + "'><tr><th>photos</th>" + "".join(f"<th>{t}</th>" for _, t, _ in COLUMNS) + "</tr>")
        parts.append(f"<tr><td>{len(entry['photos'])} edited, {len(entry['skipped'])} skipped</td>"
                     + "".join(f"<td>{_fmt(entry['medians'][k], d)}</td>" for k, _, d in COLUMNS) + "</tr></table>")
        parts.append("<h3>Per photo</h3><table class='per-photo'><tr><th>photo</th>"
                     + "".join(f"<th>{t}</th>" for _, t, _ in COLUMNS) + "</tr>")
        for row in entry["photos"]:
            reused = " (reused)" if row.get("setup_reused") else ""
            parts.append(f"<tr><td>{html.escape(row['photo'])}</td>"
                         + "".join(f"<td>{_fmt(row[k], d)}{reused if k == 'setup_s' else ''}</td>"
                                   for k, _, d in COLUMNS) + "</tr>")
        parts.append("</table>")
        for row in entry["skipped"]:
            parts.append(f"<p class='skipped'>Skipped <b>{html.escape(row['photo'])}</b>: "
                         f"{html.escape(row['reason'])}</p>")
        for row in entry["photos"]:
            strokes = "; ".join(
                f"{s['action']} {html.escape(s['concept'])} at {s['strength']:.2f}"
                + (f": share {s['share_before']:.2f} → {s['share_after']:.2f}" if "share_before" in s else "")
                for s in row["strokes"])
            imgs = row["images"]
            parts.append(f"<div class='photo'><h4>{html.escape(row['photo'])}</h4><p><small>{strokes} · changed "
                         f"{row['changed_share']:.1%} of the photo · setup {row['setup_s']:.1f} s</small></p>"
                         f"<img src='{imgs['before']}' alt='before'><img src='{imgs['after']}' alt='after'>"
                         f"<img src='{imgs['changed']}' alt='changed area'><br><small>before · after · changed area "
                         "(orange)</small></div>")
    parts.append("<h2>Recipe</h2><pre>" + html.escape(json.dumps(report["recipe"], indent=1)) + "</pre>")
    parts.append("<h2>Software</h2><pre>" + html.escape(json.dumps(report["software"], indent=1)) + "</pre>")
    parts.append("<p><small>Locality: PSNR of the render with vs without the edit outside the strokes dilated by 1/16 "
                 "of the side. Concept share: the segmenter's share of the stroke's concept under the stroke, in the "
                 "reconstruction (before) and the render (after). Figures per photo: images/*.json; all: "
                 "report.json.</small></p></body></html>")
    return "\n".join(parts)
