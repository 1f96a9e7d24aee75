#!/usr/bin/python3
"""Held-out accuracy under FGSM against eps for one or more khsim train
records made with train.fgsm_eps (eps = 0 is the clean test accuracy); each
record is labelled by its train.features."""
import argparse
import os

import numpy as np

import _khplot as K


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", nargs="+", help="khsim train records with /fgsm")
    ap.add_argument("--out", default="output/figures")
    ap.add_argument("--format", default=os.environ.get("FORMAT", "png"),
                    choices=("png", "pdf", "svg"))
    a = ap.parse_args()
    fig, ax = K.plt.subplots(figsize=(5.5, 3.8))
    for path in a.files:
        f = K.open_run(path)
        if "fgsm" not in f:
            raise SystemExit(f"{path}: no /fgsm (run khsim train with train.fgsm_eps)")
        eps = np.concatenate([[0.0], f["fgsm/eps"][()]])
        acc = np.concatenate([[1.0 - f["train/test_error"][-1]], f["fgsm/accuracy"][()]])
        feat = K.param(f, "train.features")
        label = {"learned": "fast rule + readout (Krotov-Hopfield)",
                 "backprop": "end to end (backprop)"}.get(feat, feat)
        ax.plot(255 * eps, 100 * acc, "o-", label=f"{label}, n = {K.param(f, 'train.power'):g}")
    ax.set_xlabel("FGSM eps (x 1/255)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("MNIST classifiers under FGSM")
    ax.legend(fontsize=7)
    K.save(fig, a.files[0], a.out, "fgsm", a.format)


if __name__ == "__main__":
    main()
