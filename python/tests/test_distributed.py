"""Chunked encoding on a local Ray cluster started by the test: a head and
two worker nodes on the loopback address; one chunk's worker dies mid-chunk
and the chunk is coded again; the joined stream equals, byte for byte, the
one-process encode with the same keyframes."""

import os
from pathlib import Path

import pytest

import mica
from mica import distributed

# Every node on the loopback address (set before Ray is imported: Ray reads
# it once). Without it Ray picks the machine's outward address.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SAMPLE = str(REPO / "samples" / "city_720x400_6f.y4m")


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True,
                head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [c.add_node(num_cpus=1) for _ in range(2)]
    c.wait_for_nodes()
    assert c.address.startswith("127.0.0.1:"), c.address
    yield c, workers
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def test_plan_chunks():
    assert distributed.plan_chunks(10, chunk_frames=4) == [
        distributed.Chunk(0, 0, 4), distributed.Chunk(1, 4, 4), distributed.Chunk(2, 8, 2)]
    assert [c.start for c in distributed.plan_chunks(6, keyframes=[4, 2])] == [0, 2, 4]
    with pytest.raises(mica.SettingError):
        distributed.plan_chunks(6, keyframes=[7])
    with pytest.raises(mica.SettingError):
        distributed.plan_chunks(6)
    # Scene cuts, and long scenes split further.
    assert [c.start for c in distributed.plan_chunks(20, chunk_frames=6, keyframes=[8])] == [
        0, 6, 8, 14]


def test_chunked_encode_survives_a_killed_worker(cluster, tmp_path):
    c, _workers = cluster
    keyframes = [0, 2, 4, 5]
    marker = tmp_path / "chunk1-died"
    seen = []
    result = distributed.encode_chunked(
        SAMPLE, str(tmp_path / "chunked.ivf"), keyframes=keyframes, address=c.address,
        qp=40, progress=lambda done, n: seen.append((done, n)),
        fail_first_try=[(1, str(marker))])
    assert result["chunks"] == 4 and result["frames"] == 6
    assert marker.exists(), "chunk 1's first try ran and killed its worker"
    assert seen[-1] == (4, 4) and len(seen) == 4, "each chunk reported once"

    mica.encode_file(SAMPLE, tmp_path / "whole.ivf", qp=40, force_keyframes=keyframes)
    assert (tmp_path / "chunked.ivf").read_bytes() == (tmp_path / "whole.ivf").read_bytes()
    md5 = mica.decode_file(str(tmp_path / "chunked.ivf"))
    assert md5 == mica.decode_file(str(tmp_path / "whole.ivf"))

    # Without retries the chunk whose worker dies fails the encode, and no
    # output is left.
    with pytest.raises(ray.exceptions.RayError):
        distributed.encode_chunked(
            SAMPLE, str(tmp_path / "failed.ivf"), keyframes=keyframes, address=c.address,
            qp=40, max_retries=0, fail_first_try=[(2, str(tmp_path / "chunk2-died"))])
    assert not (tmp_path / "failed.ivf").exists()

    # Bad settings are refused on the driver, before any task runs.
    with pytest.raises(mica.SettingError, match="unknown setting"):
        distributed.encode_chunked(SAMPLE, str(tmp_path / "x.ivf"), chunk_frames=2,
                                   address=c.address, speed=9)
    assert not (tmp_path / "x.ivf").exists()
    with pytest.raises(mica.SettingError, match="whole crf"):
        distributed.encode_chunked(SAMPLE, str(tmp_path / "x.ivf"), chunk_frames=2,
                                   address=c.address, crf=30.5)


def test_one_machine_without_a_cluster(tmp_path):
    """No address: the driver starts a Ray of its own and stops it after."""
    if ray.is_initialized():
        ray.shutdown()
    result = distributed.encode_chunked(SAMPLE, str(tmp_path / "local.ivf"), chunk_frames=3,
                                        workers=2, qp=44, progress=lambda done, n: None)
    assert result["keyframes"] == [0, 3] and not ray.is_initialized()
    mica.encode_file(SAMPLE, tmp_path / "whole.ivf", qp=44, force_keyframes=[0, 3])
    assert (tmp_path / "local.ivf").read_bytes() == (tmp_path / "whole.ivf").read_bytes()


def test_chunks_at_scene_cuts(tmp_path):
    """A clip with a hard cut: the chunks open there, and still join to the
    one-process encode with those keyframes."""
    frames = list(mica.read_y4m(SAMPLE))
    clip = tmp_path / "cut.y4m"
    header = open(SAMPLE, "rb").readline()
    with open(clip, "wb") as f:
        f.write(header)
        # The sample forwards, then backwards and inverted: a new scene at 6.
        for y, u, v in frames + [(255 - y, u, v) for y, u, v in reversed(frames)]:
            f.write(b"FRAME\n" + y.tobytes() + u.tobytes() + v.tobytes())
    assert mica.scene_cuts(str(clip)) == [6]
    result = distributed.encode_chunked(str(clip), str(tmp_path / "scenes.ivf"),
                                        keyframes="scenes", chunk_frames=4, workers=2, qp=44,
                                        progress=lambda done, n: None)
    assert result["keyframes"] == [0, 4, 6, 10]
    mica.encode_file(str(clip), tmp_path / "whole.ivf", qp=44, force_keyframes=[0, 4, 6, 10])
    assert (tmp_path / "scenes.ivf").read_bytes() == (tmp_path / "whole.ivf").read_bytes()
