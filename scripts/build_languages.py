#!/usr/bin/env python
"""Rebuild the language registry files from URIEL (lang2vec) + CLDR (babel) + the fix table below.

    pip install lang2vec                          # generator-only dependency (optional extra "typology")
    python scripts/build_languages.py             # rewrite src/xlt/languages/*.tsv
    python scripts/build_languages.py --check     # exit 1 if the committed files are stale

Writes `languages.tsv` (one row per ISO 639-3 code: every language of every registered task plus the
XTREME-R, AmericasNLI and MasakhaNER lists below) and `uriel_distances_en.tsv` (URIEL distances of
each row to English). Output is deterministic; tests/languages checks the committed files against it.
The naming convention and the distance definitions are documented in `xlt.languages`.

lang2vec is read through its data files (importlib.resources), not imported: lang2vec 1.1.2 imports
`pkg_resources`, which recent setuptools no longer ships.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache
from importlib import metadata, resources

import numpy as np

from xlt.languages import (
    DISTANCE_KINDS, DISTANCE_REFERENCE, DISTANCES_TSV, LANGUAGE_COLUMNS, LANGUAGES_TSV, split_code,
)

# Languages of tasks that may not be registered yet (task codes; ISO 639-1 or 639-3).
XTREME_R = """af ar az bg bn de el en es et eu fa fi fr gu he hi ht hu id it ja jv ka kk ko lt ml mr ms my
nl pa pl pt qu ro ru sw ta te th tl tr uk ur vi wo yo zh""".split()
AMERICAS_NLI = "aym bzd cni gn hch nah oto quy shp tar".split()
MASAKHANER = "amh hau ibo kin lug luo pcm swa wol yor bam ewe fon twi xho zul".split()

# --- the fix table -----------------------------------------------------------------------------------
FAMILY_RENAMES = {"Atlantic-Congo": "Niger-Congo", "Tai-Kadai": "Kra-Dai", "Artificial Language": "Constructed"}

# Rows read through another URIEL code (family, genus and distances all come from it).
URIEL_PROXY = {
    "ara": ("arb", "macrolanguage; URIEL via Standard Arabic"),
    "aze": ("azj", "macrolanguage; URIEL via North Azerbaijani"),
    "msa": ("zsm", "macrolanguage; URIEL via Standard Malay"),
    "que": ("quy", "macrolanguage; URIEL via Ayacucho Quechua (URIEL has no lineage for que)"),
    "zho": ("cmn", "macrolanguage; URIEL via Mandarin (URIEL's zho lineage stops at Sino-Tibetan)"),
    "aym": ("ayr", "macrolanguage; URIEL via Central Aymara (URIEL's aym lineage has no genus)"),
    "sqi": ("als", "macrolanguage; URIEL via Tosk Albanian (URIEL's sqi lineage has no genus)"),
    "lvs": ("lav", "no URIEL lineage; via its macrolanguage Latvian"),
    "ltg": ("lav", "no URIEL lineage; via its macrolanguage Latvian"),
    "nob": ("nor", "no URIEL lineage; via its macrolanguage Norwegian"),
    "nno": ("nor", "no URIEL lineage; via its macrolanguage Norwegian"),
    "twi": ("aka", "no URIEL lineage; via its macrolanguage Akan"),
    "nqo": ("man", "no URIEL lineage; N'Ko is the written standard of Manding: via Mandingo (man)"),
    "axm": ("hye", "no URIEL lineage; Middle Armenian: via Armenian"),
    "hyw": ("hye", "not in URIEL; Western Armenian: via Armenian"),
    "eml": ("egl", "retired code (Emilian-Romagnol, WikiANN), no URIEL lineage: via Emilian"),
    "ota": ("tur", "no URIEL lineage; Ottoman Turkish: via Turkish"),
    "sgs": ("lit", "no URIEL lineage; Samogitian: via Lithuanian"),
    "vro": ("est", "no URIEL lineage; Voro: via Estonian"),
    "qpm": ("bul", "UD's private-use code for Pomak (Bulgarian dialects), not in URIEL: via Bulgarian"),
}

# Family and genus written by hand (source = manual-fix); the note says what URIEL/Glottolog has.
MANUAL_FAMILY = {
    "eus": ("Basque (isolate)", "", "isolate (URIEL has no lineage)"),
    "hat": ("Creole", "French-based", ""),
    "kea": ("Creole", "Portuguese-based", ""),
    "pap": ("Creole", "Portuguese-based", "lexifier Portuguese/Spanish (debated)"),
    "pcm": ("Creole", "English-based", ""),
    "tpi": ("Creole", "English-based", ""),
    "nah": ("Uto-Aztecan", "Southern Uto-Aztecan",
            "collective code (Nahuatl languages), not in URIEL: lineage as URIEL gives Nahuatl varieties"),
    "oto": ("Otomanguean", "Western Otomanguean",
            "collective code (Otomian languages), not in URIEL: lineage as URIEL gives Otomi varieties"),
    "ber": ("Afro-Asiatic", "Berber", "collective code (Berber languages, Tatoeba), not in URIEL"),
    "arc": ("Afro-Asiatic", "Semitic", "Official Aramaic: URIEL has no lineage"),
    "gub": ("Tupian", "Tupi-Guarani", "URIEL has no lineage"),
    "otk": ("Turkic", "Common Turkic", "Old Turkic: URIEL has no lineage"),
    "ido": ("Constructed", "", "URIEL has no lineage"),
    "ile": ("Constructed", "", "URIEL has no lineage"),
    "jbo": ("Constructed", "", "URIEL has no lineage"),
    "nov": ("Constructed", "", "URIEL has no lineage"),
    "vol": ("Constructed", "", "URIEL has no lineage"),
}

# English names CLDR 47 lacks (ISO 639-3 reference names, shortened where they carry a qualifier).
NAMES = {
    "acm": "Mesopotamian Arabic", "acq": "Ta'izzi-Adeni Arabic", "ajp": "South Levantine Arabic",
    "als": "Tosk Albanian", "apc": "Levantine Arabic", "arb": "Standard Arabic", "ayr": "Central Aymara",
    "azb": "South Azerbaijani", "azj": "North Azerbaijani", "bzd": "Bribri", "cjk": "Chokwe",
    "cni": "Asháninka", "dik": "Southwestern Dinka", "fuv": "Nigerian Fulfulde", "gaz": "West Central Oromo",
    "hch": "Huichol", "hne": "Chhattisgarhi", "kbp": "Kabiyè", "khk": "Halh Mongolian",
    "kmr": "Northern Kurdish", "knc": "Central Kanuri", "lvs": "Standard Latvian", "nah": "Nahuatl",
    "npi": "Nepali (individual language)", "ory": "Odia (individual language)", "oto": "Otomi",
    "pbt": "Southern Pashto", "pes": "Iranian Persian", "plt": "Plateau Malagasy", "prs": "Dari",
    "quy": "Ayacucho Quechua", "shp": "Shipibo-Conibo", "swh": "Swahili (individual language)",
    "taq": "Tamasheq", "tar": "Central Tarahumara", "uzn": "Northern Uzbek", "ydd": "Eastern Yiddish",
    "zsm": "Standard Malay",
    # languages of Tatoeba, WikiANN and UD beyond XTREME-R's
    "abq": "Abaza", "aii": "Assyrian Neo-Aramaic", "apu": "Apurina", "aqz": "Akuntsu", "arh": "Arhuaco",
    "arr": "Karo (Brazil)", "axm": "Middle Armenian", "azz": "Highland Puebla Nahuatl", "ber": "Berber",
    "bor": "Bororo", "bxr": "Buriat", "cbk": "Chavacano", "cdo": "Min Dong Chinese", "ckt": "Chukchi",
    "cpg": "Cappadocian Greek", "ctn": "Chhintange", "diq": "Dimli", "eme": "Teko", "eml": "Emilian-Romagnol",
    "ess": "Central Siberian Yupik", "gub": "Guajajara", "gun": "Mbya Guarani", "gya": "Northwest Gbaya",
    "hbo": "Ancient Hebrew", "hyw": "Western Armenian", "jaa": "Jamamadi", "kbc": "Kadiweu", "kpv": "Komi-Zyrian",
    "kzj": "Coastal Kadazan", "max": "North Moluccan Malay", "mhr": "Eastern Mari", "mpu": "Makurap",
    "myu": "Munduruku", "nhi": "Zacatlan-Ahuacatlan-Tepetzintla Nahuatl", "nmf": "Tangkhul Naga",
    "oge": "Old Georgian", "olo": "Livvi", "orv": "Old Russian", "otk": "Old Turkic", "pad": "Paumari",
    "pay": "Pech", "pnb": "Western Panjabi", "qpm": "Pomak", "ruc": "Ruuli", "sab": "Buglere", "say": "Saya",
    "sjo": "Xibe", "ssp": "Spanish Sign Language", "swg": "Swabian", "swl": "Swedish Sign Language",
    "tpn": "Tupinamba", "tzl": "Talossan", "urb": "Urubu-Kaapor", "xav": "Xavante", "xcl": "Classical Armenian",
    "xpg": "Phrygian", "xum": "Umbrian", "yrk": "Nenets",
}

# Default scripts where neither a single FLORES-200 variety nor CLDR's likely subtags decide.
SCRIPTS = {"arb": "Arab", "knc": "Latn", "nah": "Latn", "oto": "Latn",
           "abq": "Cyrl", "ber": "Latn", "bxr": "Cyrl", "diq": "Latn", "eml": "Latn", "gya": "Latn", "hbs": "Latn",
           "kpv": "Cyrl", "kzj": "Latn", "mhr": "Cyrl", "oge": "Geor", "pnb": "Arab", "qpm": "Latn", "sjo": "Mong",
           "ssp": "Latn", "swl": "Latn", "xcl": "Armn"}  # sign languages: UD writes Latin glosses

# -----------------------------------------------------------------------------------------------------


def _data(name: str):
    return np.load(resources.files("lang2vec") / "data" / name)


@lru_cache(maxsize=1)
def _uriel() -> dict:
    """lang2vec's arrays: {set name: (row index by code, matrix [langs x features], ...)}."""
    fam, pred, geo = _data("family_features.npz"), _data("feature_predictions.npz"), _data("geocoord_features.npz")
    out = {}
    famdata = fam["data"][:, :, 0]
    out["fam"] = ({c: i for i, c in enumerate(fam["langs"])}, famdata, [f[2:] for f in fam["feats"]])
    src = list(pred["sources"]).index("predicted")
    for name, prefix in (("syntax", "S_"), ("phonology", "P_"), ("inventory", "INV_")):
        cols = [i for i, f in enumerate(pred["feats"]) if f.startswith(prefix)]
        out[name] = ({c: i for i, c in enumerate(pred["langs"])}, pred["data"][:, cols, src].astype(np.float64))
    out["geo"] = ({c: i for i, c in enumerate(geo["langs"])}, geo["data"][:, :, 0].astype(np.float64),
                  list(geo["feats"]))
    out["clade_size"] = (famdata == 1).sum(axis=0)
    return out


def _iso1_to_iso3() -> dict[str, str]:
    codes = json.loads((resources.files("lang2vec") / "data" / "letter_codes.json").read_text())
    return {k: v for k, v in codes.items() if len(k) == 2}


def _task_codes() -> list[str]:
    from xlt.tasks import all_specs

    codes = XTREME_R + AMERICAS_NLI + MASAKHANER
    for spec in all_specs():
        codes += [*spec.accepted_languages, spec.source_language]  # the further released languages too
    return codes


def _iso3(code: str, iso1: dict[str, str]) -> str:
    lang, _ = split_code(code)
    if len(lang) == 2:
        if lang not in iso1:
            sys.exit(f"build_languages: no ISO 639-3 code for {code!r}: extend _iso1_to_iso3")
        return iso1[lang]
    return lang


def lineage(uriel_code: str) -> list[str]:
    """URIEL's Glottolog lineage, top (family) first: active `fam` features by decreasing clade size."""
    index, data, names = _uriel()["fam"]
    if uriel_code not in index:
        return []
    size = _uriel()["clade_size"]
    active = [int(i) for i in np.flatnonzero(data[index[uriel_code]] == 1)]
    return [names[i] for i in sorted(active, key=lambda i: (-size[i], i))]


def _rows() -> list[dict[str, str]]:
    from babel import Locale
    from babel.core import get_global

    iso1_map = _iso1_to_iso3()
    iso1_of = {v: k for k, v in sorted(iso1_map.items())}
    cldr_names, likely = Locale("en").languages, get_global("likely_subtags")
    codes = _task_codes()
    flores: dict[str, set[str]] = {}
    for code in codes:
        lang, script = split_code(code)
        if script and len(lang) == 3:
            flores.setdefault(lang, set()).add(script)
    in_uriel = _uriel()["fam"][0]
    rows = []
    for iso3 in sorted({_iso3(c, iso1_map) for c in codes}):
        iso1 = iso1_of.get(iso3, "")
        proxy, note = URIEL_PROXY.get(iso3, (iso3 if iso3 in in_uriel else "", ""))
        uriel_lineage = lineage(proxy) if proxy else []
        if iso3 in MANUAL_FAMILY:
            family, genus, why = MANUAL_FAMILY[iso3]
            had = f"URIEL lineage: {' > '.join(uriel_lineage[:2])}" if uriel_lineage else ""
            note = "; ".join(n for n in (why, had) if n)
            source = "manual-fix"
        elif uriel_lineage:
            family, genus = FAMILY_RENAMES.get(uriel_lineage[0], uriel_lineage[0]), (uriel_lineage[1:] or [""])[0]
            source = "uriel"
        else:
            sys.exit(f"build_languages: no URIEL lineage for {iso3!r}: add it to URIEL_PROXY or MANUAL_FAMILY")
        name = NAMES.get(iso3) or cldr_names.get(iso1) or cldr_names.get(iso3)
        if not name:
            sys.exit(f"build_languages: CLDR has no English name for {iso3!r}: add it to NAMES")
        script = SCRIPTS.get(iso3)
        if script is None and len(flores.get(iso3, ())) == 1:
            script = next(iter(flores[iso3]))
        for key in (iso1, iso3, proxy):
            if script is None and key and key in likely:
                script = split_code(likely[key])[1]
        if script is None:
            sys.exit(f"build_languages: no default script for {iso3!r}: add it to SCRIPTS")
        rows.append(dict(iso639_3=iso3, iso639_1=iso1, name=name, script=script, family=family, genus=genus,
                         uriel=proxy, source=source, note=note))
    return rows


def _vector(kind: str, code: str) -> np.ndarray | None:
    index, data = _uriel()[kind][:2]
    if code not in index:
        return None
    row = data[index[code]].astype(np.float64)
    return None if (row < 0).any() or not row.any() else row


def _lineage_distance(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """1 - shared lineage nodes / nodes in the deeper lineage (0/1 `fam` vectors; 1 = other family)."""
    if a is None or b is None:
        return None
    return 1.0 - float(a @ b) / float(max(a.sum(), b.sum()))


def _cosine(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None:
        return None
    return max(0.0, 1.0 - float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b)))


@lru_cache(maxsize=1)
def _globe_points() -> np.ndarray:
    """Unit vectors of URIEL's 299 `geo` reference points ("GC_<lat>_<lon>")."""
    lat, lon = np.radians(np.array([[float(x) for x in f[3:].split("_")] for f in _uriel()["geo"][2]])).T
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)


def _location(code: str) -> np.ndarray | None:
    """A language's position (unit vector): URIEL's geo feature p is angle(lang, p) / pi, so
    cos(pi * value_p) = point_p . x is linear in x; solve by least squares (error < 0.5 degree)."""
    v = _vector("geo", code)
    if v is None:
        return None
    x = np.linalg.lstsq(_globe_points(), np.cos(np.pi * v), rcond=None)[0]
    return x / np.linalg.norm(x)


def distances(code: str, ref: str, isolate: bool = False) -> dict[str, float | None]:
    """URIEL-style distances between two URIEL codes (None where a vector is missing)."""
    vec = {k: (_vector(k, code), _vector(k, ref)) for k in ("syntax", "phonology", "inventory")}
    fam = (_vector("fam", code), _vector("fam", ref))
    loc = (_location(code), _location(ref))
    featural = None
    if all(a is not None and b is not None for a, b in vec.values()):
        featural = _cosine(np.concatenate([a for a, _ in vec.values()]), np.concatenate([b for _, b in vec.values()]))
    genetic = 0.0 if code == ref else (1.0 if isolate else _lineage_distance(*fam))
    geographic = None
    if loc[0] is not None and loc[1] is not None:
        geographic = float(np.arccos(np.clip(loc[0] @ loc[1], -1.0, 1.0)) / np.pi)
    return {"syntactic": _cosine(*vec["syntax"]), "geographic": geographic,
            "phonological": _cosine(*vec["phonology"]), "genetic": genetic,
            "inventory": _cosine(*vec["inventory"]), "featural": featural}


def _tsv(header: list[str], columns, rows: list[list[str]]) -> str:
    lines = [f"# {h}" for h in header] + ["\t".join(columns)] + ["\t".join(r) for r in rows]
    for line in lines:
        assert "\n" not in line and line.count("\t") == (0 if line.startswith("#") else len(columns) - 1), line
    return "\n".join(lines) + "\n"


def build() -> dict[str, str]:
    """{path: text} of both registry files (what `main` writes)."""
    versions = f"lang2vec {metadata.version('lang2vec')}, babel {metadata.version('babel')}"
    rows = typology(_rows())
    cite = ("URIEL: Littell et al. 2017 (EACL), via lang2vec; lineages from Glottolog (CC-BY-4.0). "
            "Names and scripts: Unicode CLDR (Unicode License v3), via babel.")
    languages = _tsv(
        ["xlt language registry. Generated by scripts/build_languages.py from " + versions + ": do not edit;",
         "edit the fix table in the script and rerun. Conventions (details: xlt.languages docstring):",
         "family = Glottolog level 0 via URIEL, renamed " + ", ".join(f"{a} -> {b}" for a, b in FAMILY_RENAMES.items())
         + "; genus = level 1;",
         "isolates: '<Name> (isolate)'; creoles: family 'Creole', genus '<lexifier>-based';"
         " `uriel` = code read in URIEL; source = uriel | manual-fix.",
         "word_order / adposition: URIEL syntax features, observed (WALS, SSWL, Ethnologue) where one value is given,"
         " else kNN-predicted; *_source says which. resource: Joshi et al. 2020 class (joshi2020_classes.tsv).",
         cite],
        LANGUAGE_COLUMNS, [[r[c] for c in LANGUAGE_COLUMNS] for r in rows])
    ref = DISTANCE_REFERENCE
    drows = []
    for r in rows:
        if r["uriel"]:
            d = distances(r["uriel"], ref, isolate=r["family"].endswith("(isolate)"))
        else:
            d = dict.fromkeys(DISTANCE_KINDS)
        drows.append([r["iso639_3"], r["uriel"]] + ["" if d[k] is None else f"{d[k]:.4f}" for k in DISTANCE_KINDS])
    dist = _tsv(
        [f"URIEL distances to English ({ref}) of every registry language, read through its `uriel` code.",
         "Generated by scripts/build_languages.py from " + versions + "; definitions in the xlt.languages docstring.",
         "Empty cell = URIEL lacks that vector for the language. " + cite],
        ["iso639_3", "uriel", *DISTANCE_KINDS], drows)
    return {LANGUAGES_TSV: languages, DISTANCES_TSV: dist}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed files")
    args = parser.parse_args(argv)
    stale = []
    for path, text in build().items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    verb = "stale" if args.check else "rewrote"
    print(f"{verb}: {', '.join(p.name for p in stale)}" if stale else "up to date")
    return 1 if args.check and stale else 0


# --- typology and resource columns (word order, adposition order, Joshi et al. 2020 class) ------------
WORD_ORDERS = ("SVO", "SOV", "VSO", "VOS", "OVS", "OSV")
ADPOSITIONS = {"ADPOSITION_BEFORE_NOUN": "prepositions", "ADPOSITION_AFTER_NOUN": "postpositions"}
# Observed URIEL syntax sources in order of preference (lang2vec's syntax_wals, syntax_sswl, syntax_ethnologue);
# the kNN prediction (syntax_knn) is the fallback, and the *_source column says which one decided.
OBSERVED_SOURCES = (("WALS", "wals"), ("SSWL", "sswl"), ("ETHNO", "ethnologue"))
JOSHI_TSV = LANGUAGES_TSV.parent / "joshi2020_classes.tsv"


@lru_cache(maxsize=1)
def _observed() -> tuple[dict, list, list, np.ndarray]:
    f = _data("features.npz")
    return {c: i for i, c in enumerate(f["langs"])}, list(f["feats"]), list(f["sources"]), f["data"]


def _categorical(code: str, labels: dict[str, str]) -> tuple[str, str]:
    """(label, source) of a one-of-N URIEL feature group (`labels`: feature without 'S_' -> label): the first
    observed source where exactly one feature of the group is 1, else the kNN prediction's argmax; ('', '')
    when URIEL has neither."""
    index, feats, sources, data = _observed()
    cols = [feats.index("S_" + f) for f in labels]
    if code in index:
        for name, tag in OBSERVED_SOURCES:
            v = data[index[code], cols, sources.index(name)]
            if (v >= 0).all() and (v == 1).sum() == 1:
                return list(labels.values())[int(np.argmax(v))], tag
    pred = _data("feature_predictions.npz")
    pindex = {c: i for i, c in enumerate(pred["langs"])}
    if code not in pindex:
        return "", ""
    pfeats = list(pred["feats"])
    v = pred["data"][pindex[code], [pfeats.index("S_" + f) for f in labels], 0]
    return list(labels.values())[int(np.argmax(v))], "knn"


def word_order(code: str) -> tuple[str, str]:
    """Basic word order (SVO, SOV, ...) of a URIEL code and where it came from (wals | sswl | ethnologue | knn)."""
    return _categorical(code, {o: o for o in WORD_ORDERS})


def adposition(code: str) -> tuple[str, str]:
    """prepositions | postpositions of a URIEL code and where it came from."""
    return _categorical(code, ADPOSITIONS)


def joshi_classes() -> dict[str, str]:
    """iso639_3 -> Joshi et al. 2020 class ("0".."5") from the shipped table."""
    lines = [line for line in JOSHI_TSV.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    rows = [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]
    return {r["iso639_3"]: r["joshi_class"] for r in rows}


def typology(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows with word_order(_source), adposition(_source) (read through the row's `uriel` code) and resource."""
    classes = joshi_classes()
    for r in rows:
        r["word_order"], r["word_order_source"] = word_order(r["uriel"]) if r["uriel"] else ("", "")
        r["adposition"], r["adposition_source"] = adposition(r["uriel"]) if r["uriel"] else ("", "")
        r["resource"] = classes.get(r["iso639_3"], "")
    return rows


if __name__ == "__main__":
    sys.exit(main())
