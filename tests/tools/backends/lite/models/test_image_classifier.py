"""EfficientNet-Lite3 int8 on real photos (labels checked against the ImageNet order)."""

import numpy as np
import pytest

pytestmark = pytest.mark.lite
pytest.importorskip("ai_edge_litert")
skimage_data = pytest.importorskip("skimage.data")

from tools.backends.lite.models.image_classifier import ImageClassifier  # noqa: E402

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def classifier():
    return ImageClassifier()


def test_labels_follow_imagenet_order(classifier):
    labels = classifier.labels
    assert len(labels) == 1000
    # Standard ImageNet-1k indices: 0 tench, 281 tabby, 504 coffee mug, 999 toilet tissue.
    assert (labels[0], labels[281], labels[504], labels[999]) == ("tench", "tabby", "coffee mug", "toilet tissue")
    assert classifier.label_synonyms[281] == "tabby, tabby cat"


def test_cat_is_a_cat(classifier):
    [top] = classifier.classify([skimage_data.chelsea()], top_k=3)
    assert top[0].label in CAT_CLASSES
    assert top[0].score > 0.5
    assert sum(p.score for p in top if p.label in CAT_CLASSES) > 0.8


def test_coffee_is_a_coffee_drink_or_cup(classifier):
    [top] = classifier.classify([skimage_data.coffee()], top_k=3)
    assert top[0].label == "espresso"
    assert {"cup", "coffee mug"} & {p.label for p in top}


def test_probabilities(classifier):
    images = [skimage_data.chelsea(), skimage_data.coffee(), skimage_data.astronaut()]
    probs = classifier.probabilities(images)
    assert probs.shape == (3, 1000) and probs.dtype == np.float32
    assert np.all(probs >= 0)
    # uint8 softmax with steps of 1/256: the many tiny classes round to 0.
    assert np.all((probs.sum(axis=1) > 0.6) & (probs.sum(axis=1) <= 1.02))
    ranked = classifier.classify(images, top_k=5)
    assert [len(r) for r in ranked] == [5, 5, 5]
    assert all(r[i].score >= r[i + 1].score for r in ranked for i in range(4))


def test_rejects_bad_input(classifier):
    with pytest.raises(ValueError):
        classifier.classify([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError):
        classifier.classify([skimage_data.chelsea()], top_k=0)


def test_one_classifier_shared_by_threads(classifier):
    import threading

    images = [skimage_data.chelsea(), skimage_data.coffee()]
    expected = classifier.classify(images, top_k=3)
    results, errors = [None] * 3, []

    def work(k):
        try:
            results[k] = classifier.classify(images, top_k=3)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(r == expected for r in results)
