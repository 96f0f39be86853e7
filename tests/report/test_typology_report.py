"""`xlt report --group-by` and the interaction regression section on the synthetic study of conftest.py
(16 real registry languages; xlmr planted EFFECT better than mbert_cased on Indo-European only)."""

from __future__ import annotations

import pytest

from tests.report.conftest import STUDY
from xlt.cli.main import main
from xlt.report.build import write_report
from xlt.store.db import Store


@pytest.fixture(scope="module")
def md(study_db, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("typology-report")
    paths = write_report(Store(study_db), STUDY, out, n_boot=200, progress=False,
                         group_by=("word-order", "resource", "family", "all"))
    return paths["md"].read_text(encoding="utf-8")


def test_groupings_replace_and_follow_the_family_section(md):
    assert "### By word_order" in md and "### By resource" in md and "### By language family" in md
    assert "### All target languages" in md and "| all targets |" in md
    assert "| SVO |" in md and "| SOV |" in md and "| 5 Winners |" in md
    assert "each word_order group's languages" in md and "smallest attainable p" in md


def test_interaction_regression_section(md):
    assert "### Does the advantage grow with distance from English?" in md
    assert "condition x distance interaction" in md and "between-language term" in md
    for term in ("syntactic", "phonological", "genetic", "geographic", "resource"):
        assert f"| {term} |" in md
    assert "not a causal effect" in md and "What this can and cannot claim" in md


def test_cli_group_by(study_db, tmp_path, capsys):
    assert main(["-q", "report", "--study", STUDY, "--db", study_db, "-o", str(tmp_path / "r"), "--n-boot", "100",
                 "--group-by", "adposition"]) == 0
    assert "### By adposition" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["families", "--study", STUDY, "--db", study_db, "--n-boot", "100", "--group-by", "word-order"]) == 0
    out = capsys.readouterr().out
    assert "word_order" in out.splitlines()[0] and "SOV" in out and "seed(s)" in out
    for cmd in (["families", "--study", STUDY, "--db", study_db, "--group-by", "continent"],
                ["report", "--study", STUDY, "--db", study_db, "-o", str(tmp_path / "x"), "--group-by", "continent"]):
        assert main(cmd) == 2
        err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
        assert len(err) == 1 and "unknown grouping 'continent'" in err[0] and "word-order" in err[0]
