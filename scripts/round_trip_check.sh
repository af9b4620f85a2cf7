#!/usr/bin/env bash
# Round-trip check on real material: for every y4m in a folder (default
# ../shared/media) and every QP, encode the first FRAMES frames with
# `micaenc --recon --md5`, decode with `micadec --md5`, and compare the two
# MD5s and the two y4m files byte for byte. Prints one line per case and a
# summary; exits non-zero on any mismatch.
#
# usage: scripts/round_trip_check.sh [MEDIA_DIR] [FRAMES|all] [QPS...]
#        extra micaenc flags can be given in MICAENC_FLAGS
set -euo pipefail
cd "$(dirname "$0")/.."
media=${1:-../shared/media}
frames=${2:-8}
shift $(( $# > 2 ? 2 : $# )) || true
qps=${*:-22 27 32 37}
cargo build --release -q --bin micaenc --bin micadec
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
for clip in "$media"/*.y4m; do
  name=$(basename "$clip" .y4m)
  for qp in $qps; do
    limit=(--limit "$frames")
    [ "$frames" = all ] && limit=()
    enc_md5=$(target/release/micaenc "$clip" -o "$tmp/s.ivf" --qp "$qp" "${limit[@]}" --recon "$tmp/recon.y4m" --md5 --quiet ${MICAENC_FLAGS:-})
    dec_md5=$(target/release/micadec "$tmp/s.ivf" -o "$tmp/dec.y4m" --md5)
    if [ "$enc_md5" = "$dec_md5" ] && cmp -s "$tmp/recon.y4m" "$tmp/dec.y4m"; then
      echo "ok   $name qp $qp ${MICAENC_FLAGS:-} md5 $dec_md5"
      pass=$((pass + 1))
    else
      echo "FAIL $name qp $qp ${MICAENC_FLAGS:-} encoder $enc_md5 decoder $dec_md5"
      fail=$((fail + 1))
    fi
  done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
