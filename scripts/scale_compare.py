#!/usr/bin/python3
"""The exact dynamics against the fast rule at the paper's scale: the numbers
and the figure of docs/scale.md, from four khsim records.

    /usr/bin/python3 scripts/scale_compare.py output/scale_exact.h5 \\
        output/scale_fast.h5 output/train_scale_exact.h5 output/train_scale_fast.h5 \\
        --mnist data/mnist --out output/figures   (scripts/scale_study.sh runs it all)

For each learned W (the last /snapshots/W of each run; W(0) is the first
row, the same in both, or the fast run's when the exact run goes on from an
earlier one, init.weights = file):
  * the sphere: B_mu = sum_i |W_mu,i|^p against R^p, over the units whose
    row moved from W(0) by more than 1e-3 (the units that learned);
  * the winners on the 10 000 test digits: argmax_mu of
    I_mu = sum_i sgn(W_mu,i) |W_mu,i|^(p-1) v_i (the unit that the fast rule
    ranks first, and the one with the largest input current of the exact
    network); the fraction of digits whose winner is the same unit under
    both W, and how many distinct units win;
  * the readout's test error, from the two `khsim train --set
    train.features=file` records.
The figure shows, for each W, the receptive fields of the 25 units that win
the most test digits, on one symmetric colour scale per panel.
"""
import argparse
import gzip
import os

import h5py
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, -1) / 255.0


def test_images(mnist):
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        path = os.path.join(mnist, name)
        if os.path.exists(path):
            return read_idx(path)
    raise SystemExit(f"{mnist}: no t10k-images-idx3-ubyte (run make data)")


def param(f, key):
    v = f["params"].attrs[key]
    return v.decode() if isinstance(v, bytes) else v


def winners(W, p, V):
    Wp = np.sign(W) * np.abs(W) ** (p - 1)
    return np.argmax(V @ Wp.T, axis=1)


def describe(name, W, W0, p, R):
    moved = np.max(np.abs(W - W0), axis=1) > 1e-3
    B = np.sum(np.abs(W) ** p, axis=1)
    dev = np.abs(B - R**p)
    out = {"moved": int(moved.sum())}
    if moved.any():
        d = dev[moved]
        out.update(median=float(np.median(d)), p90=float(np.percentile(d, 90)),
                   max=float(d.max()), within=float(np.mean(d < 1e-2)))
    return out


def fields(ax_grid, W, counts, title, fig):
    top = np.argsort(-counts)[:25]
    vmax = float(np.max(np.abs(W[top]))) or 1.0
    image = None
    for k, ax in enumerate(ax_grid.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        u = top[k]
        image = ax.imshow(W[u].reshape(28, 28), cmap="bwr", vmin=-vmax, vmax=vmax)
        ax.set_title(f"{u} ({counts[u]})", fontsize=6)
    fig.suptitle(title + ": the 25 units that win the most test digits (unit (wins))")
    fig.colorbar(image, ax=ax_grid.ravel().tolist(), shrink=0.6, label="W")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exact")
    ap.add_argument("fast")
    ap.add_argument("train_exact")
    ap.add_argument("train_fast")
    ap.add_argument("--mnist", default="data/mnist")
    ap.add_argument("--out", default="output/figures")
    ap.add_argument("--name", default="scale", help="the figure is NAME_receptive_fields.png")
    a = ap.parse_args()
    fe, ff = h5py.File(a.exact, "r"), h5py.File(a.fast, "r")
    p, R = float(param(fe, "network.p")), float(param(fe, "network.R"))
    W0 = ff["snapshots/W"][0]
    if str(param(fe, "init.weights")) == "file":
        # an exact run that goes on from an earlier one (scripts/scale_hour.sh's
        # later epochs): its first snapshot is where it went on from, and W(0)
        # is the fast run's, which the first exact epoch started from too
        print(f"{a.exact} goes on from {param(fe, 'init.path')}: W(0) is the fast run's")
    elif not np.array_equal(fe["snapshots/W"][0], W0):
        raise SystemExit("the two runs do not start from the same W(0)")
    We, Wf = fe["snapshots/W"][-1], ff["snapshots/W"][-1]
    V = test_images(a.mnist)
    win = {k: winners(W, p, V) for k, W in (("W(0)", W0), ("exact", We), ("fast", Wf))}
    m = W0.shape[0]
    print(f"m = {m}, p = {p:g}, R = {R:g}; exact: {fe['input/t_start'].shape[0]} "
          f"presentations, {float(fe['solver'].attrs['wall_seconds']):.0f} s; fast: "
          f"{ff['epochs/eps'].shape[0]} epochs, {float(ff['solver'].attrs['wall_seconds']):.0f} s")
    print("\n| W | units that moved | |B - R^p| median | 90 % | max | within 1e-2 | "
          "distinct winners | readout test error |")
    print("|---|---|---|---|---|---|---|---|")
    for name, W, tr in (("exact (reduced)", We, a.train_exact), ("fast rule", Wf, a.train_fast)):
        d = describe(name, W, W0, p, R)
        key = "exact" if name.startswith("exact") else "fast"
        with h5py.File(tr, "r") as t:
            err = float(t["train/test_error"][-1])
        print(f"| {name} | {d['moved']} | {d.get('median', float('nan')):.2e} | "
              f"{d.get('p90', float('nan')):.2e} | {d.get('max', float('nan')):.2e} | "
              f"{100 * d.get('within', 0):.1f} % | {len(np.unique(win[key]))} | "
              f"{100 * err:.2f} % |")
    agree = float(np.mean(win["exact"] == win["fast"]))
    print(f"\nwinner agreement on {len(V)} test digits: exact vs fast {100 * agree:.2f} %, "
          f"exact vs W(0) {100 * np.mean(win['exact'] == win['W(0)']):.2f} %, "
          f"fast vs W(0) {100 * np.mean(win['fast'] == win['W(0)']):.2f} %")
    cos = np.sum(We * Wf, 1) / (np.linalg.norm(We, axis=1) * np.linalg.norm(Wf, axis=1))
    print(f"cosine between a unit's exact and fast rows: median {np.median(cos):.3f}, "
          f"10 % {np.percentile(cos, 10):.3f}, 90 % {np.percentile(cos, 90):.3f}")
    fig = plt.figure(figsize=(15, 7.5))
    sub = fig.subfigures(1, 2)
    for s, (name, W, key) in zip(sub, (("exact dynamics (reduced)", We, "exact"),
                                       ("fast rule", Wf, "fast"))):
        grid = s.subplots(5, 5, squeeze=False)
        counts = np.bincount(win[key], minlength=m)
        fields(grid, W, counts, name, s)
    os.makedirs(a.out, exist_ok=True)
    dest = os.path.join(a.out, f"{a.name}_receptive_fields.png")
    fig.savefig(dest, dpi=100, bbox_inches="tight")
    print(dest)


if __name__ == "__main__":
    main()
