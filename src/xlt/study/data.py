"""A task entry's examples as a run reads them: English train/dev and each evaluation language's test."""

from __future__ import annotations

import dataclasses
import os
import socket
from functools import cache, cached_property
from pathlib import Path
from urllib.parse import urlparse

from tqdm.auto import tqdm

from xlt.errors import XltError
from xlt.study.config import TaskEntry
from xlt.tasks.base import labels_of, unknown_language
from xlt.tasks.generic import task_for
from xlt.tasks.fingerprint import data_fingerprint
from xlt.training.kinds import kind_for


class TaskData:
    """One task entry's splits, read once per process and shared by every run of the entry."""

    def __init__(self, entry: TaskEntry, progress: bool = True):
        self.entry, self.progress = entry, progress
        self._missing: XltError | None = None  # data_dir absent on this machine: raised on first read
        try:
            self.task = task_for(entry)  # a registered task, or one declared in the study file
        except XltError as exc:
            if not entry.data_dir or Path(entry.data_dir).expanduser().exists():
                raise
            # the spec only; nothing is read
            self._missing, self.task = exc, task_for(dataclasses.replace(entry, data_dir=None))
        self.spec = self.task.spec
        self._pools: dict[str, list] = {}
        self.unread = ""  # why this entry's data was not read (`xlt study --dry-run` without the hub)

    @cached_property
    def languages(self) -> list[str]:
        spec, langs = self.spec, self.entry.languages
        if langs == "all":
            chosen = list(spec.languages)
        elif langs == "available":
            chosen = self.task.available_languages("test")
        else:
            valid = set(spec.accepted_languages) | {spec.source_language}
            bad = [l for l in langs if l not in valid]
            if bad:
                raise unknown_language(spec, bad)
            chosen = list(dict.fromkeys(langs))  # a language listed twice is evaluated once
        if spec.source_language in spec.languages and spec.source_language not in chosen:
            chosen.insert(0, spec.source_language)  # English test is the reference for the gap
        return chosen

    def _readable(self) -> None:
        if self._missing is not None:
            raise self._missing

    @cached_property
    def splits(self) -> dict:
        self._readable()
        src = self.spec.source_language
        if self.kind.trains:
            train, dev = self.task.load("train", src), self.task.load("dev", src)
        else:  # retrieval: evaluated without task training
            train, dev = [], []
        langs = tqdm(self.languages, desc=f"load {self.spec.name}", leave=False, unit="lang",
                     disable=not self.progress)
        test = {lang: self.task.load("test", lang) for lang in langs}
        return {"train": train, "dev": dev, "test": test}

    @cached_property
    def kind(self):
        return kind_for(self.spec)

    @cached_property
    def label_names(self) -> list[str]:
        """The head's label vocabulary. Every dev/test label must occur in the English training data:
        a label the model never saw trained cannot be predicted, and its examples would silently
        count as errors (checked once here, against what training has, not what the task declares)."""
        labels = self.kind.label_names(self.splits["train"])
        seen = {label for ex in self.splits["train"] for label in labels_of(ex) if label is not None}
        if not labels:
            return labels
        for lang, exs in [("dev", self.splits["dev"])] + list(self.splits["test"].items()):
            for ex in exs:
                for label in labels_of(ex):
                    if label is not None and label not in seen:
                        raise XltError(f"{ex.origin}: label {label!r} ({lang}) does not occur in the English "
                                       f"training data (train labels: {sorted(seen)})")
        return labels

    @cached_property
    def sources(self) -> frozenset[str]:
        """What a run of this entry reads: English train/dev (kinds that train) and every evaluation
        language's test split with its retrieval pool, as `file:<path>`, `hub:<dataset>@<revision> ...`
        or `embedded:<name>@<version> ...`."""
        self._readable()
        src = self.spec.source_language
        pairs = [("train", src), ("dev", src)] if self.kind.trains else []
        return self.task.sources(pairs + [("test", lang) for lang in self.languages])

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over the bytes of every file in `sources` (hashed once per file version) and the
        pinned hub or embedded sources. An entry left unread (`skip_unreachable`) has a placeholder: its
        run ids are provisional until the data is read."""
        if self.unread:
            return f"unread ({self.unread})"
        return data_fingerprint(self.sources, self.task.data_dir)

    def validate(self) -> None:
        """Read everything a run of this entry will read (cached for the runs): every split of every
        language, the label check, retrieval pools. Bad data fails here, before any run is claimed."""
        _ = self.label_names
        if not self.kind.trains:
            for lang in self.languages:
                self.candidates(lang)
        _ = self.fingerprint

    @property
    def reads_hub(self) -> bool:
        """Whether this entry's splits come from the Hugging Face hub (no data_dir, a hub source)."""
        return self.task.data_dir is None and self.task.hub_source() is not None

    def skip_unreadable(self) -> bool:
        """For `--dry-run` only: leave the entry unread when its data cannot be read on this machine - its
        data_dir does not exist here, or it is on the hub and the hub cannot be reached - (its languages
        are then the task's declared list); True when it was left unread. Data that is here is read and
        checked as always."""
        if self._missing is not None:
            self.unread = f"data_dir {self.entry.data_dir} is not on this machine"
        elif self.reads_hub and not hub_reachable():
            self.unread = "hub offline"
        return bool(self.unread)

    @property
    def label2id(self) -> dict[str, int]:
        return {l: i for i, l in enumerate(self.label_names)}

    def candidates(self, lang: str) -> list:
        """Retrieval: the candidate pool `lang`'s queries are ranked against (read once; languages
        sharing one pool file share the list)."""
        self._readable()
        if lang not in self._pools:
            self._pools[lang] = self.task.load_candidates(lang)
        return self._pools[lang]

    # -- target-language training data (few-shot:K and translate-train, xlt.study.protocols) ----------
    def has_train(self, lang: str) -> bool:
        """Whether `lang` has a train split to read (local files present; hub data: assumed, read later)."""
        return self.task.data_dir is None or self.task.has_local("train", lang)

    def target_train(self, lang: str) -> list:
        """`lang`'s train split (the benchmark's own or machine-translated one), read once per process;
        its labels must be ones the English training data has (the head knows no others)."""
        examples = self.task.load("train", lang)
        seen = {label for ex in self.splits["train"] for label in labels_of(ex) if label is not None}
        for ex in examples:
            for label in labels_of(ex):
                if label is not None and seen and label not in seen:
                    raise XltError(f"{ex.origin}: label {label!r} ({lang} train) does not occur in the English "
                                   f"training data (train labels: {sorted(seen)})")
        return examples


@cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub can be reached: False at once under HF_HUB_OFFLINE /
    HF_DATASETS_OFFLINE, else whether a TCP connection to the hub (or the HTTPS proxy in use) opens
    within `timeout` seconds. `datasets` itself retries for ~26 s before giving up; this answers in at
    most `timeout`. Asked once per process."""
    flags = (os.environ.get(v, "").lower() for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if any(f in ("1", "true", "yes", "on") for f in flags):
        return False
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname or "", url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout).close()
        return True
    except OSError:
        return False
