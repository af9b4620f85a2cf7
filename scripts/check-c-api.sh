#!/usr/bin/env bash
# The C library from a user's side (run by .ci/run; docs/c-api.md):
#  1. scripts/install-c.sh into a fresh prefix; `pkg-config --cflags --libs mica`;
#  2. the C examples built with the system compiler against the installed
#     library, under AddressSanitizer and UBSan (leak checks on), and once
#     linked statically;
#  3. the round trip on the repository's sample: the C example's decoded MD5
#     equals `micadec --md5` of its stream and `micaenc --md5` of the sample;
#  4. the FFmpeg pipe recipes (when ffmpeg is installed): an mp4 made by
#     FFmpeg from the sample, through micaenc and micadec, back to mp4, with
#     the MD5 of the Mica stage checked.
#   scripts/check-c-api.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${1:-$(mktemp -d)}
mkdir -p "$work"
sample=samples/city_720x400_6f.y4m

scripts/install-c.sh "$work/prefix"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
echo "pkg-config --cflags --libs mica: $(pkg-config --cflags --libs mica)"
cc=${CC:-cc}
flags=(-std=c11 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-omit-frame-pointer)
for example in mica_roundtrip mica_bad_input; do
  # shellcheck disable=SC2046 # pkg-config's output is meant to split
  "$cc" "${flags[@]}" "examples/c/$example.c" $(pkg-config --cflags --libs mica) \
    -Wl,-rpath,"$work/prefix/lib" -o "$work/$example"
done
# Static: libmica.a and what it needs (pkg-config --static adds Libs.private).
# shellcheck disable=SC2046
"$cc" -std=c11 -Wall -Wextra -Werror examples/c/mica_bad_input.c $(pkg-config --cflags mica) \
  "$work/prefix/lib/libmica.a" $(pkg-config --static --libs-only-l mica | sed 's/-lmica //') \
  -o "$work/mica_bad_input_static"
if ldd "$work/mica_bad_input_static" | grep -q libmica; then
  echo "the static build links libmica.so" >&2
  exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$work/mica_bad_input" > "$work/bad_input.txt"
"$work/mica_bad_input_static" > "$work/bad_input_static.txt"
echo "bad input through the C API: $(tail -1 "$work/bad_input.txt") (static: $(tail -1 "$work/bad_input_static.txt"))"

"$work/mica_roundtrip" "$sample" "$work/c.ivf" "$work/c.yuv"
cargo build --release -p mica-cli --bin micaenc --bin micadec
bin=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release
c_md5=$(md5sum < "$work/c.yuv" | cut -d' ' -f1)
dec_md5=$("$bin/micadec" "$work/c.ivf" --md5 -q)
enc_md5=$("$bin/micaenc" "$sample" -o "$work/cli.ivf" --md5 -q)
echo "C round trip: C API decode $c_md5, micadec --md5 $dec_md5, micaenc --md5 $enc_md5"
same() {  # one comparison per call: a failed test ends the script
  if [ "$2" != "$3" ]; then echo "MD5 mismatch: $1 ($2 against $3)" >&2; exit 1; fi
}
same "C API decode against micadec --md5" "$c_md5" "$dec_md5"
same "C API decode against micaenc --md5" "$c_md5" "$enc_md5"

if ! command -v ffmpeg >/dev/null 2>&1; then
  if [ -n "${CI:-}" ]; then
    echo "ffmpeg is not installed: CI must run the FFmpeg pipe recipes" >&2
    exit 1
  fi
  echo "WARNING: ffmpeg is not installed; the FFmpeg pipe recipes were not run" >&2
  exit 0
fi
# The recipes of docs/c-api.md, as written there.
cd "$work"
ffmpeg -loglevel error -y -i "$repo/$sample" -c:v libx264 -crf 18 -pix_fmt yuv420p in.mp4
ffmpeg -loglevel error -i in.mp4 -f yuv4mpegpipe -pix_fmt yuv420p - \
  | "$bin/micaenc" - -o mica.ivf --md5 -q > enc.md5
"$bin/micadec" mica.ivf -o - -q \
  | ffmpeg -loglevel error -y -f yuv4mpegpipe -i - -c:v libx264 -crf 18 out.mp4
# What FFmpeg received from micadec is what micaenc reconstructed.
"$bin/micadec" mica.ivf -o - -q \
  | ffmpeg -loglevel error -f yuv4mpegpipe -i - -f rawvideo -pix_fmt yuv420p - | md5sum \
  | cut -d' ' -f1 > piped.md5
frames=$(ffprobe -v error -count_frames -select_streams v:0 \
  -show_entries stream=nb_read_frames -of csv=p=0 out.mp4)
echo "FFmpeg pipes: micaenc --md5 $(cat enc.md5), decoded into FFmpeg $(cat piped.md5), out.mp4 $frames frames"
same "what FFmpeg received from micadec against micaenc --md5" "$(cat enc.md5)" "$(cat piped.md5)"
same "frames in out.mp4" "$frames" 6
