"""Tasks declared in a study file (xlt.tasks.generic): every task type from files the tests write (TSV,
CSV, JSONL, parquet; `{lang}` patterns and language/split columns), one-line errors with file:line, the
run identity following the declaration, and the registry knowing the declared task."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from xlt.errors import ConfigError, DataError, XltError
from xlt.study.config import parse_study
from xlt.study.data import TaskData
from xlt.tasks import all_specs, find_spec, get_task
from xlt.tasks.generic import Declaration, register_stored

pq = pytest.importorskip("pyarrow.parquet")
pa = pytest.importorskip("pyarrow")

SENTIMENT = {"en": [("great film", "pos"), ("awful plot", "neg"), ("loved it", "pos")],
             "de": [("toller Film", "pos"), ("schlechte Handlung", "neg")],
             "fr": [("film superbe", "pos")]}


@pytest.fixture(autouse=True)
def _registry_restored():
    """Declared tasks register themselves process-wide: other tests see the registry as it was."""
    from xlt.tasks.base import _REGISTRY

    before = dict(_REGISTRY)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(before)


def write(path: Path, rows: list[dict]) -> Path:
    """`rows` in the format the extension names (TSV/CSV with a header line as csv.writer writes them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".tsv", ".csv"):
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, list(rows[0]), delimiter="\t" if path.suffix == ".tsv" else ",",
                               lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def sentiment_files(root: Path, ext: str, langs=("en", "de", "fr")) -> None:
    for lang in langs:
        for split in ("train", "dev", "test"):
            write(root / lang / f"{split}.{ext}", [{"review": t, "stars": l} for t, l in SENTIMENT[lang]])


def entry(raw: dict):
    return parse_study({"name": "s", "models": ["m"], "tasks": [raw]}).tasks[0]


def data(raw: dict) -> TaskData:
    td = TaskData(entry(raw), progress=False)
    td.validate()
    return td


SENT = {"name": "my-sentiment", "type": "classification", "fields": {"text": "review", "label": "stars"}}


# -- every format, both layouts --------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["tsv", "csv", "jsonl", "parquet"])
def test_classification_from_a_file_per_language(tmp_path, ext):
    sentiment_files(tmp_path / "data", ext)
    td = data({**SENT, "source": {"files": f"{tmp_path}/data/{{lang}}/{{split}}.{ext}"}, "languages": "available"})
    assert td.languages == ["en", "de", "fr"]  # the source language first, then what the files hold
    assert td.label_names == ["neg", "pos"]  # from the English training split
    de = td.splits["test"]["de"]
    assert [(e.text, e.label) for e in de] == SENTIMENT["de"]
    assert de[1].origin == f"{tmp_path}/data/de/test.{ext}:" + ("3" if ext in ("tsv", "csv") else "2")  # parquet: row
    assert td.spec.type.value == "classification" and td.spec.main_metric == "accuracy"
    assert {s.removeprefix("file:") for s in td.sources} == {
        str(tmp_path / "data" / p) for p in (f"en/train.{ext}", f"en/dev.{ext}", f"en/test.{ext}",
                                             f"de/test.{ext}", f"fr/test.{ext}")}


def test_quoted_csv_fields_as_pandas_writes_them(tmp_path):
    write(tmp_path / "en" / "train.csv", [{"review": 'He said "fine", then left', "stars": "pos"},
                                          {"review": "two\nlines", "stars": "neg"}])
    for split in ("dev", "test"):
        write(tmp_path / "en" / f"{split}.csv", [{"review": "x", "stars": "pos"}])
    td = data({**SENT, "source": {"files": f"{tmp_path}/{{lang}}/{{split}}.csv"}, "languages": ["en"]})
    assert [e.text for e in td.splits["train"]] == ['He said "fine", then left', "two\nlines"]
    assert td.splits["train"][1].origin.endswith("train.csv:3")


def test_one_file_with_language_and_split_columns(tmp_path):
    rows = [{"lang": lang, "part": split, "review": t, "stars": l}
            for lang in SENTIMENT for split in ("train", "validation", "test") for t, l in SENTIMENT[lang]]
    write(tmp_path / "all.jsonl", rows)
    td = data({**SENT, "source": {"files": str(tmp_path / "all.jsonl"), "language_column": "lang",
                                  "split_column": "part", "splits": {"dev": "validation"}},
               "languages": "all"})
    assert td.languages == ["en", "de", "fr"]
    assert [e.text for e in td.splits["dev"]] == [t for t, _ in SENTIMENT["en"]]
    assert [e.text for e in td.splits["test"]["fr"]] == ["film superbe"]


def test_a_file_per_split_with_a_language_column(tmp_path):
    for split in ("train", "dev", "test"):
        write(tmp_path / f"{split}.csv", [{"language": lang, "review": t, "stars": l}
                                          for lang in ("en", "de") for t, l in SENTIMENT[lang]])
    td = data({**SENT, "source": {"files": f"{tmp_path}/{{split}}.csv", "language_column": "language"},
               "languages": ["de"]})
    assert td.languages == ["en", "de"]  # English test is the reference, as for every task
    assert [e.label for e in td.splits["test"]["de"]] == ["pos", "neg"]


def test_sentence_pair(tmp_path):
    for lang in ("en", "de"):
        for split in ("train", "dev", "test"):
            write(tmp_path / f"{split}-{lang}.tsv", [{"p": "A man sleeps.", "h": "Someone rests.", "y": "entailment"},
                                                     {"p": "A man sleeps.", "h": "He runs.", "y": "contradiction"}])
    td = data({"name": "my-nli", "type": "sentence-pair", "source": f"{tmp_path}/{{split}}-{{lang}}.tsv",
               "fields": {"text": "p", "text_pair": "h", "label": "y"}, "languages": ["de"]})
    ex = td.splits["test"]["de"][1]
    assert (ex.text, ex.text_pair, ex.label) == ("A man sleeps.", "He runs.", "contradiction")


def test_multiple_choice_from_columns_and_from_a_list_column(tmp_path):
    for split in ("train", "dev", "test"):
        write(tmp_path / "en" / f"{split}.tsv", [
            {"q": "The sun rose.", "a": "It got light.", "b": "It got cold.", "gold": "0"},
            {"q": "It rained.", "a": "Dry", "b": "Wet", "gold": "1"}])
        write(tmp_path / "de" / f"{split}.jsonl", [{"q": "Es regnete.", "opts": ["trocken", "nass", "heiß"],
                                                    "gold": "nass"}])
    td = data({"name": "my-copa", "type": "multiple-choice", "source": f"{tmp_path}/{{lang}}/{{split}}.tsv",
               "fields": {"premise": "q", "choices": ["a", "b"], "label": "gold"}, "languages": ["en"]})
    assert [(e.choices, e.label) for e in td.splits["train"]] == [(("It got light.", "It got cold."), 0),
                                                                  (("Dry", "Wet"), 1)]
    assert td.label_names == []  # the label is an index into each example's choices
    de = data({"name": "my-copa-de", "type": "multiple-choice", "source": f"{tmp_path}/{{lang}}/{{split}}.jsonl",
               "fields": {"premise": "q", "choices": "opts", "label": "gold"}, "source_language": "de",
               "languages": ["de"]})
    assert de.splits["test"]["de"][0].choices == ("trocken", "nass", "heiß") and de.splits["test"]["de"][0].label == 1


def test_tagging_from_strings_and_lists(tmp_path):
    for split in ("train", "dev", "test"):
        write(tmp_path / "en" / f"{split}.tsv", [{"words": "Lady Gaga sang", "ner": "B-PER I-PER O"}])
        write(tmp_path / "sw" / f"{split}.parquet", [{"words": ["Nairobi", "ni", "mji"], "ner": ["B-LOC", "O", "O"]}])
    td = data({"name": "my-ner", "type": "tagging", "source": f"{tmp_path}/{{lang}}/{{split}}.tsv",
               "fields": {"tokens": "words", "tags": "ner"}, "languages": ["en"]})
    assert td.splits["train"][0].tokens == ("Lady", "Gaga", "sang") and td.label_names == ["B-PER", "I-PER", "O"]
    assert td.spec.labels == ("B-PER", "I-PER", "O") and td.spec.main_metric == "f1"  # seqeval, as built-ins
    sw = data({"name": "my-ner-sw", "type": "tagging", "source": f"{tmp_path}/{{lang}}/{{split}}.parquet",
               "fields": {"tokens": "words", "tags": "ner"}, "source_language": "sw", "languages": ["sw"]})
    assert sw.splits["test"]["sw"][0].tags == ("B-LOC", "O", "O")
    assert sw.splits["test"]["sw"][0].origin == f"{tmp_path}/sw/test.parquet:1"  # parquet: the row number


def test_label_missing_from_english_train_names_the_row(tmp_path):
    sentiment_files(tmp_path, "tsv", ("en", "de"))
    write(tmp_path / "de" / "test.tsv", [{"review": "geht so", "stars": "pos"}, {"review": "naja", "stars": "meh"}])
    with pytest.raises(XltError) as err:
        data({**SENT, "source": f"{tmp_path}/{{lang}}/{{split}}.tsv", "languages": ["de"]})
    assert str(err.value) == (f"{tmp_path}/de/test.tsv:3: label 'meh' (test/de) does not occur in the en training "
                              "data (train labels: ['neg', 'pos'])")


def test_extractive_qa_answer_forms(tmp_path):
    rows = [{"id": "q1", "c": "Paris is the capital of France.", "q": "Capital of France?", "a": ["Paris"]},
            {"id": "q2", "c": "Berlin is in Germany.", "q": "Where is Berlin?",
             "a": {"text": ["Germany"], "answer_start": [13]}},
            {"id": "q3", "c": "Rome, Rome.", "q": "Which city?", "a": [{"text": "Rome", "answer_start": 6}]}]
    for split in ("train", "dev", "test"):
        write(tmp_path / "en" / f"{split}.jsonl", rows)
    td = data({"name": "my-qa", "type": "extractive-qa", "source": f"{tmp_path}/{{lang}}/{{split}}.jsonl",
               "fields": {"context": "c", "question": "q", "answers": "a", "id": "id"}, "languages": ["en"]})
    assert [(e.id, e.answers[0].text, e.answers[0].start) for e in td.splits["test"]["en"]] == [
        ("q1", "Paris", 0), ("q2", "Germany", 13), ("q3", "Rome", 6)]
    assert td.spec.main_metric == "squad_f1"
    write(tmp_path / "en" / "dev.jsonl", rows[:1] + [{"id": "q9", "c": "Oslo is cold.", "q": "?", "a": ["Bergen"]}])
    with pytest.raises(DataError, match=rf"^{tmp_path}/en/dev.jsonl:2: answer 'Bergen' does not occur in the context"):
        data({"name": "my-qa", "type": "extractive-qa", "source": f"{tmp_path}/{{lang}}/{{split}}.jsonl",
              "fields": {"context": "c", "question": "q", "answers": "a"}, "languages": ["en"]})


# -- bad input: one line each --------------------------------------------------------------------------
def test_bad_row_names_file_and_line(tmp_path):
    sentiment_files(tmp_path, "tsv", ("en",))
    (tmp_path / "en" / "dev.tsv").write_text("review\tstars\nfine\tpos\ntoo\tmany\tfields\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        data({**SENT, "source": f"{tmp_path}/{{lang}}/{{split}}.tsv", "languages": ["en"]})
    assert str(err.value) == (f"{tmp_path}/en/dev.tsv:3: expected 2 fields as in the header (review, stars), "
                              "found 3")


@pytest.mark.parametrize("ext", ["tsv", "jsonl", "parquet"])
def test_unknown_column_lists_the_columns_present(tmp_path, ext):
    sentiment_files(tmp_path, ext, ("en",))
    with pytest.raises(DataError) as err:
        data({**SENT, "fields": {"text": "review", "label": "rating"}, "source": f"{tmp_path}/{{lang}}/{{split}}.{ext}",
              "languages": ["en"]})
    line = 2 if ext == "tsv" else 1
    assert str(err.value) == f"{tmp_path}/en/train.{ext}:{line}: no column 'rating' (the file's columns: review, stars)"


def test_empty_split_and_missing_label(tmp_path):
    sentiment_files(tmp_path, "csv", ("en",))
    (tmp_path / "en" / "test.csv").write_text("review,stars\n", encoding="utf-8")
    raw = {**SENT, "source": f"{tmp_path}/{{lang}}/{{split}}.csv", "languages": ["en"]}
    with pytest.raises(DataError, match=rf"split 'test' for language 'en' is empty \(read {tmp_path}/en/test.csv\)"):
        data(raw)
    (tmp_path / "en" / "test.csv").write_text("review,stars\nok,pos\nno label,\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{tmp_path}/en/test.csv:3: no gold label \(test/en\)"):
        data(raw)


def test_missing_file_names_it(tmp_path):
    sentiment_files(tmp_path, "tsv", ("en",))
    with pytest.raises(DataError, match=rf"{tmp_path}/de/test.tsv: file not found"):
        data({**SENT, "source": f"{tmp_path}/{{lang}}/{{split}}.tsv", "languages": ["de"]})


@pytest.mark.parametrize("change,message", [
    ({"type": "regression"}, "type must be one of classification, sentence-pair, multiple-choice, tagging"),
    ({"fields": {"text": "review", "label": "stars", "premise": "x"}},
     "unknown field 'premise' for type classification (fields: text, label, text_pair)"),
    ({"fields": {"text": "review"}}, "type classification needs fields ['label']"),
    ({"source": {"files": "d/{lang}.tsv"}}, "give either {split} in source.files or source.split_column"),
    ({"source": {"files": "d/{split}.tsv"}}, "give either {lang} in source.files or source.language_column"),
    ({"source": {"files": "d/{lang}/{split}.xlsx"}}, "source.files must end in .tsv, .csv, .jsonl, .parquet"),
    ({"source": {"files": "d/{lang}/{part}.tsv"}}, "may hold {lang} and {split} only, not {part}"),
    ({"source": {"files": "d/{lang}/{split}.tsv", "sheet": 1}}, "unknown source key 'sheet'"),
    ({"source": {"hub": "org/data", "config": "{lang}"}, "languages": "all"}, "reads the hub: list its languages"),
    ({"name": "xnli"}, "task 'xnli' is a built-in task: give the declared task another name"),
])
def test_declaration_errors_name_the_study_line(tmp_path, change, message):
    raw = {**SENT, "source": {"files": "d/{lang}/{split}.tsv"}, "languages": ["de"], **change}
    study = tmp_path / "s.yaml"
    import yaml

    study.write_text(yaml.safe_dump({"name": "s", "models": ["m"], "tasks": [raw]}), encoding="utf-8")
    from xlt.study.config import load_study

    with pytest.raises(ConfigError) as err:
        load_study(study)
    assert str(err.value).startswith(f"{study}:") and message in str(err.value)


def test_one_declaration_per_task_name(tmp_path):
    import yaml

    from xlt.study.config import load_study

    first = {**SENT, "source": {"files": "d/{lang}/{split}.tsv"}, "languages": ["de"]}
    study = tmp_path / "s.yaml"
    same = {**first, "languages": ["fr"]}  # the same declaration on other languages: fine
    study.write_text(yaml.safe_dump({"name": "s", "models": ["m"], "tasks": [first, same]}), encoding="utf-8")
    assert [t.languages for t in load_study(study).tasks] == [("de",), ("fr",)]
    other = {**first, "fields": {"text": "title", "label": "stars"}}
    study.write_text(yaml.safe_dump({"name": "s", "models": ["m"], "tasks": [first, other]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{study}:\d+: task '{SENT['name']}' is declared twice"):
        load_study(study)


# -- identity and registry -------------------------------------------------------------------------------
def test_run_identity_follows_the_declaration_not_the_folder(tmp_path, tiny_bert):
    from xlt.study.runner import Runner

    def run_ids(root: Path, fields: dict) -> list[str]:
        study = {"name": "s", "models": [str(tiny_bert)], "runtime": {"progress": False},
                 "tasks": [{**SENT, "fields": fields, "source": f"{root}/{{lang}}/{{split}}.tsv", "languages": ["de"]}]}
        return [r.run_id for r in Runner(parse_study(study), progress=False).validate()]

    sentiment_files(tmp_path / "a", "tsv", ("en", "de"))
    base = run_ids(tmp_path / "a", SENT["fields"])
    (tmp_path / "a").rename(tmp_path / "b")  # a moved benchmark: same bytes, same names below the pattern
    assert run_ids(tmp_path / "b", SENT["fields"]) == base
    # the same columns mapped the other way round: same files, another task
    for lang in ("en", "de"):
        for split in ("train", "dev", "test"):
            write(tmp_path / "b" / lang / f"{split}.tsv",
                  [{"review": t, "stars": l, "note": t} for t, l in SENTIMENT[lang]])
    with_note = run_ids(tmp_path / "b", SENT["fields"])
    assert with_note != base  # the bytes changed
    assert run_ids(tmp_path / "b", {"text": "note", "label": "stars"}) != with_note  # the mapping changed


def test_builtin_entries_keep_their_identity():
    from xlt.study.spec import RunSpec
    from xlt.training.settings import TrainSettings

    e = entry({"name": "sib200", "languages": ["deu_Latn"]})
    assert (e.type, e.source, e.fields, e.source_language) == (None, (), (), None)
    spec = RunSpec("s", "m", "w", e, "d", ("deu_Latn",), "1.0", 1, "finetune", None, "none", None, TrainSettings())
    assert spec.identity()["task"] == {"name": "sib200", "languages": ["deu_Latn"]}  # no declaration keys


def test_declared_task_joins_the_registry(tmp_path):
    from xlt.cli.listing import list_registry

    sentiment_files(tmp_path, "tsv", ("en", "de"))
    td = data({**SENT, "name": "reg-sentiment", "source": f"{tmp_path}/{{lang}}/{{split}}.tsv", "languages": ["de"]})
    assert find_spec("reg-sentiment").type.value == "classification"
    assert "reg-sentiment" in {s.name for s in all_specs()}
    assert any(line.startswith("reg-sentiment ") for line in list_registry("tasks").splitlines())
    assert get_task("reg-sentiment").spec.version == td.spec.version


def test_stored_configs_register_declared_tasks(tmp_path):
    """A report or export in a fresh process rebuilds the spec from a run's stored study config."""
    from xlt.study.config import to_dict

    cfg = parse_study({"name": "s", "models": ["m"], "tasks": [
        {"name": "stored-ner", "type": "tagging", "source": f"{tmp_path}/{{lang}}/{{split}}.jsonl",
         "fields": {"tokens": "w", "tags": "t"}, "source_language": "en", "languages": ["sw"]}, "sib200"]})
    stored = json.loads(json.dumps({"study": to_dict(cfg)}, default=list))  # as the runs table holds it
    assert register_stored([stored, None]) == ["stored-ner"]
    spec = find_spec("stored-ner")
    assert (spec.type.value, spec.main_metric, spec.source_language, spec.languages) == ("tagging", "f1", "en",
                                                                                         ("en", "sw"))
    assert spec.version == Declaration.of(cfg.tasks[0]).version  # the same declaration, rebuilt from JSON


def test_hub_source_through_a_local_replica(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    datasets.disable_progress_bars()
    for lang in ("en", "de"):
        for split in ("train", "validation", "test"):
            path = tmp_path / "replica" / lang / split / "0000.parquet"
            path.parent.mkdir(parents=True)
            pq.write_table(pa.Table.from_pylist([{"review": t, "stars": l} for t, l in SENTIMENT[lang]]), path)
    td = data({**SENT, "source": {"hub": str(tmp_path / "replica"), "config": "{lang}", "layout": "parquet-export"},
               "languages": ["de"]})
    assert [e.text for e in td.splits["dev"]] == [t for t, _ in SENTIMENT["en"]]  # dev = the hub's validation
    assert td.label_names == ["neg", "pos"] and len(td.splits["test"]["de"]) == 2
    assert any(s.startswith(f"hub:{tmp_path}/replica@main layout=parquet-export config=de") for s in td.sources)


# -- fuzzing: whatever the bytes, a declared task's reader raises DataError naming the file, or loads ------
FUZZ_TARGETS = {
    "classification-tsv": ("test.tsv", "review\tstars\nsehr \"gut\"\tpos\nmies\tneg\n",
                           {"type": "classification", "fields": {"text": "review", "label": "stars"}}),
    "pair-csv": ("test.csv", 'p,h,y\n"A, b",B,entailment\nC,D,neutral\n',
                 {"type": "sentence-pair", "fields": {"text": "p", "text_pair": "h", "label": "y"}}),
    "tagging-jsonl": ("test.jsonl", '{"w": ["Berlin", "ist"], "t": ["B-LOC", "O"]}\n{"w": "Ja", "t": "O"}\n',
                      {"type": "tagging", "fields": {"tokens": "w", "tags": "t"}}),
    "choice-jsonl": ("test.jsonl", '{"q": "Es regnet.", "c": ["nass", "trocken"], "y": 0}\n',
                     {"type": "multiple-choice", "fields": {"premise": "q", "choices": "c", "label": "y"}}),
    "qa-jsonl": ("test.jsonl",
                 '{"c": "Berlin ist groß.", "q": "Was?", "a": {"text": ["Berlin"], "answer_start": [0]}}\n',
                 {"type": "extractive-qa", "fields": {"context": "c", "question": "q", "answers": "a"}}),
}


@pytest.mark.parametrize("target", sorted(FUZZ_TARGETS))
def test_fuzzed_files_load_or_raise_data_error_naming_the_file(target, tmp_path):
    from hypothesis import given
    from hypothesis import strategies as st

    from tests.tasks.test_fuzz_readers import FUZZ, MUTATION, mutate
    from xlt.tasks.generic import declare

    name, text, decl = FUZZ_TARGETS[target]
    path = tmp_path / "de" / name
    path.parent.mkdir()
    pattern = f"{tmp_path}/{{lang}}/{{split}}{Path(name).suffix}"
    e = entry({"name": f"fuzz-{target}", **decl, "source": pattern, "languages": ["de"]})
    cls = declare(e)
    path.write_text(text, encoding="utf-8")
    assert cls().load("test", "de")  # the unmutated file is valid
    parquet = tmp_path / "de" / "test.parquet"

    @FUZZ
    @given(st.lists(MUTATION, min_size=1, max_size=4))
    def check(mutations):
        path.write_bytes(mutate(text.encode("utf-8"), mutations))
        try:
            cls().load("test", "de")
        except DataError as exc:
            assert str(path) in str(exc), f"DataError does not name {path}: {exc}"

    check()
    # parquet: a file that is not one (or a damaged one) is one DataError too
    pq.write_table(pa.Table.from_pylist([{"review": "gut", "stars": "pos"}]), parquet)
    good = parquet.read_bytes()
    pcls = declare(entry({**SENT, "name": "fuzz-parquet", "source": f"{tmp_path}/{{lang}}/{{split}}.parquet",
                          "languages": ["de"]}))
    for bad in (good[: len(good) // 2], b"PAR1" + good[10:], b"not parquet at all"):
        parquet.write_bytes(bad)
        with pytest.raises(DataError, match=str(parquet)):
            pcls().load("test", "de")


def test_every_declared_type_runs_a_study(tmp_path, tiny_bert):
    """Classification (pair), multiple choice, tagging and QA declared tasks train and store scores."""
    from xlt.store.db import Store
    from xlt.study.runner import Runner

    for lang in ("en", "de"):
        for split in ("train", "dev", "test"):
            d = tmp_path / lang
            write(d / f"nli-{split}.tsv", [{"p": "A man sleeps.", "h": "He rests.", "y": "yes"},
                                           {"p": "A man sleeps.", "h": "He runs.", "y": "no"}])
            write(d / f"mc-{split}.jsonl", [{"q": "It rained.", "c": ["dry", "wet"], "y": 1},
                                            {"q": "The sun rose.", "c": ["light", "dark"], "y": 0}])
            write(d / f"ner-{split}.jsonl", [{"w": ["Lady", "Gaga", "sang"], "t": ["B-PER", "I-PER", "O"]}])
            write(d / f"qa-{split}.jsonl", [{"c": "Paris is the capital of France.", "q": "Capital of France?",
                                             "a": ["Paris"]}])
    def task(name, kind, stem, ext, fields):
        return {"name": name, "type": kind, "source": f"{tmp_path}/{{lang}}/{stem}-{{split}}.{ext}", "fields": fields,
                "languages": ["de"]}

    study = {"name": "declared", "models": [str(tiny_bert)], "runtime": {"threads": 1, "progress": False},
             "train": {"max_steps": 2, "batch_size": 2, "max_length": 64},
             "tasks": [task("d-nli", "sentence-pair", "nli", "tsv", {"text": "p", "text_pair": "h", "label": "y"}),
                       task("d-mc", "multiple-choice", "mc", "jsonl", {"premise": "q", "choices": "c", "label": "y"}),
                       task("d-ner", "tagging", "ner", "jsonl", {"tokens": "w", "tags": "t"}),
                       task("d-qa", "extractive-qa", "qa", "jsonl", {"context": "c", "question": "q", "answers": "a"})]}
    store = Store(str(tmp_path / "r.sqlite"))
    Runner(parse_study(study), store, progress=False).run()
    got = {(r["task"], r["language"], r["metric"]) for r in store.score_rows(study="declared")}
    assert got == {(t, l, m) for l in ("en", "de") for t, m in [
        ("d-nli", "accuracy"), ("d-mc", "accuracy"), ("d-ner", "f1"), ("d-ner", "accuracy"), ("d-qa", "squad_f1"),
        ("d-qa", "squad_em")]}
    runs = store.runs(study="declared")
    assert {r["task_version"][:9] for r in runs} == {"declared-"}
    # a fresh process (report, export) knows the declared tasks from the runs' stored study config
    from xlt.report.export import export
    from xlt.tasks.base import _REGISTRY

    for name in ("d-nli", "d-mc", "d-ner", "d-qa"):
        del _REGISTRY[name]
    assert sorted(register_stored(r["config"] for r in runs)) == ["d-mc", "d-ner", "d-nli", "d-qa"]
    written = export(store, "declared", str(tiny_bert), tmp_path / "sub")
    assert sorted(Path(p).name for p in written["d-ner"]) == ["test-de.tsv", "test-en.tsv"]
    assert (tmp_path / "sub" / "d-ner" / "test-de.tsv").read_text().split() != []
