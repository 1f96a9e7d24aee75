/* argv -> kh_cli with getopt_long, and the usage text. */
#include "cmd/kh_cli.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "core/kh_error.h"
#include "io/kh_config.h"
#include "models/kh_model.h"

void kh_cli_usage(FILE *out)
{
    fprintf(out,
            "khsim - a faithful simulator of the Krotov-Hopfield network (PNAS 2019)\n\n"
            "usage:\n"
            "  khsim run STUDY.ini [-o OUT.h5] [--set section.key=value ...] [--quiet]\n"
            "  khsim run --resume OUT.h5 [--quiet]   continue an interrupted run\n"
            "  khsim compare STUDY.ini [-o OUT.h5] [--set ...] [--quiet]\n"
            "                             the fast rule against the exact dynamics of the "
            "study\n"
            "  khsim train STUDY.ini [-o OUT.h5] [--set ...] [--quiet]\n"
            "                             the fast rule on MNIST, then the supervised "
            "readout\n"
            "  khsim train --resume OUT.h5 [--quiet]\n"
            "                             continue an interrupted training\n"
            "  khsim conv STUDY.ini [-o OUT.h5] [--set ...] [--quiet]\n"
            "                             convolutional layers trained by the fast rule\n"
            "  khsim conv --resume OUT.h5 [--quiet]\n"
            "  khsim stdp STUDY.ini [-o OUT.h5] [--set ...] [--quiet]   STDP rule vs backprop\n"
            "  khsim stdp --resume OUT.h5 [--quiet]\n"
            "  khsim kcap STUDY.ini [-o OUT.h5] [--set ...] [--quiet]   k-cap RNN, local rules\n"
            "  khsim sweep SWEEP.ini      a base study over a grid or list of values; "
            "under\n"
            "                             mpirun (khsim-mpi, make mpi) as a task farm\n"
            "  khsim info OUT.h5          what a file holds\n"
            "  khsim verify OUT.h5 [--json]  sphere and Lyapunov audits; exit 1 on failure\n"
            "  khsim --help | --version\n"
            "  khsim --data-dir           where the shipped data are (mnist-1000, iris)\n"
            "  --force (run, compare, train): replace an existing OUT.h5 (output.overwrite)\n"
            "  --quiet: no progress line on a terminal; --progress: a progress line every\n"
            "  5 s on stderr whatever it is (a file, a pipe, a Slurm log)\n"
            "  -v, --verbose (or KHSIM_DEBUG=1): messages also name their source location\n"
            "  KHSIM_MEMORY=SIZE (e.g. 8G) | unlimited: the memory a run may take (default:\n"
            "  what the machine has available when khsim starts; more is \"out of memory\")\n\n"
            "exit status: 0 success; 1 a failed check or a run that failed numerically\n"
            "(non-finite state, step-size underflow, a pace that cannot finish); 2 bad\n"
            "input or I/O error; 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP, 141\n"
            "stopped because the reader of its progress lines went away (a closed\n"
            "pipe); the file stays valid.\n\n"
            "models:\n");
    for (size_t i = 0; kh_models[i]; i++) {
        fprintf(out, "  %-16s %s\n", kh_models[i]->name, kh_models[i]->summary);
    }
    fprintf(out, "\nstudy-file keys (section.key = default: meaning):\n");
    for (size_t i = 0; kh_param_table[i].key; i++) {
        const kh_param_info *e = &kh_param_table[i];
        kh_params def;
        memset(&def, 0, sizeof def);
        char buf[KH_PATH_MAX + 16];
        const char *base = (const char *)&def + e->offset;
        (void)base;
        switch (e->kind) {
        case KH_PT_DOUBLE:
            snprintf(buf, sizeof buf, "%g", e->def);
            break;
        case KH_PT_LONG:
            snprintf(buf, sizeof buf, "%ld", (long)e->def);
            break;
        case KH_PT_BOOL:
            snprintf(buf, sizeof buf, "%s", e->def != 0.0 ? "true" : "false");
            break;
        case KH_PT_ENUM:
            kh_param_enum_name(i, (int)e->def, buf, sizeof buf);
            break;
        case KH_PT_STRING:
            snprintf(buf, sizeof buf, "%s", e->def_str[0] ? e->def_str : "(none)");
            break;
        }
        fprintf(out, "  %s.%s = %s: %s\n", e->section, e->key, buf, e->doc);
    }
}

/* The commands: whether each runs a study (--set, -o, --quiet, --force)
 * and whether it resumes a record. */
typedef struct command {
    const char *name;
    int study, resumes;
} command;

static const command commands[] = {
    {"run", 1, 1},  {"compare", 1, 0}, {"train", 1, 1}, {"conv", 1, 1},   {"stdp", 1, 1},
    {"kcap", 1, 0}, {"sweep", 0, 0},   {"info", 0, 0},  {"verify", 0, 0},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

int kh_cli_parse(int argc, char **argv, kh_cli *cli)
{
    memset(cli, 0, sizeof *cli);
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {"data-dir", no_argument, NULL, 'D'},     {"set", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'}, {"quiet", no_argument, NULL, 'q'},
        {"json", no_argument, NULL, 'j'},         {"resume", no_argument, NULL, 'r'},
        {"force", no_argument, NULL, 'f'},        {"verbose", no_argument, NULL, 'v'},
        {"progress", no_argument, NULL, 'p'},     {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+hVvs:o:q", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            cli->verbose = 1;
            continue;
        case 'h':
            cli->command = "help";
            return KH_OK;
        case 'V':
            cli->command = "version";
            return KH_OK;
        case 'D':
            cli->command = "data-dir";
            return KH_OK;
        default:
            return KH_ERROR(KH_EINVAL, "unknown option '%s' (see khsim --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        return KH_ERROR(KH_EINVAL, "no command given (see khsim --help)");
    }
    cli->command = argv[optind++];
    const command *cmd = find_command(cli->command);
    if (!cmd) {
        char names[256] = "";
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     commands[i].name);
        }
        return KH_ERROR(KH_EINVAL, "unknown command '%s' (commands: %s; see khsim --help)",
                        cli->command, names);
    }
    /* Options may follow the command and its argument. */
    while (optind < argc) {
        c = getopt_long(argc, argv, "hVvs:o:qj", opts, NULL);
        if (c == -1) {
            if (cli->path) {
                return KH_ERROR(KH_EINVAL, "unexpected argument '%s'", argv[optind]);
            }
            cli->path = argv[optind++];
            continue;
        }
        switch (c) {
        case 's':
            if (cli->n_sets >= KH_CLI_MAX_SETS) {
                return KH_ERROR(KH_EINVAL, "more than %d --set options", KH_CLI_MAX_SETS);
            }
            cli->sets[cli->n_sets++] = optarg;
            break;
        case 'o':
            cli->out = optarg;
            break;
        case 'q':
            cli->quiet = 1;
            break;
        case 'f':
            cli->force = 1;
            break;
        case 'j':
            cli->json = 1;
            break;
        case 'r':
            cli->resume = 1;
            break;
        case 'v':
            cli->verbose = 1;
            break;
        case 'p':
            cli->progress = 1;
            break;
        case 'h':
            cli->command = "help";
            return KH_OK;
        case 'V':
            cli->command = "version";
            return KH_OK;
        default:
            return KH_ERROR(KH_EINVAL, "unknown or incomplete option '%s' (see khsim --help)",
                            argv[optind - 1]);
        }
    }
    if (!cli->path) {
        return KH_ERROR(KH_EINVAL, "khsim %s needs a file argument (see khsim --help)",
                        cli->command);
    }
    if (!cmd->study && (cli->n_sets || cli->out || cli->quiet || cli->force)) {
        return KH_ERROR(KH_EINVAL, "khsim %s takes no --set, -o, --quiet or --force", cli->command);
    }
    if (cli->resume && !cmd->resumes) {
        return KH_ERROR(KH_EINVAL, "--resume goes with khsim run, train, conv and stdp");
    }
    if (cli->resume && (cli->n_sets || cli->out)) {
        return KH_ERROR(KH_EINVAL,
                        "khsim %s --resume OUT.h5 takes no --set or -o: the record "
                        "holds the study",
                        cli->command);
    }
    if (strcmp(cli->command, "verify") != 0 && cli->json) {
        return KH_ERROR(KH_EINVAL, "--json goes with khsim verify");
    }
    return KH_OK;
}

int kh_cli_reader_gone(FILE *f)
{
    if (!ferror(f)) {
        return 0;
    }
    const int gone = errno == EPIPE;
    clearerr(f);
    return gone;
}
