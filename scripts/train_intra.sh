#!/usr/bin/env bash
# Reproduces the default learned intra predictor (models/intra/intra.micanet) from
# ../shared/media/train with fixed seeds: installs CPU libtorch if needed,
# builds mica-train, encodes the training material all-intra with the learned
# tools off, collects every aligned luma block with its references, trains
# with quantisation awareness and exports the model and its checkpoint.
#
# usage: scripts/train_intra.sh [extra mica-train intra options]
#   e.g. --cuda on a GPU host (libtorch with CUDA, see ../shared/notes/libtorch.md)
# Two stages, both `mica-train intra` with its defaults otherwise (see --help):
# 12,000 steps of plain squared error (30 % float, then quantisation-aware),
# then 8,000 quantisation-aware steps of the "best of network and modes" loss
# from that checkpoint, which lets the network specialise in the blocks the
# traditional modes predict badly. The stage-1 files go to target/intra-stage1.*
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-mica-train.sh
# Training reads its clips encoded by this build (all-intra, learned tools off).
target/release/mica-train intra --steps 12000 \
  --out target/intra-stage1.micanet --checkpoint target/intra-stage1.ckpt "$@"
exec target/release/mica-train intra --loss best --init target/intra-stage1.ckpt \
  --steps 8000 --lr 1e-3 --float-fraction 0 "$@"
