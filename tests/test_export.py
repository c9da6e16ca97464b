"""`run EXP --export DIR` (and the page's zip, the same files): PNG, SVG and HTML that need no
network, CSVs whose cells are the result's numbers."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from clviz import __main__ as cli
from clviz import export, figures

pytest.importorskip("vl_convert")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    code = cli.main(["run", "sparsity", "--epochs", "1", "--per-class", "20", "--no-cache",
                     "--json", str(out / "r.json"), "--export", str(out / "x")])
    assert code == 0
    return out / "x", json.loads((out / "r.json").read_text())


def test_every_chart_as_png_svg_and_offline_html(exported):
    root, result = exported
    names = sorted(p.stem for p in (root / "charts").glob("*.png"))
    # the page's own charts (clviz/figures.py draws them on the page too), not generic ones
    assert names == sorted(export.slug(k) for k in figures.sparsity(result))
    assert "heatmap-no-BN" in names and "bias-BN" in names and "forgetting-curves" in names
    for n in names:
        assert (root / "charts" / f"{n}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (root / "charts" / f"{n}.svg").read_text().startswith("<svg")
        html = (root / "charts" / f"{n}.html").read_text()
        assert not re.search(r"<script[^>]*\bsrc=", html)  # the Vega scripts inline: nothing from a CDN
        assert "vegaEmbed" in html and " " not in n  # and file names without spaces


def test_csv_cells_are_the_results_numbers(exported):
    root, r = exported
    t = pd.read_csv(root / "tables" / "no_bn.csv")
    assert t["task"].tolist() == [1, 2, 3, 4, 5]  # from 1, as on the pages
    np.testing.assert_allclose(t["sparsity"], r["no_bn"]["sparsity"], rtol=1e-12)
    c = pd.read_csv(root / "tables" / "bn_curve.csv")
    rows = r["bn"]["curve"]
    assert c["task"].tolist() == [row["task"] + 1 for row in rows]
    np.testing.assert_allclose(c["acc_task_1"], [row["acc_tasks"][0] for row in rows], rtol=1e-12)
    np.testing.assert_allclose(c["acc_task_5"], [row["acc_tasks"][4] for row in rows], rtol=1e-12)
    assert json.loads((root / "result.json").read_text())["no_bn"]["sparsity"] == r["no_bn"]["sparsity"]


def test_a_container_wide_chart_gets_a_width_and_names_are_slugs():
    spec = export._fixed({"hconcat": [{"width": "container"}, {"width": 300}], "width": "container"})
    assert spec == {"hconcat": [{"width": export.WIDTH}, {"width": 300}], "width": export.WIDTH}
    assert export.slug("charts per task / BN") == "charts-per-task-BN"
