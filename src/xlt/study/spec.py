"""One run of a study as one typed object: what it computes, and its identity.

`RunSpec` holds everything that decides a run's numbers — model and the content identity of its
weights, task entry with its resolved languages, task version and the hash of the data files it reads, seed, method with its typed settings, intermediate condition, and the
training settings with `precision` resolved to what this hardware runs — and nothing else. Its hash
is the run id (the results DB key); the intermediate checkpoint a run starts from is keyed by the
parts of the same object (`stage_key`), so no cache can disagree with the run id about what counts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

from xlt.methods.intermediate.conditions import stage_identity
from xlt.study.config import TaskEntry
from xlt.training.settings import TrainSettings


@dataclass(frozen=True)
class RunSpec:
    study: str
    model: str
    weights: str  # content identity of the model: hub commit, local files' hash, or package version
    task: TaskEntry
    data: str  # sha256 of the bytes of every file the run reads (or the pinned hub/embedded source)
    languages: tuple[str, ...]  # resolved (`available` re-runs when files are added)
    task_version: str
    seed: int
    method: str
    method_settings: object | None  # the method's typed settings (None: it has none)
    intermediate: str  # condition label; a label with settings carries their digest
    stage_seed: int | None  # seed of the intermediate stage (None: no stage)
    train: TrainSettings  # precision resolved (bf16 | fp32)
    # what an intermediate stage inherits (the study's and the model's `train:`, precision resolved) when it
    # differs from `train` (a task's or the preset's per-task settings): one stage then serves every task
    stage_base: TrainSettings | None = None
    protocol: str = "zero-shot"  # transfer protocol label (xlt.study.protocols): few-shot:K, translate-train
    target: str | None = None  # the one target language a non-zero-shot run trains on and is scored on
    protocol_settings: object | None = None  # few-shot:K: the few-shot phase's settings (FewShotSettings)

    def identity(self) -> dict:
        # the data's content, not its folder, identifies it: a moved or copied benchmark reruns nothing
        task = {"name": self.task.name, "languages": list(self.languages)}
        settings = dataclasses.asdict(self.method_settings) if self.method_settings is not None else None
        ident = {
            "model": self.model, "weights": self.weights, "task": task, "data": self.data, "task_version": self.task_version, "seed": self.seed,
            "method": self.method, "method_settings": settings, "intermediate": self.intermediate,
            "stage_seed": self.stage_seed, "train": dataclasses.asdict(self.train),
        }
        if self.stage_base is not None and self.intermediate != "none":  # absent where it equals `train`: old ids stay
            ident["stage_base"] = dataclasses.asdict(self.stage_base)
        return ident | stage_identity(self.intermediate) | self.protocol_identity()

    @cached_property
    def run_id(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def stage_key(self) -> tuple | None:
        """Runs with equal keys start from one intermediate checkpoint (None: no intermediate stage).
        The stage sees the model, the condition, the settings it inherits and its own seed."""
        if self.intermediate == "none":
            return None
        return (self.model, self.intermediate, self.stage_seed, self.stage_train)

    @property
    def stage_train(self) -> TrainSettings:
        """The settings an intermediate stage inherits (the condition's stage settings apply on top)."""
        return self.stage_base or self.train

    def protocol_identity(self) -> dict:
        """The protocol's part of the identity: empty for zero-shot, so zero-shot run ids are those of
        studies written before protocols existed."""
        if self.protocol == "zero-shot":
            return {}
        settings = dataclasses.asdict(self.protocol_settings) if self.protocol_settings is not None else None
        return {"protocol": self.protocol, "target": self.target, "protocol_settings": settings}
