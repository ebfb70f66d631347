"""SSD-MobileNet-v2 COCO on real photos. Reference boxes were drawn by eye on the images
(the astronaut from her hair to the bottom edge, the espresso cup from its rim to where
it meets the saucer, the cat's face filling the frame)."""

import numpy as np
import pytest

pytestmark = pytest.mark.lite
pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

from tools.backends.lite.models.ssd_detector import SsdDetector  # noqa: E402


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def detector():
    return SsdDetector()


@pytest.fixture(scope="module")
def photos():
    return {name: getattr(skimage_data, name)() for name in ("astronaut", "coffee", "chelsea")}


@pytest.mark.parametrize(
    "name, label, reference_box",
    [
        ("astronaut", "person", (20, 15, 365, 512)),
        ("coffee", "cup", (175, 18, 410, 285)),
        ("chelsea", "cat", (0, 0, 400, 300)),
    ],
)
def test_finds_the_main_object(detector, photos, name, label, reference_box):
    [found] = detector.detect([photos[name]], min_confidence=0.5)
    assert label in found.labels.tolist()
    best = int(np.argmax(np.where(found.labels == label, found.scores, -1)))
    assert found.scores[best] > 0.7
    assert iou(found.xyxy[best], reference_box) > 0.6, found.xyxy[best]


def test_output_types_and_bounds(detector, photos):
    images = list(photos.values())
    results = detector.detect(images, min_confidence=0.05)
    assert len(results) == len(images)
    for image, found in zip(images, results):
        h, w = image.shape[:2]
        n = len(found.xyxy)
        assert found.xyxy.dtype == np.float32 and found.xyxy.shape == (n, 4)
        assert found.scores.dtype == np.float32 and found.scores.shape == (n,)
        assert found.labels.shape == (n,)
        assert np.all(found.scores >= 0.05) and np.all(np.diff(found.scores) <= 0)
        assert np.all(found.xyxy[:, [0, 1]] >= 0) and np.all(found.xyxy[:, 2] <= w) and np.all(found.xyxy[:, 3] <= h)
        assert np.all(found.xyxy[:, 2] > found.xyxy[:, 0]) and np.all(found.xyxy[:, 3] > found.xyxy[:, 1])


def test_graph_already_suppresses_duplicates(detector, photos):
    """The DetectionOutput layer does per-class NMS at IoU 0.6: no same-class pair overlaps more."""
    for found in detector.detect(list(photos.values()), min_confidence=0.01):
        for label in set(found.labels.tolist()):
            boxes = found.xyxy[found.labels == label]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    assert iou(boxes[i], boxes[j]) <= 0.6 + 1e-3


def test_batches_give_the_same_boxes(detector, photos):
    images = list(photos.values())
    assert detector.batch_size == 1
    one = detector.detect(images, min_confidence=0.3)
    three = SsdDetector(batch_size=3).detect(images, min_confidence=0.3)
    for a, b in zip(one, three):
        assert a.labels.tolist() == b.labels.tolist()
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1.0)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-3)


def test_class_filter_and_threshold(detector, photos):
    [all_found] = detector.detect([photos["coffee"]], min_confidence=0.3)
    [cups] = detector.detect([photos["coffee"]], min_confidence=0.3, classes={"cup"})
    assert set(all_found.labels.tolist()) > {"cup"}
    assert cups.labels.tolist() == ["cup"]
    [none] = detector.detect([photos["coffee"]], min_confidence=0.99)
    assert len(none.xyxy) == 0 and none.xyxy.shape == (0, 4)


def test_blank_image_has_no_confident_objects(detector):
    [found] = detector.detect([np.full((240, 320, 3), 128, np.uint8)], min_confidence=0.5)
    assert len(found.xyxy) == 0


def test_to_detections(detector, photos):
    [found] = detector.detect([photos["chelsea"]], min_confidence=0.5)
    dets = found.to_detections(frame_index=7, time_s=0.28)
    assert len(dets) == len(found.xyxy) and "cat" in dets.label
    assert set(dets.frame_index.tolist()) == {7} and set(dets.time_s.tolist()) == {0.28}


def test_rejects_bad_input(detector, photos):
    with pytest.raises(TypeError):
        detector.detect(photos["coffee"])
    with pytest.raises(ValueError, match="uint8"):
        detector.detect([photos["coffee"].astype(np.float32)])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        detector.detect([photos["coffee"][..., 0]])


def test_one_detector_shared_by_threads(detector, photos):
    import threading

    images = [photos["coffee"], photos["chelsea"]]
    expected = detector.detect(images)
    results, errors = [None] * 3, []

    def work(k):
        try:
            results[k] = detector.detect(images)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got in results:
        for a, b in zip(got, expected):
            assert a.labels.tolist() == b.labels.tolist()
            np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
