"""Plain-text tables of a result (for the CLI and `reproduce`), beside the notes' reference figures."""
from __future__ import annotations

# Reference figures quoted in DESIGN.md from the research notes.
REFERENCE = {
    "mnist": {"joint_acc": 0.9646, "sequential_acc": 0.1985, "probe_final": 0.8925,
              "sparsity_no_bn": (0.4987, 0.7782), "sparsity_bn": (0.5112, 0.4764)},
    "cifar100": {"joint_acc": 0.5076, "sequential_acc": 0.0859, "probe_final": 0.3835},
}


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


def _v(part, key, k=None):
    """part[key] (entry k of a per-task list), as "mean ± sd" where several seeds gave a spread."""
    v, sd = part[key], part.get(f"{key}_std")
    if k is not None:
        v, sd = v[k], None if sd is None else sd[k]
    return v if sd is None else f"{v:.4f} ± {sd:.4f}"


def _ref(result, key):
    return REFERENCE.get(result["config"]["dataset"], REFERENCE["mnist"]).get(key)


def sparsity(r) -> str:
    rows = [(k + 1, *(_v(r[b], m, k) for b in ("no_bn", "bn") for m in ("val_loss", "sparsity")))
            for k in range(len(r["tasks"]))]
    out = "Sparsity of the latent layer after each task (fraction of zero activations)\n"
    out += table(["task", "val loss (no BN)", "sparsity (no BN)", "val loss (BN)", "sparsity (BN)"], rows)
    ref_n, ref_b = _ref(r, "sparsity_no_bn"), _ref(r, "sparsity_bn")
    if ref_n:
        out += (f"\nnotes (Split MNIST): no BN {ref_n[0]} -> {ref_n[1]} after task 2, BN {ref_b[0]} -> {ref_b[1]};"
                f" here: no BN {r['no_bn']['sparsity'][0]:.4f} -> {r['no_bn']['sparsity'][1]:.4f},"
                f" BN {r['bn']['sparsity'][0]:.4f} -> {r['bn']['sparsity'][1]:.4f}")
    return out


def _probe_tables(r) -> str:
    rows = [(k + 1, ",".join(map(str, r["tasks"][k])), *(_v(r, m, k) for m in ("acc_seen", "probe_seen", "probe_all")))
            for k in range(len(r["tasks"]))]
    out = "Linear probe on the frozen latent features after each task\n"
    out += table(["task", "classes", "network (seen)", "probe (seen)", "probe (all)"], rows)
    rows = [("joint (concurrent)", _v(r, "joint_acc"), _ref(r, "joint_acc")),
            ("sequential", _v(r, "sequential_acc"), _ref(r, "sequential_acc")),
            ("probe after last task", _v(r, "probe_all", -1), _ref(r, "probe_final")),
            ("preserved = probe / joint", r["preserved"], None)]
    out += "\n\nAccuracy on all classes\n" + table(["", "here", "notes"], rows)
    if r.get("line"):  # the probe experiment: loss on the way from one task's weights to the next one's
        mid = len(r["line"][0]["alpha"]) // 2
        rows = [(f"{ln['from_task'] + 1} -> {ln['from_task'] + 2}", *(ln[w][m][i] for w in ("old", "new")
                                                                      for m in ("loss", "acc") for i in (0, mid, -1)))
                for ln in r["line"]]
        heads = [f"{w} {m} a={a}" for w in ("old", "new") for m in ("loss", "acc") for a in (0, r["line"][0]["alpha"][mid], 1)]
        out += ("\n\nTest loss and accuracy on the straight line from the weights after task k (a=0) to after "
                "task k+1 (a=1)\n" + table(["tasks", *heads], rows))
    return out


def losses(r) -> str:
    names = [n for n in ("ce", "correct_only", "latent_only") if n in r]
    rows = [(n, r[n]["final_acc"], r[n]["forgetting"][0] if r[n]["forgetting"] else None, r[n]["probe_seen"][-1])
            for n in names]
    out = "Loss variants\n" + table(["loss", "final acc (all seen)", "forgetting of task 1", "probe (seen)"], rows)
    ex = r["examples"]
    out += (f"\n\nSigmoid probabilities of test image #{ex['index'][0]} (label {ex['label'][0]}) after each task,"
            f" per loss\n")
    for n in names:
        p = [per_ex[0] for per_ex in r[n]["example_sigmoid"]]
        out += f"{n}:\n" + table(["task", *map(str, range(len(p[0])))], [(k + 1, *row) for k, row in enumerate(p)]) + "\n"
    return out.rstrip()


def savings(r) -> str:
    rows = [(x["optimizer"], x["lr"], "yes" if x["reset"] else "no", x["steps_first"][0], x["steps_relearn"], _v(x, "savings"),
             x["steps_joint_after"], x["steps_joint_scratch"], "!" if x["hit_max_steps"] else "")
            for x in r["rows"]]
    return ("Savings when relearning task 1 after all tasks (1 - relearn steps / first steps)\n" +
            table(["optimizer", "lr", "reset", "steps first", "steps relearn", "savings", "joint after seq",
                   "joint from scratch", "capped"], rows))


def cifar(r) -> str:
    rows = [(k + 1, r["no_bn"]["sparsity"][k], r["bn"]["sparsity"][k]) for k in range(len(r["tasks"]))]
    return _probe_tables(r) + "\n\nSparsity per task\n" + table(["task", "no BN", "BN"], rows)


def boundaries(r) -> str:
    rows = [(k + 1, a, b) for k, (a, b) in enumerate(zip(r["toy"]["acc_seen"], r["latent"]["acc_seen"]))]
    return "Accuracy on the classes seen so far\n" + table(["task", "2-D toy", "real model"], rows)


def render(result) -> str:
    exp = result["config"]["experiment"]
    head = (f"[{exp}] dataset={result['config']['dataset']} tasks={result['tasks']} device={result['device']} "
            f"seconds={result['seconds']}{' (cached)' if result.get('cached') else ''}")
    return head + "\n" + TABLES[exp](result)


TABLES = {"sparsity": sparsity, "probe": _probe_tables, "losses": losses, "savings": savings, "cifar": cifar,
          "boundaries": boundaries}
