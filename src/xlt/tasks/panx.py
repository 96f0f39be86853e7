"""WikiANN / PAN-X: named entity recognition (PER, ORG, LOC; IOB2), Wikipedia-derived.

Splits are Rahimi et al. (2019)'s balanced train/dev/test per language (XTREME's and the hub's).
Languages: `languages: all` is XTREME-R's 48 (the set its averages use); the other 128 of the release's
176 are accepted by name and found by `languages: available`. Files and hub configs are named by
Wikipedia edition; the task names a language by its ISO 639 code, which differs for 11 editions
(`WIKI_CODES`: "als" is Alemannic = "gsw", not ISO's Tosk Albanian; "simple" is Simple English =
"en-basiceng", as the hub card's BCP-47 list writes it); writing the edition code names the task's code.

Local layouts, below `data_dir` (per split the first file found is read, in this order):
1. The raw release as XTREME's scripts/download_data.sh leaves it in `panx_dataset/` (AmazonPhotos.zip, one
   `<lang>.tar.gz` per language, extracted and renamed): `<lang>-<split>`, lines `<lang>:<token><TAB><TAG>`,
   a blank line between sentences; the `<lang>:` prefix is removed. Also accepted: one tarball extracted
   into its own folder, `<lang>/<split>`. `data_dir` may be `download/` or `download/panx_dataset/`.
2. XTREME's preprocessed files `panx/<split>-<lang>.tsv` (or in `data_dir` itself): `token<TAB>TAG` lines;
   test files hold tokens only (XTREME strips test labels): read, then refused by `Task.load` (no gold).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from xlt.tasks.base import TaggingExample, Task, register
from xlt.tasks.conll import first_file, read_conll_ner
from xlt.tasks.spec import PARQUET_EXPORT, HubSource, TaskSpec, TaskType

LANGUAGES = tuple("ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw "
                  "yo my zh kk tr et fi hu qu pl uk az lt pa gu ro".split())
LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # also the hub's ClassLabel order
# The rest of Rahimi et al.'s 176 (the hub's configs, unimelb-nlp/wikiann), by the task's codes.
RELEASED = tuple("""
ace am an ang arc arz as ast ay ba bar be be-tarask bho bo br bs ca cbk cdo ce ceb ckb co crh cs csb cv cy da
diq dv eml en-basiceng eo ext fo frr fur fy ga gan gd gl gn gsw hak hr hsb hy ia ig ilo io is jbo jv-x-bms km kn
ksh ku ky la lb li lij lmo ln lv lzh mg mhr mi min mk mn mt mwl mzn nan nap nds ne nn no nov oc or os pdc pms
pnb ps rm rw sa sah scn sco sd sgs sh si sk sl so sq sr su sv szl tg tk tt ug uz vec vep vls vo vro wa war wuu
xmf yi yue zea""".split())
# task code -> Wikipedia edition (file names, hub config) where they differ
WIKI_CODES = {"gsw": "als", "sgs": "bat-smg", "be-tarask": "be-x-old", "bho": "bh", "cbk": "cbk-zam",
              "vro": "fiu-vro", "jv-x-bms": "map-bms", "en-basiceng": "simple", "lzh": "zh-classical",
              "nan": "zh-min-nan", "yue": "zh-yue"}


@register
class PanX(Task):
    spec = TaskSpec(
        name="panx",
        type=TaskType.TAGGING,
        description="Named entity recognition (PER/ORG/LOC, IOB2) on Wikipedia sentences (WikiANN)",
        languages=LANGUAGES,
        source_language="en",
        metrics=("f1",),
        main_metric="f1",  # seqeval entity F1
        version="1.0",
        labels=LABELS,
        category="structured prediction",
        train_source="English WikiANN train (20,000 sentences; dev 10,000)",
        # No pinned commit found in other projects: the hub's parquet conversion branch. (google/xtreme's
        # PAN-X.<lang> configs hold the same splits but only XTREME v1's 40 languages.)
        hub=HubSource("unimelb-nlp/wikiann", revision=PARQUET_EXPORT, config="{lang}", layout="parquet-export"),
        local_format="XTREME's panx_dataset/<lang>-{train,dev,test} (lines '<lang>:<token>\\tTAG') or "
        "<lang>/{train,dev,test}, or preprocessed panx/{train,dev,test}-<lang>.tsv",
        license="ODC-BY per the HF dataset card (unimelb-nlp/wikiann); text from Wikipedia (CC BY-SA)",
        released_languages=RELEASED,
        aliases={wiki: code for code, wiki in WIKI_CODES.items()},
        citation="Pan et al. 2017, Cross-lingual Name Tagging and Linking for 282 Languages, ACL; "
        "Rahimi et al. 2019, Massively Multilingual Transfer for NER, ACL",
    )

    def _candidates(self, split: str, language: str) -> list[tuple[Path, bool]]:
        """(path, raw?) in lookup order; raw files carry the `<lang>:` prefix."""
        d, language = self.data_dir, WIKI_CODES.get(language, language)
        raw = [d / "panx_dataset" / f"{language}-{split}", d / f"{language}-{split}", d / language / split]
        tsv = [d / "panx" / f"{split}-{language}.tsv", d / f"{split}-{language}.tsv"]
        return [(p, True) for p in raw] + [(p, False) for p in tsv]

    def has_local(self, split: str, language: str) -> bool:
        return any(p.is_file() for p, _ in self._candidates(split, language))

    def load_local(self, split: str, language: str) -> list[TaggingExample]:
        candidates = dict(self._candidates(split, language))
        path = first_file(candidates, f"PAN-X {split} file for {language!r}", self.data_dir)
        tagged = True if candidates[path] or split != "test" else None  # None: token-only test files allowed
        sentences = read_conll_ner(path, LABELS, tagged=tagged, sep="\t", lang_prefix=candidates[path])
        return [TaggingExample(s.tokens, s.tags, f"{path}:{s.line}") for s in sentences]

    def load_hub(self, split: str, language: str) -> list:
        from xlt.tasks.hub import load_hub_split  # at call time, as Task.load_hub does

        config = WIKI_CODES.get(language, language)
        records = load_hub_split(replace(self.spec.hub, config=config), split, language, self.hub_split_name)
        origin = f"{self.spec.hub.dataset}[{split}/{language}]"
        return [self.from_hub_record(r, f"{origin}#{i}") for i, r in enumerate(records)]

    def from_hub_record(self, record: dict, origin: str) -> TaggingExample:
        tags = tuple(LABELS[t] if isinstance(t, int) else t for t in record["ner_tags"])  # ClassLabel ids
        return TaggingExample(tuple(record["tokens"]), tags, origin)

