"""What differs per task type: how examples become token ids, the head, the loss, and the scores.

Each type module defines one `TaskKind` subclass; the training loop and the study runner
only talk to this interface, so adding a type never touches them.
"""

from __future__ import annotations

from xlt.errors import XltError
from xlt.tasks.spec import TaskType
from xlt.training.kinds.base import EvalData, LanguageResult, Scores, TaskKind
from xlt.training.kinds.choice import ChoiceKind
from xlt.training.kinds.classification import ClassificationKind
from xlt.training.kinds.qa import QAKind
from xlt.training.kinds.retrieval import RetrievalKind
from xlt.training.kinds.tagging import TaggingKind

_KINDS: dict[TaskType, type[TaskKind]] = {
    TaskType.CLASSIFICATION: ClassificationKind,
    TaskType.MULTIPLE_CHOICE: ChoiceKind,
    TaskType.TAGGING: TaggingKind,
    TaskType.QA: QAKind,
    TaskType.RETRIEVAL: RetrievalKind,
}


def kind_for(spec) -> TaskKind:
    cls = _KINDS.get(spec.type)
    if cls is None:
        raise XltError(f"task {spec.name}: fine-tuning for {spec.type.value} tasks is not available yet")
    return cls(spec)


__all__ = ["EvalData", "LanguageResult", "Scores", "TaskKind", "kind_for"]
