"""Content identity of a task's data: `Task.fingerprint(pairs)` hashes exactly the files read for those
(split, language) pairs, each file hashed once per (path, size, mtime) - in the process and on disk."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

import xlt.hashing as fp
import xlt.tasks.formats as formats
from xlt.tasks import get_task
from xlt.hashing import file_sha256
from xlt.tasks.fingerprint import data_fingerprint

HEADER = "index_id\tcategory\ttext\n"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fp, "_MEMO", {})


@pytest.fixture
def sib(tmp_path) -> Path:
    root = tmp_path / "sib"
    for lang in ("eng_Latn", "deu_Latn", "fra_Latn"):
        for split in ("train", "dev", "test"):
            path = root / lang / f"{split}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(HEADER + f"1\tsports\t{lang} {split}\n", encoding="utf-8")
    return root


PAIRS = [("train", "eng_Latn"), ("dev", "eng_Latn"), ("test", "eng_Latn"), ("test", "deu_Latn")]


def test_sources_are_exactly_the_files_read(sib):
    task = get_task("sib200", sib)
    assert task.sources_read("test", "deu_Latn") == {f"file:{(sib / 'deu_Latn' / 'test.tsv').absolute()}"}
    read = {s for pair in PAIRS for s in task.sources_read(*pair)}
    assert read == {f"file:{(sib / lang / f'{split}.tsv').absolute()}" for split, lang in PAIRS}
    # the fingerprint is the sha256 over those files' names (relative to data_dir) and bytes, in path order
    expected = hashlib.sha256("".join(
        f"file {lang}/{split}.tsv {hashlib.sha256((sib / lang / f'{split}.tsv').read_bytes()).hexdigest()}\n"
        for lang, split in sorted((lang, split) for split, lang in PAIRS)).encode()).hexdigest()
    assert task.fingerprint(PAIRS) == expected


def test_changed_bytes_change_it_other_files_do_not(sib):
    before = get_task("sib200", sib).fingerprint(PAIRS)
    (sib / "fra_Latn" / "test.tsv").write_text(HEADER + "1\ttravel\tautre\n", encoding="utf-8")  # not read
    (sib / "README").write_text("notes", encoding="utf-8")
    assert get_task("sib200", sib).fingerprint(PAIRS) == before
    (sib / "deu_Latn" / "test.tsv").write_text(HEADER + "1\tsports\tdeu_Latn test!\n", encoding="utf-8")
    assert get_task("sib200", sib).fingerprint(PAIRS) != before
    assert get_task("sib200", sib).fingerprint(PAIRS[:3]) != get_task("sib200", sib).fingerprint(PAIRS)


def test_same_bytes_elsewhere_give_the_same_fingerprint(sib, tmp_path):
    moved = tmp_path / "elsewhere" / "sib"
    shutil.copytree(sib, moved)
    assert get_task("sib200", moved).fingerprint(PAIRS) == get_task("sib200", sib).fingerprint(PAIRS)


def test_each_file_is_hashed_once_per_version(sib, monkeypatch):
    hashed = []
    real = fp._hash_bytes
    monkeypatch.setattr(fp, "_hash_bytes", lambda path: hashed.append(path.name) or real(path))
    get_task("sib200", sib).fingerprint(PAIRS)
    assert len(hashed) == 4
    get_task("sib200", sib).fingerprint(PAIRS)  # same process: memory cache
    monkeypatch.setattr(fp, "_MEMO", {})
    get_task("sib200", sib).fingerprint(PAIRS)  # a new process: the on-disk cache
    assert len(hashed) == 4
    assert len(list((Path(os.environ["XLT_CACHE"]) / "data-hashes").iterdir())) == 4
    path = sib / "deu_Latn" / "test.tsv"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # touched: same bytes, new version
    get_task("sib200", sib).fingerprint(PAIRS)
    assert hashed[4:] == ["test.tsv"]


def test_a_corrupt_cache_entry_is_recomputed(sib):
    path = sib / "deu_Latn" / "test.tsv"
    digest = file_sha256(path)
    [entry] = (Path(os.environ["XLT_CACHE"]) / "data-hashes").iterdir()
    entry.write_text("garbage", encoding="ascii")
    fp._MEMO.clear()
    assert file_sha256(path) == digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_fingerprint_then_load_parses_once_and_a_changed_file_is_read_again(sib, monkeypatch):
    reads = []
    real = formats.note_file  # every file opened for reading is noted
    monkeypatch.setattr(formats, "note_file", lambda path: reads.append(path.name) or real(path))
    task = get_task("sib200", sib)
    task.fingerprint([("test", "deu_Latn")])
    [ex] = task.load("test", "deu_Latn")
    assert reads == ["test.tsv"] and ex.text == "deu_Latn test"
    (sib / "deu_Latn" / "test.tsv").write_text(HEADER + "1\tsports\tneu und länger\n", encoding="utf-8")
    assert task.load("test", "deu_Latn")[0].text == "neu und länger" and len(reads) == 2


def test_retrieval_fingerprint_covers_the_candidate_pool(tmp_path):
    ctx = {"language": "de", "text": "Merkel sprach.", "sentence_spans": [{"start": 0, "end": 14}]}
    mention = {"example_id": "m1", "entity_id": "Q1", "mention_span": {"start": 0, "end": 6, "text": "Merkel"}}
    entity = {"entity_id": "Q1", "description": "Politikerin.", "description_language": "de",
              "sentence_spans": [{"start": 0, "end": 12}]}
    files = {"wikinews_mentions-test.jsonl": {"context": ctx, "mentions": [mention]},
             "candidate_set_entities.jsonl": entity,
             "wikipedia_pairs-train.jsonl": {"contextual_mention": {"context": ctx, "mention": mention},
                                             "entity": entity}}
    for name, rec in files.items():
        (tmp_path / name).write_text(json.dumps(rec) + "\n", encoding="utf-8")
    task = get_task("mewslix", tmp_path)
    assert {Path(s[5:]).name for s in task.sources_read("test", "de")} == {
        "wikinews_mentions-test.jsonl", "candidate_set_entities.jsonl"}  # not the training pairs
    before = task.fingerprint([("test", "de")])
    (tmp_path / "candidate_set_entities.jsonl").write_text(
        json.dumps(dict(entity, description="Kanzlerin.", sentence_spans=[])) + "\n", encoding="utf-8")
    assert get_task("mewslix", tmp_path).fingerprint([("test", "de")]) != before
    # cached by the task (1M entities are parsed once), yet still recorded on every call
    assert get_task("mewslix", tmp_path).sources_read("test", "de") == task.sources_read("test", "de")

    (tmp_path / "tatoeba.deu-eng.deu").write_text("Hallo.\n", encoding="utf-8")
    (tmp_path / "tatoeba.deu-eng.eng").write_text("Hello.\n", encoding="utf-8")
    assert {Path(s[5:]).name for s in get_task("tatoeba", tmp_path).sources_read("test", "de")} == {
        "tatoeba.deu-eng.deu", "tatoeba.deu-eng.eng"}


def test_embedded_tasks_are_identified_by_version_and_package():
    import sklearn

    task = get_task("digits-nli")
    expected = f"embedded:digits-nli@{task.spec.version} scikit-learn {sklearn.__version__}"
    assert task.sources_read("test", "en") == {expected}
    assert task.fingerprint([("test", "en")]) == data_fingerprint([expected])


def test_a_vanished_file_is_a_data_error(sib):
    from xlt.errors import DataError

    path = sib / "deu_Latn" / "test.tsv"
    sources = get_task("sib200", sib).sources_read("test", "deu_Latn")
    path.unlink()
    with pytest.raises(DataError, match="test.tsv: cannot read"):
        data_fingerprint(sources, sib)
