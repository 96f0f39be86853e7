"""A tiny SIB-200-layout data directory for runner and CLI tests (no real data copied).

``write_tiny_sib200(root)`` writes ``<root>/<lang>/{train,dev,test}.tsv`` (header
``index_id<TAB>category<TAB>text``) for English and two target languages, using the 7 real
SIB-200 labels and sentences generated from small per-language topic word lists.  Test sets are
parallel (same index ids in every language), like the real benchmark.
"""

from __future__ import annotations

from pathlib import Path

LABELS = ("science/technology", "travel", "politics", "sports", "health", "entertainment", "geography")
SOURCE = "eng_Latn"
TARGETS = ("fra_Latn", "rus_Cyrl")

# one keyword list per label (same order as LABELS), plus filler words, per language
_WORDS = {
    "eng_Latn": (
        [["computer", "science"], ["trip", "hotel"], ["election", "minister"], ["football", "match"],
         ["doctor", "medicine"], ["film", "music"], ["mountain", "river"]],
        ["the", "a", "new", "old", "big", "small"],
    ),
    "fra_Latn": (
        [["ordinateur", "science"], ["voyage", "hôtel"], ["élection", "ministre"], ["football", "match"],
         ["médecin", "santé"], ["film", "musique"], ["montagne", "fleuve"]],
        ["le", "la", "un", "nouveau", "vieux", "grand"],
    ),
    "rus_Cyrl": (
        [["компьютер", "наука"], ["поездка", "гостиница"], ["выборы", "министр"], ["футбол", "матч"],
         ["врач", "лекарство"], ["фильм", "музыка"], ["гора", "река"]],
        ["новый", "старый", "большой", "малый", "этот", "наш"],
    ),
}

HEADER = "index_id\tcategory\ttext\n"


def sentence(lang: str, label_idx: int, i: int) -> str:
    topic, filler = _WORDS[lang]
    kw = topic[label_idx]
    words = [filler[i % len(filler)], kw[i % 2], filler[(i + 3) % len(filler)], kw[(i + 1) % 2]]
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def rows(lang: str, n: int, start: int = 0) -> list[tuple[int, str, str]]:
    """``n`` rows cycling through the 7 labels (every label occurs when n >= 7)."""
    return [(start + i, LABELS[i % 7], sentence(lang, i % 7, start + i)) for i in range(n)]


def write_split(path: Path, data: list[tuple[int, str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{i}\t{c}\t{t}\n" for i, c, t in data), encoding="utf-8")
    return path


def write_tiny_sib200(root: Path, n: int = 28, targets: tuple[str, ...] = TARGETS) -> Path:
    """English train/dev/test plus ``targets`` test files below ``root``; returns ``root``."""
    root = Path(root)
    write_split(root / SOURCE / "train.tsv", rows(SOURCE, n, start=0))
    write_split(root / SOURCE / "dev.tsv", rows(SOURCE, n, start=1000))
    for lang in (SOURCE, *targets):
        write_split(root / lang / "test.tsv", rows(lang, n, start=2000))
    return root
