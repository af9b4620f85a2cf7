"""Mica, a hybrid learned-plus-traditional video codec, from Python.

Frames are numpy planes (``y``, ``u``, ``v``: ``uint8`` at 8 bits, ``uint16``
at 10; 4:2:0, chroma planes ``(height + 1) // 2`` by ``(width + 1) // 2``)::

    import mica
    frames = mica.read_y4m("in.y4m")
    width, height, fps, depth = frames.info
    enc = mica.Encoder(width, height, fps=fps, crf=30)
    packets = [p for y, u, v in frames for p in enc.encode(y, u, v)] + enc.flush()
    dec = mica.Decoder()
    pictures = [pic for p in packets for pic in dec.decode(p.data)] + dec.flush()

Files: :func:`encode_file`, :func:`decode_file`, :func:`join`. Across
machines: :func:`mica.distributed.encode_chunked` (Ray). Errors:
:class:`SettingError`, :class:`FrameError`, :class:`StreamError`, all
:class:`MicaError`; files raise :class:`OSError`.
"""

from ._mica import (
    Decoder,
    Encoder,
    FrameError,
    MicaError,
    Packet,
    Picture,
    SettingError,
    StreamError,
    Y4mFrames,
    decode_file,
    encode_file,
    join,
    read_y4m,
    scene_cuts,
    version,
)

__all__ = [
    "Decoder",
    "Encoder",
    "FrameError",
    "MicaError",
    "Packet",
    "Picture",
    "SettingError",
    "StreamError",
    "Y4mFrames",
    "decode_file",
    "encode_file",
    "join",
    "read_y4m",
    "scene_cuts",
    "version",
]
__version__ = version()
