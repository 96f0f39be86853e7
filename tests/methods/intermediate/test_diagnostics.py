"""Stage diagnostics: the arithmetic of relative weight change and linear CKA, the probe set, and the
projector's own learning rate in the stage's optimizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xlt.methods.intermediate import diagnostics as D
from xlt.methods.intermediate.diagnostics import layer_group, linear_cka, weight_change


def _rep(n=200, d=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_cka_of_a_representation_with_itself_is_one():
    x = _rep()
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transforms_isotropic_scaling_and_shifts():
    x = _rep()
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(16, 16)))
    assert linear_cka(x, 3.7 * x @ q + 5.0) == pytest.approx(1.0, abs=1e-10)
    y = _rep(seed=2) + 0.5 * x  # related, not equal
    assert linear_cka(x, y) == pytest.approx(linear_cka(x @ q, 0.1 * y), abs=1e-10)
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x), abs=1e-12)  # symmetric


def test_cka_is_not_invariant_to_anisotropic_scaling_and_lower_for_unrelated_data():
    x = _rep()
    stretched = x * np.r_[np.full(8, 10.0), np.full(8, 0.1)]  # not a similarity transform
    assert linear_cka(x, stretched) < 0.9
    unrelated = linear_cka(x, _rep(seed=3))
    related = linear_cka(x, x + 0.5 * _rep(seed=3))
    assert unrelated < 0.2 < 0.7 < related < 1.0  # 200 x 16 random: E[CKA] ~ d / n
    # the value against a brute-force HSIC with the n x n linear kernels (eq. 5 of Kornblith et al.)
    y = _rep(seed=4) + x[:, ::-1]
    h = np.eye(200) - 1 / 200
    hsic = lambda k, l: np.trace(k @ h @ l @ h)  # noqa: E731
    k, l = x @ x.T, y @ y.T
    assert linear_cka(x, y) == pytest.approx(hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l)), rel=1e-10)


def test_cka_is_undefined_without_variation():
    x = _rep()
    same = np.tile(x[:1], (200, 1)) + 1e-12 * _rep(seed=5)  # every input embedded alike, up to rounding
    assert np.isnan(linear_cka(x, same)) and np.isnan(linear_cka(same, same))


def test_cka_needs_the_same_inputs():
    with pytest.raises(ValueError, match="same >= 2 inputs"):
        linear_cka(_rep(10), _rep(11))


def test_parameter_groups():
    assert layer_group("embeddings.word_embeddings.weight") == "word_embeddings"
    assert layer_group("embeddings.position_embeddings.weight") == "embeddings"
    assert layer_group("embeddings.LayerNorm.bias") == "embeddings"
    assert layer_group("encoder.layer.11.output.dense.weight") == "layer.11"
    assert layer_group("model.layers.3.mlp.up_proj.weight") == "layer.3"
    assert layer_group("pooler.dense.weight") == "other"
    assert D.group_order(["other", "layer.10", "layer.2", "embeddings", "word_embeddings"]) == [
        "word_embeddings", "embeddings", "layer.2", "layer.10", "other"]


def test_relative_weight_change_per_group():
    before = {"embeddings.word_embeddings.weight": torch.ones(4, 3), "embeddings.LayerNorm.weight": torch.ones(3),
              "encoder.layer.0.attention.self.query.weight": torch.full((2, 2), 2.0),
              "encoder.layer.0.output.dense.bias": torch.zeros(2),
              "encoder.layer.1.output.dense.weight": torch.full((2, 2), 3.0)}
    after = {k: v.clone() for k, v in before.items()}
    after["embeddings.LayerNorm.weight"] += torch.tensor([0.0, 0.0, 0.3])
    after["encoder.layer.0.output.dense.bias"] += 1.0  # zero before: counts in the group's norm ratio
    after["encoder.layer.1.output.dense.weight"] *= 1.5
    out = weight_change(before, after)
    assert list(out) == ["word_embeddings", "embeddings", "layer.0", "layer.1"]
    assert out["word_embeddings"] == 0.0  # frozen: unchanged
    assert out["embeddings"] == pytest.approx(0.3 / np.sqrt(3))
    assert out["layer.0"] == pytest.approx(np.sqrt(2) / np.sqrt(4 * 4))  # ||(1, 1)|| / ||2 * ones(2, 2)||
    assert out["layer.1"] == pytest.approx(0.5)


def test_probe_set_is_parallel_and_fixed():
    probe = D.probe_texts(("de", "ja"), size=20)
    assert list(probe) == ["en", "de", "ja"] and all(len(v) == 20 for v in probe.values())
    assert probe == D.probe_texts(("de", "ja"), size=20)  # deterministic
    full = D.probe_texts()
    assert list(full) == ["en", *D.PROBE_LANGUAGES] and {len(v) for v in full.values()} == {D.PROBE_SIZE}
    # row i names one concept in every language: English and German rows differ, as names do
    assert sum(a != b for a, b in zip(full["en"], full["de"])) > D.PROBE_SIZE // 2


def test_stage_diagnostics_of_an_unchanged_and_a_perturbed_encoder(tiny_bert):
    from xlt.models import registry

    ref = registry.resolve(str(tiny_bert))
    tok = registry.load_tokenizer(ref)
    before, after = registry.load_encoder(ref), registry.load_encoder(ref)
    probe = {"en": ["the teacher reads a book", "my brother writes", "fresh bread", "the old house", "a red apple"],
             "fr": ["le garçon", "la lettre", "des pâtes", "le théâtre", "une forêt"]}
    same = D.stage_diagnostics(before, after, tok, "", "mean", torch.device("cpu"), probe)
    assert all(v == 0 for v in same["weight_change"].values())
    assert same["cka_en"] == pytest.approx(1.0) and same["cka_targets"] == pytest.approx(1.0)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in after.named_parameters():
            if "layer.1." in name and p.ndim == 2:
                p.add_(torch.randn_like(p) * p.std() * 5)
    moved = D.stage_diagnostics(before, after, tok, "", "mean", torch.device("cpu"), probe)
    assert moved["weight_change"]["layer.0"] == 0 and moved["weight_change"]["layer.1"] > 0.2
    assert moved["cka_en"] < 0.999 and set(moved["cka"]) == {"en", "fr"}
    assert moved["probe"] == {"task": "cldr-names", "languages": ["en", "fr"], "size": 5, "pooling": "mean"}


def test_the_projector_trains_at_projector_lr_and_the_classifier_at_head_lr(tiny_bert):
    from xlt.methods.intermediate import condition_from_label, parse_conditions
    from xlt.methods.intermediate.conditions import stage_settings
    from xlt.methods.intermediate.stage import _multimodal
    from xlt.models import registry
    from xlt.training.loop import _param_groups
    from xlt.training.settings import Runtime, TrainSettings

    ref = registry.resolve(str(tiny_bert))
    tok = registry.load_tokenizer(ref)
    train = TrainSettings(lr=1e-4, head_lr=3e-3, max_length=32)

    def lrs(cond) -> dict[str, float]:
        cfg = stage_settings(cond, train)
        model = _multimodal(cond, registry.load_encoder(ref), ref, tok, cfg, Runtime(progress=False), "mean", 0,
                            torch.device("cpu"))[0]
        by_param = {id(p): g.get("lr", cfg.lr) for g in _param_groups(model, cfg) for p in g["params"]}
        return {n: by_param[id(p)] for n, p in model.named_parameters() if p.requires_grad}

    default = lrs(condition_from_label("multimodal:digits-ve"))
    assert default["head.image.linear.weight"] == default["head.image.linear.bias"] == 1e-4  # the encoder's lr
    assert default["head.classify.weight"] == 3e-3 and default["encoder.encoder.layer.0.output.dense.weight"] == 1e-4
    (given,) = parse_conditions([{"condition": "multimodal:digits-ve", "projector_lr": 5e-4}], "s").values()
    assert lrs(given)["head.image.linear.weight"] == 5e-4 and lrs(given)["head.classify.weight"] == 3e-3
