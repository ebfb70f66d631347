"""open_clip frame retrieval: a tiny random-initialised model saved in open_clip's hub layout and
loaded back as a user's checkpoint is (``[tools] weights``), run on bikes.mp4 (10 s, 25 fps).

Random weights make the similarities arbitrary; asserted: embeddings (shape, unit length, time
order), that they are computed once per (video, model, rate) and reused from the cache, and that
the retrieved frames are exactly the temporal-NMS picks of the scores, in time order, in span."""

from __future__ import annotations

import numpy as np
import pytest

from tools.backends.full.models.clip import OPEN_CLIP
from tools.backends.full.retrieve import MIN_GAP_S, RETRIEVAL_FPS
from tools.capabilities import FrameEmbeddings
from tools.retrieval import temporal_nms
from tools.toolset import build_toolset
from tools.types import ToolCall

pytestmark = [pytest.mark.full, pytest.mark.slow]



def test_retrieval_is_offered_but_the_embedding_tool_is_not_shown_to_the_planner(full_config):
    toolset = build_toolset(full_config)
    assert toolset.get("retrieve_frames").backend == "open-clip"
    assert "embed_frames" in toolset.names()
    assert "embed_frames" not in [s.name for s in toolset.specs()]
    assert toolset.get("retrieve_frames").spec().parameters == build_toolset("lite").get("retrieve_frames").spec().parameters


def test_frame_embeddings_are_unit_vectors_in_time_order(runner, reader):
    (result,) = runner.run([ToolCall(name="embed_frames", args={"fps": 2})])
    assert result.status == "ok", result.observation
    data = result.data
    assert isinstance(data, FrameEmbeddings)
    n = round(reader.meta.duration_s * 2)
    assert len(data.frames) == n and data.vectors.shape == (n, 64) and data.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(data.vectors, axis=1), 1.0, rtol=1e-5)
    assert data.frames == sorted(data.frames) and data.times_s == sorted(data.times_s)
    assert result.model_frames == {"open-clip": n}


def test_retrieve_frames_embeds_once_and_picks_the_temporal_nms_of_the_scores(runner, loader, tiny):
    span = {"start_s": 2.0, "end_s": 8.0}
    (first,) = runner.run([ToolCall(name="retrieve_frames", args={"query": "a taxi", "k": 4, "span": span})])
    assert first.status == "ok", first.observation
    assert first.nested_cache_hits == 0 and first.model_frames == {"open-clip": round(10.0 * RETRIEVAL_FPS)}
    (second,) = runner.run([ToolCall(name="retrieve_frames", args={"query": "people on bikes", "k": 3})])
    assert second.status == "ok" and second.nested_cache_hits == 1 and second.model_frames == {}

    (embedded,) = runner.run([ToolCall(name="embed_frames", args={"fps": RETRIEVAL_FPS})])
    assert embedded.cache_hit
    times = np.array(embedded.data.times_s)
    inside = np.nonzero((times >= 2.0) & (times <= 8.0))[0]
    text = loader.load(OPEN_CLIP, "cpu", tiny["open-clip"]).embed_texts(["a taxi"])[0]
    scores = embedded.data.vectors[inside] @ text
    expected = [float(times[inside][i]) for i in temporal_nms(times[inside], scores, 4, MIN_GAP_S)]
    got = [e.time_s for e in first.evidence]
    assert got == pytest.approx(expected) and got == sorted(got) and len(got) == 4
    assert all(2.0 <= t <= 8.0 for t in got) and all(b - a >= MIN_GAP_S for a, b in zip(got, got[1:]))
    assert all(e.frame_index is not None for e in first.evidence)
    assert "best 4 in time order" in first.observation


def test_a_span_between_samples_asks_for_a_wider_one(runner):
    (result,) = runner.run([ToolCall(name="retrieve_frames", args={"query": "a bike", "span": {"start_s": 1.1, "end_s": 1.3}})])
    assert result.status == "ok" and "widen the span" in result.observation and not result.evidence
