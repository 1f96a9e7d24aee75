#!/usr/bin/python3
"""make bench, a shared machine: khsim's default thread policy against one
thread, idle and with one and two competing busy processes (`yes >
/dev/null`, one core each), all measured in this run.

Workloads: the default study (examples/default.ini) and Manzali's Fig. 5
study (examples/manzali_fig5.ini), timed as whole processes, and two epochs
of the fast rule at the paper's MNIST size (bench/fast.ini, m = 2000,
float; needs make data, and is left out without it), timed by the epochs'
own seconds in the record. Each is the median of --repeats runs, with the default policy (solver.threads = 0) and with
solver.threads = 1 under the same load. Prints the seconds and the ratio
default / one thread (the policy's promise: at most 2 under any load) and
default under load / one thread idle."""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, epoch_of=None):
    """Seconds of the whole process, or with epoch_of (the record) the
    epochs' own time as the record holds it (/epochs/wall_seconds: the
    fast rule's work, without reading 60 000 digits and writing them)."""
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    if epoch_of:
        import h5py
        with h5py.File(epoch_of, "r") as f:
            return float(f["/epochs/wall_seconds"][:].sum())
    return dt


def workloads(tmp, have_mnist):
    w = [("default study (process)", ["examples/default.ini"], False),
         ("Fig. 5 study (process)", ["examples/manzali_fig5.ini"], False)]
    if have_mnist:
        w.append(("fast rule m=2000 (2 epochs)",
                  ["bench/fast.ini", "--set", "learning.epochs=2"], True))
    out = []
    h5 = os.path.join(tmp, "c.h5")
    for name, args, epochs in w:
        out.append((name, ["./khsim", "run", args[0], "--quiet", "--force", "-o", h5] + args[1:],
                    h5 if epochs else None))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loads", default="0,1,2", help="competing busy processes")
    a = ap.parse_args()
    have_mnist = os.path.exists(os.path.join(ROOT, "data/mnist/train-images-idx3-ubyte")) or \
        os.path.exists(os.path.join(ROOT, "data/mnist/train-images-idx3-ubyte.gz"))
    loads = [int(x) for x in a.loads.split(",")]
    print(f"contention: {os.cpu_count()} cores, median of {a.repeats} runs per cell; "
          "ratio = default policy / solver.threads = 1 under the same load")
    if not have_mnist:
        print("  (no data/mnist: the fast-rule epoch is left out; make data)")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        idle_one = {}
        print(f"  {'workload':30s} {'busy':>4s} {'default s':>10s} {'1 thread s':>10s} "
              f"{'ratio':>6s} {'vs idle 1T':>10s}")
        for name, cmd, epoch_of in workloads(tmp, have_mnist):
            for load in loads:
                hogs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
                        for _ in range(load)]
                try:
                    time.sleep(0.3 if load else 0.0)
                    d, o = [], []
                    for _ in range(a.repeats):
                        d.append(timed(cmd + ["--set", "solver.threads=0"], epoch_of))
                        o.append(timed(cmd + ["--set", "solver.threads=1"], epoch_of))
                finally:
                    for h in hogs:
                        h.kill()
                        h.wait()
                td, to = statistics.median(d), statistics.median(o)
                if load == 0:
                    idle_one[name] = to
                ratio = td / to
                worst = max(worst, ratio)
                base = idle_one.get(name)
                vs = f"{td / base:10.2f}" if base else f"{'':10s}"
                print(f"  {name:30s} {load:4d} {td:10.3f} {to:10.3f} {ratio:6.2f} {vs}")
    print(f"  worst ratio default / one thread: {worst:.2f} (the policy's bound: 2)")


if __name__ == "__main__":
    main()
