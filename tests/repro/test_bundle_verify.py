"""`xlt bundle` and `xlt verify` on the tiny study: what the bundle holds, identical numbers when re-executed
on the same machine and versions, a clear failure for edited scores, one line for a bad file."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tarfile
from pathlib import Path

import pytest
import yaml

from xlt.cli.main import main
from xlt.repro.bundle import FORMAT, sha256
from xlt.repro.verify import choose
from xlt.store.db import Store
from xlt.study.config import load_study

from tests.repro.conftest import write_study


@pytest.fixture(scope="module")
def bundle(tiny_study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "new" / "repro-tiny.tar.gz"  # a folder not there yet
    assert main(["-q", "bundle", "--db", tiny_study["db"], "--study", "repro-tiny", "-o", str(out)]) == 0
    return out


def _extract(bundle: Path, dest: Path) -> Path:
    with tarfile.open(bundle) as tar:
        tar.extractall(dest, filter="data")
    return dest / "repro-tiny"


def _repack(root: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    return out


def _one_error_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_the_bundle_holds_what_a_reviewer_needs(bundle, tiny_study, tmp_path):
    root = _extract(bundle, tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["format"] == FORMAT and manifest["study"] == "repro-tiny" and manifest["runs"] == 4
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == files
    assert all(sha256(root / f) == d for f, d in manifest["files"].items())
    assert {"README.md", "study.yaml", "environment.txt", "fingerprints.json", "results.json", "results.sqlite",
            "report/report.md"} <= files
    stored = {r["run_id"]: r for r in Store(tiny_study["db"]).runs("repro-tiny")}
    assert {f"runs/{rid}.json" for rid in stored} == {f for f in files if f.startswith("runs/")}
    # the study as run parses back to the same runs
    from xlt.study.runner import Runner

    again = load_study(root / "study.yaml")
    assert {r.run_id for r in Runner(again, progress=False).validate()} == set(stored)
    # per run: resolved settings, provenance, the saved model's path
    rid = next(iter(stored))
    run = json.loads((root / "runs" / f"{rid}.json").read_text())
    assert run["run"] == stored[rid]["config"]["run"] and run["provenance"]["libraries"]["torch"]
    assert run["saved_model"]["path"] == Store(tiny_study["db"]).saved_models()[rid]["path"]
    import torch

    assert f"torch=={torch.__version__}" in (root / "environment.txt").read_text().splitlines()
    fp = json.loads((root / "fingerprints.json").read_text())
    assert fp["data"]["sib200"]["fingerprint"] == [stored[rid]["config"]["run"]["data"]]
    assert set(fp["models"]) == set(tiny_study["models"])
    # the DB rows: exactly the study's, readable by every xlt reader
    db = Store(str(root / "results.sqlite"), read_only=True)
    assert {r["run_id"] for r in db.runs("repro-tiny")} == set(stored)
    assert sorted(map(str, db.score_rows("repro-tiny"))) == sorted(map(str, Store(tiny_study["db"]).score_rows("repro-tiny")))
    assert db.saved_models() == Store(tiny_study["db"]).saved_models()
    doc = json.loads((root / "results.json").read_text())
    assert doc["study"] == "repro-tiny" and len(doc["runs"]) == 4
    assert "xlt verify repro-tiny.tar.gz" in (root / "README.md").read_text()


def test_results_json_in_the_bundle_validates(bundle, tmp_path):
    """Also with 2 seeds, where the family intervals' Student-t seed term (1 df) takes a bound outside [0, 1]."""
    jsonschema = pytest.importorskip("jsonschema")
    import xlt

    doc = json.loads((_extract(bundle, tmp_path) / "results.json").read_text())
    jsonschema.Draft202012Validator(xlt.api.schema()).validate(doc)
    assert any(not 0 <= r["ci_low"] <= r["ci_high"] <= 1 for r in doc["families"]["rows"])


def test_choice_covers_every_combination_first():
    runs = [{"model": m, "method": "finetune", "intermediate": i, "task": "t", "seed": s, "run_id": f"{m}{i}{s}"}
            for m in ("b", "a") for i in ("none", "text:x") for s in (2, 1)]
    four = choose(runs, 4)
    assert {(r["model"], r["intermediate"]) for r in four} == {(m, i) for m in "ab" for i in ("none", "text:x")}
    assert all(r["seed"] == 1 for r in four)
    assert choose(runs, None) == four and choose(runs, 2) == four[:2]
    assert [r["run_id"] for r in choose(runs, 6)][4:] == ["anone2", "atext:x2"]
    assert len(choose(runs, 100)) == 8
    assert choose(list(reversed(runs)), 5) == choose(runs, 5)  # the bundle's order does not matter


def test_verify_re_executes_and_finds_identical_numbers(bundle, capsys):
    assert main(["-q", "verify", str(bundle), "--runs", "2", "--tolerance", "0"]) == 0
    out = capsys.readouterr().out
    assert "2 of 4 run(s) re-executed" in out
    rows = [l for l in out.splitlines() if l.endswith("identical")]
    assert len(rows) == 2 and {r.split()[1] for r in rows} == {str(p) for p in _models(bundle)}
    assert out.count("same library versions, xlt commit, device, CPU and threads") == 2
    assert "verified: 2 identical, 0 within tolerance" in out


def _models(bundle: Path) -> set:
    with tarfile.open(bundle) as tar:
        raw = yaml.safe_load(tar.extractfile("repro-tiny/study.yaml"))
    return set(raw["models"])


def test_edited_scores_fail_with_a_table_and_one_line(bundle, tmp_path, capsys):
    root = _extract(bundle, tmp_path / "x")
    with sqlite3.connect(root / "results.sqlite") as c:
        # a seed-1 run: verify's default choice is each model's lowest seed
        rid, lang = c.execute("SELECT s.run_id, s.language FROM scores s JOIN runs r ON r.run_id = s.run_id "
                              "WHERE s.split='test' AND r.seed=1 ORDER BY s.run_id, s.language LIMIT 1").fetchone()
        c.execute("UPDATE scores SET value = value + 0.02 WHERE run_id=? AND language=? AND split='test'", (rid, lang))
        # and pretend the run was made under another torch: the table names it as a possible cause
        config = json.loads(c.execute("SELECT config FROM runs WHERE run_id=?", (rid,)).fetchone()[0])
        config["provenance"]["libraries"]["torch"] = "1.0.0"
        c.execute("UPDATE runs SET config=? WHERE run_id=?", (json.dumps(config), rid))
    c.close()
    edited = _repack(root, tmp_path / "edited.tar.gz")
    assert main(["-q", "verify", str(edited)]) == 1
    captured = capsys.readouterr()
    assert "note: results.sqlite was changed after bundling" in captured.out
    line = next(l for l in captured.out.splitlines() if l.startswith(rid))
    assert line.endswith("differs") and " 2.00 " in line
    assert f"largest difference: {lang} test" in captured.out
    assert "torch 1.0.0 (bundle)" in captured.out
    err = _one_error_line(captured.err)
    assert err.startswith("xlt: verify failed: 1 of 2 re-executed run(s) differ beyond 0.5 points") and rid in err
    # a tolerance that covers the edit passes, saying the numbers are not identical
    assert main(["-q", "verify", str(edited), "--tolerance", "2.5"]) == 0
    assert "verified: 1 identical, 1 within tolerance" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"not a tar file at all", b"\x1f\x8b\x08\x00garbage", b""])
def test_not_a_bundle_is_one_line(tmp_path, capsys, content):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(content)
    assert main(["verify", str(bad)]) == 2
    assert "is not an xlt bundle" in _one_error_line(capsys.readouterr().err)


def test_bundle_problems_are_one_line(bundle, tmp_path, capsys):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    _repack(tmp_path / "other", tmp_path / "plain.tar.gz")
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    for path, words in ((tmp_path / "plain.tar.gz", "no <study>/manifest.json"),
                        (truncated, "is not an xlt bundle"), (tmp_path / "missing.tar.gz", "not found")):
        assert main(["verify", str(path)]) == 2
        assert words in _one_error_line(capsys.readouterr().err)
    assert main(["verify", str(bundle), "--runs", "0"]) == 2
    assert "--runs" in _one_error_line(capsys.readouterr().err)
    assert main(["verify", str(bundle), "--data-dir", "sib200"]) == 2
    assert "TASK=PATH" in _one_error_line(capsys.readouterr().err)
    assert main(["bundle", "--db", str(tmp_path / "none.sqlite"), "--study", "x"]) == 2
    assert "no results database" in _one_error_line(capsys.readouterr().err)


def test_missing_data_names_the_path_and_data_dir_overrides_it(tiny_study, tiny_bert, tmp_path, capsys):
    data = shutil.copytree(tiny_study["data"], tmp_path / "sib-copy")
    path = write_study(tmp_path, [tiny_bert], data, name="repro-moved", seeds=(1,))
    assert main(["-q", "study", str(path)]) == 0
    out = tmp_path / "moved.tar.gz"
    assert main(["-q", "bundle", "--db", str(tmp_path / "r.sqlite"), "--study", "repro-moved", "-o", str(out)]) == 0
    data.rename(tmp_path / "elsewhere")  # the reviewer's machine keeps the data somewhere else
    capsys.readouterr()
    assert main(["-q", "verify", str(out)]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert str(data) in err and "--data-dir sib200=PATH" in err
    # the data's content identifies it, not its folder: same run id, identical numbers
    db = tmp_path / "verify.sqlite"
    assert main(["-q", "verify", str(out), "--data-dir", f"sib200={tmp_path / 'elsewhere'}", "--db", str(db)]) == 0
    assert "verified: 1 identical" in capsys.readouterr().out
    assert len(Store(str(db)).runs("repro-moved")) == 1  # --db keeps the re-executed run
    assert main(["-q", "verify", str(out), "--data-dir", f"sib200={tmp_path / 'elsewhere'}", "--db", str(db)]) == 2
    assert "already holds run" in _one_error_line(capsys.readouterr().err)
    # other data under the same path: another run, whatever its scores (one test sentence reworded)
    test = tmp_path / "elsewhere" / "fra_Latn" / "test.tsv"
    test.write_text(test.read_text().replace("Le ", "La ", 1))
    assert main(["-q", "verify", str(out), "--data-dir", f"sib200={tmp_path / 'elsewhere'}"]) == 1
    captured = capsys.readouterr()
    assert "the task's data files differ from the ones the run read" in captured.out
    assert captured.out.split("\n")[2].endswith("differs") and "verify failed" in _one_error_line(captured.err)


def test_study_ends_by_naming_the_next_commands(tiny_study, capsys):
    assert main(["-q", "study", str(tiny_study["path"])]) == 0  # all done: nothing runs
    out = capsys.readouterr().out.splitlines()
    db = tiny_study["db"]
    assert out[-4:] == ["next:", f"  xlt families --study repro-tiny --db {db}",
                        f"  xlt report --study repro-tiny --db {db} -o repro-tiny-report",
                        f"  xlt bundle --study repro-tiny --db {db} -o repro-tiny.tar.gz"]


def test_next_commands_leave_out_the_default_db():
    from xlt.cli.main import DEFAULT_DB, next_commands

    text = next_commands("demo", DEFAULT_DB)
    assert "--db" not in text and "xlt bundle --study demo -o demo.tar.gz" in text
    assert "'my study'" in next_commands("my study", DEFAULT_DB)
