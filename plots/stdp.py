#!/usr/bin/python3
"""khsim stdp's record: train and test accuracy per epoch of the STDP
network and of backprop (the seed's Fig. 2), and their test accuracy under
FGSM against eps, eps = 0 included (its Fig. 3)."""
import numpy as np

import _khplot as K


def main():
    a = K.args(__doc__).parse_args()
    f = K.open_run(a.file)
    s = f["stdp"]
    c0, c1 = int(s.attrs["class0"]), int(s.attrs["class1"])
    fig, (ax, bx) = K.plt.subplots(1, 2, figsize=(10, 3.8))
    colours = {"stdp": "tab:blue", "bp": "tab:red"}
    names = {"stdp": "STDP rule", "bp": "backprop (BCE)"}
    for w in ("stdp", "bp"):
        tr, te = s[f"{w}_train_accuracy"][()], s[f"{w}_test_accuracy"][()]
        e = np.arange(1, len(tr) + 1)
        ax.plot(e, 100 * tr, "--", color=colours[w], label=f"{names[w]}, train")
        ax.plot(e, 100 * te, "-", color=colours[w], label=f"{names[w]}, test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"class {c0} (y = 0) against {c1} (y = 1)")
    ax.legend(fontsize=7)
    if "fgsm" in f:
        eps = np.concatenate([[0.0], f["fgsm/eps"][()]])
        acc = f["fgsm/accuracy"][()]
        for row, w in enumerate(("stdp", "bp")):
            clean = s[f"{w}_test_accuracy"][-1]
            bx.plot(255 * eps, 100 * np.concatenate([[clean], acc[row]]), "o-",
                    color=colours[w], label=names[w])
        bx.set_xlabel("FGSM eps (x 1/255)")
        bx.set_ylabel("test accuracy (%)")
        bx.set_title("under attack")
        bx.legend(fontsize=7)
    K.save(fig, a.file, a.out, "stdp", a.format)


if __name__ == "__main__":
    main()
