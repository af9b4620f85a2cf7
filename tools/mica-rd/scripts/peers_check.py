#!/usr/bin/env python3
"""Compare mica-rd's x264/x265 points with shared/notes/peers.csv (same clip, codec, CRF).

usage: peers_check.py RESULTS.csv [PEERS.csv]
Prints a Markdown table and the largest bitrate (%) and Y-PSNR (dB) deviations;
exits 1 if any exceeds 1 % or 0.05 dB.
"""
import csv
import sys

res = sys.argv[1]
peers = sys.argv[2] if len(sys.argv) > 2 else "../shared/notes/peers.csv"
P = {(r["clip"], r["enc"], int(r["q"])): r for r in csv.DictReader(open(peers))}
worst_db = worst_rate = 0.0
n = 0
print("| clip | codec | CRF | peers kbps | mica-rd kbps | Δ rate | peers PSNR-Y | mica-rd PSNR-Y | Δ dB |")
print("|---|---|---|---|---|---|---|---|---|")
for r in csv.DictReader(open(res)):
    if r["codec"] not in ("x264", "x265", "x264psnr", "x265psnr") or r["status"] != "ok" or r["target_kbps"]:
        continue
    k = (r["clip"], r["codec"], int(r["q"]))
    if k not in P:
        continue
    p = P[k]
    n += 1
    dr = (float(r["kbps"]) / float(p["kbps"]) - 1) * 100
    dd = float(r["psnr_y"]) - float(p["psnr_y_mean"])
    worst_rate = dr if abs(dr) > abs(worst_rate) else worst_rate
    worst_db = dd if abs(dd) > abs(worst_db) else worst_db
    print(f"| {k[0]} | {k[1]} | {k[2]} | {float(p['kbps']):.2f} | {float(r['kbps']):.2f} | {dr:+.3f}% "
          f"| {float(p['psnr_y_mean']):.4f} | {float(r['psnr_y']):.4f} | {dd:+.4f} |")
print(f"\n{n} points compared; largest rate deviation {worst_rate:+.3f} %, largest Y-PSNR deviation {worst_db:+.4f} dB")
sys.exit(0 if n and abs(worst_rate) <= 1.0 and abs(worst_db) <= 0.05 else 1)
