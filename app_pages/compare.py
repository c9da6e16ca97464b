"""Compare: does X forget less than Y, beyond seed noise, and through which lens?"""
import pandas as pd
import streamlit as st

from clviz import charts, compare, config, experiments, store, ui
from clviz.data import DataError

st.title("Compare")
st.markdown(
    "Variants side by side, each trained with several seeds, and an honest answer per lens: each variant's "
    "difference to the baseline (the first value of each knob), with its 95% interval over seeds (Welch's t), "
    "called **clear** when the interval leaves out 0 and **within noise** when it does not. The same as "
    "`python -m clviz compare EXPERIMENT --vary KNOB=v1,v2 --seeds N`.")

# a first comparison that shows an effect in seconds, per experiment
EXAMPLES = {"remedies": "methods=finetune,replay", "losses": "losses=ce,correct_only", "probe": "optimizer=adam,sgd",
            "sparsity": "optimizer=adam,sgd", "savings": "optimizers=sgd,adam", "boundaries": "lr=1e-3,1e-2",
            "cifar": "epochs=2,4"}

s = ui.settings()
names = list(experiments.REGISTRY)
ui.link("compare_experiment", "remedies", names)
exp = st.selectbox("Experiment", names, index=names.index("remedies"), key="compare_experiment",
                   format_func=lambda n: experiments.get(n).title)
c1, c2 = st.columns(2)
ui.link(f"compare_vary_{exp}", EXAMPLES.get(exp, ""))
vary_text = c1.text_input("Vary: knob=v1,v2 (the first value is the baseline)", EXAMPLES.get(exp, ""),
                          key=f"compare_vary_{exp}", help="A list knob joins names with '+': methods=finetune,replay+ewc.")
ui.link(f"compare_and_{exp}", "")
and_text = c2.text_input("and (a grid: every combination)", "", key=f"compare_and_{exp}")
c1, c2 = st.columns([3, 1])
ui.link(f"compare_set_{exp}", "")
set_text = c1.text_input("Every cell's settings: knob=value; knob=value", "", key=f"compare_set_{exp}",
                         help="The baseline's settings, the same for every variant (e.g. epochs=2; per_class=100). "
                              "An experiment's page sends its own here: 'Compare from these settings'.")
ui.link("compare_seeds", compare.SEEDS, lo=compare.MIN_SEEDS, hi=config.MAX_SEEDS)
seeds = int(c2.number_input("Seeds per cell", compare.MIN_SEEDS, config.MAX_SEEDS, compare.SEEDS, key="compare_seeds"))

cells = vary = None
try:
    base = compare.parse_set(exp, [t for t in set_text.split(";") if t.strip()])
    vary = compare.parse_vary(exp, [t for t in (vary_text, and_text) if t.strip()])
    cells = compare.grid(exp, vary, seeds, {"dataset": s["dataset"], "data_dir": s["data_dir"], "seed": s["seed"], **base})
    st.caption(f"{len(cells)} cells x {seeds} seeds; each cell trains its seeds at once where the experiment can.")
except DataError as e:
    st.error(str(e))


def show(rep):
    st.subheader("Verdicts")
    for v in rep["verdicts"]:  # the headline: final accuracy, in words
        if v["lens"].endswith("final accuracy"):
            st.markdown(f"**{v['lens']}**, {compare.variant_name(v['variant'])} against the baseline: "
                        f"{v['diff']:+.4f} (95% interval {v['ci'][0]:+.4f} to {v['ci'][1]:+.4f}): "
                        f"**{'clear' if v['clear'] else 'within noise'}**")
    # the verdict beside its lens (a narrow screen cuts the last columns, never the answer)
    table = pd.DataFrame([{"lens": v["lens"], "variant": compare.variant_name(v["variant"]),
                           "verdict": "clear" if v["clear"] else "within noise", "difference": v["diff"],
                           "95% low": v["ci"][0], "95% high": v["ci"][1],
                           "baseline ± sd": f"{v['baseline_mean']:.4f} ± {v['baseline_sd']:.4f}",
                           "variant ± sd": f"{v['variant_mean']:.4f} ± {v['variant_sd']:.4f}"} for v in rep["verdicts"]])
    num = st.column_config.NumberColumn(format="%.4f")
    st.dataframe(table, hide_index=True, column_config={c: num for c in ("difference", "95% low", "95% high")})
    st.caption(f"Baseline: {compare.variant_name(rep['cells'][0]['knobs'])}. {rep['method']}; sd: the seeds' "
               "standard deviation. Clear: the interval leaves out 0.")
    out = {}
    names = [compare.variant_name(c["knobs"]) for c in rep["cells"]]
    for prefix in compare.parts(rep["cells"][0]["result"]):
        curve = [{"variant": n, "x": row["step"], "value": row["acc_seen"], "sd": row.get("acc_seen_std", 0.0)}
                 for n, c in zip(names, rep["cells"]) for row in compare.parts(c["result"]).get(prefix, {}).get("curve", [])]
        if curve:
            out[f"{prefix}curves"] = charts.variant_curves(curve, f"{prefix}accuracy, seen classes")
        for key, title in (("probe_all", "probe on all classes"), ("sparsity", "latent sparsity")):
            rows = [{"variant": n, "x": k + 1, "value": v, "sd": (part.get(f"{key}_std") or [0.0] * 99)[k]}
                    for n, c in zip(names, rep["cells"]) if (part := compare.parts(c["result"]).get(prefix))
                    for k, v in enumerate(part.get(key, []))]
            if rows:
                out[f"{prefix}{key}"] = charts.variant_curves(rows, f"{prefix}{title}", "after task", domain=None)
    for name, ch in out.items():
        ui.chart(ch, key=f"compare_chart_{name}")
    ui.downloads("compare", rep, out)


with st.expander("Or compare runs already stored"):
    runs = dict(compare.stored(exp))
    ui.link("compare_pick", [], list(runs))
    for k in [k for k in st.session_state.get("compare_pick", []) if k not in runs]:  # evicted meanwhile
        st.session_state["compare_pick"].remove(k)
    label = compare.differing(list(runs.values())) if len(runs) > 1 else {}
    picked = st.multiselect("Stored runs with 2 or more seeds (the first is the baseline)", list(runs),
                            key="compare_pick", format_func=lambda k: (compare.variant_name(
                                {n: getattr(runs[k], n) for n in label}) or k) + f" ({runs[k].seeds} seeds)")
    if not runs:
        st.caption(f"No stored {experiments.get(exp).title} run has 2 or more seeds yet: train one with "
                   "'Seeds at once' of 2 or more, or a grid here.")
if len(picked) >= 2:  # picked runs: their verdicts at once, nothing to train
    chosen = [runs[k] for k in picked]
    st.caption("Comparing the stored runs picked above; clear them to compare the grid.")
    show(compare.report(exp, chosen, [store.load(c) for c in chosen], compare.differing(chosen)))
    ui.sync_url()
    st.stop()

run = st.session_state.get("compare_run")
train = st.button("Train", type="primary", disabled=cells is None, key="compare_train")
if train:
    run = st.session_state["compare_run"] = {"exp": exp, "vary": vary, "cells": cells, "jobs": {}, "done": {}}
stored = None
if cells is not None and (run is None or run["cells"] != cells):
    hits = [store.load(c) for c in cells]
    stored = hits if all(h is not None for h in hits) else None
if stored is not None:  # every cell of these settings is stored: the comparison at once
    st.caption("Stored results for every cell of these settings.")
    show(compare.report(exp, cells, stored, vary))
elif run is not None:
    if cells is not None and run["cells"] != cells:
        st.caption("Showing the comparison of earlier settings; press Train to run the current ones.")

    def finished(results):
        st.success(f"Compared {len(results)} cells x {run['cells'][0].seeds} seeds.")
        show(compare.report(run["exp"], run["cells"], results, run["vary"]))
    ui.grid_view(run, s["device"], "Comparison", finished)
elif cells is not None:
    st.info("Set the variants and press **Train**.")
ui.sync_url()
