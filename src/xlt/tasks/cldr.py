"""CLDR-names: what kind of thing does a short name denote? (5 labels, ~100 languages, no download).

Built entirely from the Unicode CLDR locale data that the `babel` package ships, so it needs no data
directory and no network. Every example is one real CLDR display name, labelled by its CLDR category:

- `language`  - language names (`languages`, plain codes only; no regional variants like de_AT)
- `territory` - countries and world regions (`territories`; minus EU/UN/EZ/ZZ and pseudo-locales)
- `currency`  - currency names (`currency_names`; minus metals, funds, test and unknown codes)
- `unit`      - measurement unit names (`unit_display_names`, long form, else the locale's own short
  form; durations go to `time`)
- `time`      - Gregorian month and weekday names (wide + abbreviated, format + stand-alone forms),
  quarter names, era names and duration units ("hours", "centuries")

A key is one CLDR concept, e.g. ("territory", "DE"), ("time", "month:3"). Names are read from each
locale's *own* data (its pickle in babel's locale-data folder, read directly): for the base locales used
here the parent is `root`, which holds codes or symbols, never translations, so nothing falls back to
English. A name equal to its raw code is dropped, and so is every string that a locale uses for two
labels (case-insensitive; e.g. English "Nauru" is a language and a territory, Thai and Malay name many
languages like their countries, Japanese "分" is a unit and a duration), so every remaining label is
unambiguous within its language. Script names were not made a label: most equal a language name.

Splits are concept-disjoint. Each key gets u = sha1("cldr-names/<label>/<key>") in [0, 1). *Core* keys
are those named by >= 75 % of the "broad" base locales (those naming >= 50 % of the English languages
and territories). Test = core keys with u < 0.35, at most 100 per label (smallest u first; the same
keys in every language; keys over the cap go to train); dev = keys with 0.35 <= u < 0.47; train = all
other keys. English train/dev are the English names of the train/dev keys (928 / 166 examples; English
CLDR has only ~1,400 usable concepts); the test set of every language is that locale's names of the
test keys (296-348 examples, English 334; near-parallel like XNLI). Other languages' train/dev splits
exist too (their names of the same keys), for in-language or translate-train baselines. The evaluation
languages are the base locales (one per language, default script; "en" included) whose own data name
>= 80 % of the test keys of every label; `eligible_languages()` recomputes that list and a test checks
it against the literal below.

What it measures: zero-shot transfer of a lexical-semantic classifier to unseen concepts in other
languages, over many families and scripts. Limits: examples are short phrases (1-5 words); many names
are loanwords or transliterations sharing surface form with English (Latin-script languages most), so
scores are an upper-ish bound of lexical transfer; classes are unbalanced (language is the largest,
time the smallest); train holds many historical currencies ("Austrian Schilling", "Romanian Leu
(1952-2006)") while test keys are the widely named, mostly current concepts; CLDR coverage differs by
locale, so per-language test sets differ slightly (abbreviated time forms most).
License: CLDR data is under the Unicode License v3; it ships in babel (BSD-3-Clause).
"""

from __future__ import annotations

import hashlib
import pickle
import unicodedata
from collections import Counter
from functools import lru_cache

from babel import localedata
from babel.core import get_cldr_version

from xlt.tasks.base import Example, Task, register
from xlt.tasks.spec import TaskSpec, TaskType

_CLDR_VERSION = get_cldr_version()
_LABELS = ("language", "territory", "currency", "unit", "time")

# eligible_languages() for CLDR 47 (babel 2.18); tests/tasks/test_cldr.py recomputes it.
_LANGUAGES = tuple(
    """
af am ar as ast az be bew bg bn br bs ca ccp chr cs cy da de dsb el en es et eu fa fi fil fo fr frr
ga gd gl gu ha he hi hr hsb hu hy ia id is it ja jv ka kgp kk km kn ko kok ky lij lt lv mk ml mn mr
ms my ne nl no or pa pcm pl ps pt ro ru sc sd si sk sl so sq sr sv sw ta te th ti tk tr uk ur uz
vec vi yrl yue zh
""".split()
)

_FIELDS = {"language": "languages", "territory": "territories", "currency": "currency_names"}
_EXCLUDED = {
    "language": {"und", "zxx", "mul", "mis"},
    "territory": {"ZZ", "UN", "EU", "EZ", "XA", "XB"},
    "currency": set("XAG XAU XPD XPT XBA XBB XBC XBD XDR XRE XSU XTS XUA XXX XFO XFU".split()),
    "unit": {"concentr-item", "temperature-generic", "pressure-gasoline-energy-density", "speed-light-speed",
             "energy-foodcalorie"},
}
_CALENDAR = (  # (babel field, key prefix, indices, widths); babel weekday 0 is Monday
    ("months", "month", range(1, 13), ("wide", "abbreviated")),
    ("days", "weekday", range(7), ("wide", "abbreviated")),
    ("quarters", "quarter", range(1, 5), ("wide",)),
)
_BROAD_SHARE, _CORE_SHARE, _MIN_COVERAGE = 0.5, 0.75, 0.8
_TEST_BELOW, _DEV_BELOW, _TEST_CAP = 0.35, 0.47, 100

Key = tuple[str, str]  # (label, CLDR key)


def _own_data(locale_id: str) -> dict:
    """A locale's own CLDR data, without inherited values.

    Read from babel's pickle directly: `localedata.load(id, merge_inherited=False)` returns whatever
    babel cached first for that id, which is the *merged* data once anything (e.g. `Locale(id)`)
    has loaded it, so the result would depend on what ran before.
    """
    with open(localedata.resolve_locale_filename(locale_id), "rb") as fh:
        return pickle.load(fh)


def _u(key: Key) -> float:
    """Deterministic position of a key in [0, 1) (sha1, not Python's salted hash)."""
    return int(hashlib.sha1(f"cldr-names/{key[0]}/{key[1]}".encode()).hexdigest()[:12], 16) / 16**12


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


@lru_cache(maxsize=None)
def _raw_names(locale_id: str) -> dict[Key, tuple[str, ...]]:
    """All names in a locale's own CLDR data (no inheritance), before the ambiguity filter."""
    own = _own_data(locale_id)
    found: dict[Key, list[str]] = {}
    for label, field in _FIELDS.items():
        for code, name in own.get(field, {}).items():
            if isinstance(name, str) and "_" not in code and code not in _EXCLUDED[label]:
                found[(label, code)] = [name]
    root_units = _root_units()
    for code, forms in own.get("unit_display_names", {}).items():
        short = forms.get("short")
        name = forms.get("long") or (short if short != root_units.get(code) else None)
        if isinstance(name, str) and code not in _EXCLUDED["unit"]:
            found[("time" if code.startswith("duration-") else "unit", code)] = [name]
    for field, prefix, indices, widths in _CALENDAR:
        contexts = [own.get(field, {}).get(ctx, {}) for ctx in ("format", "stand-alone")]
        tables = [context.get(w, {}) for context in contexts for w in widths]
        for i in indices:
            forms = [table.get(i) for table in tables]
            if forms := [n for n in forms if isinstance(n, str)]:
                found[("time", f"{prefix}:{i}")] = forms
    for i, name in own.get("eras", {}).get("wide", {}).items():
        if i in (0, 1) and isinstance(name, str):
            found[("time", f"era:{i}")] = [name]
    out = {}
    for key, names in found.items():
        kept = tuple(dict.fromkeys(n for n in map(_norm, names) if n and n.casefold() != key[1].casefold()))
        if kept:
            out[key] = kept
    return out


@lru_cache(maxsize=1)
def _root_units() -> dict[str, str]:
    return {k: v.get("short") for k, v in _own_data("root")["unit_display_names"].items()}


@lru_cache(maxsize=None)
def _names(locale_id: str) -> dict[Key, tuple[str, ...]]:
    """Own names minus strings that the locale uses for two labels (case-insensitive)."""
    raw = _raw_names(locale_id)
    labels: dict[str, set[str]] = {}
    for (label, _), names in raw.items():
        for n in names:
            labels.setdefault(n.casefold(), set()).add(label)
    out = {}
    for key, names in raw.items():
        kept = tuple(n for n in names if len(labels[n.casefold()]) == 1)
        if kept:
            out[key] = kept
    return out


@lru_cache(maxsize=1)
def _base_locales() -> tuple[str, ...]:
    return tuple(sorted(i for i in localedata.locale_identifiers() if "_" not in i and i != "root"))


@lru_cache(maxsize=1)
def _core_keys() -> frozenset[Key]:
    """English keys named by >= 75 % of the broad-coverage base locales."""
    english = _raw_names("en")
    wanted = Counter(label for label, _ in english)
    broad = []
    for loc in _base_locales():
        if loc == "en":
            continue
        have = Counter(label for label, code in _raw_names(loc) if (label, code) in english)
        if all(have[c] >= _BROAD_SHARE * wanted[c] for c in ("language", "territory")):
            broad.append(loc)
    named = Counter(key for loc in broad for key in _raw_names(loc) if key in english)
    return frozenset(k for k in english if named[k] >= _CORE_SHARE * len(broad))


@lru_cache(maxsize=1)
def split_keys() -> dict[str, tuple[Key, ...]]:
    """Concept-disjoint split of the English keys: {"train"|"dev"|"test": keys in label, u order}."""
    core = _core_keys()
    out: dict[str, list[Key]] = {"train": [], "dev": [], "test": []}
    per_label_test: Counter = Counter()
    for key in sorted(_raw_names("en"), key=lambda k: (_LABELS.index(k[0]), _u(k))):
        u = _u(key)
        if key in core and u < _TEST_BELOW and per_label_test[key[0]] < _TEST_CAP:
            per_label_test[key[0]] += 1
            out["test"].append(key)
        elif _TEST_BELOW <= u < _DEV_BELOW:
            out["dev"].append(key)
        else:
            out["train"].append(key)
    return {s: tuple(keys) for s, keys in out.items()}


def eligible_languages() -> tuple[str, ...]:
    """Base locales whose own data name >= 80 % of the test keys of every label (slow-ish: ~1 s)."""
    test = split_keys()["test"]
    need = Counter(label for label, _ in test)
    keep = []
    for loc in _base_locales():
        have = Counter(label for label, code in test if (label, code) in _raw_names(loc))
        if all(have[label] >= _MIN_COVERAGE * n for label, n in need.items()):
            keep.append(loc)
    return tuple(keep)


@lru_cache(maxsize=None)
def build(split: str, language: str) -> tuple[Example, ...]:
    """Examples of one split in one locale (deduplicated text+label, in label then key order)."""
    names = _names(language)
    seen, out = set(), []
    for label, code in split_keys()[split]:
        for text in names.get((label, code), ()):
            if (text, label) not in seen:
                seen.add((text, label))
                out.append(Example(text=text, label=label, origin=f"cldr:{language}:{label}:{code}"))
    return tuple(out)


@register
class CldrNames(Task):
    spec = TaskSpec(
        name="cldr-names",
        type=TaskType.CLASSIFICATION,
        description="Classify CLDR display names as language/territory/currency/unit/time; "
        "concept-disjoint splits, test near-parallel across languages",
        languages=_LANGUAGES,
        source_language="en",
        metrics=("accuracy",),
        main_metric="accuracy",
        version=f"1.0-cldr{_CLDR_VERSION}",
        labels=_LABELS,
        train_source="English CLDR names of the train / dev concepts (928 / 166 examples)",
        local_format="none: built from the CLDR data shipped with babel; data_dir is ignored",
        license="Unicode License v3 (CLDR data), distributed in babel (BSD-3-Clause)",
        citation="Unicode Common Locale Data Repository (CLDR), https://cldr.unicode.org; via Babel",
        extra={"cldr_version": _CLDR_VERSION},
    )

    def load_local(self, split: str, language: str) -> list[Example]:
        return list(build(split, language))

    def embedded_source(self) -> str:
        import babel

        return f"{super().embedded_source()} babel {babel.__version__}"

    def hub_source(self) -> None:
        return None
