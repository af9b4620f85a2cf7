#!/usr/bin/env bash
# Speed of Mica's presets against the peers, encoder and decoder, timed
# interleaved in one run on the same machine (what issue 30 asks to show).
#
# Inputs: box (640x480, 48 frames) and city scaled to 1920x1080 with
# ffmpeg's lanczos scaler (24 frames) for the encoders; for the decoders,
# streams of at least 100 frames (box looped to 144 frames; city at 1080p
# looped to 100) so that process start-up does not dominate.
# Encoders: Mica at QP 32 (medium with the learned filter on, the default;
# medium with it off; every other preset), libaom cpu-used 6 (row-mt),
# SVT-AV1 preset 8, x265 medium, through ffmpeg, 2 threads each.
# Decoders: micadec on Mica's default stream and on its filter-off stream,
# dav1d (the Debian CLI) on the libaom stream; 2 threads each.
# Every timing is the wall clock of the whole process; the table gives the
# median of REPS runs (encoders interleaved rep by rep, decoders too) and
# each stream's bit rate, so "a similar bit rate" can be checked.
#
# usage: scripts/speed_issue30.sh OUT_DIR
#   BIN (default target/release) holds micaenc and micadec; MEDIA (default
#   ../shared/media); REPS (default 3); DEC_REPS (default 5); QP (default 32);
#   AV1_CRF (default 55) and X265_CRF (default 33) put the peers near Mica's
#   bit rate; SKIP_1080=1 leaves the 1080p input out; PRESETS (default: every
#   preset but slow, which takes about ten times medium's time) lists the
#   presets besides medium.
# Needs ffmpeg (with libaom-av1, libsvtav1, libx265) and dav1d
# (Debian: apt-get install ffmpeg dav1d).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/speed_issue30.sh OUT_DIR}
bin=$(readlink -f "${BIN:-target/release}")
media=$(readlink -f "${MEDIA:-../shared/media}")
reps=${REPS:-3}
dec_reps=${DEC_REPS:-5}
qp=${QP:-32}
av1_crf=${AV1_CRF:-55}
x265_crf=${X265_CRF:-33}
mkdir -p "$out"
out=$(readlink -f "$out")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for tool in ffmpeg dav1d; do
    command -v $tool >/dev/null || { echo "needs $tool (apt-get install ffmpeg dav1d)" >&2; exit 1; }
done
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

# Inputs.
ln -s "$media/box_640x480_30fps_48f.y4m" "$work/box.y4m"
inputs=(box)
if [ "${SKIP_1080:-0}" != 1 ]; then
    ff -i "$media/city_720x400_25fps_48f.y4m" -vf scale=1920:1080:flags=lanczos \
        -frames:v 24 -pix_fmt yuv420p -f yuv4mpegpipe -strict -1 "$work/city1080.y4m"
    inputs+=(city1080)
fi
ff -stream_loop 2 -i "$media/box_640x480_30fps_48f.y4m" -pix_fmt yuv420p \
    -f yuv4mpegpipe -strict -1 "$work/box-dec.y4m"
dec_inputs=(box-dec)
if [ "${SKIP_1080:-0}" != 1 ]; then
    ff -stream_loop 2 -i "$media/city_720x400_25fps_48f.y4m" \
        -vf scale=1920:1080:flags=lanczos -frames:v 100 -pix_fmt yuv420p \
        -f yuv4mpegpipe -strict -1 "$work/city1080-dec.y4m"
    dec_inputs+=(city1080-dec)
fi
frames() { # a y4m's frame count: its size over one frame's (8-bit 4:2:0, no frame parameters)
    local header w h
    header=$(head -1 "$1")
    w=$(echo "$header" | tr ' ' '\n' | grep '^W' | cut -c2-)
    h=$(echo "$header" | tr ' ' '\n' | grep '^H' | cut -c2-)
    echo $(( ($(stat -L -c %s "$1") - ${#header} - 1) / (6 + w * h * 3 / 2) ))
}
fps_of() { head -1 "$1" | tr ' ' '\n' | grep '^F' | cut -c2- | awk -F: '{print $1 / $2}'; }

# Encoders: name and command (IN and OUT replaced).
presets=${PRESETS:-$("$bin/micaenc" --help | grep -A1 -- '--preset' | grep -o 'fast\|medium\|slow\|faster\|fastest' | sort -u | grep -v slow || true)}
encoders=("mica-medium|$bin/micaenc IN -o OUT.ivf --qp $qp --threads 2 --quiet")
encoders+=("mica-medium-nnf-off|$bin/micaenc IN -o OUT.ivf --qp $qp --threads 2 --quiet --nn-filter off")
for p in $presets; do
    [ "$p" = medium ] && continue
    encoders+=("mica-$p|$bin/micaenc IN -o OUT.ivf --qp $qp --threads 2 --quiet --preset $p")
done
encoders+=("libaom-cpu6|ffmpeg -nostdin -hide_banner -loglevel error -y -i IN -c:v libaom-av1 -cpu-used 6 -row-mt 1 -threads 2 -crf $av1_crf -b:v 0 -g 9999 -f obu OUT.obu")
encoders+=("svt-av1-p8|ffmpeg -nostdin -hide_banner -loglevel error -y -i IN -c:v libsvtav1 -preset 8 -crf $av1_crf -g 9999 -threads 2 -f obu OUT.obu")
encoders+=("x265-medium|ffmpeg -nostdin -hide_banner -loglevel error -y -i IN -c:v libx265 -preset medium -crf $x265_crf -g 9999 -threads 2 -x265-params log-level=error:pools=2 -f hevc OUT.hevc")

time_cmd() { # prints seconds
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

: >"$out/times.txt"
echo "encoders, $reps reps interleaved" >&2
for rep in $(seq "$reps"); do
    for input in "${inputs[@]}"; do
        for e in "${encoders[@]}"; do
            name=${e%%|*}
            cmd=${e#*|}
            cmd=${cmd//IN/$work/$input.y4m}
            cmd=${cmd//OUT/$work/$input.$name}
            # shellcheck disable=SC2086
            t=$(time_cmd $cmd)
            echo "enc $input $name $rep $t" >>"$out/times.txt"
        done
    done
done

# Decoder streams (encoded once).
echo "decoder streams" >&2
for input in "${dec_inputs[@]}"; do
    "$bin/micaenc" "$work/$input.y4m" -o "$work/$input.mica.ivf" --qp "$qp" --threads 2 --quiet
    "$bin/micaenc" "$work/$input.y4m" -o "$work/$input.mica-nnf-off.ivf" --qp "$qp" --threads 2 --quiet --nn-filter off
    ff -i "$work/$input.y4m" -c:v libaom-av1 -cpu-used 6 -row-mt 1 -threads 2 -crf "$av1_crf" -b:v 0 -g 9999 -f ivf "$work/$input.aom.ivf"
done
echo "decoders, $dec_reps reps interleaved" >&2
for rep in $(seq "$dec_reps"); do
    for input in "${dec_inputs[@]}"; do
        t=$(time_cmd "$bin/micadec" "$work/$input.mica.ivf" -o /dev/null --threads 2)
        echo "dec $input micadec $rep $t" >>"$out/times.txt"
        t=$(time_cmd "$bin/micadec" "$work/$input.mica-nnf-off.ivf" -o /dev/null --threads 2)
        echo "dec $input micadec-nnf-off $rep $t" >>"$out/times.txt"
        t=$(time_cmd dav1d -q -i "$work/$input.aom.ivf" -o /dev/null --muxer yuv4mpeg2 --threads 2)
        echo "dec $input dav1d $rep $t" >>"$out/times.txt"
    done
done

# Table: median time, fps, bit rate.
kbps() { # file input
    local bytes fr fps
    bytes=$(stat -c %s "$1")
    fr=$(frames "$work/$2.y4m")
    fps=$(fps_of "$work/$2.y4m")
    echo "$bytes * 8 / ($fr / $fps) / 1000" | bc -l
}
{
    echo "| role | input | what | median s | fps | kbit/s |"
    echo "|---|---|---|---|---|---|"
    for kind in enc dec; do
        list=("${inputs[@]}")
        [ $kind = dec ] && list=("${dec_inputs[@]}")
        for input in "${list[@]}"; do
            fr=$(frames "$work/$input.y4m")
            for name in $(awk -v k=$kind -v i="$input" '$1 == k && $2 == i {print $3}' "$out/times.txt" | awk '!seen[$0]++'); do
                med=$(awk -v k=$kind -v i="$input" -v n="$name" '$1 == k && $2 == i && $3 == n {print $5}' "$out/times.txt" |
                    sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
                case $kind/$name in
                    dec/micadec) stream=$work/$input.mica.ivf ;;
                    dec/micadec-nnf-off) stream=$work/$input.mica-nnf-off.ivf ;;
                    dec/dav1d) stream=$work/$input.aom.ivf ;;
                    *) stream=$(ls "$work/$input.$name".* | head -1) ;;
                esac
                printf '| %s | %s (%d frames) | %s | %.3f | %.1f | %.0f |\n' "$kind" "$input" "$fr" "$name" "$med" \
                    "$(echo "$fr / $med" | bc -l)" "$(kbps "$stream" "$input")"
            done
        done
    done
} | tee "$out/speed.md"
