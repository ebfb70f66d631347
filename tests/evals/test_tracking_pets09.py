"""Identity over time on real footage: the lite tracker over the first 15 s of PETS09-S2L1.

The video is ``vtest.avi`` from Debian's opencv-doc (``apt-get install opencv-doc``; CI's
``scripts/system_packages.sh`` installs it), cut to its first 150 frames (10 fps) by copying
packets; the ground truth is the MOTChallenge 2015 rows of those frames
(``tests/data/mot/README.md``). Eight people walk, meet and part, mostly in pairs. The whole
sequence's figures before and after the appearance tracker are in BENCHMARKS.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evals.pipeline import Pipeline
from evals.suites import get_suite
from evals.tracking_runner import TrackingOptions, run_tracking_suite
from tests.video_corpus import DEBIAN_OPENCV_DATA
from tests.requirements import missing

pytestmark = [pytest.mark.lite, pytest.mark.slow]

GT_ROWS = Path(__file__).parent.parent / "data" / "mot" / "pets09_s2l1_gt_frames_1_150.txt"
N_FRAMES = 150
PEOPLE = 8


def cut_video(src: Path, out: Path, n_frames: int) -> Path:
    """The first ``n_frames`` packets of ``src``'s video stream copied into ``out`` (no re-encoding;
    vtest.avi's first packet is a keyframe)."""
    import av

    with av.open(str(src)) as source, av.open(str(out), "w") as dest:
        vin = source.streams.video[0]
        vout = dest.add_stream_from_template(vin)
        copied = 0
        for packet in source.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            dest.mux(packet)
            copied += 1
            if copied == n_frames:
                break
    return out


@pytest.fixture(scope="module")
def pets_first_15s(tmp_path_factory) -> Path:
    """A MOTChallenge folder with one sequence: PETS09-S2L1's first 150 frames and their ground truth."""
    vtest = DEBIAN_OPENCV_DATA / "vtest.avi"
    if not vtest.is_file():
        missing(f"{vtest} is missing (apt-get install -y opencv-doc)")
    root = tmp_path_factory.mktemp("mot")
    seq = root / "PETS09-S2L1-150"
    (seq / "gt").mkdir(parents=True)
    shutil.copyfile(GT_ROWS, seq / "gt" / "gt.txt")
    cut_video(vtest, seq / "vtest-150.avi", N_FRAMES)
    return root


def test_lite_tracker_keeps_identities_of_people_walking_in_pairs(pets_first_15s, tmp_path):
    """Measured here: the appearance tracker gives MOTA 0.40, IDF1 0.58, 11 identity switches and
    13 tracks for the 8 people; the IoU-only ByteTrack it replaced (main at 11c4396) fails this
    test with IDF1 0.44 (MOTA 0.37) on the same frames. The identity bounds sit between the two."""
    pipeline = tmp_path / "lite.toml"
    pipeline.write_text('name = "lite-tracker"\n[tools]\nprofile = "lite"\n[cache]\nenabled = false\n')
    outcome = run_tracking_suite(get_suite("mot", annotations_dir=pets_first_15s), Pipeline.load(pipeline),
                                 TrackingOptions(out_dir=tmp_path / "run", progress=False))
    [row] = outcome.rows
    assert (row.status, row.n_frames, row.frames_tracked) == ("scored", N_FRAMES, N_FRAMES), row.error
    s = row.evaluation.scores()
    print(f"MOTA {s.mota:.3f} IDF1 {s.idf1:.3f} switches {s.num_switches} tracks {row.n_tracks}")
    assert s.idf1 >= 0.52, s
    assert s.num_switches <= 14 and row.n_tracks <= 2 * PEOPLE, (s, row.n_tracks)
    assert s.mota >= 0.35, s
