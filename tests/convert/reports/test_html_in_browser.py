"""The HTML report in a real browser: headless Chromium driven through chromedriver's W3C
WebDriver HTTP API (`chromium_webdriver.py`). The page loads from file://, logs nothing to the
console, fetches nothing, shows the verdict and the parity table, and renders (a non-blank
screenshot).

Skips where Chromium or chromedriver is not installed (`.ci/run` installs them in CI).
Set TORCHREADY_REPORT_SCREENSHOT=path.png to keep the screenshot of the failing report.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from report_runs import ATTENTION, run_cli
from chromium_webdriver import HeadlessChromium, missing_browser, png_pixels


pytestmark = pytest.mark.skipif(missing_browser() is not None,
                                reason=f"no headless browser: {missing_browser()}")


@pytest.fixture(scope="module")
def reports(tmp_path_factory, overflow):
    """A passing report (the CLI) and a failing one (the Python API, fp16 overflow), with the
    JSON of the failing one to compare the page with."""
    folder = tmp_path_factory.mktemp("browser")
    passing = folder / "passing.html"
    assert run_cli("audit", f"{ATTENTION}:build", "-q", "--parity-inputs", "1",
                   "--report", str(passing)) == 0
    _, paths = overflow
    return {"passing": passing, "failing": paths["html"],
            "failing_json": json.loads(paths["json"].read_text())}


@pytest.fixture(scope="module")
def browser():
    with HeadlessChromium() as session:
        yield session


def _load(browser, path):
    browser.browser_log()  # drop what earlier pages logged
    browser.open(path.resolve().as_uri())
    return browser.script("return document.readyState")


def test_failing_report_renders_its_verdict_parity_table_and_charts(browser, reports, tmp_path):
    assert _load(browser, reports["failing"]) == "complete"
    expected = reports["failing_json"]

    verdict = browser.script("""
        const v = document.getElementById('verdict');
        return {status: v.dataset.status, text: v.innerText,
                top: v.getBoundingClientRect().top};""")
    assert verdict["status"] == expected["verdict"]["status"] == "fail"
    assert expected["verdict"]["headline"] in verdict["text"]
    assert "failed at parity" in verdict["text"]
    assert verdict["top"] < 100  # the verdict is the first thing on the page

    table = browser.script("""
        return Array.from(document.querySelectorAll('#parity-table tbody tr'))
                    .map(tr => Array.from(tr.cells).map(td => td.innerText.trim()));""")
    assert [(row[0], row[1], row[2]) for row in table] == [
        (row["target"], row["output"], row["status"]) for row in expected["parity"]["rows"]]

    charts = browser.script("""
        return Array.from(document.querySelectorAll('#parity svg.histogram')).map(svg => {
            const box = svg.getBoundingClientRect();
            return {width: box.width, height: box.height,
                    bars: svg.querySelectorAll('rect.chart-bar').length};});""")
    plotted = [row for row in expected["parity"]["rows"]
               if row["target"] != "torchscript" and row["error_histogram"]]
    assert len(charts) == len(plotted) >= 1
    assert all(chart["width"] > 100 and chart["height"] > 50 and chart["bars"] > 0
               for chart in charts)
    assert browser.script("return document.getElementById('divergence') !== null")

    # Nothing was fetched (the page itself is the navigation entry, not a resource), and the
    # console stayed empty: no CSP, parse or load errors.
    assert browser.script("return performance.getEntriesByType('resource').length") == 0
    assert [entry for entry in browser.browser_log()
            if entry.get("level") in ("SEVERE", "WARNING")] == []

    png = browser.screenshot_png()
    pixels = png_pixels(png)
    height, width, _ = pixels.shape
    assert width >= 800 and height >= 600
    colours = {tuple(pixel) for pixel in pixels[::7, ::7, :3].reshape(-1, 3).tolist()}
    assert len(colours) > 20 and float(pixels[..., :3].std()) > 10.0  # not a blank page
    # The verdict banner's red-tinted background is really painted at the top of the page.
    banner = pixels[30:60, 200:600, :3].reshape(-1, 3).mean(axis=0)
    assert banner[0] > banner[1] + 5 and banner[0] > banner[2] + 5
    kept = os.environ.get("TORCHREADY_REPORT_SCREENSHOT")
    (tmp_path / "failing.png").write_bytes(png)
    if kept:
        shutil.copyfile(tmp_path / "failing.png", kept)


def test_passing_report_loads_without_console_errors(browser, reports):
    assert _load(browser, reports["passing"]) == "complete"
    assert browser.script("return document.getElementById('verdict').dataset.status") == "warn"
    rows = browser.script(
        "return document.querySelectorAll('#parity-table tbody tr').length")
    assert rows == 2  # torchscript and coreml, one output
    headers = browser.script("""
        return Array.from(document.querySelectorAll('#parity-table thead th'))
                    .map(th => th.innerText.trim());""")
    assert headers[:4] == ["target", "output", "verdict", "max abs"]
    assert browser.script("return performance.getEntriesByType('resource').length") == 0
    assert [entry for entry in browser.browser_log()
            if entry.get("level") in ("SEVERE", "WARNING")] == []
