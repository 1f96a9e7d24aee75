#!/bin/sh
# gpu/check.sh: the GPU check, on a machine with an NVIDIA GPU, in one call,
# in under 5 minutes:
#   1. build (make gpu), unless build-gpu/ came built with the tree;
#   2. khsim_gpucheck: the GPU against the CPU on fresh random inputs (double
#      within 1e-12 relative, float within 1e-5), then the throughput table
#      (copy bandwidth; batched Euler for B = 1 ... 4096; the fast rule's
#      epoch on MNIST at m = 2000, GPU and CPU of the same machine);
#   3. end to end through the study file: bench/fast.ini (the fast rule on
#      MNIST, m = 2000), examples/ensemble.ini and examples/conv_mnist.ini
#      (on the shipped digits) with solver.device = cuda and = cpu, and
#      (where python3 has h5py and numpy) the largest difference of their
#      final weights.
# Results go to $OUT (or output/gpu) as gpu_check.txt. Exit status: that of
# the check (1: a comparison failed; 2: no GPU).
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-output/gpu}
mkdir -p "$OUT"
if [ ! -x build-gpu/khsim_gpucheck ] || [ ! -x build-gpu/khsim ]; then
    make gpu
fi
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
{
    echo "gpu/check.sh on $(hostname), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPU cores"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    echo
} > "$OUT/gpu_check.txt"
status=0
timeout 240 ./build-gpu/khsim_gpucheck data/mnist >> "$OUT/gpu_check.txt" 2>&1 || status=$?
# End to end through the study file: the same ensemble on the GPU and the CPU.
for dev in cuda cpu; do
    timeout 60 ./build-gpu/khsim run examples/ensemble.ini --quiet --force -o "$OUT/ensemble_$dev.h5" \
        --set solver.device=$dev >> "$OUT/gpu_check.txt" 2>&1 || status=1
done
# The fast rule through the study file on MNIST (m = 2000), GPU and CPU, double.
for dev in cuda cpu; do
    timeout 90 ./build-gpu/khsim run bench/fast.ini --quiet --force -o "$OUT/fast_$dev.h5" \
        --set solver.device=$dev --set solver.precision=double --set learning.epochs=2 \
        >> "$OUT/gpu_check.txt" 2>&1 || status=1
done
if python3 -c "import h5py, numpy" 2>/dev/null; then
    python3 - "$OUT/fast_cuda.h5" "$OUT/fast_cpu.h5" >> "$OUT/gpu_check.txt" 2>&1 <<'PY' || status=1
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
d = float(np.max(np.abs(a["/snapshots/W"][-1] - b["/snapshots/W"][-1])))
print(f"end to end, bench/fast.ini (double, 2 epochs): W cuda vs cpu, max |diff| {d:.3e}; "
      f"s/epoch cuda {a['/epochs/wall_seconds'][-1]:.3f}, cpu {b['/epochs/wall_seconds'][-1]:.3f}")
sys.exit(0 if d <= 1e-9 else 1)
PY
fi
# The convolutional layers (khsim conv) on the shipped digits, GPU and CPU, double.
for dev in cuda cpu; do
    timeout 60 ./build-gpu/khsim conv examples/conv_mnist.ini --quiet --force -o "$OUT/conv_$dev.h5" \
        --set solver.device=$dev --set input.path=data/mnist-1000 --set input.samples=1000 \
        --set learning.epochs=2 >> "$OUT/gpu_check.txt" 2>&1 || status=1
done
if python3 -c "import h5py, numpy" 2>/dev/null; then
    python3 - "$OUT/conv_cuda.h5" "$OUT/conv_cpu.h5" >> "$OUT/gpu_check.txt" 2>&1 <<'PY' || status=1
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
d = max(float(np.max(np.abs(a[f"/conv/layer{l}/W"][-1] - b[f"/conv/layer{l}/W"][-1])))
        for l in (1, 2))
print(f"end to end, examples/conv_mnist.ini (1000 digits, 2 epochs, double): W cuda vs cpu, "
      f"max |diff| {d:.3e}; devices {a['conv'].attrs['device']} / {b['conv'].attrs['device']}")
sys.exit(0 if d <= 1e-9 else 1)
PY
fi
if python3 -c "import h5py, numpy" 2>/dev/null; then
    python3 - "$OUT/ensemble_cuda.h5" "$OUT/ensemble_cpu.h5" >> "$OUT/gpu_check.txt" 2>&1 <<'PY' || status=1
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], "r")["/ensemble/W_final"][...]
b = h5py.File(sys.argv[2], "r")["/ensemble/W_final"][...]
d = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
print(f"end to end, examples/ensemble.ini: /ensemble/W_final cuda vs cpu, max rel. diff {d:.3e}")
sys.exit(0 if d <= 1e-12 else 1)
PY
else
    echo "end to end: no python3 with h5py here; the two files are in $OUT" >> "$OUT/gpu_check.txt"
fi
cat "$OUT/gpu_check.txt"
exit $status
