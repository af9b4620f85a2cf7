#!/usr/bin/env python3
"""Makes a 10-bit 4:2:0 y4m (C420p10) from an 8-bit one, for 10-bit round trips
and conformance streams (no genuinely 10-bit clip is shipped).

Each 10-bit sample is 3/4 of the 8-bit sample and 1/16 of each of its four
neighbours (edges repeated), computed at 10-bit precision:
    v10 = 3 * v + (left + right + up + down) / 4, rounded.
So the low two bits carry real detail (gradients, not just v << 2), at the
cost of a light smoothing. usage: make_10bit.py IN.y4m OUT.y4m [FRAMES]
"""
import sys


def convert_plane(data, w, h):
    out = bytearray(2 * w * h)
    for y in range(h):
        up = data[max(y - 1, 0) * w:][:w]
        row = data[y * w:][:w]
        down = data[min(y + 1, h - 1) * w:][:w]
        for x in range(w):
            nb = row[max(x - 1, 0)] + row[min(x + 1, w - 1)] + up[x] + down[x]
            v = (12 * row[x] + nb + 2) // 4
            v = min(v, 1023)
            out[2 * (y * w + x)] = v & 0xFF
            out[2 * (y * w + x) + 1] = v >> 8
    return bytes(out)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    with open(src, "rb") as f:
        header = f.readline().decode().split()
        assert header[0] == "YUV4MPEG2"
        w = int(next(t[1:] for t in header if t.startswith("W")))
        h = int(next(t[1:] for t in header if t.startswith("H")))
        cs = next((t for t in header if t.startswith("C")), "C420")
        assert cs in ("C420", "C420jpeg", "C420mpeg2", "C420paldv"), cs
        tags = [t for t in header[1:] if not t.startswith("C") and not t.startswith("XYSCSS")]
        cw, ch = (w + 1) // 2, (h + 1) // 2
        with open(dst, "wb") as out:
            out.write(("YUV4MPEG2 " + " ".join(tags + ["C420p10", "XYSCSS=420P10"]) + "\n").encode())
            n = 0
            while limit is None or n < limit:
                marker = f.readline()
                if not marker:
                    break
                assert marker.startswith(b"FRAME"), marker
                out.write(b"FRAME\n")
                for pw, ph in ((w, h), (cw, ch), (cw, ch)):
                    out.write(convert_plane(f.read(pw * ph), pw, ph))
                n += 1


if __name__ == "__main__":
    main()
