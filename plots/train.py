#!/usr/bin/python3
"""khsim train's record: train and test error per readout epoch (with the
baselines' test error when their files are given), and the receptive fields
of 25 randomly chosen units of the learned W (Krotov & Hopfield, Figs. 3, 5)."""
import math

import numpy as np

import _khplot as K


def main():
    ap = K.args(__doc__)
    ap.add_argument("--baseline", action="append", default=[],
                    help="another khsim train file (random W, pixels) to draw beside")
    ap.add_argument("--seed", type=int, default=0, help="which 25 units are drawn")
    a = ap.parse_args()
    f = K.open_run(a.file)
    t = f["train"]
    fig, ax = K.plt.subplots(figsize=(7, 4.5))
    e = np.arange(1, len(t["test_error"]) + 1)
    ax.semilogy(e, 100 * np.maximum(t["train_error"][:], 1e-3), label="train (learned W)")
    ax.semilogy(e, 100 * t["test_error"][:], label="test (learned W)")
    for b in a.baseline:
        g = K.open_run(b)["train"]
        name = g.attrs["features"]
        name = name.decode() if isinstance(name, bytes) else name
        eb = np.arange(1, len(g["test_error"]) + 1)
        ax.semilogy(eb, 100 * g["test_error"][:], ls="--", label=f"test ({name})")
    ax.set_xlabel("readout epoch")
    ax.set_ylabel("error (%)")
    final = 100 * t["test_error"][-1]
    ax.set_title(f"m = {t['S'].shape[1]}: test error {final:.2f} % after {len(e)} epochs")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    K.save(fig, a.file, a.out, "train_errors", a.format)

    if "W" not in t:
        return
    W = t["W"][...]
    m, n = W.shape
    rng = np.random.default_rng(a.seed)
    units = np.sort(rng.choice(m, size=min(25, m), replace=False))
    side = int(round(math.sqrt(n)))
    fig, axes = K.plt.subplots(5, 5, figsize=(7.8, 7.4))
    vmax = float(np.max(np.abs(W[units]))) or 1.0  # one scale for every unit shown
    image = None
    for ax, mu in zip(axes.flat, units):
        w = W[mu].reshape(side, side)
        image = ax.imshow(w, cmap="bwr", vmin=-vmax, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(mu), fontsize=7)
    for ax in list(axes.flat)[len(units):]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="W")
    fig.suptitle("25 random units of the learned W (red > 0, blue < 0)")
    K.save(fig, a.file, a.out, "train_fields", a.format)


if __name__ == "__main__":
    main()
