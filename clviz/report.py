"""Plain-text tables (for the CLI and `reproduce`), and the notes' reference figures beside ours.

Each experiment's own tables live in its module (clviz/experiments/); this module holds what
they share. The notes measured Split MNIST and Split CIFAR-100: on any other dataset their
figures are printed as MNIST's, named as such.
"""
from __future__ import annotations

# Reference figures of the research notes (DESIGN.md), the one home of these numbers.
REFERENCE = {
    "mnist": {"joint_acc": 0.9646, "sequential_acc": 0.1985, "probe_final": 0.8925,
              "sparsity_no_bn": (0.4987, 0.7782), "sparsity_bn": (0.5112, 0.4764),
              # savings per optimizer: (state kept, state reset at task boundaries); SGD has no state
              "savings": {"sgd": (0.59, 0.59), "momentum": (-0.11, -0.09), "adam": (-0.74, 0.13),
                          "rmsprop": (0.57, 0.70)},
              # correct-logit-only: final accuracy on all classes, probe on the seen classes per task,
              # the current task's train accuracy, the range of one test image's sigmoids after task 5
              "correct_only": {"final_acc": 0.408, "probe_seen": (0.9928, 0.9619, 0.9380, 0.9051, 0.8815),
                               "current_task": 0.88, "sigmoid_range": (0.90, 0.9997)}},
    "cifar100": {"joint_acc": 0.5076, "sequential_acc": 0.0859, "probe_final": 0.3835},
}
REFERENCE_NAME = {"mnist": "Split MNIST", "cifar100": "Split CIFAR-100"}


def reference(result) -> tuple[dict, str]:
    """The notes' figures to set beside a result, and what they were measured on."""
    ds = result["config"]["dataset"]
    key = "cifar100" if ds == "cifar100" else "mnist"
    return REFERENCE[key], REFERENCE_NAME[key]


def table(headers, rows) -> str:
    cells = [[_fmt(v) for v in r] for r in rows]
    w = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(str(v).rjust(w[i]) for i, v in enumerate(r))
    return "\n".join([line(headers), line(["-" * x for x in w]), *map(line, cells)])


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return "" if v is None else str(v)


def cell(part, key, k=None):
    """part[key] (entry k of a per-task list), as "mean ± sd" where several seeds gave a spread."""
    v, sd = part[key], part.get(f"{key}_std")
    if k is not None:
        v, sd = v[k], None if sd is None else sd[k]
    return v if sd is None else f"{v:.4f} ± {sd:.4f}"


def probe_tables(r) -> str:
    """The probe per task, and joint / sequential / probe on all classes beside the notes."""
    rows = [(k + 1, ",".join(map(str, r["tasks"][k])), *(cell(r, m, k) for m in ("acc_seen", "probe_seen", "probe_all")))
            for k in range(len(r["tasks"]))]
    out = "Linear probe on the frozen latent features after each task\n"
    out += table(["task", "classes", "network (seen)", "probe (seen)", "probe (all)"], rows)
    ref, name = reference(r)
    rows = [("joint (concurrent)", cell(r, "joint_acc"), ref["joint_acc"]),
            ("sequential", cell(r, "sequential_acc"), ref["sequential_acc"]),
            ("probe after last task", cell(r, "probe_all", -1), ref["probe_final"]),
            ("preserved = probe / joint", r["preserved"], round(ref["probe_final"] / ref["joint_acc"], 4))]
    return out + "\n\nAccuracy on all classes\n" + table(["", "here", f"notes ({name})"], rows)
