#!/usr/bin/python3
"""B_mu(t) = sum_i |W_mui|^p approaching the sphere R^p, and |B - R^p| on a log scale."""
import numpy as np

import _khplot as K


def main():
    a = K.args(__doc__).parse_args()
    f = K.open_run(a.file)
    t, B = f["trajectory/t"][:], f["trajectory/pnorm"][:]
    p, R = K.param(f, "network.p"), K.param(f, "network.R")
    Rp = R ** p
    fig, (ax, ax2) = K.plt.subplots(1, 2, figsize=(10, 4))
    for mu in range(B.shape[1]):
        ax.plot(t, B[:, mu], lw=0.9)
        ax2.semilogy(t, np.maximum(np.abs(B[:, mu] - Rp), 1e-17), lw=0.9)
    ax.axhline(Rp, color="k", ls="--", lw=0.8, label=f"R^p = {Rp:g}")
    ax.legend(fontsize=8)
    ax.set_xlabel("t")
    ax.set_ylabel("B = sum |W|^p")
    ax2.set_xlabel("t")
    ax2.set_ylabel("|B - R^p|")
    ax2.axhline(1e-3 * Rp, color="0.5", ls=":", lw=0.8, label="verify's band")
    ax2.legend(fontsize=8)
    fig.suptitle(f"L^p sphere, p = {p:g}, drive {K.param(f, 'learning.drive')}")
    K.presentation_starts(ax, f)
    K.save(fig, a.file, a.out, "sphere", a.format)


if __name__ == "__main__":
    main()
