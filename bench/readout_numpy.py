#!/usr/bin/python3
"""The readout of `khsim train` in numpy (float32, or --dtype float64), for trying readout
variants on a learned W quickly: h = max(W v, 0)^n, c = tanh(beta S h), loss
sum |c - t|^m (or softmax cross-entropy), Adam with the paper's schedule
compressed to --epochs (lr until 1/3, then x0.5, x0.1, x0.05, x0.01 every 1/6).

    /usr/bin/python3 bench/readout_numpy.py OUT.h5 [--beta digit|set|l2|sum|unit|vnorm]
        [--beta-scale 10] [--m 6] [--epochs 60] [--val] [--eval-every 5]
        [--dtype float32|float64] [--adam-eps 1e-8] [--adam-beta2 0.999]

OUT.h5: a khsim file; W is /train/W when there is one, else the last
/snapshots/W row. --val trains on the first 50 000 training digits and
measures on the last 10 000 (a validation split) instead of the test digits:
khsim train's train.measure = validation with input.samples = 50000. For the
split to be clean, W too must come from the first 50 000 only (khsim run
... --set input.samples=50000).
--beta: digit = beta_scale / max_mu h_mu per digit (khsim's beta_auto =
digit), set = beta_scale / the mean of max_mu h_mu (beta_auto = set), l2 / sum
= beta_scale / the 2-norm / the sum of h per digit, unit = each unit's h
divided by its mean over the training digits, vnorm = each digit's h divided
by |v|_2^n (its currents by |v|_2), both then with beta as set.
--adam-eps and --adam-beta2: Adam's (khsim's train.adam_eps, adam_beta2).
Prints the train and test (or validation) error every --eval-every epochs
(khsim counts them every epoch: bench/readout_bench.py passes 1) and the time
per epoch, error counts included; at the end, the median time of an epoch
after the first. The numbers in docs/training.md that are marked as
from this script came from it; it is not khsim's readout (all of it in
--dtype, another minibatch order)."""
import argparse
import gzip
import os
import struct
import sys
import time

import h5py
import numpy as np


def idx(path):
    raw = gzip.open(path + ".gz").read() if not os.path.exists(path) else open(path, "rb").read()
    nd = raw[3]
    dims = struct.unpack(">" + "I" * nd, raw[4:4 + 4 * nd])
    return np.frombuffer(raw[4 + 4 * nd:], np.uint8).reshape(dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--n", type=float, default=4.5, help="power of the activation")
    ap.add_argument("--m", type=float, default=6, help="power of the loss")
    ap.add_argument("--beta", default="digit", choices=["digit", "set", "l2", "sum", "unit", "vnorm"])
    ap.add_argument("--beta-scale", type=float, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--loss", default="power", choices=["power", "ce"])
    ap.add_argument("--current", default="plain", choices=["plain", "p"],
                    help="plain: W v; p: sgn(W)|W|^3 v (the fast rule's ranking current, p = 4)")
    ap.add_argument("--val", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--adam-eps", type=float, default=1e-8)
    ap.add_argument("--adam-beta2", type=float, default=0.999)
    a = ap.parse_args()

    d = a.data
    dt = np.dtype(a.dtype)
    Xtr = idx(f"{d}/train-images-idx3-ubyte").reshape(-1, 784).astype(dt) / 255
    ytr = idx(f"{d}/train-labels-idx1-ubyte").astype(np.int64)
    Xte = idx(f"{d}/t10k-images-idx3-ubyte").reshape(-1, 784).astype(dt) / 255
    yte = idx(f"{d}/t10k-labels-idx1-ubyte").astype(np.int64)
    if a.val:
        Xte, yte, Xtr, ytr = Xtr[50000:], ytr[50000:], Xtr[:50000], ytr[:50000]
    f = h5py.File(a.file, "r")
    W = (f["train/W"] if "train/W" in f else f["snapshots/W"][-1])[()].astype(dt)
    if a.current == "p":
        W = np.sign(W) * np.abs(W) ** 3
    Htr = np.maximum(Xtr @ W.T, 0) ** a.n
    Hte = np.maximum(Xte @ W.T, 0) ** a.n
    if a.beta in ("digit", "l2", "sum"):
        norm = {"digit": lambda H: H.max(1, keepdims=True),
                "l2": lambda H: np.linalg.norm(H, axis=1, keepdims=True),
                "sum": lambda H: H.sum(1, keepdims=True)}[a.beta]
        Htr /= np.maximum(norm(Htr), 1e-30)
        Hte /= np.maximum(norm(Hte), 1e-30)
        beta = a.beta_scale
    else:
        if a.beta == "vnorm":
            Htr /= np.linalg.norm(Xtr, axis=1, keepdims=True) ** a.n
            Hte /= np.linalg.norm(Xte, axis=1, keepdims=True) ** a.n
        if a.beta == "unit":
            s = np.maximum(Htr.mean(0), 1e-30)
            Htr /= s
            Hte /= s
        beta = a.beta_scale / Htr.max(1).mean()
    N = len(ytr)
    T = np.where(np.arange(10)[None, :] == ytr[:, None], 1.0, -1.0).astype(dt)
    S = np.zeros((10, W.shape[0]), dt)
    m1, m2 = np.zeros_like(S), np.zeros_like(S)
    b1, b2, eps, t = 0.9, a.adam_beta2, a.adam_eps, 0
    rng = np.random.default_rng(a.seed)

    def lr_of(e):
        third, sixth = a.epochs / 3, a.epochs / 6
        if e < third:
            return a.lr
        return a.lr * [1, 0.5, 0.1, 0.05, 0.01][min(1 + int((e - third) // sixth), 4)]

    def error(H, y):
        return float(((H @ S.T).argmax(1) != y).mean())

    t0 = time.time()
    per_epoch = []
    for e in range(a.epochs):
        lr = lr_of(e)
        e0 = time.time()
        order = rng.permutation(N)
        for b0 in range(0, N, a.batch):
            j = order[b0:b0 + a.batch]
            Hb = Htr[j]
            Z = beta * (Hb @ S.T)
            if a.loss == "ce":
                P = np.exp(Z - Z.max(1, keepdims=True))
                P /= P.sum(1, keepdims=True)
                Dz = P - (T[j] + 1) / 2
            else:
                c = np.tanh(Z)
                r = c - T[j]
                Dz = a.m * np.abs(r) ** (a.m - 1) * np.sign(r) * (1 - c * c)
            G = beta * (Dz.T @ Hb)
            t += 1
            m1 = b1 * m1 + (1 - b1) * G
            m2 = b2 * m2 + (1 - b2) * G * G
            S -= lr * (m1 / (1 - b1 ** t)) / (np.sqrt(m2 / (1 - b2 ** t)) + eps)
        report = e % a.eval_every == a.eval_every - 1 or e == a.epochs - 1
        if report:  # with --eval-every 1, after every epoch, as khsim does
            tr, te = error(Htr, ytr), error(Hte, yte)
        per_epoch.append(time.time() - e0)
        if report:
            print(f"epoch {e + 1}: train error {100 * tr:.2f} %, "
                  f"{'validation' if a.val else 'test'} error {100 * te:.2f} %, "
                  f"{(time.time() - t0) / (e + 1):.2f} s per epoch", flush=True)
    later = per_epoch[1:] or per_epoch
    print(f"median s per epoch after the first: {float(np.median(later)):.3f}")


if __name__ == "__main__":
    sys.exit(main())
