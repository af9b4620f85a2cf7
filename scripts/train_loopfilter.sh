#!/usr/bin/env bash
# Reproduces the default learned loop filter (models/loopfilter.micanet) from
# ../shared/media/train with fixed seeds: installs CPU libtorch if needed,
# builds mica-train, encodes the training clips with the filter off, trains
# with quantisation awareness and exports the model and its checkpoint.
#
# usage: scripts/train_loopfilter.sh [extra mica-train filter options]
#   e.g. --cuda on a GPU host (libtorch with CUDA, see ../shared/notes/libtorch.md)
# The recipe's settings are the defaults of `mica-train filter` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-mica-train.sh
# Training reads its clips encoded by this build with the learned filter off.
exec target/release/mica-train filter "$@"
