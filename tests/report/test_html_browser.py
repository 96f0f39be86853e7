"""report.html in a real headless browser (Debian's chromium via playwright): it renders, every
plot is on the page with a non-zero size, nothing is fetched, no console or page errors.

Skipped when chromium or playwright is missing, unless XLT_REQUIRE_BROWSER=1 (CI), where it fails;
XLT_CHROMIUM=/path/to/chromium picks another browser binary.
"""

from __future__ import annotations

import struct

import pytest

from tests.conftest import needed
from tests.report.browser import chromium_path, inspect

@pytest.fixture(scope="module")
def browser() -> str:
    return needed(chromium_path(), "XLT_REQUIRE_BROWSER", "chromium (/usr/bin/chromium) or playwright is not installed")


def test_report_renders_in_chromium(browser, report, tmp_path):
    shot = tmp_path / "report.png"
    found = inspect(report["html"], shot, executable=browser)
    assert found["title"] == "xlt report: study syn"
    for heading in ("Study summary", "Task sib200", "Per-language scores", "By language family", "Paired comparison",
                    "Transfer gap vs typological distance", "Notes"):
        assert heading in found["headings"], (heading, found["headings"])
    keys = [f["id"] for f in found["figures"]]
    assert keys == [f"fig-{k}-sib200" for k in ("heatmap", "family-bars", "family-overview", "gap-distance")]
    for fig in found["figures"]:
        assert fig["width"] > 200 and fig["height"] > 150, fig
        assert fig["caption"].startswith("Figure ")
    assert found["console_errors"] == [] and found["page_errors"] == []
    assert found["requests"] == [report["html"].resolve().as_uri()]  # self-contained: nothing else loaded
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width == 1280 and height > 2000  # full page, not just the viewport
