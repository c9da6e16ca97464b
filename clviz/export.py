"""A result as files for slides: every chart as PNG, SVG and self-contained HTML, every table as CSV.

Offline: vl-convert renders the Vega-Lite spec itself (no browser) and the HTML inlines the Vega
scripts (Altair's to_html would load them from a CDN, and render blank in a room without
internet). The page's zip (clviz/ui.py: downloads) and `python -m clviz run EXP --export DIR`
write these same files. Needs altair and vl-convert-python; the engine and the CLI do not.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pandas as pd

from . import charts as C
from . import tables as page_tables

WIDTH = 900  # a chart drawn "as wide as its container" has none in a file: a slide's width
SCALE = 2  # PNG pixels per CSS pixel: sharp on a projector


def slug(name: str) -> str:
    """A file name without spaces or odd characters: 'per task' -> 'per-task'."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", name.strip()).strip("-") or "chart"


def tables(result) -> dict:
    """The result's per-task lists as CSV-ready tables (one per run), tasks numbered from 1 as on
    the pages; the epoch curves with their task from 1 too."""
    out = {}
    for name, part in [("", result), *((k, v) for k, v in result.items() if isinstance(v, dict))]:
        cols = {k: v for k, v in part.items() if isinstance(v, list) and v and isinstance(v[0], (int, float))
                and len(v) == len(result.get("tasks", []))}
        if cols:
            out[name or "summary"] = pd.DataFrame({"task": range(1, len(next(iter(cols.values()))) + 1), **cols})
        if isinstance(part.get("curve"), list) and part["curve"]:
            curve = pd.DataFrame(part["curve"])
            acc = pd.DataFrame(curve.pop("acc_tasks").tolist(), index=curve.index)
            acc.columns = [f"acc_task_{j + 1}" for j in acc.columns]
            if "task" in curve:
                curve["task"] = curve["task"] + 1
            out[f"{name or 'run'}_curve"] = pd.concat([curve, acc], axis=1)
    if isinstance(result.get("rows"), list):
        out["rows"] = pd.DataFrame(result["rows"])
    if isinstance(result.get("verdicts"), list):  # a comparison (clviz/compare.py)
        out["verdicts"] = pd.json_normalize(result["verdicts"])
    out.update(page_tables.of(result))  # and the tables its page shows, as the page shows them
    return {slug(k): v for k, v in out.items()}


def _fixed(spec, width=WIDTH):
    """The spec with every "container" width made a number (vl-convert has no container)."""
    if isinstance(spec, dict):
        return {k: (width if k == "width" and v == "container" else _fixed(v, width)) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_fixed(v, width) for v in spec]
    return spec


def chart_files(name: str, chart) -> dict:
    """{file name: bytes}: the chart as PNG, SVG and HTML that needs nothing from the network."""
    try:
        import vl_convert as vlc
    except ImportError as e:
        raise RuntimeError("exports need vl-convert-python: pip install vl-convert-python") from e
    spec = json.dumps(_fixed(chart.to_dict()))
    base = f"charts/{slug(name)}"
    return {f"{base}.png": vlc.vegalite_to_png(spec, scale=SCALE), f"{base}.svg": vlc.vegalite_to_svg(spec).encode(),
            f"{base}.html": chart.to_html(inline=True).encode()}


def files(result, charts: dict) -> dict:
    """Every file of the export: tables/*.csv, charts/*.{png,svg,html}, result.json."""
    out = {f"tables/{k}.csv": df.to_csv(index=False).encode() for k, df in tables(result).items()}
    for name, ch in charts.items():
        out.update(chart_files(name, ch))
    out["result.json"] = json.dumps(result).encode()
    return out


def zip_bytes(result, charts: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files(result, charts).items():
            z.writestr(path, data)
    return buf.getvalue()


def write(folder, result, charts: dict) -> list:
    """The export under `folder`; the paths written."""
    folder = Path(folder)
    written = []
    for path, data in files(result, charts).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
        written.append(folder / path)
    return written


def result_charts(result) -> dict:
    """The charts of the result's page, built from the result alone (the CLI has no page): the
    experiment's own (clviz/figures.py, which its page draws) where it has them; otherwise each
    run's epoch charts (charts.curve_charts, as the pages draw them) and its accuracy matrix."""
    from . import figures
    if (own := figures.of(result)) is not None:
        return own
    out = {}
    epochs = result.get("config", {}).get("epochs") or 1
    for name, part in [("", result), *((k, v) for k, v in result.items() if isinstance(v, dict))]:
        prefix = f"{C.label(name)} " if name else ""
        if isinstance(part.get("curve"), list) and part["curve"]:
            out.update({prefix + k: ch for k, ch in C.curve_charts(part["curve"], epochs).items()})
        if isinstance(part.get("matrix"), list) and part["matrix"] and isinstance(part["matrix"][0], list):
            out[f"{prefix}accuracy matrix"] = C.accuracy_matrix(part["matrix"])
    return out
