#!/usr/bin/env bash
# Reproduces the default learned loop filter (models/loopfilter/loopfilter.micanet) from
# ../shared/media/train with fixed seeds: installs CPU libtorch if needed,
# builds mica-train and mica-model, then
#   1. trains a first inter-frame network on random-access encodes of the
#      training clips and stills with the learned filter off;
#   2. trains a keyframe network on all-intra encodes of the same material,
#      starting from that network (checkpoint target/loopfilter-train/key.ckpt);
#   3. joins the two (the first-round filter);
#   4. trains the inter-frame network a second round, from its first-round
#      checkpoint, on encodes that use the first-round filter in the loop, so
#      it learns the frames it filters in a real stream (predicted from
#      filtered references) (checkpoint target/loopfilter-train/inter.ckpt);
#   5. specialises each of the two for one kind of plane: fine-tunes the
#      keyframe network on luma patches only and on chroma patches only (the
#      all-intra material of step 2), and the second-round inter network
#      likewise (the material of step 4) (checkpoints
#      target/loopfilter-train/{key,inter}-{luma,chroma}.ckpt), and joins the four
#      (round2: an earlier default model);
#   6. fine-tunes the four networks of step 5 further with the per-patch log
#      loss (`--loss log-mse`: the mean PSNR gain per patch, so low-QP and
#      flat patches count as much as high-QP busy ones): the keyframe ones
#      first on the material of step 5, then on twice as many frames (every
#      2nd of the first 16 of each clip); the inter-frame ones on encodes with
#      step 5's four networks in the loop (checkpoints
#      target/loopfilter-train/{key,inter}-{luma,chroma}-log.ckpt);
#   7. joins the four (round3), then shrinks the two chroma networks from 24
#      hidden channels to 15 (6.6 kMAC per chroma sample instead of 16.4), so
#      that a frame costs 19.7 kMAC per luma pixel in all, within the 20 kMAC
#      budget (with 24-channel chroma networks it was 24.6): each starts from
#      its step-6 checkpoint pruned to its 15 strongest channels per layer
#      (`--channels 15 --init`, see `mica-train filter --help`) and is
#      fine-tuned with the log loss, the keyframe one on step 6's second
#      keyframe material, the inter-frame one on encodes with round3 in the
#      loop (checkpoints target/loopfilter-train/key-chroma-small.ckpt and
#      models/loopfilter/checkpoints/inter-chroma-small.ckpt);
#   8. joins the four (round4), then trains the inter-frame luma network one
#      more round with the log loss on encodes with round4 in the loop
#      (checkpoint target/loopfilter-train/inter-luma-log2.ckpt);
#   9. joins the four (inter luma, key luma, inter chroma, key chroma);
#  10. trains a second set for low QPs: the keyframe luma and chroma networks
#      and the inter luma network of step 9, each fine-tuned once more with
#      the log loss on its own material encoded at QP 17, 22 and 27 only
#      (checkpoints target/loopfilter-train/{key-luma,key-chroma,inter-luma}-low.ckpt),
#      and joins the eight (step 9's four, then inter luma low, key luma low,
#      inter chroma (again), key chroma low): the one model file streams
#      name. Each frame picks a set per kind of plane (`nn_filter_set`); a
#      plane runs only its own network;
#  11. fine-tunes the three networks of step 10 once more with the "best of"
#      log loss (`--loss best-log`: a patch counts by the better of its
#      filtered and unfiltered error, as the encoder switches the filter off
#      per superblock where it does not help), same material
#      (checkpoints target/loopfilter-train/{key-luma,key-chroma,inter-luma}-low-best.ckpt),
#      and joins the eight again;
#  12. fine-tunes the four keyframe networks (steps 7 and 11's) on keyframes
#      deblocked with offset -2 (`--deblock-offset -2`), as the encoder
#      deblocks keyframes when the learned filter is on
#      (`mica::internals::loop_filter::KEYFRAME_DEBLOCK_OFFSET_WITH_NN_FILTER`), each with its own
#      loss and material (checkpoints models/loopfilter/checkpoints/key-*-weakdb.ckpt),
#      and joins the eight (round8);
#  13. fine-tunes both inter luma networks (steps 8 and 11's) once more on
#      encodes with round8 in the loop and the encoder's own deblocking
#      (`--deblock-offset auto`: keyframes deblocked less), each with its own
#      loss and QPs (checkpoints models/loopfilter/checkpoints/inter-luma{,-low}-weakdb.ckpt),
#      and joins the eight (round9);
#  14. fine-tunes both inter luma networks once more on the temporal structure
#      of issue 27 (the encoder's defaults since: groups of 16 with VVenC's QP
#      cascade, temporal filtering, block-importance QP), with round9 in the
#      loop (checkpoints models/loopfilter/checkpoints/inter-luma{,-low}-t27.ckpt),
#      and joins the eight (round10). (Its inter chroma network was
#      fine-tuned the same way and gained nothing on held-out patches, so
#      step 7's stays.)
#  15. fine-tunes the four luma networks of round10 once more on the core of
#      issue 28 (multi-type trees, rectangular and DST-VII transforms, LM, the
#      adaptive loop filter), each on its own material of steps 12-14
#      re-encoded by this build (the inter ones with round10 in the loop),
#      2,000 steps from 2e-4 (checkpoints
#      models/loopfilter/checkpoints/{inter,key}-luma{,-low}-t28.ckpt), and
#      joins the eight with round10's chroma networks: the shipped model.
#
# usage: scripts/train_loopfilter.sh [extra mica-train filter options]
#   e.g. --cuda on a GPU host (libtorch with CUDA, see ../shared/notes/libtorch.md)
# Each step's other settings are the defaults of `mica-train filter` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/build-mica-train.sh
cargo build --release -p mica-cli --bin mica-model
work=target/loopfilter-train
mkdir -p "$work"
# Training reads its clips encoded by this build: with the learned filter off
# (steps 1, 2, the keyframe halves of 5 and 6 and the keyframe chroma network
# of 7), then with the first-round
# filter on (step 4 and the inter half of 5), then with step 5's four networks
# on (the inter half of 6), then with step 6's four on (the inter chroma
# network of 7), then with step 7's (the inter luma network of 8).
target/release/mica-train filter --out "$work/inter1.micanet" \
  --checkpoint "$work/inter1.ckpt" "$@"
target/release/mica-train filter --all-intra --frames 4 --frame-step 5 --patches 32 \
  --init "$work/inter1.ckpt" --float-fraction 0 --lr 3e-4 --steps 4000 \
  --out "$work/key.micanet" --checkpoint $work/key.ckpt "$@"
target/release/mica-model join "$work/inter1.micanet" "$work/key.micanet" \
  -o "$work/round1.micanet"
target/release/mica-train filter --filter-on "$work/round1.micanet" \
  --init "$work/inter1.ckpt" --float-fraction 0 --lr 3e-4 --steps 8000 \
  --out "$work/inter.micanet" --checkpoint $work/inter.ckpt "$@"
for planes in luma chroma; do
  target/release/mica-train filter --all-intra --frames 4 --frame-step 5 --patches 64 \
    --planes "$planes" --init $work/key.ckpt --float-fraction 0 --lr 3e-4 \
    --steps 3000 --out "$work/key-$planes.micanet" \
    --checkpoint "$work/key-$planes.ckpt" "$@"
  target/release/mica-train filter --filter-on "$work/round1.micanet" --patches 16 \
    --planes "$planes" --init $work/inter.ckpt --float-fraction 0 --lr 3e-4 \
    --steps 3000 --out "$work/inter-$planes.micanet" \
    --checkpoint "$work/inter-$planes.ckpt" "$@"
done
target/release/mica-model join "$work/inter-luma.micanet" "$work/key-luma.micanet" \
  "$work/inter-chroma.micanet" "$work/key-chroma.micanet" -o "$work/round2.micanet"
for planes in luma chroma; do
  target/release/mica-train filter --all-intra --frames 4 --frame-step 5 --patches 64 \
    --planes "$planes" --init "$work/key-$planes.ckpt" --float-fraction 0 \
    --lr 3e-4 --steps 3000 --loss log-mse --out "$work/key-$planes-log1.micanet" \
    --checkpoint "$work/key-$planes-log1.ckpt" "$@"
  target/release/mica-train filter --all-intra --frames 8 --frame-step 2 --patches 64 \
    --planes "$planes" --init "$work/key-$planes-log1.ckpt" --float-fraction 0 \
    --lr 2e-4 --steps 3000 --loss log-mse --out "$work/key-$planes-log.micanet" \
    --checkpoint "$work/key-$planes-log.ckpt" "$@"
  target/release/mica-train filter --filter-on "$work/round2.micanet" --patches 16 \
    --planes "$planes" --init "$work/inter-$planes.ckpt" --float-fraction 0 \
    --lr 3e-4 --steps 3000 --loss log-mse --out "$work/inter-$planes-log.micanet" \
    --checkpoint "$work/inter-$planes-log.ckpt" "$@"
done
target/release/mica-model join "$work/inter-luma-log.micanet" "$work/key-luma-log.micanet" \
  "$work/inter-chroma-log.micanet" "$work/key-chroma-log.micanet" -o "$work/round3.micanet"
target/release/mica-train filter --all-intra --frames 8 --frame-step 2 --patches 64 \
  --planes chroma --channels 15 --init $work/key-chroma-log.ckpt \
  --float-fraction 0 --lr 3e-4 --steps 4000 --loss log-mse \
  --out "$work/key-chroma-small.micanet" \
  --checkpoint $work/key-chroma-small.ckpt "$@"
target/release/mica-train filter --filter-on "$work/round3.micanet" --patches 16 \
  --planes chroma --channels 15 --init $work/inter-chroma-log.ckpt \
  --float-fraction 0 --lr 3e-4 --steps 4000 --loss log-mse \
  --out "$work/inter-chroma-small.micanet" \
  --checkpoint models/loopfilter/checkpoints/inter-chroma-small.ckpt "$@"
target/release/mica-model join "$work/inter-luma-log.micanet" "$work/key-luma-log.micanet" \
  "$work/inter-chroma-small.micanet" "$work/key-chroma-small.micanet" -o "$work/round4.micanet"
target/release/mica-train filter --filter-on "$work/round4.micanet" --patches 16 \
  --planes luma --init $work/inter-luma-log.ckpt --float-fraction 0 \
  --lr 2e-4 --steps 3000 --loss log-mse --out "$work/inter-luma-log2.micanet" \
  --checkpoint $work/inter-luma-log2.ckpt "$@"
target/release/mica-model join "$work/inter-luma-log2.micanet" "$work/key-luma-log.micanet" \
  "$work/inter-chroma-small.micanet" "$work/key-chroma-small.micanet" -o "$work/round5.micanet"
# Joins two sets of four (both use step 7's small inter chroma network):
# join_sets OUT INTER_LUMA KEY_LUMA KEY_CHROMA INTER_LUMA_LOW KEY_LUMA_LOW KEY_CHROMA_LOW
# (names of $work/NAME.micanet).
join_sets() {
  local out=$1; shift
  target/release/mica-model join "$work/$1.micanet" "$work/$2.micanet" \
    "$work/inter-chroma-small.micanet" "$work/$3.micanet" \
    "$work/$4.micanet" "$work/$5.micanet" \
    "$work/inter-chroma-small.micanet" "$work/$6.micanet" -o "$out"
}
# Steps 10 and 11 train on the same material per network.
key_material=(--all-intra --frames 8 --frame-step 2 --patches 64 --qps 17,22,27)
inter_material=(--filter-on "$work/round5.micanet" --patches 16 --qps 17,22,27)
low=(--float-fraction 0 --lr 2e-4 --steps 3000 --loss log-mse)
target/release/mica-train filter "${key_material[@]}" \
  --planes luma --init $work/key-luma-log.ckpt "${low[@]}" \
  --out "$work/key-luma-low.micanet" --checkpoint $work/key-luma-low.ckpt "$@"
target/release/mica-train filter "${key_material[@]}" \
  --planes chroma --channels 15 --init $work/key-chroma-small.ckpt "${low[@]}" \
  --out "$work/key-chroma-low.micanet" --checkpoint $work/key-chroma-low.ckpt "$@"
target/release/mica-train filter "${inter_material[@]}" \
  --planes luma --init $work/inter-luma-log2.ckpt "${low[@]}" \
  --out "$work/inter-luma-low.micanet" --checkpoint $work/inter-luma-low.ckpt "$@"
join_sets "$work/round6.micanet" inter-luma-log2 key-luma-log key-chroma-small \
  inter-luma-low key-luma-low key-chroma-low
best=(--float-fraction 0 --lr 2e-4 --steps 2000 --loss best-log)
target/release/mica-train filter "${key_material[@]}" \
  --planes luma --init $work/key-luma-low.ckpt "${best[@]}" \
  --out "$work/key-luma-low-best.micanet" \
  --checkpoint $work/key-luma-low-best.ckpt "$@"
target/release/mica-train filter "${key_material[@]}" \
  --planes chroma --channels 15 --init $work/key-chroma-low.ckpt "${best[@]}" \
  --out "$work/key-chroma-low-best.micanet" \
  --checkpoint $work/key-chroma-low-best.ckpt "$@"
target/release/mica-train filter "${inter_material[@]}" \
  --planes luma --init $work/inter-luma-low.ckpt "${best[@]}" \
  --out "$work/inter-luma-low-best.micanet" \
  --checkpoint $work/inter-luma-low-best.ckpt "$@"
join_sets "$work/round7.micanet" inter-luma-log2 key-luma-log key-chroma-small \
  inter-luma-low-best key-luma-low-best key-chroma-low-best
# Step 12: the four keyframe networks on keyframes deblocked with offset -2,
# as the encoder deblocks keyframes the learned filter filters.
weak=(--deblock-offset -2 --float-fraction 0 --lr 2e-4 --steps 2000)
key_material_all_qps=(--all-intra --frames 8 --frame-step 2 --patches 64)
target/release/mica-train filter "${key_material_all_qps[@]}" "${weak[@]}" --loss log-mse \
  --planes luma --init $work/key-luma-log.ckpt \
  --out "$work/key-luma-weakdb.micanet" --checkpoint models/loopfilter/checkpoints/key-luma-weakdb.ckpt "$@"
target/release/mica-train filter "${key_material_all_qps[@]}" "${weak[@]}" --loss log-mse \
  --planes chroma --channels 15 --init $work/key-chroma-small.ckpt \
  --out "$work/key-chroma-weakdb.micanet" \
  --checkpoint models/loopfilter/checkpoints/key-chroma-weakdb.ckpt "$@"
target/release/mica-train filter "${key_material[@]}" "${weak[@]}" --loss best-log \
  --planes luma --init $work/key-luma-low-best.ckpt \
  --out "$work/key-luma-low-weakdb.micanet" \
  --checkpoint models/loopfilter/checkpoints/key-luma-low-weakdb.ckpt "$@"
target/release/mica-train filter "${key_material[@]}" "${weak[@]}" --loss best-log \
  --planes chroma --channels 15 --init $work/key-chroma-low-best.ckpt \
  --out "$work/key-chroma-low-weakdb.micanet" \
  --checkpoint models/loopfilter/checkpoints/key-chroma-low-weakdb.ckpt "$@"
join_sets "$work/round8.micanet" inter-luma-log2 key-luma-weakdb key-chroma-weakdb \
  inter-luma-low-best key-luma-low-weakdb key-chroma-low-weakdb
# Step 13: both inter luma networks once more, on encodes with round8 in the
# loop whose keyframes the encoder deblocks as it now does (`auto`).
inter_weak=(--filter-on "$work/round8.micanet" --deblock-offset auto --patches 16
  --float-fraction 0 --lr 2e-4 --steps 2000)
target/release/mica-train filter "${inter_weak[@]}" --loss log-mse \
  --planes luma --init $work/inter-luma-log2.ckpt \
  --out "$work/inter-luma-weakdb.micanet" \
  --checkpoint models/loopfilter/checkpoints/inter-luma-weakdb.ckpt "$@"
target/release/mica-train filter "${inter_weak[@]}" --qps 17,22,27 --loss best-log \
  --planes luma --init $work/inter-luma-low-best.ckpt \
  --out "$work/inter-luma-low-weakdb.micanet" \
  --checkpoint models/loopfilter/checkpoints/inter-luma-low-weakdb.ckpt "$@"
join_sets "$work/round9.micanet" inter-luma-weakdb key-luma-weakdb key-chroma-weakdb \
  inter-luma-low-weakdb key-luma-low-weakdb key-chroma-low-weakdb
# Step 14: both inter luma networks once more, on encodes with round9 in the
# loop and the encoder's temporal structure of issue 27 (its defaults).
t27=(--filter-on "$work/round9.micanet" --deblock-offset auto --patches 16
  --float-fraction 0 --lr 2e-4 --steps 2000)
target/release/mica-train filter "${t27[@]}" --loss log-mse \
  --planes luma --init models/loopfilter/checkpoints/inter-luma-weakdb.ckpt \
  --out "$work/inter-luma-t27.micanet" \
  --checkpoint models/loopfilter/checkpoints/inter-luma-t27.ckpt "$@"
target/release/mica-train filter "${t27[@]}" --qps 17,22,27 --loss best-log \
  --planes luma --init models/loopfilter/checkpoints/inter-luma-low-weakdb.ckpt \
  --out "$work/inter-luma-low-t27.micanet" \
  --checkpoint models/loopfilter/checkpoints/inter-luma-low-t27.ckpt "$@"
join_sets "$work/round10.micanet" inter-luma-t27 key-luma-weakdb key-chroma-weakdb \
  inter-luma-low-t27 key-luma-low-weakdb key-chroma-low-weakdb
# Step 15: the four luma networks once more on issue 28's core; the inter
# ones on encodes with round10 in the loop.
ck=models/loopfilter/checkpoints
t28=(--filter-on "$work/round10.micanet" --deblock-offset auto --patches 16
  --float-fraction 0 --lr 2e-4 --steps 2000 --threads 2)
weak28=(--deblock-offset -2 --float-fraction 0 --lr 2e-4 --steps 2000 --threads 2)
step15() { # NAME OPTIONS...: trains $work/NAME.micanet, checkpoint $ck/NAME.ckpt
  local name=$1; shift
  target/release/mica-train filter "$@" --out "$work/$name.micanet" \
    --checkpoint "$ck/$name.ckpt" "${extra[@]}"
}
extra=("$@")
step15 inter-luma-t28 "${t28[@]}" --loss log-mse --planes luma --init $ck/inter-luma-t27.ckpt
step15 key-luma-t28 "${key_material_all_qps[@]}" "${weak28[@]}" --loss log-mse \
  --planes luma --init $ck/key-luma-weakdb.ckpt
step15 inter-luma-low-t28 "${t28[@]}" --qps 17,22,27 --loss best-log --planes luma \
  --init $ck/inter-luma-low-t27.ckpt
step15 key-luma-low-t28 "${key_material[@]}" "${weak28[@]}" --loss best-log \
  --planes luma --init $ck/key-luma-low-weakdb.ckpt
join_sets models/loopfilter/loopfilter.micanet inter-luma-t28 key-luma-t28 key-chroma-weakdb \
  inter-luma-low-t28 key-luma-low-t28 key-chroma-low-weakdb
