#!/bin/sh
# The exact dynamics at m = 2000 for as many whole epochs of the MNIST
# training set as fit in an hour (docs/scale.md, "An hour of the exact
# dynamics"): examples/scale_exact.ini over all 60 000 training digits, each
# epoch from the W the last one left (init.weights = file), one thread; a
# next epoch starts only if it should end within the hour at the pace of the
# last one. Then the readout of khsim train on the final W and the
# comparison with the fast rule's 100 epochs from the same W(0)
# (output/scale_fast_100.h5 and its readout, made when missing).
#
#   sh scripts/scale_hour.sh            (KH_HOUR=seconds to change the budget)
#
# Each epoch's record holds a row at every presentation's start (2 GB): only
# the latest is kept. output/scale_hour/epochs.txt gets one line an epoch
# (its seconds and the sphere of its W), output/scale_hour/W_epochN.npy the
# W of each epoch (12.5 MB each).
set -eu
cd "$(dirname "$0")/.."
KHSIM=${KHSIM:-./khsim}
budget=${KH_HOUR:-3600}
out=output/scale_hour
test -f data/mnist/train-images-idx3-ubyte || test -f data/mnist/train-images-idx3-ubyte.gz ||
    make data
mkdir -p "$out"
: >"$out/epochs.txt"
start=$(date +%s)
e=0
prev=
last=0
while :; do
    now=$(date +%s)
    if [ "$e" -gt 0 ] && [ $((now - start + last)) -gt "$budget" ]; then
        break
    fi
    e=$((e + 1))
    t0=$(date +%s)
    if [ -n "$prev" ]; then
        set -- --set init.weights=file --set init.path="$prev"
    else
        set --
    fi
    "$KHSIM" run examples/scale_exact.ini --force --progress --set input.samples=60000 \
        --set output.snapshot_every=300000 --set output.record_every=300000 \
        --set solver.threads=1 "$@" -o "$out/epoch$e.h5"
    last=$(($(date +%s) - t0))
    /usr/bin/python3 - "$out/epoch$e.h5" "$out/W_epoch$e.npy" "$e" "$last" \
        >>"$out/epochs.txt" <<'PY'
import sys
import h5py
import numpy as np
path, npy, e, secs = sys.argv[1:5]
with h5py.File(path, "r") as f:
    W = f["snapshots/W"][-1]
    p = float(f["params"].attrs["network.p"])
    R = float(f["params"].attrs["network.R"])
np.save(npy, W)
dev = np.abs((np.abs(W) ** p).sum(1) - R ** p)
print("epoch %s: %s s, |B - R^p| median %.3g, 90 %% %.3g, max %.3g, within 1e-2 %.1f %%"
      % (e, secs, np.median(dev), np.percentile(dev, 90), dev.max(), 100 * np.mean(dev < 1e-2)))
PY
    tail -n 1 "$out/epochs.txt"
    if [ -n "$prev" ]; then
        rm -f "$prev"
    fi
    prev=$out/epoch$e.h5
done
cp "$prev" output/scale_exact_hour.h5
rm -f "$prev"
if [ ! -f output/scale_fast_100.h5 ]; then
    "$KHSIM" run examples/scale_fast.ini --force --progress --set learning.epochs=100 \
        --set solver.threads=1 -o output/scale_fast_100.h5
fi
for w in exact_hour fast_100; do
    if [ "$w" = exact_hour ] || [ ! -f output/train_scale_$w.h5 ]; then
        "$KHSIM" train examples/train_mnist.ini --force --progress --set train.features=file \
            --set init.path=output/scale_$w.h5 -o output/train_scale_$w.h5
    fi
done
/usr/bin/python3 scripts/scale_compare.py output/scale_exact_hour.h5 output/scale_fast_100.h5 \
    output/train_scale_exact_hour.h5 output/train_scale_fast_100.h5 --mnist data/mnist \
    --out output/figures --name scale_hour
