"""What differs per task type: how examples become token ids, the head, the loss, and the scores.

Each type module defines one `TaskTypeAdapter` subclass; the training loop and the study runner
only talk to this interface, so adding a type never touches them.
"""

from __future__ import annotations

from xlt.errors import XltError
from xlt.tasks.spec import TaskType
from xlt.training.tasktypes.base import Scores, TaskTypeAdapter
from xlt.training.tasktypes.choice import ChoiceAdapter
from xlt.training.tasktypes.classification import ClassificationAdapter
from xlt.training.tasktypes.qa import QAAdapter
from xlt.training.tasktypes.retrieval import RetrievalAdapter
from xlt.training.tasktypes.tagging import TaggingAdapter

_ADAPTERS: dict[TaskType, type[TaskTypeAdapter]] = {
    TaskType.CLASSIFICATION: ClassificationAdapter,
    TaskType.MULTIPLE_CHOICE: ChoiceAdapter,
    TaskType.TAGGING: TaggingAdapter,
    TaskType.QA: QAAdapter,
    TaskType.RETRIEVAL: RetrievalAdapter,
}


def adapter_for(spec) -> TaskTypeAdapter:
    cls = _ADAPTERS.get(spec.type)
    if cls is None:
        raise XltError(f"task {spec.name}: fine-tuning for {spec.type.value} tasks is not available yet")
    return cls(spec)


__all__ = ["Scores", "TaskTypeAdapter", "adapter_for"]
