#!/usr/bin/env bash
# Checks that two builds of Mica write the very same streams: for the four
# stills and the first 8 frames of each clip in MEDIA_DIR, at QP 22 and 37,
# presets fast/medium/slow, GOPs random access/low delay/intra, 1 and 2
# threads (288 encodes per build), encodes with both builds' micaenc and
# compares the streams byte for byte and the reconstructions' MD5s; then
# decodes B's stream with B's micadec and checks it against B's encoder MD5.
# Then 7 more cases per input at QP 32: the learned intra mode on, GOP sizes
# 3 and 5, the scalar kernels, deblocking off, RDOQ off, low delay without
# the learned filter (56 more encodes).
# Meant for behaviour-preserving changes (refactorings); prints one line per
# case that differs and a summary, and exits non-zero if any differs.
#
# usage: scripts/compare_builds.sh A B [MEDIA_DIR]
#   A and B are each a git revision (built in a worktree under
#   target/compare/) or a folder holding micaenc and micadec.
#   A's streams are kept under target/compare/streams-<id>/, so comparing
#   several B against one A encodes A once.
#   CASES=quick limits the run to QP 37 and medium, plus the learned intra
#   mode and the scalar kernels at QP 32 (64 encodes per build).
#   SYNTAX_CHANGED=1 is for changes of header syntax that must not change
#   coding: the streams may differ (their sizes are summed and reported) but
#   the reconstructions' MD5s must be equal.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
media=$(readlink -f "${3:-../shared/media}")

# Prints the folder holding the build's binaries, building a revision first.
binaries() {
  local what=$1
  if [ -d "$what" ] && [ -x "$what/micaenc" ]; then
    readlink -f "$what"
    return
  fi
  local rev tree
  rev=$(git rev-parse --verify "$what^{commit}")
  tree="$root/target/compare/tree-$rev"
  if [ ! -x "$tree/target/release/micaenc" ]; then
    [ -d "$tree" ] || git worktree add --detach "$tree" "$rev" >&2
    (cd "$tree" && cargo build --release -q --bin micaenc --bin micadec) >&2
  fi
  echo "$tree/target/release"
}

a=$(binaries "$1")
b=$(binaries "$2")
id_a=$(sha256sum "$a/micaenc" | cut -c1-16)
streams_a="$root/target/compare/streams-$id_a"
mkdir -p "$streams_a"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

qps="22 37"
presets="fast medium slow"
if [ "${CASES:-all}" = quick ]; then
  qps=37
  presets=medium
fi

same=0
differ=0
bytes_a=0
bytes_b=0
# Encodes one case with both builds (A's stream kept for later runs) and
# compares: check CASE_ID MICAENC_ARGS...
check() {
  local case_id=$1
  shift
  if [ ! -s "$streams_a/$case_id.md5" ]; then
    "$a/micaenc" "$@" --md5 --quiet -o "$streams_a/$case_id.ivf" > "$streams_a/$case_id.md5"
  fi
  "$b/micaenc" "$@" --md5 --quiet -o "$tmp/b.ivf" > "$tmp/b.md5"
  "$b/micadec" "$tmp/b.ivf" --md5 > "$tmp/dec.md5"
  local streams_same=1
  if [ "${SYNTAX_CHANGED:-0}" = 1 ]; then
    bytes_a=$((bytes_a + $(stat -c %s "$streams_a/$case_id.ivf")))
    bytes_b=$((bytes_b + $(stat -c %s "$tmp/b.ivf")))
  elif ! cmp -s "$streams_a/$case_id.ivf" "$tmp/b.ivf"; then
    streams_same=0
  fi
  if [ "$streams_same" = 1 ] && cmp -s "$streams_a/$case_id.md5" "$tmp/b.md5" \
    && cmp -s "$tmp/b.md5" "$tmp/dec.md5"; then
    same=$((same + 1))
  else
    echo "DIFFERS $case_id: A $(cat "$streams_a/$case_id.md5") B $(cat "$tmp/b.md5") B decoded $(cat "$tmp/dec.md5")"
    differ=$((differ + 1))
  fi
}

clips=("$media"/still_*.y4m "$media"/*_[0-9]*f.y4m)
for clip in "${clips[@]}"; do
  name=$(basename "$clip" .y4m)
  for qp in $qps; do
    for preset in $presets; do
      for gop in random-access low-delay intra; do
        for threads in 1 2; do
          check "$name-qp$qp-$preset-$gop-t$threads" "$clip" --limit 8 --qp "$qp" \
            --preset "$preset" --gop "$gop" --threads "$threads"
        done
      done
    done
  done
done
# Other paths, at QP 32 on one thread: the learned intra mode, group sizes
# other than 8, the scalar kernels, deblocking and RDOQ off.
extras=("--nn-intra on" "--gop-size 3" "--gop-size 5 --preset fast" "--cpu scalar" "--no-deblock"
  "--no-rdoq" "--nn-filter off --gop low-delay")
[ "${CASES:-all}" = quick ] && extras=("--nn-intra on" "--cpu scalar")
for clip in "${clips[@]}"; do
  name=$(basename "$clip" .y4m)
  for extra in "${extras[@]}"; do
    # shellcheck disable=SC2086 # the extra options are words
    check "$name-qp32-${extra// /_}" "$clip" --limit 8 --qp 32 --threads 1 $extra
  done
done
if [ "${SYNTAX_CHANGED:-0}" = 1 ]; then
  echo "stream bytes: A $bytes_a, B $bytes_b (headers only may differ)"
fi
echo "$same identical, $differ differ (A: $a, B: $b)"
[ "$differ" -eq 0 ]
