"""make test's check of the Python package (python/khsim): khsim.load on a
run, a fast-rule run, a training and a sweep index gives named dimensions,
the record's coordinates and values, units and descriptions; khsim.run runs
the binary with overrides.

    PYTHONPATH=python python3 tests/python_load.py RUN.h5 FAST.h5 TRAIN.h5 INDEX.h5 STUDY.ini OUT.h5
"""
import sys

import h5py
import numpy as np

import khsim


def main(run, fast, train, index, study, out):
    ds = khsim.load(run)
    assert ds.h.dims == ("time", "unit"), ds.h.dims
    assert ds.W.dims == ("snapshot", "unit", "input"), ds.W.dims
    with h5py.File(run, "r") as f:
        assert np.array_equal(ds.time.values, f["trajectory/t"][()])
        assert np.array_equal(ds.h.values, f["trajectory/h"][()])
        assert np.array_equal(ds.snapshot_time.values, f["snapshots/t"][()])
    assert ds.attrs["status"] == "complete", ds.attrs["status"]
    assert ds.pnorm.attrs["units"] == "weight^p" and "B_mu" in ds.pnorm.attrs["description"]
    assert ds.h.sel(unit=0).dims == ("time",)
    fs = khsim.load(fast)
    assert fs.epochs_eps.dims == ("epoch",), fs.epochs_eps.dims
    ts = khsim.load(train)
    errs = [v for v in ts.data_vars if v.startswith("train_") and "error" in v]
    assert errs and all(ts[v].dims == ("train_epoch",) for v in errs), errs
    ix = khsim.load(index)
    assert ix.points_status.dims == ("point",) and ix.sizes["point"] >= 2, dict(ix.sizes)
    rs = khsim.run(study, out, network__w_inh=0.8)
    assert rs.attrs["params.network.w_inh"] == 0.8, rs.attrs["params.network.w_inh"]
    print(f"khsim.load: {len(ds.data_vars)} variables of a run, {len(fs.data_vars)} of a fast "
          f"run, {len(ts.data_vars)} of a training, {len(ix.data_vars)} of a sweep index")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:7]))
