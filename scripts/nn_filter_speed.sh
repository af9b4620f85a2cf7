#!/usr/bin/env bash
# Issue 6 cost: box (48 frames, 640x480) at QP 32 on 2 threads, encoder and
# decoder with the learned loop filter on and off (median of REPS runs), and
# the filter network alone on one 640x480 luma plane (plus the 8-sample border).
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-../shared/media/box_640x480_30fps_48f.y4m}
reps=${REPS:-3}
cargo build --release -q --bin micaenc --bin micadec --bin mica-model
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
frames=$(grep -c FRAME "$clip" || true)
time_it() { # label, command...
  local label=$1; shift
  local t
  t=$(for _ in $(seq "$reps"); do
        s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
        echo "$e - $s" | bc
      done | median)
  printf '%-34s %6.2f s  %7.1f fps\n' "$label" "$t" "$(echo "$frames / $t" | bc -l)"
}
for f in on off; do
  time_it "encoder, filter $f" target/release/micaenc "$clip" -o "$tmp/$f.ivf" --qp 32 --threads 2 --nn-filter "$f" --quiet
done
for f in on off; do
  time_it "decoder, filter $f" target/release/micadec "$tmp/$f.ivf" -o "$tmp/d.y4m"
done
for f in on off; do
  printf 'stream, filter %-4s %s bytes\n' "$f" "$(stat -c %s "$tmp/$f.ivf")"
done
# One network (output 0, inter-frame luma): what one plane costs; the file holds four.
target/release/mica-model bench models/loopfilter/loopfilter.micanet --size 656x496 --threads 2 --runs 5 --output 0
