#!/bin/sh
# The exact dynamics against the fast rule at m = 2000 (docs/scale.md): both
# runs from the same W(0), the readout of khsim train on each W, then the
# comparison (scripts/scale_compare.py). Needs the full MNIST set (make data).
# Extra arguments go to both runs (e.g. --set solver.threads=1).
set -eu
cd "$(dirname "$0")/.."
test -f data/mnist/train-images-idx3-ubyte || test -f data/mnist/train-images-idx3-ubyte.gz ||
    make data
./khsim run examples/scale_exact.ini --force --progress "$@"
./khsim run examples/scale_fast.ini --force --progress "$@"
for w in exact fast; do
    ./khsim train examples/train_mnist.ini --force --progress --set train.features=file \
        --set init.path=output/scale_$w.h5 -o output/train_scale_$w.h5
done
/usr/bin/python3 scripts/scale_compare.py output/scale_exact.h5 output/scale_fast.h5 \
    output/train_scale_exact.h5 output/train_scale_fast.h5 --mnist data/mnist \
    --out output/figures --name scale
