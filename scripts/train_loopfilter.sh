#!/usr/bin/env bash
# Reproduces the default learned loop filter (models/loopfilter.micanet) from
# ../shared/media/train with fixed seeds: installs CPU libtorch if needed,
# builds mica-train and mica-model, then
#   1. trains the inter-frame network (output 0) on random-access encodes of
#      the training clips and stills, learned filter off (checkpoint
#      models/loopfilter.ckpt);
#   2. trains the keyframe network (output 1) on all-intra encodes of the same
#      material, starting from the inter-frame network (checkpoint
#      models/loopfilter-key.ckpt);
#   3. joins the two into the one model file streams name.
#
# usage: scripts/train_loopfilter.sh [extra mica-train filter options]
#   e.g. --cuda on a GPU host (libtorch with CUDA, see ../shared/notes/libtorch.md)
# Each step's other settings are the defaults of `mica-train filter` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-mica-train.sh
cargo build --release -p mica-cli --features torch --bin mica-model
work=target/loopfilter-train
mkdir -p "$work"
# Training reads its clips encoded by this build with the learned filter off.
target/release/mica-train filter --out "$work/inter.micanet" \
  --checkpoint models/loopfilter.ckpt "$@"
target/release/mica-train filter --all-intra --frames 4 --frame-step 5 --patches 32 \
  --init models/loopfilter.ckpt --float-fraction 0 --lr 3e-4 --steps 4000 \
  --out "$work/key.micanet" --checkpoint models/loopfilter-key.ckpt "$@"
target/release/mica-model join "$work/inter.micanet" "$work/key.micanet" \
  -o models/loopfilter.micanet
