"""The page in a real headless browser (Debian's chromium driven by playwright): upload
bikes.mp4, ask the TAXI question with a scripted planner that reads the text with PP-OCR, then
see the answer, the evidence marker and the evidence frame with its box drawn.

Needs ``apt-get install chromium``; skipped (with that reason) only where it is absent.
``VIDAGENT_SCREENSHOT_TO=docs/serve-page.png`` keeps a small copy of the page's screenshot.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.server.conftest import TAXI_QUESTION, TAXI_SCRIPT, start_server
from tests.requirements import missing

pytestmark = [pytest.mark.slow, pytest.mark.lite, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
MAGENTA = np.array([255, 0, 255])


def needs_chromium() -> None:
    if not Path(CHROMIUM).is_file():
        missing("Debian's chromium is not installed (apt-get install -y chromium)")


def test_page_answers_the_taxi_question_with_evidence_on_the_frame(tmp_path, bikes_mp4, served_list):
    needs_chromium()
    from playwright.sync_api import expect, sync_playwright

    served = start_server(tmp_path, script=TAXI_SCRIPT, profile="lite")
    served_list.append(served)
    elsewhere: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("request", lambda r: urlsplit(r.url).hostname not in {"127.0.0.1", None} and elsewhere.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(served.url + "/")
            expect(page.locator("#info")).to_contain_text("scripted")

            page.set_input_files("#file", str(bikes_mp4))
            expect(page.locator("#video-status")).to_contain_text("250 frames", timeout=60_000)
            page.fill("#question", TAXI_QUESTION)
            page.click("#ask")
            expect(page.locator("#answer-text")).to_have_text("TAXI", timeout=240_000)
            expect(page.locator("#steps")).to_contain_text("read_text")

            run_id = served.client.get("/api/runs").json()[0]["id"]
            evidence = served.client.get(f"/api/runs/{run_id}").json()["answer"]["evidence"]
            boxed = [e for e in evidence if e["box"]]
            assert boxed and any("TAXI" in e["note"] or "AXI" in e["note"] for e in boxed), evidence
            markers = page.locator(".evidence-marker")
            expect(markers).to_have_count(len(evidence))
            markers.first.click()
            shown_at = page.evaluate("document.getElementById('player').currentTime")
            assert shown_at == pytest.approx(evidence[0]["time_s"], abs=0.05)

            image = page.locator("img.evidence-frame").first
            page.wait_for_function("img => img.complete && img.naturalWidth === 640", arg=image.element_handle())
            image.scroll_into_view_if_needed()
            shot = np.asarray(Image.open(io.BytesIO(image.screenshot())).convert("RGB")).astype(int)
            page_png = page.screenshot(full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    assert not elsewhere, f"the page fetched from elsewhere: {elsewhere}"

    # The drawn box, found in the screenshot where the evidence puts it (scaled to the shown size).
    first = evidence[0]["frame_index"]
    on_frame = [e["box"] for e in evidence if e["box"] and e["frame_index"] == first]
    assert on_frame, evidence
    x1, y1 = min(b[0] for b in on_frame), min(b[1] for b in on_frame)
    x2, y2 = max(b[2] for b in on_frame), max(b[3] for b in on_frame)
    scale = shot.shape[1] / 640
    magenta = (shot[..., 0] > 150) & (shot[..., 2] > 150) & (shot[..., 1] < 110)
    ys, xs = np.nonzero(magenta)
    assert len(xs) > 50, "no drawn box in the screenshot"
    assert xs.min() == pytest.approx(x1 * scale, abs=6 * scale)
    left_edge = magenta[int(y1 * scale) + 2:int(y2 * scale) - 2, max(0, int((x1 - 6) * scale)):int(x1 * scale) + 1]
    assert left_edge.any(axis=1).mean() > 0.9, "the box's left edge is not drawn where the evidence puts it"
    inside = magenta[int((y1 + 8) * scale):int((y2 - 8) * scale), int((x1 + 8) * scale):int((x2 - 8) * scale)]
    assert inside.mean() < 0.05, "the box's inside should show the footage"

    keep = os.environ.get("VIDAGENT_SCREENSHOT_TO")
    if keep:
        picture = Image.open(io.BytesIO(page_png)).convert("RGB")
        picture.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(keep, optimize=True)
