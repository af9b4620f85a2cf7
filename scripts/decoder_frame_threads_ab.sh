#!/bin/bash
# Decoder before/after frame threads, timed interleaved: micadec of build OLD
# and of build NEW (default and --frame-delay 1), and dav1d, on the speed
# script's decoder streams (box looped to 144 frames; city scaled to 1920x1080
# with lanczos, 100 frames; Mica QP 32 with the learned filter on and off,
# libaom cpu-used 6 CRF 55 for dav1d). Medians of 5 runs, 2 threads.
#
#   OLD=dir/with/micadec NEW=target/release MEDIA=../shared/media \
#       scripts/decoder_frame_threads_ab.sh OUT_DIR
# Needs ffmpeg (libaom-av1) and dav1d.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: OLD=DIR scripts/decoder_frame_threads_ab.sh OUT_DIR}
old=$(readlink -f "${OLD:?OLD: the build to compare against}")
new=$(readlink -f "${NEW:-target/release}")
media=$(readlink -f "${MEDIA:-../shared/media}")
mkdir -p "$out"
out=$(readlink -f "$out")
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
ff -stream_loop 2 -i "$media/box_640x480_30fps_48f.y4m" -pix_fmt yuv420p -f yuv4mpegpipe -strict -1 "$w/box-dec.y4m"
ff -stream_loop 2 -i "$media/city_720x400_25fps_48f.y4m" -vf scale=1920:1080:flags=lanczos \
    -frames:v 100 -pix_fmt yuv420p -f yuv4mpegpipe -strict -1 "$w/city1080-dec.y4m"
for input in box-dec city1080-dec; do
    "$new/micaenc" "$w/$input.y4m" -o "$w/$input.mica.ivf" --qp 32 --threads 2 --quiet
    "$new/micaenc" "$w/$input.y4m" -o "$w/$input.mica-nnf-off.ivf" --qp 32 --threads 2 --quiet --nn-filter off
    ff -i "$w/$input.y4m" -c:v libaom-av1 -cpu-used 6 -row-mt 1 -threads 2 -crf 55 -b:v 0 -g 9999 -f ivf "$w/$input.aom.ivf"
done
t() { local t0; t0=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $t0" | bc -l; }
: >"$out/times.txt"
for rep in 1 2 3 4 5; do
    for input in box-dec city1080-dec; do
        for s in mica mica-nnf-off; do
            echo "$input $s old $rep $(t "$old/micadec" "$w/$input.$s.ivf" -o /dev/null --threads 2)" >>"$out/times.txt"
            echo "$input $s new $rep $(t "$new/micadec" "$w/$input.$s.ivf" -o /dev/null --threads 2)" >>"$out/times.txt"
            echo "$input $s new-delay1 $rep $(t "$new/micadec" "$w/$input.$s.ivf" -o /dev/null --threads 2 --frame-delay 1)" >>"$out/times.txt"
        done
        echo "$input aom dav1d $rep $(t dav1d -q -i "$w/$input.aom.ivf" -o /dev/null --muxer yuv4mpeg2 --threads 2)" >>"$out/times.txt"
    done
done
for input in box-dec city1080-dec; do
    n=$([ $input = box-dec ] && echo 144 || echo 100)
    for key in "mica old" "mica new" "mica new-delay1" "mica-nnf-off old" "mica-nnf-off new" "mica-nnf-off new-delay1" "aom dav1d"; do
        set -- $key
        med=$(awk -v i=$input -v s="$1" -v v="$2" '$1==i && $2==s && $3==v {print $5}' "$out/times.txt" | sort -g | sed -n 3p)
        printf "%s %s %s median %.3f s  %.1f fps\n" $input "$1" "$2" "$med" "$(echo "$n / $med" | bc -l)"
    done
done | tee "$out/summary.txt"
for input in box-dec city1080-dec; do
    for s in mica mica-nnf-off; do
        a=$("$old/micadec" "$w/$input.$s.ivf" --md5)
        b=$("$new/micadec" "$w/$input.$s.ivf" --md5 --frame-delay 8)
        [ "$a" = "$b" ] || { echo "$input $s: MD5 differs ($a, $b)" >&2; exit 1; }
        echo "$input $s: same MD5 $a" | tee -a "$out/summary.txt"
    done
done
