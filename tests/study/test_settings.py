"""Per-model and per-task training settings, the XTREME preset, and their place in the run identity."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
import yaml

from xlt.errors import ConfigError
from xlt.models.registry import ModelRef
from xlt.study import run as run_module
from xlt.study.config import TaskEntry, load_study, parse_study, to_dict
from xlt.study.presets import XTREME, preset_settings
from xlt.study.runner import Runner
from xlt.training.settings import TrainSettings, out_of_range

FIELDS = {f.name: f for f in dataclasses.fields(TrainSettings)}


@pytest.fixture
def fixed_weights(monkeypatch):
    """Run ids without resolving models (a hub commit would differ between machines)."""
    monkeypatch.setattr(run_module.Workspace, "ref", lambda self, name: ModelRef(name, name, "rev-fixed", "cls"))


def _study(text: str):
    return parse_study(yaml.safe_load(textwrap.dedent(text)), "s.yaml", textwrap.dedent(text))


def test_precedence_study_preset_model_task():
    cfg = _study("""\
        name: p
        preset: xtreme
        models: [mbert, {name: xlmr-large, train: {lr: 1.0e-5, eval_every: 7}}]
        tasks:
          - xnli
          - {name: udpos, train: {epochs: 2, eval_every: 3}}
        train: {max_train_examples: 500, dropout: 0.2}
        """)
    assert cfg.models == ["mbert", "xlmr-large"]
    xnli, udpos = cfg.tasks
    mbert_xnli = cfg.train_for("mbert", xnli)
    assert (mbert_xnli.lr, mbert_xnli.batch_size, mbert_xnli.grad_accum, mbert_xnli.epochs) == (2e-5, 8, 4, 5.0)
    assert mbert_xnli.max_train_examples == 500 and mbert_xnli.dropout == 0.2  # study keys the preset leaves
    large_xnli = cfg.train_for("xlmr-large", xnli)
    assert large_xnli.lr == 1e-5 and large_xnli.eval_every == 7  # model beats preset (3e-5, 100)
    assert large_xnli.batch_size == 2 and large_xnli.grad_accum == 16  # the preset's large branch
    large_udpos = cfg.train_for("xlmr-large", udpos)
    assert large_udpos.eval_every == 3 and large_udpos.epochs == 2.0  # task beats model and preset
    assert large_udpos.lr == 1e-5  # model beats preset where the task says nothing
    assert cfg.train_for("mbert", udpos).epochs == 2.0 and cfg.train_for("mbert", udpos).lr == 2e-5


def test_without_a_preset_study_then_model_then_task():
    cfg = _study("""\
        name: p
        models: [{name: mbert, train: {lr: 1.0e-4, epochs: 2}}, xlmr-base]
        tasks: [{name: sib200, train: {epochs: 1}}, digits-nli]
        train: {lr: 5.0e-5, epochs: 4}
        """)
    sib, digits = cfg.tasks
    assert (cfg.train_for("mbert", sib).lr, cfg.train_for("mbert", sib).epochs) == (1e-4, 1.0)
    assert (cfg.train_for("mbert", digits).lr, cfg.train_for("mbert", digits).epochs) == (1e-4, 2.0)
    assert cfg.train_for("xlmr-base", digits) == cfg.train  # nothing of its own: the study's settings
    assert cfg.train_for("xlmr-base", sib) == dataclasses.replace(cfg.train, epochs=1.0)
    assert to_dict(cfg)["tasks"][0]["train"] == {"epochs": 1.0} and "train" not in to_dict(cfg)["tasks"][1]


STUDY = """\
name: ids
models: [mbert, xlmr-base]
tasks: [digits-nli]
seeds: [1, 2]
intermediate: [none, text:digits-nli]
train: {epochs: 2, lr: 5.0e-5, max_length: 32, precision: fp32}
"""
# computed with this study on main before per-entry settings existed (commit 7374b89); the two
# text:digits-nli seed-2 ids were recomputed when stages became paired (stage seed = run seed: a
# different computation, so a different id by design)
MAIN_IDS = {("mbert", "none", 1): "99e9e42c3eb51aab", ("mbert", "none", 2): "be6146d5d578b533",
            ("mbert", "text:digits-nli", 1): "57b6d5f22e6efc66", ("mbert", "text:digits-nli", 2): "552aa3a43dd66389",
            ("xlmr-base", "none", 1): "70a13480570d1489", ("xlmr-base", "none", 2): "d6bf907157224796",
            ("xlmr-base", "text:digits-nli", 1): "f5a4daed6b624c10",
            ("xlmr-base", "text:digits-nli", 2): "6851c5249069a2ab"}


def _ids(text: str) -> dict:
    specs = Runner(parse_study(yaml.safe_load(text)), progress=False).specs()
    return {(s.model, s.intermediate, s.seed): s for s in specs}


def test_a_study_without_entry_settings_keeps_its_run_ids(fixed_weights):
    assert {k: s.run_id for k, s in _ids(STUDY).items()} == MAIN_IDS


def test_entry_settings_enter_the_identity_of_their_runs_only(fixed_weights):
    text = STUDY.replace("models: [mbert, xlmr-base]", "models: [mbert, {name: xlmr-base, train: {lr: 1.0e-4}}]")
    specs = _ids(text)
    for key, spec in specs.items():
        if key[0] == "mbert":
            assert spec.run_id == MAIN_IDS[key]
        else:
            assert spec.run_id != MAIN_IDS[key] and spec.train.lr == 1e-4 and spec.train.precision == "fp32"
            assert spec.identity()["train"]["lr"] == 1e-4
    # the same value written at the task level is the same run without a stage (identity = the merged
    # settings); with a stage it is another run: a model's settings reach its stage, a task's do not
    by_task = _ids(STUDY.replace("tasks: [digits-nli]", "tasks: [{name: digits-nli, train: {lr: 1.0e-4}}]"))
    for key, spec in by_task.items():
        if key[0] == "xlmr-base":
            assert (spec.run_id == specs[key].run_id) == (key[1] == "none")
            assert spec.train == specs[key].train


def test_one_stage_serves_every_task_whatever_their_own_settings(fixed_weights):
    text = STUDY.replace("tasks: [digits-nli]", "tasks: [{name: digits-nli, train: {lr: 1.0e-4, max_length: 48}}, "
                         "{name: cldr-names, train: {epochs: 1}}]")
    text = text.replace("models: [mbert, xlmr-base]", "models: [{name: mbert, train: {lr: 3.0e-5}}]")
    specs = Runner(parse_study(yaml.safe_load(text)), progress=False).specs()
    staged = [s for s in specs if s.intermediate != "none"]
    assert {s.task.name for s in staged} == {"digits-nli", "cldr-names"}
    for seed in (1, 2):  # one checkpoint per (condition, stage seed), not per task
        assert len({s.stage_key() for s in staged if s.seed == seed}) == 1
    assert all(s.stage_train.lr == 3e-5 and s.stage_train.max_length == 32 and s.stage_train.epochs == 2
               for s in staged)  # the study's and the model's settings, none of the tasks'
    assert all("stage_base" in s.identity() for s in staged) and not any("stage_base" in s.identity() for s in specs
                                                                            if s.intermediate == "none")


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    return str(exc.value)


def test_bad_entry_settings_name_file_and_line(tmp_path):
    msg = _error(tmp_path, """\
        name: x
        models: [mbert]
        tasks:
          - sib200
          - name: xnli
            train:
              epochs: 2
              lrr: 3.0e-5
        """)
    assert msg.startswith(f"{tmp_path / 's.yaml'}:8: unknown key 'lrr'; did you mean 'lr'?")
    msg = _error(tmp_path, """\
        name: x
        models:
          - mbert
          - name: xlmr-large
            train: {batch_size: 0}
        tasks: [sib200]
        """)
    assert msg == f"{tmp_path / 's.yaml'}:5: train.batch_size must be >= 1, got 0"
    msg = _error(tmp_path, "name: x\nmodels: [{name: mbert, train: {device: cpu}}]\ntasks: [sib200]\n")
    assert ":2: train.device belongs under runtime:" in msg
    msg = _error(tmp_path, "name: x\nmodels: [{name: mbert, lr: 1}]\ntasks: [sib200]\n")
    assert ":2: unknown key 'lr'" in msg
    msg = _error(tmp_path, "name: x\nmodels: [mbert]\ntasks: [sib200]\npreset: xtrem\n")
    assert msg == f"{tmp_path / 's.yaml'}:4: unknown preset 'xtrem' (valid: xtreme)"


def test_a_study_key_the_preset_overrides_is_an_error(tmp_path):
    msg = _error(tmp_path, "name: x\nmodels: [mbert]\ntasks: [sib200, xnli]\npreset: xtreme\ntrain:\n  epochs: 2\n")
    assert msg.startswith(f"{tmp_path / 's.yaml'}:6: train.epochs is set per model and task by preset 'xtreme' "
                          "(e.g. mbert on xnli)")
    # a key the preset sets for no run of the grid is the study's to set
    cfg = _study("name: x\nmodels: [mbert]\ntasks: [sib200, tatoeba]\npreset: xtreme\ntrain: {epochs: 2}\n")
    assert cfg.train_for("mbert", TaskEntry("sib200")).epochs == 2.0
    assert cfg.train_for("mbert", TaskEntry("tatoeba")).max_length == 512


# Transcribed from google-research/xtreme scripts/ (train_xnli.sh, train_xcopa.sh, train_udpos.sh,
# train_panx.sh, train_qa.sh, run_tatoeba.sh, train_mewslix.sh, train_lareqa.sh):
# task: (lr, epochs, max_length, batch, accumulation) for mBERT / XLM-R base, then XLM-R large
SCRIPTS = {
    "xnli": ((2e-5, 5, 128, 8, 4), (3e-5, 5, 128, 2, 16)),
    "xcopa": ((2e-5, 5, 128, 8, 4), (3e-5, 5, 128, 2, 16)),
    "udpos": ((2e-5, 10, 128, 8, 4), (2e-5, 10, 128, 2, 16)),
    "panx": ((2e-5, 10, 128, 8, 4), (2e-5, 10, 128, 2, 16)),
    "xquad": ((3e-5, 3, 384, 4, 8),) * 2, "mlqa": ((3e-5, 3, 384, 4, 8),) * 2, "tydiqa": ((3e-5, 3, 384, 4, 8),) * 2,
}


@pytest.mark.parametrize("task", sorted(SCRIPTS))
def test_xtreme_preset_matches_the_scripts(task):
    for model, row in zip(("mbert", "xlmr-large"), SCRIPTS[task]):
        s = preset_settings("xtreme", model, task)
        assert (s["lr"], s["epochs"], s["max_length"], s["batch_size"], s["grad_accum"]) == row, (model, task)
    assert preset_settings("xtreme", "xlmr-base", task) == preset_settings("xtreme", "mbert", task)
    assert preset_settings("xtreme", "FacebookAI/xlm-roberta-large", task) == \
        preset_settings("xtreme", "xlmr-large", task)


def test_xtreme_preset_cites_its_sources_and_is_valid():
    source = Path(__file__).parents[2].joinpath("src/xlt/study/presets.py").read_text(encoding="utf-8")
    for script in ("train_xnli.sh", "train_xcopa.sh", "train_udpos.sh", "train_panx.sh", "train_qa.sh",
                   "run_tatoeba.sh", "train_mewslix.sh", "train_lareqa.sh"):
        assert f"scripts/{script}" in source
    assert {t: preset_settings("xtreme", "mbert", t)["max_length"] for t in ("tatoeba", "mewslix", "lareqa")} == \
        {"tatoeba": 512, "mewslix": 64, "lareqa": 256}
    assert preset_settings("xtreme", "mbert", "sib200") == {}  # not an XTREME task: the study's settings
    for rows in XTREME.values():
        for row in rows:
            for key, value in row.items():
                assert not out_of_range(FIELDS[key], value), (key, value)
                assert isinstance(value, type(FIELDS[key].default)), (key, value)


def test_report_lists_each_model_x_task_settings_that_differ_from_defaults():
    import pandas as pd

    from xlt.report.document import Table
    from xlt.report.settings import differing, settings_blocks

    def run(model, task, status="done", **train):
        return {"model": model, "task": task, "status": status,
                "config": {"run": {"train": dataclasses.asdict(TrainSettings(precision="fp32", **train))}}}

    runs = pd.DataFrame([run("mbert", "xnli", lr=3e-5, epochs=5.0), run("xlmr-base", "xnli", lr=3e-5, epochs=5.0),
                         run("xlmr-large", "xnli", lr=1e-5, epochs=5.0, grad_accum=16),
                         run("mbert", "udpos"), run("xlmr-large", "udpos", status="failed", lr=9.0)])
    assert differing(TrainSettings(lr=3e-5)) == {"lr": 3e-5}
    [table] = settings_blocks(runs)
    assert isinstance(table, Table) and table.header == ["model(s)", "task", "settings"]
    assert table.rows == [["mbert", "udpos", "precision fp32"],  # defaults but the resolved precision
                          ["mbert, xlmr-base", "xnli", "epochs 5, lr 3e-05, precision fp32"],
                          ["xlmr-large", "xnli", "epochs 5, grad_accum 16, lr 1e-05, precision fp32"]]
    assert "lr 2e-05" in table.caption  # the defaults the table is read against
