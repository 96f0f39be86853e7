"""`xlt ls`: the registry as plain-text tables."""

from __future__ import annotations

from collections import defaultdict


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def list_registry(what: str) -> str:
    from xlt.models.registry import describe
    from xlt.tasks import all_specs

    if what == "tasks":
        # languages: `all` (the default set) / every released one a study may name
        rows = [[s.name, s.type.value, s.category or "-", f"{len(s.languages)}/{len(s.accepted_languages)}",
                 s.main_metric, s.version, s.train_source or "-"] for s in all_specs()]
        return _table(["task", "type", "xtreme-r category", "langs all/released", "metric", "version",
                       "english train"], rows)
    if what == "models":
        rows = [[m["name"], m["source"], m["pooling"], m["description"]] for m in describe()]
        return _table(["preset", "source", "pooling", "description"], rows)
    from xlt.errors import XltError
    from xlt.languages import lookup

    # one row per language (ISO 639-3), whatever code each task uses for it
    tasks_of, codes = defaultdict(set), defaultdict(set)
    for s in all_specs():
        for code in s.accepted_languages:  # every released language the task reads
            try:
                key = lookup(code)
            except XltError:
                key = None
            iso3 = key.iso3 if key else code
            tasks_of[iso3].add(s.name)
            codes[iso3].add(code)
    rows = []
    for iso3 in sorted(tasks_of):
        try:
            lang = lookup(iso3)
            name, family, script = lang.name, lang.family, lang.script
        except XltError:
            name = family = script = "?"
        rows.append([iso3, name, script, family, str(len(tasks_of[iso3])), ", ".join(sorted(tasks_of[iso3])),
                     " ".join(sorted(codes[iso3]))])
    return _table(["iso3", "name", "script", "family", "#tasks", "tasks", "codes"], rows)
