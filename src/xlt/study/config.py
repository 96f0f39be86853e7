"""Study files: YAML -> typed, validated config, with `key=value` overrides from the command line.

    name: mbert-vs-xlmr
    db: xlt-results/results.sqlite        # or postgresql://user@host/db
    models: [mbert, xlmr-base]            # presets, hub ids or local directories
    tasks:
      - sib200                             # hub (pinned revision)
      - {name: sib200, data_dir: /data/sib-200, languages: available}
    seeds: [1, 2, 3]
    methods: [finetune]
    intermediate: [none]
    train: {epochs: 3, lr: 2e-5, batch_size: 32}       # what decides the numbers (the run's identity)
    method_settings: {epar: {push_norm: 0.25}}         # typed settings of the methods in use
    runtime: {device: auto, threads: 0}                # how it runs (never part of a run's identity)

Per-model and per-task settings: a model may be a mapping `{name: xlmr-large, train: {...}}` and a task
entry may carry `train: {...}`; `preset: xtreme` (top-level key, `xlt.study.presets`) fills in XTREME's
per-model x per-task fine-tuning settings. A run's settings are merged, later wins:

    TrainSettings defaults < study `train:` < preset (model x task) < model `train:` < task `train:`

Settings for one model on one task come only from the preset's table (a model's `train:` applies to all
its tasks, a task's to all models). A study `train:` key that the preset also sets for a run of the grid
is an error (it would be silently overridden): set it on a model or task entry instead. The merged
settings (precision resolved) are the run's `RunSpec.train`, hence in its identity; a study without
per-entry settings or preset resolves to exactly its `train:` (run ids unchanged).

Every mistake (unknown key, wrong type, unknown task/model) is reported with file and line.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xlt import trackers
from xlt.errors import ConfigError, DataError
from xlt.methods import METHODS, parse_method_settings  # the method registry names the valid methods
from xlt.methods.intermediate import parse_conditions
from xlt.tasks.formats import decode
from xlt.tasks.generic import KEYS as DECLARATION_KEYS, declared_entry
from xlt.training.settings import Runtime, TrainSettings, _s, check_device, out_of_range

# intermediate conditions (xlt.methods.intermediate.conditions): none, or kind:task, or a mapping with settings
INTERMEDIATE = ("none", "text:<task>", "multimodal:<task>", "multimodal-shuffled:<task>")


@dataclass(frozen=True)
class TaskEntry:
    name: str
    data_dir: str | None = None
    languages: tuple[str, ...] | str = "all"  # "all", "available" (files present) or explicit list
    # a task declared in the study file (xlt.tasks.generic); None/empty for registered tasks
    type: str | None = None
    source: tuple = ()  # (key, value) pairs: files pattern or hub id, columns
    fields: tuple = ()  # (xlt field, column) pairs
    source_language: str | None = None
    # the entry's own `train:` as sorted (key, value) pairs; not part of equality, so entries that differ
    # only in settings share their data (the settings reach each run through `StudyConfig.train_for`)
    train: tuple = field(default=(), compare=False)


@dataclass
class StudyConfig:
    name: str
    models: list[str]
    tasks: list[TaskEntry]
    seeds: list[int] = field(default_factory=lambda: [1])
    methods: list[str] = field(default_factory=lambda: ["finetune"])
    intermediate: list[str] = field(default_factory=lambda: ["none"])  # condition labels (run ids, DB)
    intermediate_setup: dict = field(default_factory=dict)  # label -> Condition (its settings); parsed, not a key
    train: TrainSettings = field(default_factory=TrainSettings)
    method_settings: dict = field(default_factory=dict)  # settings key (e.g. "epar") -> typed settings object
    runtime: Runtime = field(default_factory=Runtime)
    db: str = "xlt-results/results.sqlite"
    cache_dir: str | None = None  # converted models; default ~/.cache/xlt
    preset: str | None = None  # named per-model x per-task settings (xlt.study.presets)
    model_train: dict = field(default_factory=dict)  # model name -> its own `train:` (validated values)
    protocols: list[str] = field(default_factory=lambda: ["zero-shot"])  # transfer protocols (grid axis)
    few_shot: "FewShotSettings" = field(default_factory=lambda: FewShotSettings())  # few-shot:K phase settings

    def stage_train_for(self, model: str) -> TrainSettings:
        """What an intermediate stage of `model` inherits: the study's `train:` and the model's own, never a
        task's or the preset's per-task values, so one stage (per condition and seed) serves every task."""
        own = self.model_train.get(model, {})
        return dataclasses.replace(self.train, **own) if own else self.train

    def train_for(self, model: str, entry: TaskEntry) -> TrainSettings:
        """The settings a run of `model` on `entry` trains with (precedence in the module docstring)."""
        from xlt.study.presets import preset_settings

        layers = [preset_settings(self.preset, model, entry.name) if self.preset else {},
                  self.model_train.get(model, {}), dict(entry.train)]
        merged = {k: v for layer in layers for k, v in layer.items()}
        return dataclasses.replace(self.train, **merged) if merged else self.train


_TOP = {f.name for f in dataclasses.fields(StudyConfig)} - {"intermediate_setup", "model_train"}
_TRAIN = {f.name: f for f in dataclasses.fields(TrainSettings)}
_RUNTIME = {f.name: f for f in dataclasses.fields(Runtime)}


class _Where:
    """Where a key was written, for error messages: `file:line`, or the command-line override."""

    def __init__(self, path: str, text: str, overrides: dict[tuple, str] | None = None):
        self.path, self.lines, self.overrides = path, {}, overrides or {}
        try:
            node = yaml.compose(text)
        except yaml.YAMLError:
            node = None
        self._walk(node, ())

    def _walk(self, node, prefix):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = prefix + (str(k.value),)
                self.lines[key] = k.start_mark.line + 1
                self._walk(v, key)
        elif isinstance(node, yaml.SequenceNode):  # list items by index: tasks[2].train.lr
            for i, item in enumerate(node.value):
                self.lines[prefix + (i,)] = item.start_mark.line + 1
                self._walk(item, prefix + (i,))

    def __call__(self, *key) -> str:
        for n in range(len(key), 0, -1):  # an override of the key or of a section above it
            if key[:n] in self.overrides:
                return f"override {self.overrides[key[:n]]}"
        line = self.lines.get(tuple(key))
        return f"{self.path}:{line}" if line else self.path


def _unknown_key(key: str, valid, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, sorted(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint} (valid: {', '.join(sorted(valid))})")


def _as_list(value, key: str, where: str) -> list:
    """A grid axis as a list; an empty axis would make an empty grid (nothing to run)."""
    out = list(value) if isinstance(value, (list, tuple)) else [value]
    if value is None or not out:
        raise ConfigError(f"{where}: {key!r} is empty (the grid would have no runs)")
    return out


def _coerce(value, f: dataclasses.Field, where: str, section: str = "train"):
    """Check/convert a settings value to its declared type (YAML reads 2e-5 as a string)."""
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false", "1", "0", "yes", "no"):
                return str(value).lower() in ("true", "1", "yes")
            raise ValueError
        if kind == "int":
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if kind == "float":
            return float(value)
        if kind == "str":
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {section}.{f.name} must be {kind}, got {value!r}") from None
    return value


def parse_study(raw: Any, path: str = "<study>", text: str = "", overrides: dict[tuple, str] | None = None
                ) -> StudyConfig:
    """A validated study; `overrides` maps overridden key paths to the `key=value` that set them."""
    where = _Where(path, text, overrides)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a study file must be a YAML mapping (name:, models:, tasks:, ...)")
    for key in raw:
        if key not in _TOP:
            raise _unknown_key(str(key), _TOP, where(str(key)))
    for required in ("name", "models", "tasks"):
        if required not in raw:
            raise ConfigError(f"{path}: missing required key {required!r}")
    train = _section(raw, "train", _TRAIN, where)
    runtime = _section(raw, "runtime", _RUNTIME, where)
    tasks = [_task_entry(t, where("tasks")) for t in _as_list(raw["tasks"], "tasks", where("tasks"))]
    tasks = _entries_train(tasks, raw["tasks"], where)
    _check_declarations(tasks, where("tasks"))
    models, model_train = _models(_as_list(raw["models"], "models", where("models")), where)
    seeds = _as_list(raw.get("seeds", [1]), "seeds", where("seeds"))
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"{where('seeds')}: seeds must be integers >= 0, got {seeds}")
    conditions = parse_conditions(_as_list(raw.get("intermediate", ["none"]), "intermediate", where("intermediate")),
                                  where("intermediate"), Path(path).parent if Path(path).is_file() else None)
    cfg = StudyConfig(
        name=str(raw["name"]),
        models=models,
        tasks=tasks,
        seeds=seeds,
        methods=[str(m) for m in _as_list(raw.get("methods", ["finetune"]), "methods", where("methods"))],
        intermediate=list(conditions),
        intermediate_setup=conditions,
        train=TrainSettings(**train),
        runtime=Runtime(**runtime),
        db=str(raw.get("db") or "xlt-results/results.sqlite"),
        cache_dir=raw.get("cache_dir"),
        preset=_preset(raw.get("preset"), where),
        model_train=model_train,
    )
    _check_preset(cfg, train, where)
    cfg.protocols, cfg.few_shot = parse_protocols(raw, where)
    for m in cfg.methods:
        if m not in METHODS:
            raise ConfigError(f"{where('methods')}: unknown method {m!r} (valid: {', '.join(METHODS)})")
    raw_methods = raw.get("method_settings") or {}
    if not isinstance(raw_methods, dict):
        raise ConfigError(f"{where('method_settings')}: 'method_settings' must be a mapping (e.g. epar: {{...}})")
    cfg.method_settings = parse_method_settings(cfg.methods, raw_methods, lambda *key: where("method_settings", *key))
    problem = check_device(cfg.runtime.device)
    if problem:
        raise ConfigError(f"{where('runtime', 'device')}: runtime.device={cfg.runtime.device!r} {problem}")
    if problem := trackers.check(cfg.runtime.trackers):
        raise ConfigError(f"{where('runtime', 'trackers')}: runtime.trackers: {problem}")
    return cfg


def _section(raw: dict, name: str, fields: dict, where: _Where) -> dict:
    """The typed values of a settings section (`train:` or `runtime:`); a key of the other section
    gets a pointer to where it belongs."""
    section = raw.get(name) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where(name)}: {name!r} must be a mapping of settings")
    other = {"train": ("runtime", _RUNTIME), "runtime": ("train", _TRAIN)}[name]
    out = {}
    for key, value in section.items():
        if key == "extra" and name == "train":
            raise ConfigError(f"{where(name, 'extra')}: train.extra is gone: write method settings under "
                              "method_settings: (e.g. method_settings: {epar: {push_norm: 0.25}})")
        if key not in fields:
            if key in other[1]:
                raise ConfigError(f"{where(name, str(key))}: {name}.{key} belongs under {other[0]}: "
                                  f"({other[0]}.{key})")
            raise _unknown_key(str(key), fields, where(name, str(key)))
        out[key] = _coerce(value, fields[key], where(name, str(key)), name)
        problem = out_of_range(fields[key], out[key])
        if problem:
            raise ConfigError(f"{where(name, str(key))}: {name}.{key} {problem}, got {value!r}")
    return out


def _task_entry(item, where: str) -> TaskEntry:
    if isinstance(item, str):
        return TaskEntry(item)
    if not isinstance(item, dict) or "name" not in item:
        raise ConfigError(f"{where}: a task is a name or a mapping with 'name' (got {item!r})")
    valid = {"name", "data_dir", "languages", "train", *DECLARATION_KEYS}
    for key in item:
        if key not in valid:
            raise _unknown_key(str(key), valid, where)
    langs = item.get("languages", "all")
    if isinstance(langs, list):
        if not langs:
            raise ConfigError(f"{where}: task {item['name']!r}: languages is an empty list "
                              "(use 'all', 'available' or name the languages)")
        langs = tuple(str(x) for x in langs)
    elif langs not in ("all", "available"):
        raise ConfigError(f"{where}: languages must be 'all', 'available' or a list, got {langs!r}")
    data_dir = item.get("data_dir")
    entry = TaskEntry(str(item["name"]), str(data_dir) if data_dir else None, langs)
    return declared_entry(entry, item, where) if DECLARATION_KEYS & set(item) else entry


def _entry_train(item, where) -> tuple:
    """A model or task entry's own `train:` as sorted (key, value) pairs, validated like the study's;
    `where(*key)` locates keys below the entry."""
    if not isinstance(item, dict) or item.get("train") is None:
        return ()
    return tuple(sorted(_section(item, "train", _TRAIN, where).items()))


def _check_declarations(tasks: list[TaskEntry], where: str) -> None:
    """One declaration per declared task name: the registry (and every stored run) knows a name by it."""
    seen: dict[str, tuple] = {}
    for t in tasks:
        if t.type is not None:
            decl = (t.type, t.source, t.fields, t.source_language)
            if seen.setdefault(t.name, decl) != decl:
                raise ConfigError(f"{where}: task {t.name!r} is declared twice with different type, source, fields "
                                  "or source_language (give each declaration its own name)")


def _entries_train(tasks: list[TaskEntry], raw_tasks, where: _Where) -> list[TaskEntry]:
    """Each task entry with its own `train:` (errors name the entry's `tasks[i].train.key` line)."""
    items = raw_tasks if isinstance(raw_tasks, list) else [raw_tasks]
    return [dataclasses.replace(t, train=_entry_train(item, lambda *key, i=i: where("tasks", i, *key)))
            for i, (t, item) in enumerate(zip(tasks, items))]


def _models(items: list, where: _Where) -> tuple[list[str], dict]:
    """`models:` items: a name, or `{name: ..., train: {...}}` -> (names, name -> its own settings)."""
    names, own = [], {}
    for i, item in enumerate(items):
        if isinstance(item, dict):
            if "name" not in item:
                raise ConfigError(f"{where('models', i)}: a model is a name or a mapping with 'name' "
                                  f"(got {item!r})")
            for key in item:
                if key not in ("name", "train"):
                    raise _unknown_key(str(key), {"name", "train"}, where("models", i, str(key)))
            name = str(item["name"])
            settings = dict(_entry_train(item, lambda *key, i=i: where("models", i, *key)))
            if name in own and own[name] != settings:
                raise ConfigError(f"{where('models', i)}: model {name!r} is listed twice with different "
                                  "train settings")
            own[name] = settings
        else:
            name = str(item)
        names.append(name)
    return names, {k: v for k, v in own.items() if v}


def _preset(name, where: _Where) -> str | None:
    from xlt.study.presets import PRESETS

    if name is None:
        return None
    if name not in PRESETS:
        raise ConfigError(f"{where('preset')}: unknown preset {name!r} (valid: {', '.join(sorted(PRESETS))})")
    return str(name)


def _check_preset(cfg: StudyConfig, study_train: dict, where: _Where) -> None:
    """A study-wide `train:` key that the preset sets for some run would be overridden without a word."""
    from xlt.study.presets import preset_settings

    if not cfg.preset:
        return
    for key in study_train:
        hit = next(((m, t.name) for m in cfg.models for t in cfg.tasks
                    if key in preset_settings(cfg.preset, m, t.name)), None)
        if hit:
            raise ConfigError(f"{where('train', key)}: train.{key} is set per model and task by preset "
                              f"{cfg.preset!r} (e.g. {hit[0]} on {hit[1]}), which overrides the study's "
                              f"train: set it in a model's or task's own train: instead")


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """`train.lr=3e-5 seeds=[1,2]`: dotted keys, YAML values."""
    for item in overrides:
        if not isinstance(raw, dict):
            raise ConfigError(f"override {item!r}: the study file is not a YAML mapping")
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value (e.g. train.lr=3e-5)")
        key, value = item.split("=", 1)
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if node.get(part) is None:  # absent, or written as an empty section (`train:`)
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a mapping")
        try:
            node[parts[-1]] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: invalid value ({exc.problem})") from None
    return raw


def load_study(path: str | Path, overrides: list[str] = ()) -> StudyConfig:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a study file (give the .yaml file)")
    if not path.is_file():
        raise ConfigError(f"study file {path} not found")
    text = _read_text(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a study file must be a YAML mapping (name:, models:, tasks:, ...)")
    raw = apply_overrides(raw, list(overrides))
    cfg = parse_study(raw, str(path), text, override_keys(overrides))
    # a relative data_dir is relative to the study file; a relative db to the working directory
    # (the packaged demo study must not write into site-packages)
    base = path.parent
    cfg.tasks = [
        dataclasses.replace(t, data_dir=str((base / t.data_dir).resolve()))
        if t.data_dir and not Path(t.data_dir).expanduser().is_absolute() else t
        for t in cfg.tasks
    ]
    return cfg


def _read_text(path: Path) -> str:
    """The file as text, decoded as every data reader decodes (a BOM is fine; bad bytes name line and column)."""
    try:
        return decode(path.read_bytes(), path)
    except DataError as exc:
        raise ConfigError(str(exc)) from None


def override_keys(overrides) -> dict[tuple, str]:
    """Key path -> the `key=value` override that set it (errors then blame the override, not the file)."""
    return {tuple(item.split("=", 1)[0].strip().split(".")): item for item in overrides if "=" in item}


def to_dict(cfg: StudyConfig) -> dict:
    d = dataclasses.asdict(cfg)
    d["tasks"] = [dataclasses.asdict(t) for t in cfg.tasks]
    for t in d["tasks"]:  # per-entry settings as a mapping, and only where given (as written in YAML)
        if t.get("train") == ():
            del t["train"]
        elif "train" in t:
            t["train"] = dict(t["train"])
        if t.get("type") is None:  # a registered task: no declaration keys (they would make it one)
            for key in DECLARATION_KEYS:
                t.pop(key, None)
    for key in ("preset", "model_train"):
        if not d[key]:
            del d[key]
    return d


# -- transfer protocols (the `protocols:` axis; xlt.study.protocols runs them) ----------------------
PROTOCOLS = ("zero-shot", "few-shot:<K>", "translate-train")


@dataclass(frozen=True)
class FewShotSettings:
    """The few-shot phase (YAML `few_shot:`): after English fine-tuning, training continues on K target
    examples with these settings (the run's other `train:` settings stay: head_lr, weight_decay, warmup_ratio,
    max_length, ...; max_steps, eval_every and max_train_examples apply to the English phase only).
    Defaults follow the few-shot literature's practice of many epochs over a handful of examples
    (Lauscher et al. 2020; Zhao et al. 2021: batch 32, lr 1e-5..7e-5, up to 50 epochs); selection is
    on English dev after every epoch, since the target dev stays unused. Part of few-shot runs' identity."""

    epochs: float = _s(10.0, 0, above=True)
    lr: float = _s(2e-5, 0, above=True)
    batch_size: int = _s(32, 1)


_FEW_SHOT = {f.name: f for f in dataclasses.fields(FewShotSettings)}


def protocol_k(label: str) -> int:
    """K of a `few-shot:K` label; 0 for the other protocols."""
    return int(label.split(":", 1)[1]) if label.startswith("few-shot:") else 0


def parse_protocols(raw: dict, where: _Where) -> tuple[list[str], FewShotSettings]:
    """`protocols:` (canonical labels, checked) and the `few_shot:` settings."""
    out = []
    for item in _as_list(raw.get("protocols", ["zero-shot"]), "protocols", where("protocols")):
        text = str(item).strip().replace(" ", "")
        k = text.split(":", 1)[1] if text.startswith("few-shot:") else None
        if k is not None and k.isdigit() and int(k) > 0:
            text = f"few-shot:{int(k)}"
        elif text not in ("zero-shot", "translate-train"):
            close = difflib.get_close_matches(text.split(":")[0], ["zero-shot", "few-shot", "translate-train"], n=1)
            hint = f"; did you mean {close[0]!r}{' with :K' if close == ['few-shot'] else ''}?" if close else ""
            raise ConfigError(f"{where('protocols')}: unknown protocol {item!r}{hint} "
                              f"(valid: {', '.join(PROTOCOLS)}, K a positive integer)")
        out.append(text)
    section = raw.get("few_shot") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where('few_shot')}: 'few_shot' must be a mapping (epochs, lr, batch_size)")
    values = {}
    for key, value in section.items():
        if key not in _FEW_SHOT:
            raise _unknown_key(str(key), _FEW_SHOT, where("few_shot", str(key)))
        values[key] = _coerce(value, _FEW_SHOT[key], where("few_shot", str(key)), "few_shot")
        if problem := out_of_range(_FEW_SHOT[key], values[key]):
            raise ConfigError(f"{where('few_shot', str(key))}: few_shot.{key} {problem}, got {value!r}")
    return list(dict.fromkeys(out)), FewShotSettings(**values)
