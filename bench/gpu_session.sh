#!/usr/bin/env bash
# Every GPU check of issue 10 in one call on a lent GPU machine (a session gets 15 minutes of
# device time, starts included: one prepared call, then hand the machine back).
#
# Once, on the workstation, from the project's root:
#   cp -r ../shared/gpu .gpu && mkdir -p .gpu/data && cp /usr/share/datasets/fashion-mnist/*.gz .gpu/data/
#   echo /.gpu/ >> .git/info/exclude
# Then, with `.gpu` carried:   OUT=$OUT bash bench/gpu_session.sh
#
# 1. ../shared/gpu/check.sh: every experiment on cuda through the CLI, probe on the machine's CPU,
#    8 seeds, and the floor (the probe's steps as a bare loop, eager and as CUDA graphs);
# 2. the tests marked gpu (captured step against eager for each optimizer, BN, batched seeds;
#    savings read late; batched probes; probe on cuda against the CPU);
# 3. bench/train_speed.py --device cuda: clviz's loop against the bare loops, eager and graphed.
# That machine has torch and scikit-learn, no streamlit or altair (the engine imports neither).
set -u
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
export CLVIZ_DATA_DIR=$(cd .gpu/data && pwd) PYTHONUNBUFFERED=1
BUDGET_S=${BUDGET_S:-330} OUT=$OUT bash .gpu/check.sh
timeout 150 python3 -m pytest -q -m gpu -rs -p no:cacheprovider tests/test_graphs.py 2>&1 | tail -25 | tee "$OUT/gpu_tests.txt"
timeout 120 python3 bench/train_speed.py --device cuda --repeats 3 2>&1 | tee "$OUT/train_speed.txt"
