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
        rows = [[s.name, s.type.value, s.category or "-", str(len(s.languages)), s.main_metric, s.version,
                 s.train_source or "-"] for s in all_specs()]
        return _table(["task", "type", "xtreme-r category", "langs", "metric", "version", "english train"], rows)
    if what == "models":
        rows = [[m["name"], m["source"], m["pooling"], m["description"]] for m in describe()]
        return _table(["preset", "source", "pooling", "description"], rows)
    tasks_of = defaultdict(list)
    for s in all_specs():
        for lang in s.languages:
            tasks_of[lang].append(s.name)
    rows = [[lang, str(len(ts)), ", ".join(ts)] for lang, ts in sorted(tasks_of.items())]
    return _table(["language", "#tasks", "tasks"], rows)
