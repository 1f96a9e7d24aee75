#!/usr/bin/python3
"""A sweep's points from its index (khsim sweep's index.h5). For a sweep of
trainings (command = train): the readout's final train and test error
against the swept key (the paper's Fig. 4 for train.power). Otherwise the
receptive fields of each point's last snapshot, one panel per point, laid
out by the first two swept keys (the talk's panels over p and delta): the
first units of each W on that panel's own symmetric colour scale."""
import math

import numpy as np

import _khplot as K

FIXED = {"status", "steps", "verify", "wall_seconds"}


def swept(points):
    """The swept keys that take more than one value, in the index's order."""
    keys = [k for k in points if k not in FIXED and len(np.unique(points[k][()])) > 1]
    return keys or [k for k in points if k not in FIXED][:1]


def errors(f, a, keys):
    pts = f["points"]
    key = keys[0]
    x = pts[key][()]
    tr, te = [], []
    for i in range(len(x)):
        g = f[f"point/{i:04d}/train"]
        tr.append(100 * g["train_error"][-1])
        te.append(100 * g["test_error"][-1])
    order = np.argsort(x)
    fig, ax = K.plt.subplots(figsize=(5, 3.5))
    ax.plot(x[order], np.array(tr)[order], "o-", color="tab:blue", label="train")
    ax.plot(x[order], np.array(te)[order], "o-", color="tab:red", label="test")
    best = order[int(np.argmin(np.array(te)[order]))]
    ax.set_xlabel(key)
    ax.set_ylabel("error after the last readout epoch (%)")
    ax.set_title(f"lowest test error {te[best]:.1f} % at {key} = {x[best]:g}")
    ax.legend()
    return fig


def fields(f, a, keys):
    pts = f["points"]
    rkey, ckey = keys[0], keys[1] if len(keys) > 1 else None
    rows = list(np.unique(pts[rkey][()]))
    cols = list(np.unique(pts[ckey][()])) if ckey else [None]
    fig, axes = K.plt.subplots(len(rows), len(cols), figsize=(2.2 * len(cols) + 0.6,
                                                              2.2 * len(rows) + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    side_units = int(math.isqrt(a.units))
    for i in range(len(pts[rkey])):
        r = rows.index(pts[rkey][i])
        c = cols.index(pts[ckey][i]) if ckey else 0
        W = f[f"point/{i:04d}/snapshots/W"][-1][: side_units * side_units]
        n = W.shape[1]
        s = int(round(math.sqrt(n)))
        if s * s != n:
            raise SystemExit(f"point {i}: {n} inputs are not a square image")
        tile = np.zeros((side_units * (s + 1), side_units * (s + 1)))
        for k in range(W.shape[0]):
            y, x = divmod(k, side_units)
            vmax = float(np.max(np.abs(W[k]))) or 1.0
            tile[y * (s + 1): y * (s + 1) + s, x * (s + 1): x * (s + 1) + s] = \
                W[k].reshape(s, s) / vmax
        ax = axes[r][c]
        ax.imshow(tile, cmap="bwr", vmin=-1, vmax=1)
        ax.set_title(f"{rkey.split('.')[-1]} = {rows[r]:g}" +
                     (f", {ckey.split('.')[-1]} = {cols[c]:g}" if ckey else ""), fontsize=8)
    fig.suptitle("receptive fields per point (each unit on its own colour scale)")
    return fig


def main():
    ap = K.args(__doc__)
    ap.add_argument("--units", type=int, default=16, help="units per panel (a square number)")
    ap.add_argument("--rows", default="", help="the swept key whose values make the rows "
                    "(default: the first in the index)")
    a = ap.parse_args()
    f = K.open_run(a.file)
    keys = swept(f["points"])
    if a.rows:
        if a.rows not in keys:
            raise SystemExit(f"--rows {a.rows}: the swept keys are {', '.join(keys)}")
        keys = [a.rows] + [k for k in keys if k != a.rows]
    is_train = "train" in f["point/0000"]
    fig = errors(f, a, keys) if is_train else fields(f, a, keys)
    K.save(fig, a.file.replace("/index.h5", ".h5"), a.out, "errors" if is_train else "fields",
           a.format)


if __name__ == "__main__":
    main()
