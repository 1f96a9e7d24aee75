#!/usr/bin/python3
"""khsim kcap's record: the 2-D data and, for each network (no plasticity,
the Hebbian rule, the learned rule with the hard cap, the RNN and the MLP
trained by backprop), its latent states on their two principal axes aligned
to the data (what the earth mover's distance compares), coloured by class,
with the distance in the title (the seed's Figs. 2b and 3b); then the
losses: the meta-training's objective, the one-step objective of the two
local rules, and the backprop training (its Fig. 2c)."""
import numpy as np

import _khplot as K

NETS = [("none", "no plasticity"), ("hebb", "Hebbian rule"), ("learned", "learned rule"),
        ("rnn_bp", "RNN, backprop"), ("mlp_bp", "MLP, backprop")]


def main():
    a = K.args(__doc__).parse_args()
    f = K.open_run(a.file)
    k = f["kcap"]
    z, lab = k["data/z"][()], k["data/label"][()]
    data = K.param(f, "kcap.data")
    fig, axes = K.plt.subplots(1, len(NETS) + 1, figsize=(3.0 * (len(NETS) + 1), 3.0))
    zz = (z - z.mean(0)) / np.sqrt(((z - z.mean(0)) ** 2).sum(1).mean())
    axes[0].scatter(zz[:, 0], zz[:, 1], c=lab, s=6, cmap="coolwarm")
    axes[0].set_title(f"{data}: the 2-D points")
    for ax, (g, name) in zip(axes[1:], NETS):
        y = k[f"{g}/latent2d"][()]
        ax.scatter(y[:, 0], y[:, 1], c=lab, s=6, cmap="coolwarm")
        ax.set_title(f"{name}\nEMD {k[g].attrs['emd']:.3f}", fontsize=9)
    for ax in axes:
        ax.set_aspect("equal", "datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    K.save(fig, a.file, a.out, "kcap_latents", a.format)
    fig, (ax, bx, cx) = K.plt.subplots(1, 3, figsize=(12, 3.4))
    ml = k["meta/loss"][()]
    ax.semilogy(np.arange(1, len(ml) + 1), ml, "o-")
    ax.set_xlabel("meta-training pass")
    ax.set_ylabel("one-step loss (soft cap)")
    ax.set_title("meta-training")
    for g, name in NETS[1:3]:
        loss = k[f"{g}/loss"][()]
        bx.semilogy(np.arange(1, len(loss) + 1), loss, "o-", label=name)
    bx.axhline(k["none"].attrs["final_loss"], color="k", ls="--", lw=0.8, label="no plasticity")
    bx.set_xlabel("pass over the data")
    bx.set_ylabel("|M'(x) - x|^2 one step after (hard cap)")
    bx.set_title("the seed's objective")
    bx.legend(fontsize=7)
    for g, name in NETS[3:]:
        loss = k[f"{g}/loss"][()]
        cx.semilogy(np.arange(1, len(loss) + 1), loss, label=f"{name} (final, hard cap: "
                    f"{k[g].attrs['final_loss']:.2f})")
    cx.set_xlabel("epoch")
    cx.set_ylabel("autoencoding loss (soft cap)")
    cx.set_title("backprop")
    cx.legend(fontsize=7)
    K.save(fig, a.file, a.out, "kcap_losses", a.format)


if __name__ == "__main__":
    main()
