#!/usr/bin/python3
"""khsim conv's record: the filters of every layer after the last epoch (the
first layer as Manzali's Fig. 8, the second as his Fig. 9: one row per
filter, one tile per input channel), and how each filter trained: the
images it won per epoch and its relative change per epoch. Prints, per
filter, its wins, the last epoch it won in, the epoch from which it stopped
training (from there on, its change in every epoch below --still times the
median change of its layer's filters in that epoch: a measure that the
falling learning rate does not trigger by itself) and its distance from
the sphere, and marks the filters that stopped early."""
import numpy as np

import _khplot as K


def stopped_epoch(change, median, still):
    """The first epoch from which the filter's change stays below `still`
    times its layer's median change, or None when it trained to the end."""
    moving = np.nonzero(change >= still * median)[0]
    if len(moving) == 0:
        return 0
    last = int(moving[-1])
    return None if last == len(change) - 1 else last + 1


def tile(ax, w, title=None):
    v = np.max(np.abs(w)) or 1.0
    ax.imshow(w, cmap="bwr", vmin=-v, vmax=v)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def main():
    ap = K.args(__doc__)
    ap.add_argument("--still", type=float, default=0.01,
                    help="a filter is still in an epoch when its change is below this fraction "
                    "of its layer's median change (default 0.01)")
    a = ap.parse_args()
    f = K.open_run(a.file)
    conv = f["conv"]
    layers = int(conv.attrs["layers"])
    epochs = conv["eps"].shape[0]
    p = float(K.param(f, "network.p"))
    R = float(K.param(f, "network.R"))
    print(f"{a.file}: {layers} layers, {epochs} epochs; a filter 'stopped' at the first epoch "
          f"from which its change per epoch stays below {a.still:g} x its layer's median")
    print("layer filter  wins  last_win  stopped  |sum|W|^p - R^p|")
    for l in range(1, layers + 1):
        g = conv[f"layer{l}"]
        cin, k = int(g.attrs["channels_in"]), int(g.attrs["kernel"])
        W = g["W"][-1]
        C = W.shape[0]
        wins = g["wins"][()] if epochs else np.zeros((0, C))
        change = g["change"][()] if epochs else np.zeros((0, C))
        pn = g["pnorm"][-1]
        median = np.median(change, axis=1) if epochs else np.zeros(0)
        stop = [stopped_epoch(change[:, c], median, a.still) if epochs else 0 for c in range(C)]
        early = 0
        for c in range(C):
            tot = int(wins[:, c].sum())
            last = int(g["last_win_epoch"][c]) if epochs else -1
            s = "-" if stop[c] is None else str(stop[c])
            early += stop[c] is not None and stop[c] < epochs
            print(f"{l:5d} {c:6d} {tot:5d} {last:9d} {s:>8} {abs(pn[c] - R ** p):17.3g}")
        print(f"layer {l}: {early} of {C} filters stopped before the last epoch")
        # The filters: a row per filter, a tile per input channel.
        cols = cin if cin > 1 else min(C, 8)
        rows = C if cin > 1 else (C + cols - 1) // cols
        fig, axes = K.plt.subplots(rows, cols, figsize=(0.9 * cols + 0.5, 0.9 * rows + 0.6),
                                   squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for c in range(C):
            w = W[c].reshape(cin, k, k)
            for ci in range(cin):
                ax = axes[c, ci] if cin > 1 else axes.flat[c]
                ax.axis("on")
                mark = " (stopped)" if stop[c] is not None and stop[c] < epochs else ""
                tile(ax, w[ci], f"{c}{mark}" if ci == 0 else None)
        fig.suptitle(f"layer {l}: {C} filters of {cin} x {k} x {k} after epoch {epochs}"
                     + (" (rows: filters, columns: input channels)" if cin > 1 else ""),
                     fontsize=9)
        K.save(fig, a.file, a.out, f"conv_layer{l}", a.format)
        if epochs:
            fig, (ax, bx) = K.plt.subplots(1, 2, figsize=(10, 3.6))
            im = ax.imshow(wins.T, aspect="auto", cmap="viridis", interpolation="nearest",
                           extent=(0.5, epochs + 0.5, C - 0.5, -0.5))
            fig.colorbar(im, ax=ax, label="images won")
            ax.set_xlabel("epoch")
            ax.set_ylabel("filter")
            ax.set_title(f"layer {l}: images each filter won")
            for c in range(C):
                bx.semilogy(np.arange(1, epochs + 1), np.maximum(change[:, c], 1e-12),
                            lw=0.8, alpha=0.8)
            bx.semilogy(np.arange(1, epochs + 1), a.still * median, "k--", lw=0.8)
            bx.set_xlabel("epoch")
            bx.set_ylabel("||W_c(after) - W_c(before)|| / ||W_c(before)||")
            bx.set_title(f"layer {l}: change per epoch (dashed: --still x median)")
            K.save(fig, a.file, a.out, f"conv_layer{l}_training", a.format)


if __name__ == "__main__":
    main()
