"""MOTChallenge I/O and track scoring.

The TUD-Campus / TUD-Stadtmitte fixtures ship inside the motmetrics wheel; the expected
CLEAR/identity values are the ones motmetrics' own test-suite publishes
(``motmetrics/tests/test_metrics.py::test_motchallenge_files``, motmetrics 1.4.0).
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from evals.mot import (
    MotRow,
    combine_evaluations,
    detections_to_mot_rows,
    evaluate_mot,
    format_mot_rows,
    motmetrics_accumulator,
    parse_mot_rows,
    read_mot_file,
    score_mot,
    write_mot_file,
)
from tools.detections import Detections

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")

# motmetrics 1.4.0, tests/test_metrics.py::test_motchallenge_files, columns
# motchallenge_metrics[:15] (motp is the mean 1 - IoU of matches).
PUBLISHED = {
    "TUD-Campus": dict(idf1=0.557659, idp=0.729730, idr=0.451253, recall=0.582173, precision=0.941441,
                       num_unique_objects=8, mostly_tracked=1, partially_tracked=6, mostly_lost=1,
                       num_false_positives=13, num_misses=150, num_switches=7, num_fragmentations=7,
                       mota=0.526462, motp=0.277201),
    "TUD-Stadtmitte": dict(idf1=0.644619, idp=0.819760, idr=0.531142, recall=0.608997, precision=0.939920,
                           num_unique_objects=10, mostly_tracked=5, partially_tracked=4, mostly_lost=1,
                           num_false_positives=45, num_misses=452, num_switches=7, num_fragmentations=6,
                           mota=0.564014, motp=0.345904),
}

# TrackEval HOTA on the same files as recorded by EvalDeT's integration tests
# (tadejsv/EvalDeT tests/integration/test_integration_mot.py, "orig_hota_results", 4 decimals).
TRACKEVAL_RECORDED = {
    "TUD-Campus": dict(hota=0.3914, deta=0.4181, assa=0.3691, loca=0.7701),
    "TUD-Stadtmitte": dict(hota=0.3979, deta=0.3923, assa=0.4085, loca=0.7375),
}


@pytest.fixture(scope="module")
def mot_data() -> Path:
    try:
        import motmetrics
        import trackeval
    except ImportError as exc:
        pytest.fail(f"{exc.name} is not installed: pip install -e '.[eval]'")
    assert trackeval.metrics.HOTA  # score_mot's HOTA comes from here
    return Path(motmetrics.__file__).parent / "data"


@pytest.fixture(scope="module")
def tud_evaluations(mot_data):
    return {
        seq: evaluate_mot(read_mot_file(mot_data / seq / "gt.txt"), read_mot_file(mot_data / seq / "test.txt"))
        for seq in SEQUENCES
    }


@pytest.fixture(scope="module")
def tud_scores(tud_evaluations):
    return {seq: e.scores() for seq, e in tud_evaluations.items()}


def test_score_mot_is_the_scores_of_the_evaluation(mot_data, tud_scores):
    seq = SEQUENCES[0]
    assert score_mot(read_mot_file(mot_data / seq / "gt.txt"), read_mot_file(mot_data / seq / "test.txt")) == \
        tud_scores[seq]


def test_combined_sequences_equal_motmetrics_overall(mot_data, tud_evaluations):
    """motmetrics merges accumulators with its own per-metric rules (``*_m`` functions)."""
    import motmetrics as mm

    accs = [motmetrics_accumulator(read_mot_file(mot_data / seq / "gt.txt"), read_mot_file(mot_data / seq / "test.txt"))
            for seq in SEQUENCES]
    fields = ["mota", "motp", "idf1", "idp", "idr", "recall", "precision", "num_switches", "num_false_positives",
              "num_misses", "num_fragmentations", "num_objects", "num_predictions", "num_unique_objects",
              "mostly_tracked", "partially_tracked", "mostly_lost", "num_frames"]
    overall = mm.metrics.create().compute_many(accs, names=list(SEQUENCES), metrics=fields,
                                               generate_overall=True).loc["OVERALL"]
    combined = combine_evaluations(list(tud_evaluations.values())).scores()
    for name in fields:
        assert getattr(combined, name) == pytest.approx(float(overall[name]), abs=1e-12), name
    single = combine_evaluations([tud_evaluations["TUD-Campus"]])
    assert single == tud_evaluations["TUD-Campus"]
    with pytest.raises(ValueError, match="no sequences"):
        combine_evaluations([])


@pytest.mark.parametrize("sequence", SEQUENCES)
def test_clear_and_identity_metrics_equal_published_values(tud_scores, sequence):
    scores = tud_scores[sequence]
    for name, published in PUBLISHED[sequence].items():
        value = getattr(scores, name)
        if isinstance(published, int):
            assert value == published, name
        else:  # equal at the published precision (6 decimals)
            assert value == pytest.approx(published, abs=5e-7), name
    assert scores.num_objects == scores.num_misses + round(scores.recall * scores.num_objects)


@pytest.mark.parametrize("sequence", SEQUENCES)
def test_hota_agrees_with_recorded_trackeval_values(tud_scores, sequence):
    scores = tud_scores[sequence]
    for name, recorded in TRACKEVAL_RECORDED[sequence].items():
        assert getattr(scores, name) == pytest.approx(recorded, abs=1e-3), name


def run_trackeval(root: Path, benchmark: str, sequences: dict[str, tuple[Path, Path]]) -> dict:
    """TrackEval's own MOTChallenge loader and evaluator (HOTA, CLEAR, Identity) on
    ``{sequence: (gt.txt, results.txt)}``; returns its results for tracker ``ours``."""
    import trackeval

    split = f"{benchmark}-train"
    for seq, (gt, hyp) in sequences.items():
        gt_dir = root / "gt" / split / seq
        (gt_dir / "gt").mkdir(parents=True)
        shutil.copy(gt, gt_dir / "gt" / "gt.txt")
        frames = [r.frame for path in (gt, hyp) for r in read_mot_file(path)]
        (gt_dir / "seqinfo.ini").write_text(f"[Sequence]\nname={seq}\nseqLength={max(frames)}\n")
        tracker_dir = root / "trackers" / split / "ours" / "data"
        tracker_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(hyp, tracker_dir / f"{seq}.txt")
    (root / "gt" / "seqmaps").mkdir()
    (root / "gt" / "seqmaps" / f"{split}.txt").write_text("name\n" + "\n".join(sequences) + "\n")

    eval_config = trackeval.Evaluator.get_default_eval_config()
    eval_config.update(PRINT_RESULTS=False, PRINT_CONFIG=False, OUTPUT_SUMMARY=False, OUTPUT_DETAILED=False,
                       PLOT_CURVES=False, TIME_PROGRESS=False, USE_PARALLEL=False)
    data_config = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
    data_config.update(GT_FOLDER=str(root / "gt"), TRACKERS_FOLDER=str(root / "trackers"),
                       BENCHMARK=benchmark, SPLIT_TO_EVAL="train", TRACKERS_TO_EVAL=["ours"], PRINT_CONFIG=False,
                       OUTPUT_FOLDER=str(root / "out"))
    results, _ = trackeval.Evaluator(eval_config).evaluate(
        [trackeval.datasets.MotChallenge2DBox(data_config)],
        [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(), trackeval.metrics.Identity()],
    )
    return results["MotChallenge2DBox"]["ours"]


def assert_same_as_trackeval(ours, res) -> None:
    """HOTA (mean over alphas), MOTA, IDF1, ID switches, FP and FN agree with TrackEval's ``res``."""
    assert ours.hota == pytest.approx(float(np.mean(res["HOTA"]["HOTA"])), abs=1e-12)
    assert ours.deta == pytest.approx(float(np.mean(res["HOTA"]["DetA"])), abs=1e-12)
    assert ours.assa == pytest.approx(float(np.mean(res["HOTA"]["AssA"])), abs=1e-12)
    assert ours.loca == pytest.approx(float(np.mean(res["HOTA"]["LocA"])), abs=1e-12)
    # and the two libraries agree on the CLEAR / identity numbers
    assert ours.mota == pytest.approx(res["CLEAR"]["MOTA"], abs=1e-12)
    assert ours.idf1 == pytest.approx(res["Identity"]["IDF1"], abs=1e-12)
    assert (ours.num_switches, ours.num_false_positives, ours.num_misses) == (
        res["CLEAR"]["IDSW"], res["CLEAR"]["CLR_FP"], res["CLEAR"]["CLR_FN"])


def test_hota_equals_trackeval_full_motchallenge_pipeline(tud_scores, tud_evaluations, mot_data, tmp_path):
    """Our direct call of TrackEval's HOTA gives what its own MOTChallenge loader and evaluator give,
    per sequence and combined over both."""
    results = run_trackeval(tmp_path, "MOT15", {seq: (mot_data / seq / "gt.txt", mot_data / seq / "test.txt")
                                                for seq in SEQUENCES})
    for seq in SEQUENCES:
        assert_same_as_trackeval(tud_scores[seq], results[seq]["pedestrian"])
    combined = combine_evaluations(list(tud_evaluations.values())).scores()
    assert_same_as_trackeval(combined, results["COMBINED_SEQ"]["pedestrian"])


def test_mot17_classes_are_filtered_as_trackeval_does(tmp_path):
    """MOT17 ground truth has classes: pedestrians are scored, a box on a distractor (static
    person, distractor) is no false positive, a box on a car is one, and so is a box on an
    ignored (conf 0) pedestrian."""
    rng = np.random.default_rng(0)
    gt, hyp = [], []
    for f in range(1, 31):
        objects = [(1, 10 + 3 * f, 50, 1, 1.0), (2, 200, 40, 0, 1.0), (3, 300, 50, 1, 7), (4, 400, 60, 1, 8)]
        if f <= 20:
            objects.append((5, 500, 100, 1, 3))
        for track, x, y, conf, cls in objects:
            gt.append(MotRow(f, track, x, y, 30, 60, conf, int(cls), 1.0))
            if track == 1 and 12 <= f <= 14:
                continue  # three missed frames
            dx, dy = rng.normal(0, 2, size=2)
            hyp_id = 100 + track + (50 if track == 1 and f > 15 else 0)  # an identity switch
            hyp.append(MotRow(f, hyp_id, round(x + dx, 2), round(y + dy, 2), 30, 60, 0.9))
        hyp.append(MotRow(f, 999, 600, 10 + f, 20, 40, 0.5))  # a false positive in every frame
    write_mot_file(gt, tmp_path / "gt.txt")
    write_mot_file(hyp, tmp_path / "hyp.txt")
    ours = score_mot(read_mot_file(tmp_path / "gt.txt"), read_mot_file(tmp_path / "hyp.txt"))
    results = run_trackeval(tmp_path / "te", "MOT17", {"SEQ-01": (tmp_path / "gt.txt", tmp_path / "hyp.txt")})
    assert_same_as_trackeval(ours, results["SEQ-01"]["pedestrian"])
    assert ours.num_objects == 30 and ours.num_misses == 3 and ours.num_switches == 1
    assert ours.num_false_positives == 30 + 30 + 20  # the spurious box, the ignored pedestrian, the car
    unfiltered = score_mot(gt, hyp, distractor_classes=None)
    assert unfiltered.num_objects == 110 and unfiltered.num_false_positives == 30 + 30  # pedestrian 2 stays ignored


# ---------------------------------------------------------------------------------------
# Hand-made sequences


def box(frame: int, track: int, x: float, y: float = 0.0, w: float = 10.0, h: float = 20.0) -> MotRow:
    return MotRow(frame=frame, track_id=track, x=x, y=y, w=w, h=h)


def test_perfect_tracker_scores_one():
    gt = [box(f, t, 30.0 * t + f) for f in range(1, 4) for t in (1, 2)]
    hyp = [MotRow(r.frame, r.track_id + 100, r.x, r.y, r.w, r.h) for r in gt]
    s = score_mot(gt, hyp)
    assert (s.mota, s.motp, s.idf1, s.num_switches, s.num_false_positives, s.num_misses) == (1.0, 0.0, 1.0, 0, 0, 0)
    assert (s.num_frames, s.num_objects, s.num_unique_objects) == (3, 6, 2)
    assert (s.hota, s.deta, s.assa, s.loca) == pytest.approx((1.0, 1.0, 1.0, 1.0))


def test_one_identity_switch_hand_computed():
    """One object over 4 frames; the tracker changes its id after frame 2.

    MOTA = 1 - 1 switch / 4 = 0.75. IDF1: the best id pairing keeps 2 of 4 boxes, so
    IDTP = 2, IDFP = 2, IDFN = 2 and IDF1 = 4 / 8. HOTA: every box matches with IoU 1, so
    DetA = 1; each match's association IoU is 2 / (2 + 2 + 0) = 0.5, so AssA = 0.5 and
    HOTA = sqrt(0.5).
    """
    gt = [box(f, 1, 5.0) for f in range(1, 5)]
    hyp = [box(f, 7 if f <= 2 else 8, 5.0) for f in range(1, 5)]
    s = score_mot(gt, hyp)
    assert (s.num_switches, s.mota, s.idf1, s.idp, s.idr) == (1, 0.75, 0.5, 0.5, 0.5)
    assert (s.deta, s.assa, s.hota) == pytest.approx((1.0, 0.5, math.sqrt(0.5)))


def test_iou_threshold_and_ignored_ground_truth():
    # IoU of [0,10]x[0,20] with [4,14]x[0,20] is 6*20 / (14*20) = 0.4286: no match at 0.5
    gt = [box(1, 1, 0.0), MotRow(1, 2, 100.0, 0.0, 10.0, 20.0, conf=0.0)]
    hyp = [box(1, 9, 4.0)]
    strict = score_mot(gt, hyp)
    assert (strict.num_false_positives, strict.num_misses, strict.num_objects) == (1, 1, 1)
    loose = score_mot(gt, hyp, iou_threshold=0.4)
    assert (loose.num_false_positives, loose.num_misses, loose.motp) == (0, 0, pytest.approx(1 - 6 / 14))
    kept = score_mot(gt, hyp, drop_ignored_gt=False)
    assert kept.num_objects == 2 and kept.num_misses == 2


def test_empty_hypothesis_misses_everything():
    gt = [box(f, 1, 5.0) for f in range(1, 4)]
    s = score_mot(gt, [])
    assert (s.num_misses, s.num_false_positives, s.mota, s.recall) == (3, 0, 0.0, 0.0)
    assert s.hota == 0.0


def test_hota_is_none_without_trackeval(monkeypatch):
    monkeypatch.setitem(sys.modules, "trackeval.metrics", None)  # makes the import fail
    s = score_mot([box(1, 1, 5.0)], [box(1, 2, 5.0)])
    assert s.mota == 1.0
    assert (s.hota, s.deta, s.assa, s.loca) == (None, None, None, None)


# ---------------------------------------------------------------------------------------
# I/O and conversion


def test_parse_format_write_read_roundtrip(tmp_path, mot_data):
    rows = read_mot_file(mot_data / "TUD-Campus" / "gt.txt")
    assert len(rows) == 359 and rows[0] == MotRow(1, 1, 399.0, 182.0, 121.0, 229.0, 1.0, -1, -1.0)
    hyp = read_mot_file(mot_data / "TUD-Campus" / "test.txt")
    assert hyp[0] == MotRow(1, 3, 113.84, 274.5, 57.307, 130.05, -1.0, -1, -1.0)
    assert parse_mot_rows(format_mot_rows(hyp)) == hyp
    path = write_mot_file(list(reversed(hyp)), tmp_path / "out" / "TUD-Campus.txt")
    assert read_mot_file(path) == sorted(hyp, key=lambda r: (r.frame, r.track_id))
    assert path.read_text().splitlines()[0] == "1,3,113.84,274.5,57.307,130.05,-1,-1,-1"


def test_parse_accepts_short_and_space_separated_rows_and_rejects_bad_ones():
    rows = parse_mot_rows("# comment\n1 5 10 20 30 40\n\n2,5,10.5,20,30,40,0.9\n")
    assert rows == [MotRow(1, 5, 10.0, 20.0, 30.0, 40.0), MotRow(2, 5, 10.5, 20.0, 30.0, 40.0, conf=0.9)]
    with pytest.raises(ValueError, match="<text>:1: expected at least 6 columns"):
        parse_mot_rows("1,2,3,4,5\n")
    with pytest.raises(ValueError, match="start at 1"):
        parse_mot_rows("0,1,0,0,10,10\n")
    with pytest.raises(ValueError, match="<text>:2:"):
        parse_mot_rows("1,1,0,0,10,10\n1,x,0,0,10,10\n")


def test_detections_to_mot_rows():
    det = Detections(
        xyxy=[[10, 20, 40, 80], [0, 0, 5, 5], [100, 100, 150, 200], [1, 2, 3, 4]],
        confidence=[0.9, 0.5, 0.8, 0.7],
        label=["person", "person", "car", "person"],
        frame_index=[0, 0, 3, 4],
        time_s=[0.0, 0.0, 0.12, 0.16],
        track_id=[3, -1, 8, 3],
    )
    rows = detections_to_mot_rows(det, class_ids={"person": 1})
    assert rows == [
        MotRow(frame=1, track_id=3, x=10.0, y=20.0, w=30.0, h=60.0, conf=pytest.approx(0.9), cls=1),
        MotRow(frame=4, track_id=8, x=100.0, y=100.0, w=50.0, h=100.0, conf=pytest.approx(0.8), cls=-1),
        MotRow(frame=5, track_id=3, x=1.0, y=2.0, w=2.0, h=2.0, conf=pytest.approx(0.7), cls=1),
    ]
    assert [r.track_id for r in detections_to_mot_rows(det, labels=["car"])] == [8]
    untracked = Detections(xyxy=[[0, 0, 1, 1]], confidence=[1.0], label=["x"], frame_index=[0], time_s=[0.0])
    with pytest.raises(ValueError, match="no track ids"):
        detections_to_mot_rows(untracked)


def test_tracked_detections_score_end_to_end():
    """Ground truth and a tracker's output both as vidagent Detections."""
    frames = np.arange(5)
    gt = Detections(xyxy=[[10 + 4 * f, 10, 40 + 4 * f, 70] for f in frames], confidence=np.ones(5),
                    label=["person"] * 5, frame_index=frames, time_s=frames / 25, track_id=np.full(5, 1))
    hyp = Detections(xyxy=gt.xyxy + 1.0, confidence=np.full(5, 0.8), label=["person"] * 5,
                     frame_index=frames, time_s=frames / 25, track_id=np.full(5, 42))
    s = score_mot(detections_to_mot_rows(gt), detections_to_mot_rows(hyp))
    iou = (29 * 59) / (2 * 30 * 60 - 29 * 59)
    assert (s.mota, s.idf1, s.num_switches) == (1.0, 1.0, 0)
    assert s.motp == pytest.approx(1 - iou)
