#!/usr/bin/env bash
# The GStreamer plugin (gst/, outside the workspace: it needs GStreamer's
# development files, which .ci/run installs): style, lints, its tests, then
# the round trip with gst-launch-1.0 on the repository's sample, checked
# against the command-line tools:
#   encode through micaenc ! micaivfmux, decode through micaivfdemux ! micadec;
#   the decoded MD5 = `micadec --md5` of the same stream = `micaenc --md5`
#   of the sample; and micadec (the element) decodes micaenc's (the tool's)
#   stream to its MD5.
#   scripts/check-gstreamer.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${1:-$(mktemp -d)}
mkdir -p "$work"
sample=$repo/samples/city_720x400_6f.y4m

(
  cd gst
  cargo fmt --check
  cargo clippy --release --all-targets --locked -- -D warnings
  cargo test --release --locked
  cargo build --release --locked
)
cargo build --release -p mica-cli --bin micaenc --bin micadec
target_dir() {
  cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}
bin=$(target_dir)/release
GST_PLUGIN_PATH=$(cd gst && target_dir)/release
export GST_PLUGIN_PATH
gst-inspect-1.0 mica > "$work/inspect.txt"
grep -q "micaenc: Mica video encoder" "$work/inspect.txt"

gst-launch-1.0 -q filesrc location="$sample" ! y4mdec ! micaenc ! micaivfmux \
  ! filesink location="$work/gst.ivf"
gst-launch-1.0 -q filesrc location="$work/gst.ivf" ! micaivfdemux ! micadec \
  ! filesink location="$work/gst.yuv"
gst_md5=$(md5sum < "$work/gst.yuv" | cut -d' ' -f1)
dec_md5=$("$bin/micadec" "$work/gst.ivf" --md5 -q)
enc_md5=$("$bin/micaenc" "$sample" -o "$work/cli.ivf" --md5 -q)
gst-launch-1.0 -q filesrc location="$work/cli.ivf" ! micaivfdemux ! micadec \
  ! filesink location="$work/cli.yuv"
cli_md5=$(md5sum < "$work/cli.yuv" | cut -d' ' -f1)
echo "GStreamer round trip: decoded $gst_md5, micadec --md5 $dec_md5, micaenc --md5 $enc_md5; micaenc's stream through micadec (element) $cli_md5"
same() {  # one comparison per call: a failed test ends the script
  if [ "$2" != "$3" ]; then echo "MD5 mismatch: $1 ($2 against $3)" >&2; exit 1; fi
}
same "GStreamer decode against micadec --md5" "$gst_md5" "$dec_md5"
same "GStreamer decode against micaenc --md5" "$gst_md5" "$enc_md5"
same "micaenc's stream through the micadec element" "$cli_md5" "$enc_md5"
