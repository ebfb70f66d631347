import numpy as np
import pytest

from tools.detections import Detections


def _dets(n=3, track=True):
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(n, 2))
    return Detections(
        xyxy=np.hstack([xy, xy + 10]),
        confidence=rng.uniform(0, 1, n),
        label=[f"c{i % 2}" for i in range(n)],
        frame_index=np.arange(n),
        time_s=np.arange(n) / 25,
        track_id=np.arange(n) if track else None,
    )


def test_fields_get_their_dtypes():
    d = _dets()
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (3, 4)
    assert d.label.dtype.kind == "U" and d.frame_index.dtype == np.int64 and d.time_s.dtype == np.float64


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"xyxy": [[0, 0, 1]]}, r"\(n, 4\)"),
        ({"confidence": [0.5, 0.5]}, "confidence has 2 rows but xyxy has 1"),
        ({"xyxy": [[5, 0, 1, 1]]}, "x1 <= x2"),
        ({"confidence": [1.5]}, r"\[0, 1\]"),
        ({"track_id": [1, 2]}, "track_id has 2 rows"),
    ],
)
def test_shape_and_range_errors_are_clear(kwargs, message):
    base = dict(xyxy=[[0, 0, 1, 1]], confidence=[0.5], label=["a"], frame_index=[0], time_s=[0.0])
    with pytest.raises(ValueError, match=message):
        Detections(**{**base, **kwargs})


def test_mask_indexing_merge_and_empty():
    d = _dets(4)
    keep = d.label == "c0"
    sub = d[keep]
    assert len(sub) == 2 and set(sub.label) == {"c0"} and list(sub.track_id) == [0, 2]
    merged = Detections.merge([sub, d[~keep], Detections.empty()])
    assert len(merged) == 4
    assert len(Detections.empty()) == 0 and Detections.empty().xyxy.shape == (0, 4)


def test_arrays_round_trip():
    d = _dets(5)
    d2 = Detections.from_arrays(d.to_arrays())
    assert d2 == d
    assert d2 != _dets(5, track=False)


def test_supervision_round_trip():
    sv = pytest.importorskip("supervision")  # in the dev extra; importorskip only guards odd installs
    d = _dets(4)
    s = d.to_supervision()
    assert isinstance(s, sv.Detections) and len(s) == 4
    assert list(s.data["class_name"]) == list(d.label)
    back = Detections.from_supervision(s)
    assert back == d


def test_from_supervision_needs_frame_info():
    sv = pytest.importorskip("supervision")
    s = sv.Detections(xyxy=np.array([[0, 0, 2, 2]], dtype=np.float32), class_id=np.array([3]))
    with pytest.raises(ValueError, match="frame_index"):
        Detections.from_supervision(s)
    d = Detections.from_supervision(s, frame_index=7, time_s=0.28)
    assert d.label[0] == "3" and d.frame_index[0] == 7 and d.confidence[0] == 1.0
