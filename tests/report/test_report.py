"""`xlt report` on a synthetic two-condition study: the three files carry the numbers that
xlt.analysis computes, LaTeX is escaped (test_latex_compile.py compiles it), the HTML loads
nothing from outside, bad input gives one XltError."""

from __future__ import annotations

import re

import pytest

from tests.report.conftest import INDO_EUROPEAN, MODELS, N_BOOT, STUDY, TASK, write_study
from xlt.analysis.condition import default_pairs, parse_condition
from xlt.analysis.families import family_table, paired_comparison
from xlt.cli.main import main
from xlt.errors import XltError
from xlt.report.build import write_report
from xlt.report.document import Bounds
from xlt.report.latex import escape
from xlt.store.db import Store


def _x100(x: float) -> str:
    return f"{100 * x:.1f}"


def _ci(lo: float, hi: float, bound: float) -> str:
    return f"[{_x100(max(lo, -bound))}, {_x100(min(hi, 1.0))}]"


def _rows(cells: list[str]) -> dict[str, str]:
    """The same table row as each format writes it."""
    return {"md": "| " + " | ".join(cells) + " |",
            "tex": " & ".join(escape(c) for c in cells) + r" \\",
            "html": f'<td class="l">{cells[0]}</td>' + "".join(f"<td>{c}</td>" for c in cells[1:])}


@pytest.fixture(scope="module")
def texts(report) -> dict[str, str]:
    return {k: p.read_text(encoding="utf-8") for k, p in report.items()}


def test_family_numbers_in_all_formats(study_db, texts):
    table = family_table(Store(study_db).example_frame(STUDY, TASK), n_boot=N_BOOT)
    assert set(table["model"]) == set(MODELS) and len(table) == 2 * 9
    for _, r in table.iterrows():
        cells = [r["family"], str(r["n_languages"]), _x100(r["mean"]), _ci(r["ci_low"], r["ci_high"], 0.0),
                 _x100(r["gap"]), _ci(r["gap_ci_low"], r["gap_ci_high"], 1.0)]
        for fmt, row in _rows(cells).items():
            assert row in texts[fmt], (fmt, row)
    for fmt in texts:
        for heading in ("Study summary", "Per-language scores", "By language family", "Paired comparison",
                        "Transfer gap vs typological distance", "Notes"):
            assert heading in texts[fmt]


def test_paired_comparison_per_family(study_db, texts):
    a, b = ({"model": m, "method": "finetune", "intermediate": "none"} for m in MODELS)
    c = paired_comparison(Store(study_db).example_frame(STUDY, TASK), a, b, n_boot=N_BOOT).set_index("family")
    ie = c.loc["Indo-European"]
    assert ie["diff"] < 0 and ie["ci_high"] < 0 and ie["p_holm"] < 0.05  # the planted effect, B = xlmr better
    assert ie["n_languages"] == len(INDO_EUROPEAN)
    for family, r in c.iterrows():
        p = lambda x: f"{x:.3f}" if x >= 0.001 else f"{x:.1e}"
        cells = [family, str(r["n_languages"]), _x100(r["mean_a"]), _x100(r["mean_b"]), _x100(r["diff"]),
                 _ci(r["ci_low"], r["ci_high"], 1.0), p(r["p_value"]), p(r["p_holm"]), f"{r['cohens_d']:.2f}"]
        for fmt, row in _rows(cells).items():
            assert row in texts[fmt], (fmt, row)
    assert "A = mbert_cased / finetune / none minus B = xlmr / finetune / none" in texts["md"]


def test_latex_escaping(report, texts):
    """The source; tests/report/test_latex_compile.py compiles it."""
    assert escape("N’Ko & A_b 50% #1 {x} $y ~ ^ \\") == (
        r"N'Ko \& A\_b 50\% \#1 \{x\} \$y \textasciitilde{} \textasciicircum{} \textbackslash{}")
    assert escape("Māori ± 2") == r"Maori $\pm$ 2"
    tex = texts["tex"]
    assert "mbert\\_cased / finetune / none" in tex and "mbert_cased" not in tex
    assert "N'Ko (nqo\\_Nkoo)" in tex or "N'Ko" in tex
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert tex.count("\\begin{longtable}") == tex.count("\\end{longtable}") >= 5
    for key in re.findall(r"figures/([\w.-]+)\.pdf", tex):
        assert (report["tex"].parent / "figures" / f"{key}.pdf").stat().st_size > 1000


def test_html_is_self_contained(texts):
    html = texts["html"]
    assert "<script" not in html and "<link" not in html and " src=" not in html
    urls = set(re.findall(r"https?://[^\s\"')]+", html))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # figure ids prefixed: several SVGs share one page
    assert html.count('<figure class="plot"') == 4 and html.count("<figcaption>") == 4


def test_bounds_clip_and_count(texts):
    b = Bounds()
    assert b.ci(-0.038, 0.45) == "[0.0, 45.0]" and b.moved == 1
    assert b.ci(0.2, 1.03) == "[20.0, 100.0]" and b.ci(-1.2, 0.5, -1.0, 1.0) == "[-100.0, 50.0]" and b.moved == 3
    assert "clipped to [0, 100]" in texts["md"] and "bound(s) clipped in this report" in texts["md"]


def test_condition_pairs_and_compare_argument():
    conds = [("m1", "finetune", "none"), ("m2", "finetune", "none"), ("m1", "epar", "none"), ("m2", "epar", "xnli")]
    assert default_pairs(conds) == [(("m1", "epar", "none", "zero-shot"), ("m1", "finetune", "none", "zero-shot")),
                                    (("m1", "finetune", "none", "zero-shot"), ("m2", "finetune", "none", "zero-shot"))]
    assert parse_condition("m2", conds) == {"model": "m2"} and parse_condition("epar", conds) == {"method": "epar"}
    assert parse_condition("m2/epar/xnli", conds) == {"model": "m2", "method": "epar", "intermediate": "xnli",
                                                      "protocol": "zero-shot"}
    with pytest.raises(XltError, match="'m3'.*conditions: m1 / epar / none"):
        parse_condition("m3", conds)


def test_bad_input_gives_one_error(study_db, tmp_path):
    with pytest.raises(XltError, match="study 'nope' is not in .*studies: syn"):
        write_report(Store(study_db), "nope", tmp_path, progress=False)
    empty = Store(str(tmp_path / "empty.sqlite"))
    with pytest.raises(XltError, match="studies: none"):
        write_report(empty, STUDY, tmp_path, progress=False)
    empty.start_run("r1", {"study": "half", "model": "m", "task": TASK, "method": "finetune",
                           "intermediate": "none", "seed": 1})
    with pytest.raises(XltError, match="'half': no finished runs"):
        write_report(empty, "half", tmp_path, progress=False)
    with pytest.raises(XltError, match="finetune.*matches several conditions"):
        write_report(Store(study_db), STUDY, tmp_path, compare=("finetune", "xlmr"), n_boot=100, progress=False)
    assert not (tmp_path / "report.md").exists()


def test_cli_report(study_db, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["-q", "report", "--study", STUDY, "--db", study_db, "-o", str(out), "--n-boot", "200",
                 "--compare", "xlmr", "mbert_cased"]) == 0
    assert "wrote" in capsys.readouterr().out
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.count("A = xlmr / finetune / none minus B = mbert_cased / finetune / none") == 1
    assert all((out / f"report.{ext}").stat().st_size > 1000 for ext in ("md", "tex", "html"))
    assert main(["report", "--study", "nope", "--db", study_db, "-o", str(out)]) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert len(err) == 1 and err[0].startswith("xlt: error: study 'nope'")
