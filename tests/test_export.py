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


# ---------------------------------------------------------------- boundaries, remedies, depth: the page's charts

PAGES = {  # a tiny run of each on digits, and the chart names its page shows (written out: the page's order)
    "boundaries": (["--toy-epochs", "2", "--grid", "12"],
                   [f"toy task {k}" for k in (1, 2, 3)] + [f"latent task {k}" for k in range(1, 6)]),
    "remedies": (["--methods", "finetune,replay,ewc"],
                 ["final vs probe", "sparsity", "forgetting curves", "loss", "sparsity per epoch", "matrix",
                  "head norms", "head biases", "rollback", "cka", "stability gap"]),
    "depth": ([], ["task-IL vs class-IL", "rollback", "cka", "probe control", "stability gap", "forgetting events",
                   "plane old", "plane new", "forgetting curves", "loss", "sparsity per epoch"]),
}


@pytest.fixture(scope="module", params=list(PAGES))
def page_export(request, tmp_path_factory):
    exp = request.param
    out = tmp_path_factory.mktemp(exp)
    assert cli.main(["run", exp, "--epochs", "1", "--per-class", "20", "--no-cache", *PAGES[exp][0],
                     "--json", str(out / "r.json"), "--export", str(out / "x")]) == 0
    return exp, out / "x", json.loads((out / "r.json").read_text())


def test_the_export_writes_the_pages_charts(page_export):
    exp, root, r = page_export
    shown = figures.BUILDERS[exp](r)  # what the page draws (it calls this builder)
    assert list(shown) == PAGES[exp][1]
    assert sorted(p.stem for p in (root / "charts").glob("*.png")) == sorted(export.slug(k) for k in shown)
    for n in map(export.slug, shown):
        assert (root / "charts" / f"{n}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (root / "charts" / f"{n}.svg").read_text().startswith("<svg")
        html = (root / "charts" / f"{n}.html").read_text()
        assert not re.search(r"<script[^>]*\bsrc=", html) and "vegaEmbed" in html


def test_the_pages_csv_cells_are_the_results_numbers(page_export):
    exp, root, r = page_export
    if exp == "boundaries":
        t = pd.read_csv(root / "tables" / "latent.csv")
        np.testing.assert_allclose(t["acc_seen"], r["latent"]["acc_seen"], rtol=1e-12)
    elif exp == "remedies":
        t = pd.read_csv(root / "tables" / "replay.csv")
        np.testing.assert_allclose(t["probe_all"], r["replay"]["probe_all"], rtol=1e-12)
        m = pd.read_csv(root / "tables" / "methods.csv", keep_default_na=False)  # the page's table
        assert m["method"].tolist() == ["fine-tune", "replay", "online EWC"]
        np.testing.assert_allclose(m["final acc"], [r[n]["final_acc"] for n in ("finetune", "replay", "ewc")], rtol=1e-12)
        assert m["samples kept"].tolist() == [r[n]["memory"] for n in ("finetune", "replay", "ewc")]
        assert m["published %"].tolist() == ["19.90 ± 0.02", "", "19.96 ± 0.07"]  # online EWC's row for our ewc
        ref = pd.read_csv(root / "tables" / "published-only.csv")
        assert ref.values.tolist() == [["EWC", "20.01 ± 0.06"], ["DGR", "90.79 ± 0.41"], ["iCaRL, 2000 kept", "94.57 ± 0.11"]]
    else:
        t = pd.read_csv(root / "tables" / "rollback.csv")
        np.testing.assert_allclose(t["head"], r["rollback"]["head"], rtol=1e-12)
        s = pd.read_csv(root / "tables" / "summary.csv")
        np.testing.assert_allclose(s["control_probe"], r["control_probe"], rtol=1e-12)


def test_remedies_charts_follow_the_method_in_focus(page_export):
    exp, _, r = page_export
    if exp != "remedies":
        pytest.skip("remedies only")

    def matrix_cells(chart):
        return [d["accuracy"] for d in next(iter(chart.to_dict()["datasets"].values()))]
    flat = lambda m: [a for row in m for a in row]  # noqa: E731
    assert matrix_cells(figures.remedies(r)["matrix"]) == flat(r["finetune"]["matrix"])  # the page's default: the first
    assert matrix_cells(figures.remedies(r, "replay")["matrix"]) == flat(r["replay"]["matrix"])
