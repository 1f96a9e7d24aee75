/* khsim sweep (cmd/kh_sweep.c): a base study run over a grid or a list of
 * values of its keys, each point its own study and its own output file, an
 * index (HDF5 with external links, and CSV) of every point's parameters,
 * audits and cost. Serial, or under mpirun as a task farm when built with
 * MPI (make mpi): rank 0 hands out points as the other ranks finish. */
#ifndef KH_SWEEP_H
#define KH_SWEEP_H

#include <signal.h>
#include <stdio.h>

/* Runs the sweep file `path` (docs/sweeps.md). Points whose file is already
 * complete are skipped (a restarted sweep goes on where it stopped); a point
 * that fails is recorded as failed with its message and the sweep goes on.
 * `report` (rank 0) gets a line per point and a summary. KH_OK when every
 * point is complete, KH_ECHECK when some failed or failed an audit,
 * KH_EINVAL for a bad sweep file, KH_EIO, KH_EINTR. Under MPI, a signal that
 * reaches any rank stops the whole sweep (no more points are handed out) and
 * is stored in *stop on every rank, so that each ends 128 + that signal. */
int kh_sweep_run(const char *path, volatile sig_atomic_t *stop, FILE *report);

#endif
