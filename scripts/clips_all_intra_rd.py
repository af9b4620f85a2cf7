#!/usr/bin/env python3
"""Issue 7 on video: the four test clips' first 8 frames coded all intra by
micaenc (with extra micaenc arguments), one CSV row per clip and QP 22..37
in the columns scripts/bd_compare.py reads (codec, clip, q, kbps, psnr_y,
psnr_yuv: per-frame PSNR averaged over the 8 frames, YUV 6:1:1; rate from
the coded frame bytes, IVF headers excluded).

usage: scripts/clips_all_intra_rd.py NAME OUT.csv [micaenc args]
  e.g. NAME=off (default), NAME=nni with --nn-intra on, then
  scripts/bd_compare.py OUT.csv off OUT.csv nni psnr_y psnr_yuv
MEDIA=folder of the clips (default ../shared/media beside the repository).
"""
import subprocess, sys, os, numpy as np, math
codec, out_csv = sys.argv[1], sys.argv[2]
extra = sys.argv[3:]
enc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "micaenc")
media = os.environ.get("MEDIA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "media"))
clips = ["bbb_640x360_24fps_60f", "box_640x480_30fps_48f", "city_720x400_25fps_48f", "cup_640x480_27fps_48f"]
def read_y4m(p, n):
    b = open(p, "rb").read()
    hdr_end = b.index(b"\n")
    hdr = b[:hdr_end].split()
    w = int([t for t in hdr if t.startswith(b"W")][0][1:]); h = int([t for t in hdr if t.startswith(b"H")][0][1:])
    fps = [t for t in hdr if t.startswith(b"F")][0][1:].split(b":")
    pos = hdr_end + 1
    cw, ch = (w + 1) // 2, (h + 1) // 2
    frames = []
    for _ in range(n):
        pos = b.index(b"\n", pos) + 1
        y = np.frombuffer(b, np.uint8, w * h, pos).reshape(h, w); pos += w * h
        u = np.frombuffer(b, np.uint8, cw * ch, pos).reshape(ch, cw); pos += cw * ch
        v = np.frombuffer(b, np.uint8, cw * ch, pos).reshape(ch, cw); pos += cw * ch
        frames.append((y, u, v))
    return frames, int(fps[0]) / int(fps[1])
def psnr(a, b):
    m = np.mean((a.astype(np.float64) - b) ** 2)
    return 100.0 if m == 0 else 10 * math.log10(255 * 255 / m)
new = not os.path.exists(out_csv)
with open(out_csv, "a") as f:
    if new: f.write("codec,clip,q,kbps,psnr_y,psnr_yuv,status\n")
    for s in clips:
        src = f"{media}/{s}.y4m"
        for q in (22, 27, 32, 37):
            ivf, rec = f"/tmp/{codec}_{s}_{q}.ivf", f"/tmp/{codec}_{s}_{q}.y4m"
            subprocess.run([enc, src, "-o", ivf, "--qp", str(q), "--recon", rec, "-q", "--gop", "intra", "--limit", "8"] + extra, check=True)
            nbytes = os.path.getsize(ivf) - 32 - 8 * 12
            o, fps = read_y4m(src, 8); r, _ = read_y4m(rec, 8)
            py = np.mean([psnr(a[0], b[0]) for a, b in zip(o, r)])
            pyuv = np.mean([(6 * psnr(a[0], b[0]) + psnr(a[1], b[1]) + psnr(a[2], b[2])) / 8 for a, b in zip(o, r)])
            f.write(f"{codec},{s},{q},{nbytes*8*fps/8/1000},{py},{pyuv},ok\n")
            os.remove(ivf); os.remove(rec)
