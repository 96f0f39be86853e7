"""Language registry: one row per language of every registered task (ISO 639-3 keyed), no network.

    >>> from xlt.languages import lookup, distances_to, families
    >>> lookup("deu_Latn").family, lookup("zh_Hant").script, lookup("ht").genus
    ('Indo-European', 'Hant', 'French-based')
    >>> distances_to("nl")["genetic"] < distances_to("ja")["genetic"]
    True

Data: `languages.tsv` and `uriel_distances_en.tsv` beside this file, both written by
`scripts/build_languages.py` from lang2vec's URIEL data + babel's CLDR + the generator's fix table;
`tests/languages` checks that the committed files equal the generator's output. Lookups read the TSVs
once and never import lang2vec (it is needed by the generator only).

Codes accepted by `lookup` (case-insensitive, "-" or "_" as separator):
ISO 639-1 ("de"), ISO 639-3 ("deu"), FLORES-200 / SIB-200 ("deu_Latn", "zho_Hant"), babel/CLDR
locale ids ("zh_Hant", "sr_Latn", "pt_BR", "es_419"). A script subtag sets `Language.script`
(otherwise the row's default script); region subtags are ignored. A 3-letter code with no row of its
own falls back to CLDR's language aliases ("ger" -> "de", "cmn" -> "zh": the macrolanguage row).

Family naming convention (what `Language.family` holds):
- family = top level of the language's Glottolog lineage as URIEL records it (lang2vec "fam"
  features), genus = the next level down ("Germanic", "Volta-Congo"; empty where URIEL has none).
- Glottolog names, except three renames to the names the XTREME papers use:
  "Atlantic-Congo" -> "Niger-Congo", "Tai-Kadai" -> "Kra-Dai", "Artificial Language" -> "Constructed".
  Nothing is re-lumped: Mande, Nilotic, Saharan stay separate families (Glottolog), so "Niger-Congo"
  here means Glottolog's Atlantic-Congo.
- Isolates: family "<Name> (isolate)", genus empty (Basque: "Basque (isolate)"; URIEL has no lineage).
- Creoles that Glottolog files under their lexifier's family (hat, kea, pap, pcm, tpi): family
  "Creole", genus "<lexifier>-based" ("French-based", "English-based", "Portuguese-based").
- Macrolanguages and standards without a usable URIEL lineage are read through a representative
  URIEL code, recorded in the TSV's `uriel` column: ara->arb, aze->azj, msa->zsm, que->quy,
  zho->cmn, aym->ayr, sqi->als, lvs/ltg->lav, nob/nno->nor, twi->aka, nqo->man; varieties without
  one through their standard: axm/hyw->hye, eml->egl, ota->tur, sgs->lit, vro->est, qpm (UD's Pomak)->bul.
- Rows whose family/genus were written by hand have `source` = "manual-fix" (isolates, creoles,
  AmericasNLI's collective codes nah/oto and Tatoeba's ber, which URIEL lacks, constructed languages and
  historical ones URIEL has no lineage for); all others "uriel".

Typology and resource columns (`Language.word_order`, `.adposition`, `.resource`; `groups_of` groups codes by
any column, `GROUPINGS` names the usual ones: family, genus, word-order, adposition, script, resource):
- word_order (SVO, SOV, VSO, VOS, OVS, OSV) and adposition (prepositions | postpositions) from URIEL's syntax
  features via lang2vec (S_SVO ..., S_ADPOSITION_BEFORE/AFTER_NOUN): the first observed source that gives
  exactly one value, in the order WALS, SSWL, Ethnologue, else the kNN prediction's most likely value; the
  `*_source` column says which (wals | sswl | ethnologue | knn).
- resource: the class 0-5 of Joshi et al. 2020 from `joshi2020_classes.tsv` (its header states the source,
  the name -> code mapping rule and the licence situation); languages the table does not name have none.

Distances (`distances_to`): precomputed against English only, from the `uriel` code's lang2vec
vectors: syntactic / phonological / inventory = cosine distance of the kNN-imputed `*_knn` sets,
featural = cosine distance of those three concatenated, genetic = 1 - shared Glottolog lineage
nodes / nodes in the deeper of the two lineages (`fam` features; 1.0 across families and for
isolates), geographic = great-circle distance / half the earth's circumference
(the location is recovered from URIEL's `geo` features). The PyPI lang2vec release ships no
precomputed distance tables, so these follow URIEL's definitions rather than copy its numbers.
Languages URIEL lacks (nah, oto) have empty cells in the file and `nan` from `distances_to`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from xlt.errors import XltError, unknown

__all__ = ["DISTANCE_KINDS", "GROUPINGS", "Language", "all_languages", "distances_to", "families", "group_column",
           "groups_of", "lookup", "same_script_as", "split_code"]

_HERE = Path(__file__).resolve().parent
LANGUAGES_TSV = _HERE / "languages.tsv"
DISTANCES_TSV = _HERE / "uriel_distances_en.tsv"
LANGUAGE_COLUMNS = ("iso639_3", "iso639_1", "name", "script", "family", "genus", "uriel", "source", "note",
                    "word_order", "word_order_source", "adposition", "adposition_source", "resource")
DISTANCE_KINDS = ("syntactic", "geographic", "phonological", "genetic", "inventory", "featural")
DISTANCE_REFERENCE = "eng"


@dataclass(frozen=True)
class Language:
    iso3: str
    iso1: str  # "" when the language has no ISO 639-1 code
    name: str  # English name (CLDR where it has one)
    script: str  # ISO 15924: the code's script subtag if it had one, else the language's default
    family: str
    genus: str  # "" where unknown
    code: str  # the code as given to `lookup`
    word_order: str = ""  # SVO, SOV, ... (URIEL; "" where unknown)
    adposition: str = ""  # prepositions | postpositions (URIEL; "" where unknown)
    resource: int | None = None  # Joshi et al. 2020 class 0-5; None where the table does not name the language


def split_code(code: str) -> tuple[str, str | None]:
    """("deu_Latn" | "zh-Hant" | "pt_BR") -> (lowercase language subtag, title-case script or None)."""
    parts = str(code).strip().replace("-", "_").split("_")
    script = next((p.title() for p in parts[1:] if len(p) == 4 and p.isalpha()), None)
    return parts[0].lower(), script


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


@dataclass(frozen=True)
class _Table:
    rows: dict[str, dict[str, str]]  # iso3 -> row
    index: dict[str, str]  # lowercase iso3 / iso1 -> iso3


@lru_cache(maxsize=1)
def _table() -> _Table:
    rows = {r["iso639_3"]: r for r in _read_tsv(LANGUAGES_TSV)}
    index = {iso3: iso3 for iso3 in rows}
    index.update({r["iso639_1"]: iso3 for iso3, r in rows.items() if r["iso639_1"]})
    return _Table(rows, index)


def _resolve(lang: str) -> str | None:
    table = _table()
    if lang in table.index:
        return table.index[lang]
    from babel.core import get_global  # only on a miss: deprecated / individual codes via CLDR aliases

    alias = get_global("language_aliases").get(lang)
    return table.index.get(split_code(alias)[0]) if alias else None


def lookup(code: str) -> Language:
    """The registry entry for `code` (any of the forms in the module docstring); XltError if unknown."""
    lang, script = split_code(code)
    iso3 = _resolve(lang)
    if iso3 is None:
        table = _table()
        raise unknown("language code", code, table.index)
    row = _table().rows[iso3]
    return Language(iso3=iso3, iso1=row["iso639_1"], name=row["name"], script=script or row["script"],
                    family=row["family"], genus=row["genus"], code=code, word_order=row.get("word_order", ""),
                    adposition=row.get("adposition", ""),
                    resource=int(row["resource"]) if row.get("resource") else None)


def all_languages() -> tuple[Language, ...]:
    """Every registry row (ISO 639-3 order), each with `code` = its ISO 639-3 code."""
    return tuple(lookup(iso3) for iso3 in _table().rows)


@lru_cache(maxsize=1)
def _distances() -> dict[str, dict[str, float]]:
    return {r["iso639_3"]: {k: float(r[k]) if r[k] else math.nan for k in DISTANCE_KINDS}
            for r in _read_tsv(DISTANCES_TSV)}


def distances_to(code: str, ref: str = "en") -> dict[str, float]:
    """URIEL distances (0 = same, 1 = maximally far) of `code` to English, one per DISTANCE_KINDS.

    Only English is precomputed (ref must resolve to "eng"); `nan` where URIEL lacks the language.
    """
    if lookup(ref).iso3 != DISTANCE_REFERENCE:
        raise XltError(f"URIEL distances are precomputed against English only, not {ref!r} "
                       "(rebuild with scripts/build_languages.py to add another reference)")
    return dict(_distances()[lookup(code).iso3])


def same_script_as(code: str, ref: str = "en") -> bool:
    """Whether the two codes' scripts are the same ISO 15924 code (Hans != Hant, Jpan != Hani)."""
    return lookup(code).script == lookup(ref).script


def families(codes) -> dict[str, list[str]]:
    """{family: [codes as given]}, families in order of first appearance; unknown codes raise."""
    out: dict[str, list[str]] = {}
    for code in codes:
        out.setdefault(lookup(code).family, []).append(code)
    return out


# --- groupings: any registry column as a grouping of languages --------------------------------------------
# Short names accepted by `group_column` (and `--group-by`); every LANGUAGE_COLUMNS name is accepted too.
GROUPINGS = {"family": "family", "genus": "genus", "word-order": "word_order", "adposition": "adposition",
             "script": "script", "resource": "resource"}


def group_column(by: str) -> str:
    """The registry column a grouping name means ("word-order" -> "word_order"); XltError listing the valid ones."""
    col = GROUPINGS.get(by, by.replace("-", "_"))
    if col not in LANGUAGE_COLUMNS:
        valid = sorted(set(GROUPINGS) | set(LANGUAGE_COLUMNS) - {"iso639_3", "note"})
        raise XltError(f"unknown grouping {by!r}; valid: {', '.join(valid)}")
    return col


def groups_of(codes, by: str = "family") -> dict[str, str]:
    """code -> its value of the registry column `by` names ("" where the registry has none). The script is the
    code's own script subtag when it has one (as `lookup`); resource is the class as text ("0".."5")."""
    col = group_column(by)
    out = {}
    for code in codes:
        lang = lookup(code)
        if col == "script":
            out[code] = lang.script
        else:
            out[code] = _table().rows[lang.iso3].get(col, "")
    return out
