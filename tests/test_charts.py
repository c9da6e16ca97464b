"""Chart builders name every series: read from the chart as vl-convert draws it (the Vega spec's
own renderer), not from the data frame we fed it."""
import json
import re

import pytest

from clviz import charts

vlc = pytest.importorskip("vl_convert")


def legend_labels(chart) -> list[str]:
    spec = chart.to_dict()
    spec["width"] = 500  # "container" has no container here
    svg = vlc.vegalite_to_svg(json.dumps(spec))
    legend = svg[svg.index('role-legend'):]
    return re.findall(r"<text[^>]*>([^<]+)</text>", legend)


@pytest.mark.parametrize("n", [3, 9, 12])
def test_per_task_lines_names_every_series(n):
    names = ["nearest mean (iCaRL)", "weight aligning"] + [f"method {i}" for i in range(n - 2)]
    chart = charts.per_task_lines({m: [0.1 * i] * 5 for i, m in enumerate(names)}, "latent sparsity", [0, 1])
    assert sorted(legend_labels(chart)) == sorted(names)  # whole names: no "…" cut by a label limit
    # more than six: in rows above the plot, where Streamlit's fixed chart height cannot clip them
    assert chart.to_dict()["encoding"]["color"]["legend"].get("orient") == ("top" if n > 6 else None)


def test_metric_curve_names_every_run():
    rows = [{"run": f"run{r}", "step": s, "loss": 1.0 / (s + 1)} for r in range(8) for s in range(3)]
    assert sorted(legend_labels(charts.metric_curve(rows, "loss", "training loss", 3))) == ["run", *(f"run{r}" for r in range(8))]  # title + every run


def test_decision_regions_are_one_image_painted_by_hand():
    """A 2 x 2 grid in the engine's order ((x0, y0), (x1, y0), (x0, y1), (x1, y1)): the image's top
    row is y1; each class in its category10 colour (class 12 as class 2: the scale repeats), the
    confidence as opacity 0.05 + 0.5 c; the PNG decodes (Pillow) to that array; the image spans the
    cells, half a step beyond the grid's outer points, and the points keep their colours."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    img = charts.region_image([0, 1, 12, 3], [0.0, 1.0, 0.5, 0.25], 2)
    blue, orange, green, red = (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)
    assert img.tolist() == [[[*green, 76], [*red, 45]], [[*blue, 13], [*orange, 140]]]
    assert charts.region_image([0, 1, 12, 3], [0.0, 1.0, 0.5, 0.25], 2, k=3).shape == (6, 6, 4)

    spec = charts.regions([0, 1, 2, 3], [1.0] * 4, ((0, 10), (2, 14)), 2, [(0.5, 11)], [1], n_classes=4).to_dict()
    bg, fg = spec["layer"]
    row = spec["datasets"][bg["data"]["name"]][0]
    assert (row["x"], row["x2"], row["y"], row["y2"]) == (-1, 3, 8, 16)
    png = Image.open(io.BytesIO(base64.b64decode(row["url"].split(",", 1)[1])))
    assert png.mode == "RGBA" and png.size == (256, 256)  # 128 pixels a cell
    want = charts.region_image([0, 1, 2, 3], [1.0] * 4, 2, k=128)
    assert np.array_equal(np.asarray(png), want)
    assert fg["encoding"]["color"]["scale"] == {"domain": ["0", "1", "2", "3"], "range": list(charts.CATEGORY10)}
