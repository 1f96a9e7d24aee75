#!/usr/bin/python3
"""The fast rule as Krotov's notebook writes it (numpy): the peer of
khsim's method = fast in `make bench`, and its check in `make test`.

Written to match github.com/DimaKrotov/Biological_Learning
(Unsupervised_learning_algorithm_MNIST.ipynb): a full argsort of the currents
for the top-k, a dense g matrix and a dense update, |W|^(p-1) through **;
plus R^p on the Hebbian term (README, "The model"; R = 1 in the notebook) and
the last, partial minibatch of an epoch (khsim keeps it; the notebook drops
it when batch does not divide N).

    fast_numpy.py replay OUT.h5 [--dtype float64|float32] [--epochs E]
                  [--batches K] [--compare]
        Trains from OUT.h5's initial W (/snapshots/W[0]) on its /input/v in
        its per-epoch order (/fast/order), with its /params; prints seconds
        per epoch (extrapolated from K minibatches when --batches is given)
        and, with --compare, the max |W_numpy - W_khsim| against the
        snapshot after the same epochs (exit 1 above --tol).
"""
import argparse
import sys
import time

import h5py
import numpy as np


def train_epoch(W, M, eps, p, k, delta, Rp, batch, prec, max_batches=None):
    """One epoch over the rows of M (already in this epoch's order)."""
    hid = W.shape[0]
    Ns = M.shape[0]
    nbat = (Ns + batch - 1) // batch
    if max_batches is not None:
        nbat = min(nbat, max_batches)
    dt = W.dtype
    for i in range(nbat):
        inputs = np.transpose(M[i * batch:(i + 1) * batch, :])
        Num = inputs.shape[1]
        sig = np.sign(W)
        tot_input = np.dot(sig * np.absolute(W) ** (p - 1), inputs)
        y = np.argsort(tot_input, axis=0)
        yl = np.zeros((hid, Num), dtype=dt)
        yl[y[hid - 1, :], np.arange(Num)] = 1.0
        yl[y[hid - k], np.arange(Num)] = -delta
        xx = np.sum(np.multiply(yl, tot_input), 1)
        ds = Rp * np.dot(yl, np.transpose(inputs)) - np.multiply(
            np.tile(xx.reshape(xx.shape[0], 1), (1, inputs.shape[0])), W)
        nc = np.amax(np.absolute(ds))
        if nc < prec:
            nc = prec
        W += dt.type(eps) * np.true_divide(ds, dt.type(nc))
    return nbat


def replay(args):
    with h5py.File(args.file, "r") as f:
        P = dict(f["/params"].attrs)
        X = f["/input/v"][...]
        W0 = f["/snapshots/W"][0]
        orders = f["/fast/order"][...]
        snaps = f["/snapshots/W"]
        S = snaps.shape[0]
        epochs_file = orders.shape[0]
        E = args.epochs if args.epochs else epochs_file
        W_khsim = snaps[E] if args.compare and E < S else None
    num = lambda k: float(P[k])
    p, delta, R = num("network.p"), num("learning.delta"), num("network.R")
    k, batch, epochs = int(P["learning.k"]), int(P["learning.batch"]), int(P["learning.epochs"])
    eps0, prec = num("learning.eps0"), num("learning.min_norm")
    dt = np.dtype(args.dtype)
    W = W0.astype(dt)
    Xd = X.astype(dt)
    Rp = dt.type(R ** p)
    per_epoch = []
    for e in range(E):
        eps = eps0 * (1 - e / epochs)
        M = Xd[orders[e]]
        t0 = time.perf_counter()
        nb = train_epoch(W, M, eps, dt.type(p), k, dt.type(delta), Rp, batch, prec,
                         args.batches)
        sec = time.perf_counter() - t0
        full = (X.shape[0] + batch - 1) // batch
        per_epoch.append(sec * full / nb)
    print(f"numpy {args.dtype}: {np.mean(per_epoch):.3f} s per epoch "
          f"({E} epoch(s){', extrapolated from %d minibatches' % args.batches if args.batches else ''})")
    if args.compare:
        if W_khsim is None:
            print("no khsim snapshot after %d epochs" % E, file=sys.stderr)
            return 2
        diff = float(np.max(np.abs(W.astype(np.float64) - W_khsim)))
        scale = float(np.max(np.abs(W_khsim)))
        print(f"max |W_numpy - W_khsim| = {diff:.3e} (max |W| = {scale:.3g})")
        if diff > args.tol:
            print(f"differs by more than {args.tol:g}", file=sys.stderr)
            return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("replay")
    r.add_argument("file")
    r.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    r.add_argument("--epochs", type=int, default=0)
    r.add_argument("--batches", type=int, default=None)
    r.add_argument("--compare", action="store_true")
    r.add_argument("--tol", type=float, default=1e-10)
    args = ap.parse_args()
    return replay(args)


if __name__ == "__main__":
    sys.exit(main())
