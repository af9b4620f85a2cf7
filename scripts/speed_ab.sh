#!/usr/bin/env bash
# Interleaved A/B timing of two builds of micaenc and micadec (learned loop
# filter on, box 640x480, 48 frames, QP 32, 2 threads): on a shared, noisy
# machine, runs of A and B alternate so that both see the same load; prints
# the minimum and median of each. Checks that both builds write the same
# stream and decode it to the same output.
#
# usage: scripts/speed_ab.sh DIR_A DIR_B [clip]   (each DIR holds micaenc and micadec)
#   REPS_DEC (default 9) and REPS_ENC (default 5) set the runs per build.
set -euo pipefail
a=$(readlink -f "$1")
b=$(readlink -f "$2")
cd "$(dirname "$0")/.."
clip=$(readlink -f "${3:-../shared/media/box_640x480_30fps_48f.y4m}")
frames=$(grep -c FRAME "$clip" || true)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
"$a/micaenc" "$clip" -o "$tmp/a.ivf" --qp 32 --threads 2 --quiet
"$b/micaenc" "$clip" -o "$tmp/b.ivf" --qp 32 --threads 2 --quiet
cmp -s "$tmp/a.ivf" "$tmp/b.ivf" || { echo "the two encoders write different streams" >&2; exit 1; }
"$a/micadec" "$tmp/a.ivf" -o "$tmp/a.y4m"
"$b/micadec" "$tmp/a.ivf" -o "$tmp/b.y4m"
cmp -s "$tmp/a.y4m" "$tmp/b.y4m" || { echo "the two decoders' outputs differ" >&2; exit 1; }
{
  for _ in $(seq "${REPS_DEC:-9}"); do
    echo "decoder-A $(seconds "$a/micadec" "$tmp/a.ivf" -o "$tmp/d.y4m")"
    echo "decoder-B $(seconds "$b/micadec" "$tmp/a.ivf" -o "$tmp/d.y4m")"
  done
  for _ in $(seq "${REPS_ENC:-5}"); do
    echo "encoder-A $(seconds "$a/micaenc" "$clip" -o "$tmp/e.ivf" --qp 32 --threads 2 --quiet)"
    echo "encoder-B $(seconds "$b/micaenc" "$clip" -o "$tmp/e.ivf" --qp 32 --threads 2 --quiet)"
  done
} | sort -k1,1 -k2n | awk -v f="$frames" '
  { n[$1]++; v[$1, n[$1]] = $2 }
  END {
    for (k in n) {
      m = v[k, int((n[k] + 1) / 2)]
      printf "%-10s min %6.2f s %6.1f fps   median %6.2f s %6.1f fps   (%d runs)\n", k, v[k, 1], f / v[k, 1], m, f / m, n[k]
    }
  }' | sort
echo "A: $a"
echo "B: $b"
