#!/usr/bin/python3
"""`make crosscheck`: `reduced` against full-state dopri5 on random studies.

Each case draws a small study (model, m, n, p, g, drive, w_inh, tau, tau_L,
schedule, resets, initial weights; uniform inputs, or the shipped MNIST
digits with --mnist), runs it with solver.method = dopri5 at rtol 1e-11,
atol 1e-13 with every switch located (switch_tol 1e-13), and with
solver.method = reduced at rtol 1e-9, atol 1e-12, and compares the records:
the largest difference of every /snapshots/W row and of every /trajectory/h
row, each relative to the reference's largest magnitude. Cases above
--flag (1e-5) are printed with their parameters; the five worst are printed
at the end. Exit 1 when a run fails or the records' shapes differ; a large
difference alone is not a failure (studies that grow a thousandfold, or
whose units chatter at h = 0, amplify any tolerance: docs/solvers.md), it is
a case to look at. Run with Debian's python3 (h5py, numpy).

With --sliding it checks quasi_static's sliding mode instead: random
studies where it applies (krotov_hopfield, g = bcm_step driven by h, w_inh
< 1), quasi_static at rtol 1e-9 against quasi_static at rtol 1e-12 (atol
1e-14 both; W of every snapshot and h of every row, as above); --flag is
then 1e-6. On 2026-12-07, 180 cases: none failed, the worst 3.9e-7 (in h),
most below 1e-8.

With --reintegrate it checks what a user gets by default instead: each
random study is run with no solver key set (method = auto, rtol 1e-6, atol
1e-9; --set network.hidden=M, say 100, makes auto choose `reduced` on the
digits), and the record alone is integrated again by SciPy
(bench/reference_khsim.py reintegrate: DOP853 at rtol 1e-10, atol 1e-12,
its own switch location), which compares every row and snapshot; --flag is
then 1e-4, and a SciPy run longer than --timeout seconds is reported, not
counted.

    /usr/bin/python3 tests/crosscheck_solvers.py [--cases N] [--seed S] [--mnist]
        [--sliding | --reintegrate [--set KEY=VALUE ...]]
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KHSIM = os.environ.get("KHSIM", os.path.join(ROOT, "khsim"))  # the binary to test
REF = ["solver.method=dopri5", "solver.rtol=1e-11", "solver.atol=1e-13",
       "solver.locate_switches=all", "solver.switch_tol=1e-13"]
RED = ["solver.method=reduced", "solver.rtol=1e-9", "solver.atol=1e-12"]


def inputs(rnd, mnist, P, n_inputs):
    """The shipped digits from a random first one, or uniform inputs of
    n_inputs() components, into P (the generator's draws in the order the
    studies have always been drawn)."""
    if mnist:
        P["input.source"] = "mnist"
        P["input.path"] = os.path.join(ROOT, "data", "mnist-1000")
        P["input.first"] = rnd.randint(0, 900)
    else:
        P["input.source"] = "uniform"
        P["input.seed"] = rnd.randint(1, 99)
        P["network.inputs"] = n_inputs()


def draw(rnd, mnist):
    """One random study as a dict of section.key -> value."""
    model = rnd.choice(["krotov_hopfield"] * 5 + ["bcm", "oja", "hebb"])
    P = {"network.model": model,
         "network.hidden": rnd.choice([5, 20, 60] if mnist else [1, 2, 3, 5, 8, 20]),
         "input.samples": rnd.randint(1, 3),
         "input.presentation_time": rnd.choice([1, 3] if mnist else [1, 3, 8]),
         "input.reset_h": rnd.choice(["true", "false"]),
         "init.seed": rnd.randint(1, 99),
         "init.scale": rnd.choice([0.05, 0.2, 0.5]),
         "init.weights": rnd.choice(["normal", "uniform"]),
         "network.tau": rnd.choice([0.3, 1, 2]),
         "network.tau_L": rnd.choice([5, 20, 100]),
         "network.w_inh": rnd.choice([0, 0.5, 1, 2]),
         "output.record_every": 0.5,
         "output.snapshot_every": 1}
    inputs(rnd, mnist, P, lambda: rnd.randint(2, 12))
    if model == "krotov_hopfield":
        P["network.p"] = rnd.choice([2, 2.5, 3, 3.7, 4])
        P["network.R"] = rnd.choice([0.5, 1, 2])
        P["learning.g"] = rnd.choice(["bcm_step", "linear", "power"])
        P["learning.drive"] = rnd.choice(["h", "Q"])
        P["learning.delta"] = rnd.choice([0, 0.2, 0.4])
        P["learning.h_star"] = rnd.choice([0.05, 0.3, 0.8])
        P["learning.n"] = rnd.choice([1, 2, 3])
    elif model == "bcm":
        P["learning.tau_theta"] = rnd.choice([2, 10])
        P["learning.epsilon"] = rnd.choice([0, 0.1])
    elif model == "oja":
        P.update({"network.p": 2, "network.w_inh": 0, "learning.g": "linear"})
    else:  # hebb: linear neurons, no inhibition
        P.update({"input.presentation_time": 1, "network.w_inh": 0})
    return P


SLIDE_REF = ["solver.method=quasi_static", "solver.rtol=1e-12", "solver.atol=1e-14"]
SLIDE = ["solver.method=quasi_static", "solver.rtol=1e-9", "solver.atol=1e-14"]


def draw_sliding(rnd, mnist):
    """One random study in which quasi_static's sliding mode applies."""
    P = {"network.model": "krotov_hopfield",
         "network.hidden": rnd.choice([5, 20, 60, 150]),
         "network.p": rnd.choice([2, 2.5, 3, 4]), "network.R": rnd.choice([1, 2]),
         "network.w_inh": rnd.choice([0, 0.3, 0.5, 0.9]), "network.tau": 1,
         "network.tau_L": rnd.choice([20, 100]),
         "learning.g": "bcm_step", "learning.drive": "h",
         "learning.delta": rnd.choice([0.1, 0.4, 1]),
         "learning.h_star": rnd.choice([0.05, 0.3, 0.5]),
         "input.samples": rnd.randint(1, 4),
         "input.presentation_time": rnd.choice([5, 25]),
         "init.weights": "normal", "init.scale": rnd.choice([0.05, 0.1, 0.3]),
         "init.seed": rnd.randint(1, 99), "output.record_every": 1,
         "solver.threads": 1}
    P["output.snapshot_every"] = P["input.presentation_time"]
    inputs(rnd, mnist, P, lambda: rnd.choice([7, 30, 100]))
    return P


def run(P, extra, out):
    sets = sum([["--set", f"{k}={v}"] for k, v in P.items()], [])
    sets += sum([["--set", e] for e in extra], [])
    r = subprocess.run([KHSIM, "run", os.devnull, "-q", "--force", "-o", out] + sets,
                       capture_output=True, text=True, timeout=600)
    return r.returncode, r.stderr.strip()


def reintegrate(a):
    """--reintegrate: default runs against SciPy's re-integration of their records."""
    worst, bad, slow = [], 0, 0
    ref = os.path.join(ROOT, "bench", "reference_khsim.py")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.h5")
        for c in range(a.seed, a.seed + a.cases):
            P = draw(random.Random(c), a.mnist)
            rc, err = run(P, a.set, out)
            if rc != 0:
                print(f"case {c}: exit {rc}: {err[:200]} {P}", flush=True)
                bad += 1
                continue
            try:
                r = subprocess.run([sys.executable, ref, "reintegrate", out, "--tol", "1"],
                                   capture_output=True, text=True, timeout=a.timeout, env=env)
            except subprocess.TimeoutExpired:
                print(f"case {c}: SciPy took longer than {a.timeout} s {P}", flush=True)
                slow += 1
                continue
            words = r.stdout.split()
            if r.returncode != 0 or "difference" not in words:
                print(f"case {c}: reintegrate exit {r.returncode}: {r.stderr.strip()[-200:]}")
                bad += 1
                continue
            e = float(words[words.index("difference") + 1])
            worst.append((e, c))
            if e > a.flag:
                print(f"case {c}: {r.stdout.strip()} {P}", flush=True)
    worst.sort(reverse=True)
    print(f"{len(worst)} cases compared, {bad} failed, {slow} too slow for SciPy; worst: " +
          ", ".join(f"case {c} {e:.2e}" for e, c in worst[:5]))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mnist", action="store_true", help="the shipped MNIST digits as inputs")
    ap.add_argument("--sliding", action="store_true",
                    help="quasi_static's sliding mode against itself at a tighter tolerance")
    ap.add_argument("--reintegrate", action="store_true",
                    help="default runs against SciPy's re-integration of their records")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="with --reintegrate: a key set in every study")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="with --reintegrate: seconds allowed to one SciPy run")
    ap.add_argument("--flag", type=float, default=None)
    a = ap.parse_args()
    if a.flag is None:
        a.flag = 1e-4 if a.reintegrate else 1e-6 if a.sliding else 1e-5
    if a.reintegrate:
        return reintegrate(a)
    runs = (SLIDE_REF, SLIDE) if a.sliding else (REF, RED)
    worst, bad = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        ref, red = os.path.join(tmp, "ref.h5"), os.path.join(tmp, "red.h5")
        for c in range(a.seed, a.seed + a.cases):
            P = (draw_sliding if a.sliding else draw)(random.Random(c), a.mnist)
            failed = False
            for extra, out in zip(runs, (ref, red)):
                rc, err = run(P, extra, out)
                if rc != 0:
                    print(f"case {c}: {extra[0]} exit {rc}: {err[:200]} {P}", flush=True)
                    bad += 1
                    failed = True
                    break
            if failed:
                continue
            with h5py.File(ref) as f, h5py.File(red) as g:
                Wa, Wb = f["snapshots/W"][...], g["snapshots/W"][...]
                ha, hb = f["trajectory/h"][...], g["trajectory/h"][...]
            if Wa.shape != Wb.shape or ha.shape != hb.shape:
                print(f"case {c}: shapes differ {Wa.shape} {Wb.shape} {ha.shape} {hb.shape}")
                bad += 1
                continue
            eW = np.max(np.abs(Wa - Wb)) / max(np.max(np.abs(Wa)), 1e-300)
            eh = np.max(np.abs(ha - hb)) / max(np.max(np.abs(ha)), 1e-300)
            worst.append((max(eW, eh), c))
            if max(eW, eh) > a.flag:
                print(f"case {c}: W {eW:.2e}, h {eh:.2e} {P}", flush=True)
    worst.sort(reverse=True)
    print(f"{len(worst)} cases compared, {bad} failed; worst: " +
          ", ".join(f"case {c} {e:.2e}" for e, c in worst[:5]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
