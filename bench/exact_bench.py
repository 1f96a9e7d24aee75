#!/usr/bin/python3
"""`make bench`, part 1: khsim's exact dynamics against SciPy's solve_ivp.

The problem: m hidden units, n = 784 inputs, one input uniform in
[0, 1], tau = 1, tau_L = 100, w_inh = 0.5, p = 3, R = 1, g = power (n = 1),
drive h, W(0) ~ N(0, 1), h(0) = 0 (bench/exact.ini). SciPy integrates the same
problem (its W(0) and v are read from khsim's file) with RK45 at rtol 1e-6,
atol 1e-9. Accuracy is measured for both against a tight khsim run (rk8pd,
rtol 1e-12, every switch located) as max |difference| / max |value| of the
final W and h. Times are whole-process wall times, median of the runs.
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import reference_khsim as ref  # noqa: E402

KHSIM = os.path.join(ROOT, "khsim")
STUDY = os.path.join(HERE, "exact.ini")
OUT = os.path.join(HERE, "out")


def khsim(out, sets, runs=1):
    """Runs khsim; returns the median wall time in seconds and the rhs count."""
    walls = []
    for _ in range(runs):
        cmd = [KHSIM, "run", STUDY, "-q", "--force", "-o", out] + [a for s in sets for a in ("--set", s)]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
    import h5py

    with h5py.File(out, "r") as f:
        evals = int(f["solver"].attrs["rhs_evals"])
        sw = int(f["solver"].attrs["switches"])
    return statistics.median(walls), evals, sw


def scipy_run(study, t1, runs, refpath):
    import h5py
    import numpy as np
    from scipy.integrate import solve_ivp

    with h5py.File(study, "r") as f:
        P = ref.read_params(f)
        v = f["input/v"][0]
        W0 = f["snapshots/W"][0]
    m, n = W0.shape
    y0 = np.concatenate([np.zeros(m), W0.ravel()])
    rhs = ref.make_rhs(P, m, n)
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        sol = solve_ivp(rhs, (0, t1), y0, method="RK45", rtol=1e-6, atol=1e-9, args=(v,))
        walls.append(time.perf_counter() - t)
    Wr, hr = ref.final_state(refpath)
    y = sol.y[:, -1]
    err = max(np.max(np.abs(y[m:].reshape(m, n) - Wr)) / np.max(np.abs(Wr)),
              np.max(np.abs(y[:m] - hr)) / np.max(np.abs(hr)))
    return statistics.median(walls), sol.nfev, err


def case(m, t1, runs, scipy_runs, configs, ref_sets):
    print(f"\n== exact dynamics: m = {m}, n = 784, t = 0..{t1:g} ==")
    base = [f"network.hidden={m}", f"input.presentation_time={t1}"]
    refpath = os.path.join(OUT, f"ref_m{m}.h5")
    w, e, s = khsim(refpath, base + ref_sets)
    print(f"reference  khsim {' '.join(ref_sets)}: {w:.2f} s, {e} rhs evaluations")
    sw, sev, serr = scipy_run(refpath, t1, scipy_runs, refpath)
    print(f"peer       SciPy solve_ivp RK45 rtol 1e-6 atol 1e-9: {sw:.3f} s (median of {scipy_runs}), "
          f"{sev} rhs evaluations, error {serr:.2e}")
    best = None
    print(f"{'khsim method':>14} {'rtol':>7} {'locate':>7} {'wall s':>8} {'rhs':>6} {'switches':>8} "
          f"{'error':>9} {'SciPy/khsim':>11}")
    for method, rtol, loc in configs:
        out = os.path.join(OUT, f"m{m}_{method}_{rtol}_{loc}.h5")
        w, e, s = khsim(out, base + [f"solver.method={method}", f"solver.rtol={rtol}",
                                     "solver.atol=1e-9", f"solver.locate_switches={loc}"], runs)
        err = ref.rel_error(out, refpath)
        ok = err <= serr
        print(f"{method:>14} {rtol:>7} {loc:>7} {w:8.3f} {e:6d} {s:8d} {err:9.2e} {sw / w:10.1f}x"
              f"{'' if ok else '  (less accurate than SciPy)'}")
        if ok and (best is None or w < best[0]):
            best = (w, method, rtol, loc)
    if best:
        print(f"ratio: SciPy {sw:.3f} s / khsim {best[0]:.3f} s ({best[1]}, rtol {best[2]}, "
              f"locate {best[3]}) = {sw / best[0]:.1f}x at the same or better accuracy")
    return best


def main():
    os.makedirs(OUT, exist_ok=True)
    quick = os.environ.get("KHSIM_BENCH_QUICK")
    configs = [("dopri5", "1e-6", "jumps"), ("dopri5", "3e-6", "jumps"), ("dopri5", "1e-6", "all"),
               ("dopri5", "1e-5", "all"), ("rkf45", "1e-6", "jumps"), ("rk8pd", "1e-6", "jumps")]
    case(100, 50.0, 3, 3, configs, ["solver.method=rk8pd", "solver.rtol=1e-12", "solver.atol=1e-14",
                                    "solver.locate_switches=all"])
    # m = 2000: SciPy needs minutes for t = 0..50, so both are timed over the
    # first 2 time units (the transient, where most steps are); say so.
    print("\n(m = 2000 is timed over t = 0..2 for both, the first, busiest part of the run)")
    case(2000, 2.0 if not quick else 0.5, 1, 1,
         [("dopri5", "1e-6", "jumps"), ("dopri5", "3e-6", "jumps"), ("rkf45", "1e-6", "jumps")],
         ["solver.method=dopri5", "solver.rtol=1e-10", "solver.atol=1e-13"])


if __name__ == "__main__":
    main()
