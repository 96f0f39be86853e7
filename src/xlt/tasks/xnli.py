"""XNLI: natural language inference (3 labels) in 15 languages; English training data = MultiNLI.

Local layouts, below `data_dir` (per split and language the first file found is read, in this order):

1. The original releases. Dev/test: `XNLI-1.0/xnli.{dev,test}.tsv`, one file for all 15 languages, TSV with
   a header (language, gold_label, sentence1_binary_parse, ..., sentence1, sentence2, promptID, pairID,
   genre, label1..label5, ...), read unquoted. English train: MultiNLI `multinli_1.0/multinli_1.0_train.jsonl`
   (gold_label, sentence1, sentence2; pairs with gold_label "-", i.e. no annotator majority, are skipped),
   else XNLI-MT `XNLI-MT-1.0/multinli/multinli.train.en.tsv` (header premise, hypo, label; its label
   "contradictory" is read as "contradiction"). `train` in another language reads only XNLI-MT's
   machine-translated `multinli.train.<lang>.tsv` (translate-train). The files may also lie directly in
   `data_dir`, without the XNLI-1.0/, multinli_1.0/ folder.
2. XTREME's preprocessed download (`download/xnli/`, written by utils_preprocess.py with csv.writer, so
   fields may be csv-quoted): `train-en.tsv`, `dev-<lang>.tsv` (sentence1, sentence2, label; no header) and
   `test-<lang>.tsv` (sentence1, sentence2: XTREME strips test labels, so `Task.load` refuses it: no gold).
   `data_dir` may be `download/` or `download/xnli/`.

Sizes: train 392,702 pairs (MultiNLI); dev 2,490 and test 5,010 pairs per language, parallel.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import Example, Task, register
from xlt.tasks.conll import first_file
from xlt.tasks.formats import read_jsonl, read_tsv, text_field, tsv_rows
from xlt.tasks.spec import PARQUET_EXPORT, HubSource, TaskSpec, TaskType

LANGUAGES = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
LABELS = ("entailment", "neutral", "contradiction")  # also the hub's ClassLabel order (0, 1, 2)


def nli_label(raw: str) -> str:
    return "contradiction" if raw == "contradictory" else raw


def example_from_hub(record: dict, origin: str) -> Example:
    """A facebook/xnli or nala-cub/americas_nli record; label -1 (unlabelled) becomes None."""
    label = record["label"]
    return Example(text=record["premise"], label=LABELS[label] if 0 <= label < 3 else None,
                   text_pair=record["hypothesis"], origin=origin)


@register
class Xnli(Task):
    spec = TaskSpec(
        name="xnli",
        type=TaskType.CLASSIFICATION,
        description="Natural language inference (premise, hypothesis -> 3 labels), MultiNLI dev/test "
        "pairs translated by professionals into 14 languages",
        languages=LANGUAGES,
        source_language="en",
        metrics=("accuracy",),
        main_metric="accuracy",
        version="1.0",
        labels=LABELS,
        category="classification",
        train_source="MultiNLI train (392,702 pairs); model selection on XNLI English dev (2,490)",
        # No pinned commit of facebook/xnli found in other projects (mteb pins only its binary mteb/xnli):
        # the hub's parquet conversion branch.
        hub=HubSource("facebook/xnli", revision=PARQUET_EXPORT, config="{lang}", layout="parquet-export"),
        local_format="XNLI-1.0/xnli.{dev,test}.tsv + multinli_1.0/multinli_1.0_train.jsonl (or XNLI-MT-1.0/"
        "multinli/multinli.train.<lang>.tsv), or XTREME's xnli/{train-en,dev-<lang>,test-<lang>}.tsv",
        license="CC BY-NC 4.0 (XNLI); MultiNLI: OANC / CC BY-SA 3.0 / CC BY 3.0 by genre",
        citation="Conneau et al. 2018, XNLI: Evaluating Cross-lingual Sentence Representations, EMNLP; "
        "Williams et al. 2018, MultiNLI, NAACL",
    )

    def _candidates(self, split: str, language: str) -> dict[Path, Callable]:
        d = self.data_dir
        found: dict[Path, Callable] = {}
        if split == "train":
            if language == "en":
                found.update({d / sub / "multinli_1.0_train.jsonl": self._multinli for sub in ("multinli_1.0", ".")})
            found[d / "XNLI-MT-1.0" / "multinli" / f"multinli.train.{language}.tsv"] = self._xnli_mt
            if language == "en":
                found.update({d / sub / "train-en.tsv": self._xtreme for sub in ("xnli", ".")})
        else:
            found.update({d / sub / f"xnli.{split}.tsv": self._xnli for sub in ("XNLI-1.0", ".")})
            found.update({d / sub / f"{split}-{language}.tsv": self._xtreme for sub in ("xnli", ".")})
        return found

    def has_local(self, split: str, language: str) -> bool:
        return any(p.is_file() for p in self._candidates(split, language))

    def load_local(self, split: str, language: str) -> list[Example]:
        readers = self._candidates(split, language)
        path = first_file(readers, f"XNLI {split} file for {language!r}", self.data_dir)
        return readers[path](path, split, language)

    def from_hub_record(self, record: dict, origin: str) -> Example:
        return example_from_hub(record, origin)

    # -- readers: (path, split, language) -> examples ---------------------------------------------
    @staticmethod
    def _xnli(path: Path, split: str, language: str) -> list[Example]:
        rows = read_tsv(path, ("language", "gold_label", "sentence1", "sentence2"))
        return [Example(r["sentence1"], nli_label(r["gold_label"]), r["sentence2"], f"{path}:{n}")
                for n, r in rows if r["language"] == language]

    @staticmethod
    def _multinli(path: Path, split: str, language: str) -> list[Example]:
        out = []
        for n, r in read_jsonl(path, ("gold_label", "sentence1", "sentence2")):
            label, premise, hypothesis = (text_field(r, k, path, n) for k in ("gold_label", "sentence1", "sentence2"))
            if label != "-":  # "-": no annotator majority
                out.append(Example(premise, label, hypothesis, f"{path}:{n}"))
        return out

    @staticmethod
    def _xnli_mt(path: Path, split: str, language: str) -> list[Example]:
        return [Example(r["premise"], nli_label(r["label"]), r["hypo"], f"{path}:{n}")
                for n, r in read_tsv(path, ("premise", "hypo", "label"))]

    @staticmethod
    def _xtreme(path: Path, split: str, language: str) -> list[Example]:
        widths = (2, 3) if split == "test" else (3,)
        out = []
        for n, row in tsv_rows(path, quoted=True):
            if len(row) not in widths:
                raise DataError(f"expected {' or '.join(map(str, widths))} tab-separated fields, found {len(row)}",
                                path, n)
            label = nli_label(row[2]) if len(row) == 3 else None  # test: no label (refused by Task.load)
            out.append(Example(row[0], label, row[1], f"{path}:{n}"))
        return out
