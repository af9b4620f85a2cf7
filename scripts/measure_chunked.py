#!/usr/bin/env python3
"""Speed of chunked encoding on Ray against one process, interleaved.

    python scripts/measure_chunked.py CLIP.y4m OUT_DIR [--chunks 4] [--rounds 2] [--qp 32]

Per round, in this order: one process with 1 and 2 threads (the encoder's
own frame and block parallelism, keyframes forced where the chunks start),
then Ray on this machine with 1 and 2 worker CPUs (one chunk per worker, one
thread each). Prints each time and the medians; checks every output is
byte for byte the same stream. Needs the package installed with Ray
(scripts/check-python.sh makes such a virtual environment).
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import mica  # noqa: E402
from mica import distributed  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("out")
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--qp", type=int, default=32)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    total = sum(1 for _ in mica.read_y4m(a.clip))
    plan = distributed.plan_chunks(total, chunk_frames=-(-total // a.chunks))
    keyframes = [c.start for c in plan]
    times = {}
    streams = {}

    def record(name, seconds, path):
        times.setdefault(name, []).append(seconds)
        with open(path, "rb") as f:
            streams[name] = f.read()
        print(f"{name}: {seconds:.1f} s", flush=True)

    for r in range(a.rounds):
        for threads in (1, 2):
            path = os.path.join(a.out, f"one-process-{threads}.ivf")
            t = time.monotonic()
            mica.encode_file(a.clip, path, qp=a.qp, threads=threads, force_keyframes=keyframes)
            record(f"one process, {threads} thread(s)", time.monotonic() - t, path)
        for workers in (1, 2):
            path = os.path.join(a.out, f"ray-{workers}.ivf")
            t = time.monotonic()
            distributed.encode_chunked(a.clip, path, keyframes=keyframes, workers=workers,
                                       qp=a.qp, progress=lambda done, n: None)
            record(f"Ray, {workers} worker(s)", time.monotonic() - t, path)
    first = next(iter(streams.values()))
    same = all(s == first for s in streams.values())
    medians = {k: statistics.median(v) for k, v in times.items()}
    base = medians["one process, 1 thread(s)"]
    summary = {
        "clip": os.path.basename(a.clip),
        "frames": total,
        "chunks": len(plan),
        "keyframes": keyframes,
        "qp": a.qp,
        "rounds": a.rounds,
        "seconds": times,
        "median_seconds": medians,
        "speedup_vs_one_process_1_thread": {k: base / v for k, v in medians.items()},
        "identical_streams": same,
    }
    with open(os.path.join(a.out, "chunked-speed.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary["median_seconds"], indent=1))
    print(json.dumps(summary["speedup_vs_one_process_1_thread"], indent=1))
    if not same:
        print("the streams differ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
