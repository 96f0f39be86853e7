"""The intermediate stage on tiny random models: fusion, images, feature files, cache, and a full study."""

from __future__ import annotations

import json
import logging
from collections import Counter

import numpy as np
import pytest
import torch
from sqlalchemy import select
from transformers import AutoModel

from tests.sib_fixture import write_tiny_sib200
from xlt.errors import DataError
from xlt.methods.intermediate import checkpoint, condition_from_label, parse_conditions, stage
from xlt.methods.intermediate.data import ImageTextExample
from xlt.methods.intermediate.diagnostics import PROBE_LANGUAGES
from xlt.methods.intermediate.fusion import ImageTextClassifier
from xlt.methods.intermediate.vision import encode_images, read_features
from xlt.models import registry
from xlt.store.db import Store, runs, scores
from xlt.study.config import parse_study
from xlt.study.runner import Runner
from xlt.training.settings import TrainSettings

# a few steps of 8 pairs: enough to move every weight; dev checked once, at the end
TRAIN = TrainSettings(max_steps=4, batch_size=8, lr=5e-3, head_lr=5e-2, max_length=32, pooling="mean")
RUNTIME = {"device": "cpu", "progress": False, "threads": 1}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    ref = registry.resolve(str(tiny_bert))
    return ref, registry.load_tokenizer(ref)


@pytest.fixture(scope="module")
def vision_dir(tmp_path_factory):
    """A tiny random CLIP vision tower with its image processor (16x16 pixels, 4 patches)."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    path = tmp_path_factory.mktemp("tiny-clip")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        CLIPVisionModel(CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, image_size=16, patch_size=8)).save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def snli_ve_dir(tmp_path_factory):
    """SNLI-VE layout: 6 generated images (one colour each) and 3 pairs per image in train and dev."""
    from PIL import Image

    root = tmp_path_factory.mktemp("snli-ve")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        pixels = np.clip(rng.normal(40 * i, 30, (20, 24, 3)), 0, 255).astype("uint8")
        Image.fromarray(pixels).save(root / "images" / f"{1000 + i}.png")
    for split, ids in (("train", range(4)), ("dev", range(4, 6))):
        rows = [{"Flickr30K_ID": str(1000 + i), "sentence1": "the teacher reads a book",
                 "sentence2": f"the doctor sees {w}", "gold_label": label}
                for i in ids for w, label in (("a book", "entailment"), ("the letter", "neutral"),
                                              ("fresh bread", "contradiction"))]
        (root / f"snli_ve_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _pretrained(ref) -> dict:
    return {k: v.clone() for k, v in registry.load_encoder(ref).state_dict().items()}


def _condition(entry):
    return next(iter(parse_conditions([entry], "test").values()))


@pytest.mark.parametrize("entry", ["text:digits-nli", "multimodal:digits-ve",
                                   {"condition": "multimodal:digits-ve", "fusion": "late"}])
def test_stage_changes_the_encoder_and_keeps_only_its_weights(tiny, tmp_path, entry):
    ref, tok = tiny
    cfg = TrainSettings(**{**TRAIN.__dict__, "freeze_embeddings": True})
    encoder = checkpoint.load_encoder(_condition(entry), ref, tok, cfg, 1, tmp_path)
    before, after = _pretrained(ref), encoder.state_dict()
    assert set(after) == set(before)  # a plain encoder: no head, no projection, no vision parts
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    layers = {k for k in before if ".layer." in k}
    assert layers <= changed  # every transformer weight moved
    assert "embeddings.word_embeddings.weight" not in changed  # frozen, and not stored
    (folder,) = (tmp_path / "intermediate").iterdir()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["steps"] == 4 and 0 <= meta["dev"] <= 1 and meta["key"]["task"] in ("digits-nli", "digits-ve")
    from safetensors.torch import load_file

    stored = load_file(folder / "encoder.safetensors")
    assert "embeddings.word_embeddings.weight" not in stored and not any("head" in k for k in stored)


def test_checkpoint_is_reused_and_a_corrupt_one_retrained(tiny, tmp_path, monkeypatch, caplog):
    ref, tok = tiny
    cond = _condition({"condition": "text:digits-nli", "stage_seed": "shared"})
    calls = []
    real = stage.train_stage
    monkeypatch.setattr(stage, "train_stage", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = checkpoint.load_encoder(cond, ref, tok, TRAIN, 1, tmp_path).state_dict()
    (folder,) = checkpoint.cache_root(tmp_path).iterdir()
    second = checkpoint.load_encoder(cond, ref, tok, TRAIN, cond.stage_seed(2), tmp_path).state_dict()  # other target seed, shared stage
    assert len(calls) == 1 and all(torch.equal(first[k], second[k]) for k in first)
    # a checkpoint stored before diagnostics existed gets them on first use, without training again
    diag = json.loads((folder / "diagnostics.json").read_text())
    (folder / "diagnostics.json").unlink()
    checkpoint.load_encoder(cond, ref, tok, TRAIN, 1, tmp_path)
    again = json.loads((folder / "diagnostics.json").read_text())
    assert len(calls) == 1 and again["probe"] == diag["probe"]
    assert again["weight_change"] == pytest.approx(diag["weight_change"]) and again["cka"] == pytest.approx(diag["cka"])
    # another stage setting is another checkpoint
    checkpoint.load_encoder(cond, ref, tok, TrainSettings(**{**TRAIN.__dict__, "lr": 1e-3}), 1, tmp_path)
    assert len(calls) == 2 and len(list((tmp_path / "intermediate").iterdir())) == 2
    # flip bytes in the middle of the weights: detected by the content hash, retrained with a warning
    weights = folder / "encoder.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    weights.write_bytes(data)
    checkpoint._VERIFIED.clear()
    with caplog.at_level(logging.WARNING, logger="xlt"):
        again = checkpoint.load_encoder(cond, ref, tok, TRAIN, 1, tmp_path).state_dict()
    assert len(calls) == 3 and "content hash mismatch" in caplog.text and "training it again" in caplog.text
    assert all(torch.equal(first[k], again[k]) for k in first)  # the stage is deterministic
    # a half-written folder (no meta.json) is retrained too
    (folder / "meta.json").unlink()
    checkpoint.load_encoder(cond, ref, tok, TRAIN, 1, tmp_path)
    assert len(calls) == 4 and (folder / "meta.json").is_file()


@pytest.mark.parametrize("policy", ["paired", "shared"])
def test_stage_seed_policy_pairs_each_target_seed_with_its_own_stage(tiny, tmp_path, policy):
    """paired (default): target seeds 1 and 2 start from two stages trained with seeds 1 and 2;
    shared: both start from one stage (seed 1). Run ids follow the stage seed, not the policy's name."""
    ref, tok = tiny
    entry = {"condition": "text:digits-nli"} if policy == "paired" else {"condition": "text:digits-nli",
                                                                         "stage_seed": "shared"}
    cond = _condition(entry)
    assert cond.label == "text:digits-nli"  # the policy is not in the label: the run id holds the seed
    seeds = [cond.stage_seed(s) for s in (1, 2)]
    states = [checkpoint.load_encoder(cond, ref, tok, TRAIN, s, tmp_path).state_dict() for s in seeds]
    folders = list((tmp_path / "intermediate").iterdir())
    if policy == "paired":
        assert seeds == [1, 2] and len(folders) == 2
        assert any(not torch.equal(states[0][k], states[1][k]) for k in states[0])
        # the seed unit is stage + target seed: each run's record names its own stage
        recs = [checkpoint.stage_record(cond, ref, TRAIN, s, s, tmp_path) for s in seeds]
        assert recs[0]["checkpoint"] != recs[1]["checkpoint"] and [r["seed"] for r in recs] == [1, 2]
        assert {r["seed_policy"] for r in recs} == {"paired"}
    else:
        assert seeds == [1, 1] and len(folders) == 1
    # shared seed 1 and paired target seed 1 are the same stage: one checkpoint key, one run identity
    other = _condition({"condition": "text:digits-nli", "stage_seed": "shared" if policy == "paired" else "paired"})
    assert checkpoint.checkpoint_dir(other, ref, TRAIN, 1, tmp_path)[0] == checkpoint.checkpoint_dir(
        cond, ref, TRAIN, 1, tmp_path)[0]


def test_stage_seed_is_in_the_run_identity_and_multimodal_runs_carry_the_stage_format(tiny_bert, tmp_path):
    raw = {"name": "ids", "models": [str(tiny_bert)], "seeds": [1, 2], "cache_dir": str(tmp_path / "cache"),
           "tasks": [{"name": "sib200", "data_dir": str(write_tiny_sib200(tmp_path / "sib", n=16)),
                      "languages": "available"}],
           "intermediate": ["none", "text:digits-nli", "multimodal:digits-ve"], "train": dict(TRAIN.__dict__),
           "runtime": RUNTIME}
    paired = {(r.intermediate, r.seed): r for r in Runner(parse_study(raw), Store("sqlite://"), progress=False).specs()}
    shared = {(r.intermediate, r.seed): r for r in Runner(parse_study({**raw, "intermediate": [
        "none", {"condition": "text:digits-nli", "stage_seed": "shared"}, "multimodal:digits-ve"]}),
        Store("sqlite://"), progress=False).specs()}
    assert [paired[("text:digits-nli", s)].stage_seed for s in (1, 2)] == [1, 2]
    assert [shared[("text:digits-nli", s)].stage_seed for s in (1, 2)] == [1, 1]
    assert paired[("none", 1)].stage_seed is None
    # same stage, same id (seed 1); another stage seed, another id (seed 2)
    assert paired[("text:digits-nli", 1)].run_id == shared[("text:digits-nli", 1)].run_id
    assert paired[("text:digits-nli", 2)].run_id != shared[("text:digits-nli", 2)].run_id
    assert paired[("text:digits-nli", 2)].identity()["stage_seed"] == 2
    # the projector's lr rule changed: multimodal identities say so, the others are as before
    assert paired[("multimodal:digits-ve", 1)].identity()["stage_format"] == 2
    assert "stage_format" not in paired[("text:digits-nli", 1)].identity()
    assert "stage_format" not in paired[("none", 1)].identity()


def test_a_cache_miss_leaves_the_callers_random_state_alone(tiny, tmp_path):
    ref, tok = tiny
    cond = condition_from_label("multimodal:digits-ve")
    draws = []
    for _ in range(2):  # first call trains, second reads the cache
        torch.manual_seed(5)
        np.random.seed(5)
        checkpoint.load_encoder(cond, ref, tok, TRAIN, 1, tmp_path)
        draws.append((torch.rand(3), np.random.rand(3)))
    assert torch.equal(draws[0][0], draws[1][0]) and np.array_equal(draws[0][1], draws[1][1])


@pytest.mark.parametrize("fusion", ["prefix", "late"])
def test_the_image_reaches_the_fused_model(tiny_bert, tiny, fusion):
    ref, tok = tiny
    images = torch.randn(3, 1, 64)
    enc = stage.encode_pairs([ImageTextExample("0", "the doctor reads a book", "entailment")] * 3,
                             np.arange(3), tok, {"entailment": 0}, 32)
    model = ImageTextClassifier(AutoModel.from_pretrained(tiny_bert), images, 3, fusion=fusion, prefix_tokens=4,
                                insert_at=1, pooling="mean").eval()
    ids = torch.tensor(enc.input_ids)
    mask, types = torch.ones_like(ids), torch.tensor(enc.token_type_ids)
    with torch.no_grad():
        logits = model(ids, mask, types, torch.arange(3))
        hidden, hmask = model.hidden(ids, mask, types, torch.arange(3))
    # the same text with three different images: three different outputs
    assert not torch.allclose(logits[0], logits[1]) and not torch.allclose(logits[1], logits[2])
    if fusion == "prefix":  # the image tokens sit inside the encoder: the *text* tokens' states differ too
        assert hidden.shape[1] == ids.shape[1] + 4 and hmask.shape == hidden.shape[:2]
        assert not torch.allclose(hidden[0, -1], hidden[1, -1])
    else:  # late fusion: the encoder sees text only
        assert hidden.shape[1] == ids.shape[1] and torch.allclose(hidden[0], hidden[1])
    with torch.no_grad():  # same image, same output
        assert torch.allclose(model(ids, mask, types, torch.tensor([2, 2, 2]))[0], logits[2])


def test_shuffled_condition_permutes_images_deterministically():
    rows = np.repeat(np.arange(50), 3)
    a, b = stage.shuffled_rows(rows, 1, "train"), stage.shuffled_rows(rows, 1, "train")
    assert np.array_equal(a, b) and sorted(a) == sorted(rows)  # same images, same statistics
    assert (a != rows).mean() > 0.9  # the pairing is broken
    assert not np.array_equal(a, stage.shuffled_rows(rows, 2, "train"))
    assert not np.array_equal(a, stage.shuffled_rows(rows, 1, "dev"))


def test_feature_files_keyed_by_image_id(tmp_path):
    from safetensors.numpy import save_file

    feats = {str(i): np.full(5, i, dtype=np.float32) for i in range(4)}
    save_file(feats, str(tmp_path / "f.safetensors"))
    np.savez(tmp_path / "f.npz", **{k: np.tile(v, (2, 1)) for k, v in feats.items()})  # [tokens, dim]
    np.save(tmp_path / "f.npy", np.stack(list(feats.values())))
    (tmp_path / "f.ids.txt").write_text("\n".join(feats) + "\n")
    for name, shape in (("f.safetensors", (2, 1, 5)), ("f.npz", (2, 2, 5)), ("f.npy", (2, 1, 5))):
        table = read_features(tmp_path / name, ["3", "1"])
        assert table.shape == shape and table[0, 0, 0] == 3 and table[1, 0, 0] == 1
    with pytest.raises(DataError, match=r"f.npz: no features for image id '9' \(and 1 more\)"):
        read_features(tmp_path / "f.npz", ["1", "9", "8"])
    (tmp_path / "g.npy").write_bytes((tmp_path / "f.npy").read_bytes())
    with pytest.raises(DataError, match="needs its image ids in g.ids.txt"):
        read_features(tmp_path / "g.npy", ["1"])


def test_frozen_vision_encoder_features(vision_dir, snli_ve_dir):
    ids = ["1000", "1001", "1005"]
    pooled = encode_images(str(vision_dir), snli_ve_dir / "images", ids, "pooled", torch.device("cpu"), 2, False)
    patches = encode_images(str(vision_dir), snli_ve_dir / "images", ids, "patches", torch.device("cpu"), 2, False)
    assert pooled.shape == (3, 1, 16) and patches.shape == (3, 5, 16)  # CLS + 4 patches
    assert not np.allclose(pooled[0], pooled[1])  # different images, different features
    with pytest.raises(DataError, match="no image file for id '77'"):
        encode_images(str(vision_dir), snli_ve_dir / "images", ["77"], "pooled", torch.device("cpu"))


def test_multimodal_stage_over_images_with_a_hub_style_vision_encoder(tiny, vision_dir, snli_ve_dir, tmp_path):
    ref, tok = tiny
    cond = _condition({"condition": "multimodal:snli-ve", "data_dir": str(snli_ve_dir),
                       "images": str(snli_ve_dir / "images"), "vision_model": str(vision_dir),
                       "image_tokens": "patches"})
    encoder = checkpoint.load_encoder(cond, ref, tok, TRAIN, 1, tmp_path)
    before = _pretrained(ref)
    assert any(not torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    meta = json.loads(next((tmp_path / "intermediate").glob("*/meta.json")).read_text())
    assert meta["key"]["files"]["images"].startswith("dir:") and meta["steps"] == 4


def test_study_with_all_four_conditions(tiny_bert, tmp_path, monkeypatch):
    sib = write_tiny_sib200(tmp_path / "sib", n=16)
    calls = []
    real = stage.train_stage
    monkeypatch.setattr(stage, "train_stage", lambda *a, **k: calls.append(a[0].label) or real(*a, **k))
    raw = {"name": "inter", "models": [str(tiny_bert)], "seeds": [1, 2], "cache_dir": str(tmp_path / "cache"),
           "tasks": [{"name": "sib200", "data_dir": str(sib), "languages": "available"}],
           "intermediate": ["none", "text:digits-nli", "multimodal:digits-ve", "multimodal-shuffled:digits-ve"],
           "train": dict(TRAIN.__dict__), "runtime": RUNTIME}
    store = Store(str(tmp_path / "r.sqlite"))
    summary = Runner(parse_study(raw), store, progress=False).run()
    assert summary == {"runs": 8, "skipped": 0, "ran": 8}
    # paired stage seeds: one stage per condition and target seed
    assert Counter(calls) == {c: 2 for c in raw["intermediate"][1:]}
    with store.engine.connect() as c:
        stored = {(r.intermediate, r.seed, r.status) for r in c.execute(select(runs))}
        n_scores = c.execute(select(scores)).fetchall()
        stage_col = {(r.intermediate, r.seed): r.stage for r in c.execute(select(runs))}
    assert stored == {(i, s, "done") for i in raw["intermediate"] for s in (1, 2)}
    assert len(n_scores) >= 8 * 3  # three languages per run
    assert Runner(parse_study(raw), store, progress=False).run()["ran"] == 0 and len(calls) == 6
    # every run stores the stage it started from, with its diagnostics (also beside the checkpoint)
    assert stage_col[("none", 1)] is None
    for (inter, seed), rec in stage_col.items():
        if inter == "none":
            continue
        assert rec["seed"] == seed and rec["seed_policy"] == "paired" and rec["lr"] == TRAIN.lr
        assert rec["projector_lr"] == (TRAIN.lr if inter.startswith("multimodal") else None)
        diag = rec["diagnostics"]
        assert diag == json.loads((tmp_path / "cache" / "intermediate" / rec["checkpoint"] / "diagnostics.json")
                                  .read_text())
        assert list(diag["weight_change"]) == ["word_embeddings", "embeddings", "layer.0", "layer.1"]
        assert all(v > 0 for k, v in diag["weight_change"].items() if k.startswith("layer."))
        assert set(diag["cka"]) == {"en", *PROBE_LANGUAGES} and 0 < diag["cka_en"] <= 1 + 1e-9
        # None: a script the tiny tokenizer reads as [UNK] only (every name embedded alike: CKA undefined)
        assert all(v is None or 0 < v <= 1 + 1e-9 for v in diag["cka"].values())
    assert len({rec["checkpoint"] for rec in stage_col.values() if rec}) == 6
    # ... and the report shows them: the seed policy, the lrs, a table row per condition, the figure
    from xlt.report.build import write_report

    paths = write_report(store, "inter", tmp_path / "report", n_boot=200, progress=False)
    md = paths["md"].read_text()
    assert "## Intermediate stages" in md and "Stage seeds: paired" in md and "image projector 0.005" in md
    assert "seed unit of the confidence intervals is stage seed + target seed" in md
    for inter in raw["intermediate"][1:]:
        assert f"| {str(tiny_bert)} | {inter} | 2 |" in md
    assert (tmp_path / "report" / "figures" / "stage-weight-change.svg").is_file()


def test_retrieval_runs_embed_with_the_intermediate_encoder(tiny_bert, tmp_path, monkeypatch):
    """'Tatoeba after fine-tuning on X' is the condition text:X on a retrieval task."""
    lines = ["the teacher reads a book", "my brother writes the letter", "a child buys fresh bread",
             "the doctor sees the old house", "our neighbour loves a red apple"]
    fr = ["le garçon achète un gâteau", "la fillette préfère la lettre", "mon élève écrit des pâtes",
          "notre façade connaît le théâtre", "le maître reçoit une forêt"]
    (tmp_path / "tatoeba.fra-eng.eng").write_text("\n".join(lines) + "\n")
    (tmp_path / "tatoeba.fra-eng.fra").write_text("\n".join(fr) + "\n")
    loaded = []
    real = checkpoint.load_encoder
    monkeypatch.setattr(checkpoint, "load_encoder",
                        lambda cond, *a, **k: loaded.append(cond.label) or real(cond, *a, **k))
    raw = {"name": "tat", "models": [str(tiny_bert)], "seeds": [1], "cache_dir": str(tmp_path / "cache"),
           "tasks": [{"name": "tatoeba", "data_dir": str(tmp_path), "languages": ["fr"]}],
           "intermediate": ["none", "text:digits-nli"],
           "train": dict(TRAIN.__dict__), "runtime": RUNTIME}
    store = Store(str(tmp_path / "r.sqlite"))
    Runner(parse_study(raw), store, progress=False).run()
    assert loaded == ["text:digits-nli"]
    rows = store.score_rows(study="tat")
    assert {(r["intermediate"], r["language"]) for r in rows} == {("none", "fr"), ("text:digits-nli", "fr")}


def _fed_pairs(monkeypatch, tiny, tmp_path, entry) -> dict:
    """Train the condition's stage through `checkpoint.load_encoder` and record what the fused model is
    given: per forward pass, (text token ids, image id) for every row, split by train / dev pass."""
    ref, tok = tiny
    seen, ids = {"train": [], "dev": []}, []
    real_table, real_forward = stage.image_table, ImageTextClassifier.forward

    def table(task, cond, image_ids, *args):
        ids.extend(image_ids)  # row r of the feature table is image ids[r]
        return real_table(task, cond, image_ids, *args)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, image_rows=None):
        special = {tok.cls_token_id, tok.sep_token_id, tok.pad_token_id}  # [UNK] stays: it is text
        texts = [tuple(t for t in row.tolist() if t not in special) for row in input_ids]
        images = [ids[r] for r in image_rows.tolist()]
        seen["train" if self.training else "dev"].extend(zip(texts, images))
        return real_forward(self, input_ids, attention_mask, token_type_ids, image_rows)

    monkeypatch.setattr(stage, "image_table", table)
    monkeypatch.setattr(ImageTextClassifier, "forward", forward)
    checkpoint.load_encoder(_condition(entry), ref, tok, TRAIN, 1, tmp_path)
    monkeypatch.undo()
    return seen


def _dataset_pairs(tok, split: str) -> Counter:
    from xlt.methods.intermediate.data import DigitsVE

    return Counter((tuple(tok(ex.text, add_special_tokens=False)["input_ids"]), ex.image)
                   for ex in DigitsVE({}).load(split))


def test_each_example_reaches_the_model_with_its_own_image_and_shuffled_with_another(tiny, tmp_path, monkeypatch):
    """Through the stage (not its helpers): the (text, image) pairs the fused model is given."""
    ref, tok = tiny
    truth = {s: _dataset_pairs(tok, s) for s in ("train", "dev")}
    paired = _fed_pairs(monkeypatch, tiny, tmp_path / "a", "multimodal:digits-ve")
    shuffled = _fed_pairs(monkeypatch, tiny, tmp_path / "b", "multimodal-shuffled:digits-ve")
    # dev is evaluated once, every example once: exactly the dataset's pairs, each text with its own image
    assert Counter(paired["dev"]) == truth["dev"]
    assert len(paired["train"]) == 4 * 8 and not Counter(paired["train"]) - truth["train"]
    assert len({img for _, img in paired["dev"]}) == len({img for _, img in truth["dev"]}) > 100
    # shuffled: the same texts and the same images (a permutation), but paired apart
    dev = Counter(shuffled["dev"])
    assert Counter(t for t, _ in dev.elements()) == Counter(t for t, _ in truth["dev"].elements())
    assert Counter(i for _, i in dev.elements()) == Counter(i for _, i in truth["dev"].elements())
    assert sum((dev & truth["dev"]).values()) < 0.2 * dev.total()
    train_images = {img for _, img in truth["train"]}
    assert all(img in train_images for _, img in shuffled["train"])  # permuted within the split
    assert sum((Counter(shuffled["train"]) & truth["train"]).values()) < 0.5 * len(shuffled["train"])
