"""Score the ``track_objects`` tool on one MOTChallenge sequence at a chosen frame rate.

``vidagent eval run --suite mot`` is the benchmark: it tracks every frame of each sequence.
This script is for the rates a planner asks for (``--fps`` below the video's), where only the
frames looked at are scored.

Runs the profile's ``track_objects`` backend over the whole video through ``ToolRunner`` (no
frame cap), keeps the ``person`` tracks, and scores them against ``gt.txt`` with
``evals.mot.score_mot``. MOT frame N is video frame N-1.

    python scripts/track_mot.py VIDEO GT_TXT [--fps 10] [--profile lite] [--cache FILE] [--out hyp.txt]

Ground truth is scored on the frames looked at (all of them when ``--fps`` is the video's rate).
``--cache`` keeps the detections between runs (the tracker's own rows are cleared first, so a
change to the tracker is always measured).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from evals.mot import detections_to_mot_rows, read_mot_file, score_mot, write_mot_file
from tools.cache import ResultCache
from tools.runner import ToolRunner
from tools.toolset import ToolSet, build_toolset
from tools.types import ToolCall
from tools.video import VideoReader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("gt", type=Path)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--profile", default="lite")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the hypothesis as a MOTChallenge file")
    args = parser.parse_args()

    cache = ResultCache(args.cache) if args.cache else None
    if cache is not None:
        cache.clear(tool="track_objects")
    toolset = build_toolset(args.profile)
    # A whole sequence takes longer than a backend allows one question's call (300 s for
    # detection and tracking): lift those limits to the runner's.
    toolset = ToolSet(toolset.profile, {n: dataclasses.replace(b, timeout_s=3600.0) for n, b in toolset.backends.items()},
                      toolset.dropped, toolset.device)
    with VideoReader.open(args.video) as reader:
        runner = ToolRunner(toolset, reader, cache=cache, timeout_s=3600, max_frames=None)
        start = time.monotonic()
        (result,) = runner.run([ToolCall(name="track_objects", args={"phrases": ["person"], "fps": args.fps})])
        seconds = time.monotonic() - start
    if result.status != "ok":
        raise SystemExit(f"track_objects failed: {result.observation}")
    hyp = detections_to_mot_rows(result.data.detections, labels=["person"])
    if args.out:
        write_mot_file(hyp, args.out)
    # A rate below the video's looks at some frames only: score those.
    looked = {f + 1 for f in result.data.sampled_frames}
    scores = score_mot([r for r in read_mot_file(args.gt) if r.frame in looked], hyp)
    report = scores.model_dump() | {"tracks": len(result.data.tracks), "seconds": round(seconds, 1)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
