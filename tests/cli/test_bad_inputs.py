"""A catalogue of bad inputs through the real CLI: each gives exit code 2, exactly one stderr line
naming the file:line, key or value, no traceback, and leaves the results database byte for byte as
it was (and creates none where there was none)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from xlt.cli.main import main

from tests.sib_fixture import SOURCE, rows, write_split, write_tiny_sib200

TRAIN = {"max_steps": 2, "batch_size": 8, "lr": 5e-3, "pooling": "mean", "max_length": 32, "precision": "fp32"}
RUNTIME = {"progress": False, "device": "cpu", "threads": 1}


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_bert):
    """A valid study with one finished run in its database, and what the probes vary."""
    root = tmp_path_factory.mktemp("bad")
    sib = write_tiny_sib200(root / "sib", n=14)
    db = root / "db" / "r.sqlite"
    raw = {"name": "good", "models": [str(tiny_bert)], "db": str(db), "seeds": [1],
           "tasks": [{"name": "sib200", "data_dir": str(sib), "languages": "available"}],
           "train": TRAIN, "runtime": RUNTIME}
    study = root / "good.yaml"
    study.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    assert main(["-q", "study", str(study)]) == 0
    (root / "a-file").write_text("x")
    (root / "not-a-db.sqlite").write_text("hello, not SQLite\n")
    return {"root": root, "raw": raw, "db": db, "sib": sib, "study": study, "model": tiny_bert}


def _digest(folder: Path) -> dict[str, str]:
    """Every database file below `folder` by content, after moving the write-ahead log into it (a
    reader may touch SQLite's shared-memory index, which holds no data)."""
    for db in folder.glob("*.sqlite"):
        with sqlite3.connect(db) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(("-shm", "-wal"))}


def _study(world, tmp_path: Path, change=None, text: str | None = None, name="s.yaml") -> str:
    """A study file: the good one with `change(raw)` applied, or the literal `text`."""
    path = tmp_path / name
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return str(path)
    raw = yaml.safe_load(yaml.safe_dump(world["raw"]))
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return str(path)


def _set(*path, value):
    def change(raw):
        node = raw
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return change


def _drop(key):
    return lambda raw: raw.pop(key)


# (probe id, how to build the argv, what the one line must contain)
SETTINGS = [
    ("batch-size-0", _set("train", "batch_size", value=0), "train.batch_size must be >= 1"),
    ("batch-size-negative", _set("train", "batch_size", value=-4), "train.batch_size must be >= 1"),
    ("batch-size-float", _set("train", "batch_size", value=2.5), "train.batch_size must be int"),
    ("lr-zero", _set("train", "lr", value=0), "train.lr must be > 0"),
    ("lr-negative", _set("train", "lr", value=-1e-5), "train.lr must be > 0"),
    ("lr-text", _set("train", "lr", value="fast"), "train.lr must be float"),
    ("head-lr-negative", _set("train", "head_lr", value=-1), "train.head_lr must be >= 0"),
    ("grad-accum-0", _set("train", "grad_accum", value=0), "train.grad_accum must be >= 1"),
    ("max-steps-negative", _set("train", "max_steps", value=-1), "train.max_steps must be >= 0"),
    ("epochs-0", _set("train", "epochs", value=0), "train.epochs must be > 0"),
    ("dropout-above-1", _set("train", "dropout", value=1.5), "train.dropout must be between 0 and 0.99"),
    ("dropout-negative", _set("train", "dropout", value=-0.1), "train.dropout must be between"),
    ("max-length-0", _set("train", "max_length", value=0), "train.max_length must be between"),
    ("warmup-negative", _set("train", "warmup_ratio", value=-0.1), "train.warmup_ratio must be between 0 and 1"),
    ("warmup-above-1", _set("train", "warmup_ratio", value=2), "train.warmup_ratio must be between 0 and 1"),
    ("weight-decay-negative", _set("train", "weight_decay", value=-1), "train.weight_decay must be >= 0"),
    ("grad-norm-negative", _set("train", "max_grad_norm", value=-1), "train.max_grad_norm must be >= 0"),
    ("eval-every-negative", _set("train", "eval_every", value=-3), "train.eval_every must be >= 0"),
    ("max-train-negative", _set("train", "max_train_examples", value=-5), "train.max_train_examples must be >= 0"),
    ("pooling-unknown", _set("train", "pooling", value="max"), "train.pooling must be one of auto, cls, mean"),
    ("precision-unknown", _set("train", "precision", value="fp8"), "train.precision must be one of"),
    ("precision-fp16-on-cpu", _set("train", "precision", value="fp16"), "precision fp16: cpu autocast fp16 is not a"),
    ("freeze-not-bool", _set("train", "freeze_embeddings", value="maybe"), "train.freeze_embeddings must be bool"),
    ("train-typo", _set("train", "lrr", value=0.1), "unknown key 'lrr'; did you mean 'lr'?"),
    ("train-not-mapping", _set("train", value=[1, 2]), "'train' must be a mapping"),
    ("runtime-key-in-train", _set("train", "device", value="cpu"), "train.device belongs under runtime"),
    ("train-key-in-runtime", _set("runtime", "lr", value=0.1), "runtime.lr belongs under train"),
    ("train-extra-gone", _set("train", "extra", value={"epar": {}}), "method_settings"),
    ("device-cuda-absent", _set("runtime", "device", value="cuda"), "asks for a CUDA GPU"),
    ("device-unknown", _set("runtime", "device", value="tpu"), "runtime.device='tpu' must be auto, cpu, cuda"),
    ("threads-negative", _set("runtime", "threads", value=-1), "runtime.threads must be >= 0"),
    ("eval-batch-0", _set("runtime", "eval_max_batch", value=0), "runtime.eval_max_batch must be >= 1"),
    ("eval-tokens-0", _set("runtime", "eval_max_tokens", value=0), "runtime.eval_max_tokens must be >= 1"),
]
GRID = [
    ("seeds-empty", _set("seeds", value=[]), "'seeds' is empty"),
    ("seeds-negative", _set("seeds", value=[-1]), "seeds must be integers >= 0"),
    ("seeds-text", _set("seeds", value=[1, "two"]), "seeds must be integers"),
    ("models-empty", _set("models", value=[]), "'models' is empty"),
    ("tasks-empty", _set("tasks", value=[]), "'tasks' is empty"),
    ("methods-empty", _set("methods", value=[]), "'methods' is empty"),
    ("method-unknown", _set("methods", value=["finetune", "epar-fast"]), "unknown method 'epar-fast'"),
    ("intermediate-empty", _set("intermediate", value=[]), "'intermediate' is empty"),
    ("intermediate-unknown", _set("intermediate", value=["mlm"]), "unknown intermediate condition 'mlm'"),
    ("epar-gold-weight", lambda r: r.update(methods=["epar"], method_settings={"epar": {"gold_weight": 3}}),
     "method_settings.epar.gold_weight must be between 0 and 1"),
    ("epar-typo", lambda r: r.update(methods=["epar"], method_settings={"epar": {"push_nrom": 1}}),
     "did you mean 'push_norm'"),
    ("method-settings-unknown", _set("method_settings", value={"adapters": {}}), "no method has settings 'adapters'"),
    ("method-settings-not-mapping", _set("method_settings", value=[1]), "'method_settings' must be a mapping"),
    ("top-level-typo", _set("sedes", value=[1]), "unknown key 'sedes'; did you mean 'seeds'?"),
    ("name-missing", _drop("name"), "missing required key 'name'"),
    ("models-missing", _drop("models"), "missing required key 'models'"),
    ("task-unknown", lambda r: r.update(tasks=["sib300"]), "unknown task 'sib300'"),
    ("task-not-mapping", lambda r: r.update(tasks=[[1, 2]]), "a task is a name or a mapping"),
    ("task-key-typo", lambda r: r["tasks"][0].update(langauges="all"), "unknown key 'langauges'"),
    ("languages-empty", lambda r: r["tasks"][0].update(languages=[]), "languages is an empty list"),
    ("languages-word", lambda r: r["tasks"][0].update(languages="some"), "languages must be 'all', 'available'"),
    ("language-unknown", lambda r: r["tasks"][0].update(languages=["tlh_Latn"]), "unknown language(s) ['tlh_Latn']"),
    ("data-dir-missing", lambda r: r["tasks"][0].update(data_dir="/no/such/folder"), "/no/such/folder"),
    ("model-preset-typo", _set("models", value=["mbrt"]), "unknown model 'mbrt'; did you mean 'mbert'?"),
    ("model-dir-missing", _set("models", value=["/no/such/model"]), "model directory '/no/such/model' does not exist"),
]
FILES = [
    ("study-not-mapping", "- a\n- b\n", "must be a YAML mapping"),
    ("study-yaml-syntax", "name: x\nmodels: [m\ntasks: [sib200]\n", "invalid YAML"),
    ("study-empty", "", "must be a YAML mapping"),
    ("study-not-utf8", b"name: caf\xe9\nmodels: [mbert]\ntasks: [sib200]\n", "s.yaml:1: not UTF-8 (byte 0xe9 at column 10)"),
]


def _check(capsys, argv: list[str], expected: str, db_folder: Path) -> None:
    before = _digest(db_folder)
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (argv, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("xlt: error: ") and expected in lines[0], (expected, lines[0])
    assert _digest(db_folder) == before  # nothing written, nothing created


@pytest.mark.parametrize("probe,change,expected", SETTINGS + GRID, ids=[p[0] for p in SETTINGS + GRID])
def test_bad_study_settings(world, tmp_path, capsys, probe, change, expected):
    path = _study(world, tmp_path, change)
    _check(capsys, ["-q", "study", path], expected, world["db"].parent)


@pytest.mark.parametrize("probe,text,expected", FILES, ids=[p[0] for p in FILES])
def test_bad_study_files(world, tmp_path, capsys, probe, text, expected):
    _check(capsys, ["-q", "study", _study(world, tmp_path, text=text)], expected, world["db"].parent)


def _data_copy(world, tmp_path: Path) -> Path:
    copy = tmp_path / "sib"
    shutil.copytree(world["sib"], copy)
    return copy


def _with_data(world, tmp_path, data: Path) -> str:
    return _study(world, tmp_path, lambda r: r["tasks"][0].update(data_dir=str(data)))


def test_a_test_label_english_training_lacks(world, tmp_path, capsys):
    data = _data_copy(world, tmp_path)
    write_split(data / SOURCE / "train.tsv", [r for r in rows(SOURCE, 14) if r[1] != "travel"])
    write_split(data / SOURCE / "dev.tsv", [r for r in rows(SOURCE, 14, start=1000) if r[1] != "travel"])
    _check(capsys, ["-q", "study", _with_data(world, tmp_path, data)],
           "does not occur in the English training data", world["db"].parent)


def test_a_data_dir_that_is_a_file(world, tmp_path, capsys):
    path = _study(world, tmp_path, lambda r: r["tasks"][0].update(data_dir=str(world["root"] / "a-file")))
    _check(capsys, ["-q", "study", path], "a-file", world["db"].parent)


def test_a_malformed_tsv_line(world, tmp_path, capsys):
    data = _data_copy(world, tmp_path)
    with (data / "fra_Latn" / "test.tsv").open("a", encoding="utf-8") as fh:
        fh.write("99\tsports\n")  # two fields of three
    _check(capsys, ["-q", "study", _with_data(world, tmp_path, data)],
           f"{data / 'fra_Latn' / 'test.tsv'}:", world["db"].parent)


CLI = [
    ("workers-0", lambda w, t: ["-q", "study", str(w["study"]), "--workers", "0"], "--workers must be at least 1"),
    ("workers-text", lambda w, t: ["-q", "study", str(w["study"]), "--workers", "two"], "invalid int value"),
    ("override-not-kv", lambda w, t: ["-q", "study", str(w["study"]), "lr"], "override 'lr' is not key=value"),
    ("override-range", lambda w, t: ["-q", "study", str(w["study"]), "train.lr=-1"],
     "override train.lr=-1: train.lr must be > 0"),
    ("override-yaml", lambda w, t: ["-q", "study", str(w["study"]), "seeds=[1"], "override 'seeds=[1'"),
    ("override-into-scalar", lambda w, t: ["-q", "study", str(w["study"]), "name.x=1"], "'name' is not a mapping"),
    ("override-typo", lambda w, t: ["-q", "study", str(w["study"]), "train.lrr=1"], "override train.lrr=1: unknown key"),
    ("study-missing", lambda w, t: ["-q", "study", str(t / "nope.yaml")], "not found"),
    ("study-is-dir", lambda w, t: ["-q", "study", str(t)], "is a directory, not a study file"),
    ("validate-bad", lambda w, t: ["validate", str(w["study"]), "train.batch_size=0"], "train.batch_size must be >= 1"),
    ("unknown-command", lambda w, t: ["frobnicate"], "invalid choice: 'frobnicate'"),
    ("results-format", lambda w, t: ["results", "--db", str(w["db"]), "--format", "xml"], "invalid choice: 'xml'"),
    ("results-no-db", lambda w, t: ["results", "--db", str(t / "none.sqlite")], "no results database at"),
    ("results-not-a-db", lambda w, t: ["results", "--db", str(w["root"] / "not-a-db.sqlite")],
     "is not a SQLite database"),
    ("results-db-is-dir", lambda w, t: ["results", "--db", str(w["root"])], "is a directory, not a file"),
    ("results-db-under-file", lambda w, t: ["results", "--db", str(w["root"] / "a-file" / "r.sqlite")],
     "no results database at"),
    ("study-db-not-a-db", lambda w, t: ["-q", "study", str(w["study"]), "--db", str(w["root"] / "not-a-db.sqlite")],
     "is not a SQLite database"),
    ("study-db-is-dir", lambda w, t: ["-q", "study", str(w["study"]), "--db", str(t)], "is a directory, not a file"),
    ("study-db-under-file", lambda w, t: ["-q", "study", str(w["study"]), "--db", str(w["root"] / "a-file" / "r.sqlite")],
     "is a file, not a directory"),
    ("results-out-is-dir", lambda w, t: ["results", "--db", str(w["db"]), "-o", str(t)], "is a directory"),
    ("results-out-under-file", lambda w, t: ["results", "--db", str(w["db"]), "-o", str(w["root"] / "a-file" / "x.md")],
     "is a file, not a directory"),
    ("report-out-is-file", lambda w, t: ["report", "--db", str(w["db"]), "--study", "good", "-o",
                                         str(w["root"] / "a-file")], "output folder"),
    ("report-n-boot-0", lambda w, t: ["report", "--db", str(w["db"]), "--study", "good", "--n-boot", "0"],
     "must be at least 1"),
    ("families-n-boot-0", lambda w, t: ["families", "--db", str(w["db"]), "--study", "good", "--n-boot", "0"],
     "must be at least 1"),
    ("families-no-study-arg", lambda w, t: ["families", "--db", str(w["db"])], "--study"),
    ("export-out-under-file", lambda w, t: ["export", "--db", str(w["db"]), "--study", "good", "--model", "m", "-o",
                                            str(w["root"] / "a-file" / "out")], "is a file, not a directory"),
    ("export-no-model", lambda w, t: ["export", "--db", str(w["db"]), "--study", "good", "-o", str(t)], "--model"),
]


@pytest.mark.parametrize("probe,argv,expected", CLI, ids=[p[0] for p in CLI])
def test_bad_command_lines(world, tmp_path, capsys, probe, argv, expected):
    _check(capsys, argv(world, tmp_path), expected, world["db"].parent)


def test_the_catalogue_is_large():
    assert len(SETTINGS) + len(GRID) + len(FILES) + len(CLI) + 3 > 70


def test_valid_but_unusual_study_files_still_work(world, tmp_path, capsys):
    """A BOM and CRLF line ends are fine in a study file."""
    text = yaml.safe_dump(world["raw"], sort_keys=False).replace("\n", "\r\n")
    path = _study(world, tmp_path, text="\ufeff" + text)
    assert main(["validate", path]) == 0
    assert "valid" in capsys.readouterr().out
