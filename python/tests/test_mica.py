"""The Python package: numpy round trips equal to the command-line tools,
files, joins, and every error case raising its type."""

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import mica

REPO = Path(__file__).resolve().parents[2]
SAMPLE = str(REPO / "samples" / "city_720x400_6f.y4m")


def cli(name):
    """A command-line tool from MICA_BIN (set by scripts/check-python.sh)."""
    bin_dir = os.environ.get("MICA_BIN")
    if not bin_dir:
        pytest.skip("MICA_BIN is not set: the CLIs are not built")
    return str(Path(bin_dir) / name)


def md5_of(pictures):
    m = hashlib.md5()
    for p in pictures:
        for plane in (p.y, p.u, p.v):
            m.update(np.ascontiguousarray(plane).astype(plane.dtype.newbyteorder("<")).tobytes())
    return m.hexdigest()


def encode_frames(frames, width, height, **settings):
    enc = mica.Encoder(width, height, **settings)
    packets = []
    for y, u, v in frames:
        packets += enc.encode(y, u, v)
    return packets + enc.flush()


def decode_packets(packets):
    dec = mica.Decoder()
    pictures = []
    for p in packets:
        pictures += dec.decode(p.data)
    return pictures + dec.flush()


def test_numpy_round_trip_equals_the_clis(tmp_path):
    frames = mica.read_y4m(SAMPLE)
    width, height, fps, depth = frames.info
    assert (width, height, fps, depth) == (720, 400, (25, 1), 8)
    planes = list(frames)
    assert planes[0][0].dtype == np.uint8 and planes[0][0].shape == (400, 720)
    assert planes[0][1].shape == (200, 360)
    packets = encode_frames(planes, width, height, fps=fps, qp=37)
    pictures = decode_packets(packets)
    assert [p.frame_number for p in pictures] == list(range(6))
    ours = md5_of(pictures)

    out = subprocess.run([cli("micaenc"), SAMPLE, "-o", str(tmp_path / "cli.ivf"), "--qp", "37",
                          "--md5", "-q"], check=True, capture_output=True, text=True)
    assert ours == out.stdout.strip(), "numpy round trip = micaenc --md5"
    # The package's own file encode is micaenc's stream byte for byte.
    mica.encode_file(SAMPLE, tmp_path / "py.ivf", qp=37)
    assert (tmp_path / "py.ivf").read_bytes() == (tmp_path / "cli.ivf").read_bytes()
    dec = subprocess.run([cli("micadec"), str(tmp_path / "py.ivf"), "--md5"], check=True,
                         capture_output=True, text=True)
    assert dec.stdout.strip() == ours
    assert mica.decode_file(str(tmp_path / "py.ivf")) == ours


def test_ten_bits_and_strided_planes():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 1024, size=(40, 72), dtype=np.uint16)
    u = rng.integers(0, 1024, size=(20, 36), dtype=np.uint16)
    v = rng.integers(0, 1024, size=(20, 36), dtype=np.uint16)
    # A view with strides of its own (every other column of a wider array).
    wide = np.zeros((40, 144), dtype=np.uint16)
    wide[:, ::2] = y
    packets = encode_frames([(wide[:, ::2], u, v)], 72, 40, input_bit_depth=10, gop="intra",
                            nn_filter=False, qp=0)
    (pic,) = decode_packets(packets)
    assert pic.bit_depth == 10 and pic.y.dtype == np.uint16
    # QP 0 at 10 bits is not lossless, but close: the planes were read right.
    assert np.abs(pic.y.astype(int) - y.astype(int)).mean() < 8


def test_settings_errors():
    with pytest.raises(mica.SettingError, match="unknown setting 'speed'"):
        mica.Encoder(64, 64, speed=3)
    with pytest.raises(mica.SettingError, match="preset"):
        mica.Encoder(64, 64, preset="turbo")
    with pytest.raises(mica.SettingError, match="conflict"):
        mica.Encoder(64, 64, qp=30, crf=30)
    with pytest.raises(mica.SettingError, match="QP"):
        mica.Encoder(64, 64, qp=60)
    with pytest.raises(mica.SettingError, match="fps"):
        mica.Encoder(64, 64, fps=(25, 0))
    with pytest.raises(mica.SettingError):
        mica.Encoder(0, 64)
    with pytest.raises(mica.SettingError, match="threads"):
        mica.Decoder(threads=10_000)
    assert issubclass(mica.SettingError, mica.MicaError)


def test_frame_errors():
    enc = mica.Encoder(64, 32, gop="intra", nn_filter=False)
    y = np.zeros((32, 64), np.uint8)
    u = np.zeros((16, 32), np.uint8)
    with pytest.raises(mica.FrameError, match="plane y is"):
        enc.encode(np.zeros((32, 60), np.uint8), u, u)
    with pytest.raises(mica.FrameError, match="uint8"):
        enc.encode(y.astype(np.float32), u, u)
    with pytest.raises(mica.FrameError, match="uint8"):
        enc.encode(np.zeros((32, 64, 3), np.uint8), u, u)
    enc10 = mica.Encoder(64, 32, input_bit_depth=10, gop="intra", nn_filter=False)
    with pytest.raises(mica.FrameError, match="above the 10-bit maximum"):
        enc10.encode(np.full((32, 64), 1024, np.uint16), u.astype(np.uint16), u.astype(np.uint16))
    enc.encode(y, u, u)
    packets = enc.flush()
    assert [p.frame_number for p in packets] == [0], "only the good frame was coded"
    with pytest.raises(mica.MicaError, match="flushed"):
        enc.encode(y, u, u)


def test_stream_and_file_errors(tmp_path):
    packets = encode_frames([(np.full((32, 32), 90, np.uint8), np.full((16, 16), 128, np.uint8),
                              np.full((16, 16), 128, np.uint8))] * 3, 32, 32, gop="low-delay",
                            nn_filter=False)
    dec = mica.Decoder()
    with pytest.raises(mica.StreamError, match="invalid bitstream"):
        dec.decode(b"not a mica packet")
    dec = mica.Decoder()
    dec.decode(packets[0].data)
    with pytest.raises(mica.StreamError):
        dec.decode(packets[1].data[: len(packets[1].data) // 2])
        dec.flush()
    with pytest.raises(OSError, match="cannot open"):
        mica.read_y4m(str(tmp_path / "missing.y4m"))
    (tmp_path / "bad.y4m").write_bytes(b"YUV4MPEG2 W0 H0\n")
    with pytest.raises(OSError):
        mica.encode_file(str(tmp_path / "bad.y4m"), tmp_path / "x.ivf")
    assert not (tmp_path / "x.ivf").exists()
    with pytest.raises(mica.SettingError, match="past the end"):
        mica.encode_file(SAMPLE, tmp_path / "y.ivf", start=10)
    assert not (tmp_path / "y.ivf").exists()
    assert not list(tmp_path.glob(".mica-*")), "no partial file left behind"
    (tmp_path / "junk.ivf").write_bytes(b"DKIF" + bytes(60))
    with pytest.raises(mica.StreamError):
        mica.decode_file(str(tmp_path / "junk.ivf"))


def test_chunks_join_to_the_one_process_encode(tmp_path):
    whole = tmp_path / "whole.ivf"
    mica.encode_file(SAMPLE, whole, qp=40, force_keyframes=[0, 2, 4, 5])
    chunks = []
    for start, n in [(0, 2), (2, 2), (4, 1), (5, 1)]:
        c = tmp_path / f"c{start}.ivf"
        assert mica.encode_file(SAMPLE, c, start=start, limit=n, qp=40) == n
        chunks.append(c)
    assert mica.join(chunks, tmp_path / "joined.ivf") == 6
    assert (tmp_path / "joined.ivf").read_bytes() == whole.read_bytes()
    with pytest.raises(mica.StreamError, match="does not start with a keyframe"):
        truncated = tmp_path / "cut.ivf"
        data = chunks[1].read_bytes()
        first = 32 + 12 + int.from_bytes(data[32:36], "little")
        truncated.write_bytes(data[:32] + data[first:])
        mica.join([chunks[0], truncated], tmp_path / "never.ivf")
    assert not (tmp_path / "never.ivf").exists()


def test_errors_pickle_as_themselves():
    import pickle

    for cls in (mica.MicaError, mica.SettingError, mica.FrameError, mica.StreamError):
        e = pickle.loads(pickle.dumps(cls("message")))
        assert type(e) is cls and str(e) == "message"


def test_frame_numbers_stop_at_32_bits():
    y, c = np.zeros((16, 16), np.uint8), np.zeros((8, 8), np.uint8)
    enc = mica.Encoder(16, 16, gop="low-delay", nn_filter=False, first_frame_number=2**32 - 4)
    packets = []
    for _ in range(3):
        packets += enc.encode(y, c, c)
    with pytest.raises(mica.FrameError, match="2\\^32"):
        enc.encode(y, c, c)
    packets += enc.flush()
    assert [p.frame_number for p in packets] == [2**32 - 4, 2**32 - 3, 2**32 - 2]


def test_decode_file_leaves_no_partial_output(tmp_path):
    mica.encode_file(SAMPLE, tmp_path / "s.ivf", qp=45, gop="low-delay", nn_filter=False)
    data = (tmp_path / "s.ivf").read_bytes()
    # Keep the header and the first frame, then a frame cut short.
    first = 32 + 12 + int.from_bytes(data[32:36], "little")
    second = first + 12 + int.from_bytes(data[first:first + 4], "little")
    (tmp_path / "cut.ivf").write_bytes(data[:second - 5])
    with pytest.raises(mica.StreamError):
        mica.decode_file(str(tmp_path / "cut.ivf"), tmp_path / "out.y4m")
    assert not (tmp_path / "out.y4m").exists()
    assert not list(tmp_path.glob(".mica-*"))
