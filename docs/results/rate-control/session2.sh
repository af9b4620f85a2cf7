#!/bin/bash
# Rate control, issue 31 second session: on the four clips (all frames,
# medium, 2 threads)
#  A. fixed QP 22/27/32/37; B. two passes at the rates A produced (the RD
#  curves compared by mica-rd's BD-rate, Y and YUV = (6Y+U+V)/8);
#  C. two-pass accuracy at 100/300/1000/3000 kbit/s;
#  D. buffers: two passes at 1000 kbit/s with --maxrate 1500 --bufsize 1000,
#     and --crf 27 with --maxrate 1000 --bufsize 1000: the leaky bucket
#     simulated here on the IVF frame sizes (independently of the encoder),
#     its lowest level.
#   BIN=target/release RD=target/release/mica-rd MEDIA=../shared/media session2.sh OUT
set -euo pipefail
B=${BIN:-target/release}
RD=${RD:-target/release/mica-rd}
M=${MEDIA:-../shared/media}
out=${1:?OUT}
mkdir -p $out; w=$(mktemp -d); trap 'rm -rf $w' EXIT
clips="bbb_640x360_24fps_60f box_640x480_30fps_48f city_720x400_25fps_48f cup_640x480_27fps_48f"
summary() { # log -> kbps psnr_y psnr_yuv
  sed -n 's/.* \([0-9.]*\) kbit\/s, PSNR Y \([0-9.]*\) U \([0-9.]*\) V \([0-9.]*\) dB.*/\1 \2 \3 \4/p' $1 |
    awk '{printf "%s %s %.4f\n", $1, $2, (6*$2+$3+$4)/8}'
}
# FIXED=rd.txt reuses an earlier run's fixed-QP rows (part A).
echo "clip mode setting kbps psnr_y psnr_yuv seconds" > $out/rd.txt
[ -n "${FIXED:-}" ] && grep ' qp ' $FIXED >> $out/rd.txt
for clip in $clips; do
  in=$M/$clip.y4m
  for qp in $([ -n "${FIXED:-}" ] || echo 22 27 32 37); do
    t0=$(date +%s.%N)
    $B/micaenc $in -o $w/q.ivf --qp $qp --threads 2 2> $w/log
    echo "$clip qp $qp $(summary $w/log) $(echo "$(date +%s.%N) - $t0" | bc -l)" >> $out/rd.txt
  done
  for kbps in $(awk -v c=$clip '$1==c && $2=="qp"{print $4}' $out/rd.txt); do
    echo "$clip two-pass at $kbps" >&2
    t0=$(date +%s.%N)
    $B/micaenc $in -o /dev/null --bitrate $kbps --pass 1 --stats $w/s --threads 2 --quiet
    $B/micaenc $in -o $w/t.ivf --bitrate $kbps --pass 2 --stats $w/s --threads 2 2> $w/log
    echo "$clip two-pass $kbps $(summary $w/log) $(echo "$(date +%s.%N) - $t0" | bc -l)" >> $out/rd.txt
  done
  for mode in qp two-pass; do
    for col in y yuv; do
      awk -v c=$clip -v m=$mode -v col=$col 'BEGIN{print "kbps,psnr"} $1==c && $2==m{print $4 "," (col=="y"?$5:$6)}' $out/rd.txt > $w/$mode-$col.csv
    done
  done
  for col in y yuv; do
    echo "$clip $col $($RD bd-rate --anchor $w/qp-$col.csv --test $w/two-pass-$col.csv | grep BD-rate)" >> $out/bd.txt
  done
  tail -1 $out/bd.txt
done
echo "clip target kbps error_pct seconds" > $out/accuracy.txt
for clip in $clips; do
  in=$M/$clip.y4m
  for kbps in 100 300 1000 3000; do
    t0=$(date +%s.%N)
    $B/micaenc $in -o /dev/null --bitrate $kbps --pass 1 --stats $w/s --threads 2 --quiet
    $B/micaenc $in -o $w/t.ivf --bitrate $kbps --pass 2 --stats $w/s --threads 2 2> $w/log
    k=$(summary $w/log | cut -d' ' -f1)
    printf "%s %s %s %.2f %.1f\n" $clip $kbps $k $(echo "($k / $kbps - 1) * 100" | bc -l) $(echo "$(date +%s.%N) - $t0" | bc -l) >> $out/accuracy.txt
    tail -1 $out/accuracy.txt
  done
done
cat > $w/bucket.py <<'PY'
import struct, sys
path, maxrate, size, init, fps = sys.argv[1], *map(float, sys.argv[2:6])
b = open(path, 'rb').read(); at = 32; level = init * size * 1000; lowest = (level, -1); i = 0
while at + 12 <= len(b):
    n = struct.unpack('<I', b[at:at+4])[0]; at += 12 + n
    after = level - 8 * n
    lowest = min(lowest, (after, i))
    level = min(max(after, 0) + maxrate * 1000 / fps, size * 1000); i += 1
print(f"lowest {lowest[0]/1000:.1f} kbit ({100*lowest[0]/(size*1000):.1f} % of the buffer) after coded frame {lowest[1]}; {'UNDERFLOW' if lowest[0] < 0 else 'no underflow'}")
PY
echo "clip mode kbps lowest" > $out/buffer.txt
for clip in $clips; do
  in=$M/$clip.y4m
  fps=$(head -c 200 $in | grep -o ' F[0-9:]*' | head -1 | tr -d ' F' | awk -F: '{print $1/$2}')
  $B/micaenc $in -o /dev/null --bitrate 1000 --pass 1 --stats $w/s --threads 2 --quiet
  $B/micaenc $in -o $w/b.ivf --bitrate 1000 --pass 2 --stats $w/s --maxrate 1500 --bufsize 1000 --threads 2 2> $w/log
  echo "$clip two-pass-1000/max1500/buf1000 $(summary $w/log | cut -d' ' -f1) $(python3 $w/bucket.py $w/b.ivf 1500 1000 0.9 $fps)" >> $out/buffer.txt
  $B/micaenc $in -o $w/b.ivf --crf 27 --maxrate 1000 --bufsize 1000 --threads 2 2> $w/log
  echo "$clip crf27/max1000/buf1000 $(summary $w/log | cut -d' ' -f1) $(python3 $w/bucket.py $w/b.ivf 1000 1000 0.9 $fps)" >> $out/buffer.txt
  $B/micaenc $in -o $w/b.ivf --crf 27 --threads 2 2> $w/log
  echo "$clip crf27-unconstrained $(summary $w/log | cut -d' ' -f1) $(python3 $w/bucket.py $w/b.ivf 1000 1000 0.9 $fps)" >> $out/buffer.txt
  tail -3 $out/buffer.txt
done
