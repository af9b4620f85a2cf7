# Sourced by the training scripts (from the repository root): installs CPU
# libtorch if needed, exports LIBTORCH and LD_LIBRARY_PATH, and builds the
# release mica-train with the torch feature.
LIBTORCH=${LIBTORCH:-$PWD/third_party/libtorch}
[ -d "$LIBTORCH/lib" ] || scripts/install-libtorch.sh "$LIBTORCH"
export LIBTORCH LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cargo build --release -p mica-train --features torch
