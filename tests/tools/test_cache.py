"""The SQLite result cache: keys, round trips, info/clear, corrupt files, threads and processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import threading
import time

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, Field

from tools.cache import CacheCorruptError, CacheKey, ResultCache, canonical_json
from tools.detections import Detections
from tools.capabilities import Capability
from tools.registry import ToolBackend
from tools.serialization import SerializationError
from tools.types import Evidence, ToolOutput

VIDEO_A = hashlib.sha256(b"video a").hexdigest()
VIDEO_B = hashlib.sha256(b"video b").hexdigest()


class DetectArgs(BaseModel):
    label: str = Field(description="what to find")
    threshold: float = 0.5


class DetectResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    detections: Detections


class OtherResult(BaseModel):
    count: int


def _backend(
    backend: str = "lite", version: str = "1", name: str = "detect_objects", result_model=DetectResult
) -> ToolBackend:
    return ToolBackend(
        capability=Capability(name=name, args=DetectArgs, result=result_model, description="Find objects."),
        fn=lambda args, ctx: ToolOutput(observation=""),
        backend=backend,
        version=version,
    )


def _key(video: str = VIDEO_A, tool: str = "detect_objects", **args) -> CacheKey:
    return CacheKey.of(video, _backend(name=tool), args or {"label": "car"})


def _output(n: int, frame: int = 0, label: str = "car") -> ToolOutput:
    dets = Detections(
        xyxy=np.tile([1.0, 2.0, 30.0, 40.0], (n, 1)) + np.arange(n)[:, None],
        confidence=np.linspace(0, 1, n),
        label=np.full(n, label),
        frame_index=np.full(n, frame),
        time_s=np.full(n, frame / 25),
        track_id=np.arange(n),
    )
    return ToolOutput(
        observation=f"{n} {label}s in frame {frame}",
        data=DetectResult(detections=dets),
        evidence=[Evidence(time_s=frame / 25, frame_index=frame, note=label)],
    )


@pytest.fixture
def cache():
    with ResultCache.default() as c:
        yield c


# -- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b",
    [
        ({"threshold": 1, "label": "car"}, {"label": "car", "threshold": 1.0}),
        ({"x": -0.0}, {"x": 0}),
        ({"x": np.float64(2.0), "y": np.int32(3)}, {"x": 2, "y": 3}),
        ({"span": (1.5, 2)}, {"span": [1.5, 2.0]}),
        ({"nested": {"b": [1.0, {"d": 2.0, "c": 1}], "a": None}}, {"nested": {"a": None, "b": [1, {"c": 1, "d": 2}]}}),
        ({"labels": {"car", "bus", "van"}}, {"labels": {"van", "car", "bus"}}),
        ({"x": 1e20}, {"x": 100000000000000000000}),
        (DetectArgs(label="car", threshold=1), {"label": "car", "threshold": 1.0}),
    ],
)
def test_equal_arguments_give_equal_keys(a, b):
    assert canonical_json(a) == canonical_json(b)
    assert CacheKey.of(VIDEO_A, _backend(), a) == CacheKey.of(VIDEO_A, _backend(), b)


@pytest.mark.parametrize(
    "a, b",
    [
        ({"x": 1}, {"x": 1.5}),
        ({"x": 1}, {"x": True}),
        ({"x": 1}, {"x": "1"}),
        ({"x": 0.1}, {"x": 0.10000000000000002}),
        ({"x": [1, 2]}, {"x": [2, 1]}),
        ({"x": None}, {}),
        ({"label": "car"}, {"label": "Car"}),
    ],
)
def test_different_arguments_give_different_keys(a, b):
    assert CacheKey.of(VIDEO_A, _backend(), a) != CacheKey.of(VIDEO_A, _backend(), b)


def test_canonical_json_text_is_compact_and_sorted():
    assert canonical_json({"b": 1.0, "a": [0.5, 2.0, "é"]}) == '{"a":[0.5,2,"é"],"b":1}'
    with pytest.raises(ValueError, match="nan"):
        canonical_json({"x": float("nan")})


def test_key_parts_other_than_args_separate_rows(cache):
    args = {"label": "car"}
    keys = [
        CacheKey.of(VIDEO_A, _backend(), args),
        CacheKey.of(VIDEO_B, _backend(), args),
        CacheKey.of(VIDEO_A, _backend(backend="full"), args),  # same tool, other backend
        CacheKey.of(VIDEO_A, _backend(version="2"), args),
        CacheKey.of(VIDEO_A, _backend(name="track_objects"), args),
    ]
    assert len(set(keys)) == len(keys)
    for i, key in enumerate(keys):
        cache.put(key, _output(i + 1), seconds=1.0, result_model=DetectResult)
    assert cache.info().rows == len(keys)
    for i, key in enumerate(keys):
        assert len(cache.get(key, DetectResult).data.detections) == i + 1


def test_key_refuses_a_path_instead_of_a_hash():
    with pytest.raises(ValueError, match="64 lowercase hex"):
        CacheKey.of("/videos/a.mp4", _backend(), {})


# -- storing and reading -------------------------------------------------------------------


def test_put_then_get_returns_an_equal_output(cache):
    key, output = _key(), _output(7, frame=12)
    assert cache.get(key, DetectResult) is None
    cache.put(key, output, seconds=2.5, result_model=DetectResult)
    back = cache.get(key, DetectResult)
    assert back.observation == output.observation and back.evidence == output.evidence
    assert back.data.detections == output.data.detections


def test_put_replaces_the_row_with_the_same_key(cache):
    key = _key()
    cache.put(key, _output(3), seconds=1.0, result_model=DetectResult)
    cache.put(key, _output(5), seconds=4.0, result_model=DetectResult)
    assert len(cache.get(key, DetectResult).data.detections) == 5
    info = cache.info()
    assert (info.rows, info.compute_s) == (1, 4.0)


def test_output_without_data_needs_no_result_model(cache):
    cache.put(_key(), ToolOutput(observation="the video is 10 s long"), seconds=0.01)
    assert cache.get(_key(), None).observation == "the video is 10 s long"


def test_the_key_carries_the_backends_result_model(cache):
    key = CacheKey.of(VIDEO_A, _backend(), {"label": "car"})
    assert key.result_model is DetectResult
    cache.put(key, _output(4), seconds=1.0)
    assert len(cache.get(key, DetectResult).data.detections) == 4


def test_data_without_result_model_is_refused_before_writing(cache):
    undeclared = CacheKey.of(VIDEO_A, _backend(result_model=None), {"label": "car"})
    by_hand = CacheKey(VIDEO_A, "detect_objects", "1", canonical_json({"label": "car"}))
    for key in (undeclared, by_hand):
        with pytest.raises(SerializationError, match="DetectResult but no result_model"):
            cache.put(key, _output(1), seconds=1.0)
    with pytest.raises(SerializationError, match="same class"):
        cache.put(by_hand, _output(1), seconds=1.0, result_model=OtherResult)
    assert cache.info().rows == 0


def test_a_row_that_no_longer_fits_the_result_model_is_a_miss(cache):
    cache.put(_key(), _output(2), seconds=1.0, result_model=DetectResult)
    with pytest.warns(UserWarning, match="does not fit OtherResult"):
        assert cache.get(_key(), OtherResult) is None


def test_default_location_follows_the_environment_and_is_created_lazily(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDAGENT_CACHE_DIR", str(tmp_path / "deep" / "dir"))
    cache = ResultCache.default()
    assert cache.path == tmp_path / "deep" / "dir" / "results.sqlite"
    assert cache.info().rows == 0
    assert not (tmp_path / "deep").exists()
    cache.put(_key(), ToolOutput(observation="x"), seconds=0)
    assert cache.path.exists()
    cache.close()


def test_default_location_without_the_variable_is_the_user_cache_dir(monkeypatch):
    import platformdirs

    monkeypatch.delenv("VIDAGENT_CACHE_DIR")
    expected = platformdirs.user_cache_dir("vidagent", appauthor=False)
    assert str(ResultCache.default().path) == os.path.join(expected, "results.sqlite")


def test_info_counts_rows_tools_videos_and_compute_time(cache):
    before = time.time()
    cache.put(_key(VIDEO_A, label="car"), _output(1), seconds=1.5, result_model=DetectResult)
    cache.put(_key(VIDEO_A, label="bus"), _output(1), seconds=2.0, result_model=DetectResult)
    cache.put(_key(VIDEO_B, label="car"), _output(1), seconds=0.25, result_model=DetectResult)
    cache.put(_key(VIDEO_B, tool="count_frames"), ToolOutput(observation="250"), seconds=0.0)
    info = cache.info()
    assert info.rows == 4
    assert info.rows_per_tool == {"count_frames": 1, "detect_objects": 3}
    assert info.videos == 2
    assert info.compute_s == pytest.approx(3.75)
    assert info.size_bytes >= os.path.getsize(cache.path) > 0
    assert before <= info.oldest <= info.newest <= time.time()
    assert "4 stored results for 2 videos" in info.summary()


def test_clear_by_tool_by_video_and_all(cache):
    for video in (VIDEO_A, VIDEO_B):
        for label in ("car", "bus"):
            cache.put(_key(video, label=label), _output(1), seconds=1.0, result_model=DetectResult)
        cache.put(_key(video, tool="count_frames"), ToolOutput(observation="250"), seconds=0.0)

    assert cache.clear(tool="count_frames", video_sha256=VIDEO_A) == 1
    assert cache.clear(tool="count_frames") == 1
    assert cache.clear(video_sha256=VIDEO_B) == 2
    assert cache.clear(tool="no_such_tool") == 0
    assert cache.get(_key(VIDEO_A, label="bus"), DetectResult) is not None
    assert cache.clear() == 2
    assert cache.info().rows == 0


def test_clear_gives_space_back(cache):
    for i in range(20):
        cache.put(_key(label=str(i)), _output(2000, frame=i), seconds=1.0, result_model=DetectResult)
    cache.close()
    full = os.path.getsize(cache.path)
    cache.clear()
    cache.close()  # the last connection to close checkpoints the log into the file
    assert os.path.getsize(cache.path) < full / 4


def test_close_then_reuse(cache):
    cache.put(_key(), ToolOutput(observation="x"), seconds=0)
    cache.close()
    assert cache.get(_key(), None).observation == "x"


# -- corrupt files -------------------------------------------------------------------------


def _write_garbage(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(0).randbytes(64 * 1024))


def test_a_garbage_file_gives_one_clear_line_and_clear_fixes_it(cache):
    _write_garbage(cache.path)
    for use in (lambda: cache.get(_key(), None), lambda: cache.put(_key(), ToolOutput(observation="x"), 0), cache.info):
        with pytest.raises(CacheCorruptError) as err:
            use()
        message = str(err.value)
        assert "\n" not in message
        assert str(cache.path) in message and "vidagent cache clear" in message
    with pytest.raises(CacheCorruptError):
        cache.clear(tool="detect_objects")  # a filtered clear cannot fix the file

    assert cache.clear() == 0
    cache.put(_key(), ToolOutput(observation="fresh"), seconds=0)
    assert cache.get(_key(), None).observation == "fresh"


def test_damage_inside_a_valid_file_is_reported_as_corrupt(cache):
    for i in range(30):
        cache.put(_key(label=str(i)), _output(500, frame=i), seconds=1.0, result_model=DetectResult)
    cache.close()
    size = os.path.getsize(cache.path)
    with open(cache.path, "r+b") as f:  # keep the header page, overwrite the rest
        f.seek(4096)
        f.write(random.Random(1).randbytes(size - 4096))
    with pytest.raises(CacheCorruptError, match="vidagent cache clear"):
        for i in range(30):
            cache.get(_key(label=str(i)), DetectResult)
        cache.info()
    assert cache.clear() == 0 and cache.info().rows == 0


# -- concurrency ---------------------------------------------------------------------------


def test_threads_share_one_cache(cache):
    errors: list[BaseException] = []

    def work(worker: int):
        try:
            for i in range(40):
                cache.put(_key(label=str(i % 10)), _output(3, frame=i % 10), seconds=0.1, result_model=DetectResult)
                got = cache.get(_key(label=str((i * 7) % 10)), DetectResult)
                assert got is None or set(got.data.detections.frame_index) == {(i * 7) % 10}
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.info().rows == 10


N_KEYS = 25


def _hammer(path: str, worker: int, start: multiprocessing.synchronize.Barrier) -> None:
    """Write every key (in a worker-specific order) with payloads tagged by worker, reading as it goes."""
    cache = ResultCache(path)
    rng = random.Random(worker)
    order = list(range(N_KEYS)) * 2
    rng.shuffle(order)
    start.wait(timeout=60)
    for i in order:
        cache.put(_key(label=str(i)), _output(50 + i, frame=i, label=f"w{worker}"), 0.5, DetectResult)
        j = rng.randrange(N_KEYS)
        got = cache.get(_key(label=str(j)), DetectResult)
        if got is not None and (set(got.data.detections.frame_index) != {j} or len(got.data.detections) != 50 + j):
            raise AssertionError(f"key {j} returned a payload of another key")
    cache.info()
    cache.close()


def test_processes_write_overlapping_keys_at_once(tmp_path):
    path = tmp_path / "shared" / "results.sqlite"  # created by the racing workers themselves
    ctx = multiprocessing.get_context("spawn")
    n_workers = 4
    start = ctx.Barrier(n_workers)
    workers = [ctx.Process(target=_hammer, args=(str(path), w, start)) for w in range(n_workers)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
    assert [p.exitcode for p in workers] == [0] * n_workers

    with ResultCache(path) as cache:
        info = cache.info()
        assert info.rows == N_KEYS and info.rows_per_tool == {"detect_objects": N_KEYS}
        for i in range(N_KEYS):
            dets = cache.get(_key(label=str(i)), DetectResult).data.detections
            assert len(dets) == 50 + i and set(dets.frame_index) == {i}
            assert len(set(dets.label)) == 1 and dets.label[0] in {f"w{w}" for w in range(n_workers)}
