#!/usr/bin/env python
"""Decode every real sample video found on this machine with vidagent's reader and with
OpenCV, compare them frame by frame, run ``vidagent info`` on each, and print a table.

    python scripts/video_corpus_check.py            # the corpus of tests/video_corpus.py
    python scripts/video_corpus_check.py A.avi B.gif  # given files
    VIDAGENT_VIDEO_CORPUS=/tmp/opencv-doc/usr/share/doc/opencv-doc/examples/data python scripts/video_corpus_check.py

Exit status 0 when every file agrees and every ``vidagent info`` exits 0, else 1. The same
check runs as the ``corpus`` test group (tests/tools/test_video_corpus.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.video_corpus import compare_with_opencv, corpus_files  # noqa: E402


def vidagent_info(path: Path) -> tuple[int, int | None, str]:
    """(exit code, number of shots or None, first line of stderr) of ``vidagent info --json``."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from agent.cli import main; sys.exit(main())", "info", str(path), "--json"],
        capture_output=True, text=True, cwd=ROOT,
    )
    shots = len(json.loads(done.stdout)["shots"]) if done.returncode == 0 else None
    return done.returncode, shots, (done.stderr.strip().splitlines() or [""])[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    files = {p.name: p for p in args.files} if args.files else corpus_files()
    header = f"{'video':42} {'ours':>5} {'opencv':>6} {'cv hdr':>6} {'diff':>5} {'order':>5} {'info':>4} {'shots':>5} {'s':>5}  note"
    print(header)
    failures = 0
    for name, path in files.items():
        start = time.monotonic()
        try:
            c = compare_with_opencv(path)
        except Exception as exc:  # a table row, not a traceback
            print(f"{name:42} ERROR {type(exc).__name__}: {exc}")
            failures += 1
            continue
        code, shots, err = vidagent_info(path)
        ok = c.agrees and code == 0
        failures += not ok
        note = "" if ok else "DISAGREES " + err
        if c.warnings:
            note += " warned: " + c.warnings[0].split(": ", 1)[1]
        print(
            f"{name:42} {c.ours:5d} {c.opencv_read:6d} {c.opencv_declared:6d} {c.worst_mean_diff:5.2f}"
            f" {c.closer_to_neighbour:5d} {code:4d} {shots if shots is not None else '-':>5}"
            f" {time.monotonic() - start:5.1f}  {note}".rstrip()
        )
    print(f"{len(files) - failures} of {len(files)} agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
