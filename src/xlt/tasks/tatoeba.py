"""Tatoeba: bitext retrieval, each language against English (up to 1000 line-aligned pairs).

No training: sentence embeddings are compared directly. For language X, the queries are the lines of
`tatoeba.<xxx>-eng.<xxx>` and the pool (`load_candidates(X)`) is the English side of that pair file,
`tatoeba.<xxx>-eng.eng`; line i of one file translates line i of the other, so the gold candidate of
query i is English line i. The English side differs per language pair.
Local layout: `<data_dir>/tatoeba.<xxx>-eng.{<xxx>,eng}` with ISO 639-3 codes (facebookresearch/LASER
`data/tatoeba/v1/`; `data_dir` may also be the LASER repo root). XTREME's own download folder cannot be
used: its script sorts the English side, destroying the alignment.

Languages: `languages: all` is XTREME-R's 41 (the set its Tatoeba score averages); every other language
of the LASER release (112 in all) is accepted by name and found by `languages: available`. The task's
code for a language is its ISO 639-1 code where it has one ("ca" for the file code "cat"), else the
file code ("ast", "kab", "yue"); writing the file code is an error that names the task's code.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import Candidate, RetrievalExample, Task, register
from xlt.tasks.formats import iter_lines
from xlt.tasks.hub import load_hub_split
from xlt.tasks.spec import HubSource, TaskSpec, TaskType

# XTREME-R languages (ISO 639-1) -> the LASER file codes (XTREME utils_preprocess.py's lang3_dict).
ISO3 = {
    "ar": "ara", "he": "heb", "vi": "vie", "id": "ind", "jv": "jav", "tl": "tgl", "eu": "eus", "ml": "mal",
    "ta": "tam", "te": "tel", "af": "afr", "nl": "nld", "de": "deu", "el": "ell", "bn": "ben", "hi": "hin",
    "mr": "mar", "ur": "urd", "fa": "pes", "fr": "fra", "it": "ita", "pt": "por", "es": "spa", "bg": "bul",
    "ru": "rus", "ja": "jpn", "ka": "kat", "ko": "kor", "th": "tha", "sw": "swh", "zh": "cmn", "kk": "kaz",
    "tr": "tur", "et": "est", "fi": "fin", "hu": "hun", "az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr",
    "ro": "ron",
}
# The rest of the LASER release (data/tatoeba/v1, 112 languages), same convention: ISO 639-1 if any.
RELEASED = {
    "am": "amh", "ang": "ang", "arq": "arq", "arz": "arz", "ast": "ast", "awa": "awa", "be": "bel", "ber": "ber",
    "br": "bre", "bs": "bos", "ca": "cat", "cbk": "cbk", "ceb": "ceb", "ch": "cha", "cs": "ces", "csb": "csb",
    "cy": "cym", "da": "dan", "dsb": "dsb", "dtp": "dtp", "eo": "epo", "fo": "fao", "fy": "fry", "ga": "gle",
    "gd": "gla", "gl": "glg", "gsw": "gsw", "hr": "hrv", "hsb": "hsb", "hy": "hye", "ia": "ina", "ie": "ile",
    "io": "ido", "is": "isl", "kab": "kab", "km": "khm", "ku": "kur", "kw": "cor", "kzj": "kzj", "la": "lat",
    "lfn": "lfn", "lvs": "lvs", "max": "max", "mhr": "mhr", "mk": "mkd", "mn": "mon", "nb": "nob", "nds": "nds",
    "nn": "nno", "nov": "nov", "oc": "oci", "orv": "orv", "pam": "pam", "pms": "pms", "sk": "slk", "sl": "slv",
    "sq": "sqi", "sr": "srp", "sv": "swe", "swg": "swg", "tk": "tuk", "tt": "tat", "tzl": "tzl", "ug": "uig",
    "uz": "uzb", "war": "war", "wuu": "wuu", "xh": "xho", "yi": "yid", "yue": "yue", "zsm": "zsm",
}
FILE_CODES = {**ISO3, **RELEASED}


@register
class Tatoeba(Task):
    spec = TaskSpec(
        name="tatoeba",
        type=TaskType.RETRIEVAL,
        description="Find the English translation of each sentence among the English side of its pair file",
        languages=tuple(ISO3),
        source_language="en",
        metrics=("retrieval_accuracy",),
        main_metric="retrieval_accuracy",
        version="1.0",
        category="retrieval",
        train_source="none: embeddings only",
        # mteb's Tatoeba task pins this commit (test/<xxx>-eng.jsonl.gz: sentence1 = xxx, sentence2 = eng);
        # "{lang}" is filled with the ISO 639-3 file code.
        hub=HubSource("mteb/tatoeba-bitext-mining", revision="69e8f12da6e31d59addadda9a9c8a2e601a0e282",
                      config="{lang}-eng"),
        local_format="<dir>/tatoeba.<xxx>-eng.{<xxx>,eng} (LASER data/tatoeba/v1, ISO 639-3 codes)",
        license="CC BY 2.0 FR (Tatoeba sentences)",
        citation="Artetxe & Schwenk 2019, Massively Multilingual Sentence Embeddings, TACL",
        splits=("test",),
        released_languages=tuple(RELEASED),
        aliases={file: code for code, file in FILE_CODES.items() if file != code},
    )

    def _root(self) -> Path:
        nested = self.data_dir / "data" / "tatoeba" / "v1"
        return nested if nested.is_dir() else self.data_dir

    def _files(self, language: str) -> tuple[Path, Path]:
        code = self._code(language)
        stem = self._root() / f"tatoeba.{code}-eng"
        return stem.with_name(f"{stem.name}.{code}"), stem.with_name(f"{stem.name}.eng")

    def _code(self, language: str) -> str:
        if language not in FILE_CODES:
            raise DataError(f"task {self.name}: {language!r} has no Tatoeba pair file; queries are "
                            "non-English sentences, English is the candidate side")
        return FILE_CODES[language]

    def has_local(self, split: str, language: str) -> bool:
        return all(p.is_file() for p in self._files(language))

    def _pairs(self, language: str) -> list[tuple[str, str, str]]:
        """(query origin, sentence, English sentence) per aligned line (read once: queries and pool share it)."""
        return self._memo(("pairs", language), lambda: self._read_pairs(language))

    def _read_pairs(self, language: str) -> list[tuple[str, str, str]]:
        if self.data_dir is None:
            source = replace(self.spec.hub, config=f"{self._code(language)}-eng")
            rows = load_hub_split(source, "test", language, lambda s: s)
            return [(f"{source.dataset}[{source.config}]#{i}", r["sentence1"], r["sentence2"]) for i, r in
                    enumerate(rows)]
        src, eng = self._files(language)
        lines = [_read_lines(src), _read_lines(eng)]
        if len(lines[0]) != len(lines[1]):
            raise DataError(f"line counts differ: {src} has {len(lines[0])} lines, {eng} has {len(lines[1])}")
        return [(f"{src}:{i}", a, b) for i, (a, b) in enumerate(zip(*lines), 1)]

    def load_local(self, split: str, language: str) -> list[RetrievalExample]:
        return [RetrievalExample(id=f"{language}:{i}", query=q, gold=(f"en:{language}:{i}",), origin=origin)
                for i, (origin, q, _) in enumerate(self._pairs(language), 1)]

    def load_hub(self, split: str, language: str) -> list[RetrievalExample]:
        return self.load_local(split, language)  # _pairs reads the hub when there is no data_dir

    def load_candidates(self, language: str) -> list[Candidate]:
        """The English side of `language`'s pair file; candidate `en:<lang>:<i>` translates query `<lang>:<i>`."""
        pairs = self._pairs(language)
        return [Candidate(id=f"en:{language}:{i}", text=eng, language="en") for i, (_, _, eng) in enumerate(pairs, 1)]


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for _, line in iter_lines(path)]
