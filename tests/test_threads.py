"""One config, one result: the CLI's process (its thread count is the machine's) and the app's
workers compute the same numbers, because every CPU run trains at device.THREADS."""
import torch

from clviz import experiments, store


def test_a_run_gives_the_same_numbers_whatever_the_callers_thread_count():
    # Remedies' SI on digits: its probe differed in the 2nd decimal between 1 and 2 threads
    # (0.9722 and 0.9611) before every run was held to one count
    cfg = experiments.make("remedies", methods=("si",))
    got = []
    for threads in (2, 1):
        torch.set_num_threads(threads)  # as the CLI's process on 2 cores, then as a worker
        store.clear()
        r = experiments.run(cfg, "cpu", use_cache=False)
        got.append((r["si"]["probe_all"], r["si"]["final_acc"], r["si"]["matrix"]))
    assert got[0] == got[1]
