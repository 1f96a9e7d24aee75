#!/usr/bin/python3
"""The evolution of receptive fields: a row per snapshot (by default the
first, three in between and the last), the same units in every row, each
row on its own symmetric colour scale (Manzali's slides, Fig. 6)."""
import math

import numpy as np

import _khplot as K


def main():
    ap = K.args(__doc__)
    ap.add_argument("--units", type=int, default=12, help="this many units (the first ones)")
    ap.add_argument("--snapshots", default="", help="comma-separated rows of /snapshots/W "
                    "(default: five spread over the run)")
    a = ap.parse_args()
    f = K.open_run(a.file)
    S = f["snapshots/W"]
    rows = ([int(r) for r in a.snapshots.split(",")] if a.snapshots else
            sorted(set(int(round(x)) for x in np.linspace(0, S.shape[0] - 1, 5))))
    m, n = S.shape[1], S.shape[2]
    units = min(a.units, m)
    side = int(round(math.sqrt(n)))
    shape = (side, side) if side * side == n else (1, n)
    fig, axes = K.plt.subplots(len(rows), units, figsize=(1.2 * units + 1.2, 1.3 * len(rows)),
                               squeeze=False)
    for i, r in enumerate(rows):
        W = S[r][:units]
        vmax = float(np.max(np.abs(W))) or 1.0
        for k in range(units):
            ax = axes[i][k]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(W[k].reshape(shape), cmap="bwr", vmin=-vmax, vmax=vmax,
                      aspect="auto" if shape[0] == 1 else "equal")
            if i == 0:
                ax.set_title(str(k), fontsize=7)
        axes[i][0].set_ylabel(K.snapshot_title(f, r), fontsize=7)
    fig.suptitle("receptive fields (each row on its own colour scale)")
    K.save(fig, a.file, a.out, "fields_evolution", a.format)


if __name__ == "__main__":
    main()
