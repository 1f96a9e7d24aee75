#!/usr/bin/python3
"""Unit activities h(t) with the input schedule (which sample is shown)."""
import numpy as np

import _khplot as K


def main():
    a = K.args(__doc__).parse_args()
    f = K.open_run(a.file)
    t, h, s = f["trajectory/t"][:], f["trajectory/h"][:], f["trajectory/sample"][:]
    fig, (ax, ax2) = K.plt.subplots(2, 1, figsize=(8, 5.5), sharex=True,
                                    gridspec_kw={"height_ratios": [4, 1]})
    for mu in range(h.shape[1]):
        ax.plot(t, h[:, mu], lw=0.9)
    ax.axhline(0, color="k", lw=0.5)
    h_star = K.param(f, "learning.h_star")
    if K.param(f, "learning.g") == "bcm_step":
        ax.axhline(h_star, color="k", lw=0.5, ls="--", label=f"h* = {h_star:g}")
        ax.legend(loc="upper right", fontsize=8)
    K.presentation_starts(ax, f)
    ax.set_ylabel("h (activity)")
    ax.set_title(f"{K.param(f, 'network.model')}: {h.shape[1]} units, "
                 f"w_inh = {K.param(f, 'network.w_inh'):g}")
    ax2.step(t, s, where="post", color="k", lw=0.8)
    ax2.set_ylabel("sample")
    ax2.set_xlabel("t")
    ax2.set_yticks(np.unique(s)[:10])
    K.save(fig, a.file, a.out, "activities", a.format)


if __name__ == "__main__":
    main()
