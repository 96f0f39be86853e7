"""Hub loading against local replicas of the two repo layouts the hub sources have.

`datasets.load_dataset` treats a local directory like a hub repo (same builder, same data-file
resolution), so each test builds a replica and passes its path where the repo id goes:

- the parquet-export branch (`refs/convert/parquet`): `<config>/<split>/0000.parquet`, no dataset card;
  `name=<config>` fails there ("BuilderConfig ... not found. Available: ['default']"), `data_dir` works;
- a main branch with a dataset card whose `configs:` map config names to parquet files: `name=<config>`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from xlt.errors import XltError  # noqa: E402
from xlt.tasks import all_specs, get_task  # noqa: E402
from xlt.tasks.hub import load_args  # noqa: E402
from xlt.tasks.sib200 import Sib200  # noqa: E402
from xlt.tasks.spec import PARQUET_EXPORT, HubSource  # noqa: E402
from xlt.tasks.xcopa import _COPA_HUB  # noqa: E402
from xlt.tasks.xquad import XQuAD  # noqa: E402

EXPORT_IDS = {"Davlan/sib200", "facebook/xnli", "unimelb-nlp/wikiann", "nala-cub/americas_nli", "facebook/mlqa",
              "google-research-datasets/tydiqa", "cambridgeltl/xcopa", "aps/super_glue"}


@pytest.fixture(autouse=True)
def _private_hf_cache(tmp_path, monkeypatch):
    """`datasets` writes its arrow cache under HF_DATASETS_CACHE: keep it inside the test's folder."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "xlt-cache"))
    datasets.disable_progress_bars()


def _parquet(path: Path, columns: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def _sib_rows(lang: str, split: str) -> dict:
    return {"index_id": [1, 2], "category": ["sports", "travel"], "text": [f"{lang} {split} a", f"{lang} {split} b"]}


def export_replica(root: Path, configs=("eng_Latn", "deu_Latn")) -> Path:
    """The hub's parquet-export layout of Davlan/sib200: `<config>/<split>/0000.parquet`, no README."""
    for config in configs:
        for split in ("train", "validation", "test"):
            _parquet(root / config / split / "0000.parquet", _sib_rows(config, split))
    return root


def card_replica(root: Path) -> Path:
    """google/xquad's main-branch layout: parquet files + a card whose `configs:` name them."""
    answers = {"text": ["Berlin"], "answer_start": [0]}
    for lang in ("de", "es"):
        _parquet(root / f"xquad.{lang}" / "validation-00000-of-00001.parquet",
                 {"id": [f"q-{lang}"], "context": [f"Berlin ({lang})."], "question": ["Wo?"], "answers": [answers]})
    configs = "".join(f"- config_name: xquad.{lang}\n  data_files:\n  - split: validation\n"
                      f"    path: xquad.{lang}/validation-*\n" for lang in ("de", "es"))
    (root / "README.md").write_text(f"---\nconfigs:\n{configs}---\n# XQuAD replica\n", encoding="utf-8")
    return root


def _with_hub(cls, dataset: Path):
    """The task with its hub id replaced by a local replica (revision, config and layout as declared)."""
    spec = dataclasses.replace(cls.spec, hub=dataclasses.replace(cls.spec.hub, dataset=str(dataset)))
    return type(f"Replica{cls.__name__}", (cls,), {"spec": spec})()


# -- the declared layouts ----------------------------------------------------------------------------
def test_export_branch_sources_declare_the_export_layout():
    sources = [s.hub for s in all_specs() if s.hub is not None] + [_COPA_HUB]
    export = {s.dataset for s in sources if s.revision == PARQUET_EXPORT}
    assert export == EXPORT_IDS  # the eight sources the issue lists
    for source in sources:
        assert source.layout == ("parquet-export" if source.revision == PARQUET_EXPORT else "card"), source


def test_load_args_by_layout():
    export = HubSource("Davlan/sib200", PARQUET_EXPORT, "{lang}", layout="parquet-export")
    assert load_args(export, "yor_Latn") == {"path": "Davlan/sib200", "revision": PARQUET_EXPORT,
                                             "data_dir": "yor_Latn"}
    card = HubSource("google/xquad", "51adfef1c1287aab1d2d91b5bead9bcfb9c68583", "xquad.{lang}")
    assert load_args(card, "de")["name"] == "xquad.de" and "data_dir" not in load_args(card, "de")
    with pytest.raises(ValueError, match="layout"):
        HubSource("x/y", "main", layout="branch")


# -- the parquet-export layout ---------------------------------------------------------------------
def test_export_replica_rejects_name_as_the_hub_does(tmp_path):
    """Why `name=` is wrong for the export branch: the replica shows the hub's error."""
    replica = export_replica(tmp_path / "sib200")
    with pytest.raises(ValueError, match=r"BuilderConfig 'eng_Latn' not found. Available: \['default'\]"):
        datasets.load_dataset(str(replica), name="eng_Latn", revision=PARQUET_EXPORT, split="test")


def test_task_loads_every_split_of_the_export_layout(tmp_path):
    task = _with_hub(Sib200, export_replica(tmp_path / "sib200"))
    dev = task.load("dev", "eng_Latn")  # dev -> the "validation" folder
    assert [(e.text, e.label) for e in dev] == [("eng_Latn validation a", "sports"),
                                                ("eng_Latn validation b", "travel")]
    assert [e.text for e in task.load("test", "deu_Latn")] == ["deu_Latn test a", "deu_Latn test b"]
    assert len(task.load("train", "eng_Latn")) == 2


def test_missing_config_is_one_line_xlt_error(tmp_path):
    task = _with_hub(Sib200, export_replica(tmp_path / "sib200"))
    with pytest.raises(XltError, match=r"cannot load .*sib200 \(yor_Latn, test\)"):
        task.load("test", "yor_Latn")


def test_export_fingerprint_is_the_config_folder_bytes_and_the_pin(tmp_path):
    replica = export_replica(tmp_path / "sib200")
    task = _with_hub(Sib200, replica)
    sources = task.sources_read("test", "deu_Latn")
    hub = f"hub:{replica}@{PARQUET_EXPORT} layout=parquet-export config=deu_Latn"
    assert hub in sources
    assert {s for s in sources if s.startswith("file:")} == {
        f"file:{replica / 'deu_Latn' / split / '0000.parquet'}" for split in ("train", "validation", "test")}
    before = task.fingerprint([("test", "deu_Latn")])
    _parquet(replica / "eng_Latn" / "test" / "0000.parquet", _sib_rows("other", "test"))  # another config
    assert _with_hub(Sib200, replica).fingerprint([("test", "deu_Latn")]) == before
    _parquet(replica / "deu_Latn" / "test" / "0000.parquet", _sib_rows("changed", "test"))
    assert _with_hub(Sib200, replica).fingerprint([("test", "deu_Latn")]) != before


# -- the card layout -------------------------------------------------------------------------------
def test_card_replica_rejects_data_dir(tmp_path):
    """Why `data_dir=` is wrong for a card layout: the config name is not a folder of the repo root."""
    replica = card_replica(tmp_path / "xquad")
    (replica / "xquad.de").rename(replica / "files-de")
    (replica / "README.md").write_text((replica / "README.md").read_text().replace("xquad.de/", "files-de/"))
    with pytest.raises(Exception, match="doesn't contain any data files"):
        datasets.load_dataset(str(replica), data_dir="xquad.de", split="validation")
    assert len(datasets.load_dataset(str(replica), name="xquad.de", split="validation")) == 1


def test_task_loads_the_card_layout_by_config_name(tmp_path):
    task = _with_hub(XQuAD, card_replica(tmp_path / "xquad"))
    [ex] = task.load("test", "es")  # XQuAD's only hub split is "validation"
    assert (ex.id, ex.context, ex.answers[0].text, ex.answers[0].start) == ("q-es", "Berlin (es).", "Berlin", 0)
    assert any(s.startswith("hub:") and "layout=card config=xquad.es" in s for s in task.sources_read("test", "es"))


def test_hub_fingerprint_without_files_is_the_pinned_coordinates(monkeypatch):
    """A real hub id: the fingerprint is dataset + revision + layout + config (no local bytes to hash)."""
    import xlt.tasks.hub as hub

    class FakeDataset(list):
        pass

    monkeypatch.setattr(datasets, "load_dataset", lambda **kw: FakeDataset(
        [{"index_id": 1, "category": "sports", "text": f"{kw['data_dir']}"}]))
    task = get_task("sib200")
    assert task.sources_read("test", "yor_Latn") == {
        f"hub:Davlan/sib200@{PARQUET_EXPORT} layout=parquet-export config=yor_Latn"}
    assert task.fingerprint([("test", "yor_Latn")]) != task.fingerprint([("test", "eng_Latn")])
    assert hub.load_args(task.spec.hub, "yor_Latn")["data_dir"] == "yor_Latn"
