#!/bin/sh
# make bench: every benchmark, each against its peer measured in the same run.
set -eu
cd "$(dirname "$0")/.."
echo "khsim benchmarks on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
OMP_WAIT_POLICY=passive ./build/threads_crossover
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} /usr/bin/python3 bench/exact_bench.py
/usr/bin/python3 bench/exact_mnist_bench.py
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} /usr/bin/python3 bench/fast_bench.py
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} /usr/bin/python3 bench/readout_bench.py
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} /usr/bin/python3 bench/contention_bench.py
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} /usr/bin/python3 bench/conv_bench.py
