"""Chunked encoding on Ray: a video cut at keyframes into closed chunks,
each coded as a Ray task on whichever worker is free, joined into one stream
without re-encoding.

The chunks open with forced keyframes that nothing crosses (as at a scene
cut), so the joined stream is, packet for packet, what one process gives
with the same keyframes::

    micaenc in.y4m -o out.ivf --force-keyframes 0,240,480,...

That holds for a fixed QP and a whole ``crf``; a fractional ``crf`` (whose
rounding carries from frame to frame) is refused here.

Ray does the scheduling, the retries of a chunk whose worker died, and the
transport of the coded chunks (Ray objects) back to the driver; this module
only cuts, submits, reports progress and joins. Without an ``address`` it
starts Ray on this machine; with one (``"auto"`` or ``"host:port"``) it
joins that cluster, whose workers must be able to read ``input`` at the
same path (shared storage).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

from . import _mica

__all__ = ["Chunk", "plan_chunks", "encode_chunked"]


@dataclass(frozen=True)
class Chunk:
    """Frames ``start .. start + frames`` of the input."""

    index: int
    start: int
    frames: int


def plan_chunks(total: int, chunk_frames: Optional[int] = None,
                keyframes: Optional[Sequence[int]] = None) -> List[Chunk]:
    """Cuts ``total`` frames into chunks: at the given ``keyframes`` (frame
    numbers; 0 is always one), and every ``chunk_frames`` frames (within the
    stretches between keyframes, when both are given)."""
    if total <= 0:
        raise _mica.SettingError(f"the input holds no frames ({total})")
    if keyframes is None and (chunk_frames is None or chunk_frames <= 0):
        raise _mica.SettingError(
            f"chunk_frames={chunk_frames}: give a positive chunk length or keyframes")
    if chunk_frames is not None and chunk_frames <= 0:
        raise _mica.SettingError(f"chunk_frames={chunk_frames} is not a positive length")
    starts = sorted(set(int(k) for k in (keyframes or [])) | {0})
    if starts[-1] >= total or starts[0] < 0:
        raise _mica.SettingError(f"keyframes {list(keyframes or [])} must lie in 0..{total - 1}")
    if chunk_frames is not None:
        ends = starts[1:] + [total]
        starts = [s for a, b in zip(starts, ends) for s in range(a, b, chunk_frames)]
    ends = starts[1:] + [total]
    return [Chunk(i, s, e - s) for i, (s, e) in enumerate(zip(starts, ends))]


def _count_frames(path: str) -> Tuple[int, Tuple[int, int, Tuple[int, int], int]]:
    frames = _mica.read_y4m(path)
    info = frames.info
    return sum(1 for _ in frames), info


def _encode_chunk(path: str, chunk: Chunk, settings: dict,
                  fail_first_try: Optional[str]) -> bytes:
    """One chunk, coded on a worker; returns its IVF bytes."""
    if fail_first_try is not None and not os.path.exists(fail_first_try):
        # Fault injection for the tests: the first try of this chunk dies
        # half-way, as a worker killed mid-chunk does.
        with open(fail_first_try, "w") as f:
            f.write(str(os.getpid()))
        half = max(1, chunk.frames // 2)
        with tempfile.TemporaryDirectory() as d:
            _mica.encode_file(path, os.path.join(d, "half.ivf"), start=chunk.start,
                              limit=half, **settings)
        os._exit(1)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, f"chunk{chunk.index}.ivf")
        _mica.encode_file(path, out, start=chunk.start, limit=chunk.frames, **settings)
        with open(out, "rb") as f:
            return f.read()


def encode_chunked(input: str, output: str, *, chunk_frames: Optional[int] = None,
                   keyframes: Union[Sequence[int], str, None] = None, workers: Optional[int] = None,
                   address: Optional[str] = None, max_retries: int = 3,
                   progress: Optional[Callable[[int, int], None]] = None,
                   fail_first_try: Optional[Sequence[Tuple[int, str]]] = None,
                   **settings) -> dict:
    """Encodes ``input`` (y4m) into ``output`` (IVF) in chunks on Ray.

    ``keyframes`` (frame numbers, or ``"scenes"``: the scene cuts the
    encoder finds, :func:`mica.scene_cuts`) and ``chunk_frames`` (a longest
    chunk) say where chunks start (each start is a closed keyframe); ``settings`` are the encoder's (``qp``, ``crf``,
    ``preset``, ..., as :class:`mica.Encoder` takes them; ``threads``
    defaults to 1, one chunk per worker CPU). ``workers`` caps the CPUs a
    local Ray uses; ``address`` joins a running cluster instead. A chunk
    whose worker dies is run again, up to ``max_retries`` times.
    ``progress(done, total)`` is called as chunks finish (default: a line on
    standard error). ``fail_first_try`` is fault injection for tests: pairs
    of (chunk index, marker path) whose first try kills its worker.

    Returns ``{"frames", "chunks", "keyframes", "seconds"}``: the frames
    joined, the chunk count, the chunk starts, and the time from submitting
    the first chunk to the joined file.
    """
    import ray  # the optional dependency: pip install mica-codec[ray]

    # Workers open the input themselves: give them the whole path.
    input = os.path.abspath(input)
    if "first_frame_number" in settings:
        raise _mica.SettingError("first_frame_number is set per chunk: do not give it")
    crf = settings.get("crf")
    if crf is not None and float(crf) != int(float(crf)):
        raise _mica.SettingError(
            f"crf={crf}: chunks join exactly only at a whole crf (or a fixed qp)")
    total, _info = _count_frames(input)
    if isinstance(keyframes, str):
        if keyframes != "scenes":
            raise _mica.SettingError(f"keyframes={keyframes!r}: give frame numbers or 'scenes'")
        keyframes = _mica.scene_cuts(input)
    chunks = plan_chunks(total, chunk_frames, keyframes)
    settings = dict(settings)
    settings.setdefault("threads", 1)
    # Check the settings here, not on a worker.
    _mica.Encoder(16, 16, **settings)

    started_ray = False
    if not ray.is_initialized():
        if address is None:
            # "local": a Ray of its own on this machine, never a cluster
            # found through RAY_ADDRESS or an earlier `ray start`.
            ray.init(address="local", num_cpus=workers, include_dashboard=False,
                     log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started_ray = True
    try:
        task = ray.remote(num_cpus=1, max_retries=max_retries)(_encode_chunk)
        faults = dict(fail_first_try or [])
        start = time.monotonic()
        pending = {
            task.remote(input, c, settings, faults.get(c.index)): c for c in chunks
        }
        report = progress or (lambda done, n: print(
            f"mica: {done}/{n} chunks coded", file=sys.stderr))
        with tempfile.TemporaryDirectory() as d:
            paths = [os.path.join(d, f"chunk{c.index:06}.ivf") for c in chunks]
            try:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        chunk = pending.pop(ref)
                        # Each chunk goes to disk as it comes: the driver
                        # never holds the whole output in memory.
                        with open(paths[chunk.index], "wb") as f:
                            f.write(ray.get(ref))
                        report(len(chunks) - len(pending), len(chunks))
            finally:
                for ref in pending:
                    ray.cancel(ref, force=True)
            frames = _mica.join(paths, output)
        seconds = time.monotonic() - start
    finally:
        if started_ray:
            ray.shutdown()
    return {"frames": frames, "chunks": len(chunks),
            "keyframes": [c.start for c in chunks], "seconds": seconds}
