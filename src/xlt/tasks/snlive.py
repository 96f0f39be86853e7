"""SNLI-VE's text twin: the SNLI premise captions with SNLI-VE's hypotheses and labels (English only).

SNLI-VE (Xie et al. 2019) replaces each SNLI premise - a Flickr30k caption - by the Flickr30k image it
describes. Its released files keep the caption, so one file gives both twins of a controlled
comparison with the *same* hypotheses and labels:

- `snli-ve-text` (this module): premise = the caption (`sentence1`), hypothesis = `sentence2`;
- `snli-ve` (xlt.methods.intermediate.data, multimodal): premise = the image `Flickr30K_ID`.

Local layout (github.com/necla-ml/SNLI-VE): `<data_dir>/snli_ve_{train,dev,test}.jsonl` (or below
`annotations/`), one JSON object per line with `Flickr30K_ID`, `sentence1`, `sentence2`, `gold_label`.
Sizes: 529,527 / 17,858 / 17,901 pairs over 29,783 / 1,000 / 1,000 images.
"""

from __future__ import annotations

from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import Example, Task, register
from xlt.tasks.formats import read_jsonl, text_field
from xlt.tasks.spec import TaskSpec, TaskType

LABELS = ("entailment", "neutral", "contradiction")


def snli_ve_file(data_dir: Path, split: str) -> Path:
    for folder in (data_dir, data_dir / "annotations"):
        if (folder / f"snli_ve_{split}.jsonl").is_file():
            return folder / f"snli_ve_{split}.jsonl"
    raise DataError(f"no snli_ve_{split}.jsonl here or below annotations/", data_dir)


def read_snli_ve(data_dir: Path, split: str) -> list[tuple[str, str, str, str, str]]:
    """(image id, caption premise, hypothesis, label, "file:line") per pair of one split."""
    path, out = snli_ve_file(data_dir, split), []
    for line, rec in read_jsonl(path, ("Flickr30K_ID", "sentence1", "sentence2", "gold_label")):
        premise, hypothesis, label = (text_field(rec, k, path, line) for k in ("sentence1", "sentence2", "gold_label"))
        if label not in LABELS:
            raise DataError(f"gold_label {label!r} is not one of {list(LABELS)}", path, line)
        out.append((str(rec["Flickr30K_ID"]).removesuffix(".jpg"), premise, hypothesis, label, f"{path}:{line}"))
    return out


@register
class SnliVEText(Task):
    spec = TaskSpec(
        name="snli-ve-text",
        type=TaskType.CLASSIFICATION,
        description="SNLI-VE's text twin: Flickr30k caption premise + SNLI-VE hypothesis (3 labels); English only",
        languages=("en",),
        source_language="en",
        metrics=("accuracy",),
        main_metric="accuracy",
        version="1.0",
        labels=LABELS,
        train_source="SNLI-VE train (529,527 pairs) with the SNLI caption as premise",
        local_format="<dir>/snli_ve_{train,dev,test}.jsonl (Flickr30K_ID, sentence1, sentence2, gold_label)",
        license="CC BY-SA 4.0 (SNLI); Flickr30k terms of use for the images",
        citation="Xie et al. 2019, Visual Entailment: A Novel Task for Fine-Grained Image Understanding",
    )

    def load_local(self, split: str, language: str) -> list[Example]:
        if self.data_dir is None:
            raise DataError("snli-ve-text reads the SNLI-VE jsonl files: give the task a data_dir")
        return [Example(text=p, text_pair=h, label=l, origin=o) for _, p, h, l, o in read_snli_ve(self.data_dir, split)]

    def has_local(self, split: str, language: str) -> bool:
        return any((d / f"snli_ve_{split}.jsonl").is_file() for d in (self.data_dir, self.data_dir / "annotations"))
