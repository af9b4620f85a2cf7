#!/usr/bin/env bash
# Installs libtorch 2.11.0 (what tch 0.24 needs) from PyPI without a full
# `pip install torch`: the wheel and the two CUDA runtime libraries that
# libtorch_cpu links against, unpacked without dependencies and laid out as a
# libtorch distribution. About 500 MB on disk.
#
# usage: scripts/install-libtorch.sh [DEST]   (default: third_party/libtorch)
# then:  export LIBTORCH=DEST LD_LIBRARY_PATH=DEST/lib
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-third_party/libtorch}
if [ -f "$dest/build-version" ] && grep -qx 2.11.0 "$dest/build-version"; then
  echo "libtorch 2.11.0 already in $dest"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip install --quiet --no-cache-dir --no-deps --only-binary=:all: --target "$tmp" \
  torch==2.11.0 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
rm -rf "$dest"
mkdir -p "$dest/lib"
cp -r "$tmp/torch/include" "$dest/include"
for lib in libtorch_cpu.so libc10.so libgomp.so.1 libtorch.so; do
  cp "$tmp/torch/lib/$lib" "$dest/lib/"
done
# Optional GPU part, loaded at run time when present.
[ -f "$tmp/torch/lib/libtorch_cuda.so" ] && cp "$tmp/torch/lib/libtorch_cuda.so" "$dest/lib/" || true
[ -f "$tmp/torch/lib/libc10_cuda.so" ] && cp "$tmp/torch/lib/libc10_cuda.so" "$dest/lib/" || true
cp "$tmp"/nvidia/cu13/lib/libcudart.so.13 "$tmp"/nvidia/cu13/lib/libcupti.so.13 "$dest/lib/"
echo 2.11.0 > "$dest/build-version"
echo "libtorch 2.11.0 installed in $dest"
