#!/bin/sh
# reduced against full-state dopri5 at m = 2000 (docs/solvers.md): 10
# presentations of examples/scale_exact.ini from W(0) near the sphere, both
# at rtol 1e-9 (dopri5 with every switch located: left to its error
# control they cost it 1.2e-5 in W); prints the largest relative
# differences of W and h.
set -eu
cd "$(dirname "$0")/.."; mkdir -p bench/out
for m in reduced dopri5; do
  t0=$(date +%s.%N)
  timeout 900 ./khsim run examples/scale_exact.ini -q --force -o bench/out/acc_$m.h5 --set init.scale=0.145 --set input.samples=10 --set solver.method=$m --set solver.rtol=1e-9 --set solver.atol=1e-12 --set solver.locate_switches=all --set solver.threads=1 --set output.snapshot_every=5 --set output.record_every=1
  /usr/bin/python3 -c "import sys, time; print(sys.argv[1] + ': %.1f s' % (time.time() - float(sys.argv[2])))" "$m" "$t0"
done
/usr/bin/python3 - <<'PY'
import h5py, numpy as np
a=h5py.File('bench/out/acc_reduced.h5'); b=h5py.File('bench/out/acc_dopri5.h5')
for d in ['snapshots/W','trajectory/h']:
    x=a[d][()]; y=b[d][()]
    print(d, 'max rel diff %.2e'%(np.abs(x-y).max()/np.abs(y).max()))
PY
