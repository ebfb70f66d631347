"""Full backend of ``ground_phrase``: Grounding DINO reads the whole expression as one phrase;
its best boxes per frame are linked over time into one tube (``tools.tubes.link_tube``)."""

from __future__ import annotations

import numpy as np

from tools.backends.full.detect import DETECT_WIDTH, run_grounding_dino
from tools.backends.full.models.grounding_dino import GROUNDING_DINO
from tools.capabilities import GROUND_PHRASE, GroundingResult, GroundPhraseArgs
from tools.context import ToolContext
from tools.detections import Detections
from tools.registry import backend
from tools.sampling import sample_frames
from tools.tubes import Candidates, link_tube
from tools.types import Evidence, ToolOutput

#: Candidate boxes per frame the tube may pass through (the best scoring ones).
CANDIDATES_PER_FRAME = 5


def tube_of(dets: Detections, sampled: list[tuple[int, float]], expression: str) -> Detections:
    """The linked tube through ``dets`` (boxes of one expression) over the sampled (frame index,
    time) pairs: at most one box per frame, labelled ``expression``."""
    frames, rows = [], []
    for frame_index, _ in sampled:
        idx = np.nonzero(dets.frame_index == frame_index)[0]
        idx = idx[np.argsort(-dets.confidence[idx], kind="stable")][:CANDIDATES_PER_FRAME]
        rows.append(idx)
        frames.append(Candidates(xyxy=dets.xyxy[idx], score=dets.confidence[idx]))
    path = link_tube(frames)
    chosen = [int(rows[i][c]) for i, c in enumerate(path) if c is not None]
    tube = dets[np.array(chosen, dtype=np.int64)] if chosen else Detections.empty()
    return Detections(tube.xyxy, tube.confidence, np.full(len(tube), expression), tube.frame_index, tube.time_s)


@backend(GROUND_PHRASE, name="grounding-dino", profiles=("full",), timeout_s=600, models=(GROUNDING_DINO.name,),
         limits="The whole expression is read at once (up to about 40 words); relations in time ('who enters "
                "last') are only as good as the model's reading of each single frame.")
def ground_phrase(args: GroundPhraseArgs, ctx: ToolContext) -> ToolOutput[GroundingResult]:
    sampled = sample_frames(ctx, args.span, args.fps, DETECT_WIDTH)
    dets = run_grounding_dino(sampled, [args.expression], ctx)
    pairs = [(f.index, f.time_s) for f in sampled.frames]
    tube = tube_of(dets, pairs, args.expression)
    found = len(tube) > 0
    result = GroundingResult(
        expression=args.expression,
        detections=tube,
        start_s=float(tube.time_s.min()) if found else None,
        end_s=float(tube.time_s.max()) if found else None,
        sampled_frames=[i for i, _ in pairs],
        sampled_times_s=[round(t, 4) for _, t in pairs],
    )
    if not found:
        return ToolOutput(observation=f"{sampled.header()}. '{args.expression}': not found", data=result)
    best = int(np.argmax(tube.confidence))
    box = tuple(round(float(v)) for v in tube.xyxy[best])
    observation = (
        f"{sampled.header()}. '{args.expression}': a tube of {len(tube)} boxes from {result.start_s:.2f} s to "
        f"{result.end_s:.2f} s; best {tube.confidence[best]:.2f} at {tube.time_s[best]:.2f} s box {box}"
    )
    picks = {"tube start": 0, "best": best, "tube end": len(tube) - 1}
    evidence = [Evidence(time_s=float(tube.time_s[i]), box=tuple(map(float, tube.xyxy[i])),
                         note=f"{args.expression}: {what}") for what, i in picks.items()]
    return ToolOutput(observation=observation, data=result, evidence=evidence)
