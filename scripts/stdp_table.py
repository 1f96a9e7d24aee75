#!/usr/bin/python3
"""The table of docs/stdp.md from khsim stdp records named
DIR/<data>_<c0>v<c1>_s<seed>.h5 (scripts/stdp_study.sh writes them): per
pair, the last epoch's test accuracy of the STDP network (and its best epoch's) and
of backprop, and their FGSM accuracies at each eps after the last epoch, as
the mean (and range) over the seeds."""
import glob
import os
import re
import sys

import h5py
import numpy as np


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "output/stdp"
    runs = {}
    for path in sorted(glob.glob(os.path.join(d, "*_*v*_s*.h5"))):
        m = re.match(r"(\w+)_(\d)v(\d)_s(\d+)\.h5", os.path.basename(path))
        if m:
            runs.setdefault(m.group(1, 2, 3), []).append(path)
    eps = None
    print("| data | pair | seeds | STDP test, last epoch | STDP test, best epoch | "
          "backprop test, last epoch | FGSM STDP (per eps) | FGSM backprop (per eps) |")
    print("|---|---|---|---|---|---|---|---|")
    for (data, c0, c1), paths in sorted(runs.items()):
        st, best, bp, fs, fb = [], [], [], [], []
        for p in paths:
            with h5py.File(p, "r") as f:
                st.append(f["stdp/stdp_test_accuracy"][-1])
                best.append(f["stdp/stdp_test_accuracy"][()].max())
                bp.append(f["stdp/bp_test_accuracy"][-1])
                fs.append(f["fgsm/accuracy"][0])
                fb.append(f["fgsm/accuracy"][1])
                eps = f["fgsm/eps"][()]

        def pct(x):
            x = 100 * np.asarray(x)
            return f"{x.mean():.2f} ({x.min():.2f}-{x.max():.2f})"

        fsm, fbm = 100 * np.mean(fs, axis=0), 100 * np.mean(fb, axis=0)
        print(f"| {data} | {c0} v {c1} | {len(paths)} | {pct(st)} | {pct(best)} | {pct(bp)} | "
              f"{' / '.join(f'{v:.2f}' for v in fsm)} | {' / '.join(f'{v:.2f}' for v in fbm)} |")
    if eps is not None:
        print(f"\neps = {' / '.join(f'{255 * e:g}/255' for e in eps)}")


if __name__ == "__main__":
    main()
