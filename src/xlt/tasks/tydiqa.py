"""TyDiQA-GoldP: extractive QA given the gold passage, 9 typologically diverse languages.

Zero-shot setup (XTREME): train on the English GoldP train set, test on the GoldP dev set (TyDiQA's
test set is hidden). There is no held-out dev set: split "dev" reads the same GoldP dev files as
"test", as XTREME's train_qa.sh does for checkpoint selection (so English dev == English test; the
other languages stay unseen). Local layouts, below `data_dir` (or `<data_dir>/tydiqa/`):
- the release (storage.googleapis.com/tydiqa/v1.1/): `tydiqa-goldp-v1.1-train.json` (all languages;
  question ids start with the language name, e.g. `english-...`) and `tydiqa-goldp-v1.1-dev/
  tydiqa-goldp-dev-<language name>.json`;
- XTREME's download layout: `tydiqa-goldp-v1.1-train/tydiqa.goldp.<iso>.train.json` (its train_qa.sh
  reads `tydiqa.<iso>.train.json`; both are accepted) and
  `tydiqa-goldp-v1.1-dev/tydiqa.goldp.<iso>.dev.json` (its script blanks the dev answers, which the
  reader refuses, and cuts the train ids to their last `-` part, so train ids may repeat there).
"""

from __future__ import annotations

from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import QAExample, Task, register
from xlt.tasks.spec import PARQUET_EXPORT, HubSource, TaskSpec, TaskType
from xlt.tasks.squad import qa_from_hub, read_squad

_NAMES = {"en": "english", "ar": "arabic", "bn": "bengali", "fi": "finnish", "id": "indonesian",
          "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}
_TRAIN, _DEV = "tydiqa-goldp-v1.1-train", "tydiqa-goldp-v1.1-dev"


@register
class TyDiQA(Task):
    spec = TaskSpec(
        name="tydiqa",
        type=TaskType.QA,
        description="TyDiQA gold-passage extractive QA; questions written natively in each language",
        languages=tuple(_NAMES),
        source_language="en",
        metrics=("squad_f1", "squad_em"),
        main_metric="squad_f1",
        version="1.0",
        category="question answering",
        train_source="TyDiQA-GoldP English train (3,696 questions); dev = test = GoldP dev",
        # script-free parquet conversion; no pinned commit found in other projects.
        hub=HubSource("google-research-datasets/tydiqa", revision=PARQUET_EXPORT, config="secondary_task",
                      layout="parquet-export"),
        local_format=f"<dir>/{_TRAIN}.json + <dir>/{_DEV}/tydiqa-goldp-dev-<name>.json, or XTREME's per-language files",
        license="Apache-2.0",
        citation="Clark et al. 2020, TyDi QA, TACL",
    )

    def _root(self) -> Path:
        if self.data_dir is None:
            raise DataError(f"task {self.name}: no data_dir given")
        nested = self.data_dir / "tydiqa"
        return nested if nested.is_dir() else self.data_dir

    def _candidates(self, split: str, language: str) -> list[tuple[Path, bool]]:
        """(file, holds every language) in the order looked for."""
        root, iso = self._root(), language
        if split == "train":
            return [(root / _TRAIN / f"tydiqa.goldp.{iso}.train.json", False),
                    (root / _TRAIN / f"tydiqa.{iso}.train.json", False),
                    (root / f"{_TRAIN}.json", True), (root / _TRAIN / f"{_TRAIN}.json", True)]
        return [(root / _DEV / f"tydiqa.goldp.{iso}.dev.json", False),
                (root / _DEV / f"tydiqa-goldp-dev-{_NAMES[language]}.json", False)]

    def has_local(self, split: str, language: str) -> bool:
        return any(p.is_file() for p, _ in self._candidates(split, language))

    def load_local(self, split: str, language: str) -> list[QAExample]:
        options = self._candidates(split, language)
        for path, combined in options:
            if path.is_file():
                break
        else:
            tried = ", ".join(str(p.relative_to(self._root())) for p, _ in options)
            raise DataError(f"no TyDiQA-GoldP {split} file for {language} (looked for {tried})", self._root())
        # XTREME's per-language train files cut ids to their last part, which repeats.
        examples = read_squad(path, unique_ids=combined or split != "train")
        if combined:
            examples = [ex for ex in examples if ex.id.startswith(_NAMES[language] + "-")]
        return examples

    def load_hub(self, split: str, language: str) -> list[QAExample]:
        prefix = _NAMES[language] + "-"  # the hub config mixes all languages
        return [ex for ex in super().load_hub(split, language) if ex.id.startswith(prefix)]

    def hub_split_name(self, split: str) -> str:
        return "train" if split == "train" else "validation"

    def from_hub_record(self, record: dict, origin: str) -> QAExample:
        return qa_from_hub(record, origin)
