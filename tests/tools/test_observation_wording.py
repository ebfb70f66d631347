"""Observation wording that small planners misread: the answer-bearing fact comes first."""

from tools.backends.lite.models.ocr import MergedRead
from tools.backends.lite.text import words_summary
from tools.observations import narrow_span_note
from tools.types import TimeSpan


def read(text: str, first_s: float, last_s: float, n: int) -> MergedRead:
    return MergedRead(text=text, score=0.9, box=(0.0, 0.0, 10.0, 10.0), first_s=first_s, last_s=last_s, n_reads=n)


def test_words_summary_names_each_text_once_most_read_first_with_when():
    merged = [read("TAXI", 2.68, 2.68, 1), read("AXI", 2.84, 2.84, 1), read("Taxi", 3.0, 3.2, 2), read("STOP", 5.0, 5.0, 1)]
    summary = words_summary(merged)
    # the most-read spelling of the text; "AXI" was the sign cut off at the frame's edge
    assert summary.startswith('"Taxi" (4 reads, 2.68-3.20 s)')
    assert summary.endswith('"STOP" (1 read, 5.00 s)')
    assert "AXI" not in summary.upper().replace("TAXI", "")


def test_equal_counts_put_the_longer_text_first_and_keep_unrelated_texts_apart():
    assert words_summary([read("EXIT", 1.0, 1.0, 1), read("NO EXIT", 2.0, 2.0, 1)]) == '"NO EXIT" (2 reads, 1.00-2.00 s)'
    assert words_summary([read("EXIT", 1.0, 1.0, 1), read("OPEN", 2.0, 2.0, 1)]) == (
        '"EXIT" (1 read, 1.00 s), "OPEN" (1 read, 2.00 s)')


def test_finding_nothing_in_a_narrow_span_says_how_to_look_at_the_whole_video():
    note = narrow_span_note(TimeSpan(start_s=10.0, end_s=10.0), duration_s=10.0)
    assert note == " Only 10.00-10.00 s of the 10.00 s video was looked at; leave span out to look at all of it."
    assert narrow_span_note(None, 10.0) == ""
    assert narrow_span_note(TimeSpan(start_s=2.0, end_s=7.0), 10.0) == ""  # half the video or more
    assert narrow_span_note(TimeSpan(start_s=0.0, end_s=132.0), 10.0) == ""
