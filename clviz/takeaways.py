"""What to see in each chart, in one line written from the result's own numbers (no Streamlit).

A page shows the line above its chart; a room reads the point before the picture. Every function
takes a result (or the part of it its chart draws) and returns one sentence; numbers are written
to two decimals, as the charts' tooltips round them for a reader.
"""
from __future__ import annotations

from . import names


def _f(x) -> str:
    return f"{x:.2f}"


def _mean(xs):
    return sum(xs) / len(xs)


# ---------------------------------------------------------------- shared: the epoch curves

def curves(rows) -> str:
    """Forgetting curves (epoch_end rows of one or more runs): task 1's best accuracy and its last."""
    runs = {}
    for row in rows:
        runs.setdefault(row.get("run", ""), []).append(row["acc_tasks"][0])
    parts = [f"{names.label(run) + ' ' if len(runs) > 1 else ''}{_f(max(a))} at best, {_f(a[-1])} at the end"
             for run, a in runs.items()]
    return f"Task 1's accuracy: {'; '.join(parts)}. Each new task's classes take over the answers."


# ---------------------------------------------------------------- sparsity (and CIFAR's sparsity)

def sparsity(r) -> str:
    """Latent sparsity per task, without and with BatchNorm."""
    a, b = r["no_bn"]["sparsity"], r["bn"]["sparsity"]
    return (f"Without BatchNorm the latent layer's sparsity goes from {_f(a[0])} after task 1 to {_f(max(a))} at most "
            f"({_f(a[-1])} after the last); with BatchNorm from {_f(b[0])} to {_f(max(b))} at most ({_f(b[-1])}).")


def val_loss(r) -> str:
    a, b = r["no_bn"]["val_loss"], r["bn"]["val_loss"]
    return (f"Validation loss on the classes seen so far: {_f(a[0])} after task 1, {_f(a[-1])} after the last "
            f"without BatchNorm; {_f(b[0])} and {_f(b[-1])} with it.")


def dead_units(matrix) -> tuple[int, int]:
    """(units that never fire on these samples, units) of a heatmap's matrix [sample][unit]."""
    units = len(matrix[0])
    return sum(all(row[u] == 0 for row in matrix) for u in range(units)), units


def heatmap(matrix, k: int, run: str) -> str:
    """One run's latent features after task k+1 (0-based k): its dead units."""
    dead, units = dead_units(matrix)
    return f"After task {k + 1}, {dead} of {units} latent units never fire on these test images ({names.label(run)})."


def heatmaps(r, k: int) -> str:
    """The latent features after task k+1 (0-based k): dead units without and with BatchNorm."""
    (d0, n), (d1, _) = dead_units(r["no_bn"]["heatmap"][k]), dead_units(r["bn"]["heatmap"][k])
    return (f"After task {k + 1}, {d0} of {n} latent units never fire on these test images without BatchNorm, "
            f"{d1} with it.")


def biases(r) -> str:
    """The latent layer's biases after the first and the last task, without and with BatchNorm."""
    def shift(part):  # three decimals: biases move by hundredths, two would read "0.00 ... -0.00"
        return f"{_mean(part['bias'][0]):.3f}", f"{_mean(part['bias'][-1]):.3f}"
    (a0, a1), (b0, b1) = shift(r["no_bn"]), shift(r["bn"])
    return (f"The latent biases' mean: {a0} after task 1, {a1} after the last without BatchNorm; "
            f"{b0} and {b1} with it.")


# ---------------------------------------------------------------- probe (and CIFAR's summary)

def probe_summary(r) -> str:
    return (f"A linear probe on the frozen features scores {_f(r['probe_all'][-1])} on all classes while the network's "
            f"own accuracy falls to {_f(r['sequential_acc'])} (trained on all at once: {_f(r['joint_acc'])}).")


def probe_per_task(r) -> str:
    return (f"After the last task the network gets {_f(r['acc_seen'][-1])} of the classes seen so far right; a probe "
            f"on its features, {_f(r['probe_seen'][-1])}.")


def matrix(m) -> str:
    """The accuracy matrix: task 1 right after it was learned, and at the end."""
    return (f"Task 1: {_f(m[0][0])} right after it was learned, {_f(m[-1][0])} after task {len(m)}; "
            f"the last task: {_f(m[-1][-1])}.")


def straight_lines(lines) -> str:
    """On the straight line from task 1's weights to task 2's: the point where both tasks do best."""
    ln = lines[0]
    both = [min(o, n) for o, n in zip(ln["old"]["acc"], ln["new"]["acc"])]
    i = max(range(len(both)), key=both.__getitem__)
    return (f"From the weights after task 1 to those after task 2, task 1's accuracy falls from {_f(ln['old']['acc'][0])} "
            f"to {_f(ln['old']['acc'][-1])}; at a = {ln['alpha'][i]:.1f} both tasks score at least {_f(both[i])}.")


# ---------------------------------------------------------------- losses

def losses_summary(r) -> str:
    ns = r["config"]["losses"]
    return ("Accuracy on all seen classes at the end: " + ", ".join(f"{names.label(n)} {_f(r[n]['final_acc'])}" for n in ns)
            + "; of task 1 they lost " + ", ".join(_f(r[n]["forgetting"][0]) for n in ns) + ".")


def sigmoids(r, loss: str, i: int) -> str:
    """One test image's sigmoid per class after the last task, under one loss."""
    p, label = r[loss]["example_sigmoid"][-1][i], r["examples"]["label"][i]
    top = max(range(len(p)), key=p.__getitem__)
    return (f"After the last task, with {names.label(loss)}, the true class {label} gets {p[label]:.3f}; "
            + (f"the highest is class {top}, {p[top]:.3f}." if top != label else "the highest of all classes."))


def probes(r) -> str:
    ns = r["config"]["losses"]
    return ("After the last task a probe on the seen classes scores "
            + ", ".join(f"{names.label(n)} {_f(r[n]['probe_seen'][-1])}" for n in ns)
            + "; the networks' own answers, " + ", ".join(_f(r[n]["final_acc"]) for n in ns) + ".")


def head_share(grad_norms: dict) -> float:
    """The head's share of the summed gradient norm of one task ({parameter: norm})."""
    return sum(v for k, v in grad_norms.items() if k.startswith("head.")) / sum(grad_norms.values())


def gradients(r) -> str:
    ns = r["config"]["losses"]
    return ("The head's share of the gradient in the last task: "
            + ", ".join(f"{names.label(n)} {head_share(r[n]['grad_norms'][-1]):.0%}" for n in ns) + ".")


# ---------------------------------------------------------------- savings

def savings(rows) -> str:
    """The highest and lowest savings, and where resetting the state moves it most."""
    who = lambda x: names.setting(x["optimizer"], x["reset"])
    hi, lo = max(rows, key=lambda x: x["savings"]), min(rows, key=lambda x: x["savings"])
    out = f"Highest savings: {who(hi)}, {_f(hi['savings'])}; lowest: {who(lo)}, {_f(lo['savings'])}."
    pairs = {}
    for x in rows:
        if x["reset"] is not None:
            pairs.setdefault(x["optimizer"], {})[bool(x["reset"])] = x["savings"]
    moved = {o: p[True] - p[False] for o, p in pairs.items() if len(p) == 2}
    if moved:
        o = max(moved, key=lambda k: abs(moved[k]))
        out += (f" Resetting the state at task boundaries moves {names.label(o)} most: "
                f"{_f(pairs[o][False])} → {_f(pairs[o][True])}.")
    return out


def convergence(rows) -> str:
    """The relearning race: which setting gets task 1 back fastest, against its first learning."""
    x = min(rows, key=lambda x: x["steps_relearn"])
    return (f"Fastest back to the criterion on task 1: {names.setting(x['optimizer'], x['reset'])}, "
            f"{x['steps_relearn']:.0f} steps, against {x['steps_first'][0]:.0f} to learn it first.")


def drift(curves: dict) -> str:
    """During task 2: how far the weights move, per setting (the last step's distance)."""
    far = {k: c["weight_change"][-1] for k, c in curves.items() if c.get("weight_change")}
    hi, lo = max(far, key=far.get), min(far, key=far.get)
    return (f"By the time task 2 is learned the weights moved furthest with {names.label(hi)} ({_f(far[hi])}), "
            f"least with {names.label(lo)} ({_f(far[lo])}).")


# ---------------------------------------------------------------- boundaries

def toy_regions(toy) -> str:
    """The toy plane after the last task: which classes still own any region."""
    owned = sorted(set(toy["regions"][-1]["cls"]))
    acc = toy["acc_seen"]
    return (f"After the last task the plane is split among classes {', '.join(map(str, owned))} only; accuracy on "
            f"the classes seen so far goes from {_f(acc[0])} after task 1 to {_f(acc[-1])}.")


def latent_planes(latent) -> str:
    acc = latent["acc_seen"]
    return (f"The real model on its own latent plane: {_f(acc[0])} of the seen classes after task 1, {_f(acc[-1])} "
            f"after the last.")
