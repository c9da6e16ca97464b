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
