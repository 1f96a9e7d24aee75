/* Command-line parsing (README, "Commands"): argv -> kh_cli. The only code
 * that prints usage. */
#ifndef KH_CLI_H
#define KH_CLI_H

#include <stdio.h>

#define KH_CLI_MAX_SETS 256

typedef struct kh_cli {
    const char *command; /* run, compare, train, info, verify, help, version */
    const char *path;    /* the study file or the .h5 file */
    const char *out;     /* -o */
    const char *sets[KH_CLI_MAX_SETS];
    int n_sets;
    int quiet;    /* --quiet: no progress line */
    int force;    /* --force: replace an existing output (output.overwrite) */
    int json;     /* --json: the report of verify as JSON */
    int resume;   /* --resume: path is a record to continue (train) */
    int verbose;  /* -v, --verbose: messages name their source location */
    int progress; /* --progress: a progress line every few seconds, also to files */
} kh_cli;

/* Parses argv. KH_OK or KH_EINVAL (with the reason in kh_errmsg()). */
int kh_cli_parse(int argc, char **argv, kh_cli *cli);

/* Prints the usage text, with every study-file key and model. */
void kh_cli_usage(FILE *out);

/* 1 when a write to f failed because its reader went away (EPIPE, with
 * SIGPIPE ignored), else 0; f's error flag is cleared either way. */
int kh_cli_reader_gone(FILE *f);

#endif
