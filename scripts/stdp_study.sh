#!/bin/sh
# The measurements of docs/stdp.md: the five MNIST pairs of the seed (after
# make data) and the three Iris pairs, three seeds each, into output/stdp/;
# then /usr/bin/python3 scripts/stdp_table.py output/stdp.
set -eu
cd "$(dirname "$0")/.."
run() { ./khsim stdp examples/stdp_mnist.ini --force -q --set stdp.class1=$1 --set stdp.seed=$2 -o output/stdp/mnist_0v$1_s$2.h5; }
mkdir -p output/stdp
for c in 1 2 3 4 5; do
  run $c 1 & run $c 2; wait; run $c 3
done
for pr in "0 1" "0 2" "1 2"; do set -- $pr
  for s in 1 2 3; do ./khsim stdp examples/stdp_iris.ini --force -q --set stdp.class0=$1 --set stdp.class1=$2 --set stdp.seed=$s -o output/stdp/iris_$1v$2_s$s.h5; done
done
echo done
