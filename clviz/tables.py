"""The tables a page shows, built from a result alone (pandas, no Streamlit): testable, and sized
for a projector: at 1280 px a page's main column holds about eight short columns, so a wide
result is split into tables a room can read whole."""
from __future__ import annotations

import pandas as pd

from . import names, report
from .experiments.remedies import published, published_only
from .experiments.savings import shown_rows


def _noise(v) -> str:
    return {True: "yes", False: "no"}.get(v, "")  # blank with one run: its noise is unknown


def savings(r) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Savings' twelve numbers per setting, as two tables: relearning task 1 (the savings, beside
    the notes' figure), and reaching the joint solution. One row per setting, named as a person
    reads it ('Adam, state reset'); blanks, never 'None', where a figure does not exist."""
    ref, _ = report.reference(r)
    notes = ref.get("savings", {})
    rows = shown_rows(r)

    def note(x) -> str:
        kept_reset = notes.get(x["optimizer"])
        if kept_reset is None:
            return ""
        v = kept_reset[0] if x["reset"] is None else kept_reset[bool(x["reset"])]
        return f"{v:.2f}"

    relearn = pd.DataFrame([{
        "setting": names.setting(x["optimizer"], x["reset"]), "lr": x["lr"],
        "steps first": x["steps_first"][0], "steps relearn": x["steps_relearn"], "savings": x["savings"],
        "± sd": x.get("savings_std", float("nan")), "clear of noise": _noise(x.get("clear_of_noise")),
        "notes": note(x)} for x in rows])
    if "savings_std" not in rows[0]:  # one run per setting: no spread to show
        relearn = relearn.drop(columns=["± sd"])
    joint = pd.DataFrame([{
        "setting": names.setting(x["optimizer"], x["reset"]), "after sequential": x["steps_joint_after"],
        "from scratch": x["steps_joint_scratch"], "hit the step limit": "yes" if x["hit_max_steps"] else ""}
        for x in rows])
    return relearn, joint


def remedies(r) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The methods' table (final accuracy beside the probe, BWT, cost, the paper's figure; blank
    where the paper has none), and the paper's methods that none of ours is, as reference rows."""
    table = pd.DataFrame([{"method": names.label(n), "final acc": r[n]["final_acc"], "probe (all)": r[n]["probe_all"][-1],
                           "probe (seen)": r[n]["probe_seen"][-1], "BWT": r[n]["bwt"], "seconds": r[n]["seconds"],
                           "samples kept": r[n]["memory"], "published %": published(n)} for n in r["config"]["methods"]])
    reference = pd.DataFrame([{"published only (not run here)": name, "published %": text}
                              for name, text in published_only()])
    return table, reference


PAGE_TABLES = {"savings": lambda r: dict(zip(("relearning task 1", "reaching the joint solution"), savings(r))),
               "remedies": lambda r: dict(zip(("methods", "published only"), remedies(r)))}


def of(result) -> dict:
    """The tables a result's page shows, {name: DataFrame} (none for most pages): the export writes
    them beside the result's raw per-task tables."""
    build = PAGE_TABLES.get(result.get("config", {}).get("experiment"))
    return {} if build is None else build(result)
