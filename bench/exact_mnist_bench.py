#!/usr/bin/python3
"""`make bench`: the exact dynamics at the paper's scale (bench/exact_mnist.ini).

m = 2000 hidden units, the first 20 real MNIST digits (data/mnist-1000), p = 3,
R = 1, w_inh = 0.5, tau = 1, tau_L = 100, g = bcm_step (delta 0.4, h* 0.5),
drive h, W(0) ~ N(0, 0.1^2), 25 time units per digit, rtol 1e-6 (atol 1e-9).

Measured in the same run, whole-study integration time per presentation
(/solver wall_seconds divided by the presentations; for the runs of about a
second, the fastest of three, as the machine is shared):
  * khsim `reduced` on 1 and 2 threads, 20 presentations;
  * khsim full-state dopri5 (switches not located) on the first presentation;
  * khsim `quasi_static` (the limit tau / tau_L -> 0, on its reduced state
    under Dormand-Prince 5(4), the units at h = 0 as a sliding mode), 1
    thread, 20 presentations, and the same with solver.sliding = false (the
    chatter left to the error control);
  * the cost of a presentation once the run's fixed part is paid: `reduced`
    (2 threads) and `quasi_static` over 60 presentations against 20;
  * the SciPy peer: the quasi-static limit written the way a notebook does it
    (Manzali's): solve_ivp RK45 on the m x n weights, h at its steady state
    (the closed form for w_inh < 1) at every evaluation, numpy throughout.
    It needs about 900 evaluations per time unit at this tolerance (one is
    an m x n matrix product and a sort), so a whole presentation would take
    ten minutes: it is timed over the first T_PEER time units of the first
    digit, and khsim `reduced` over the same horizon in the same run; the
    ratio is taken there, against `reduced` (the exact dynamics) and against
    khsim `quasi_static` (the same approximation and the same Runge-Kutta
    pair as the peer). The per-presentation figure of the peer is that
    time times 25 / T_PEER, an extrapolation, printed as such;
  * `reduced` at p = 4 (polynomial moments, 5 presentations), p = 2.5 (a pass
    over the non-zero pixels, 1 presentation), and at atol 1e-6 (5).
Prints ms per presentation, the ratios, and one epoch (60 000 digits)
extrapolated from the 2-thread figure. KHSIM_BENCH_QUICK=1 shortens it.
"""
import os
import subprocess
import sys
import time

import h5py
import numpy as np
from scipy.integrate import solve_ivp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KHSIM = os.path.join(ROOT, "khsim")
STUDY = os.path.join(HERE, "exact_mnist.ini")
OUT = os.path.join(HERE, "out")


def khsim(name, sets, reps=1):
    """Runs the study with --set overrides `reps` times and keeps the fastest
    run (the machine is shared: the others met more of other processes'
    work); returns (ms per presentation, presentations, rhs evaluations,
    whole-process seconds, output path)."""
    out = os.path.join(OUT, name + ".h5")
    cmd = [KHSIM, "run", STUDY, "-q", "--force", "-o", out] + [a for s in sets for a in ("--set", s)]
    best = None
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        wall = time.perf_counter() - t
        with h5py.File(out, "r") as f:
            s = f["solver"].attrs
            n = len(f["input/t_start"])
            r = (1e3 * float(s["wall_seconds"]) / n, n, int(s["rhs_evals"]), wall, out)
        best = r if best is None or r[0] < best[0] else best
    return best


def steady(I, w):
    """The steady state of h for w_inh < 1: the top-k active set, closed form."""
    order = np.argsort(-I)
    Is = I[order]
    csum = np.cumsum(Is)
    k = np.arange(1, len(I) + 1)
    # Unit k-th is active when its h = (I_k - w S) / (1 - w) > 0 with S over
    # the first k: S = sum / (1 - w + w k).
    S = csum / (1 - w + w * k)
    active = Is - w * S > 0
    kk = int(np.max(np.nonzero(active)[0]) + 1) if active.any() else 0
    Sk = S[kk - 1] if kk else 0.0
    h = I - w * Sk
    h[order[:kk]] = (Is[:kk] - w * Sk) / (1 - w)
    return h


def scipy_quasi_static(record, horizon):
    """The peer: solve_ivp on W with h slaved to its steady state, over
    [0, horizon] of the first presentation. Returns (seconds, evaluations)."""
    with h5py.File(record, "r") as f:
        P = {k: f["params"].attrs[k] for k in f["params"].attrs}
        W = f["snapshots/W"][0].astype(float)
        v = f["input/v"][0]
    p, w, tau_L = float(P["network.p"]), float(P["network.w_inh"]), float(P["network.tau_L"])
    delta, h_star, Rp = float(P["learning.delta"]), float(P["learning.h_star"]), float(P["network.R"]) ** p
    m, n = W.shape

    def rhs(t, y, v):
        Wm = y.reshape(m, n)
        I = (np.sign(Wm) * np.abs(Wm) ** (p - 1)) @ v
        h = steady(I, w)
        g = np.where(h < 0, 0.0, np.where(h < h_star, -delta, 1.0))
        return ((g * Rp)[:, None] * v[None, :] - (g * I)[:, None] * Wm).ravel() / tau_L

    t0 = time.perf_counter()
    # t_eval: keep only the end (solve_ivp otherwise stores every step).
    sol = solve_ivp(rhs, (0.0, horizon), W.ravel(), method="RK45", rtol=1e-6, atol=1e-9,
                    args=(v,), t_eval=[horizon])
    return time.perf_counter() - t0, int(sol.nfev)


def main():
    os.makedirs(OUT, exist_ok=True)
    quick = os.environ.get("KHSIM_BENCH_QUICK")
    N = 4 if quick else 20
    print(f"\n== exact dynamics at m = 2000 (bench/exact_mnist.ini), {N} presentations ==")
    R = 1 if quick else 3  # the fast runs: the best of R
    r1 = khsim("exact_mnist_reduced_t1", [f"input.samples={N}", "solver.threads=1"], R)
    r2 = khsim("exact_mnist_reduced_t2", [f"input.samples={N}", "solver.threads=2"], R)
    q = khsim("exact_mnist_quasi_static", [f"input.samples={N}", "solver.threads=1",
                                           "solver.method=quasi_static"], R)
    qc = khsim("exact_mnist_quasi_static_chatter",
               [f"input.samples={N}", "solver.threads=1", "solver.method=quasi_static",
                "solver.sliding=false"])
    # The cost of a presentation once the run's fixed part (W(0), the
    # record, the first digits, whose rows all move) is paid: 3N digits
    # against N.
    r3 = khsim("exact_mnist_reduced_3n", [f"input.samples={3 * N}", "solver.threads=2"], R)
    q3 = khsim("exact_mnist_quasi_static_3n", [f"input.samples={3 * N}", "solver.threads=1",
                                               "solver.method=quasi_static"], R)
    d = khsim("exact_mnist_dopri5", ["input.samples=1", "solver.method=dopri5", "solver.threads=2"])
    T_PEER = 0.5 if quick else 1.0
    short = khsim("exact_mnist_reduced_short", ["input.samples=1", "solver.threads=2",
                                                f"input.presentation_time={T_PEER}"], R)
    qshort = khsim("exact_mnist_quasi_static_short",
                   ["input.samples=1", "solver.threads=1", "solver.method=quasi_static",
                    f"input.presentation_time={T_PEER}"], R)
    qs_s, qs_n = scipy_quasi_static(r2[4], T_PEER)
    qs = 1e3 * qs_s * 25 / T_PEER

    def extra(a, b):
        return (a[0] * a[1] - b[0] * b[1]) / (a[1] - b[1])

    print(f"(every run but the chatter and dopri5: the best of {R})")
    print(f"{'method':>34} {'ms/presentation':>16} {'rhs evals':>10} {'process s':>10}")
    rows = [("reduced, 1 thread", r1), ("reduced, 2 threads", r2),
            ("quasi_static, 1 thread", q), ("quasi_static, chatter, 1 thread", qc),
            ("full-state dopri5, 2 threads", d)]
    for name, r in rows:
        print(f"{name:>34} {r[0]:16.1f} {r[2] // r[1]:10d} {r[3]:10.2f}")
    print(f"{'SciPy quasi-static peer (extrap.)':>34} {qs:16.1f} {int(qs_n * 25 / T_PEER):10d}")
    print(f"over t in [0, {T_PEER}] of digit 0: SciPy quasi-static peer {qs_s:.2f} s "
          f"({qs_n} evaluations), khsim reduced (2 threads) {short[0] / 1e3:.3f} s "
          f"({short[2]} evaluations): ratio {qs_s / (short[0] / 1e3):.0f}x")
    print(f"over t in [0, {T_PEER}] of digit 0: SciPy quasi-static peer {qs_s:.2f} s, "
          f"khsim quasi_static (1 thread) {qshort[0] / 1e3:.3f} s "
          f"({qshort[2]} evaluations): ratio {qs_s / (qshort[0] / 1e3):.0f}x")
    print(f"ratio: full-state dopri5 / reduced (2 threads) = {d[0] / r2[0]:.1f}x")
    print(f"ratio: quasi_static, chatter / sliding mode = {qc[0] / q[0]:.1f}x")
    print(f"per presentation from digit {N + 1} to {3 * N} ({3 * N} digits against {N}): "
          f"reduced (2 threads) {extra(r3, r2):.1f} ms, quasi_static (1 thread) "
          f"{extra(q3, q):.1f} ms")
    print(f"one epoch (60 000 digits) of the exact dynamics at the first {N} digits' figure "
          f"(the dearest: every unit starts at the edge): {60000 * r2[0] / 1e3 / 60:.0f} minutes "
          f"on 2 threads; at digits {N + 1} to {3 * N}: {60000 * extra(r3, r2) / 1e3 / 60:.0f} "
          f"minutes (a whole epoch: docs/speed.md)")
    M = 2 if quick else 5
    print("\nother orders and tolerances (2 threads):")
    # p = 2.5 passes over the non-zero pixels at every evaluation (O(m nnz),
    # a pow each): one presentation is enough to show its cost.
    for name, sets, k in [("p = 4 (polynomial moments)", ["network.p=4"], M),
                          ("p = 2.5 (non-zero pixels)", ["network.p=2.5"], 1),
                          ("p = 3, atol 1e-6", ["solver.atol=1e-6"], M)]:
        r = khsim("exact_mnist_" + name.split()[2].replace(",", ""),
                  sets + [f"input.samples={k}", "solver.threads=2"], R)
        print(f"{name:>34} {r[0]:16.1f} {r[2] // r[1]:10d} {r[3]:10.2f}")


if __name__ == "__main__":
    sys.exit(main())
