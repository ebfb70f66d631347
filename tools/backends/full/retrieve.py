"""Full backends of ``embed_frames`` and ``retrieve_frames``: open_clip.

Frame embeddings are a cached nested tool (``embed_frames``): computed once per (video, model,
sampling rate) over the whole video, so every later query, whatever its span, scores the same
vectors. A query is one text embedding; the best frames are picked with temporal non-maximum
suppression and listed in time order.
"""

from __future__ import annotations

import numpy as np

from tools.backends.full.models.clip import OPEN_CLIP
from tools.capabilities import EMBED_FRAMES, RETRIEVE_FRAMES, EmbedFramesArgs, FrameEmbeddings, RetrieveFramesArgs
from tools.context import ToolContext
from tools.registry import backend
from tools.retrieval import temporal_nms
from tools.sampling import sample_frames
from tools.types import Evidence, ToolOutput

#: Frames per second embedded for retrieval (lowered for long videos to the run's frame budget).
RETRIEVAL_FPS = 2.0
#: Retrieved frames are at least this far apart (or 1.5 sampling intervals, if that is more).
MIN_GAP_S = 1.0
EMBED_WIDTH = 640  # frames are shrunk to this before the model's own resize (224 px for most)


@backend(EMBED_FRAMES, name="open-clip", profiles=("full",), timeout_s=900, models=(OPEN_CLIP.name,))
def embed_frames(args: EmbedFramesArgs, ctx: ToolContext) -> ToolOutput[FrameEmbeddings]:
    model = ctx.load(OPEN_CLIP)
    sampled = sample_frames(ctx, None, args.fps, EMBED_WIDTH)
    batch = ctx.batch_size(OPEN_CLIP)
    vectors = []
    for start in range(0, len(sampled.frames), batch):
        chunk = sampled.frames[start : start + batch]
        with ctx.on_device():
            vectors.append(model.embed_images([f.image for f in chunk]))
        ctx.count_model_frames(OPEN_CLIP.name, len(chunk))
    dim = vectors[0].shape[1] if vectors else 0
    result = FrameEmbeddings(
        frames=[f.index for f in sampled.frames],
        times_s=[round(f.time_s, 4) for f in sampled.frames],
        vectors=np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32),
        fps_used=sampled.fps_used,
    )
    return ToolOutput(observation=f"embedded {len(sampled.frames)} frames at {sampled.fps_used:.2g} fps", data=result)


@backend(RETRIEVE_FRAMES, name="open-clip", profiles=("full",), timeout_s=900, requires=("embed_frames",),
         models=(OPEN_CLIP.name,),
         limits="Scores whole frames against the text (image-text similarity), so describe what the frame shows.")
def retrieve_frames(args: RetrieveFramesArgs, ctx: ToolContext) -> ToolOutput:
    embedded: FrameEmbeddings = ctx.call_data("embed_frames", fps=RETRIEVAL_FPS)
    span = ctx.span_or_all(args.span)
    times = np.array(embedded.times_s)
    inside = np.nonzero((times >= span.start_s - 1e-6) & (times <= span.end_s + 1e-6))[0]
    header = f"matched {len(inside)} frames ({embedded.fps_used:.2g} fps) to '{args.query}'"
    if not len(inside):
        return ToolOutput(observation=f"{header}: no frame sampled in {span.start_s:.2f}-{span.end_s:.2f} s; "
                                      "widen the span")
    model = ctx.load(OPEN_CLIP)
    with ctx.on_device():
        text = model.embed_texts([args.query])[0]
    scores = embedded.vectors[inside] @ text
    gap = max(MIN_GAP_S, 1.5 / max(embedded.fps_used, 1e-6))
    picked = [int(inside[i]) for i in temporal_nms(times[inside], scores, args.k, gap)]
    score_of = dict(zip(inside.tolist(), scores.tolist()))
    lines = [f"{times[i]:.2f} s (frame {embedded.frames[i]}, similarity {score_of[i]:.3f})" for i in picked]
    evidence = [Evidence(time_s=float(times[i]), frame_index=embedded.frames[i], note=f"similarity {score_of[i]:.3f}")
                for i in picked]
    return ToolOutput(observation=f"{header}, best {len(picked)} in time order: " + "; ".join(lines), evidence=evidence)
