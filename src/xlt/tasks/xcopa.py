"""XCOPA: causal commonsense reasoning (2-way multiple choice) in 11 languages; English source = COPA.

Each example: a premise, a question ("cause" or "effect") and two alternatives; pick the more plausible.
JSONL fields: premise, choice1, choice2, question, label (0/1; absent or -1 in COPA's unlabelled test, which
`Task.load` therefore refuses), idx
(ignored, as is XCOPA's `changed`). Splits: dev = the `val` files (100), test (500); train exists only in
English (COPA train, 400; COPA val 100 is the English dev).

Local layouts, below `data_dir` (per split the first file found is read, in this order):
- the XCOPA repo (github.com/cambridgeltl/xcopa): `data/<lang>/{val,test}.<lang>.jsonl` (`data_dir` = the repo
  root); or those language folders directly in `data_dir`, e.g. English COPA as `en/{train,val}.en.jsonl`;
- XTREME's download (`download/xcopa/`, scripts/download_data.sh): flat `{train,val,test}.<lang>.jsonl`,
  with English COPA renamed to `{train,val,test}.en.jsonl`;
- English only: SuperGLUE's COPA release `COPA/{train,val,test}.jsonl`.
Upstream data note (XCOPA repo @e2e9d7f, kept as released): every th val/test item and every tr val item
says question "effect"; the sets are parallel by idx, and the other languages' question (e.g. et's) differs
on 52 of 100 val and, for th, 250 of 500 test items. Prompts built from `question` inherit this.
XTREME-R first trains on SIQA and then on COPA; this task reads COPA only (SIQA as an intermediate task is
the business of xlt.methods).
"""

from __future__ import annotations

from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import ChoiceExample, Task, register
from xlt.tasks.conll import first_file
from xlt.tasks.formats import read_jsonl
from xlt.tasks.spec import PARQUET_EXPORT, HubSource, TaskSpec, TaskType

LANGUAGES = tuple("et ht id it qu sw ta th tr vi zh".split())
_FILE_SPLIT = {"train": "train", "dev": "val", "test": "test"}
_QUESTIONS = ("cause", "effect")
# No pinned commits found in other projects for either id: the hub's parquet conversion branch.
_COPA_HUB = HubSource("aps/super_glue", revision=PARQUET_EXPORT, config="copa", layout="parquet-export")


@register
class Xcopa(Task):
    spec = TaskSpec(
        name="xcopa",
        type=TaskType.MULTIPLE_CHOICE,
        description="Choose the more plausible cause/effect of a premise (2 choices); COPA translated into "
        "11 languages",
        languages=LANGUAGES,
        source_language="en",
        metrics=("accuracy",),
        main_metric="accuracy",
        version="1.0",
        category="classification",
        train_source="English COPA train (400) / val (100); XTREME-R trains on SIQA first (not loaded here)",
        hub=HubSource("cambridgeltl/xcopa", revision=PARQUET_EXPORT, config="{lang}", layout="parquet-export"),
        local_format="<dir>/data/<lang>/{val,test}.<lang>.jsonl (XCOPA repo) or flat <dir>/{train,val,test}."
        "<lang>.jsonl (XTREME); English COPA also as <dir>/en/... or <dir>/COPA/{train,val,test}.jsonl",
        license="CC BY 4.0 (XCOPA); BSD-2-Clause (COPA)",
        citation="Ponti et al. 2020, XCOPA: A Multilingual Dataset for Causal Commonsense Reasoning, EMNLP; "
        "Roemmele et al. 2011, COPA",
    )

    def _candidates(self, split: str, language: str) -> list[Path]:
        name = f"{_FILE_SPLIT[split]}.{language}.jsonl"
        d = self.data_dir
        found = [d / "data" / language / name, d / language / name, d / name]
        if language == self.spec.source_language:
            found.append(d / "COPA" / f"{_FILE_SPLIT[split]}.jsonl")
        return found

    def has_local(self, split: str, language: str) -> bool:
        return any(p.is_file() for p in self._candidates(split, language))

    def load_local(self, split: str, language: str) -> list[ChoiceExample]:
        what = f"XCOPA {split} file for {language!r}"
        if split == "train" and language != self.spec.source_language:
            what += " (XCOPA has no train split: only English COPA has one)"
        path = first_file(self._candidates(split, language), what, self.data_dir)
        fields = ("premise", "choice1", "choice2", "question")
        return [_example(rec, path, n) for n, rec in read_jsonl(path, fields)]

    def load_hub(self, split: str, language: str) -> list:
        if language != self.spec.source_language:
            return super().load_hub(split, language)
        from xlt.tasks.hub import load_hub_split  # at call time, as Task.load_hub does

        records = load_hub_split(_COPA_HUB, split, language, self.hub_split_name)
        return [self.from_hub_record(r, f"{_COPA_HUB.dataset}[copa/{split}]#{i}") for i, r in enumerate(records)]

    def from_hub_record(self, record: dict, origin: str) -> ChoiceExample:
        label = record["label"]
        return ChoiceExample(record["premise"], (record["choice1"], record["choice2"]),
                             label if label in (0, 1) else None, record["question"], origin)


def _example(rec: dict, path: Path, line: int) -> ChoiceExample:
    if rec["question"] not in _QUESTIONS:
        raise DataError(f"question must be 'cause' or 'effect', found {rec['question']!r}", path, line)
    texts = (rec["premise"], rec["choice1"], rec["choice2"])
    if not all(isinstance(t, str) and t.strip() for t in texts):
        raise DataError("premise, choice1 and choice2 must be non-empty strings", path, line)
    label = rec.get("label")
    if label == -1:
        label = None
    if label is not None and (type(label) is not int or label not in (0, 1)):
        raise DataError(f"label must be 0 or 1, found {label!r}", path, line)
    return ChoiceExample(texts[0], texts[1:], label, rec["question"], f"{path}:{line}")
