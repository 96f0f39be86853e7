"""Study files: YAML -> typed config; every mistake names the file and the line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from xlt.errors import ConfigError
from xlt.study.config import StudyConfig, TaskEntry, apply_overrides, load_study, parse_study, to_dict
from xlt.training.settings import Runtime, TrainSettings

VALID = """\
name: tiny
db: results/r.sqlite
models: [mbert, /models/local]
tasks:
  - sib200
  - {name: sib200, data_dir: /data/sib, languages: [fra_Latn, deu_Latn]}
  - name: sib200
    data_dir: /data/sib
    languages: available
seeds: [1, 2, 3]
methods: [finetune]
intermediate: [none]
train:
  epochs: 2
  lr: 2e-5
  batch_size: 16
  max_steps: 10
  freeze_embeddings: true
runtime:
  progress: false
  threads: 2
"""


def _write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_valid_study_parses_into_dataclasses(tmp_path):
    cfg = load_study(_write(tmp_path, VALID))
    assert isinstance(cfg, StudyConfig) and isinstance(cfg.train, TrainSettings) and isinstance(cfg.runtime, Runtime)
    assert cfg.name == "tiny"
    assert cfg.models == ["mbert", "/models/local"]
    assert cfg.tasks == [
        TaskEntry("sib200"),
        TaskEntry("sib200", "/data/sib", ("fra_Latn", "deu_Latn")),
        TaskEntry("sib200", "/data/sib", "available"),
    ]
    assert cfg.seeds == [1, 2, 3]
    assert cfg.methods == ["finetune"] and cfg.intermediate == ["none"]
    t = cfg.train
    assert t.epochs == 2.0 and isinstance(t.epochs, float)
    assert t.lr == pytest.approx(2e-5) and isinstance(t.lr, float)  # YAML reads 2e-5 as a string
    assert t.batch_size == 16 and isinstance(t.batch_size, int)
    assert t.max_steps == 10
    assert t.freeze_embeddings is True
    assert cfg.runtime == Runtime(progress=False, threads=2)
    assert t.weight_decay == TrainSettings().weight_decay  # untouched defaults
    assert cfg.db == "results/r.sqlite"
    # to_dict round-trips through parse_study
    d = to_dict(cfg)
    # a registered task carries no declaration keys (they would make it a declared task when read back)
    assert d["tasks"][1] == {"name": "sib200", "data_dir": "/data/sib", "languages": ("fra_Latn", "deu_Latn")}
    assert d["train"]["lr"] == pytest.approx(2e-5)


def test_defaults_for_optional_keys():
    cfg = parse_study({"name": "x", "models": "mbert", "tasks": "sib200"})
    assert cfg.models == ["mbert"] and cfg.tasks == [TaskEntry("sib200")]
    assert cfg.seeds == [1] and cfg.methods == ["finetune"] and cfg.intermediate == ["none"]
    assert cfg.train == TrainSettings() and cfg.runtime == Runtime() and cfg.method_settings == {}


def test_top_level_typo_names_file_line_and_suggestion(tmp_path):
    path = _write(tmp_path, "name: x\nmodels: [mbert]\ntasks: [sib200]\nsedes: [1, 2]\n")
    with pytest.raises(ConfigError) as err:
        load_study(path)
    msg = str(err.value)
    assert f"{path}:4:" in msg
    assert "did you mean 'seeds'" in msg
    assert "'sedes'" in msg


def test_train_typo_names_line(tmp_path):
    path = _write(tmp_path, "name: x\nmodels: [mbert]\ntasks: [sib200]\ntrain: {lrr: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert f"{path}:4:" in str(err.value)
    assert "did you mean 'lr'" in str(err.value)


def test_train_typo_in_block_mapping_names_its_own_line(tmp_path):
    path = _write(tmp_path, "name: x\nmodels: [mbert]\ntasks: [sib200]\ntrain:\n  epochs: 1\n  bacth_size: 8\n")
    with pytest.raises(ConfigError, match=r"study\.yaml:6: unknown key 'bacth_size'; did you mean 'batch_size'"):
        load_study(path)


@pytest.mark.parametrize("value", ["abc", "[1, 2]"])
def test_wrong_type_names_line_and_field(tmp_path, value):
    path = _write(tmp_path, f"name: x\nmodels: [mbert]\ntasks: [sib200]\ntrain:\n  lr: 1e-5\n  epochs: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_study(path)
    msg = str(err.value)
    assert f"{path}:6:" in msg
    assert "train.epochs must be float" in msg


@pytest.mark.parametrize("section,key,value,kind", [("train", "batch_size", "2.5", "int"),
                                                    ("train", "freeze_embeddings", "maybe", "bool"),
                                                    ("runtime", "progress", "maybe", "bool")])
def test_wrong_type_other_kinds(tmp_path, section, key, value, kind):
    path = _write(tmp_path, f"name: x\nmodels: [mbert]\ntasks: [sib200]\n{section}:\n  {key}: {value}\n")
    with pytest.raises(ConfigError, match=rf":5: {section}\.{key} must be {kind}"):
        load_study(path)


@pytest.mark.parametrize("section,key,value,hint", [("train", "device", "cpu", "belongs under runtime"),
                                                    ("runtime", "lr", "0.1", "belongs under train"),
                                                    ("train", "extra", "{epar: {}}", "method_settings")])
def test_a_setting_in_the_wrong_section_says_where_it_belongs(tmp_path, section, key, value, hint):
    path = _write(tmp_path, f"name: x\nmodels: [mbert]\ntasks: [sib200]\n{section}:\n  {key}: {value}\n")
    with pytest.raises(ConfigError, match=rf"study\.yaml:5: .*{hint}"):
        load_study(path)


def test_yaml_syntax_error_names_line(tmp_path):
    path = _write(tmp_path, "name: x\nmodels: [mbert\ntasks: [sib200]\nseeds: [1]\n")
    with pytest.raises(ConfigError) as err:
        load_study(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:")
    line = int(msg.split(":")[1])
    assert 2 <= line <= 4  # the unclosed flow sequence is detected a line or two later
    assert "invalid YAML" in msg


def test_seeds_must_be_integers(tmp_path):
    path = _write(tmp_path, "name: x\nmodels: [mbert]\ntasks: [sib200]\nseeds: [1, two]\n")
    with pytest.raises(ConfigError, match=r"study\.yaml:4: seeds must be integers"):
        load_study(path)


def test_missing_required_key_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="missing required key 'tasks'"):
        load_study(_write(tmp_path, "name: x\nmodels: [mbert]\n"))
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_study(_write(tmp_path, "- a\n- b\n", "list.yaml"))


def test_overrides_applied_with_types(tmp_path):
    path = _write(tmp_path, VALID)
    cfg = load_study(path, ["train.lr=3e-5", "seeds=[1,2]", "train.max_steps=7", "runtime.progress=true",
                            "train.head_lr=1e-3"])
    assert cfg.train.lr == pytest.approx(3e-5) and isinstance(cfg.train.lr, float)
    assert cfg.seeds == [1, 2]
    assert cfg.train.max_steps == 7 and isinstance(cfg.train.max_steps, int)
    assert cfg.runtime.progress is True
    assert cfg.train.head_lr == pytest.approx(1e-3)
    assert cfg.train.epochs == 2.0  # untouched values stay


def test_override_creates_missing_section():
    raw = apply_overrides({"name": "x", "models": ["m"], "tasks": ["sib200"]}, ["train.lr=0.1"])
    assert raw["train"] == {"lr": 0.1}


def test_override_errors(tmp_path):
    path = _write(tmp_path, VALID)
    with pytest.raises(ConfigError, match="not key=value"):
        load_study(path, ["train.lr"])
    with pytest.raises(ConfigError, match="did you mean 'lr'"):
        load_study(path, ["train.lrr=1"])
    with pytest.raises(ConfigError, match="'name' is not a mapping"):
        load_study(path, ["name.x=1"])
    with pytest.raises(ConfigError, match="train.epochs must be float"):
        load_study(path, ["train.epochs=abc"])


def test_override_into_empty_section(tmp_path):
    path = _write(tmp_path, "name: x\nmodels: [mbert]\ntasks: [sib200]\ntrain:\n")
    assert load_study(path).train == TrainSettings()  # the file alone is fine
    assert load_study(path, ["train.lr=3e-5"]).train.lr == pytest.approx(3e-5)


def test_override_on_empty_file_is_a_config_error(tmp_path):
    path = _write(tmp_path, "")
    with pytest.raises(ConfigError):
        load_study(path, ["seeds=[1]"])  # TypeError: 'NoneType' object does not support item assignment
    with pytest.raises(ConfigError):
        load_study(_write(tmp_path, "- a\n", "list.yaml"), ["train.lr=1"])  # AttributeError: setdefault


def test_unknown_method_and_intermediate(tmp_path):
    path = _write(tmp_path, "name: x\nmodels: [mbert]\ntasks: [sib200]\nmethods: [finetune, kinds]\n")
    with pytest.raises(ConfigError, match=r"study\.yaml:4: unknown method 'kinds'"):
        load_study(path)
    path = _write(tmp_path, "name: x\nmodels: [mbert]\ntasks: [sib200]\nintermediate: [mlm]\n", "b.yaml")
    with pytest.raises(ConfigError, match=r"b\.yaml:4: unknown intermediate condition 'mlm'"):
        load_study(path)


@pytest.mark.parametrize("key,value", [("pooling", "max"), ("precision", "fp8")])
def test_invalid_choice_values(key, value):
    with pytest.raises(ConfigError, match=f"train.{key} must be"):
        parse_study({"name": "x", "models": ["m"], "tasks": ["sib200"], "train": {key: value}})


def test_task_entry_errors(tmp_path):
    path = _write(tmp_path, "name: x\nmodels: [mbert]\ntasks:\n  - {name: sib200, data_dri: /x}\n")
    with pytest.raises(ConfigError, match=r"study\.yaml:3: unknown key 'data_dri'; did you mean 'data_dir'"):
        load_study(path)
    with pytest.raises(ConfigError, match="languages must be"):
        parse_study({"name": "x", "models": ["m"], "tasks": [{"name": "sib200", "languages": "some"}]})
    with pytest.raises(ConfigError, match="a task is a name or a mapping"):
        parse_study({"name": "x", "models": ["m"], "tasks": [{"data_dir": "/x"}]})


def test_relative_data_dir_resolved_against_study_folder(tmp_path, monkeypatch):
    sub = tmp_path / "studies"
    sub.mkdir()
    path = _write(sub, "name: x\nmodels: [mbert]\ntasks:\n  - {name: sib200, data_dir: ../data/sib}\n"
                       "  - {name: sib200, data_dir: /abs/sib}\n  - sib200\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # the shell's directory must not matter
    cfg = load_study(path)
    assert cfg.tasks[0].data_dir == str((tmp_path / "data" / "sib").resolve())
    assert cfg.tasks[1].data_dir == "/abs/sib"
    assert cfg.tasks[2].data_dir is None
    # also when the study file itself is given relative to the cwd
    monkeypatch.chdir(tmp_path)
    assert load_study(Path("studies/study.yaml")).tasks[0].data_dir == str((tmp_path / "data" / "sib").resolve())


def test_missing_study_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_study(tmp_path / "missing.yaml")
