#!/usr/bin/python3
"""The table of docs/kcap.md from the records of scripts/kcap_study.sh: per
data set, the mean over seeds (range in brackets) of the earth mover's
distance of each network's latent states to the 2-D points, and of the
seed's objective (the loss one step after each update) and the final
autoencoding loss with the hard cap; the seed's own EMD beside them; and
the semi-supervised readout's test accuracy with 4 and 64 labelled samples
of each class, on the inputs and on each network's latent states."""
import glob
import os
import sys

import h5py
import numpy as np

SEED = {"moons": (0.1415, 0.285), "blobs": (0.565, 0.4635), "circles": (0.0205, 0.121)}
NETS = [("rnn_bp", "RNN, backprop"), ("mlp_bp", "MLP, backprop"), ("hebb", "RNN, Hebbian"),
        ("learned", "RNN, learned rule"), ("none", "RNN, no plasticity")]


def cell(v):
    v = np.asarray(v)
    return f"{v.mean():.3f} [{v.min():.3f}, {v.max():.3f}]"


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "output/kcap"
    print("| data | seed's RNN / MLP | " + " | ".join(n for _, n in NETS) + " |")
    print("|---" * (len(NETS) + 2) + "|")
    rows = {}
    for data in ("moons", "blobs", "circles"):
        files = sorted(glob.glob(os.path.join(d, f"{data}_s*.h5")))
        if not files:
            continue
        emd = {g: [] for g, _ in NETS}
        one = {"hebb": [], "learned": []}
        fin = {g: [] for g, _ in NETS}
        for p in files:
            with h5py.File(p, "r") as f:
                for g, _ in NETS:
                    emd[g].append(f[f"kcap/{g}"].attrs["emd"])
                    fin[g].append(f[f"kcap/{g}"].attrs["final_loss"])
                for g in one:
                    one[g].append(f[f"kcap/{g}/loss"][-1])
        rows[data] = (one, fin, len(files))
        s = SEED[data]
        print(f"| {data} ({len(files)} seeds) | {s[0]} / {s[1]} | "
              + " | ".join(cell(emd[g]) for g, _ in NETS) + " |")
    print()
    print("| data | one-step loss, Hebbian | one-step loss, learned | final loss: "
          + " | ".join(n for _, n in NETS) + " |")
    print("|---" * (len(NETS) + 3) + "|")
    for data, (one, fin, n) in rows.items():
        print(f"| {data} | {cell(one['hebb'])} | {cell(one['learned'])} | "
              + " | ".join(cell(fin[g]) for g, _ in NETS) + " |")
    print()
    semi = [("input", "the inputs")] + NETS
    print("| data, labels of each class | " + " | ".join(n for _, n in semi) + " |")
    print("|---" * (len(semi) + 1) + "|")
    for data in rows:
        files = sorted(glob.glob(os.path.join(d, f"{data}_s*.h5")))
        for L in (4, 64):
            acc = {g: [] for g, _ in semi}
            for p in files:
                with h5py.File(p, "r") as f:
                    k = list(f["kcap/semi_labels"][()]).index(L)
                    for g, _ in semi:
                        acc[g].append(f[f"kcap/{g}/semi_accuracy"][k])
            print(f"| {data}, {L} | " + " | ".join(cell(acc[g]) for g, _ in semi) + " |")


if __name__ == "__main__":
    main()
