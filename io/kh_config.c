/* Study-file parsing (libinih) and validation against kh_param_table. */
#include "io/kh_config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/kh_error.h"
#include "core/kh_lr.h"
#include "solvers/kh_solver.h"

#define OFF(f) offsetof(kh_params, f)
#define STR(f) OFF(f), sizeof(((kh_params *)0)->f)
#define BIG 1e300
#define LBIG 9.0e15

/* clang-format off */
const kh_param_info kh_param_table[] = {
    {"network", "model", KH_PT_STRING, STR(model), 0, "krotov_hopfield", 0, 0, 0, NULL, "",
     "learning rule: krotov_hopfield | hebb | oja | bcm"},
    {"network", "hidden", KH_PT_LONG, OFF(n_hidden), 0, 10, NULL, 1, LBIG, 0, NULL, "",
     "number of hidden units m"},
    {"network", "inputs", KH_PT_LONG, OFF(n_visible), 0, 0, NULL, 0, LBIG, 0, NULL, "",
     "number of inputs n (0: from the data)"},
    {"network", "p", KH_PT_DOUBLE, OFF(p), 0, 2, NULL, 2, BIG, 0, NULL, "",
     "order of the L^p sphere and the p-inner product (p >= 2)"},
    {"network", "R", KH_PT_DOUBLE, OFF(R), 0, 1, NULL, 0, BIG, 1, NULL, "",
     "radius of the L^p sphere (R > 0)"},
    {"network", "w_inh", KH_PT_DOUBLE, OFF(w_inh), 0, 0, NULL, 0, BIG, 0, NULL, "",
     "strength of global lateral inhibition (>= 0)"},
    {"network", "tau", KH_PT_DOUBLE, OFF(tau), 0, 1, NULL, 0, BIG, 1, NULL, "time",
     "time constant of the neuron dynamics"},
    {"network", "tau_L", KH_PT_DOUBLE, OFF(tau_L), 0, 100, NULL, 0, BIG, 1, NULL, "time",
     "time constant of plasticity"},
    {"learning", "g", KH_PT_ENUM, OFF(g), 0, KH_G_BCM_STEP, NULL, 0, 0, 0,
     "bcm_step,linear,power", "", "learning activation g"},
    {"learning", "delta", KH_PT_DOUBLE, OFF(delta), 0, 0.4, NULL, 0, BIG, 0, NULL, "",
     "anti-Hebbian strength: g = -delta on [0, h_star) (bcm_step); the fast rule's -delta"},
    {"learning", "h_star", KH_PT_DOUBLE, OFF(h_star), 0, 0.8, NULL, 0, BIG, 1, NULL, "",
     "threshold of bcm_step (> 0)"},
    {"learning", "n", KH_PT_DOUBLE, OFF(g_n), 0, 1, NULL, 1, BIG, 0, NULL, "",
     "exponent of the power g (n >= 1)"},
    {"learning", "drive", KH_PT_ENUM, OFF(drive), 0, KH_DRIVE_H, NULL, 0, 0, 0, "h,Q", "",
     "argument of g: h (network, eq. 4) or Q = I/B^((p-1)/p) (single unit, eq. 2)"},
    {"learning", "k", KH_PT_LONG, OFF(k), 0, 2, NULL, 2, LBIG, 0, NULL, "",
     "rank that receives -delta in the fast rule (>= 2)"},
    {"learning", "eps0", KH_PT_DOUBLE, OFF(eps0), 0, 0.04, NULL, 0, BIG, 1, NULL, "",
     "initial learning rate of the fast rule"},
    {"learning", "epochs", KH_PT_LONG, OFF(epochs), 0, 1, NULL, 1, LBIG, 0, NULL, "",
     "epochs of the fast rule"},
    {"learning", "batch", KH_PT_LONG, OFF(batch), 0, 100, NULL, 1, LBIG, 0, NULL, "",
     "minibatch size of the fast rule"},
    {"learning", "epsilon", KH_PT_DOUBLE, OFF(epsilon), 0, 0, NULL, 0, BIG, 0, NULL, "",
     "weight decay of the bcm model"},
    {"learning", "tau_theta", KH_PT_DOUBLE, OFF(tau_theta), 0, 10, NULL, 0, BIG, 1, NULL, "time",
     "time constant of the sliding threshold of the bcm model"},
    {"learning", "fast_rank", KH_PT_BOOL, OFF(fast_rank), 0, 1, NULL, 0, 1, 0, NULL, "",
     "fast rule: rank the currents (on) or take the steady state of h (off) for the activities"},
    {"learning", "fast_code", KH_PT_BOOL, OFF(fast_code), 0, 1, NULL, 0, 1, 0, NULL, "",
     "fast rule: the code 1 (top) / -delta (k-th) (on) or g of the activities (off)"},
    {"learning", "fast_maxnorm", KH_PT_BOOL, OFF(fast_maxnorm), 0, 1, NULL, 0, 1, 0, NULL, "",
     "fast rule: W += eps Delta W / max|Delta W| (on) or the plain step "
     "W += eps (presentation_time / tau_L) Delta W (off)"},
    {"learning", "min_norm", KH_PT_DOUBLE, OFF(fast_min_norm), 0, 1e-30, NULL, 0, BIG, 1, NULL, "",
     "fast rule: floor of max|Delta W| in the max-normalised step (the notebook's prec)"},
    {"input", "source", KH_PT_ENUM, OFF(source), 0, KH_SRC_MNIST, NULL, 0, 0, 0,
     "uniform,mnist,file,cifar10", "", "input source"},
    {"input", "path", KH_PT_STRING, STR(input_path), 0, "data/mnist-1000", 0, 0, 0, NULL, "",
     "mnist: directory of the idx files; file: an idx file (ubyte, float or double); "
     "cifar10: directory of CIFAR-10's binary batches (data_batch_N.bin, test_batch.bin)"},
    {"input", "normalize", KH_PT_ENUM, OFF(normalize), 0, KH_NORM_NONE, NULL, 0, 0, 0, "none,l2",
     "", "each sample as read (none) or divided by its 2-norm (l2: v = x / ||x||_2)"},
    {"input", "samples", KH_PT_LONG, OFF(n_samples), 0, 1, NULL, 1, LBIG, 0, NULL, "",
     "number of presentations"},
    {"input", "first", KH_PT_LONG, OFF(first), 0, 0, NULL, 0, LBIG, 0, NULL, "",
     "index of the first sample taken from the data"},
    {"input", "presentation_time", KH_PT_DOUBLE, OFF(presentation_time), 0, 10, NULL, 0, BIG, 1,
     NULL, "time", "duration of the first presentation"},
    {"input", "presentation_time_end", KH_PT_DOUBLE, OFF(presentation_time_end), 0, 0, NULL, 0,
     BIG, 1, NULL, "time", "duration of the last presentation (linear schedule; "
     "default: presentation_time)"},
    {"input", "reset_h", KH_PT_BOOL, OFF(reset_h), 0, 0, NULL, 0, 1, 0, NULL, "",
     "return h to 0 when each later sample starts"},
    {"input", "seed", KH_PT_LONG, OFF(input_seed), 0, 1, NULL, 0, LBIG, 0, NULL, "",
     "seed of the uniform source"},
    {"init", "weights", KH_PT_ENUM, OFF(weights), 0, KH_INIT_NORMAL, NULL, 0, 0, 0,
     "normal,uniform,file", "", "initial W: normal N(0, scale^2), uniform U(-scale, scale), "
     "or the last snapshot of a khsim file"},
    {"init", "seed", KH_PT_LONG, OFF(init_seed), 0, 1, NULL, 0, LBIG, 0, NULL, "",
     "seed of the initial weights"},
    {"init", "scale", KH_PT_DOUBLE, OFF(init_scale), 0, 1, NULL, 0, BIG, 1, NULL, "",
     "standard deviation (normal) or half-width (uniform) of the initial weights"},
    {"init", "path", KH_PT_STRING, STR(init_path), 0, "", 0, 0, 0, NULL, "",
     "khsim .h5 file whose last /snapshots/W row is the initial W (weights = file)"},
    {"solver", "method", KH_PT_STRING, STR(method), 0, "auto", 0, 0, 0, NULL, "",
     "auto | rk2 | rk4 | rkf45 | rkck | rk8pd | msadams | rk1imp | rk2imp | rk4imp | bsimp | "
     "msbdf | dopri5 | reduced | euler | quasi_static | fast; auto: reduced when m n >= 65536 "
     "and the model has the reduced form, else dopri5 (the record names the one that ran)"},
    {"solver", "rtol", KH_PT_DOUBLE, OFF(rtol), 0, 1e-6, NULL, 0, 1, 1, NULL, "",
     "relative tolerance of adaptive steppers"},
    {"solver", "atol", KH_PT_DOUBLE, OFF(atol), 0, 1e-9, NULL, 0, BIG, 0, NULL, "",
     "absolute tolerance of adaptive steppers"},
    {"solver", "first_step", KH_PT_DOUBLE, OFF(first_step), 0, 1e-3, NULL, 0, BIG, 1, NULL,
     "time", "first trial step of adaptive steppers"},
    {"solver", "dt", KH_PT_DOUBLE, OFF(dt), 0, 1e-3, NULL, 0, BIG, 1, NULL, "time",
     "step of euler"},
    {"solver", "locate_switches", KH_PT_ENUM, OFF(locate_switches), 0, KH_LOCATE_ALL, NULL, 0,
     0, 0, "none,jumps,all", "", "which switches of the RHS adaptive steppers locate and "
     "restart at: the jumps of bcm_step (jumps), also the kinks of the ReLU and of power g "
     "(all), or none"},
    {"solver", "switch_tol", KH_PT_DOUBLE, OFF(switch_tol), 0, 1e-9, NULL, 0, BIG, 1, NULL,
     "time", "time resolution to which switches of g and of the ReLU are located"},
    {"solver", "steady_tol", KH_PT_DOUBLE, OFF(steady_tol), 0, 1e-10, NULL, 0, BIG, 1, NULL, "",
     "quasi_static: the steady state of h is reached when max |tau dh/dt| <= steady_tol"},
    {"solver", "sliding", KH_PT_BOOL, OFF(sliding), 0, 1, NULL, 0, 1, 0, NULL, "",
     "quasi_static with g = bcm_step driven by h and w_inh < 1: hold the units that reach "
     "h = 0 on it (the sliding mode, Filippov's limit of their chatter; on) or leave the "
     "chatter to the error control (off)"},
    {"solver", "steady_max_steps", KH_PT_LONG, OFF(steady_max_steps), 0, 10000000, NULL, 1, LBIG,
     0, NULL, "", "quasi_static: most Euler steps to the steady state when w_inh >= 1"},
    {"solver", "max_steps", KH_PT_LONG, OFF(max_steps), 0, 0, NULL, 0, LBIG, 0, NULL, "",
     "most steps per presentation (0: no limit)"},
    {"solver", "threads", KH_PT_LONG, OFF(threads), 0, 0, NULL, 0, 4096, 0, NULL, "",
     "threads (0: all cores or one, whichever does the work faster, re-measured every 4 s)"},
    {"solver", "precision", KH_PT_ENUM, OFF(precision), 0, KH_PREC_DOUBLE, NULL, 0, 0, 0,
     "double,float", "", "arithmetic of the fast rule, of batched euler and of khsim train's readout "
     "(double: reference)"},
    {"solver", "device", KH_PT_ENUM, OFF(device), 0, KH_DEV_CPU, NULL, 0, 0, 0, "cpu,cuda,auto",
     "", "where batched euler runs: cpu, cuda (an error without a GPU) or auto (cuda when a "
     "GPU is there, else cpu)"},
    {"solver", "batch", KH_PT_LONG, OFF(ensemble), 0, 1, NULL, 1, LBIG, 0, NULL, "",
     "euler: trajectories integrated together (trajectory b uses init.seed + b)"},
    {"output", "path", KH_PT_STRING, STR(out_path), 0, "", 0, 0, 0, NULL, "",
     "output file (default output/<study name>.h5)"},
    {"output", "overwrite", KH_PT_BOOL, OFF(overwrite), 0, 0, NULL, 0, 1, 0, NULL, "",
     "replace an existing output file (the command line's --force)"},
    {"output", "compress_snapshots", KH_PT_BOOL, OFF(compress_snapshots), 0, 0, NULL, 0, 1, 0,
     NULL, "", "deflate /snapshots/W too (the trajectory always is)"},
    {"output", "record_every", KH_PT_DOUBLE, OFF(record_every), 0, 0.1, NULL, 0, BIG, 1, NULL,
     "time", "interval between /trajectory rows within a presentation"},
    {"output", "snapshot_every", KH_PT_DOUBLE, OFF(snapshot_every), 0, 10, NULL, 0, BIG, 1, NULL,
     "time", "interval between /snapshots/W rows"},
    {"output", "snapshot_batches", KH_PT_LONG, OFF(snapshot_batches), 0, 0, NULL, 0, LBIG, 0,
     NULL, "", "fast: a /snapshots/W row every this many minibatches (0: at each epoch's end)"},
    {"train", "power", KH_PT_DOUBLE, OFF(tr_power), 0, 4.5, NULL, 1, BIG, 0, NULL, "",
     "readout: the power n of the activation h = max(W v, 0)^n"},
    {"train", "loss_power", KH_PT_DOUBLE, OFF(tr_loss_power), 0, 6, NULL, 2, BIG, 0, NULL, "",
     "readout: the power m of the loss sum |c - t|^m"},
    {"train", "beta", KH_PT_DOUBLE, OFF(tr_beta), 0, 0, NULL, 0, BIG, 0, NULL, "",
     "readout: c = tanh(beta S h); 0: automatic (train.beta_auto)"},
    {"train", "beta_auto", KH_PT_ENUM, OFF(tr_beta_auto), 0, KH_BETA_DIGIT, NULL, 0, 0, 0,
     "digit,set", "", "readout, train.beta = 0: beta = beta_scale / max_mu h_mu of each digit "
     "(digit) or / the mean over the training set of max_mu h_mu (set)"},
    {"train", "beta_scale", KH_PT_DOUBLE, OFF(tr_beta_scale), 0, 10, NULL, 0, BIG, 1, NULL, "",
     "readout: the factor of the automatic beta (train.beta = 0)"},
    {"train", "lr", KH_PT_DOUBLE, OFF(tr_lr), 0, 1e-3, NULL, 0, BIG, 1, NULL, "",
     "readout: Adam's (first) learning rate, for lr_schedule = paper or constant"},
    {"train", "lr_schedule", KH_PT_STRING, STR(tr_lr_schedule), 0, "paper", 0, 0, 0, NULL, "",
     "readout: paper (lr, then x0.5, x0.1, x0.05, x0.01 from 1/3 of the epochs, every 1/6: "
     "the paper's 0.001 for 100 of 300, then every 50) | constant (lr) | EPOCH:RATE pieces "
     "from epoch 0, e.g. 0:0.004, 50:0.001 (absolute rates; lr unused)"},
    {"train", "epochs", KH_PT_LONG, OFF(tr_epochs), 0, 300, NULL, 1, LBIG, 0, NULL, "",
     "readout: epochs of Adam"},
    {"train", "batch", KH_PT_LONG, OFF(tr_batch), 0, 100, NULL, 1, LBIG, 0, NULL, "",
     "readout: minibatch size"},
    {"train", "seed", KH_PT_LONG, OFF(tr_seed), 0, 1, NULL, 0, LBIG, 0, NULL, "",
     "readout: seed of the minibatch order (and of a random W)"},
    {"train", "test_samples", KH_PT_LONG, OFF(tr_test_samples), 0, 0, NULL, 0, LBIG, 0, NULL, "",
     "held-out digits the error is measured on (train.measure); 0: all"},
    {"train", "measure", KH_PT_ENUM, OFF(tr_measure), 0, KH_MEASURE_TEST, NULL, 0, 0, 0,
     "test,validation", "", "the held-out digits: test = t10k-images in input.path; "
     "validation = the training file's digits from input.first + input.samples on, which "
     "neither phase trains on"},
    {"train", "features", KH_PT_ENUM, OFF(tr_features), 0, KH_FEAT_LEARNED, NULL, 0, 0, 0,
     "learned,random,pixels,file,backprop,conv", "", "what the readout learns on: the fast "
     "rule's W, a random frozen W on the same sphere, the raw pixels, the last /snapshots/W of "
     "the record init.path names (any method's W, the exact dynamics' included), W trained "
     "end to end with S by backpropagation from W(0), or the last layer's outputs of the "
     "convolutional layers of the khsim conv record init.path names"},
    {"train", "adam_beta1", KH_PT_DOUBLE, OFF(tr_adam_b1), 0, 0.9, NULL, 0, 1, 0, NULL, "",
     "Adam's beta1"},
    {"train", "adam_beta2", KH_PT_DOUBLE, OFF(tr_adam_b2), 0, 0.999, NULL, 0, 1, 0, NULL, "",
     "Adam's beta2"},
    {"train", "adam_eps", KH_PT_DOUBLE, OFF(tr_adam_eps), 0, 1e-8, NULL, 0, BIG, 1, NULL, "",
     "Adam's epsilon"},
    {"train", "fgsm_eps", KH_PT_STRING, STR(tr_fgsm_eps), 0, "", 0, 0, 0, NULL, "",
     "FGSM strengths (numbers or N/D, comma-separated) at which the trained classifier's test "
     "accuracy is measured at the end (/fgsm); empty: none"},
    {"stdp", "data", KH_PT_ENUM, OFF(st_data), 0, KH_STDP_MNIST, NULL, 0, 0, 0, "mnist,iris", "",
     "khsim stdp: MNIST digits (input.path a directory of idx files) or Iris (input.path the "
     "CSV of data/iris)"},
    {"stdp", "class0", KH_PT_LONG, OFF(st_class0), 0, 0, NULL, 0, 9, 0, NULL, "",
     "khsim stdp: the class read as y = 0"},
    {"stdp", "class1", KH_PT_LONG, OFF(st_class1), 0, 1, NULL, 0, 9, 0, NULL, "",
     "khsim stdp: the class read as y = 1"},
    {"stdp", "epochs", KH_PT_LONG, OFF(st_epochs), 0, 20, NULL, 1, LBIG, 0, NULL, "",
     "khsim stdp: epochs of both networks"},
    {"stdp", "batch", KH_PT_LONG, OFF(st_batch), 0, 100, NULL, 1, LBIG, 0, NULL, "",
     "khsim stdp: minibatch size (the seed: 100 for MNIST, 40 for Iris)"},
    {"stdp", "lr", KH_PT_DOUBLE, OFF(st_lr), 0, 1e-3, NULL, 0, BIG, 1, NULL, "",
     "khsim stdp: Adam's learning rate of both networks"},
    {"stdp", "seed", KH_PT_LONG, OFF(st_seed), 0, 1, NULL, 0, LBIG, 0, NULL, "",
     "khsim stdp: seed of the weights, the associativities, the order and the Iris split"},
    {"stdp", "hidden1", KH_PT_LONG, OFF(st_h1), 0, 32, NULL, 2, 100000, 0, NULL, "",
     "khsim stdp: units of the first hidden layer (even: half Z = +1, half -1)"},
    {"stdp", "hidden2", KH_PT_LONG, OFF(st_h2), 0, 16, NULL, 2, 100000, 0, NULL, "",
     "khsim stdp: units of the second hidden layer (even)"},
    {"stdp", "eps", KH_PT_STRING, STR(st_eps), 0, "4/255, 8/255, 12/255", 0, 0, 0, NULL, "",
     "khsim stdp: FGSM perturbation strengths (numbers or N/D, comma-separated)"},
    {"stdp", "test_fraction", KH_PT_DOUBLE, OFF(st_test_fraction), 0, 0.2, NULL, 0, 1, 0, NULL,
     "", "khsim stdp, Iris: the share of the pair's samples held out for testing"},
    {"train", "conv_layers", KH_PT_LONG, OFF(tr_conv_layers), 0, 0, NULL, 0, 8, 0, NULL, "",
     "train.features = conv: the features are the outputs of layer conv_layers of the record "
     "(0: its last layer)"},
    {"conv", "channels", KH_PT_STRING, STR(cv_channels), 0, "16, 5", 0, 0, 0, NULL, "",
     "khsim conv: filters of each layer, comma-separated (the slides' 16, 5)"},
    {"conv", "kernels", KH_PT_STRING, STR(cv_kernels), 0, "10, 8", 0, 0, 0, NULL, "",
     "khsim conv: kernel size of each layer (square, stride 1, no padding)"},
    {"conv", "pools", KH_PT_STRING, STR(cv_pools), 0, "2, 1", 0, 0, 0, NULL, "",
     "khsim conv: max-pool window and stride after each layer's ReLU (1: none)"},
    {"conv", "input_channels", KH_PT_LONG, OFF(cv_input_channels), 0, 0, NULL, 0, 64, 0, NULL,
     "", "khsim conv: channels of an input image (square, channel-major); 0: 3 for cifar10, "
     "else 1"},
    {"conv", "init_sphere", KH_PT_BOOL, OFF(cv_init_sphere), 0, 0, NULL, 0, 1, 0, NULL, "",
     "khsim conv: scale each filter of W(0) onto the L^p sphere of radius R"},
    {"kcap", "data", KH_PT_ENUM, OFF(kc_data), 0, 0, NULL, 0, 0, 0, "circles,moons,blobs", "",
     "khsim kcap: the 2-D data set (two classes), projected to kcap.inputs dimensions"},
    {"kcap", "samples", KH_PT_LONG, OFF(kc_samples), 0, 400, NULL, 4, 5000, 0, NULL, "",
     "khsim kcap: points of the data set (half per class)"},
    {"kcap", "noise", KH_PT_DOUBLE, OFF(kc_noise), 0, -1, NULL, -1, BIG, 0, NULL, "",
     "khsim kcap: standard deviation of the Gaussian noise on the 2-D points; -1: the data set's "
     "own (circles 0.05, moons 0.1, blobs 1)"},
    {"kcap", "inputs", KH_PT_LONG, OFF(kc_inputs), 0, 10, NULL, 2, 256, 0, NULL, "",
     "khsim kcap: the dimension n the 2-D data are projected to"},
    {"kcap", "hidden", KH_PT_LONG, OFF(kc_hidden), 0, 32, NULL, 2, 256, 0, NULL, "",
     "khsim kcap: units m of the recurrent layer"},
    {"kcap", "k", KH_PT_LONG, OFF(kc_k), 0, 4, NULL, 1, 63, 0, NULL, "",
     "khsim kcap: the k of the k-cap (units active at each step)"},
    {"kcap", "steps", KH_PT_LONG, OFF(kc_steps), 0, 3, NULL, 1, 8, 0, NULL, "",
     "khsim kcap: T, the recurrent steps (the seed's 3)"},
    {"kcap", "cap_output", KH_PT_BOOL, OFF(kc_cap_output), 0, 0, NULL, 0, 1, 0, NULL, "",
     "khsim kcap: a_k on the output too, as the seed writes it (default: a linear output)"},
    {"kcap", "epochs", KH_PT_LONG, OFF(kc_epochs), 0, 5, NULL, 1, LBIG, 0, NULL, "",
     "khsim kcap: passes over the data of the Hebbian and of the learned rule"},
    {"kcap", "eta", KH_PT_DOUBLE, OFF(kc_eta), 0, 0.01, NULL, 0, BIG, 1, NULL, "",
     "khsim kcap: learning rate of the plain Hebbian rule"},
    {"kcap", "meta_epochs", KH_PT_LONG, OFF(kc_meta_epochs), 0, 20, NULL, 1, LBIG, 0, NULL, "",
     "khsim kcap: passes over the data that train the learned rule (each from a fresh network)"},
    {"kcap", "meta_batch", KH_PT_LONG, OFF(kc_meta_batch), 0, 20, NULL, 1, LBIG, 0, NULL, "",
     "khsim kcap: samples per Adam step of the learned rule"},
    {"kcap", "meta_target", KH_PT_ENUM, OFF(kc_meta_target), 0, 0, NULL, 0, 0, 0, "same,next",
     "", "khsim kcap: the sample the meta-objective measures one step after the update: the one "
     "the update came from (same, the seed's) or the next one of the stream (next)"},
    {"kcap", "meta_lr", KH_PT_DOUBLE, OFF(kc_meta_lr), 0, 0.003, NULL, 0, BIG, 1, NULL, "",
     "khsim kcap: Adam's learning rate for the learned rule's parameters"},
    {"kcap", "rule_hidden", KH_PT_LONG, OFF(kc_rule_hidden), 0, 8, NULL, 1, 256, 0, NULL, "",
     "khsim kcap: tanh units of each layer's rule network"},
    {"kcap", "tau0", KH_PT_DOUBLE, OFF(kc_tau0), 0, 1, NULL, 0, BIG, 1, NULL, "",
     "khsim kcap: temperature of the soft k-cap at the start of (meta-)training"},
    {"kcap", "tau_end", KH_PT_DOUBLE, OFF(kc_tau_end), 0, 0.05, NULL, 0, BIG, 1, NULL, "",
     "khsim kcap: its temperature at the end (geometric schedule)"},
    {"kcap", "bp_epochs", KH_PT_LONG, OFF(kc_bp_epochs), 0, 100, NULL, 1, LBIG, 0, NULL, "",
     "khsim kcap: epochs of the backprop-trained RNN and MLP autoencoders"},
    {"kcap", "bp_lr", KH_PT_DOUBLE, OFF(kc_bp_lr), 0, 0.003, NULL, 0, BIG, 1, NULL, "",
     "khsim kcap: Adam's learning rate for them"},
    {"kcap", "seed", KH_PT_LONG, OFF(kc_seed), 0, 1, NULL, 0, LBIG, 0, NULL, "",
     "khsim kcap: seed of the data, the weights, the rule and the orders"},
    {NULL, NULL, KH_PT_DOUBLE, 0, 0, 0, NULL, 0, 0, 0, NULL, NULL, NULL},
};
/* clang-format on */

size_t kh_param_count(void)
{
    size_t i = 0;
    while (kh_param_table[i].key) {
        i++;
    }
    return i;
}

long kh_param_find_dotted(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot == name) {
        return -1;
    }
    char section[64];
    snprintf(section, sizeof section, "%.*s", (int)(dot - name), name);
    return kh_param_find(section, dot + 1);
}

long kh_param_find(const char *section, const char *key)
{
    for (size_t i = 0; kh_param_table[i].key; i++) {
        if (strcmp(kh_param_table[i].section, section) == 0 &&
            strcmp(kh_param_table[i].key, key) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* The edit distance of a and b (insertions, deletions, substitutions), up
 * to 63 characters each; 99 beyond. */
static int edit_distance(const char *a, const char *b)
{
    const size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) {
        return 99;
    }
    int d[64][64];
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = (int)i;
    }
    for (size_t j = 0; j <= lb; j++) {
        d[0][j] = (int)j;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            const int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            const int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    }
    return d[la][lb];
}

/* A hint for an unknown key of `section` (NULL: an unknown section
 * `key`): " (did you mean ...?)", or "" when nothing is close. */
static void did_you_mean(const char *section, const char *key, char *buf, size_t len)
{
    buf[0] = '\0';
    const char *best = NULL, *best_section = NULL;
    int best_d = 3; /* at most 2 edits */
    for (size_t i = 0; kh_param_table[i].key; i++) {
        const kh_param_info *e = &kh_param_table[i];
        if (!section) {
            const int d = edit_distance(key, e->section);
            if (d < best_d) {
                best_d = d;
                best = e->section;
            }
        } else if (strcmp(e->key, key) == 0 && strcmp(e->section, section) != 0) {
            best_d = -1; /* the key, in another section: the best hint */
            best = e->key;
            best_section = e->section;
        } else if (best_d >= 0 && strcmp(e->section, section) == 0) {
            const int d = edit_distance(key, e->key);
            if (d < best_d) {
                best_d = d;
                best = e->key;
            }
        }
    }
    if (!best) {
        return;
    }
    if (!section) {
        snprintf(buf, len, " (did you mean [%s]?)", best);
    } else if (best_section) {
        snprintf(buf, len, " (%s is a key of [%s])", best, best_section);
    } else {
        snprintf(buf, len, " (did you mean '%s'?)", best);
    }
}

/* The error for section [section], which is not one: with a hint. */
static int unknown_section(const char *where, const char *section)
{
    if (strcmp(section, "sweep") == 0 || strcmp(section, "grid") == 0 ||
        strcmp(section, "list") == 0) {
        return KH_ERROR(KH_EINVAL,
                        "%sunknown section [%s]: this looks like a sweep file (run it with khsim "
                        "sweep)",
                        where, section);
    }
    char hint[160];
    did_you_mean(NULL, section, hint, sizeof hint);
    return KH_ERROR(KH_EINVAL, "%sunknown section [%s]%s", where, section, hint);
}

static int section_known(const char *section)
{
    for (size_t i = 0; kh_param_table[i].key; i++) {
        if (strcmp(kh_param_table[i].section, section) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *kh_param_enum_name(size_t i, int v, char *buf, size_t len)
{
    const char *c = kh_param_table[i].choices;
    int k = 0;
    buf[0] = '\0';
    while (c && *c) {
        const char *e = strchr(c, ',');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (k == v) {
            snprintf(buf, len, "%.*s", (int)l, c);
            return buf;
        }
        k++;
        c = e ? e + 1 : NULL;
    }
    return buf;
}

static int enum_value(size_t i, const char *s)
{
    char name[KH_NAME_MAX];
    for (int v = 0; v < 16; v++) {
        kh_param_enum_name(i, v, name, sizeof name);
        if (name[0] == '\0') {
            break;
        }
        if (strcmp(name, s) == 0) {
            return v;
        }
    }
    return -1;
}

static void set_default(kh_params *p, size_t i)
{
    const kh_param_info *e = &kh_param_table[i];
    char *base = (char *)p + e->offset;
    switch (e->kind) {
    case KH_PT_DOUBLE:
        *(double *)base = e->def;
        break;
    case KH_PT_LONG:
        *(long *)base = (long)e->def;
        break;
    case KH_PT_BOOL:
    case KH_PT_ENUM:
        *(int *)base = (int)e->def;
        break;
    case KH_PT_STRING:
        snprintf(base, e->size, "%s", e->def_str);
        break;
    }
}

kh_config *kh_config_alloc(void)
{
    kh_config *c = calloc(1, sizeof *c);
    if (!c || !(c->set = calloc(kh_param_count(), 1))) {
        kh_config_free(c);
        KH_ERROR(KH_ENOMEM, "cannot allocate the configuration");
        return NULL;
    }
    for (size_t i = 0; kh_param_table[i].key; i++) {
        set_default(&c->p, i);
    }
    return c;
}

void kh_config_free(kh_config *c)
{
    if (!c) {
        return;
    }
    free(c->study_text);
    free(c->set);
    free(c);
}

static int in_range(const kh_param_info *e, double x)
{
    if (e->min_open ? !(x > e->min) : !(x >= e->min)) {
        return 0;
    }
    return x <= e->max;
}

/* The bound past 1e299 is said only to a value beyond it (it is there to
 * keep products of such numbers finite, not a limit of the model). */
static int range_error(const kh_param_info *e, const char *where, const char *value, double x)
{
    if (e->max < 1e299 || x > e->max) {
        return KH_ERROR(KH_EINVAL, "%s%s.%s = %s is out of range: must be %s %g and <= %g", where,
                        e->section, e->key, value, e->min_open ? ">" : ">=", e->min, e->max);
    }
    return KH_ERROR(KH_EINVAL, "%s%s.%s = %s is out of range: must be %s %g", where, e->section,
                    e->key, value, e->min_open ? ">" : ">=", e->min);
}

int kh_config_set_kv(kh_config *c, const char *section, const char *key, const char *value,
                     const char *where)
{
    if (!section_known(section)) {
        return unknown_section(where, section);
    }
    long idx = kh_param_find(section, key);
    if (idx < 0) {
        char hint[160];
        did_you_mean(section, key, hint, sizeof hint);
        return KH_ERROR(KH_EINVAL, "%sunknown key '%s' in section [%s]%s", where, key, section,
                        hint);
    }
    const kh_param_info *e = &kh_param_table[idx];
    char *base = (char *)&c->p + e->offset;
    char *end = NULL;
    switch (e->kind) {
    case KH_PT_DOUBLE: {
        errno = 0;
        double x = strtod(value, &end);
        if (end == value || *end != '\0') {
            return KH_ERROR(KH_EINVAL, "%s%s.%s = '%s' is not a number", where, section, key,
                            value);
        }
        if (!isfinite(x)) {
            return KH_ERROR(KH_EINVAL, "%s%s.%s = %s is not finite", where, section, key, value);
        }
        if (!in_range(e, x)) {
            return range_error(e, where, value, x);
        }
        *(double *)base = x;
        break;
    }
    case KH_PT_LONG: {
        errno = 0;
        double x = strtod(value, &end);
        if (end == value || *end != '\0' || !isfinite(x)) {
            return KH_ERROR(KH_EINVAL, "%s%s.%s = '%s' is not a count", where, section, key, value);
        }
        if (x != floor(x)) {
            return KH_ERROR(KH_EINVAL, "%s%s.%s = %s is not an integer", where, section, key,
                            value);
        }
        if (!in_range(e, x)) {
            return range_error(e, where, value, x);
        }
        *(long *)base = (long)x;
        break;
    }
    case KH_PT_BOOL:
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes") ||
            !strcmp(value, "on")) {
            *(int *)base = 1;
        } else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") ||
                   !strcmp(value, "off")) {
            *(int *)base = 0;
        } else {
            return KH_ERROR(KH_EINVAL, "%s%s.%s = '%s' is not a boolean (true/false)", where,
                            section, key, value);
        }
        break;
    case KH_PT_ENUM: {
        int v = enum_value((size_t)idx, value);
        if (v < 0) {
            return KH_ERROR(KH_EINVAL, "%s%s.%s = '%s' is not one of %s", where, section, key,
                            value, e->choices);
        }
        *(int *)base = v;
        break;
    }
    case KH_PT_STRING:
        if (strlen(value) >= e->size) {
            return KH_ERROR(KH_EINVAL, "%s%s.%s is longer than %zu characters", where, section, key,
                            e->size - 1);
        }
        if (value[0] == '\0' && e->def_str[0] != '\0') {
            return KH_ERROR(KH_EINVAL, "%s%s.%s is empty", where, section, key);
        }
        snprintf(base, e->size, "%s", value);
        break;
    }
    c->set[idx] = 1;
    return KH_OK;
}

typedef struct parse_ctx {
    kh_config *c;
    const char *name;
    int status;
    unsigned char *seen;
} parse_ctx;

void kh_config_resolve(const char *study_path, const char *path, char *out, size_t len)
{
    snprintf(out, len, "%s", path);
    const char *slash = strrchr(study_path, '/');
    if (!path[0] || path[0] == '/' || !slash) {
        return;
    }
    char near[KH_PATH_MAX + KH_PATH_MAX];
    snprintf(near, sizeof near, "%.*s/%s", (int)(slash - study_path), study_path, path);
    if (access(near, F_OK) == 0 || access(path, F_OK) != 0) {
        snprintf(out, len, "%s", near); /* beside the study, also when neither exists */
    }
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *x = user;
    if (x->status != KH_OK) {
        return 0; /* inih goes on after an error: the first one is reported */
    }
    char where[KH_PATH_MAX + 16];
    snprintf(where, sizeof where, "%s: ", x->name);
    if (!name) {
        /* A section header with no key yet (INI_CALL_HANDLER_ON_NEW_SECTION builds). */
        if (!section_known(section)) {
            x->status = unknown_section(where, section);
            return 0;
        }
        return 1;
    }
    long idx = kh_param_find(section, name);
    if (idx >= 0 && x->seen[idx]) {
        x->status = KH_ERROR(KH_EINVAL, "%s%s.%s is given twice", where, section, name);
        return 0;
    }
    char resolved[KH_PATH_MAX];
    if (strcmp(name, "path") == 0 &&
        (strcmp(section, "input") == 0 || strcmp(section, "init") == 0)) {
        /* A file the study reads: beside the study file first. */
        kh_config_resolve(x->name, value, resolved, sizeof resolved);
        value = resolved;
    }
    int s = kh_config_set_kv(x->c, section, name, value, where);
    if (s != KH_OK) {
        x->status = s;
        return 0;
    }
    x->seen[idx] = 1;
    return 1;
}

/* Rejects section headers with no keys, which the ini callback never sees. */
static int check_sections(const char *text, const char *name)
{
    const char *l = text;
    long line = 1;
    while (*l) {
        const char *s = l;
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        if (*s == '[') {
            const char *e = strchr(s, ']');
            const char *nl = strchr(s, '\n');
            if (!e || (nl && e > nl)) {
                return KH_ERROR(KH_EINVAL, "%s:%ld: unterminated section header", name, line);
            }
            char sec[KH_NAME_MAX];
            snprintf(sec, sizeof sec, "%.*s", (int)(e - s - 1), s + 1);
            if (!section_known(sec)) {
                char where[KH_PATH_MAX + 32];
                snprintf(where, sizeof where, "%s:%ld: ", name, line);
                return unknown_section(where, sec);
            }
        }
        const char *nl = strchr(l, '\n');
        if (!nl) {
            break;
        }
        l = nl + 1;
        line++;
    }
    return KH_OK;
}

/* See kh_config.h. */
int kh_config_normalize(const char *text, const char *name, char **out)
{
    *out = NULL;
    size_t len = strlen(text);
    char *o = malloc(len + 1);
    if (!o) {
        return KH_ERROR(KH_ENOMEM, "cannot allocate the study text");
    }
    size_t w = 0;
    int line = 1;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        const char *stop = end;
        for (const char *q = p; q < end; q++) {
            if ((*q == '#' || *q == ';') && (q == p || q[-1] == ' ' || q[-1] == '\t')) {
                stop = q;
                break;
            }
        }
        while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r')) {
            stop--;
        }
        if (stop - p > KH_INI_LINE_MAX) {
            free(o);
            return KH_ERROR(KH_EINVAL,
                            "%s:%d: the line is %ld characters long (without its comment); at "
                            "most %d are read",
                            name, line, (long)(stop - p), KH_INI_LINE_MAX);
        }
        memcpy(o + w, p, (size_t)(stop - p));
        w += (size_t)(stop - p);
        if (nl) {
            o[w++] = '\n';
        }
        p = nl ? nl + 1 : end;
        line++;
    }
    o[w] = '\0';
    *out = o;
    return KH_OK;
}

int kh_config_parse_string(kh_config *c, const char *study, const char *name)
{
    if (c->study_path[0] == '\0') {
        snprintf(c->study_path, sizeof c->study_path, "%s", name);
    }
    if (!c->study_text) {
        c->study_text = strdup(study);
    }
    char *text = NULL;
    int s = kh_config_normalize(study, name, &text);
    if (s != KH_OK) {
        return s;
    }
    s = check_sections(text, name);
    if (s != KH_OK) {
        free(text);
        return s;
    }
    parse_ctx x = {c, name, KH_OK, calloc(kh_param_count(), 1)};
    if (!x.seen) {
        free(text);
        return KH_ERROR(KH_ENOMEM, "cannot allocate the parser state");
    }
    kh_error_clear();
    int line = ini_parse_string(text, on_ini_entry, &x);
    free(x.seen);
    free(text);
    if (line != 0) {
        if (x.status != KH_OK) {
            /* Prefix the line number to the handler's message. */
            char msg[2048];
            snprintf(msg, sizeof msg, "%s", kh_errmsg());
            const char *rest = msg;
            size_t nl = strlen(name);
            if (strncmp(rest, name, nl) == 0 && rest[nl] == ':') {
                rest += nl + 2;
            }
            return KH_ERROR(x.status, "%s:%d: %s", name, line, rest);
        }
        return KH_ERROR(KH_EINVAL, "%s:%d: syntax error (expected 'key = value' or '[section]')",
                        name, line);
    }
    return KH_OK;
}

int kh_config_read_text(const char *path, size_t max, const char *what, char **text)
{
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return KH_ERROR(KH_EIO, "%s: cannot open %s: %s", path, what, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return KH_ERROR(KH_EINVAL, "%s: a directory, not a %s", path, what);
    }
    /* Read as a stream, so that a pipe serves and a device such as
     * /dev/zero is seen for what it gives, not for its size of 0. */
    char *t = malloc(max + 1);
    if (!t) {
        fclose(f);
        return KH_ERROR(KH_ENOMEM, "%s: cannot allocate %zu bytes", path, max + 1);
    }
    const size_t len = fread(t, 1, max + 1, f);
    const int failed = ferror(f);
    fclose(f);
    int st_code = KH_OK;
    if (failed) {
        st_code = KH_ERROR(KH_EIO, "%s: cannot read %s", path, what);
    } else if (memchr(t, '\0', len)) {
        st_code = KH_ERROR(KH_EINVAL, "%s: not a text file (contains NUL bytes)", path);
    } else if (len > max) {
        st_code = KH_ERROR(KH_EINVAL, "%s: not a %s (larger than %zu kB)", path, what, max >> 10);
    }
    if (st_code != KH_OK) {
        free(t);
        return st_code;
    }
    t[len] = '\0';
    char *fit = realloc(t, len + 1);
    *text = fit ? fit : t;
    return KH_OK;
}

int kh_config_read(kh_config *c, const char *path)
{
    char *text = NULL;
    const int st = kh_config_read_text(path, (size_t)1 << 24, "study file", &text);
    if (st != KH_OK) {
        return st;
    }
    free(c->study_text);
    c->study_text = text;
    snprintf(c->study_path, sizeof c->study_path, "%s", path);
    return kh_config_parse_string(c, text, path);
}

int kh_config_set(kh_config *c, const char *assignment)
{
    char buf[KH_PATH_MAX + 128];
    if (strlen(assignment) >= sizeof buf) {
        return KH_ERROR(KH_EINVAL, "--set %.40s...: too long", assignment);
    }
    snprintf(buf, sizeof buf, "%s", assignment);
    char *eq = strchr(buf, '=');
    char *dot = strchr(buf, '.');
    if (!eq || !dot || dot > eq) {
        return KH_ERROR(KH_EINVAL, "--set %s: expected section.key=value", assignment);
    }
    *eq = '\0';
    *dot = '\0';
    /* "network.tau = 2" as well as "network.tau=2". */
    char *parts[3] = {buf, dot + 1, eq + 1};
    for (int k = 0; k < 3; k++) {
        while (*parts[k] == ' ' || *parts[k] == '\t') {
            parts[k]++;
        }
        char *end = parts[k] + strlen(parts[k]);
        while (end > parts[k] && (end[-1] == ' ' || end[-1] == '\t')) {
            *--end = '\0';
        }
    }
    return kh_config_set_kv(c, parts[0], parts[1], parts[2], "--set: ");
}

void kh_param_format(const kh_params *p, size_t i, char *buf, size_t len)
{
    const kh_param_info *e = &kh_param_table[i];
    const char *base = (const char *)p + e->offset;
    switch (e->kind) {
    case KH_PT_DOUBLE:
        snprintf(buf, len, "%.17g", *(const double *)base);
        break;
    case KH_PT_LONG:
        snprintf(buf, len, "%ld", *(const long *)base);
        break;
    case KH_PT_BOOL:
        snprintf(buf, len, "%s", *(const int *)base ? "true" : "false");
        break;
    case KH_PT_ENUM:
        kh_param_enum_name(i, *(const int *)base, buf, len);
        break;
    case KH_PT_STRING:
        snprintf(buf, len, "%s", base);
        break;
    }
}

#ifndef KH_SHARE_DIR
#define KH_SHARE_DIR "/usr/local/share/khsim"
#endif

int kh_config_data_dir(char *buf, size_t len)
{
    char here[KH_PATH_MAX - 64] = "";
    const ssize_t k = readlink("/proc/self/exe", here, sizeof here - 1);
    if (k > 0) {
        here[k] = '\0';
        char *slash = strrchr(here, '/');
        if (slash) {
            *slash = '\0';
        }
    }
    /* Installed beside the binary (PREFIX/bin/khsim, PREFIX/share/khsim/data:
     * wherever the tree was moved), where the build put it, or a build tree. */
    const char *places[3][2] = {
        {here, "/../share/khsim/data"}, {KH_SHARE_DIR "/data", ""}, {here, "/data"}};
    for (int i = 0; i < 3; i++) {
        if (!places[i][0][0]) {
            continue;
        }
        snprintf(buf, len, "%s%s/mnist-1000", places[i][0], places[i][1]);
        if (access(buf, F_OK) == 0) {
            buf[strlen(buf) - strlen("/mnist-1000")] = '\0';
            char real[PATH_MAX];
            if (realpath(buf, real) && strlen(real) < len) {
                strcpy(buf, real);
            }
            return KH_OK;
        }
    }
    return KH_ERROR(KH_EIO,
                    "no shipped data: none of %s/../share/khsim/data, %s/data and %s/data holds "
                    "mnist-1000 (make install puts them in the first)",
                    here[0] ? here : "(the binary's directory)", KH_SHARE_DIR,
                    here[0] ? here : "(the binary's directory)");
}

int kh_config_validate(kh_config *c)
{
    kh_params *p = &c->p;
    const char *name = c->study_path[0] ? c->study_path : "study";
    long ip = kh_param_find("input", "presentation_time_end");
    if (!c->set[ip]) {
        p->presentation_time_end = p->presentation_time;
    }
    /* The shipped digits (an installed khsim's, or its build tree's), when
     * input.path is left at its default and the current directory has none. */
    char shipped[KH_PATH_MAX - 16];
    if (!c->set[kh_param_find("input", "path")] && access(p->input_path, F_OK) != 0 &&
        kh_config_data_dir(shipped, sizeof shipped) == KH_OK) {
        snprintf(p->input_path, sizeof p->input_path, "%s/mnist-1000", shipped);
    }
    if (p->source != KH_SRC_UNIFORM && p->input_path[0] == '\0') {
        return KH_ERROR(KH_EINVAL, "%s: input.path is required for this input.source", name);
    }
    if (p->source == KH_SRC_FILE && !c->set[kh_param_find("input", "path")]) {
        /* Its default is the MNIST directory, not one file. */
        return KH_ERROR(KH_EINVAL,
                        "%s: input.source = file needs input.path (an idx file: ubyte, float "
                        "or double)",
                        name);
    }
    if (p->source == KH_SRC_UNIFORM && p->n_visible == 0) {
        return KH_ERROR(KH_EINVAL,
                        "%s: network.inputs must be set (> 0) for input.source = "
                        "uniform",
                        name);
    }
    kh_lr_schedule lrs;
    if (kh_lr_schedule_parse(p->tr_lr_schedule, &lrs) != KH_OK) {
        return KH_ERROR(KH_EINVAL, "%s: %s", name, kh_errmsg());
    }
    if (p->weights == KH_INIT_FILE && p->init_path[0] == '\0') {
        return KH_ERROR(KH_EINVAL, "%s: init.path is required for init.weights = file", name);
    }
    /* The fast rule ranks the hidden units (khsim conv ranks channels x
     * positions, which the study's network.hidden does not count). */
    if (p->k > p->n_hidden && c->set[kh_param_find("learning", "k")] &&
        (kh_method_caps(p->method) & KH_SOLVER_NOT_ODE)) {
        return KH_ERROR(KH_EINVAL, "%s: learning.k = %ld exceeds network.hidden = %ld", name, p->k,
                        p->n_hidden);
    }
    if (p->out_path[0] == '\0') {
        const char *b = c->study_path[0] ? strrchr(c->study_path, '/') : NULL;
        b = b ? b + 1 : (c->study_path[0] ? c->study_path : "study");
        const char *dot = strrchr(b, '.');
        int l = dot ? (int)(dot - b) : (int)strlen(b);
        snprintf(p->out_path, sizeof p->out_path, "output/%.*s.h5", l, b);
    }
    return KH_OK;
}

double kh_config_presentation_time(const kh_params *p, long s, long n)
{
    if (n <= 1) {
        return p->presentation_time;
    }
    double f = (double)s / (double)(n - 1);
    return p->presentation_time + f * (p->presentation_time_end - p->presentation_time);
}
