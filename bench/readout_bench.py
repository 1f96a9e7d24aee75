#!/usr/bin/python3
"""make bench, the readout of khsim train: khsim (float and double) against
the same readout in numpy (bench/readout_numpy.py, float32 and float64), all
in this run, on this machine, on the paper's shapes: h for m = 2000 units of
the 60 000 training and 10 000 test digits, c = tanh(beta S h) for 10
classes, loss sum |c - t|^6, Adam on minibatches of 100, and the train and
test errors counted after every epoch (numpy told to do the same).

W is a random frozen W (train.features = random): the readout's work does
not depend on what W is, and no unsupervised phase is needed. Prints the
median seconds of a readout epoch after the first (khsim's /train/
epoch_seconds, numpy's own clock, both covering the minibatches and the
error counts) and the ratio numpy / khsim at the same precision."""
import argparse
import os
import re

import h5py
import numpy as np

from fast_bench import ROOT, run  # the same runner as the fast rule's benchmark


def khsim_epoch(precision, epochs, out):
    if os.path.exists(os.path.join(ROOT, out)):
        os.remove(os.path.join(ROOT, out))
    run(["./khsim", "train", "examples/train_mnist.ini", "--quiet", "--force", "-o", out,
         "--set", "train.features=random", "--set", f"solver.precision={precision}",
         "--set", f"train.epochs={epochs}"])
    with h5py.File(os.path.join(ROOT, out), "r") as f:
        sec = f["/train/epoch_seconds"][()]
        return float(np.median(sec[1:] if len(sec) > 1 else sec)), \
            float(f["/train"].attrs["seconds_features"])


def numpy_epoch(out, dtype, epochs):
    text = run(["/usr/bin/python3", "bench/readout_numpy.py", out, "--epochs", str(epochs),
                "--eval-every", "1", "--beta", "digit", "--beta-scale", "2", "--dtype", dtype])
    last = text.strip().splitlines()[-1]
    return float(re.search(r"after the first: ([0-9.]+)", last).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=10, help="readout epochs timed, each")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(ROOT, "data/mnist/t10k-labels-idx1-ubyte")) and \
            not os.path.exists(os.path.join(ROOT, "data/mnist/t10k-labels-idx1-ubyte.gz")):
        raise SystemExit("bench/readout_bench.py needs the full MNIST set: run make data")
    os.makedirs(os.path.join(ROOT, "bench/out"), exist_ok=True)
    k32, f32 = khsim_epoch("float", a.epochs, "bench/out/readout_float.h5")
    k64, f64 = khsim_epoch("double", a.epochs, "bench/out/readout_double.h5")
    n32 = numpy_epoch("bench/out/readout_float.h5", "float32", a.epochs)
    n64 = numpy_epoch("bench/out/readout_float.h5", "float64", a.epochs)
    print(f"readout on MNIST: m = 2000, 60 000 + 10 000 digits, batch 100, errors every epoch, "
          f"{a.epochs} epochs each (median after the first), {os.cpu_count()} cores")
    print(f"  {'':16s} {'s/epoch':>9s} {'numpy / khsim':>14s}")
    print(f"  {'numpy float32':16s} {n32:9.3f}")
    print(f"  {'numpy float64':16s} {n64:9.3f}")
    print(f"  {'khsim float':16s} {k32:9.3f} {n32 / k32:13.2f}x")
    print(f"  {'khsim double':16s} {k64:9.3f} {n64 / k64:13.2f}x")
    print(f"  khsim's features (h for the 70 000 digits, once): {f32:.1f} s (float), "
          f"{f64:.1f} s (double)")


if __name__ == "__main__":
    main()
