#!/usr/bin/env bash
# Issue 3 speed measurement: box (48 frames, 640x480) at QP 32 on 2 threads,
# Mica at each preset and its decoder, with libaom cpu-used 6 and x265 medium
# (peers.md's commands, CRF 43 and 29: similar quality) timed in the same run.
# Each encode runs REPS times (default 3); the median wall time is reported.
# Needs ffmpeg with libaom and libx265 (apt-get install ffmpeg).
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-../shared/media/box_640x480_30fps_48f.y4m}
reps=${REPS:-3}
cargo build --release -q --bin micaenc --bin micadec
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_it() { # label, command...
  local label=$1; shift
  local t
  t=$(for _ in $(seq "$reps"); do
        s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
        echo "$e - $s" | bc
      done | median)
  printf '%-28s %6.2f s  %7.1f fps\n' "$label" "$t" "$(echo "48 / $t" | bc -l)"
}
for preset in fast medium slow; do
  time_it "mica $preset" target/release/micaenc "$clip" -o "$tmp/m_$preset.ivf" --qp 32 --threads 2 --preset "$preset" --quiet
done
time_it "mica decoder (medium stream)" target/release/micadec "$tmp/m_medium.ivf" -o "$tmp/d.y4m"
time_it "libaom cpu-used 6 (crf 43)" ffmpeg -nostdin -hide_banner -loglevel error -y -i "$clip" -c:v libaom-av1 -cpu-used 6 -row-mt 1 -crf 43 -b:v 0 -g 9999 -threads 2 -f obu "$tmp/a.obu"
time_it "x265 medium (crf 29)" ffmpeg -nostdin -hide_banner -loglevel error -y -i "$clip" -c:v libx265 -preset medium -crf 29 -g 9999 -threads 2 -x265-params log-level=error:pools=2 -f hevc "$tmp/x.hevc"
for preset in fast medium slow; do
  printf 'mica %-7s %s\n' "$preset" "$(target/release/micaenc "$clip" -o "$tmp/q.ivf" --qp 32 --threads 2 --preset "$preset" 2>&1 | tail -1)"
done
