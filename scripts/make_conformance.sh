#!/usr/bin/env bash
# Regenerates conformance/streams/*.ivf and their .md5 with the release
# binaries. Refuses to write an MD5 unless the decoder's output MD5 equals
# the encoder's reconstruction MD5 (micaenc --md5). A format change (or a new
# default model) needs new streams, and the commit must say why.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p mica-cli --bin micaenc --bin micadec
enc=target/release/micaenc dec=target/release/micadec out=conformance/streams
make() {
  local name=$1; shift
  local want got
  want=$("$enc" "$@" -o "$out/$name.ivf" --md5 -q)
  got=$("$dec" "$out/$name.ivf" --md5)
  if [ "$want" != "$got" ]; then
    echo "MISMATCH $name: encoder $want, decoder $got" >&2; exit 1
  fi
  echo "$got" > "$out/$name.md5"
  echo "$name $got"
}
make intra_chelsea_qp32 samples/still_chelsea_448x296.y4m --qp 32
make ra_city_6f_qp37 samples/city_720x400_6f.y4m --qp 37
make ld_city_6f_qp37 samples/city_720x400_6f.y4m --qp 37 --gop low-delay
make ra_city_6f_qp27_slow_gop4 samples/city_720x400_6f.y4m --qp 27 --preset slow --gop-size 4
make ra_city_6f_qp32_nofilter samples/city_720x400_6f.y4m --qp 32 --nn-filter off
make intra_chelsea_qp27_nnintra samples/still_chelsea_448x296.y4m --qp 27 --nn-intra on
make ra_city_6f_qp22 samples/city_720x400_6f.y4m --qp 22
make intra_chelsea_qp44 samples/still_chelsea_448x296.y4m --qp 44
make ai_city_6f_qp37_keyint4 samples/city_720x400_6f.y4m --qp 37 --gop intra --keyint 4
make intra_chelsea_qp44_uniform_contexts samples/still_chelsea_448x296.y4m --qp 44 --context-init uniform
make ra_city_6f_qp32_deblock_offset3 samples/city_720x400_6f.y4m --qp 32 --deblock-offset 3
make ra_city_6f_qp32_sb_qp samples/city_720x400_6f.y4m --qp 32 --importance-qp block
make intra_chelsea_qp32_mts samples/still_chelsea_448x296.y4m --qp 32 --implicit-mts on --mtt off --alf off --cclm off
make ra_city_6f_qp32_alf samples/city_720x400_6f.y4m --qp 32 --alf on --mtt off --implicit-mts off --cclm off
make ld_city_6f_qp27_alf_nofilter samples/city_720x400_6f.y4m --qp 27 --gop low-delay --nn-filter off --alf on
make intra_chelsea_qp32_cclm samples/still_chelsea_448x296.y4m --qp 32 --cclm on --mtt off --implicit-mts off --alf off
make ra_city_6f_qp32_cclm_mtt samples/city_720x400_6f.y4m --qp 32 --cclm on --mtt on --tt off --implicit-mts off --alf off
make ra_city_6f_qp32_mtt samples/city_720x400_6f.y4m --qp 32 --mtt on --tt off --implicit-mts off --alf off --cclm off
# Ternary splits (tool_flags bit 9) with binary splits and nothing else new.
make ra_city_6f_qp27_tt samples/city_720x400_6f.y4m --qp 27 --mtt on --tt on --implicit-mts off --alf off --cclm off
make intra_chelsea_qp27_tt_slow samples/still_chelsea_448x296.y4m --qp 27 --preset slow --mtt on --tt on --implicit-mts off --alf off --cclm off
# Decoder-side motion vector refinement (inter_tool_flags bit 0) with the default tools.
make ra_city_6f_qp32_dmvr samples/city_720x400_6f.y4m --qp 32 --dmvr on --bdof off --history-merge off --mmvd off --amvr off --smvd off
# Optical flow (inter_tool_flags bit 1) alone: merge and AMVP CUs.
make ra_city_6f_qp32_bdof samples/city_720x400_6f.y4m --qp 32 --dmvr off --bdof on --history-merge off --mmvd off --amvr off --smvd off
# History and pairwise-average merge candidates (inter_tool_flags bit 2) alone.
make ra_city_6f_qp32_history samples/city_720x400_6f.y4m --qp 32 --dmvr off --bdof off --history-merge on --mmvd off --amvr off --smvd off
make ld_city_6f_qp37_history samples/city_720x400_6f.y4m --qp 37 --gop low-delay --dmvr off --bdof off --history-merge on --mmvd off --amvr off --smvd off
# Merge with motion vector differences (inter_tool_flags bit 3) alone, then issue 29's tools together (the default).
make ra_city_6f_qp32_mmvd samples/city_720x400_6f.y4m --qp 32 --dmvr off --bdof off --history-merge off --mmvd on --amvr off --smvd off
make ld_city_6f_qp27_mmvd samples/city_720x400_6f.y4m --qp 27 --gop low-delay --dmvr off --bdof off --history-merge off --mmvd on --amvr off --smvd off
# Adaptive vector resolution (inter_tool_flags bit 4) alone.
make ra_city_6f_qp27_amvr samples/city_720x400_6f.y4m --qp 27 --dmvr off --bdof off --history-merge off --mmvd off --amvr on --smvd off
make ld_city_6f_qp32_amvr samples/city_720x400_6f.y4m --qp 32 --gop low-delay --dmvr off --bdof off --history-merge off --mmvd off --amvr on --smvd off
# Symmetric vector differences (inter_tool_flags bit 5) alone, then with
# whole and four-sample differences.
make ra_city_6f_qp32_smvd samples/city_720x400_6f.y4m --qp 32 --dmvr off --bdof off --history-merge off --mmvd off --amvr off --smvd on
make ra_city_6f_qp27_smvd_amvr samples/city_720x400_6f.y4m --qp 27 --dmvr off --bdof off --history-merge off --mmvd off --amvr on --smvd on
make ra_city_6f_qp27_inter samples/city_720x400_6f.y4m --qp 27
# Issue 28's tools all off: the quadtree syntax of tool_flags bits 5-8 clear, with the current encoder.
make ra_city_6f_qp37_quadtree samples/city_720x400_6f.y4m --qp 37 --mtt off --implicit-mts off --alf off --cclm off
make intra_chelsea_qp32_quadtree samples/still_chelsea_448x296.y4m --qp 32 --mtt off --implicit-mts off --alf off --cclm off
# 10 bits: the samples made 10-bit by scripts/make_10bit.py (none ships).
mkdir -p target/conformance
python3 scripts/make_10bit.py samples/city_720x400_6f.y4m target/conformance/city10_720x400_6f.y4m
python3 scripts/make_10bit.py samples/still_chelsea_448x296.y4m target/conformance/still_chelsea10_448x296.y4m
city10=target/conformance/city10_720x400_6f.y4m chelsea10=target/conformance/still_chelsea10_448x296.y4m
make ra_city10_6f_qp32 "$city10" --qp 32
make ld_city10_6f_qp37 "$city10" --qp 37 --gop low-delay
make intra_chelsea10_qpm6 "$chelsea10" --qp -6
make intra_chelsea10_qp27_nnintra "$chelsea10" --qp 27 --nn-intra on
make intra_chelsea10_qp27_cclm_mtt "$chelsea10" --qp 27 --cclm on --mtt on --tt off
make ra_city_6f_qp32_coded10 samples/city_720x400_6f.y4m --qp 32 --bit-depth 10 --recon-depth stream
make intra_chelsea10_qp32_hdr "$chelsea10" --qp 32 --colour-primaries bt2020 --transfer pq --matrix bt2020nc \
  --master-display "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)" --max-cll 1000,400
make intra_chelsea10_qp37_alf_nofilter "$chelsea10" --qp 37 --nn-filter off --alf on
make ra_city10_6f_qp27_dmvr "$city10" --qp 27 --dmvr on --bdof off --history-merge off --mmvd off --amvr off --smvd off
make ra_city10_6f_qp27_dmvr_bdof "$city10" --qp 27 --dmvr on --bdof on --history-merge off --mmvd off --amvr off --smvd off
make ra_city10_6f_qp32_inter "$city10" --qp 32
