"""Intermediate conditions in study files: parsing, validation, labels and the stage's settings.

    intermediate:
      - none
      - text:digits-nli                                  # any trainable registered task
      - multimodal:digits-ve                             # image + text
      - multimodal-shuffled:digits-ve                    # same pipeline, images permuted
      - {condition: text:xnli, data_dir: /data/xnli}     # mapping form: data and stage settings
      - {condition: multimodal:snli-ve, data_dir: /data/snli-ve, features: /data/flickr30k-clip.safetensors,
         steps: 2000, fusion: late}

Controlled comparison by construction: a *stage* setting (steps, lr, batch_size, fusion, ...) given on
any condition applies to every condition of the study, and two different values are an error; a *data*
setting (data_dir, features, images, vision_model) applies to every condition of the same task (so
multimodal:X and multimodal-shuffled:X read the same images). Stage settings not given come from the
study's `train:` section and the model's own `train:` (steps = train.max_steps, else train.epochs; lr,
head_lr, batch_size, grad_accum, weight_decay, max_length, freeze_embeddings, ...) or the defaults below,
never from a task's own `train:` or a preset's per-task values: one stage serves every task of the study.

Stage seeds (`stage_seed:`, a stage setting): `paired` (default) trains one stage per target seed, with
the target run's seed, so stage s and target run s form one seed unit and the study's CIs include the
stage's variance; `shared` trains one stage (with `seed:`, default 1) that every target seed starts
from: cheap for exploration, but the CIs then cover the target fine-tuning's variance only. The run's
identity holds the resolved stage seed (`RunSpec.stage_seed`), so both policies give the same run id
where they give the same stage (target seed 1 and shared seed 1).

Projector lr (`projector_lr:`, multimodal only): the lr of the image projector, the only new weights
between the input and the encoder; default: the encoder's `lr` (not the head's `head_lr`, which would
let the image side adapt ~30x faster than the text it is compared with). The text twin's counterpart
is its word-embedding table (trained at `lr`, or frozen with `freeze_embeddings`): both map the
premise into the encoder's input space; the classifier heads of both train at `head_lr`.

Labels: a condition is stored as `kind:task`; when any setting is given it becomes `kind:task@<8 hex>`,
a digest of those settings, so the run id (which includes the label) changes whenever they do
(`stage_seed` excepted: the run id holds the seed it resolves to).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from xlt.errors import ConfigError, XltError
from xlt.training.settings import TrainSettings

KINDS = ("text", "multimodal", "multimodal-shuffled")
MULTIMODAL_KINDS = ("multimodal", "multimodal-shuffled")

# stage settings: name -> type, or a tuple of allowed values; None defaults come from `train:`
STAGE_TYPES: dict = {"steps": int, "epochs": float, "batch_size": int, "lr": float, "head_lr": float,
                     "warmup_ratio": float, "grad_accum": int, "weight_decay": float, "max_length": int, "dropout": float, "freeze_embeddings": bool,
                     "seed": int, "stage_seed": ("paired", "shared"), "projector_lr": float,
                     "fusion": ("prefix", "late"), "prefix_tokens": int, "image_tokens": ("pooled", "patches")}
STAGE_DEFAULTS = {"seed": 1, "stage_seed": "paired", "fusion": "prefix", "prefix_tokens": 4,
                  "image_tokens": "pooled"}
MULTIMODAL_ONLY = {"fusion", "prefix_tokens", "image_tokens", "projector_lr"}
_POSITIVE = {"epochs", "batch_size", "grad_accum", "max_length", "prefix_tokens", "projector_lr"}
_NOT_IN_LABEL = {"stage_seed"}  # the run id holds the stage seed it resolves to
STAGE_FORMAT = 2  # 2: the projector trains at projector_lr (default lr), 1: at head_lr
DATA_KEYS = ("data_dir", "images", "features", "vision_model")
_PATH_KEYS = ("data_dir", "images", "features")


@dataclass
class Condition:
    """One intermediate condition: `kind` (none | text | multimodal | multimodal-shuffled), its task,
    its data settings and the study's shared stage settings (only what was given explicitly)."""

    kind: str
    task: str = ""
    data: dict = field(default_factory=dict)
    stage: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.kind == "none":
            return "none"
        stage = {k: v for k, v in self.stage.items() if k not in _NOT_IN_LABEL}
        given = {"data": self.data, "stage": stage}
        if not self.data and not stage:
            return f"{self.kind}:{self.task}"
        digest = hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.kind}:{self.task}@{digest}"

    @property
    def multimodal(self) -> bool:
        return self.kind in MULTIMODAL_KINDS

    def setting(self, name: str):
        """A stage setting as given, else its default (None: take it from the study's `train:`)."""
        return self.stage.get(name, STAGE_DEFAULTS.get(name))

    def stage_seed(self, run_seed: int) -> int | None:
        """The seed of the stage a run with `run_seed` starts from (None: no stage): the run's own
        seed (`stage_seed: paired`, the default) or the one shared stage's `seed`."""
        if self.kind == "none":
            return None
        return self.setting("seed") if self.setting("stage_seed") == "shared" else run_seed

    def projector_lr(self, train: TrainSettings) -> float | None:
        """The image projector's lr in a stage trained with `train` (None: no projector)."""
        if not self.multimodal:
            return None
        return self.setting("projector_lr") or stage_settings(self, train).lr


def stage_identity(label: str) -> dict:
    """What a run's identity holds beyond its label about how the condition's stage trains: the
    multimodal stage's format (runs computed with the projector at head_lr get other ids)."""
    kind = label.partition(":")[0]
    return {"stage_format": STAGE_FORMAT} if kind in MULTIMODAL_KINDS else {}


def stage_settings(cond: Condition, train: TrainSettings) -> TrainSettings:
    """The stage's TrainSettings: the study's `train:` with the stage settings applied.

    The stage selects on its own task's English dev set (evaluated every epoch, or at the end when
    `steps` is shorter than an epoch); `max_train_examples` applies to the target task only.
    """
    names = {"steps": "max_steps", **{k: k for k in ("epochs", "batch_size", "lr", "head_lr", "warmup_ratio",
                                                     "grad_accum", "weight_decay", "max_length", "dropout", "freeze_embeddings")}}
    changes = {field: cond.setting(k) for k, field in names.items() if cond.setting(k) is not None}
    return dataclasses.replace(train, **changes, max_train_examples=0)


def parse_conditions(items: list, where: str, base_dir: Path | None = None) -> dict[str, Condition]:
    """The study's `intermediate:` list -> {label: Condition}, in the order given."""
    parsed, stage, data = [], {}, {}
    for item in items:
        kind, task, settings = _item(item, where)
        for key, value in settings.items():
            if key in DATA_KEYS:
                if key in _PATH_KEYS and base_dir is not None and not Path(value).expanduser().is_absolute():
                    value = str((base_dir / value).resolve())  # relative to the study file
                _merge(data.setdefault(task, {}), key, value, f"{where}: task {task!r}")
            else:
                _merge(stage, key, value, f"{where}: intermediate stage setting")
        parsed.append((kind, task))
    if "seed" in stage and stage.get("stage_seed") != "shared":
        raise ConfigError(f"{where}: intermediate setting seed: {stage['seed']} sets the one shared stage's seed; "
                          "add stage_seed: shared (with the default stage_seed: paired each target seed's stage "
                          "uses that seed)")
    out: dict[str, Condition] = {}
    for kind, task in parsed:
        if kind == "none":
            cond = Condition("none")
        else:
            own = {k: v for k, v in stage.items() if kind in MULTIMODAL_KINDS or k not in MULTIMODAL_ONLY}
            cond = Condition(kind, task, dict(data.get(task, {})), own)
            _check_task(cond, where)
        out.setdefault(cond.label, cond)
    return out


def condition_from_label(label: str) -> Condition:
    """A condition written as a plain string (`text:xnli`); labels with a digest need their study."""
    if "@" in label:
        raise ConfigError(f"intermediate condition {label!r} has settings: take it from the parsed study "
                          "(StudyConfig.intermediate_setup)")
    kind, task, _ = _item(label, "intermediate")
    return Condition(kind, task)


def _item(item, where: str) -> tuple[str, str, dict]:
    settings = {}
    if isinstance(item, dict):
        if "condition" not in item:
            raise ConfigError(f"{where}: a mapping in 'intermediate' needs 'condition' (e.g. text:xnli), "
                              f"got {item!r}")
        valid = {"condition", *STAGE_TYPES, *DATA_KEYS}
        for key, value in item.items():
            if key == "per_seed":
                raise ConfigError(f"{where}: intermediate setting per_seed was replaced by stage_seed: paired "
                                  "(the default; stage_seed: shared trains one stage for every target seed)")
            if key not in valid:
                raise ConfigError(f"{where}: unknown intermediate setting {key!r} "
                                  f"(valid: {', '.join(sorted(valid))})")
            if key != "condition":
                settings[key] = _coerce(key, value, where)
        item = item["condition"]
    text = str(item).strip()
    if text == "none":
        if settings:
            raise ConfigError(f"{where}: condition 'none' takes no settings")
        return "none", "", settings
    kind, sep, task = text.partition(":")
    if not sep or kind not in KINDS or not task:
        raise ConfigError(f"{where}: unknown intermediate condition {text!r} (valid: none, text:<task>, "
                          "multimodal:<task>, multimodal-shuffled:<task>)")
    return kind, task.strip(), settings


def _coerce(key: str, value, where: str):
    kind = STAGE_TYPES.get(key, str)
    try:
        if isinstance(kind, tuple):
            if value not in kind:
                raise ValueError
            return value
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind is int:
            if isinstance(value, bool) or float(value) != int(float(value)) or int(float(value)) < (key in _POSITIVE):
                raise ValueError
            return int(float(value))
        if kind is float:
            if isinstance(value, bool) or float(value) < 0 or (key in _POSITIVE and float(value) == 0):
                raise ValueError
            return float(value)
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        return value.strip()
    except (TypeError, ValueError):
        sign = "positive" if key in _POSITIVE else "non-negative"
        want = " | ".join(kind) if isinstance(kind, tuple) else f"a {sign} {kind.__name__}"
        raise ConfigError(f"{where}: intermediate setting {key} must be {want}, got {value!r}") from None


def _merge(into: dict, key: str, value, what: str) -> None:
    if key in into and into[key] != value:
        raise ConfigError(f"{what} {key} is given twice with different values ({into[key]!r} vs {value!r}); "
                          "conditions share their settings so the comparison stays controlled")
    into[key] = value


def _check_task(cond: Condition, where: str) -> None:
    from xlt.methods.intermediate.data import MULTIMODAL_TASKS
    from xlt.tasks import all_specs
    from xlt.training.kinds import kind_for

    if cond.multimodal:
        cls = MULTIMODAL_TASKS.get(cond.task)
        if cls is None:
            raise ConfigError(f"{where}: unknown multimodal task {cond.task!r} "
                              f"(valid: {', '.join(sorted(MULTIMODAL_TASKS))})")
        problem = cls.check_settings(cond.data)
        if problem:
            raise ConfigError(f"{where}: {cond.label}: {problem}")
        return
    extra = [k for k in cond.data if k != "data_dir"]
    if extra:
        raise ConfigError(f"{where}: text:{cond.task} takes no image settings ({', '.join(extra)})")
    specs = {s.name: s for s in all_specs()}
    if cond.task not in specs:
        hint = (f"; {cond.task} is multimodal: use multimodal:{cond.task}" if cond.task in MULTIMODAL_TASKS
                else "")
        raise ConfigError(f"{where}: unknown task {cond.task!r} for text:<task>{hint} "
                          f"(valid: {', '.join(sorted(specs))})")
    try:
        trains = kind_for(specs[cond.task]).trains
    except XltError as exc:  # a task type without a training kind
        raise ConfigError(f"{where}: text:{cond.task}: {exc}") from None
    if not trains:
        raise ConfigError(f"{where}: text:{cond.task} is a retrieval task: it has nothing to train an "
                          "intermediate stage on")
