#!/usr/bin/python3
"""Weight snapshots as a grid of receptive fields: red positive, blue negative,
white zero, on one symmetric colour scale shared by every unit, with its
colour bar, so that learned and random units compare (Krotov & Hopfield,
Fig. 3)."""
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
    m, n = W.shape
    m = min(m, a.units)
    side = int(round(math.sqrt(n)))
    shape = (side, side) if side * side == n else (1, n)
    cols = int(math.ceil(math.sqrt(m)))
    rows = int(math.ceil(m / cols))
    fig, axes = K.plt.subplots(rows, cols, figsize=(1.4 * cols + 0.8, 1.4 * rows + 0.4),
                               squeeze=False)
    vmax = float(np.max(np.abs(W[:m]))) or 1.0
    image = None
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= m:
            ax.axis("off")
            continue
        w = W[k].reshape(shape)
        image = ax.imshow(w, cmap="bwr", vmin=-vmax, vmax=vmax,
                          aspect="auto" if shape[0] == 1 else "equal")
        ax.set_title(str(k), fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="W")
    fig.suptitle(f"receptive fields {K.snapshot_title(f, a.snapshot)}")
    K.save(fig, a.file, a.out, "receptive_fields", a.format)


if __name__ == "__main__":
    main()
