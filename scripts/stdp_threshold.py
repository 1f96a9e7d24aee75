#!/usr/bin/python3
"""Why the STDP network's accuracy falls in later epochs (docs/stdp.md):
reads a khsim stdp record of an MNIST pair (its final weights
/stdp/stdp_W1..3 and its classes), runs the network on the pair's training
and test digits of DATA_DIR (make data), and prints the test accuracy at
the output threshold 0.5, the ROC AUC of the output on the test digits, and
the test accuracy at the threshold that is best on the training digits.

    /usr/bin/python3 scripts/stdp_threshold.py OUT.h5 [DATA_DIR]
"""
import gzip
import os
import struct
import sys

import h5py
import numpy as np


def idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            d = gzip.open(p).read() if p.endswith(".gz") else open(p, "rb").read()
            nd = struct.unpack(">I", d[:4])[0] & 0xFF
            dims = struct.unpack(">" + "I" * nd, d[4:4 + 4 * nd])
            return np.frombuffer(d[4 + 4 * nd:], dtype=np.uint8).reshape(dims)
    sys.exit(f"{path}: not found (make data)")


def pair(data, prefix, c0, c1):
    X = idx(f"{data}/{prefix}-images-idx3-ubyte").reshape(-1, 784) / 255.0
    Y = idx(f"{data}/{prefix}-labels-idx1-ubyte")
    m = (Y == c0) | (Y == c1)
    return X[m], (Y[m] == c1).astype(int)


def auc(q, y):
    r = np.empty(len(q))
    r[np.argsort(q)] = np.arange(1, len(q) + 1)
    n1 = y.sum()
    return (r[y == 1].sum() - n1 * (n1 + 1) / 2) / ((len(y) - n1) * n1)


def main():
    path = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else "data/mnist"
    f = h5py.File(path, "r")
    c0, c1 = int(f["stdp"].attrs["class0"]), int(f["stdp"].attrs["class1"])
    W = [f[f"stdp/stdp_W{l}"][()] for l in (1, 2, 3)]

    def sig(z):
        return 1.0 / (1.0 + np.exp(-z))

    def out(X):
        return sig(sig(sig(X @ W[0].T) @ W[1].T) @ W[2].T)[:, 0]

    Xtr, ytr = pair(data, "train", c0, c1)
    Xte, yte = pair(data, "t10k", c0, c1)
    qtr, qte = out(Xtr), out(Xte)
    ts = np.linspace(0.0, 1.0, 1001)
    t = ts[int(np.argmax([((qtr >= s) == ytr).mean() for s in ts]))]
    epochs = f["stdp/stdp_test_accuracy"].shape[0]
    print(f"{path}: {c0} v {c1}, after epoch {epochs}: test accuracy at 0.5 "
          f"{100 * ((qte >= 0.5) == yte).mean():.2f} %, test AUC {auc(qte, yte):.5f}, "
          f"threshold best on the training digits {t:.3f} -> test accuracy "
          f"{100 * ((qte >= t) == yte).mean():.2f} %; median output y = 0: "
          f"{np.median(qte[yte == 0]):.3f}, y = 1: {np.median(qte[yte == 1]):.3f}")


if __name__ == "__main__":
    main()
