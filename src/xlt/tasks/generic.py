"""Tasks declared in a study file, no Python: a source (files or a hub dataset) and a field mapping.

    tasks:
      - {name: my-sentiment, type: classification, source: {files: "data/{lang}/{split}.tsv"},
         fields: {text: review, label: stars}, source_language: en, languages: [de, fr, ja]}

`type` and the `fields` each type maps (xlt field: the dataset's column; * = required):

    classification   text*, label*, text_pair          (sentence-pair: text*, text_pair*, label*)
    multiple-choice  premise*, choices* (a column holding a list, or a list of columns), label* (the
                     index of the right choice, or its text), question
    tagging          tokens*, tags* (lists, or strings split on whitespace; one tag per token)
    extractive-qa    context*, question*, answers* (a string, a list of strings or of {text, answer_start},
                     or SQuAD's {text: [...], answer_start: [...]}), answer_start, id

`source` is one of
- `{files: PATTERN}`: TSV, CSV (header line; fields may be quoted as Python's csv module and pandas write
  them), JSONL or parquet, by extension. `{lang}` and `{split}` in the pattern are filled with the task's
  language codes and train/dev/test. A pattern without `{lang}` needs `language_column` (one file, a
  column names each row's language); one without `{split}`, `split_column`. `splits: {dev: validation}`
  renames splits in file names and split columns. A relative pattern is relative to the study file (or
  to the entry's `data_dir`); the part before the first `{...}` becomes the task's data_dir, so moving the
  folder changes no run id.
- `{hub: ORG/NAME, config: "{lang}", revision: ..., layout: card|parquet-export}`: read through
  `xlt.tasks.hub` (parquet-backed datasets; `splits:` as above, default dev -> validation); the
  languages must then be listed. `revision` defaults to "main": pin a commit, since the run identity
  holds the revision's name, not the hub's bytes.

Labels are those of the English (`source_language`) training split; a dev/test label it lacks, a bad
row, an empty split or a column the file lacks is one error naming file:line (parquet: the row number).
`languages: all` / `available` is every language the files hold (the source language first).
The run identity holds the declaration: its type, field mapping, source (pattern below the data_dir,
columns, hub id/config/revision) and source language are hashed into the task version, so a changed
mapping gives new run ids; the data fingerprint covers the files' bytes as for every task.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from xlt.errors import ConfigError, DataError, XltError
from xlt.tasks.base import _REGISTRY, Task, labels_of
from xlt.tasks.fieldmap import BUILD, cell, fail
from xlt.tasks.formats import RECORD_FORMATS as FORMATS, records
from xlt.tasks.spec import HubSource, TaskSpec, TaskType

KEYS = frozenset({"type", "source", "fields", "source_language"})  # entry keys that make a task entry a declaration
SPLITS = ("train", "dev", "test")
TYPES = {"classification": TaskType.CLASSIFICATION, "sentence-pair": TaskType.CLASSIFICATION,
         "multiple-choice": TaskType.MULTIPLE_CHOICE, "tagging": TaskType.TAGGING, "extractive-qa": TaskType.QA}
FIELDS = {  # xlt field -> required
    "classification": {"text": True, "label": True, "text_pair": False},
    "sentence-pair": {"text": True, "text_pair": True, "label": True},
    "multiple-choice": {"premise": True, "choices": True, "label": True, "question": False},
    "tagging": {"tokens": True, "tags": True},
    "extractive-qa": {"context": True, "question": True, "answers": True, "answer_start": False, "id": False},
}
METRICS = {TaskType.CLASSIFICATION: ("accuracy",), TaskType.MULTIPLE_CHOICE: ("accuracy",),
           TaskType.TAGGING: ("f1", "accuracy"), TaskType.QA: ("squad_f1", "squad_em")}
FILE_KEYS = {"files", "language_column", "split_column", "splits"}
HUB_KEYS = {"hub", "config", "revision", "layout", "language_column", "splits"}


# -- the study entry -----------------------------------------------------------------------------------
def declared_entry(entry, item: dict, where: str):
    """`entry` (a study's TaskEntry) with the declaration of `item` (its YAML mapping) checked and
    normalised: type, source and fields as sorted pairs, a file pattern's fixed folder moved to data_dir."""
    name = entry.name
    if name in _REGISTRY and not issubclass(_REGISTRY[name], GenericTask):
        raise ConfigError(f"{where}: task {name!r} is a built-in task: give the declared task another name")
    kind = item.get("type")
    if kind not in FIELDS:
        raise ConfigError(f"{where}: task {name!r}: type must be one of {', '.join(FIELDS)}, got {kind!r}")
    fields = _fields(item.get("fields"), kind, name, where)
    source, data_dir = _source(item.get("source"), entry.data_dir, name, where)
    if "hub" in source and entry.languages in ("all", "available"):
        raise ConfigError(f"{where}: task {name!r} reads the hub: list its languages (languages: [de, fr, ...])")
    lang = item.get("source_language", "en")
    if not isinstance(lang, str) or not lang:
        raise ConfigError(f"{where}: task {name!r}: source_language must be a language code, got {lang!r}")
    return dataclasses.replace(entry, data_dir=data_dir, type=kind, source=_pairs(source), fields=_pairs(fields),
                               source_language=lang)


def _pairs(mapping: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else _pairs(v) if isinstance(v, dict) else v)
                        for k, v in mapping.items()))


def _fields(raw, kind: str, name: str, where: str) -> dict:
    known = FIELDS[kind]
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: task {name!r}: fields must map xlt's field names to columns "
                          f"({', '.join(known)}), got {raw!r}")
    for key, column in raw.items():
        if key not in known:
            raise ConfigError(f"{where}: task {name!r}: unknown field {key!r} for type {kind} "
                              f"(fields: {', '.join(known)})")
        ok = isinstance(column, str) or (key == "choices" and isinstance(column, list) and len(column) >= 2
                                         and all(isinstance(c, str) for c in column))
        if not ok:
            raise ConfigError(f"{where}: task {name!r}: fields.{key} must name a column"
                              f"{' (or list 2+ columns)' if key == 'choices' else ''}, got {column!r}")
    missing = [k for k, required in known.items() if required and k not in raw]
    if missing:
        raise ConfigError(f"{where}: task {name!r}: type {kind} needs fields {missing} (got {sorted(raw)})")
    return dict(raw)


def _source(raw, data_dir: str | None, name: str, where: str) -> tuple[dict, str | None]:
    if isinstance(raw, str):
        raw = {"files": raw}
    if not isinstance(raw, dict) or ("files" in raw) == ("hub" in raw):
        raise ConfigError(f"{where}: task {name!r}: source must be {{files: PATTERN}} or {{hub: ORG/NAME, "
                          f"config: ...}}, got {raw!r}")
    valid = FILE_KEYS if "files" in raw else HUB_KEYS
    for key, value in raw.items():
        if key not in valid:
            raise ConfigError(f"{where}: task {name!r}: unknown source key {key!r} (valid: {', '.join(sorted(valid))})")
        if key == "splits":
            if not isinstance(value, dict) or not set(value) <= set(SPLITS):
                raise ConfigError(f"{where}: task {name!r}: source.splits maps train/dev/test to names, got {value!r}")
        elif not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: task {name!r}: source.{key} must be a string, got {value!r}")
    source = dict(raw)
    if "hub" in source:
        if source.get("layout", "card") not in ("card", "parquet-export"):
            raise ConfigError(f"{where}: task {name!r}: source.layout must be card or parquet-export")
        return source, data_dir
    pattern = source["files"]
    if not pattern.endswith(FORMATS):
        raise ConfigError(f"{where}: task {name!r}: source.files must end in {', '.join(FORMATS)}, got {pattern!r}")
    bad = set(re.findall(r"{([^}]*)}", pattern)) - {"lang", "split"}
    if bad:
        raise ConfigError(f"{where}: task {name!r}: source.files may hold {{lang}} and {{split}} only, not "
                          f"{', '.join('{' + b + '}' for b in sorted(bad))}")
    for slot, column in (("lang", "language_column"), ("split", "split_column")):
        if ("{" + slot + "}" in pattern) == (column in source):
            raise ConfigError(f"{where}: task {name!r}: give either {{{slot}}} in source.files or source.{column} "
                              "(the column naming each row's " + ("language" if slot == "lang" else "split") + ")")
    # the folder before the first placeholder is the task's data_dir: file names in the fingerprint are
    # relative to it, so a moved benchmark keeps its run ids
    parts = Path(pattern).parts
    fixed = next((i for i, p in enumerate(parts) if "{" in p), len(parts) - 1)
    root = Path(*parts[:fixed]) if fixed else Path(".")
    if data_dir:
        root = Path(data_dir) / root
    source["files"] = "/".join(parts[fixed:])
    return source, str(root)


# -- the declaration and its task ------------------------------------------------------------------------
@dataclass(frozen=True)
class Declaration:
    name: str
    kind: str  # a key of FIELDS
    source: dict
    fields: dict
    source_language: str
    languages: tuple[str, ...] | str  # as the entry gives them
    root: Path | None  # the files' folder (None: hub)

    @classmethod
    def of(cls, entry) -> Declaration:
        source, fields = _unpairs(entry.source), _unpairs(entry.fields)
        root = Path(entry.data_dir).expanduser() if "files" in source and entry.data_dir else None
        return cls(entry.name, entry.type, source, fields, entry.source_language or "en", entry.languages, root)

    @property
    def version(self) -> str:
        """What the run identity holds of the declaration (the files' bytes enter the data fingerprint)."""
        blob = json.dumps({"type": self.kind, "source": self.source, "fields": self.fields,
                           "source_language": self.source_language}, sort_keys=True)
        return "declared-" + hashlib.sha256(blob.encode()).hexdigest()[:12]

    def split_name(self, split: str) -> str:
        default = {"dev": "validation"} if "hub" in self.source else {}
        return {**default, **self.source.get("splits", {})}.get(split, split)

    def spec(self, languages: tuple[str, ...] = (), labels: tuple[str, ...] = ()) -> TaskSpec:
        ttype = TYPES[self.kind]
        metrics = METRICS[ttype]
        where = self.source.get("hub") or str((self.root or Path(".")) / self.source["files"])
        hub = None
        if "hub" in self.source:
            hub = HubSource(self.source["hub"], self.source.get("revision", "main"), self.source.get("config"),
                            self.source.get("layout", "card"))
        return TaskSpec(
            name=self.name, type=ttype, description=f"declared in a study file ({self.kind}, {where})",
            languages=languages, source_language=self.source_language, metrics=metrics, main_metric=metrics[0],
            version=self.version, labels=labels, train_source=f"{self.source_language} train of {where}", hub=hub,
            local_format=self.source.get("files", ""), extra={"declaration": {"type": self.kind, **self.fields}})


def _unpairs(pairs) -> dict:
    return {k: (_unpairs(v) if isinstance(v, tuple) and v and all(isinstance(x, tuple) for x in v) else
                list(v) if isinstance(v, tuple) else v) for k, v in pairs}


class GenericTask(Task):
    """A declared task; `declare` makes one subclass per declaration and registers it by name."""

    declaration: ClassVar[Declaration]

    def __init__(self, data_dir=None):  # the declaration says where the data is
        self.data_dir, self._loaded = self.declaration.root, {}

    def resolved(self) -> GenericTask:
        """This task with the spec a study uses: the languages the files hold (for `all`/`available`)
        and the label set of the source language's training split (classification, tagging)."""
        d = self.declaration
        langs = list(d.languages) if isinstance(d.languages, tuple) else self._found_languages()
        langs = [d.source_language] + [l for l in langs if l != d.source_language]
        labels: tuple[str, ...] = ()
        if TYPES[d.kind] in (TaskType.CLASSIFICATION, TaskType.TAGGING):
            self.spec = d.spec(tuple(langs))  # load() checks languages against it
            seen = {l for ex in self.load("train", d.source_language) for l in labels_of(ex) if l is not None}
            labels = tuple(sorted(seen))
        self.spec = d.spec(tuple(langs), labels)
        return self

    def available_languages(self, split: str = "test") -> list[str]:
        return [l for l in self.spec.languages if self.has_local(split, l)]

    def _check_labels(self, examples: list, split: str, language: str) -> None:
        """The label set is the source language's training split's: say so, naming the row."""
        known = set(self.spec.labels)
        for ex in examples if known else ():
            bad = [l for l in labels_of(ex) if l is not None and l not in known]
            if bad:
                raise fail(f"label {bad[0]!r} ({split}/{language}) does not occur in the {self.spec.source_language} "
                            f"training data (train labels: {sorted(known)})", ex.origin)

    def has_local(self, split: str, language: str) -> bool:
        d = self.declaration
        if "hub" in d.source:
            return True
        if "language_column" in d.source:
            return language in self._column_languages(split)
        return self._path(split, language).is_file()

    # -- rows ----------------------------------------------------------------------------------------
    def _path(self, split: str, language: str) -> Path:
        d = self.declaration
        return d.root / d.source["files"].replace("{lang}", language).replace("{split}", d.split_name(split))

    def _found_languages(self) -> list[str]:
        """Every language with a test split in the files."""
        d = self.declaration
        if "language_column" in d.source:
            return sorted(self._column_languages("test"))
        pattern = d.source["files"].replace("{split}", d.split_name("test"))
        regex = re.compile(re.escape(pattern).replace(re.escape("{lang}"), "(?P<lang>[^/]+)") + "$")
        found = {m["lang"] for p in d.root.glob(pattern.replace("{lang}", "*"))
                 if (m := regex.match(p.relative_to(d.root).as_posix()))}
        if not found:
            raise DataError(f"task {self.name}: no test file matches {pattern}", d.root)
        return sorted(found)

    def _column_languages(self, split: str) -> set[str]:
        col = self.declaration.source["language_column"]
        return {str(cell(r, col, o)) for o, r in self._rows(split) if r.get(col) is not None}

    def _rows(self, split: str, language: str | None = None) -> list[tuple[str, dict]]:
        """(origin, record) of a split (of one language where files are per language)."""
        d = self.declaration
        if "hub" in d.source:
            from xlt.tasks.hub import load_hub_split

            found = load_hub_split(self.spec.hub, split, language or "", d.split_name)
            rows = [(f"{d.source['hub']}[{split}/{language}]#{i}", r) for i, r in enumerate(found)]
        else:
            path = self._path(split, language or "")
            rows = self._memo(("rows", str(path)), lambda: tuple(records(path)))
        if "split_column" in d.source:
            col, want = d.source["split_column"], d.split_name(split)
            rows = [(o, r) for o, r in rows if str(cell(r, col, o)) == want]
        return list(rows)

    def _examples(self, split: str, language: str) -> list:
        d = self.declaration
        rows = self._rows(split, language)
        if "language_column" in d.source:
            col = d.source["language_column"]
            rows = [(o, r) for o, r in rows if str(cell(r, col, o)) == language]
        build = BUILD[TYPES[d.kind]]
        return [build(r, d.fields, o, f"{language}-{split}-{i}") for i, (o, r) in enumerate(rows, 1)]

    def load_local(self, split: str, language: str) -> list:
        return self._examples(split, language)

    def load_hub(self, split: str, language: str) -> list:
        return self._examples(split, language)


def declare(entry) -> type[GenericTask]:
    """The task class of a declared entry (a TaskEntry with `type`), registered under its name so that
    `get_task`, `find_spec` and `all_specs` (listing, report, export) know it in this process."""
    if entry.name in _REGISTRY and not issubclass(_REGISTRY[entry.name], GenericTask):
        raise XltError(f"task {entry.name!r} is a built-in task: give the declared task another name")
    decl = Declaration.of(entry)
    langs = entry.languages if isinstance(entry.languages, tuple) else ()
    spec = decl.spec(tuple(dict.fromkeys((decl.source_language, *langs))))
    cls = type(f"Declared[{entry.name}]", (GenericTask,), {"declaration": decl, "spec": spec})
    _REGISTRY[entry.name] = cls
    return cls


def task_for(entry) -> Task:
    """The task a study entry reads: a declared task (resolved against its files), else the registry's."""
    from xlt.tasks.base import get_task

    if getattr(entry, "type", None):
        return declare(entry)().resolved()
    return get_task(entry.name, entry.data_dir)


def register_stored(configs) -> list[str]:
    """Register the declared tasks of stored runs (`runs.config`: their study's task entries), so that a
    report or export in another process knows them; returns their names."""
    from xlt.study.config import TaskEntry

    names = []
    for config in configs:
        for raw in ((config or {}).get("study") or {}).get("tasks") or []:
            if isinstance(raw, dict) and raw.get("type") and raw.get("name") not in names:
                langs = raw.get("languages", "all")
                entry = TaskEntry(raw["name"], raw.get("data_dir"), tuple(langs) if isinstance(langs, list) else langs,
                                  type=raw["type"], source=_tuples(raw.get("source")),
                                  fields=_tuples(raw.get("fields")), source_language=raw.get("source_language"))
                declare(entry)
                names.append(raw["name"])
    return names


def _tuples(value):
    """JSON lists back into the TaskEntry's nested tuples."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
