/* Shared types: the resolved parameters of a study and the table that
 * describes them (names, types, defaults, ranges, documentation).
 *
 * Every key of the study file (README, "Study file") is one entry of
 * kh_param_table; the parser, the validation, the --set overrides, the
 * /params attributes of the HDF5 file and `khsim --help` all iterate it. */
#ifndef KH_TYPES_H
#define KH_TYPES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KH_NAME_MAX 64
#define KH_PATH_MAX 1024

/* Learning activation g (README, "The model"). */
enum { KH_G_BCM_STEP, KH_G_LINEAR, KH_G_POWER };
/* The drive of g: the hidden activity h or the normalised current Q. */
enum { KH_DRIVE_H, KH_DRIVE_Q };
/* Input sources. */
enum { KH_SRC_UNIFORM, KH_SRC_MNIST, KH_SRC_FILE, KH_SRC_CIFAR10 };
enum { KH_NORM_NONE, KH_NORM_L2 };
/* Which switches of the right-hand side adaptive solvers locate. */
enum { KH_LOCATE_NONE, KH_LOCATE_JUMPS, KH_LOCATE_ALL };
/* Arithmetic of the fast rule and of the batched Euler kernels. */
enum { KH_PREC_DOUBLE, KH_PREC_FLOAT };
/* Where the batched Euler ensemble runs. */
enum { KH_DEV_CPU, KH_DEV_CUDA, KH_DEV_AUTO };
/* The features the readout of khsim train learns on. */
enum {
    KH_FEAT_LEARNED,
    KH_FEAT_RANDOM,
    KH_FEAT_PIXELS,
    KH_FEAT_FILE,
    KH_FEAT_BACKPROP,
    KH_FEAT_CONV
};
/* The automatic beta of the readout (train.beta = 0): one for each digit or
 * one for the training set. */
enum { KH_BETA_DIGIT, KH_BETA_SET };
/* The digits khsim train measures its held-out error on: the test set, or
 * the training file's digits after the ones the study trains on. */
enum { KH_MEASURE_TEST, KH_MEASURE_VALIDATION };
enum { KH_STDP_MNIST, KH_STDP_IRIS };
/* Initial weights. */
enum { KH_INIT_NORMAL, KH_INIT_UNIFORM, KH_INIT_FILE };

typedef struct kh_params {
    /* [network] */
    char model[KH_NAME_MAX];
    long n_hidden;  /* m */
    long n_visible; /* n; 0 = from the data */
    double p, R, w_inh, tau, tau_L;
    /* [learning] */
    int g, drive;
    double delta, h_star, g_n;
    long k;
    double eps0;
    long epochs, batch;
    double epsilon, tau_theta;
    int fast_rank, fast_code, fast_maxnorm; /* the fast rule's three departures (on = paper) */
    double fast_min_norm;                   /* floor of max|Delta W| (the notebook's prec) */
    /* [input] */
    int source;
    int normalize; /* input.normalize: KH_NORM_* */
    char input_path[KH_PATH_MAX];
    long n_samples, first;
    double presentation_time, presentation_time_end; /* end < 0: constant */
    int reset_h;
    long input_seed;
    /* [init] */
    int weights;
    long init_seed;
    double init_scale;
    char init_path[KH_PATH_MAX];
    /* [solver] */
    char method[KH_NAME_MAX];
    double rtol, atol, first_step, dt;
    int locate_switches; /* KH_LOCATE_* */
    double switch_tol;   /* time resolution of switch location */
    long max_steps;      /* per presentation; 0 = no limit */
    double steady_tol;   /* quasi_static: residual of the steady state of h */
    int sliding;         /* quasi_static: the units at h = 0 slide (solvers/sliding.c) */
    long steady_max_steps;
    long threads;  /* OpenMP threads; 0 = runtime default */
    int precision; /* KH_PREC_*: fast rule and batched Euler */
    int device;    /* KH_DEV_*: batched Euler */
    long ensemble; /* solver.batch: trajectories integrated together by euler */
    /* [output] */
    char out_path[KH_PATH_MAX];
    double record_every, snapshot_every;
    int compress_snapshots;
    int overwrite;         /* output.overwrite (--force): replace an existing output */
    long snapshot_batches; /* fast: a snapshot every this many minibatches (0: per epoch) */
    /* [train] (khsim train: the supervised readout, PNAS 2019 eq. 1 and appendix B) */
    double tr_power, tr_loss_power, tr_beta, tr_beta_scale, tr_lr;
    long tr_epochs, tr_batch, tr_seed, tr_test_samples;
    int tr_features;  /* KH_FEAT_* */
    int tr_beta_auto; /* KH_BETA_* */
    int tr_measure;   /* KH_MEASURE_* */
    double tr_adam_b1, tr_adam_b2, tr_adam_eps;
    char tr_lr_schedule[256]; /* train.lr_schedule (core/kh_lr.h) */
    char tr_fgsm_eps[256];    /* train.fgsm_eps: FGSM strengths measured at the end */
    /* [stdp] (khsim stdp: Gupta's STDP-derived rule against backprop) */
    int st_data; /* KH_STDP_* */
    long st_class0, st_class1, st_epochs, st_batch, st_seed, st_h1, st_h2;
    double st_lr, st_test_fraction;
    char st_eps[256];
    /* [conv] (khsim conv: convolutional layers trained by the fast rule) */
    char cv_channels[128], cv_kernels[128], cv_pools[128];
    long cv_input_channels; /* 0: 3 for cifar10, else 1 */
    int cv_init_sphere;     /* W(0) scaled onto the L^p sphere, filter by filter */
    long tr_conv_layers;    /* train.features = conv: the layers used (0: all) */
    /* [kcap] (khsim kcap: Balwani's k-cap recurrent network) */
    int kc_data, kc_cap_output, kc_meta_target;
    long kc_samples, kc_inputs, kc_hidden, kc_k, kc_steps, kc_epochs, kc_meta_epochs, kc_meta_batch,
        kc_rule_hidden, kc_bp_epochs, kc_seed;
    double kc_noise, kc_eta, kc_meta_lr, kc_tau0, kc_tau_end, kc_bp_lr;
} kh_params;

typedef enum { KH_PT_DOUBLE, KH_PT_LONG, KH_PT_BOOL, KH_PT_ENUM, KH_PT_STRING } kh_param_kind;

typedef struct kh_param_info {
    const char *section, *key;
    kh_param_kind kind;
    size_t offset;       /* into kh_params */
    size_t size;         /* for strings: capacity */
    double def;          /* default for numbers, bools and enums */
    const char *def_str; /* default for strings */
    double min, max;     /* inclusive range for numbers */
    int min_open;        /* 1: the minimum itself is excluded (x > min) */
    const char *choices; /* enum: comma-separated names, in enum order */
    const char *units;
    const char *doc;
} kh_param_info;

/* The table of every study-file key, ending with an entry whose key is NULL. */
extern const kh_param_info kh_param_table[];

/* The parameters of one trajectory of a batched Euler ensemble
 * (krotov_hopfield), on the CPU (solvers/kh_euler.h) and on the GPU
 * (gpu/kh_gpu.h). */
typedef struct kh_ens_params {
    double p, R, w_inh, tau, tau_L, delta, h_star, g_n;
    int g;       /* KH_K_BCM_STEP, KH_K_LINEAR, KH_K_POWER */
    int drive_q; /* 1: drive Q, 0: drive h */
} kh_ens_params;

#ifdef __cplusplus
}
#endif
#endif
