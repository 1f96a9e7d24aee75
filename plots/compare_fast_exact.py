#!/usr/bin/python3
"""The fast rule against the exact dynamics (khsim compare's /comparison):
winner agreement and agreement of the g entries along the samples, the angle
between the two weight updates, the per-unit cosine of the final weights, and
the distribution of |B_mu - R^p| for the exact run and both fast passes."""
import numpy as np

import _khplot as K


def running_mean(x, w):
    w = max(1, min(w, len(x)))
    c = np.cumsum(np.insert(np.asarray(x, dtype=float), 0, 0.0))
    return (c[w:] - c[:-w]) / w


def main():
    a = K.args(__doc__).parse_args()
    f = K.open_run(a.file)
    if "comparison" not in f:
        raise SystemExit(f"{a.file} has no /comparison: make it with khsim compare")
    c = f["comparison"]
    batch = int(c.attrs["batch"])
    win, gag, ang = c["winner_agree"][:], c["g_agree"][:], c["update_angle"][:]
    s = np.arange(len(win))
    fig, ax = K.plt.subplots(2, 2, figsize=(11, 7.5))
    w = max(1, len(win) // 20)
    ax[0, 0].plot(s[w - 1:], 100 * running_mean(win, w), label="winner agrees")
    ax[0, 0].plot(s[w - 1:], 100 * running_mean(gag, w), label="entries of g agree")
    ax[0, 0].set_ylim(-2, 102)
    ax[0, 0].set_xlabel("sample")
    ax[0, 0].set_ylabel(f"% (running mean over {w})")
    ax[0, 0].legend(fontsize=8)
    ax[0, 1].plot(s, ang, ".", ms=3)
    ax[0, 1].set_xlabel("sample")
    ax[0, 1].set_ylabel("angle between updates (deg)")
    ax[0, 1].set_title(f"median {np.nanmedian(ang):.1f} deg", fontsize=9)
    bins = np.linspace(-1, 1, 41)
    ax[1, 0].hist(c["unit_cosine_batch1"][:], bins=bins, alpha=0.6, label="fast, batch 1")
    ax[1, 0].hist(c["unit_cosine_batch"][:], bins=bins, alpha=0.6, label=f"fast, batch {batch}")
    ax[1, 0].set_xlabel("cos(W_exact_mu, W_fast_mu) at the end")
    ax[1, 0].set_ylabel("units")
    ax[1, 0].legend(fontsize=8)
    devs = [c["sphere_dev_exact"][:], c["sphere_dev_batch1"][:], c["sphere_dev_batch"][:]]
    ax[1, 1].boxplot(devs, labels=["exact", "fast b=1", f"fast b={batch}"])
    ax[1, 1].set_ylabel("|B_mu - R^p| at the end")
    fig.suptitle(f"fast rule vs exact ({K.param(f, 'solver.method')}), "
                 f"w_inh = {K.param(f, 'network.w_inh'):g}")
    K.save(fig, a.file, a.out, "compare", a.format)


if __name__ == "__main__":
    main()
