#!/usr/bin/python3
"""An independent NumPy/SciPy implementation of khsim's equations.

Two uses:
  * the peer of `make bench`: the right-hand side a researcher would write in
    a notebook (vectorised NumPy, integrated by scipy.integrate.solve_ivp);
  * a check that a khsim file is complete: `reintegrate OUT.h5` reads nothing
    but the file (parameters, inputs, schedule, initial W), integrates the
    same equations again with SciPy, and compares /trajectory and /snapshots.

Equations: README, "The model" (Krotov & Hopfield, PNAS 116:7723, 2019).
Run with Debian's python3 (numpy, scipy and h5py from python3-* packages).
"""
import argparse
import os
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp


def g_of(kind, x, delta, h_star, n):
    if kind == "bcm_step":
        return np.where(x < 0, 0.0, np.where(x < h_star, -delta, 1.0))
    if kind == "linear":
        return x
    return np.where(x > 0, np.abs(x) ** n, 0.0)


def make_rhs(P, m, n):
    """The right-hand side of the model in P (a dict of /params) for input v."""
    model = P["network.model"]
    p, R, w = P["network.p"], P["network.R"], P["network.w_inh"]
    tau, tau_L = P["network.tau"], P["network.tau_L"]
    kind, drive = P["learning.g"], P["learning.drive"]
    delta, h_star, gn = P["learning.delta"], P["learning.h_star"], P["learning.n"]
    eps, tau_th = P["learning.epsilon"], P["learning.tau_theta"]
    Rp = R ** p
    mn = m * n

    def rhs(t, y, v):
        h = y[:m]
        W = y[m:m + mn].reshape(m, n)
        aw = np.abs(W)
        I = (np.sign(W) * aw ** (p - 1)) @ v
        r = np.maximum(h, 0.0)
        dh = (I - w * (r.sum() - r) - h) / tau
        extra = None
        if model == "krotov_hopfield":
            if drive == "h":
                d = h
            else:
                B = (aw ** p).sum(axis=1)
                d = np.where(B > 0, I / np.where(B > 0, B, 1.0) ** ((p - 1) / p), 0.0)
            gd = g_of(kind, d, delta, h_star, gn)
            a, b = gd * Rp, gd * I
        elif model == "oja":
            a, b = h * Rp, h * I
        elif model == "hebb":
            a, b = h, np.zeros(m)
        elif model == "bcm":
            th = y[m + mn:]
            a, b = (h - th) * h, np.full(m, eps)
            extra = (h * h - th) / tau_th
        else:
            raise SystemExit(f"unknown model {model}")
        dW = (a[:, None] * v[None, :] - b[:, None] * W) / tau_L
        parts = [dh, dW.ravel()]
        if extra is not None:
            parts.append(extra)
        return np.concatenate(parts)

    return rhs


def make_switches(P, m, n):
    """The functions whose sign changes mark a discontinuity of the RHS:
    h (ReLU of the inhibition), and the kinks of g at its drive d."""
    model, p = P["network.model"], P["network.p"]
    kind, drive, h_star = P["learning.g"], P["learning.drive"], P["learning.h_star"]

    def switches(y, v):
        h = y[:m]
        out = [h] if P["network.w_inh"] > 0 else []
        if model == "krotov_hopfield":
            if drive == "h":
                d = h
            else:
                W = y[m:m + m * n].reshape(m, n)
                aw = np.abs(W)
                I = (np.sign(W) * aw ** (p - 1)) @ v
                B = (aw ** p).sum(axis=1)
                d = np.where(B > 0, I / np.where(B > 0, B, 1.0) ** ((p - 1) / p), 0.0)
            if kind == "bcm_step":
                out += [d, d - h_star]
            elif kind == "power":
                out += [d]
        elif model != "bcm":
            out = []
        return np.concatenate(out) if out else np.zeros(0)

    return switches


def integrate_segmented(rhs, switches, t0, t1, y, v, times, method, rtol, atol, max_events=100):
    """solve_ivp from t0 to t1, restarted at every sign change of a switching
    function (located by solve_ivp's event finder), so that no step straddles
    a discontinuity. Returns {t: y} at the requested times and the final y."""
    at = {}
    events = 0
    nudged = 0
    while True:
        if t0 in times:
            at[t0] = y.copy()
        s0 = switches(y, v)
        # A function sitting at zero (h after a reset) must move away first:
        # short steps without events (1e-9, then ten times longer each, up to
        # 1e-6 of the time), then the signs are taken again. One that stays
        # there (a unit whose drive fell onto a jump of g, where g = 0
        # freezes its row) is left to the error control: without that, the
        # short steps would repeat until the end.
        at_zero = np.abs(s0) < 1e-10
        if s0.size > 0 and events < max_events and at_zero.any() and nudged < 4:
            tn = min(t1, t0 + 1e-9 * 10.0 ** nudged * max(1.0, abs(t0)))
            y = solve_ivp(rhs, (t0, tn), y, method="RK45", rtol=rtol, atol=atol,
                          args=(v,)).y[:, -1].copy()
            t0 = tn
            nudged += 1
            if t0 >= t1:
                return at, y
            continue
        nudged = 0
        tracked = ~at_zero
        sigma = np.where(s0 > 0, 1.0, -1.0)[tracked]
        use_events = tracked.any() and events < max_events

        def ev(t, yy, vv):
            return np.min(sigma * switches(yy, vv)[tracked])
        ev.terminal = True
        ev.direction = -1
        want = [x for x in times if t0 <= x <= t1]
        sol = solve_ivp(rhs, (t0, t1), y, method=method, rtol=rtol, atol=atol,
                        t_eval=want if want else None, args=(v,),
                        events=ev if use_events else None)
        if not sol.success:
            raise SystemExit(f"SciPy failed: {sol.message}")
        for k, tt in enumerate(sol.t):
            if tt in want:
                at[tt] = sol.y[:, k]
        if sol.status == 1 and sol.t_events[0].size:
            te = sol.t_events[0][0]
            y = sol.y_events[0][0].copy()
            events += 1
            if te >= t1:
                return at, y
            if os.environ.get("KH_DEBUG"):
                print(f"event {events} at t = {te:.9g}", file=sys.stderr)
            t0 = te
            times = [x for x in times if x > te]
            continue
        return at, sol.y[:, -1].copy()


def read_params(f):
    P = {}
    for k, val in f["params"].attrs.items():
        P[k] = val.decode() if isinstance(val, bytes) else (val.item() if hasattr(val, "item") else val)
    return P


def reintegrate(path, rtol, atol, method, tol):
    import h5py

    with h5py.File(path, "r") as f:
        P = read_params(f)
        v = f["input/v"][:]
        t_start = f["input/t_start"][:]
        t_end = f["input/t_end"][:]
        W0 = f["snapshots/W"][0]
        T = f["trajectory/t"][:]
        S = f["trajectory/sample"][:]
        Hrec = f["trajectory/h"][:]
        Irec = f["trajectory/current"][:]
        Brec = f["trajectory/pnorm"][:]
        ST = f["snapshots/t"][:]
        SW = f["snapshots/W"][:]
    if P.get("solver.method") == "quasi_static":
        print(f"{path}: a quasi_static record holds the limit tau / tau_L -> 0 (h at its "
              "steady state, units at h = 0 sliding), not the coupled dynamics this script "
              "integrates: compare it with a run of method = reduced instead")
        return 2
    m, n = W0.shape
    p = P["network.p"]
    rhs = make_rhs(P, m, n)
    switches = make_switches(P, m, n)
    extra = m if P["network.model"] == "bcm" else 0
    y = np.concatenate([np.zeros(m), W0.ravel(), np.zeros(extra)])
    worst = 0.0
    where = ""
    for s in range(len(v)):
        if s > 0 and P["input.reset_h"]:
            y[:m] = 0.0
        rows = np.nonzero(S == s)[0]
        snaps = np.nonzero((ST > t_start[s]) & (ST <= t_end[s]))[0] if s < len(v) - 1 else \
            np.nonzero(ST > t_start[s])[0]
        times = sorted(set(T[rows]) | set(ST[snaps]) | {t_end[s]})
        times = [x for x in times if x >= t_start[s]]
        at, y_end = integrate_segmented(rhs, switches, t_start[s], t_end[s], y, v[s], times,
                                        method, rtol, atol)
        for k in rows:
            yy = at[T[k]]
            W = yy[m:m + m * n].reshape(m, n)
            I = (np.sign(W) * np.abs(W) ** (p - 1)) @ v[s]
            B = (np.abs(W) ** p).sum(axis=1)
            for name, ref, got in (("h", yy[:m], Hrec[k]), ("current", I, Irec[k]),
                                   ("pnorm", B, Brec[k])):
                e = np.max(np.abs(ref - got)) / (np.max(np.abs(ref)) + 1e-300)
                if e > worst:
                    worst, where = e, f"/trajectory/{name} row {k} (t = {T[k]:g})"
        for k in snaps:
            yy = at[ST[k]]
            W = yy[m:m + m * n].reshape(m, n)
            e = np.max(np.abs(W - SW[k])) / (np.max(np.abs(W)) + 1e-300)
            if e > worst:
                worst, where = e, f"/snapshots/W row {k} (t = {ST[k]:g})"
        y = y_end
    print(f"{path}: largest relative difference {worst:.3g} at {where or '-'} "
          f"({len(T)} rows, {len(ST)} snapshots re-integrated with SciPy {method})")
    return 0 if worst <= tol else 1


def final_state(path):
    """W and h at the end of a khsim run (last snapshot and /state/h)."""
    import h5py

    with h5py.File(path, "r") as f:
        return f["snapshots/W"][-1], f["state/h"][:]


def rel_error(path, ref):
    """max |difference| / max |value| of the final W and h against ref."""
    W, h = final_state(path)
    Wr, hr = final_state(ref)
    return max(np.max(np.abs(W - Wr)) / np.max(np.abs(Wr)), np.max(np.abs(h - hr)) / np.max(np.abs(hr)))


def bench(study, t1, rtol, atol, ref):
    """The SciPy peer of `make bench`: the problem of a khsim file (its parameters,
    input and initial W), integrated with solve_ivp RK45 from 0 to t1. With
    ref, the final state is compared with that file's."""
    import h5py

    with h5py.File(study, "r") as f:
        P = read_params(f)
        v = f["input/v"][0]
        W0 = f["snapshots/W"][0]
    m, n = W0.shape
    y0 = np.concatenate([np.zeros(m), W0.ravel()])
    rhs = make_rhs(P, m, n)
    t = time.perf_counter()
    sol = solve_ivp(rhs, (0, t1), y0, method="RK45", rtol=rtol, atol=atol, args=(v,))
    wall = time.perf_counter() - t
    line = f"scipy m={m} n={n} t1={t1:g} wall={wall:.4f} nfev={sol.nfev} success={sol.success}"
    if ref:
        yr = sol.y[:, -1]
        Wr, hr = final_state(ref)
        W, h = yr[m:].reshape(m, n), yr[:m]
        err = max(np.max(np.abs(W - Wr)) / np.max(np.abs(Wr)), np.max(np.abs(h - hr)) / np.max(np.abs(hr)))
        line += f" error={err:.3g}"
    print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reintegrate", help="re-integrate a khsim file and compare")
    r.add_argument("file")
    r.add_argument("--rtol", type=float, default=1e-10)
    r.add_argument("--atol", type=float, default=1e-12)
    r.add_argument("--method", default="DOP853")
    r.add_argument("--tol", type=float, default=1e-6)
    b = sub.add_parser("bench", help="time the SciPy peer of `make bench`")
    b.add_argument("study", help="a khsim file whose problem (params, v, W0) is integrated")
    b.add_argument("--t1", type=float, default=50.0)
    b.add_argument("--rtol", type=float, default=1e-6)
    b.add_argument("--atol", type=float, default=1e-9)
    b.add_argument("--ref", default="", help="a tight khsim run of the same problem")
    e = sub.add_parser("error", help="relative error of a khsim run's final state against a reference")
    e.add_argument("file")
    e.add_argument("ref")
    a = ap.parse_args()
    if a.cmd == "reintegrate":
        return reintegrate(a.file, a.rtol, a.atol, a.method, a.tol)
    if a.cmd == "error":
        print(f"{rel_error(a.file, a.ref):.3g}")
        return 0
    bench(a.study, a.t1, a.rtol, a.atol, a.ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
