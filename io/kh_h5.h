/* The HDF5 record of a run, in the layout of docs/record.md, written
 * while the run goes: every dataset is chunked, extendible and compressed,
 * each row is written as it is produced (memory stays bounded by one
 * snapshot), and the file is flushed at each snapshot. Also the readers
 * that `khsim info` and the tests use. This is the only file that includes
 * hdf5.h (besides main.c, which switches off its error printing). */
#ifndef KH_H5_H
#define KH_H5_H

#include <stdio.h>

#include "io/kh_config.h"
#include "solvers/kh_solver.h"

typedef struct kh_h5 kh_h5;

/* Creates `path` (truncating it) with the root attributes, /params and every
 * dataset of docs/record.md at length 0; status attribute "running".
 * `overrides` (may be NULL) is stored as the attribute /overrides.
 * NULL + KH_ERROR (KH_EIO) on failure. */
kh_h5 *kh_h5_create(const char *path, const kh_config *c, const char *model_summary,
                    const char *overrides, long m, long n);

/* A record for a command that writes more than a run's layout (khsim
 * conv, kcap, stdp, train's baselines): kh_h5_create, closed, then opened
 * again with kh_h5_open_rw for the command's own groups. NULL + KH_ERROR. */
kh_h5 *kh_h5_create_rw(const char *path, const kh_config *c, const char *model_summary,
                       const char *overrides, long m, long n);

/* Appends one presentation: its input row v [n], start and end time. */
int kh_h5_append_input(kh_h5 *f, const double *v, double t_start, double t_end);

/* Appends `rows` presentations at once: v [rows, n], t_start and t_end [rows]. */
int kh_h5_append_inputs(kh_h5 *f, const double *v, long rows, const double *t_start,
                        const double *t_end);

/* Appends one row to the extendible dataset `path` (created with its groups
 * on first use, deflated): a scalar when len == 0 (a 1-D series), else a row
 * of len values ([E, len]). is_long: int64 instead of double. `units` may be
 * NULL. KH_OK or KH_EIO. */
int kh_h5_series_append(kh_h5 *f, const char *path, const void *row, long len, int is_long,
                        const char *units);

/* Appends n_rows rows of len doubles at once (rows: n_rows x len, row-major)
 * to the series `path` ([E, len]), as kh_h5_series_append would one by one.
 * KH_OK or KH_EIO. */
int kh_h5_series_append_block(kh_h5 *f, const char *path, const double *rows, long n_rows, long len,
                              const char *units);

/* The same for a row of shape tail [tail_rank] (0 to 2): [E, tail...]. */
int kh_h5_series_append_nd(kh_h5 *f, const char *path, const void *row, int tail_rank,
                           const long *tail, int is_long, const char *units);

/* Writes a whole fixed-size dataset of rank 1..3 (groups created). */
int kh_h5_write_array(kh_h5 *f, const char *path, const void *x, int rank, const long *dims,
                      int is_long, const char *units);

/* Sets attribute `name` of group `group` (created when missing): the
 * string `text`, or the number x when text is NULL. KH_OK or KH_EIO. */
int kh_h5_set_attr(kh_h5 *f, const char *group, const char *name, double x, const char *text);

/* Numeric attribute `name` of object `obj` ("/" or a group) into *x: 1 when
 * the file has it, else 0 with *x untouched (no error is set). */
int kh_h5_get_attr(kh_h5 *f, const char *obj, const char *name, double *x);

/* How many /solver attributes add up over the parts of a resumed run. */
#define KH_H5_N_PRIOR 10

/* /solver attribute `name` ("steps", ..., "wall_seconds", "flops") as the file held
 * it when kh_h5_open_append opened it: the earlier parts of a resumed run;
 * 0 for a new file or another name. */
double kh_h5_solver_prior(const kh_h5 *f, const char *name);

/* Flushes the file to disk. KH_OK or KH_EIO. */
int kh_h5_flush(kh_h5 *f);

/* Appends one /trajectory row. */
int kh_h5_append_row(kh_h5 *f, double t, const double *h, const double *current,
                     const double *pnorm, double L, double dL_dt, long sample);

/* Appends one /snapshots row (W [m, n]) and flushes the file. */
int kh_h5_append_snapshot(kh_h5 *f, double t, const double *W);

/* Writes a named extra state block (e.g. bcm's theta) at the end. */
int kh_h5_write_state(kh_h5 *f, const char *name, const double *x, long len);

/* Attributes of /solver: method, rtol, atol, the counters of st and the
 * wall time in seconds. In a file opened with kh_h5_open_append (a resumed
 * run) the counters and the wall time are added to those the file held
 * when it was opened: they cover every part of the run. */
int kh_h5_write_solver(kh_h5 *f, const char *method, double rtol, double atol,
                       const kh_solver_stats *st, double wall_seconds);

/* Sets the root attribute "status" (running, complete, interrupted, failed)
 * and "message"; flushes. */
int kh_h5_set_status(kh_h5 *f, const char *status, const char *message);

/* Ends a record: unless the caller's last writes failed (closing != KH_OK),
 * sets its status from st (complete; interrupted for KH_EINTR; failed) with
 * msg, the message of st taken before those writes; then closes it.
 * Returns st with msg, or the first failure of these closing steps. */
int kh_h5_end(kh_h5 *f, int st, const char *msg, int closing);

/* Number of rows written to /trajectory so far. */
long kh_h5_rows(const kh_h5 *f);

/* Opens an existing file to add datasets and attributes (kh_h5_series_append,
 * kh_h5_write_array, kh_h5_set_attr, kh_h5_set_status); NULL + KH_ERROR. */
kh_h5 *kh_h5_open_rw(const char *path);

/* Opens a khsim record to go on writing it (a resumed run): every dataset of
 * section 5, with /trajectory shortened to rows_keep rows and /snapshots to
 * snaps_keep (either < 0: kept whole). NULL + KH_ERROR (KH_EIO). */
kh_h5 *kh_h5_open_append(const char *path, long rows_keep, long snaps_keep);

/* Re-reads how many inputs, rows and snapshots the open record holds (after
 * kh_h5_truncate on its section 5 datasets). KH_OK or KH_EIO. */
int kh_h5_reopen_counts(kh_h5 *f);

/* Shortens the extendible dataset `path` to `rows` along its first axis (a
 * missing dataset is fine). KH_OK or KH_EIO. */
int kh_h5_truncate(kh_h5 *f, const char *path, long rows);

/* The length of `path` along its first axis (0 when missing, -1 on error). */
long kh_h5_length(kh_h5 *f, const char *path);

/* kh_h5_write_array, replacing `path` when it exists (a checkpoint). */
int kh_h5_overwrite(kh_h5 *f, const char *path, const void *x, int rank, const long *dims,
                    int is_long, const char *units);

/* Creates an empty HDF5 file (root attributes khsim_version and created),
 * for an index (khsim sweep). NULL + KH_ERROR (KH_EIO). */
kh_h5 *kh_h5_create_plain(const char *path);

/* An external link `link` (groups created) to the root of target_file,
 * relative to the directory of f. KH_OK or KH_EIO. */
int kh_h5_external_link(kh_h5 *f, const char *link, const char *target_file);

/* A string attribute of a dataset. KH_OK or KH_EIO. */
int kh_h5_set_dataset_attr(kh_h5 *f, const char *dataset, const char *name, const char *text);
/* Makes `scale` (a 1-D dataset) the coordinate of axis `axis` of `dataset`
 * (an HDF5 dimension scale, named and labelled `label`), as the record's
 * own datasets have theirs. KH_OK or KH_EIO. */
int kh_h5_attach_scale(kh_h5 *f, const char *dataset, unsigned axis, const char *scale,
                       const char *label);

/* Closes the file; NULL-safe. KH_OK or KH_EIO. */
int kh_h5_close(kh_h5 *f);

/* Whether `bytes` more fit in the record (its room check: the file-size
 * limit, the free disk space, a reserve for the last writes): KH_OK, or
 * KH_EIO with the message, and the run should stop. For writes that must
 * land together or not at all. */
int kh_h5_room(kh_h5 *f, double bytes);

/* For a signal handler, on a signal that should end the process: 1 when a
 * record is open to write outside live mode (where ending the process now
 * would leave it unreadable), in which case the signal is raised again, with
 * its default action, as soon as none is; 0 when the process may end now.
 * Async-signal-safe. */
int kh_h5_defer_signal(int sig);

/* --- Readers --- */

/* Reads a whole double dataset: *data (malloc'd, caller frees), its rank and
 * dims (up to 3). KH_OK, KH_EIO (missing file or dataset), KH_ENOMEM. */
int kh_h5_read(const char *path, const char *dataset, double **data, int *rank, long dims[3]);

/* Reads row `row` (-1: the last) of a dataset [rows, ...] holding len values
 * per row into out (double). KH_OK, KH_EIO (missing, or no such row, or
 * another size). */
int kh_h5_read_row(const char *path, const char *dataset, long row, double *out, long len);

/* Reads a numeric attribute of an object ("/" , "/params", "/solver"). */
int kh_h5_read_attr_double(const char *path, const char *obj, const char *name, double *x);

/* Reads a string attribute into buf. */
int kh_h5_read_attr_string(const char *path, const char *obj, const char *name, char *buf,
                           size_t len);

/* Reads /params of a khsim file back into c (every key of kh_param_table,
 * through the same validation as a study file; a key the file lacks, from an
 * older khsim, keeps its default). KH_OK, KH_EIO (no network.model: not a
 * khsim file), KH_EINVAL. */
int kh_h5_read_params(const char *path, kh_config *c);

/* Prints a description of a khsim file (attributes and dataset shapes). */
int kh_h5_info(const char *path, FILE *out);

#endif
