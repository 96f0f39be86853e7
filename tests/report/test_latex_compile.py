"""report.tex compiles with pdflatex into a PDF whose text holds the report's sections and numbers.

Skipped when pdflatex is missing, unless XLT_REQUIRE_LATEX=1 (CI installs Debian's
texlive-latex-recommended, which has booktabs and longtable), where it fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import needed


@pytest.fixture(scope="module")
def pdflatex() -> str:
    return needed(shutil.which("pdflatex"), "XLT_REQUIRE_LATEX",
                  "pdflatex is not installed (Debian: texlive-latex-recommended)")


def test_report_tex_compiles_to_a_pdf(pdflatex, report, tmp_path):
    folder = tmp_path / "tex"
    shutil.copytree(report["tex"].parent, folder)  # pdflatex writes .aux/.log beside the source
    for _ in range(2):  # longtable widths settle on the second pass
        run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", report["tex"].name],
                             cwd=folder, capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, run.stdout[-3000:]
    log = (folder / "report.log").read_text(encoding="latin-1")
    assert "Undefined control sequence" not in log and "Missing character" not in log
    assert not re.search(r"^! ", log, re.M), log[-3000:]
    pdf = (folder / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    pages = re.search(r"Output written on report\.pdf \((\d+) pages?", log)
    assert pages and int(pages.group(1)) >= 2, log[-1000:]
    figures = re.findall(r"figures/([\w.-]+)\.pdf", report["tex"].read_text(encoding="utf-8"))
    assert figures and all(f"figures/{f}.pdf" in log for f in figures)  # every figure was embedded
