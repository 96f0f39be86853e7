"""Transfer protocols (xlt.study.protocols): the grid axis, K-shot sampling, the reused English phase,
translate-train's target files, and the checks that run before anything is claimed."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import xlt.study.run as run_mod
from xlt.errors import ConfigError, XltError
from xlt.store.db import Store
from xlt.study import protocols
from xlt.study.config import FewShotSettings, parse_study
from xlt.study.runner import Runner
from xlt.tasks.base import Example, TaggingExample
from xlt.training import loop

from tests.sib_fixture import SOURCE, TARGETS, rows, write_split, write_tiny_sib200
from tests.study.test_runner import RUNTIME, _restore_torch_threads  # noqa: F401 (autouse fixture)
from tests.study.test_runner import TRAIN as RUNNER_TRAIN

N, N_TARGET = 28, 21  # English rows per split; target train rows (3 per label; a size English has not)
TRAIN = {**RUNNER_TRAIN, "max_steps": 6, "eval_every": 3}  # the runner tests' settings, half the steps


def write_sib(root: Path, train_langs=TARGETS) -> Path:
    """Tiny SIB-200 layout; `train_langs` get a train split of N_TARGET rows (parallel: same index ids)."""
    write_tiny_sib200(root, n=N)
    for lang in train_langs:
        write_split(root / lang / "train.tsv", rows(lang, N_TARGET, start=3000))
    return root


@pytest.fixture(scope="module")
def sib_dir(tmp_path_factory) -> Path:
    return write_sib(tmp_path_factory.mktemp("sib-protocols"))


def study(model_dir, data_dir, protocols=("zero-shot",), seeds=(1,), **extra):
    raw = {"name": "proto", "models": [str(model_dir)],
           "tasks": [{"name": "sib200", "data_dir": str(data_dir), "languages": "available"}],
           "seeds": list(seeds), "train": TRAIN, "runtime": RUNTIME, **extra}
    if protocols is not None:
        raw["protocols"] = list(protocols)
    return parse_study(raw)


class Spy:
    """Counts `fine_tune` calls in the run layer (every protocol trains through it) and their sizes."""

    def __init__(self):
        self.sizes: list[int] = []

    def __call__(self, model, train, cfg, *args):
        self.sizes.append(len(train))
        return loop.fine_tune(model, train, cfg, *args)


# -- sampling K examples ---------------------------------------------------------------------------
def _labelled(counts: dict[str, int]) -> list[Example]:
    return [Example(f"{label} {i}", label) for label, n in counts.items() for i in range(n)]


def test_k_shot_sampling_is_deterministic_per_seed_and_stratified():
    exs = _labelled({"a": 50, "b": 30, "c": 20})  # 100 examples, shares 0.5 / 0.3 / 0.2
    first = protocols.sample_k(exs, 10, seed=1)
    assert np.array_equal(first, protocols.sample_k(exs, 10, seed=1))  # same seed, same examples
    assert not np.array_equal(first, protocols.sample_k(exs, 10, seed=2))
    for seed in range(5):
        idx = protocols.sample_k(exs, 10, seed)
        assert len(set(idx.tolist())) == 10 and list(idx) == sorted(idx)
        assert Counter(exs[i].label for i in idx) == {"a": 5, "b": 3, "c": 2}  # each label its share of K
    # shares that do not divide: largest remainders (7 * 0.5 = 3.5, 2.1, 1.4 -> 4, 2, 1)
    assert Counter(exs[i].label for i in protocols.sample_k(exs, 7, 3)) == {"a": 4, "b": 2, "c": 1}
    # a uniform draw of 10 from this split gives the 5/3/2 split in under a third of the seeds
    rng_counts = [Counter(exs[i].label for i in np.random.default_rng(s).choice(100, 10, replace=False))
                  for s in range(30)]
    assert sum(c == {"a": 5, "b": 3, "c": 2} for c in rng_counts) < 10


def test_k_shot_sampling_without_single_labels_is_uniform_and_k_is_bounded():
    tagged = [TaggingExample(("w",), ("O",)) for _ in range(30)]
    idx = protocols.sample_k(tagged, 12, seed=4)
    assert len(set(idx.tolist())) == 12 and np.array_equal(idx, protocols.sample_k(tagged, 12, seed=4))
    with pytest.raises(XltError, match="cannot sample 31 examples from a split of 30"):
        protocols.sample_k(tagged, 31, seed=1)


# -- config --------------------------------------------------------------------------------------
def test_protocol_labels_are_checked_with_the_valid_ones(tiny_bert, sib_dir):
    assert study(tiny_bert, sib_dir, None).protocols == ["zero-shot"]
    cfg = study(tiny_bert, sib_dir, ["zero-shot", "few-shot: 010", "translate-train", "few-shot:10"])
    assert cfg.protocols == ["zero-shot", "few-shot:10", "translate-train"]  # canonical, each once
    for bad, hint in [("few-shots:10", "did you mean 'few-shot' with :K"), ("fewshot", "did you mean 'few-shot'"),
                      ("few-shot", "did you mean 'few-shot' with :K"), ("few-shot:0", ""), ("translate", "")]:
        with pytest.raises(ConfigError) as err:
            study(tiny_bert, sib_dir, [bad])
        assert f"unknown protocol {bad!r}" in str(err.value) and hint in str(err.value)
        assert "valid: zero-shot, few-shot:<K>, translate-train" in str(err.value)
    with pytest.raises(ConfigError, match="few_shot.lr must be > 0"):
        study(tiny_bert, sib_dir, ["few-shot:5"], few_shot={"lr": 0})
    with pytest.raises(ConfigError, match="unknown key 'epoch'; did you mean 'epochs'"):
        study(tiny_bert, sib_dir, ["few-shot:5"], few_shot={"epoch": 3})


# -- the grid --------------------------------------------------------------------------------------
def test_zero_shot_runs_keep_their_ids_and_other_protocols_run_per_target(tiny_bert, sib_dir):
    plain = Runner(study(tiny_bert, sib_dir, None, seeds=(1, 2)), progress=False).validate()
    grid = Runner(study(tiny_bert, sib_dir, ["zero-shot", "few-shot:5", "translate-train"], seeds=(1, 2),
                        few_shot={"epochs": 2}), progress=False).validate()
    base_keys = {"model", "weights", "task", "data", "task_version", "seed", "method", "method_settings",
                 "intermediate", "stage_seed", "train"}
    assert all(set(r.identity()) == base_keys for r in plain)  # no protocol key: ids as before protocols
    zero = [r for r in grid if r.protocol == "zero-shot"]
    assert [r.run_id for r in zero] == [r.run_id for r in plain]
    others = [(r.seed, r.protocol, r.target, r.languages) for r in grid if r.protocol != "zero-shot"]
    assert others == [(s, p, t, (t,)) for s in (1, 2) for p in ("few-shot:5", "translate-train") for t in TARGETS]
    few = next(r for r in grid if r.protocol == "few-shot:5")
    assert few.identity()["protocol_settings"] == {"epochs": 2.0, "lr": 2e-5, "batch_size": 32}
    assert len({r.run_id for r in grid}) == len(grid) == 2 * (1 + 2 * len(TARGETS))
    # the few-shot phase's settings are part of the identity: changing them reruns few-shot runs only
    other = Runner(study(tiny_bert, sib_dir, ["zero-shot", "few-shot:5", "translate-train"], seeds=(1, 2),
                         few_shot={"epochs": 3}), progress=False).validate()
    changed = {r.run_id for r in grid} ^ {r.run_id for r in other}
    assert len(changed) == 8  # the 4 few-shot runs (2 seeds x 2 targets) of each grid
    assert all(r.protocol == "few-shot:5" for r in grid + other if r.run_id in changed)


def test_a_target_run_is_identified_by_the_target_train_file_it_reads(tiny_bert, tmp_path):
    root = write_sib(tmp_path / "sib")
    ids = lambda: {(r.protocol, r.target): r.run_id for r in Runner(  # noqa: E731
        study(tiny_bert, root, ["zero-shot", "translate-train"]), progress=False).validate()}
    before = ids()
    write_split(root / "fra_Latn" / "train.tsv", rows("fra_Latn", N_TARGET, start=5000))  # new French train
    after = ids()
    assert after[("translate-train", "fra_Latn")] != before[("translate-train", "fra_Latn")]
    assert after[("translate-train", "rus_Cyrl")] == before[("translate-train", "rus_Cyrl")]
    assert after[("zero-shot", None)] == before[("zero-shot", None)]  # zero-shot reads no target train


def test_bad_k_and_missing_train_splits_fail_or_warn_before_any_run(tiny_bert, tmp_path, caplog):
    full = write_sib(tmp_path / "full")
    with pytest.raises(XltError, match=rf"protocol few-shot:50 asks for 50 fra_Latn training examples, but its "
                                       rf"train split has {N_TARGET} \(use K <= {N_TARGET}\)"):
        Runner(study(tiny_bert, full, ["zero-shot", "few-shot:5", "few-shot:50"]), progress=False).validate()

    half = write_sib(tmp_path / "half", train_langs=("fra_Latn",))  # rus_Cyrl has test only
    with caplog.at_level(logging.WARNING, logger="xlt"):
        grid = Runner(study(tiny_bert, half, ["translate-train"]), progress=False).validate()
    assert [(r.protocol, r.target) for r in grid] == [("translate-train", "fra_Latn")]
    warned = [r.getMessage() for r in caplog.records if "no train split" in r.getMessage()]
    assert warned == ["task sib200: no train split for rus_Cyrl: skipped by translate-train "
                      "(1 target language(s) run)"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="xlt"):  # one line for all protocols of the study
        grid = Runner(study(tiny_bert, half, ["translate-train", "few-shot:3", "zero-shot"], seeds=(1, 2)),
                      progress=False).validate()
    assert len(grid) == 2 * 3
    assert [r.getMessage() for r in caplog.records if "no train split" in r.getMessage()] == [
        "task sib200: no train split for rus_Cyrl: skipped by translate-train, few-shot:3 (1 target language(s) run)"]

    none = write_sib(tmp_path / "none", train_langs=())
    with pytest.raises(XltError, match="protocol few-shot:5 needs target-language train data, and none of "
                                       "fra_Latn, rus_Cyrl has a train split below"):
        Runner(study(tiny_bert, none, ["zero-shot", "few-shot:5"]), progress=False).validate()


def test_a_target_label_the_english_head_lacks_is_one_line(tiny_bert, tmp_path):
    """French train has 'geography', which no English split has: the head has no such class."""
    root = write_sib(tmp_path / "sib")
    no_geo = lambda data: [r for r in data if r[1] != "geography"]  # noqa: E731
    write_split(root / SOURCE / "train.tsv", no_geo(rows(SOURCE, N)))
    write_split(root / SOURCE / "dev.tsv", no_geo(rows(SOURCE, N, start=1000)))
    for lang in (SOURCE, *TARGETS):
        write_split(root / lang / "test.tsv", no_geo(rows(lang, N, start=2000)))
    Runner(study(tiny_bert, root), progress=False).validate()  # zero-shot never reads French train
    with pytest.raises(XltError, match=r"fra_Latn/train.tsv:8: label 'geography' \(fra_Latn train\) does not "
                                       r"occur in the English training data"):
        Runner(study(tiny_bert, root, ["translate-train"]), progress=False).validate()


# -- running ----------------------------------------------------------------------------------------
def test_few_shot_reuses_the_english_phase_and_scores_only_its_target(tiny_bert, sib_dir, tmp_path, monkeypatch):
    spy, disk_reads = Spy(), []
    monkeypatch.setattr(run_mod, "fine_tune", spy)
    load = protocols._load
    monkeypatch.setattr(protocols, "_load", lambda *a: disk_reads.append(a[0]) or load(*a))
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    grid = ["zero-shot", "few-shot:7", "few-shot:14", "translate-train"]
    store = Store(str(tmp_path / "a.sqlite"))
    assert Runner(study(tiny_bert, sib_dir, grid, few_shot={"epochs": 2}), store, progress=False).run()["ran"] == 7
    # English once (the zero-shot run, kept for the 4 few-shot runs), 4 few-shot phases, 2 translate-train
    assert spy.sizes == [N, 7, 7, 14, 14, N_TARGET, N_TARGET]
    assert len(disk_reads) == 1  # the disk is looked at once (a miss); the few-shot runs take it from memory
    runs = {r["run_id"]: r for r in store.runs()}
    by_run = {}
    for r in store.score_rows():
        by_run.setdefault(r["run_id"], set()).add(r["language"])
    for rid, r in runs.items():
        target = r["config"]["run"].get("target")
        assert r["protocol"] == (r["config"]["run"].get("protocol") or "zero-shot")
        assert by_run[rid] == ({target} if target else {SOURCE, *TARGETS})  # a target run: its target only
    assert {r["language"] for r in store.score_rows(split="dev")} == {SOURCE}  # selection on English dev
    assert Counter(r["protocol"] for r in runs.values()) == {"zero-shot": 1, "few-shot:7": 2, "few-shot:14": 2,
                                                             "translate-train": 2}

    # a new process (fresh workspace) finds the English phase on disk: only few-shot phases train, and
    # the scores are those of the first study
    spy.sizes.clear()
    other = Store(str(tmp_path / "b.sqlite"))
    Runner(study(tiny_bert, sib_dir, ["few-shot:7", "few-shot:14"], few_shot={"epochs": 2}), other,
           progress=False).run()
    assert spy.sizes == [7, 7, 14, 14]
    first = {(r["run_id"], r["language"]): r["value"] for r in store.score_rows()}
    again = {(r["run_id"], r["language"]): r["value"] for r in other.score_rows()}
    assert again and all(first[k] == v for k, v in again.items())


def test_the_english_phase_is_the_zero_shot_model(tiny_bert, sib_dir, tmp_path, monkeypatch):
    """The few-shot runs' English phase is what the zero-shot run trains (same seed, init, data), and
    a cached phase whose file is corrupted is trained again, not used."""
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    store = Store(str(tmp_path / "r.sqlite"))
    Runner(study(tiny_bert, sib_dir, ["zero-shot", "few-shot:7"], few_shot={"epochs": 1}), store,
           progress=False).run()
    [cached] = list((tmp_path / "cache" / "english").iterdir())
    import json

    meta = json.loads((cached / "meta.json").read_text())
    zero = next(r for r in store.runs() if r["protocol"] == "zero-shot")
    assert meta["result"]["best_dev"] == pytest.approx(zero["dev_score"])
    assert meta["key"]["seed"] == 1 and "target" not in meta["key"] and meta["key"]["task"] == {"name": "sib200"}

    (cached / "model.safetensors").write_bytes(b"0" * 64)
    spy = Spy()
    monkeypatch.setattr(run_mod, "fine_tune", spy)
    Runner(study(tiny_bert, sib_dir, ["few-shot:7"], few_shot={"epochs": 1}), Store(str(tmp_path / "s.sqlite")),
           progress=False).run()
    assert spy.sizes == [N, 7, 7]  # the English phase again (hash mismatch), then both targets


def test_few_shot_settings_dataclass_defaults_are_the_documented_ones():
    assert FewShotSettings() == FewShotSettings(epochs=10.0, lr=2e-5, batch_size=32)


# -- XNLI: translate-train reads XNLI-MT's machine-translated train files ---------------------------
XNLI_HEADER = ("language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse sentence2_parse "
               "sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5").split()
NLI = ("entailment", "neutral", "contradiction")


def write_xnli(root: Path, mt_langs=("de",), n_mt: int = 9) -> Path:
    """XNLI-1.0 dev/test (en, de, fr), MultiNLI English train, XNLI-MT train for `mt_langs` only."""
    def xnli(split):
        rows = [dict.fromkeys(XNLI_HEADER, "_") | {"language": lang, "gold_label": NLI[i % 3],
                                                    "sentence1": f"{lang} {split} premise {i}",
                                                    "sentence2": f"{lang} hypothesis {i}"}
                for lang in ("en", "de", "fr") for i in range(6)]
        return "\t".join(XNLI_HEADER) + "\n" + "".join("\t".join(r[c] for c in XNLI_HEADER) + "\n" for r in rows)
    (root / "XNLI-1.0").mkdir(parents=True)
    for split in ("dev", "test"):
        (root / "XNLI-1.0" / f"xnli.{split}.tsv").write_text(xnli(split), encoding="utf-8")
    (root / "multinli_1.0").mkdir()
    (root / "multinli_1.0" / "multinli_1.0_train.jsonl").write_text("".join(
        f'{{"gold_label": "{NLI[i % 3]}", "sentence1": "p {i}", "sentence2": "h {i}"}}\n' for i in range(12)))
    mt = root / "XNLI-MT-1.0" / "multinli"
    mt.mkdir(parents=True)
    for lang in mt_langs:
        (mt / f"multinli.train.{lang}.tsv").write_text("premise\thypo\tlabel\n" + "".join(
            f"{lang} p {i}\t{lang} h {i}\t{'contradictory' if i % 3 == 2 else NLI[i % 3]}\n" for i in range(n_mt)))
    return root


def test_xnli_translate_train_trains_on_the_xnli_mt_file(tiny_bert, tmp_path, monkeypatch, caplog):
    root = write_xnli(tmp_path / "xnli")
    raw = {"name": "tt", "models": [str(tiny_bert)], "tasks": [{"name": "xnli", "data_dir": str(root),
                                                                "languages": ["de", "fr"]}],
           "protocols": ["translate-train"], "train": TRAIN, "runtime": RUNTIME}
    spy = Spy()
    monkeypatch.setattr(run_mod, "fine_tune", spy)
    runner = Runner(parse_study(raw), Store(str(tmp_path / "r.sqlite")), progress=False)
    with caplog.at_level(logging.WARNING, logger="xlt"):
        [run] = runner.validate()
    assert (run.protocol, run.target) == ("translate-train", "de")  # fr has no XNLI-MT file: skipped
    assert "no train split for fr" in caplog.text
    mt = root / "XNLI-MT-1.0" / "multinli" / "multinli.train.de.tsv"
    assert {ex.origin.rsplit(":", 1)[0] for ex in runner.workspace.task(run.task).target_train("de")} == {str(mt)}
    runner.run()
    assert spy.sizes == [9]  # the 9 German pairs, not MultiNLI's 12 English ones
    assert {r["language"] for r in runner.store.score_rows()} == {"de"}
