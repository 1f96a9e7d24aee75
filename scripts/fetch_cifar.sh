#!/bin/sh
# Fetches CIFAR-10's binary version (cifar-10-binary.tar.gz, 162 MB) from its
# authors' site into data/ (data/cifar-10-batches-bin: data_batch_1..5.bin,
# test_batch.bin) and verifies the archive against the MD5 sum the site
# publishes (data/cifar10.md5). The site is not reachable from every machine;
# the archive may also be put at data/cifar-10-binary.tar.gz by hand.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/data"
url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
tgz="$dest/cifar-10-binary.tar.gz"
if [ -f "$dest/cifar-10-batches-bin/test_batch.bin" ]; then
    echo "CIFAR-10 already in $dest/cifar-10-batches-bin"
    exit 0
fi
if [ ! -f "$tgz" ]; then
    if command -v curl >/dev/null 2>&1; then
        curl -fL --retry 2 -o "$tgz.part" "$url" || {
            rm -f "$tgz.part"
            echo "fetch_cifar: cannot download $url (put the archive at $tgz by hand)" >&2
            exit 2
        }
    else
        wget -O "$tgz.part" "$url" || {
            rm -f "$tgz.part"
            echo "fetch_cifar: cannot download $url (put the archive at $tgz by hand)" >&2
            exit 2
        }
    fi
    mv "$tgz.part" "$tgz"
fi
(cd "$dest" && md5sum -c --quiet "$here/data/cifar10.md5") || {
    echo "fetch_cifar: $tgz does not match data/cifar10.md5" >&2
    exit 1
}
tar -xzf "$tgz" -C "$dest"
echo "CIFAR-10: 50 000 training and 10 000 test images in $dest/cifar-10-batches-bin"
