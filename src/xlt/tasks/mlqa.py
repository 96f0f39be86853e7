"""MLQA: extractive QA on Wikipedia paragraphs in 7 languages (XTREME uses same-language pairs).

Zero-shot setup (XTREME): train on SQuAD v1.1 train (English), select on English dev, test on
`test-context-<l>-question-<l>.json`. Scoring uses the MLQA evaluator, whose answer normalisation
depends on the language; pass it the *context* language (the same as the question language here).
Local layouts, below `data_dir`:
- the release (dl.fbaipublicfiles.com/MLQA/MLQA_V1.zip) unzipped: `MLQA_V1/{dev,test}/
  {dev,test}-context-<l>-question-<l>.json` (`data_dir` may also be `MLQA_V1` itself);
- XTREME's `download/` folder: `mlqa/MLQA_V1/...` (its script blanks the test answers; the reader
  refuses such files);
- SQuAD v1.1 train for the train split: `train-v1.1.json` or `squad/train-v1.1.json`.
"""

from __future__ import annotations

from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import QAExample, Task, register
from xlt.tasks.hub import load_hub_split
from xlt.tasks.spec import PARQUET_EXPORT, HubSource, TaskSpec, TaskType
from xlt.tasks.squad import SQUAD_HUB, qa_from_hub, read_squad, require_english, squad_file

_LANGS = ("en", "es", "de", "ar", "hi", "vi", "zh")
_ROOTS = ("MLQA_V1", "mlqa/MLQA_V1", ".")


@register
class MLQA(Task):
    spec = TaskSpec(
        name="mlqa",
        type=TaskType.QA,
        description="Extractive QA on Wikipedia paragraphs, context and question in the same language",
        languages=_LANGS,
        source_language="en",
        metrics=("mlqa_f1", "mlqa_em"),
        main_metric="mlqa_f1",
        version="1.0",
        category="question answering",
        train_source="SQuAD v1.1 train (87,599 questions); dev = MLQA English dev (1,148)",
        # facebook/mlqa is script-based (mteb pins 397ed406 with trust_remote_code); datasets>=4 needs the
        # hub's parquet conversion, which has no commit pin we could find.
        hub=HubSource("facebook/mlqa", revision=PARQUET_EXPORT, config="mlqa.{lang}.{lang}",
                      layout="parquet-export"),
        local_format="<dir>/MLQA_V1/{dev,test}/<split>-context-<l>-question-<l>.json (+ train-v1.1.json)",
        license="CC BY-SA 3.0 (MLQA); CC BY-SA 4.0 (SQuAD)",
        citation="Lewis et al. 2020, MLQA: Evaluating Cross-lingual Extractive Question Answering, ACL",
        extra={"evaluator_language": "context"},
    )

    def _root(self) -> Path:
        for name in _ROOTS:
            root = self.data_dir / name
            if (root / "test").is_dir() or (root / "dev").is_dir():
                return root
        raise DataError(f"no MLQA_V1 folder with dev/ or test/ (looked in {', '.join(_ROOTS)})", self.data_dir)

    def _path(self, split: str, language: str) -> Path:
        return self._root() / split / f"{split}-context-{language}-question-{language}.json"

    def available_languages(self, split: str = "test") -> list[str]:
        if self.data_dir is None:
            return list(self.spec.languages) if split != "train" else ["en"]
        if split == "train":
            try:
                squad_file(self.data_dir, "train")
                return ["en"]
            except DataError:
                return []
        try:
            return [l for l in self.spec.languages if self._path(split, l).is_file()]
        except DataError:
            return []

    def load_local(self, split: str, language: str) -> list[QAExample]:
        if split == "train":
            require_english(self.name, split, language, "SQuAD v1.1")
            return read_squad(squad_file(self.data_dir, split))
        if self.data_dir is None:
            raise DataError(f"task {self.name}: no data_dir given")
        path = self._path(split, language)
        if not path.is_file():
            raise DataError(f"no MLQA {split} file for {language} (expected {path.name})", path.parent)
        return read_squad(path)

    def load_hub(self, split: str, language: str) -> list[QAExample]:
        if split != "train":
            return super().load_hub(split, language)
        require_english(self.name, split, language, "SQuAD v1.1")
        rows = load_hub_split(SQUAD_HUB, split, language, self.hub_split_name)
        return [qa_from_hub(r, f"{SQUAD_HUB.dataset}[train]#{i}") for i, r in enumerate(rows)]

    def from_hub_record(self, record: dict, origin: str) -> QAExample:
        return qa_from_hub(record, origin)
