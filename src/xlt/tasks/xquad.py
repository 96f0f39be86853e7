"""XQuAD: extractive QA, 1190 questions on 240 SQuAD v1.1 dev paragraphs, professionally translated.

Zero-shot setup (XTREME): train on SQuAD v1.1 train, select on SQuAD v1.1 dev (English), test on
`xquad.<lang>.json` (parallel: the same 1190 question ids in every language). Local layouts, below
`data_dir`:
- flat: `xquad.<lang>.json` (github.com/deepmind/xquad) and, for train/dev, `train-v1.1.json` /
  `dev-v1.1.json` (rajpurkar.github.io/SQuAD-explorer);
- XTREME's `download/` folder (scripts/download_data.sh): `xquad/xquad.<lang>.json` and
  `squad/{train,dev}-v1.1.json`. Note that script blanks the XQuAD answers; the reader refuses them.
"""

from __future__ import annotations

from xlt.tasks.base import QAExample, Task, register
from xlt.tasks.hub import load_hub_split
from xlt.tasks.spec import HubSource, TaskSpec, TaskType
from xlt.tasks.squad import SQUAD_HUB, find_file, qa_from_hub, read_squad, require_english, squad_file

_LANGS = ("en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi", "ro")
_SQUAD = "SQuAD v1.1"


def _test_names(language: str) -> tuple[str, str]:
    return f"xquad.{language}.json", f"xquad/xquad.{language}.json"


@register
class XQuAD(Task):
    spec = TaskSpec(
        name="xquad",
        type=TaskType.QA,
        description="Extractive QA on 240 SQuAD dev paragraphs translated into 11 languages (1190 questions each)",
        languages=_LANGS,
        source_language="en",
        metrics=("squad_f1", "squad_em"),
        main_metric="squad_f1",
        version="1.0",
        category="question answering",
        train_source="SQuAD v1.1 train (87,599 questions); dev = SQuAD v1.1 dev (10,570)",
        # Test split only ("validation" on the hub); pinned by mteb's XQuADRetrieval task.
        # train/dev come from squad.SQUAD_HUB.
        hub=HubSource("google/xquad", revision="51adfef1c1287aab1d2d91b5bead9bcfb9c68583", config="xquad.{lang}"),
        local_format="<dir>/xquad.<lang>.json + <dir>/{train,dev}-v1.1.json, or XTREME's <dir>/xquad/, <dir>/squad/",
        license="CC BY-SA 4.0 (XQuAD, SQuAD)",
        citation="Artetxe, Ruder, Yogatama 2020, On the Cross-lingual Transferability of Monolingual Representations",
    )

    def available_languages(self, split: str = "test") -> list[str]:
        if self.data_dir is None:
            return list(self.spec.languages) if split == "test" else ["en"]
        if split != "test":
            names = (n for n in (f"{split}-v1.1.json", f"squad/{split}-v1.1.json"))
            return ["en"] if any((self.data_dir / n).is_file() for n in names) else []
        return [l for l in self.spec.languages if any((self.data_dir / n).is_file() for n in _test_names(l))]

    def load_local(self, split: str, language: str) -> list[QAExample]:
        if split != "test":
            require_english(self.name, split, language, _SQUAD)
            return read_squad(squad_file(self.data_dir, split))
        return read_squad(find_file(self.data_dir, _test_names(language), f"XQuAD {language}"))

    def load_hub(self, split: str, language: str) -> list[QAExample]:
        if split == "test":
            return super().load_hub(split, language)
        require_english(self.name, split, language, _SQUAD)
        rows = load_hub_split(SQUAD_HUB, split, language, self.hub_split_name)
        return [qa_from_hub(r, f"{SQUAD_HUB.dataset}[{split}]#{i}") for i, r in enumerate(rows)]

    def hub_split_name(self, split: str) -> str:
        return "train" if split == "train" else "validation"  # XQuAD's only hub split is "validation"

    def from_hub_record(self, record: dict, origin: str) -> QAExample:
        return qa_from_hub(record, origin)
