"""Tool outputs survive encode -> decode exactly, and the stored bytes never need pickle."""

from __future__ import annotations

import doctest
import io
import json
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

import tools.serialization
from tools.detections import Detections
from tools.serialization import SerializationError, decode_output, encode_output
from tools.types import Evidence, TimeSpan, ToolOutput


class _Arrays(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)


class DetectResult(_Arrays):
    detections: Detections


class Track(_Arrays):
    track_id: int
    boxes: np.ndarray
    span: TimeSpan


class Nested(_Arrays):
    per_label: dict[str, Detections]
    tracks: list[Track]
    maybe: Detections | None = None
    histogram: np.ndarray
    pair: tuple[int, float]
    by_frame: dict[int, str]
    anything: Any = None


class ArrayOnly(_Arrays):
    array: np.ndarray


def _detections(n: int, rng: np.random.Generator, *, tracks: bool = False, masks: bool = False) -> Detections:
    x1y1 = rng.uniform(0, 500, size=(n, 2))
    wh = rng.uniform(1, 100, size=(n, 2))
    labels = np.array(["person", "vélo", "自転車", "🚲 bike"])[rng.integers(0, 4, size=n)]
    return Detections(
        xyxy=np.hstack([x1y1, x1y1 + wh]),
        confidence=rng.uniform(0, 1, size=n),
        label=labels,
        frame_index=rng.integers(0, 250, size=n),
        time_s=rng.uniform(0, 10, size=n),
        track_id=rng.integers(-1, 20, size=n) if tracks else None,
        mask=rng.uniform(size=(n, 6, 8)) > 0.5 if masks else None,
        data={"embedding": rng.normal(size=(n, 4)).astype(np.float16)} if tracks else {},
    )


def _round_trip(output: ToolOutput, model: type[BaseModel] | None) -> ToolOutput:
    text, blob = encode_output(output, model)
    return decode_output(text, blob, model)


def _assert_same_detections(a: Detections, b: Detections) -> None:
    assert a == b
    for name, array in a.to_arrays().items():
        other = b.to_arrays()[name]
        assert (other.dtype, other.shape) == (array.dtype, array.shape), name


@pytest.mark.parametrize("tracks, masks", [(False, False), (True, False), (False, True), (True, True)])
def test_detections_round_trip_exactly(tracks, masks):
    dets = _detections(37, np.random.default_rng(0), tracks=tracks, masks=masks)
    back = _round_trip(ToolOutput(observation="37 boxes", data=DetectResult(detections=dets)), DetectResult)
    assert isinstance(back.data, DetectResult) and isinstance(back.data.detections, Detections)
    _assert_same_detections(back.data.detections, dets)
    assert back.data.detections.label.dtype.kind == "U"
    assert (back.data.detections.track_id is None) == (not tracks)
    assert (back.data.detections.mask is None) == (not masks)


def test_empty_detections_round_trip():
    back = _round_trip(ToolOutput(observation="none", data=DetectResult(detections=Detections.empty())), DetectResult)
    _assert_same_detections(back.data.detections, Detections.empty())
    assert back.data.detections.xyxy.shape == (0, 4)


def test_nested_models_and_containers_round_trip():
    rng = np.random.default_rng(1)
    nested = Nested(
        per_label={"person": _detections(5, rng, tracks=True), "car": Detections.empty()},
        tracks=[
            Track(track_id=i, boxes=rng.uniform(size=(i, 4)).astype(np.float32), span=TimeSpan(start_s=i, end_s=i + 1.5))
            for i in range(3)
        ],
        maybe=None,
        histogram=np.arange(12, dtype=np.uint16).reshape(3, 4),
        pair=(7, 0.1),
        by_frame={3: "cut", 250: "end"},
        anything={
            "score": np.float32(0.25),
            "count": np.int8(-3),
            "raw": b"\x00\xff bytes",
            "as_tuple": (1, "a", None),
            "looks_like_a_tag": {"$nd": "a0"},  # user data, not an array reference
            "matrix": np.eye(2),
        },
    )
    back = _round_trip(ToolOutput(observation="nested", data=nested), Nested).data

    assert back.per_label.keys() == nested.per_label.keys()
    for label in nested.per_label:
        _assert_same_detections(back.per_label[label], nested.per_label[label])
    assert [t.track_id for t in back.tracks] == [0, 1, 2]
    for got, want in zip(back.tracks, nested.tracks):
        assert got.boxes.dtype == np.float32 and got.boxes.shape == want.boxes.shape
        assert np.array_equal(got.boxes, want.boxes) and got.span == want.span
    assert back.maybe is None
    assert back.histogram.dtype == np.uint16 and np.array_equal(back.histogram, nested.histogram)
    assert back.pair == (7, 0.1) and back.by_frame == {3: "cut", 250: "end"}

    anything = back.anything
    assert set(anything) == set(nested.anything)
    assert type(anything["score"]) is np.float32 and anything["score"] == np.float32(0.25)
    assert type(anything["count"]) is np.int8 and anything["count"] == -3
    assert anything["raw"] == b"\x00\xff bytes"
    assert anything["as_tuple"] == (1, "a", None)
    assert anything["looks_like_a_tag"] == {"$nd": "a0"}
    assert np.array_equal(anything["matrix"], np.eye(2))


_base = np.arange(24, dtype=np.int32).reshape(4, 6)


@pytest.mark.parametrize(
    "array",
    [
        np.array([], dtype=np.float64),
        np.zeros((0, 3), dtype=np.int8),
        np.array(["", "a", "ünïcödé", "漢字", "🙂"]),
        np.array([b"raw", b"bytes"]),
        np.array([[True, False]]),
        np.random.default_rng(3).uniform(size=(3, 5, 7)) > 0.5,  # bit-packed; 105 bits is not a whole byte
        np.zeros((0, 5, 5), dtype=bool),
        np.array(True),
        np.array([1 + 2j, -0.5j], dtype=np.complex64),
        np.array([np.nan, np.inf, -0.0, 1e-310]),
        np.array(["2024-01-02T03:04", "NaT"], dtype="datetime64[m]"),
        np.array([(1, 2.5)], dtype=[("id", "<i4"), ("score", "<f8")]),
        np.asfortranarray(_base),
        _base[:, ::2],  # not contiguous
        _base.astype(">i8"),  # big-endian
        np.array(3.5),  # 0-d
    ],
    ids=lambda a: f"{a.dtype.str}{a.shape}",
)
def test_arrays_keep_dtype_shape_and_values(array):
    back = _round_trip(ToolOutput(observation="", data=ArrayOnly(array=array)), ArrayOnly).data.array
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.f_contiguous == array.flags.f_contiguous or not array.flags.contiguous


def test_blob_loads_without_pickle_and_json_holds_no_array_data():
    dets = _detections(2000, np.random.default_rng(2), tracks=True, masks=True)
    text, blob = encode_output(ToolOutput(observation="many", data=DetectResult(detections=dets)), DetectResult)

    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        loaded = {name: npz[name] for name in npz.files}
    assert len(loaded) == len(dets.to_arrays()) + 1  # masks are stored as two arrays: runs, runs per mask
    assert not any(a.dtype.hasobject for a in loaded.values())
    assert len(text) < 2000  # references only; the 2000 boxes live in the blob
    assert json.loads(text)["observation"] == "many"


def test_observation_and_evidence_without_data():
    evidence = [Evidence(time_s=1.25, frame_index=31, box=(1.0, 2.0, 30.5, 40.0), note="red car"), Evidence(time_s=0)]
    output = ToolOutput(observation="a red car at 1.25 s", evidence=evidence)
    text, blob = encode_output(output)
    assert blob == b""
    back = decode_output(text, blob, None)
    assert back.observation == output.observation
    assert back.evidence == evidence and back.data is None


def test_data_without_result_model_fails_at_encode():
    output = ToolOutput(observation="x", data=ArrayOnly(array=np.zeros(2)))
    with pytest.raises(SerializationError, match="ArrayOnly.*no result_model"):
        encode_output(output)
    with pytest.raises(SerializationError, match="same class"):
        encode_output(output, DetectResult)


def test_object_arrays_are_refused_with_their_path():
    output = ToolOutput(observation="x", data=Nested(
        per_label={}, tracks=[], histogram=np.zeros(1), pair=(1, 1.0), by_frame={},
        anything={"bad": np.array([{"a": 1}], dtype=object)},
    ))
    with pytest.raises(SerializationError, match=r"data\.anything\.bad.*pickle"):
        encode_output(output, Nested)


def test_masked_arrays_are_refused():
    with pytest.raises(SerializationError, match="masked arrays"):
        encode_output(ToolOutput(observation="", data=ArrayOnly(array=np.ma.masked_array([1, 2], mask=[0, 1]))), ArrayOnly)


def test_decode_refuses_missing_or_mismatched_model():
    text, blob = encode_output(ToolOutput(observation="x", data=ArrayOnly(array=np.zeros(2))), ArrayOnly)
    with pytest.raises(SerializationError, match="no result_model"):
        decode_output(text, blob, None)
    with pytest.raises(SerializationError, match="does not fit DetectResult"):
        decode_output(text, blob, DetectResult)
    with pytest.raises(SerializationError, match="format"):
        decode_output(text.replace('"format":1', '"format":99'), blob, ArrayOnly)
    with pytest.raises(SerializationError, match="unreadable"):
        decode_output(text, b"not an npz archive", ArrayOnly)


def test_module_docstring_example_runs():
    assert doctest.testmod(tools.serialization).failed == 0
