"""VideoReader on the kinds of files users bring, each generated here with PyAV: DivX/Xvid
packed B-frames, headers that miscount, variable frame rates, rotation, GIF, WebM (VP8, VP9,
AV1), MPEG-2 program streams, Matroska with several streams, and folders of numbered images.

Every case checks the frame count, strictly increasing timestamps, that frame ``i`` is the
image rendered for frame ``i``, and that the images equal an independent decode (OpenCV's
``VideoCapture``, or ``cv2.imread`` for image files).
"""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.video_corpus import MAX_MEAN_ABS_DIFF, compare_with_opencv
from tests.videos import (
    make_video,
    render_frame,
    set_avi_frame_count,
    set_mkv_duration,
    drop_first_frame_by_edit_list,
    write_image_folder,
    write_multistream_mkv,
    write_packed_bframes_avi,
    write_timed_video,
)
from tools.errors import CorruptVideoError, NotAVideoError, VideoError
from tools.video import VideoReader
from tests.requirements import missing

SIZE = (160, 96)


def opencv_images(path: Path) -> list[np.ndarray]:
    """Every frame OpenCV's VideoCapture returns, as RGB."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert capture.isOpened(), f"OpenCV cannot open {path}"
    images = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        images.append(np.ascontiguousarray(bgr[..., ::-1]))
    capture.release()
    return images


def assert_renders(images: list[np.ndarray], n_frames: int, *, size=SIZE, cuts=(), motion="pan", rotation=0) -> None:
    """Image ``i`` looks most like ``render_frame(i)`` (turned by ``rotation``) of all renders."""
    renders = [render_frame(i, n_frames=n_frames, size=size, cuts=cuts, motion=motion) for i in range(n_frames)]
    renders = np.stack([np.rot90(r, k=rotation // 90) for r in renders]).astype(np.int16)
    assert len(images) == n_frames
    for i, image in enumerate(images):
        errors = np.abs(renders - image.astype(np.int16)).mean(axis=(1, 2, 3))
        assert int(np.argmin(errors)) == i, f"frame {i} looks like render {int(np.argmin(errors))}"


def assert_same_as_opencv(path: Path, n_frames: int) -> None:
    comparison = compare_with_opencv(path)
    assert (comparison.ours, comparison.opencv_read) == (n_frames, n_frames)
    assert comparison.agrees, comparison


def read_all(path: Path, **open_args) -> tuple[VideoReader, list[np.ndarray]]:
    with VideoReader.open(path, **open_args) as reader:
        images = [f.image for f in reader.iter_frames()]
        assert np.all(np.diff(reader.timestamps) > 0) and reader.timestamps[0] == 0.0
    return reader, images


# ---------------------------------------------------------------- packed B-frames


@pytest.fixture(scope="module")
def packed_avi(tmp_path_factory) -> Path:
    return write_packed_bframes_avi(tmp_path_factory.mktemp("packed") / "xvid.avi", n_frames=30, cuts=(12,))


def test_packed_bframes_decode_every_frame_in_order(packed_avi):
    reader, images = read_all(packed_avi)
    assert reader.meta.n_frames == 30 and reader.meta.codec == "mpeg4" and reader.warnings == []
    np.testing.assert_allclose(reader.timestamps, np.arange(30) / 25, atol=1e-9)
    assert_renders(images, 30, cuts=(12,))
    assert_same_as_opencv(packed_avi, 30)


def test_packed_bframes_random_access_matches_sequential(packed_avi):
    _, sequential = read_all(packed_avi)
    with VideoReader.open(packed_avi, cache_bytes=0) as reader:
        for i in [20, 3, 29, 4, 11, 12, 0]:
            assert np.array_equal(reader.frame(i).image, sequential[i]), f"frame {i}"
        assert reader.check_decodable() == 30


def test_why_decoder_order_and_not_pts_or_the_bitstream_filter(packed_avi):
    """The decision behind the reader: FFmpeg outputs packed B-frames in the right order but
    with out-of-order pts; sorting by pts shows them out of order, and the
    mpeg4_unpack_bframes bitstream filter gives the very same images and pts."""
    from av.bitstream import BitStreamFilterContext

    with av.open(str(packed_avi)) as container:
        plain = [(f.pts, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    pts = [p for p, _ in plain]
    assert pts != sorted(pts), "the decoder no longer mislabels packed B-frames"
    assert_renders([image for _, image in plain], 30, cuts=(12,))
    with pytest.raises(AssertionError, match="looks like render"):
        assert_renders([image for _, image in sorted(plain, key=lambda item: item[0])], 30, cuts=(12,))

    with av.open(str(packed_avi)) as container:
        stream = container.streams.video[0]
        bsf = BitStreamFilterContext("mpeg4_unpack_bframes", stream)
        filtered = []
        for packet in container.demux(stream):
            for unpacked in bsf.filter(packet if packet.size else None):
                filtered += [(f.pts, f.to_ndarray(format="rgb24")) for f in stream.codec_context.decode(unpacked)]
        filtered += [(f.pts, f.to_ndarray(format="rgb24")) for f in stream.codec_context.decode(None)]
    assert [p for p, _ in filtered] == pts
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(filtered, plain))


def test_out_of_order_pts_are_noticed_without_the_divx_flag(packed_avi, monkeypatch):
    """A stream whose decoded pts go backwards is read in decoder order even when its user
    data does not announce packed B-frames."""
    import tools.video_container as video_container

    monkeypatch.setattr(video_container, "_has_packed_bframes", lambda stream, first_packet: False)
    _, sequential = read_all(packed_avi)
    assert_renders(sequential, 30, cuts=(12,))
    with VideoReader.open(packed_avi, cache_bytes=0) as reader:
        assert np.array_equal(reader.frame(4).image, sequential[4])
        assert np.array_equal(reader.frame(3).image, sequential[3])


def test_vidagent_info_on_packed_bframes(packed_avi, tmp_path):
    from click.testing import CliRunner

    from agent.cli import cli

    result = CliRunner().invoke(cli, ["info", str(packed_avi), "--json", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["n_frames"] == 30 and info["cut_times_s"] == [0.48] and len(info["shots"]) == 2


# ---------------------------------------------------------------- headers that disagree with the packets


@pytest.mark.parametrize("declared", [29, 40])
def test_avi_header_frame_count_is_a_hint(tmp_path, caplog, declared):
    path = set_avi_frame_count(make_video(tmp_path / "clip.avi", n_frames=30, cuts=(12,)), declared)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == declared
    with caplog.at_level(logging.WARNING, logger="tools.video"):
        reader, images = read_all(path)
    assert reader.meta.n_frames == 30
    assert len(reader.warnings) == 1 and f"the header lists {declared} frames but the file holds 30" in reader.warnings[0]
    assert [r.getMessage() for r in caplog.records] == reader.warnings
    assert_renders(images, 30, cuts=(12,))
    assert_same_as_opencv(path, 30)


def test_mp4_edit_list_hides_a_frame_the_header_counts(tmp_path):
    """The header lists 30 frames, the edit list presents 29 (Debian's opencv-doc has such an
    MP4 with 456 and 455): the 29 are the video, with one warning."""
    path = drop_first_frame_by_edit_list(make_video(tmp_path / "clip.mp4", n_frames=30, fps=25), fps=25)
    reader, images = read_all(path)
    assert reader.meta.n_frames == 29
    assert len(reader.warnings) == 1 and "the header lists 30 frames but the file holds 29" in reader.warnings[0]
    np.testing.assert_allclose(reader.timestamps, np.arange(29) / 25, atol=1e-9)
    assert_renders([render_frame(0, n_frames=30, size=SIZE), *images], 30)
    assert_same_as_opencv(path, 29)


def test_mkv_header_duration_is_a_hint(tmp_path):
    path = set_mkv_duration(make_video(tmp_path / "clip.mkv", n_frames=30, fps=25), 3.0)
    reader, images = read_all(path)
    assert reader.meta.n_frames == 30 and reader.meta.duration_s == pytest.approx(1.2, abs=2e-3)
    assert len(reader.warnings) == 1 and "the header says 3.000 s but the frames end at 1.2" in reader.warnings[0]
    assert_renders(images, 30)
    assert_same_as_opencv(path, 30)


# ---------------------------------------------------------------- variable frame rate

VFR_TIMES = [0.0, 0.04, 0.12, 0.15, 0.3, 0.35, 0.4, 0.7, 0.74, 1.2, 1.25, 1.3]


@pytest.mark.parametrize(
    "name,time_base",
    [("vfr.mp4", Fraction(1, 90000)), ("vfr.mkv", Fraction(1, 1000)), ("vfr.webm", Fraction(1, 1000)), ("vfr.gif", Fraction(1, 100))],
)
def test_variable_frame_rate_uses_real_timestamps(tmp_path, name, time_base):
    path = write_timed_video(tmp_path / name, VFR_TIMES, time_base=time_base)
    reader, images = read_all(path)
    n = len(VFR_TIMES)
    assert reader.meta.n_frames == n
    np.testing.assert_allclose(reader.timestamps, VFR_TIMES, atol=1e-6)
    # The average rate over the whole clip, not the 25 fps the stream was created with.
    assert reader.meta.fps == pytest.approx(n / reader.meta.duration_s)
    assert [reader.index_at(round(t, 2)) for t in VFR_TIMES] == list(range(n))
    assert_renders(images, n)
    assert_same_as_opencv(path, n)


# ---------------------------------------------------------------- rotation


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotated_video_is_upright(tmp_path, degrees):
    path = make_video(tmp_path / f"rot{degrees}.mp4", n_frames=24, cuts=(10,), rotation=degrees)
    reader, images = read_all(path)
    upright = SIZE if degrees == 180 else SIZE[::-1]
    assert (reader.meta.width, reader.meta.height) == upright
    assert all(image.shape == (upright[1], upright[0], 3) for image in images)
    assert_renders(images, 24, cuts=(10,), rotation=degrees)
    assert_same_as_opencv(path, 24)
    with VideoReader.open(path) as again:
        small = again.frame(5, size=(upright[0] // 2, upright[1] // 2)).image
        assert small.shape == (upright[1] // 2, upright[0] // 2, 3)
        down = images[5].reshape(upright[1] // 2, 2, upright[0] // 2, 2, 3).mean(axis=(1, 3))
        assert np.abs(down - small).mean() < 3


# ---------------------------------------------------------------- codecs and containers


def _av1_encoder() -> str | None:
    available = av.codecs_available
    return next((name for name in ("libsvtav1", "libaom-av1", "librav1e") if name in available), None)


@pytest.mark.parametrize(
    "name,codec,expected_codec",
    [
        ("vp8.webm", "libvpx", "vp8"),
        ("vp9.webm", "libvpx-vp9", "vp9"),
        ("av1.webm", "av1", "av1"),
        ("mpeg2.mpg", "mpeg2video", "mpeg2video"),
        ("anim.gif", "gif", "gif"),
        ("xvid.avi", "mpeg4", "mpeg4"),
        ("h264.mkv", "libx264", "h264"),
    ],
)
def test_codec_and_container_agree_with_opencv(tmp_path, name, codec, expected_codec):
    if codec == "av1":
        codec = _av1_encoder()
        if codec is None:
            missing("this PyAV build has no AV1 encoder to make the clip")
    fps = 25 if name.endswith(".gif") else 24
    path = make_video(tmp_path / name, codec=codec, fps=fps, n_frames=30, cuts=(12,))
    reader, images = read_all(path)
    assert reader.meta.n_frames == 30
    assert reader.meta.codec == expected_codec
    assert reader.meta.fps == pytest.approx(fps, rel=1e-3)
    assert_renders(images, 30, cuts=(12,))
    assert_same_as_opencv(path, 30)


def test_single_frame_gif_is_a_one_frame_video(tmp_path):
    """A still GIF (its only frame carries the file header) is a video of one frame, and a
    copy cut inside that frame has no decodable frame."""
    path = make_video(tmp_path / "still.gif", n_frames=1, fps=25)
    reader, images = read_all(path)
    assert reader.meta.n_frames == 1 and reader.warnings == []
    assert_renders(images, 1)
    assert_same_as_opencv(path, 1)
    cut = tmp_path / "cut.gif"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptVideoError) as info:
        VideoReader.open(cut)
    assert str(info.value).endswith("(the file ends inside its first frame: it was cut short); decoding stopped after 0 frames")


def test_matroska_with_several_streams(tmp_path):
    """Audio first, then two video streams: the first video stream by default, another on request."""
    path = write_multistream_mkv(tmp_path / "multi.mkv", n_frames=24)
    first, images = read_all(path)
    assert first.meta.n_frames == 24
    assert_renders(images, 24, cuts=(8,), motion="pan")
    assert_same_as_opencv(path, 24)  # OpenCV reads the first video stream too

    second, images = read_all(path, stream=1)
    assert second.meta.n_frames == 24
    with av.open(str(path)) as container:  # independent decode of the second video stream
        reference = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[1])]
    assert all(np.array_equal(a, b) for a, b in zip(images, reference)) and len(reference) == 24
    renders = np.stack([render_frame(i, n_frames=24, size=SIZE, cuts=(16,), motion="static") for i in range(24)])
    assert np.abs(renders.astype(np.int16) - np.stack(images)).mean() < 4

    with pytest.raises(VideoError) as info:
        VideoReader.open(path, stream=2)
    assert str(info.value).endswith("video stream 2 does not exist: the file has 2 (0..1)")


# ---------------------------------------------------------------- folders of numbered images


def test_mot_image_folder(tmp_path):
    folder = write_image_folder(tmp_path / "SEQ-01", n_frames=20, frame_rate=30, cuts=(7,))
    reader, images = read_all(folder)
    assert reader.warnings == []
    assert (reader.meta.n_frames, reader.meta.fps, reader.meta.width, reader.meta.height) == (20, 30.0, *SIZE)
    assert reader.meta.duration_s == pytest.approx(20 / 30)
    assert reader.meta.codec == "mjpeg image sequence"
    np.testing.assert_allclose(reader.timestamps, np.arange(20) / 30)
    assert [p.name for p in reader.image_files[:2]] == ["000001.jpg", "000002.jpg"]
    assert_renders(images, 20, cuts=(7,))
    for path, image in zip(reader.image_files, images):  # an independent JPEG decoder
        assert np.abs(cv2.imread(str(path))[..., ::-1].astype(np.int16) - image).mean() <= MAX_MEAN_ABS_DIFF
    # The sequence folder itself reads the same frames (seqinfo.ini names img1).
    with VideoReader.open(tmp_path / "SEQ-01") as seq:
        assert seq.image_files == reader.image_files and seq.meta.sha256 == reader.meta.sha256
        assert np.array_equal(seq.frame(13).image, images[13])


def test_image_folder_frame_rate_sources_and_gaps(tmp_path, caplog):
    folder = write_image_folder(tmp_path / "a", n_frames=10, frame_rate=None, suffix=".png", missing=(4,))
    with caplog.at_level(logging.WARNING, logger="tools.video"):
        with VideoReader.open(folder) as reader:
            # no rate anywhere: 25 fps, and the missing number 4 is a gap in time
            np.testing.assert_allclose(reader.timestamps, np.array([0, 1, 2, 4, 5, 6, 7, 8, 9]) / 25)
            assert reader.meta.codec == "png image sequence"
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "assuming 25 fps" in message and "1 numbers are missing" in message and "seqLength" not in message
    with VideoReader.open(folder, fps=10) as reader:
        assert reader.timestamps[3] == pytest.approx(0.4) and reader.meta.fps == 9.0  # 9 frames in 1 s
        assert reader.index_at(0.4) == 3 and reader.index_at(0.29) == 2 and reader.index_at(0.31) == 3


def test_bad_image_folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(NotAVideoError, match="a directory with no numbered images"):
        VideoReader.open(empty)
    mixed = tmp_path / "mixed"
    for prefix in ("left", "right"):
        write_image_folder(tmp_path / prefix, n_frames=2)
        for image in (tmp_path / prefix / "img1").iterdir():
            mixed.mkdir(exist_ok=True)
            (mixed / f"{prefix}{image.name}").write_bytes(image.read_bytes())
    with pytest.raises(NotAVideoError, match=r"several numbered image sequences: left\*.jpg \(2\), right\*.jpg \(2\)"):
        VideoReader.open(mixed)
    with pytest.raises(VideoError, match="frame rate must be positive"):
        VideoReader.open(write_image_folder(tmp_path / "z", n_frames=2), fps=0)
