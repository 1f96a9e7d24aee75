"""Checks a record whose writer was killed (SIGKILL) against the complete
record of the same study: it opens (as a record still marked open for
writing: h5py's swmr=True), every dataset reads whole, its status is still
"running", and each row it holds equals the complete record's row.

    python3 tests/killed_record.py KILLED.h5 COMPLETE.h5

Exit 0 when all hold; otherwise prints what failed and exits 1.
"""
import sys

import h5py
import numpy as np


def main(killed, complete):
    bad = []
    with h5py.File(killed, "r", swmr=True) as f, h5py.File(complete, "r") as ref:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in names:
            try:
                x = f[name][()]
            except Exception as e:  # a chunk that does not decompress, an address past the end
                bad.append(f"{name}: cannot be read: {e}")
                continue
            if name.startswith(("trajectory/", "snapshots/", "input/")):
                y = ref[name][: x.shape[0]]
                if x.shape[0] > ref[name].shape[0] or not np.array_equal(x, y):
                    bad.append(f"{name}: its {x.shape[0]} rows differ from the complete record's")
        status = f.attrs["status"]
        status = status.decode() if isinstance(status, bytes) else status
        if status != "running":
            bad.append(f"status {status!r}, not 'running'")
        rows = f["trajectory/t"].shape[0]
        snaps = f["snapshots/t"].shape[0]
        if snaps < 1 or f["snapshots/state"].shape[0] < snaps:
            bad.append(f"{snaps} snapshots, {f['snapshots/state'].shape[0]} states")
    for b in bad:
        print(f"{killed}: {b}")
    if not bad:
        print(f"{killed}: {rows} rows, {snaps} snapshots, each equal to the complete record's")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
