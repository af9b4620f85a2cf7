#!/bin/bash
# Rate control, issue 31 second session, continued:
#  E. mica-rd CLIC mode at 1000 and 100 kbit/s over the four clips: the
#     rate control with the set's budget (--rate-control --set-budget), then
#     the per-clip QP bisection, each timed;
#  F. the stills at 0.3 / 0.15 / 0.075 bits per pixel, two passes (one
#     frame at 25 frames/s: kbit/s = bpp * W * H * 25 / 1000).
#   BIN=target/release MEDIA=../shared/media clic_and_stills.sh OUT
set -euo pipefail
B=${BIN:-target/release}
M=${MEDIA:-../shared/media}
out=${1:?OUT}
mkdir -p $out; w=$(mktemp -d); trap 'rm -rf $w' EXIT
clips=$(for c in bbb_640x360_24fps_60f box_640x480_30fps_48f city_720x400_25fps_48f cup_640x480_27fps_48f; do echo $M/$c.y4m; done)
# MODES="rate bisection" (default), FRAMES=N to cut the clips (the time
# comparison: both modes on the first N frames).
for mode in ${MODES:-rate bisection}; do
  flags=""; [ $mode = rate ] && flags="--rate-control --set-budget"
  [ -n "${FRAMES:-}" ] && flags="$flags --frames $FRAMES"
  tag=$mode${FRAMES:+-$FRAMES}
  t0=$(date +%s.%N)
  $B/mica-rd clic $clips -o $out/clic-$tag --codecs mica --targets 1000,100 --no-msssim --jobs 2 --threads 1 $flags > $out/clic-$tag.md 2> $out/clic-$tag.log
  echo "$tag $(echo "$(date +%s.%N) - $t0" | bc -l) s" >> $out/clic-times.txt
  tail -1 $out/clic-times.txt
done
[ -n "${NO_STILLS:-}" ] && exit 0
echo "still bpp target_kbps kbps error_pct" > $out/stills.txt
for f in $M/still_*.y4m; do
  read W H < <(head -1 $f | sed 's/.* W\([0-9]*\) H\([0-9]*\) .*/\1 \2/')
  for bpp in 0.3 0.15 0.075; do
    kbps=$(echo "$bpp * $W * $H * 25 / 1000" | bc -l)
    $B/micaenc $f -o /dev/null --bitrate $kbps --pass 1 --stats $w/s --threads 2 --quiet
    $B/micaenc $f -o $w/s.ivf --bitrate $kbps --pass 2 --stats $w/s --threads 2 2> $w/log
    k=$(sed -n 's/.* \([0-9.]*\) kbit\/s.*/\1/p' $w/log | head -1)
    printf "%s %s %.2f %s %.2f\n" $(basename $f .y4m) $bpp $kbps $k $(echo "($k / $kbps - 1) * 100" | bc -l) >> $out/stills.txt
    tail -1 $out/stills.txt
  done
done
