#!/usr/bin/python3
"""make bench, the fast rule: khsim (float32 and float64) against the numpy
version of Krotov's notebook (bench/fast_numpy.py, float32 and float64) on
the paper's MNIST setting (bench/fast.ini: m = 2000, n = 784, p = 4, k = 2,
delta = 0.4, batch 100, 60 000 digits), all in this run, on this machine.

Prints seconds per epoch for each, the ratio khsim / numpy at the same
precision, and khsim's GFLOP/s (dense-equivalent: 2 N m n per epoch, and
performed: the sparse current product skips the zero pixels) next to the
machine's OpenBLAS sgemm rate at the current product's shape, measured now.
numpy's epoch is extrapolated from --numpy-batches minibatches (its time per
minibatch is steady; say 0 for whole epochs)."""
import argparse
import os
import subprocess
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return r.stdout


def khsim_epochs(precision, epochs, out):
    run(["./khsim", "run", "bench/fast.ini", "--quiet", "--force", "-o", out,
         "--set", f"solver.precision={precision}", "--set", f"learning.epochs={epochs}"])
    with h5py.File(os.path.join(ROOT, out), "r") as f:
        sec = f["/epochs/wall_seconds"][:]
        flops = float(f["/solver"].attrs["flops"])
        N = f["/input/v"].shape[0]
        m, n = f["/snapshots/W"].shape[1:]
        won = f["/epochs/won_fraction"][:]
    return sec, flops / epochs, N, m, n, won


def numpy_epoch(out, dtype, batches):
    cmd = ["/usr/bin/python3", "bench/fast_numpy.py", "replay", out, "--dtype", dtype,
           "--epochs", "1"]
    if batches:
        cmd += ["--batches", str(batches)]
    line = run(cmd).strip().splitlines()[-1]
    return float(line.split(":")[1].split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=3, help="khsim float32 epochs timed")
    ap.add_argument("--numpy-batches", type=int, default=150)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(ROOT, "data/mnist/train-images-idx3-ubyte")) and \
            not os.path.exists(os.path.join(ROOT, "data/mnist/train-images-idx3-ubyte.gz")):
        raise SystemExit("bench/fast_bench.py needs the full MNIST set: run make data")
    os.makedirs(os.path.join(ROOT, "bench/out"), exist_ok=True)
    gemm = run(["build/sgemm_rate", "100", "2000", "784", "3"])
    sgemm = float(gemm.split()[2])
    s32, fl32, N, m, n, won = khsim_epochs("float", a.epochs, "bench/out/fast_float.h5")
    s64, fl64, *_ = khsim_epochs("double", 2, "bench/out/fast_double.h5")
    # The first epoch pays for first touches of the buffers: report the later ones.
    k32 = float(np.mean(s32[1:])) if len(s32) > 1 else float(s32[0])
    k64 = float(np.mean(s64[1:])) if len(s64) > 1 else float(s64[0])
    n32 = numpy_epoch("bench/out/fast_float.h5", "float32", a.numpy_batches)
    n64 = numpy_epoch("bench/out/fast_float.h5", "float64", a.numpy_batches)
    dense = 2.0 * N * m * n
    print(f"fast rule on MNIST: N = {N}, m = {m}, n = {n}, p = 4, k = 2, batch 100, "
          f"{os.cpu_count()} cores")
    print(f"  machine: OpenBLAS sgemm at {100}x{m}x{n}: {sgemm:.1f} GFLOP/s (measured now)")
    print(f"  {'':28s} {'s/epoch':>9s} {'vs numpy':>9s} {'GFLOP/s dense-eq.':>18s} "
          f"{'performed':>10s} {'of sgemm':>9s}")
    print(f"  {'numpy float32 (notebook)':28s} {n32:9.2f}")
    print(f"  {'numpy float64 (notebook)':28s} {n64:9.2f}")
    for name, k, nn, fl in (("khsim float32", k32, n32, fl32), ("khsim float64", k64, n64, fl64)):
        print(f"  {name:28s} {k:9.3f} {nn / k:8.1f}x {dense / k * 1e-9:18.1f} "
              f"{fl / k * 1e-9:10.1f} {dense / k * 1e-9 / sgemm:8.0%}")
    print(f"  khsim float32 epochs: {', '.join('%.3f' % x for x in s32)} s "
          f"(first epoch excluded from the mean); units that won: "
          f"{', '.join('%.2f' % x for x in won)}")
    print(f"  numpy epochs extrapolated from {a.numpy_batches} of 600 minibatches"
          if a.numpy_batches else "  numpy: whole epochs")
    print(f"  ratio khsim float32 / numpy float32 = {n32 / k32:.1f}x")


if __name__ == "__main__":
    main()
