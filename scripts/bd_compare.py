#!/usr/bin/env python3
"""BD-rate of one mica-rd result set against another, per clip and mean.

usage: scripts/bd_compare.py ANCHOR_CSV ANCHOR_CODEC TEST_CSV TEST_CODEC [METRIC...] [--q 22,27,32,37]
METRIC: psnr_y (default), psnr_yuv, ... (columns of results.csv). Rates are the
`kbps` column (coded bytes). BD-rate by `mica-rd bd-rate` (PCHIP, as in every
other figure of the project).
"""
import csv, os, subprocess, sys, tempfile

def rows(path, codec, qs):
    out = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["codec"] == codec and r["status"] == "ok" and (qs is None or int(r["q"]) in qs):
                out.setdefault(r["clip"], []).append(r)
    return out

def main():
    args = sys.argv[1:]
    qs = None
    if "--q" in args:
        i = args.index("--q")
        qs = {int(v) for v in args[i + 1].split(",")}
        del args[i:i + 2]
    a_csv, a_codec, t_csv, t_codec = args[:4]
    metrics = args[4:] or ["psnr_y"]
    here = os.path.dirname(os.path.abspath(__file__))
    rd = os.environ.get("MICA_RD", os.path.join(here, "..", "target", "release", "mica-rd"))
    a, t = rows(a_csv, a_codec, qs), rows(t_csv, t_codec, qs)
    for m in metrics:
        vals = []
        for clip in sorted(set(a) & set(t)):
            with tempfile.TemporaryDirectory() as d:
                files = []
                for name, rs in (("a", a[clip]), ("t", t[clip])):
                    p = os.path.join(d, name + ".csv")
                    with open(p, "w") as f:
                        f.write("kbps,psnr\n")
                        for r in sorted(rs, key=lambda r: float(r["kbps"])):
                            f.write(f'{r["kbps"]},{r[m]}\n')
                    files.append(p)
                res = subprocess.run([rd, "bd-rate", "--anchor", files[0], "--test", files[1]],
                                     capture_output=True, text=True, check=True).stdout
                line = [l for l in res.splitlines() if "BD-rate" in l][0]
                v = float(line.split(":")[1].split("%")[0])
                vals.append(v)
                print(f"{m:9} {clip:28} {v:+7.2f} %")
        if vals:
            print(f"{m:9} {'mean':28} {sum(vals)/len(vals):+7.2f} %")

main()
