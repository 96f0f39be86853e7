"""Open an HTML file in Debian's chromium through playwright (no playwright browser download):
what rendered, what the console said, and a full-page screenshot.

    python -m tests.report.browser report.html report.png     # prints the findings as JSON
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str | None:
    """$XLT_CHROMIUM, else Debian's chromium (or one on PATH); None when absent or without playwright."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None
    if os.environ.get("XLT_CHROMIUM"):
        return os.environ["XLT_CHROMIUM"] if Path(os.environ["XLT_CHROMIUM"]).is_file() else None
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def inspect(html: Path, screenshot: Path | None = None, executable: str | None = None) -> dict:
    """Load `html` from disk; returns title, h1/h2 texts, figure boxes, console/page errors, requests."""
    from playwright.sync_api import sync_playwright

    found = {"console_errors": [], "page_errors": [], "requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable or chromium_path(),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: m.type == "error" and found["console_errors"].append(m.text))
            page.on("pageerror", lambda e: found["page_errors"].append(str(e)))
            page.on("request", lambda r: found["requests"].append(r.url))
            page.goto(Path(html).resolve().as_uri(), wait_until="load")
            found["title"] = page.title()
            found["headings"] = page.locator("h1, h2, h3").all_inner_texts()
            found["figures"] = page.eval_on_selector_all(
                "figure.plot", """els => els.map(f => { const s = f.querySelector('svg, img');
                    const r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
                    return {id: f.id, width: r.width, height: r.height,
                            caption: (f.querySelector('figcaption') || {}).textContent || ''}; })""")
            if screenshot:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return found


if __name__ == "__main__":
    print(json.dumps(inspect(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None), indent=1))
