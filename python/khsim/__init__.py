"""khsim's records in Python.

    import khsim
    ds = khsim.load("output/default.h5")      # an xarray.Dataset
    ds.h.sel(unit=3).plot()                   # h of unit 3 against time
    ds = khsim.run("examples/default.ini", "/tmp/d.h5", network__w_inh=0.8)

load() reads a record (a run, a fast-rule run, a training, batched Euler, a
sweep's index, and the records of khsim conv, stdp and kcap) with h5py and returns an xarray.Dataset: each dataset of the
file is a variable with named dimensions (time, unit, input, snapshot,
presentation, epoch, ...), the record's coordinates (time = /trajectory/t,
snapshot_time = /snapshots/t, presentation_start = /input/t_start), its
`units` and `description` as the variable's attributes, and the file's root
attributes and /params as the dataset's attributes ("params.network.tau").
Variables are named by their dataset (h, W, v, ...) or, outside /trajectory,
/snapshots and /input, by their path (epochs_eps, train_S,
conv_layer1_W, kcap_hebb_latent). A record
still being written, or whose writer was killed, is read in HDF5's SWMR mode.
"""
import os
import shutil
import subprocess

import h5py
import numpy as np
import xarray as xr

__all__ = ["load", "run"]

# The name of the first axis of a dataset in each group.
_FIRST = {"trajectory": "time", "snapshots": "snapshot", "input": "presentation",
          "epochs": "epoch", "points": "point", "ensemble": "time"}
_BARE = ("trajectory", "snapshots", "input")


def _open(path):
    try:
        return h5py.File(path, "r")
    except OSError:
        return h5py.File(path, "r", swmr=True)  # live, or its writer was killed


def _text(x):
    return x.decode() if isinstance(x, bytes) else x


def _attr_value(x):
    x = _text(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _dims(group, name, d, known, base=None):
    """The dimension names of dataset d: its HDF5 labels, else the group's
    first axis, else the record's axis of that length (known: name -> size,
    in order of preference), else one of its own."""
    names = []
    for k in range(d.ndim):
        label = d.dims[k].label
        if label:
            names.append(label)
            continue
        if k == 0 and group in _FIRST and d.shape[0] == known.get(_FIRST[group], d.shape[0]):
            names.append(_FIRST[group])
            continue
        if k == 0 and group == "train" and d.ndim == 1:
            names.append("train_epoch")  # the readout's series; S and W are [class, unit]...
            continue
        for dim, size in known.items():
            if size == d.shape[k] and dim not in names and dim in ("time", "trajectory", "unit",
                                                                  "input"):
                names.append(dim)
                break
        else:
            names.append(f"{base or (group + '_' + name)}_dim{k}".strip("_"))
    return names


def load(path):
    """The record at `path` as an xarray.Dataset (see the module's help)."""
    with _open(path) as f:
        known = {}
        for dim, key, axis in (("time", "trajectory/t", 0), ("unit", "trajectory/h", 1),
                               ("input", "input/v", 1), ("presentation", "input/v", 0),
                               ("snapshot", "snapshots/t", 0), ("trajectory", "ensemble/init_seed",
                                                                0), ("epoch", "epochs/eps", 0)):
            if key in f and f[key].ndim > axis:
                known[dim] = f[key].shape[axis]
        variables, sizes = {}, dict(known)
        items = []
        f.visititems(lambda name, obj: items.append((name, obj))
                     if isinstance(obj, h5py.Dataset) else None)
        order = {"input": 0, "trajectory": 1, "snapshots": 2, "state": 3}
        items.sort(key=lambda it: order.get(it[0].split("/")[0], 4))
        for full, d in items:
            if d.dtype.kind not in "biuf" or d.ndim == 0 and d.shape is None:
                continue
            group, _, name = full.rpartition("/")
            group = group.split("/")[0] if group else ""
            if group == "point":  # a sweep index's external links to its points
                continue
            # Nested groups (/conv/layer1/W, /kcap/hebb/latent) keep their whole path.
            base = full.replace("/", "_")
            dims = _dims(group, name, d, known, base)
            # A dataset shorter along a shared dimension (the last block of
            # gI_negative lost on a full disk) gets its own.
            for k, dim in enumerate(dims):
                if sizes.setdefault(dim, d.shape[k]) != d.shape[k]:
                    dims[k] = f"{dim}_{base}"
                    sizes[dims[k]] = d.shape[k]
            var = name if group in _BARE and name not in variables else base
            attrs = {k: _attr_value(v) for k, v in d.attrs.items()
                     if k in ("units", "description")}
            variables[var] = xr.Variable(dims, d[()], attrs)
        coords = {}
        for var, dim, coord in (("t", "time", "time"), ("t", "snapshot", "snapshot_time"),
                                ("t_start", "presentation", "presentation_start")):
            key = {"time": "trajectory/t", "snapshot": "snapshots/t",
                   "presentation": "input/t_start"}[dim]
            if key in f and f[key].shape[0] == sizes.get(dim, -1):
                coords[coord] = (dim, f[key][()])
        variables.pop("t", None)  # coordinates, not variables
        variables.pop("snapshots_t", None)
        for dim in ("unit", "input", "trajectory"):
            if dim in sizes:
                coords[dim] = (dim, np.arange(sizes[dim]))
        attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
        if "params" in f:
            attrs.update({f"params.{k}": _attr_value(v) for k, v in f["params"].attrs.items()})
    ds = xr.Dataset({k: v for k, v in variables.items()}, coords=coords, attrs=attrs)
    return ds


def _binary():
    exe = os.environ.get("KHSIM")
    if exe:
        return exe
    here = os.path.join(os.path.dirname(__file__), "..", "..", "khsim")
    if os.access(here, os.X_OK):
        return os.path.abspath(here)
    return shutil.which("khsim") or "khsim"


def run(study, out, force=True, **overrides):
    """Runs `khsim run study -o out` with each override as --set
    (network__w_inh=0.8 is network.w_inh=0.8) and returns load(out). Raises
    subprocess.CalledProcessError, with khsim's message, when the run fails."""
    cmd = [_binary(), "run", study, "-o", out, "--quiet"] + (["--force"] if force else [])
    for key, value in overrides.items():
        cmd += ["--set", f"{key.replace('__', '.')}={value}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, cmd, done.stdout, done.stderr)
    return load(out)
