"""AmericasNLI: XNLI extended to 10 Indigenous languages of the Americas (3 labels; dev and test only).

Local layout (github.com/nala-cub/AmericasNLI): `<data_dir>/{dev,test}/<lang>.tsv`, TSV with the header
`language<TAB>premise<TAB>hypothesis<TAB>label`, read unquoted; the language column must name the file's
language. Sizes: test 750 pairs per language (nah 738, oto 748); dev 743 (cni 658, nah 376, oto 222).
The target languages have no train split: transfer is zero-shot from English.

English (the source language) is XNLI's: train = MultiNLI, dev/test = XNLI English, read by the `xnli` task
from the same `data_dir` (put XNLI-1.0/ and multinli_1.0/, or XTREME's xnli/, beside dev/ and test/); from
the hub, English comes from facebook/xnli. Language codes are the dataset's own (ISO 639-3, gn for Guarani).
"""

from __future__ import annotations

from xlt.errors import DataError
from xlt.tasks.base import Example, Task, register
from xlt.tasks.formats import read_tsv
from xlt.tasks.spec import PARQUET_EXPORT, HubSource, TaskSpec, TaskType
from xlt.tasks.xnli import LABELS, Xnli, example_from_hub

LANGUAGES = tuple("aym bzd cni gn hch nah oto quy shp tar".split())


@register
class AmericasNli(Task):
    spec = TaskSpec(
        name="americasnli",
        type=TaskType.CLASSIFICATION,
        description="NLI in 10 Indigenous languages of the Americas (XNLI English dev/test pairs translated)",
        languages=LANGUAGES,
        source_language="en",
        metrics=("accuracy",),
        main_metric="accuracy",
        version="1.0",
        labels=LABELS,
        category=None,  # not an XTREME-R task
        train_source="MultiNLI train (English, via the xnli task); model selection on XNLI English dev",
        # No pinned commit found in other projects; the hub's parquet conversion branch.
        hub=HubSource("nala-cub/americas_nli", revision=PARQUET_EXPORT, config="{lang}", layout="parquet-export"),
        local_format="<dir>/{dev,test}/<lang>.tsv with header language, premise, hypothesis, label; "
        "English: the xnli task's files in the same <dir>",
        license="CC BY-SA 4.0 (per the HF dataset card; no LICENSE file in the repository)",
        citation="Ebrahimi et al. 2022, AmericasNLI: Evaluating Zero-shot Natural Language Understanding of "
        "Pretrained Multilingual Models in Truly Low-resource Languages, ACL",
    )

    def has_local(self, split: str, language: str) -> bool:
        return (self.data_dir / split / f"{language}.tsv").is_file()

    def load_local(self, split: str, language: str) -> list[Example]:
        if language == self.spec.source_language:
            return Xnli(self.data_dir).load_local(split, language)
        if split == "train":
            raise DataError(f"AmericasNLI has no train split for {language!r} (dev/test only); "
                            "train on English (MultiNLI)", self.data_dir)
        path = self.data_dir / split / f"{language}.tsv"
        if not path.is_file():
            raise DataError(f"no {split} file for {language} (expected {path})", self.data_dir)
        out = []
        for n, row in read_tsv(path, ("premise", "hypothesis", "label")):
            if row.get("language", language) != language:
                raise DataError(f"language column says {row['language']!r}, expected {language!r}", path, n)
            out.append(Example(row["premise"], row["label"], row["hypothesis"], f"{path}:{n}"))
        return out

    def load_hub(self, split: str, language: str) -> list:
        if language == self.spec.source_language:
            return Xnli().load_hub(split, language)
        return super().load_hub(split, language)

    def from_hub_record(self, record: dict, origin: str) -> Example:
        return example_from_hub(record, origin)
