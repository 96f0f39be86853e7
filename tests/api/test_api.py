"""The Python API (`xlt.run_study`, `xlt.load_results`, `xlt.write_report`) and `xlt results --format json`,
validated against the shipped JSON Schema, on one tiny study run once for the module."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

import xlt
from xlt.cli.main import main
from xlt.errors import XltError
from xlt.store.db import Store

from tests.sib_fixture import SOURCE, TARGETS, write_tiny_sib200

jsonschema = pytest.importorskip("jsonschema")

TRAIN = {"max_steps": 4, "batch_size": 8, "lr": 5e-3, "head_lr": 5e-2, "pooling": "mean", "eval_every": 2,
         "max_length": 32, "precision": "fp32"}
RUNTIME = {"progress": False, "device": "cpu", "threads": 1}


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_bert):
    """A two-seed tiny sib200 study given as a dict, run through `xlt.run_study`."""
    import torch

    threads = torch.get_num_threads()  # runtime.threads is process-wide; give other tests theirs back
    tmp = tmp_path_factory.mktemp("api")
    raw = {"name": "api-tiny", "models": [str(tiny_bert)],
           "tasks": [{"name": "sib200", "data_dir": str(write_tiny_sib200(tmp / "sib", n=14)),
                      "languages": "available"}],
           "seeds": [1, 2], "train": TRAIN, "runtime": RUNTIME}
    db = tmp / "r.sqlite"
    summary = xlt.run_study(raw, db=str(db))
    torch.set_num_threads(threads)
    return {"raw": raw, "db": str(db), "summary": summary, "tmp": tmp, "model": str(tiny_bert)}


def _validator():
    cls = jsonschema.Draft202012Validator
    schema = xlt.api.schema()
    cls.check_schema(schema)
    return cls(schema)


def test_import_xlt_does_not_import_torch():
    code = "import sys, xlt; xlt.__version__; assert 'torch' not in sys.modules and 'xlt.api' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_run_study_runs_once_then_skips(study):
    s = study["summary"]
    assert (s["study"], s["runs"], s["ran"], s["skipped"]) == ("api-tiny", 2, 2, 0)
    raw = copy.deepcopy(study["raw"])
    again = xlt.run_study(raw, db=study["db"])
    assert (again["ran"], again["skipped"]) == (0, 2)
    # overrides work as on the command line (another study in another database: this one stays as it is)
    other = study["tmp"] / "other.sqlite"
    more = xlt.run_study(raw, db=str(other), overrides=["seeds=[3]", "name=api-other"])
    assert (more["study"], more["runs"], more["ran"]) == ("api-other", 1, 1)
    assert {r["seed"] for r in Store(str(other)).runs("api-other")} == {3}
    assert raw == study["raw"]  # the caller's dict is not modified by overrides or parsing
    with pytest.raises(XltError, match="not found"):
        xlt.run_study(study["tmp"] / "missing.yaml")
    with pytest.raises(XltError, match="unknown"):
        xlt.run_study({**raw, "tasks": ["sib-200"]}, db=study["db"])


def test_load_results_is_long_and_in_fractions(study):
    df = xlt.load_results(study["db"], study="api-tiny")
    stored = Store(study["db"]).score_rows(study="api-tiny")
    assert len(df) == len(stored) and set(df["seed"]) >= {1, 2}
    assert set(df["language"]) == {SOURCE, *TARGETS}
    assert (df["condition"] == f"{study['model']} / finetune / none").all()
    assert df["value"].between(0, 1).all()
    by_key = {(r["run_id"], r["language"], r["metric"]): r["value"] for r in stored}
    assert all(by_key[(r.run_id, r.language, r.metric)] == r.value for r in df.itertuples())
    assert len(xlt.load_results(Store(study["db"], read_only=True), task="sib200")) == len(df)
    with pytest.raises(XltError, match="studies: api-tiny"):
        xlt.load_results(study["db"], study="nope")
    with pytest.raises(XltError, match="not found"):
        xlt.load_results(study["tmp"] / "none.sqlite")


def test_report_writes_three_formats(study):
    out = study["tmp"] / "report"
    paths = xlt.write_report(study["db"], "api-tiny", out, n_boot=200)
    assert set(paths) == {"md", "tex", "html"}
    assert all(Path(p).is_file() and Path(p).parent == out for p in paths.values())
    assert "api-tiny" in paths["md"].read_text(encoding="utf-8")
    again = xlt.write_report(study["db"], "api-tiny", study["tmp"] / "report2", n_boot=200)
    assert again["md"].read_text(encoding="utf-8") == paths["md"].read_text(encoding="utf-8")


def test_results_json_validates_and_holds_the_stored_numbers(study, capsys):
    dest = study["tmp"] / "results.json"
    assert main(["results", "--db", study["db"], "--study", "api-tiny", "--format", "json", "-o", str(dest)]) == 0
    assert f"wrote {dest}" in capsys.readouterr().out
    doc = json.loads(dest.read_text(encoding="utf-8"))
    _validator().validate(doc)
    assert doc["study"] == "api-tiny" and doc["units"] == "fraction (0-1)" and doc["xlt_version"] == xlt.__version__
    stored = {r["run_id"]: r for r in Store(study["db"]).runs("api-tiny")}
    scores = Store(study["db"]).score_rows(study="api-tiny")
    assert {r["run_id"] for r in doc["runs"]} == set(stored) and len(doc["runs"]) == 2
    for run in doc["runs"]:
        assert run["settings"] == stored[run["run_id"]]["config"]["run"]
        assert run["settings"]["seed"] == run["seed"] and run["protocol"] == "zero-shot"
        mine = {(s["language"], s["metric"]): s["value"] for s in scores if s["run_id"] == run["run_id"]}
        assert {(l, m): v for l, ms in run["scores"].items() for m, v in ms.items()} == mine
        assert run["train_seconds"] > 0 and run["dev_score"] is not None
    # XTREME-R: sib200 is not an XTREME-R task, so no aggregate; the per-language table has the seed means
    assert doc["xtreme"] == []
    (table,) = doc["tables"]
    (cond,) = table["conditions"]
    fra = [s["value"] for s in scores if s["language"] == "fra_Latn" and s["metric"] == "accuracy"]
    assert cond["languages"]["fra_Latn"]["mean"] == pytest.approx(sum(fra) / 2)
    assert cond["languages"]["fra_Latn"]["n_seeds"] == 2
    # families: fra and rus are Indo-European; the family mean is the mean of their accuracies (0-1)
    fam = doc["families"]["rows"]
    assert [r["family"] for r in fam] == ["Indo-European"] and fam[0]["languages"] == list(TARGETS)
    both = [s["value"] for s in scores if s["language"] in TARGETS and s["metric"] == "accuracy"]
    assert fam[0]["mean"] == pytest.approx(sum(both) / len(both))
    assert fam[0]["ci_low"] <= fam[0]["mean"] <= fam[0]["ci_high"] <= 1
    # stdout without -o is the same document
    assert main(["results", "--db", study["db"], "--study", "api-tiny", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == doc["runs"]


def test_provenance_is_carried_as_stored(study):
    doc = xlt.results_document(study["db"], "api-tiny", n_boot=200)
    assert all(r["provenance"]["libraries"]["torch"] for r in doc["runs"])  # every run stores its provenance
    store = Store(study["db"])
    rid = doc["runs"][0]["run_id"]
    from sqlalchemy import update

    from xlt.store.db import runs

    config = store.runs("api-tiny")
    config = next(r["config"] for r in config if r["run_id"] == rid)
    with store.engine.begin() as c:
        c.execute(update(runs).where(runs.c.run_id == rid).values(config={**config, "provenance": {"git": "abc"}}))
    doc = xlt.results_document(study["db"], "api-tiny", n_boot=200)
    assert next(r for r in doc["runs"] if r["run_id"] == rid)["provenance"] == {"git": "abc"}
    _validator().validate(doc)


def test_tasks_without_per_example_scores_get_a_note_not_a_family_row(study):
    import sqlite3

    copy_db = study["tmp"] / "no-examples.sqlite"
    with sqlite3.connect(study["db"]) as src, sqlite3.connect(copy_db) as dst:
        src.backup(dst)
        dst.execute("DELETE FROM example_scores")
    doc = xlt.results_document(str(copy_db), "api-tiny", n_boot=200)
    _validator().validate(doc)
    assert doc["families"]["rows"] == [] and len(doc["runs"]) == 2
    assert any("sib200: no per-example scores" in n for n in doc["notes"])


@pytest.mark.parametrize("breakage", [
    lambda d: d.pop("runs"),
    lambda d: d.update(units="x100"),
    lambda d: d["runs"][0]["scores"]["fra_Latn"].update(accuracy=87.5),  # points, not a fraction
    lambda d: d["runs"][0].update(seed="1"),
    lambda d: d["families"]["rows"][0].pop("ci_low"),
    lambda d: d.update(schema_version=2),
])
def test_a_broken_document_fails_validation(study, breakage):
    doc = xlt.results_document(study["db"], "api-tiny", n_boot=200)
    validator = _validator()
    validator.validate(doc)
    breakage(doc)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(doc)


def test_json_needs_a_study(study, capsys):
    assert main(["results", "--db", study["db"], "--format", "json"]) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert len(err) == 1 and err[0].startswith("xlt: error:") and "--study" in err[0]
    assert main(["results", "--db", study["db"], "--study", "nope", "--format", "json"]) == 2
    assert "api-tiny" in capsys.readouterr().err
