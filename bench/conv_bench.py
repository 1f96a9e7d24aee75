#!/usr/bin/python3
"""make bench, the convolutional layers (khsim conv): khsim (float64 and
float32) against the same rule written the way a numpy notebook writes it
(patches by sliding_window_view, one matrix product per layer, argsort per
image, the update by index arithmetic; `peer` below), on the slides' network
(examples/conv_mnist.ini: 1 -> 16 channels of 10 x 10, max-pool 2, 16 -> 5 of
8 x 8; p = 4, k = 2, Delta = 0.4, minibatches of 16) over the first
--images training digits, one epoch, all in this run, on this machine.

The peer replays khsim's double run from its record (W(0) of each layer and
the epoch's order, /conv/order) and must end with the same filters: the
largest difference of the final W is printed beside the times. Prints
seconds per epoch for each and the ratios numpy / khsim at the same
precision."""
import argparse
import gzip
import os
import struct
import subprocess
import sys
import time

import h5py
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return r.stdout


def idx_images(path, count):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            d = gzip.open(p).read() if p.endswith(".gz") else open(p, "rb").read()
            nd = struct.unpack(">I", d[:4])[0] & 0xFF
            dims = struct.unpack(">" + "I" * nd, d[4:4 + 4 * nd])
            x = np.frombuffer(d[4 + 4 * nd:], dtype=np.uint8).reshape(dims)
            return x[:count].reshape(count, 1, dims[1], dims[2]) / 255.0
    raise SystemExit(f"{path}: not found (make data)")


def param(f, key):
    v = f["params"].attrs[key]
    return v.decode() if isinstance(v, bytes) else v


def patches(x, k):
    """[B, C, H, W] -> [B, positions, C k k], positions row by row."""
    B, C, H, W = x.shape
    w = sliding_window_view(x, (k, k), axis=(2, 3))  # [B, C, Ho, Wo, k, k]
    return w.transpose(0, 2, 3, 1, 4, 5).reshape(B, (H - k + 1) * (W - k + 1), C * k * k)


def peer(f, X, dtype):
    """One epoch of the rule over X [N, 1, 28, 28] in the order of the
    record f, from its W(0); returns the final W of each layer and the
    seconds it took."""
    p, R = float(param(f, "network.p")), float(param(f, "network.R"))
    delta, k = float(param(f, "learning.delta")), int(param(f, "learning.k"))
    eps0, E = float(param(f, "learning.eps0")), int(param(f, "learning.epochs"))
    batch, min_norm = int(param(f, "learning.batch")), float(param(f, "learning.min_norm"))
    L = int(f["conv"].attrs["layers"])
    shapes = [dict(f[f"conv/layer{l}"].attrs) for l in range(1, L + 1)]
    W = [f[f"conv/layer{l}/W"][0].astype(dtype) for l in range(1, L + 1)]
    order = f["conv/order"][0]
    X = X.astype(dtype)
    eps = eps0 * (1.0 - 0.0 / E)
    t0 = time.perf_counter()
    for b0 in range(0, len(order), batch):
        x = X[order[b0:b0 + batch]]
        for l in range(L):
            s = shapes[l]
            kk, cout, pool = int(s["kernel"]), int(s["channels"]), int(s["pool"])
            P = patches(x, kk)  # [B, pos, patch]
            B, npos, _ = P.shape
            Wp = np.sign(W[l]) * np.abs(W[l]) ** (p - 1)
            I = (P.reshape(B * npos, -1) @ Wp.T).reshape(B, npos * cout)
            dW = np.zeros_like(W[l])
            gI = np.zeros(cout, dtype=dtype)
            top = np.argsort(-I, axis=1, kind="stable")[:, [0, k - 1]]
            for bb in range(B):
                for j, g in ((0, 1.0), (1, -delta)):
                    e = top[bb, j]
                    c, r = e % cout, e // cout
                    dW[c] += g * R ** p * P[bb, r]
                    gI[c] += g * I[bb, e]
            dW -= gI[:, None] * W[l]
            W[l] = W[l] + eps * dW / max(np.abs(dW).max(), min_norm)
            if l + 1 < L:
                A = np.maximum(P @ W[l].T, 0.0)  # [B, pos, cout]
                Ho = int(s["height_in"]) - kk + 1
                Wo = int(s["width_in"]) - kk + 1
                Hp, Wq = Ho // pool, Wo // pool
                A = A.reshape(B, Ho, Wo, cout)[:, :Hp * pool, :Wq * pool]
                A = A.reshape(B, Hp, pool, Wq, pool, cout).max(axis=(2, 4))
                x = A.transpose(0, 3, 1, 2)
    return W, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=6000)
    a = ap.parse_args()
    out = "bench/out"
    os.makedirs(os.path.join(ROOT, out), exist_ok=True)
    sec = {}
    for prec in ("double", "float"):
        path = f"{out}/conv_{prec}.h5"
        run(["./khsim", "conv", "examples/conv_mnist.ini", "--quiet", "--force", "-o", path,
             "--set", f"input.samples={a.images}", "--set", "learning.epochs=1",
             "--set", f"solver.precision={prec}", "--set", "input.path=data/mnist"])
        with h5py.File(os.path.join(ROOT, path), "r") as f:
            sec[prec] = float(f["conv/epoch_seconds"][0])
    X = idx_images(os.path.join(ROOT, "data/mnist/train-images-idx3-ubyte"), a.images)
    with h5py.File(os.path.join(ROOT, f"{out}/conv_double.h5"), "r") as f:
        Wd, tnd = peer(f, X, np.float64)
        diff = max(float(np.max(np.abs(Wd[l] - f[f"conv/layer{l + 1}/W"][-1])))
                   for l in range(len(Wd)))
        scale = max(float(np.max(np.abs(f[f"conv/layer{l + 1}/W"][-1]))) for l in range(len(Wd)))
        _, tnf = peer(f, X, np.float32)
    print(f"\nkhsim conv, the slides' two layers, {a.images} MNIST digits, 1 epoch "
          f"({a.images // 16} minibatches of 16), {os.cpu_count()} cores")
    print(f"  {'':28s} {'s / epoch':>10s} {'numpy / khsim':>14s}")
    print(f"  {'khsim, double':28s} {sec['double']:10.3f}")
    print(f"  {'numpy peer, float64':28s} {tnd:10.3f} {tnd / sec['double']:13.1f}x")
    print(f"  {'khsim, float':28s} {sec['float']:10.3f}")
    print(f"  {'numpy peer, float32':28s} {tnf:10.3f} {tnf / sec['float']:13.1f}x")
    print(f"  final W, numpy float64 against khsim double: max |diff| {diff:.2e} "
          f"(max |W| {scale:.3g})")
    if diff > 1e-9 * max(scale, 1.0):
        raise SystemExit("the peer and khsim disagree")


if __name__ == "__main__":
    main()
