"""The ``mot`` suite: MOTChallenge layout, tracking every frame with a pipeline's track_objects
backend, results files, per-sequence and combined scores, the report, the CLI.

Sequences are rendered with known tracks (``tests/evals/mot_sequences.py``) and tracked by a
simple real plugin backend; scoring-only runs use the TUD-Campus / TUD-Stadtmitte fixtures
shipped in the motmetrics wheel (ground truth and a tracker's output), whose published
values ``tests/evals/test_mot.py`` lists.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from evals.data_dirs import MissingDataError
from evals.mot import combine_evaluations, read_mot_file, score_mot
from evals.pipeline import Pipeline
from evals.report import load_run, summary_text, write_report
from evals.run_dir import RunDirError
from evals.suites import get_suite
from evals.suites.mot import MotSuite, SeqInfo, SequenceLayoutError, find_frames, read_seqinfo
from evals.tracking_runner import TrackingOptions, read_rows, run_tracking_suite
from tests.evals.mot_sequences import BLOB_BACKEND, Mover, flat, person, register_blob_tracker, render_sequence
from tests.evals.test_mot import PUBLISHED, SEQUENCES, TRACKEVAL_RECORDED

N_FRAMES = 300  # more than the 240 frames a planner's tracking call may look at
FPS = 25


def crossing_movers() -> list[Mover]:
    """Three objects that never touch; one enters late and one leaves early."""
    return [
        Mover(1, flat((220, 40, 40), 24, 40), 0, N_FRAMES - 1, (4, 10), (280, 20)),
        Mover(2, flat((40, 200, 60), 30, 30), 40, N_FRAMES - 1, (280, 140), (10, 150)),
        Mover(3, flat((40, 60, 220), 20, 48), 0, 200, (150, 70), (160, 90)),
    ]


@pytest.fixture
def blob_registry(monkeypatch):
    """The process registry with the test backend added, restored afterwards."""
    from tools.registry import REGISTRY, default_registry

    default_registry()
    monkeypatch.setattr(REGISTRY, "_backends", {k: list(v) for k, v in REGISTRY._backends.items()})
    register_blob_tracker(REGISTRY)
    return REGISTRY


@pytest.fixture
def blob_pipeline(tmp_path) -> Path:
    path = tmp_path / "blobs.toml"
    path.write_text(f'name = "blobs"\n[tools]\nprofile = "core"\nbackends = {{ track_objects = "{BLOB_BACKEND}" }}\n'
                    "[cache]\nenabled = false\n")
    return path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """A MOTChallenge folder: ``BLOBS-01`` (three separate objects, 300 frames) and ``BLOBS-02``
    (two objects that pass through each other, which the blob tracker merges)."""
    root = tmp_path_factory.mktemp("mot")
    render_sequence(root, "BLOBS-01", crossing_movers(), n_frames=N_FRAMES, fps=FPS)
    crossing = [Mover(1, flat((220, 40, 40), 24, 40), 0, 79, (10, 60), (280, 60)),
                Mover(2, flat((40, 60, 220), 24, 40), 0, 79, (280, 70), (10, 70))]
    render_sequence(root, "BLOBS-02", crossing, n_frames=80, fps=FPS)
    return root


# ---------------------------------------------------------------------------------------
# The layout


def test_seqinfo_is_read_and_checked(tmp_path):
    path = tmp_path / "seqinfo.ini"
    path.write_text("[Sequence]\nname=MOT17-02-FRCNN\nimDir=img1\nframeRate=30\nseqLength=600\n"
                    "imWidth=1920\nimHeight=1080\nimExt=.jpg\n")
    assert read_seqinfo(path) == SeqInfo(name="MOT17-02-FRCNN", image_dir="img1", image_ext=".jpg", frame_rate=30.0,
                                         length=600, width=1920, height=1080)
    path.write_text("[Sequence]\nframeRate=thirty\n")
    with pytest.raises(SequenceLayoutError, match="frameRate='thirty' is not a number"):
        read_seqinfo(path)
    path.write_text("name=x\n")
    with pytest.raises(SequenceLayoutError, match="not an ini file"):
        read_seqinfo(path)
    path.write_text("[Other]\nname=x\n")
    with pytest.raises(SequenceLayoutError, match="no \\[Sequence\\] section"):
        read_seqinfo(path)


def test_sequences_are_folders_with_ground_truth_in_name_order(rendered, tmp_path):
    root = tmp_path / "mot"
    shutil.copytree(rendered, root)
    (root / "notes").mkdir()  # no gt/gt.txt: not a sequence
    suite = get_suite("mot", annotations_dir=root)
    assert isinstance(suite, MotSuite) and suite.kind == "tracking" and suite.phrases == ("person",)
    sequences = suite.sequences()
    assert [s.name for s in sequences] == ["BLOBS-01", "BLOBS-02"]
    first = sequences[0]
    assert first.frames == root / "BLOBS-01" / "BLOBS-01.mp4"
    assert (first.info.length, first.info.frame_rate, first.info.width) == (N_FRAMES, FPS, 320)
    assert [s.name for s in suite.sequences(limit=1)] == ["BLOBS-01"]


def test_frames_are_a_video_file_else_the_image_folder(tmp_path):
    info = SeqInfo()
    assert find_frames(tmp_path, info) is None
    (tmp_path / "img1").mkdir()
    assert find_frames(tmp_path, info) == tmp_path / "img1"
    (tmp_path / "clip.mp4").write_bytes(b"")
    assert find_frames(tmp_path, info) == tmp_path / "clip.mp4"
    (tmp_path / "other.avi").write_bytes(b"")
    with pytest.raises(SequenceLayoutError, match="several video files"):
        find_frames(tmp_path, info)
    (tmp_path / f"{tmp_path.name}.mkv").write_bytes(b"")
    assert find_frames(tmp_path, info) == tmp_path / f"{tmp_path.name}.mkv"


def test_missing_data_is_one_line_saying_where_and_how(tmp_path):
    with pytest.raises(MissingDataError) as err:
        get_suite("mot", annotations_dir=tmp_path / "nothing").sequences()
    assert str(tmp_path / "nothing") in str(err.value) and "--data DIR" in str(err.value)
    with pytest.raises(MissingDataError, match="ground truth"):
        get_suite("mot", annotations_dir=tmp_path).sequences()


# ---------------------------------------------------------------------------------------
# Tracking rendered sequences with a plugin backend


@pytest.fixture
def blob_run(rendered, blob_registry, blob_pipeline, tmp_path):
    suite = get_suite("mot", annotations_dir=rendered)
    outcome = run_tracking_suite(suite, Pipeline.load(blob_pipeline),
                                 TrackingOptions(out_dir=tmp_path / "run", progress=False))
    return outcome


def test_every_frame_is_tracked_with_one_set_of_ids(blob_run, rendered):
    rows = {r.sample_id: r for r in blob_run.rows}
    row = rows["BLOBS-01"]
    assert (row.status, row.backend, row.n_frames, row.frames_tracked, row.fps) == (
        "scored", BLOB_BACKEND, N_FRAMES, N_FRAMES, FPS)
    written = read_mot_file(blob_run.run_dir.path / row.tracks_file)
    assert sorted({r.frame for r in written}) == list(range(1, N_FRAMES + 1))
    assert row.n_tracks == 3 and row.n_boxes == len(written) == N_FRAMES + (N_FRAMES - 40) + 201
    gt = read_mot_file(rendered / "BLOBS-01" / "gt" / "gt.txt")
    scores = row.evaluation.scores()
    assert (scores.mota, scores.idf1, scores.num_switches, scores.num_false_positives, scores.num_misses) == (
        1.0, 1.0, 0, 0, 0)
    assert scores.num_objects == len(gt)
    assert scores == score_mot(gt, written)
    assert 0.8 < scores.hota <= 1.0


def test_a_sequence_of_numbered_images_is_tracked_like_a_video(blob_registry, blob_pipeline, tmp_path):
    movers = crossing_movers()
    render_sequence(tmp_path / "mot", "IMAGES-01", movers, n_frames=N_FRAMES, fps=FPS, frames="images")
    sequence = get_suite("mot", annotations_dir=tmp_path / "mot").sequences()[0]
    assert sequence.frames == tmp_path / "mot" / "IMAGES-01" / "img1"
    outcome = run_tracking_suite(get_suite("mot", annotations_dir=tmp_path / "mot"), Pipeline.load(blob_pipeline),
                                 TrackingOptions(out_dir=tmp_path / "run", progress=False))
    [row] = outcome.rows
    assert (row.status, row.n_frames, row.frames_tracked, row.fps) == ("scored", N_FRAMES, N_FRAMES, FPS)
    s = row.evaluation.scores()
    assert (s.mota, s.idf1, s.num_switches) == (1.0, 1.0, 0)


def test_objects_that_merge_cost_switches_and_misses(blob_run):
    row = {r.sample_id: r for r in blob_run.rows}["BLOBS-02"]
    s = row.evaluation.scores()
    assert row.status == "scored" and s.num_objects == 160
    assert s.num_misses > 0 and s.mota < 1.0 and s.idf1 < 1.0


def test_combined_scores_pool_the_sequences(blob_run):
    combined = combine_evaluations([r.evaluation for r in blob_run.rows]).scores()
    parts = [r.evaluation.scores() for r in blob_run.rows]
    assert combined.num_objects == sum(p.num_objects for p in parts)
    assert combined.num_misses == sum(p.num_misses for p in parts)
    errors = sum(p.num_misses + p.num_false_positives + p.num_switches for p in parts)
    assert combined.mota == pytest.approx(1 - errors / combined.num_objects)
    assert min(p.hota for p in parts) <= combined.hota <= max(p.hota for p in parts)


def test_report_of_a_tracking_run(blob_run):
    run = load_run(blob_run.run_dir.path)
    text = summary_text(run)
    assert "### Tracking" in text
    assert f"| BLOBS-01 | {N_FRAMES} | {N_FRAMES}/{N_FRAMES} | 761 | 100.0% | 100.0% |" in text
    assert "| combined (2 sequences) | 380 | 380/380 |" in text
    files = write_report(run)
    md = files.markdown.read_text()
    assert "### Tracker per sequence" in md and f"3 tracks over {N_FRAMES} frames at 25 fps" in md
    assert "<table>" in files.html.read_text() and not files.plots
    manifest = json.loads((blob_run.run_dir.path / "manifest.json").read_text())
    assert (manifest["suite"]["kind"], manifest["mode"], manifest["pipeline"]["name"]) == ("tracking", "run", "blobs")
    assert {"name": "track_objects", "backend": BLOB_BACKEND, "version": "1"} in manifest["tools"]


def test_sequence_errors_become_rows_and_resume_skips_done_sequences(rendered, blob_registry, blob_pipeline,
                                                                     tmp_path):
    root = tmp_path / "mot"
    shutil.copytree(rendered, root)
    info = root / "BLOBS-02" / "seqinfo.ini"
    info.write_text(info.read_text().replace("seqLength=80", "seqLength=81"))
    (root / "BLOBS-03" / "gt").mkdir(parents=True)
    shutil.copy(root / "BLOBS-02" / "gt" / "gt.txt", root / "BLOBS-03" / "gt" / "gt.txt")  # no frames
    suite = get_suite("mot", annotations_dir=root)
    pipeline = Pipeline.load(blob_pipeline)
    first = run_tracking_suite(suite, pipeline, TrackingOptions(out_dir=tmp_path / "run", limit=1, progress=False))
    assert (first.n_written, [r.sample_id for r in first.rows]) == (1, ["BLOBS-01"])
    with pytest.raises(RunDirError, match="--resume"):
        run_tracking_suite(suite, pipeline, TrackingOptions(out_dir=tmp_path / "run", progress=False))
    rest = run_tracking_suite(suite, pipeline, TrackingOptions(out_dir=tmp_path / "run", resume=True, progress=False))
    assert (rest.n_skipped, rest.n_written) == (1, 2)
    rows = {r.sample_id: r for r in rest.rows}
    assert (rows["BLOBS-02"].status, rows["BLOBS-02"].error_kind) == ("error", "frames_mismatch")
    assert "has 80 frames" in rows["BLOBS-02"].error and "seqLength=81" in rows["BLOBS-02"].error
    assert (rows["BLOBS-03"].status, rows["BLOBS-03"].error_kind) == ("error", "missing_frames")
    text = summary_text(load_run(tmp_path / "run"))
    assert "### Sequences without scores" in text and "combined (1 sequence)" in text


def test_a_pipeline_without_a_tracker_is_refused(rendered, tmp_path):
    path = tmp_path / "core.toml"
    path.write_text('[tools]\nprofile = "core"\n')
    from tools.errors import ConfigError

    with pytest.raises(ConfigError, match="has no track_objects backend"):
        run_tracking_suite(get_suite("mot", annotations_dir=rendered), Pipeline.load(path),
                           TrackingOptions(out_dir=tmp_path / "run", progress=False))


def test_cli_runs_the_suite_and_reports(rendered, blob_registry, blob_pipeline, tmp_path, capsys):
    from agent.cli import main

    out = tmp_path / "run"
    code = main(["eval", "run", "--suite", "mot", "--data", str(rendered), "--pipeline", str(blob_pipeline),
                 "--out", str(out)])
    result = capsys.readouterr()
    assert code == 0, result.err
    assert "| combined (2 sequences) |" in result.out
    assert "mot: 1/2 BLOBS-01: MOTA 1.000 IDF1 1.000" in result.err
    assert "2 sequences tracked now, 0 already done, 2 selected" in result.err
    assert main(["eval", "report", str(out)]) == 0 and (out / "report.md").is_file()
    assert capsys.readouterr().out.splitlines()[0] == "### Tracking"
    assert main(["eval", "compare", str(out), str(out)]) == 2
    assert "is a tracking run" in capsys.readouterr().err
    assert main(["eval", "suites"]) == 0
    assert any(line.startswith("mot ") for line in capsys.readouterr().out.splitlines())
    assert main(["eval", "run", "--suite", "mot", "--data", str(rendered), "--out", str(tmp_path / "x")]) == 2
    assert "pass --pipeline FILE" in capsys.readouterr().err
    assert main(["eval", "run", "--suite", "mot", "--data", str(tmp_path / "none"), "--pipeline", str(blob_pipeline),
                 "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sequence folder" in err and "--data DIR" in err
    assert main(["eval", "run", "--suite", "mot", "--data", str(rendered), "--pipeline", str(blob_pipeline),
                 "--out", str(tmp_path / "z"), "--workers", "2"]) == 2
    assert "--workers: not used by the tracking suite" in capsys.readouterr().err


@pytest.mark.lite
@pytest.mark.slow
def test_lite_tracker_follows_two_people_over_every_frame(tmp_path):
    """The lite profile (SSD-MobileNet COCO detections, ByteTrack) over 250 frames, more than a
    planner's call may look at: every frame is tracked and each person keeps one id. The
    misses are frames where SSD finds no confident person (measured: MOTA 0.88, IDF1 0.93,
    no false positive, no switch), so the bounds leave room for that and no more."""
    n = 250
    movers = [Mover(1, person(150), 0, n - 1, (10, 20), (440, 40)),
              Mover(2, person(120), 30, n - 1, (500, 225), (200, 230))]
    render_sequence(tmp_path / "mot", "ASTRO-01", movers, n_frames=n, fps=25, size=(640, 360))
    pipeline = tmp_path / "lite.toml"
    pipeline.write_text('name = "lite-tracker"\n[tools]\nprofile = "lite"\n[cache]\nenabled = false\n')
    outcome = run_tracking_suite(get_suite("mot", annotations_dir=tmp_path / "mot"), Pipeline.load(pipeline),
                                 TrackingOptions(out_dir=tmp_path / "run", progress=False))
    [row] = outcome.rows
    assert (row.status, row.backend, row.n_frames, row.frames_tracked) == ("scored", "bytetrack", n, n)
    assert f"over {n} frames at 25 fps" in row.observation
    s = row.evaluation.scores()
    assert (s.num_switches, s.mostly_tracked, row.n_tracks) == (0, 2, 2), s
    assert s.mota > 0.8 and s.idf1 > 0.85 and s.precision > 0.95, s


# ---------------------------------------------------------------------------------------
# Scoring a tracker's results files: the motmetrics fixtures


@pytest.fixture(scope="module")
def tud(tmp_path_factory) -> tuple[Path, Path]:
    """TUD-Campus and TUD-Stadtmitte in the MOTChallenge layout (ground truth only, no frames)
    and a folder of the tracker's results, ``<seq>.txt``, both from motmetrics' data."""
    import motmetrics

    data = Path(motmetrics.__file__).parent / "data"
    root = tmp_path_factory.mktemp("tud")
    for seq in SEQUENCES:
        (root / "mot" / seq / "gt").mkdir(parents=True)
        shutil.copy(data / seq / "gt.txt", root / "mot" / seq / "gt" / "gt.txt")
        (root / "tracks").mkdir(exist_ok=True)
        shutil.copy(data / seq / "test.txt", root / "tracks" / f"{seq}.txt")
    return root / "mot", root / "tracks"


def test_scoring_results_files_gives_the_published_values(tud, tmp_path):
    data, tracks = tud
    outcome = run_tracking_suite(get_suite("mot", annotations_dir=data), None,
                                 TrackingOptions(out_dir=tmp_path / "run", tracks_dir=tracks, progress=False))
    rows = {r.sample_id: r for r in outcome.rows}
    assert sorted(rows) == list(SEQUENCES)
    for seq in SEQUENCES:
        scores = rows[seq].evaluation.scores()
        for name, published in PUBLISHED[seq].items():
            assert getattr(scores, name) == pytest.approx(published, abs=5e-7), (seq, name)
        for name, recorded in TRACKEVAL_RECORDED[seq].items():
            assert getattr(scores, name) == pytest.approx(recorded, abs=1e-3), (seq, name)
        assert read_mot_file(tmp_path / "run" / rows[seq].tracks_file) == sorted(
            read_mot_file(tracks / f"{seq}.txt"), key=lambda r: (r.frame, r.track_id))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert (manifest["mode"], manifest["pipeline"], manifest["tracks_dir"]) == ("score", None, str(tracks.resolve()))
    text = summary_text(load_run(tmp_path / "run"))
    assert "| TUD-Campus | - | - | 359 | 52.6% | 55.8% | 39.1% | 7 | 13 | 150 |" in text
    assert "| combined (2 sequences) |" in text


def test_the_web_app_lists_no_accuracy_for_a_tracking_run_but_serves_its_report(tud, tmp_path):
    from server.eval_runs import list_runs, report_html

    data, tracks = tud
    roots = (tmp_path / "evals",)
    run_tracking_suite(get_suite("mot", annotations_dir=data), None,
                       TrackingOptions(out_dir=roots[0] / "tud", tracks_dir=tracks, progress=False))
    assert list_runs(roots) == []
    html = report_html("tud", roots)
    assert "<h3>Tracking</h3>" in html and "<td>TUD-Campus</td>" in html


def test_a_missing_results_file_is_an_error_row(tud, tmp_path):
    data, tracks = tud
    partial = tmp_path / "tracks"
    partial.mkdir()
    shutil.copy(tracks / "TUD-Campus.txt", partial / "TUD-Campus.txt")
    outcome = run_tracking_suite(get_suite("mot", annotations_dir=data), None,
                                 TrackingOptions(out_dir=tmp_path / "run", tracks_dir=partial, progress=False))
    rows = {r.sample_id: r for r in read_rows(outcome.run_dir)}
    assert rows["TUD-Campus"].status == "scored"
    assert (rows["TUD-Stadtmitte"].error_kind, rows["TUD-Stadtmitte"].evaluation) == ("missing_tracks", None)
    assert str(partial / "TUD-Stadtmitte.txt") in rows["TUD-Stadtmitte"].error
    with pytest.raises(ValueError, match="either a pipeline"):
        run_tracking_suite(get_suite("mot", annotations_dir=data), None,
                           TrackingOptions(out_dir=tmp_path / "run2", progress=False))
    assert np.isfinite(rows["TUD-Campus"].evaluation.scores().mota)
