"""Shared helpers of the plot scripts: open a khsim file, save a figure.

Plots read only what khsim recorded (README, "The record", and docs/record.md); they hold no
model math. Run with Debian's /usr/bin/python3 (h5py and matplotlib from
python3-h5py and python3-matplotlib)."""
import argparse
import os

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def args(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("file", help="a khsim .h5 file")
    ap.add_argument("--out", default="output/figures", help="directory for the figure")
    ap.add_argument("--format", default=os.environ.get("FORMAT", "png"),
                    choices=("png", "pdf", "svg"), help="the figure's format (default png, "
                    "or $FORMAT: make plots FORMAT=pdf)")
    return ap


def open_run(path):
    try:
        return h5py.File(path, "r")
    except OSError:
        return h5py.File(path, "r", swmr=True)  # a live record, or one whose run was killed


def snapshot_title(f, row):
    """When snapshot `row` was taken: "after epoch E" for the fast rule with a
    snapshot per epoch, else "at t = T"."""
    rows = f["snapshots/t"].shape[0]
    row = row % rows
    if "epochs/eps" in f and int(f["params"].attrs.get("output.snapshot_batches", 0)) == 0:
        return "at the start" if row == 0 else f"after epoch {row}"
    return f"at t = {f['snapshots/t'][row]:g}"


def param(f, key):
    v = f["params"].attrs[key]
    return v.decode() if isinstance(v, bytes) else v


def save(fig, path, out, name, fmt="png"):
    os.makedirs(out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(path))[0]
    dest = os.path.join(out, f"{stem}_{name}.{fmt}")
    fig.savefig(dest, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(dest)
    return dest


def presentation_starts(ax, f):
    """Thin vertical lines where each presentation starts (for at most 60)."""
    ts = f["input/t_start"][:]
    if len(ts) <= 60:
        for t in ts[1:]:
            ax.axvline(t, color="0.8", lw=0.6, zorder=0)
