#!/usr/bin/python3
"""The Lyapunov function L(t) (with the sample shown) and its recorded dL/dt."""
import numpy as np

import _khplot as K


def main():
    a = K.args(__doc__).parse_args()
    f = K.open_run(a.file)
    t, L, dL = f["trajectory/t"][:], f["trajectory/lyapunov"][:], f["trajectory/dL_dt"][:]
    fig, (ax, ax2) = K.plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    if np.all(np.isnan(L)):
        ax.text(0.5, 0.5, f"model {K.param(f, 'network.model')} has no Lyapunov function",
                ha="center", transform=ax.transAxes)
    ax.plot(t, L, color="C0", lw=1)
    ax.set_ylabel("L = sum G(Q)")
    K.presentation_starts(ax, f)
    ax2.plot(t, dL, color="C3", lw=1)
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_ylabel("dL/dt")
    ax2.set_xlabel("t")
    K.presentation_starts(ax2, f)
    fig.suptitle(f"Lyapunov function, drive {K.param(f, 'learning.drive')}, "
                 f"g = {K.param(f, 'learning.g')}")
    K.save(fig, a.file, a.out, "lyapunov", a.format)


if __name__ == "__main__":
    main()
