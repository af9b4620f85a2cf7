#!/usr/bin/env bash
# Checks that two builds of Mica write the very same streams: for the four
# stills and the first 8 frames of each clip in MEDIA_DIR, at QP 22 and 37,
# presets fast/medium/slow, GOPs random access/low delay/intra, 1 and 2
# threads (288 encodes per build), encodes with both builds' micaenc and
# compares the streams byte for byte and the reconstructions' MD5s; then
# decodes B's stream with B's micadec and checks it against B's encoder MD5.
# Meant for behaviour-preserving changes (refactorings); prints one line per
# case that differs and a summary, and exits non-zero if any differs.
#
# usage: scripts/compare_builds.sh A B [MEDIA_DIR]
#   A and B are each a git revision (built in a worktree under
#   target/compare/) or a folder holding micaenc and micadec.
#   A's streams are kept under target/compare/streams-<id>/, so comparing
#   several B against one A encodes A once.
#   CASES=quick limits the run to QP 37 and medium (32 encodes per build).
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
for clip in "$media"/still_*.y4m "$media"/*_[0-9]*f.y4m; do
  name=$(basename "$clip" .y4m)
  for qp in $qps; do
    for preset in $presets; do
      for gop in random-access low-delay intra; do
        for threads in 1 2; do
          case_id="$name-qp$qp-$preset-$gop-t$threads"
          args=("$clip" --limit 8 --qp "$qp" --preset "$preset" --gop "$gop" --threads "$threads" --md5 --quiet)
          if [ ! -s "$streams_a/$case_id.md5" ]; then
            "$a/micaenc" "${args[@]}" -o "$streams_a/$case_id.ivf" > "$streams_a/$case_id.md5"
          fi
          "$b/micaenc" "${args[@]}" -o "$tmp/b.ivf" > "$tmp/b.md5"
          "$b/micadec" "$tmp/b.ivf" --md5 > "$tmp/dec.md5"
          if cmp -s "$streams_a/$case_id.ivf" "$tmp/b.ivf" && cmp -s "$streams_a/$case_id.md5" "$tmp/b.md5" \
            && cmp -s "$tmp/b.md5" "$tmp/dec.md5"; then
            same=$((same + 1))
          else
            echo "DIFFERS $case_id: A $(cat "$streams_a/$case_id.md5") B $(cat "$tmp/b.md5") B decoded $(cat "$tmp/dec.md5")"
            differ=$((differ + 1))
          fi
        done
      done
    done
  done
done
echo "$same identical, $differ differ (A: $a, B: $b)"
[ "$differ" -eq 0 ]
