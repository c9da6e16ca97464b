"""Savings trains all its runs of a phase at once (clviz/experiments/cohort.py): each run must be
exactly its run alone, step for step and weight for weight, for every optimizer, with and
without resetting its state; and a run alone must be what a plain PyTorch loop computes."""
import copy

import pytest
import torch

from clviz import experiments, metrics
from clviz.experiments import cohort, savings
from clviz.experiments.common import all_classes, new_net
from clviz.train import OPTIMIZERS, STATELESS, make_optimizer, train_task

KW = dict(per_class=30, seeds=3, optimizers=OPTIMIZERS)  # small data: 60 samples a task, 300 in all


def setup():
    cfg = experiments.make("savings", **KW)
    data, tasks = experiments.prepare(cfg, "cpu")
    return cfg, data, tasks


def nets_equal(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_batched_savings_equal_each_run_alone():
    """torch.equal, not allclose: a copy's arithmetic in the stack does not depend on the others
    (batched matmuls compute each copy on its own, each optimizer steps its own tensors), so
    anything short of bit-equality is a bug (a run that moved after its stop, a shared order, a
    thread that stepped another's run)."""
    cfg, data, tasks = setup()
    runs, scratch = savings.train_all(cfg, data, tasks, side_by_side=2)  # in two threads, as on any 2 cores
    assert len(runs) == len(savings.trained(cfg)) * cfg.seeds and len(scratch) == len(OPTIMIZERS) * cfg.seeds
    stops = set()
    for st in runs:
        [alone], alone_scratch = savings.train_all(cfg, data, tasks, only={(st.name, st.reset, st.seed)})
        assert (st.first, st.steps_relearn, st.steps_joint_after) == \
               (alone.first, alone.steps_relearn, alone.steps_joint_after), (st.name, st.reset, st.seed)
        for phase in ("end", "relearn", "joint"):
            assert nets_equal(st.nets[phase], alone.nets[phase]), (st.name, st.reset, st.seed, phase)
        assert st.curves == alone.curves and st.conv == alone.conv
        (steps, net), [(steps1, net1)] = scratch[st.name, st.seed], alone_scratch.values()
        assert steps == steps1 and nets_equal(net, net1)
        stops.add(tuple(st.first))
    # the runs of a phase did stop at different steps (so the stack shrank while others trained)
    assert len({f[0] for f in stops}) > 1 and len({f[1] for f in stops}) > 1


def plain_setting(cfg, data, tasks, name, reset, seed):
    """A (optimizer, reset) run as plain PyTorch does it, one Net and train_task: the reference."""
    crit = dict(batch_size=cfg.batch_size, epochs=None, max_steps=cfg.max_steps, check_every=cfg.check_every)
    lr = dict(cfg.lrs)[name]

    def to_criterion(model, opt, x, y, gen, criterion):
        xs, ys = x[:cfg.check_n], y[:cfg.check_n]
        until = lambda m, s: (metrics.forward_all(m, xs)[0].argmax(1) == ys).float().mean().double() >= criterion  # noqa: E731
        return train_task(model, opt, x, y, savings.CE, gen=gen, until=until, **crit)

    gen, model = torch.Generator().manual_seed(seed), new_net(cfg, data, seed)
    opt, first = make_optimizer(name, model.parameters(), lr), []
    for k, t in enumerate(tasks):
        if reset and k > 0:
            opt = make_optimizer(name, model.parameters(), lr)
        first.append(to_criterion(model, opt, *data.subset(t), gen, cfg.criterion))
    end = copy.deepcopy((model, opt.state_dict()))
    out = {"first": first, "end": end[0]}
    for phase, x_y, criterion in (("relearn", data.subset(tasks[0]), cfg.criterion),
                                  ("joint", data.subset(all_classes(tasks)), cfg.joint_criterion)):
        m = copy.deepcopy(end[0])
        o = make_optimizer(name, m.parameters(), lr)
        if not reset:
            o.load_state_dict(copy.deepcopy(end[1]))
        out[phase] = (to_criterion(m, o, *x_y, gen, criterion), m)
    return out


def flat(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_run_alone_is_the_plain_pytorch_run(name):
    """Against one Net trained by train_task (the loop of every other experiment): the same steps
    to each criterion, and the same weights but for float32 rounding: a Net's Linear (addmm) and
    the stack's baddbmm round their sums differently in the last bits, so the weights are compared
    by their distance relative to how far training moved them (< 1e-5; measured <= 2e-6). Not
    RMSprop after a reset: with its state zeroed, its first step is 10 lr x sign(gradient) on
    every weight, and a last-bit difference flips the sign of a gradient near 0 (measured 1e-4
    after relearning, 2e-2 after the joint phase: physics, not a bug); its steps are compared. A
    stateless optimizer's reset run really is its no-reset run."""
    cfg, data, tasks = setup()
    seed = cfg.seed
    w0 = flat(new_net(cfg, data, seed))
    for reset in (False, True):
        ref = plain_setting(cfg, data, tasks, name, reset, seed)
        trained_reset = reset and name not in STATELESS  # SGD's reset row is its no-reset run
        [st], _ = savings.train_all(cfg, data, tasks, only={(name, trained_reset, seed)})
        assert st.first == ref["first"] and st.steps_relearn == ref["relearn"][0] \
            and st.steps_joint_after == ref["joint"][0], (name, reset)
        if name == "rmsprop" and reset:
            continue
        for phase, net in (("end", ref["end"]), ("relearn", ref["relearn"][1]), ("joint", ref["joint"][1])):
            w, w_ref = flat(st.nets[phase]), flat(net)
            assert (w - w_ref).norm() < 1e-5 * (w_ref - w0).norm(), (name, reset, phase)


def test_passing_count_is_where_the_mean_first_reaches_the_criterion():
    for n in (1, 7, 60, 277, 1437):
        for crit in (0.1, 0.85, 0.97, 1.0, 0.999999):
            c = cohort.passing_count(n, crit)
            assert all(((torch.arange(n) < k).float().mean().double() >= crit) == (k >= c) for k in range(n + 1)), (n, crit)
    assert cohort.passing_count(10, 1.5) == 11  # never reached


def test_a_cohorts_error_stops_the_other_cohort():
    """Two cohorts in two threads: one run diverges (TrainingError at its first epoch's end), the
    other could train for 5,000 steps (a criterion it cannot reach); the error stops it at its
    next step, and is raised."""
    from clviz.train import TrainingError
    cfg, data, tasks = setup()
    x, y = data.subset(all_classes(tasks))
    steps = {"bad": 0, "good": 0}

    def run(name, lr):
        net = new_net(cfg, data, 0)
        r = cohort.Run(net, make_optimizer("sgd", net.parameters(), lr), torch.Generator().manual_seed(0), name)
        r.on_step = lambda: steps.__setitem__(name, steps[name] + 1)
        return r
    with pytest.raises(TrainingError):
        cohort.to_criterion([run("bad", 1e30), run("good", 1e-6)], x, y, savings.CE, 1.0, side_by_side=2,
                            batch_size=cfg.batch_size, max_steps=5000, check_n=len(y), check_every=10)
    per_epoch = len(y) // cfg.batch_size
    assert steps["bad"] == per_epoch and steps["good"] < 20 * per_epoch
