#!/usr/bin/python3
"""Weight snapshots as a grid of receptive fields: red positive, blue negative,
white zero, one symmetric colour scale per unit (Krotov & Hopfield, Fig. 3)."""
import math

import numpy as np

import _khplot as K


def main():
    ap = K.args(__doc__)
    ap.add_argument("--snapshot", type=int, default=-1, help="row of /snapshots/W (default: last)")
    ap.add_argument("--units", type=int, default=100, help="at most this many units")
    a = ap.parse_args()
    f = K.open_run(a.file)
    W = f["snapshots/W"][a.snapshot]
    t = f["snapshots/t"][a.snapshot]
    m, n = W.shape
    m = min(m, a.units)
    side = int(round(math.sqrt(n)))
    shape = (side, side) if side * side == n else (1, n)
    cols = int(math.ceil(math.sqrt(m)))
    rows = int(math.ceil(m / cols))
    fig, axes = K.plt.subplots(rows, cols, figsize=(1.4 * cols, 1.4 * rows + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= m:
            ax.axis("off")
            continue
        w = W[k].reshape(shape)
        vmax = np.max(np.abs(w)) or 1.0
        ax.imshow(w, cmap="bwr", vmin=-vmax, vmax=vmax, aspect="auto" if shape[0] == 1 else "equal")
        ax.set_title(str(k), fontsize=7)
    fig.suptitle(f"receptive fields at t = {t:g}")
    K.save(fig, a.file, a.out, "receptive_fields")


if __name__ == "__main__":
    main()
