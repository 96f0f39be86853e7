"""Task registry: importing a task module registers it (`@register`)."""

from xlt.tasks.base import (
    Answer, Candidate, ChoiceExample, Example, QAExample, RetrievalExample, TaggingExample, Task, all_specs,
    find_spec, get_task, register,
)
from xlt.tasks.spec import HubSource, TaskSpec, TaskType

from xlt.tasks import (  # noqa: E402,F401  (importing registers them)
    americasnli, cldr, digits, generic, lareqa, masakhaner, mewslix, mlqa, panx, sib200, snlive, tatoeba, tydiqa, udpos,
    xcopa, xnli, xquad,
)

__all__ = ["Answer", "Candidate", "ChoiceExample", "Example", "QAExample", "RetrievalExample", "TaggingExample",
           "HubSource", "Task", "TaskSpec", "TaskType", "all_specs", "find_spec", "get_task", "register"]
