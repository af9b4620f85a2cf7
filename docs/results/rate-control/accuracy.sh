#!/bin/bash
# Rate control accuracy: each clip at each target, two passes and one pass
# (micaenc refuses one pass since 5d32741: its rows then fail; measure it
# with a build from before, 2f0a1d3).
#   BIN=target/release MEDIA=../shared/media RATES="100 300 1000 3000" accuracy.sh OUT
set -euo pipefail
B=${BIN:-target/release}
M=${MEDIA:-../shared/media}
out=${1:?OUT}
mkdir -p $out; w=$(mktemp -d); trap 'rm -rf $w' EXIT
echo "clip target mode kbps error_pct seconds" > $out/accuracy.txt
for clip in bbb_640x360_24fps_60f box_640x480_30fps_48f city_720x400_25fps_48f cup_640x480_27fps_48f; do
  in=$(ls $M/$clip*.y4m | head -1)
  for kbps in ${RATES:-100 300 1000 3000}; do
    t0=$(date +%s.%N)
    $B/micaenc $in -o /dev/null --bitrate $kbps --pass 1 --stats $w/s --threads 2 --quiet
    $B/micaenc $in -o $w/two.ivf --bitrate $kbps --pass 2 --stats $w/s --threads 2 2> $w/log2
    t1=$(date +%s.%N)
    $B/micaenc $in -o $w/one.ivf --bitrate $kbps --threads 2 2> $w/log1 || echo "0 kbit/s (refused)" > $w/log1
    t2=$(date +%s.%N)
    for mode in two one; do
      k=$(grep -o '[0-9.]* kbit/s' $w/log${mode/two/2} 2>/dev/null | head -1 | cut -d' ' -f1 || true)
      [ $mode = one ] && k=$(grep -o '[0-9.]* kbit/s' $w/log1 | head -1 | cut -d' ' -f1)
      [ $mode = two ] && { k=$(grep -o '[0-9.]* kbit/s' $w/log2 | head -1 | cut -d' ' -f1); s=$(echo "$t1 - $t0" | bc -l); } || s=$(echo "$t2 - $t1" | bc -l)
      printf "%s %s %s %s %.2f %.1f\n" $clip $kbps $mode $k $(echo "($k / $kbps - 1) * 100" | bc -l) $s >> $out/accuracy.txt
    done
    tail -2 $out/accuracy.txt
  done
done
