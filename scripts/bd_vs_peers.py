#!/usr/bin/env python3
"""BD-rate of Mica's points in a mica-rd results.csv against the peer rows of
shared/notes/peers.csv (x264, x265psnr, aom, svt, rav1e, ...), per clip and
averaged, Y-PSNR mean of frames against kbit/s. Every BD-rate is computed by
`mica-rd bd-rate` (PCHIP, the method of rd-vectors.json), so the numbers come
from the same code as the rest of the project's claims.

usage: scripts/bd_vs_peers.py RESULTS.csv [PEERS.csv] [--mica-rd BIN] [--codec mica]
"""
import argparse, csv, os, re, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("results")
ap.add_argument("peers", nargs="?", default=os.path.join(os.path.dirname(__file__), "../../shared/notes/peers.csv"))
ap.add_argument("--mica-rd", default="target/release/mica-rd")
ap.add_argument("--codec", default="mica")
ap.add_argument("--anchors", default="x264,x265psnr,x264psnr,x265,aom,svt,rav1e")
args = ap.parse_args()

ours = [r for r in csv.DictReader(open(args.results)) if r["codec"] == args.codec and r["status"] == "ok"]
peers = list(csv.DictReader(open(args.peers)))
clips = sorted({r["clip"] for r in ours} & {r["clip"] for r in peers})
tmp = tempfile.mkdtemp()

def write(path, pts):
    with open(path, "w") as f:
        f.write("kbps,psnr\n")
        for k, p in sorted(pts):
            f.write(f"{k},{p}\n")

table = {}
for anchor in args.anchors.split(","):
    for clip in clips:
        a = [(float(r["kbps"]), float(r["psnr_y_mean"])) for r in peers if r["clip"] == clip and r["enc"] == anchor]
        t = [(float(r["kbps"]), float(r["psnr_y"])) for r in ours if r["clip"] == clip]
        if len(a) < 2 or len(t) < 2:
            continue
        write(f"{tmp}/a.csv", a)
        write(f"{tmp}/t.csv", t)
        out = subprocess.run([args.mica_rd, "bd-rate", "--anchor", f"{tmp}/a.csv", "--test", f"{tmp}/t.csv"],
                             capture_output=True, text=True)
        m = re.search(r"BD-rate:\s*([-+0-9.]+)\s*%", out.stdout)
        table[(anchor, clip)] = float(m.group(1)) if m else None

print("| clip | " + " | ".join(f"vs {a}" for a in args.anchors.split(",")) + " |")
print("|---|" + "---|" * len(args.anchors.split(",")))
for clip in clips:
    cells = [table.get((a, clip)) for a in args.anchors.split(",")]
    print(f"| {clip} | " + " | ".join("n/a" if c is None else f"{c:+.1f}%" for c in cells) + " |")
means = []
for a in args.anchors.split(","):
    v = [table[(a, c)] for c in clips if table.get((a, c)) is not None]
    means.append(sum(v) / len(v) if v else None)
print("| **mean** | " + " | ".join("n/a" if m is None else f"**{m:+.1f}%**" for m in means) + " |")
