#!/bin/sh
# Installs the Debian packages khsim needs, when any is missing.
# Run by make; safe to run by hand. Uses apt-get as root, sudo otherwise.
set -eu
PKGS="build-essential libgsl-dev libhdf5-dev check libopenblas-dev libinih-dev pkg-config \
python3-h5py python3-matplotlib python3-numpy python3-scipy python3-xarray libopenmpi-dev \
openmpi-bin"
# `setup.sh fuzz` (make fuzz): clang and its libFuzzer runtime too.
if [ "${1:-}" = "fuzz" ]; then
    PKGS="$PKGS clang libclang-rt-14-dev libomp-14-dev"
fi
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "khsim setup: installing$missing" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
