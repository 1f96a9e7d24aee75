/* What the files of io/kh_h5*.c share and nothing else includes: the
 * writer's state (struct kh_h5), the file's life (kh_h5_file.c) that the
 * record's layout (kh_h5.c) uses, and the attribute helpers all three use. */
#ifndef KH_H5_INTERNAL_H
#define KH_H5_INTERNAL_H

#include <hdf5.h>
#include <signal.h>
#include <stddef.h>

#include "io/kh_h5.h"

/* The datasets every record has, in the order of kh_h5.ds. */
enum { D_V, D_TSTART, D_TEND, D_T, D_H, D_CUR, D_PNORM, D_L, D_DL, D_SAMPLE, D_ST, D_SW, D_N };

struct kh_h5 {
    hid_t file;
    hid_t ds[D_N];
    long m, n;
    long n_input, n_rows, n_snap;
    double pending; /* bytes appended since the last flush (an upper bound) */
    int full;       /* the room check stopped the run: no more bulk writes */
    char path[KH_PATH_MAX];
    int lock_fd;         /* holds a write lock on the file while it is written (claim) */
    int live;            /* in HDF5's SWMR mode (go_live) */
    int no_live;         /* the file cannot go live (a record from before SWMR) */
    int exposed;         /* open to write outside live mode: counted in `exposed` */
    int broken;          /* a write or flush failed: the file is left as it is on disk */
    double free_at_stop; /* free disk bytes when the room check stopped the run for the disk */
    /* /solver's counters and wall time as the file held them when it was
     * opened to go on (kh_h5_open_append): the earlier parts of a resumed
     * run, added to this part's by kh_h5_write_solver. */
    double solver_prior[KH_H5_N_PRIOR];
};

/* At most this much of what was appended since the last flush is still in
 * HDF5's caches and not yet in the file's size (1 MiB of chunk cache per open
 * dataset, the metadata cache): the rest is in the file already. */
#define KH_H5_CACHED (32.0 * 1024 * 1024)

/* What a record keeps free for its last writes (status, solver attributes,
 * final state) once the room check has stopped a run. */
#define KH_H5_RESERVE (1.0 * 1024 * 1024)

/* The name of dataset D_* (kh_h5.c's table). */
const char *kh_h5i_dataset_name(int i);

/* kh_h5_file.c: the life of a file written. */
kh_h5 *kh_h5i_writer_alloc(const char *path);
int kh_h5i_claim(kh_h5 *f, int create);
hid_t kh_h5i_writer_fapl(int clear);
/* H5Fcreate (truncating) path. A reader that opened the file a moment
 * before (a script polling for the record, khsim info) holds HDF5's lock on
 * it, and the creation fails: while another process holds that lock, it is
 * tried again, 50 ms apart, for up to a minute. */
hid_t kh_h5i_create_waiting(const char *path, hid_t fa);
void kh_h5i_expose(kh_h5 *f, int yes);
void kh_h5i_track(kh_h5 *f, int open);
int kh_h5i_room_for(kh_h5 *f, double bytes);
int kh_h5i_settle(kh_h5 *f);
int kh_h5i_flush(kh_h5 *f);
void kh_h5i_iso_now(char *buf, size_t len);
int kh_h5i_attr_string(hid_t obj, const char *name, const char *value);
int kh_h5i_attr_num(hid_t obj, const char *name, hid_t type, const void *value);
int kh_h5i_attr_double(hid_t obj, const char *name, double x);
int kh_h5i_attr_long(hid_t obj, const char *name, long x);

/* The number of values an attribute holds (1 for a scalar), or -1. Every
 * reader of one value checks it first: an array read into one double
 * would write past it. */
long kh_h5i_attr_count(hid_t a);

#endif
