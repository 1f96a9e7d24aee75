#!/bin/sh
# The measurements of docs/kcap.md: examples/kcap_moons.ini on the three data
# sets of the seed, seeds 1, 2, 3, into output/kcap/; then
# /usr/bin/python3 scripts/kcap_table.py output/kcap.
set -eu
cd "$(dirname "$0")/.."
mkdir -p output/kcap
for d in moons blobs circles; do
  for s in 1 2 3; do
    ./khsim kcap examples/kcap_moons.ini --force -q --set kcap.data=$d --set kcap.seed=$s \
      -o output/kcap/${d}_s$s.h5
  done
done
echo done
