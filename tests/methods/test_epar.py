"""EPAR: each loss term on tiny tensors, the loss on tiny models of every task type, and tiny studies."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from tests.conftest import SHARED_DATA, shared_files
from tests.sib_fixture import write_tiny_sib200
from xlt.errors import ConfigError, XltError
from xlt.methods import METHODS, REGISTRY, make_loss, parse_method_settings, settings_for
from xlt.methods import epar
from xlt.methods.settings import EparSettings
from xlt.store.db import Store
from xlt.study.config import parse_study
from xlt.study.runner import Runner
from xlt.tasks.base import Answer, ChoiceExample, Example, QAExample, TaggingExample
from xlt.tasks.spec import TaskSpec, TaskType
from xlt.training.batching import IGNORE, collate
from xlt.training.kinds import kind_for

ABLATIONS = ["epar-no-push", "epar-no-pull", "epar-no-robust", "epar-random-push"]


pytestmark = pytest.mark.usefixtures("one_thread")


# --- terms on tiny tensors ----------------------------------------------------------------------


def _clustered_table(n_en=6, n_other=30, dim=8):
    """English rows around +e0, other rows around -e0: the push must point along -e0."""
    g = torch.Generator().manual_seed(0)
    table = torch.randn(n_en + n_other, dim, generator=g) * 0.1
    table[:n_en, 0] += 1.0
    table[n_en:, 0] -= 1.0
    return table, list(range(n_en))


def test_push_points_from_english_to_the_other_rows_by_the_intended_length():
    table, en = _clustered_table()
    u, unit = epar.push_direction(table, en)
    assert u.norm() == pytest.approx(1.0, abs=1e-6)
    assert u[0] < -0.95  # almost exactly -e0
    assert unit == pytest.approx(float(table[:6].norm(dim=1).mean()))
    embeds = torch.randn(2, 5, 8)
    mask = torch.tensor([[0, 1, 1, 1, 0], [0, 1, 1, 0, 0]], dtype=torch.bool)  # specials/pads unpushed
    out = epar.push_embeddings(embeds, mask, u, 0.7)
    delta = out - embeds
    assert torch.allclose(delta[mask], (0.7 * u).expand(int(mask.sum()), 8), atol=1e-6)
    assert torch.equal(delta[~mask], torch.zeros(int((~mask).sum()), 8))
    # moving along u brings the English centroid closer to the other rows' centroid
    mu_en, mu_o = table[:6].mean(0), table[6:].mean(0)
    assert (mu_en + 0.7 * u - mu_o).norm() < (mu_en - mu_o).norm() - 0.6


def test_noise_has_the_intended_length_on_top_of_the_push():
    u = torch.nn.functional.normalize(torch.randn(8), dim=0)
    embeds, mask = torch.randn(3, 4, 8), torch.ones(3, 4, dtype=torch.bool)
    noise = epar.push_embeddings(embeds, mask, u, 0.5, noise=0.2) - embeds - 0.5 * u
    assert torch.allclose(noise.norm(dim=-1), torch.full((3, 4), 0.2), atol=1e-5)


def test_random_push_has_the_same_length_in_another_direction():
    table, en = _clustered_table()
    u, unit = epar.push_direction(table, en)
    r, unit_r = epar.push_direction(table, en, random=True, generator=torch.Generator().manual_seed(1))
    assert unit_r == unit and r.norm() == pytest.approx(1.0, abs=1e-6)
    assert abs(float(r @ u)) < 1e-5  # orthogonal to the language direction
    embeds, mask = torch.zeros(1, 3, 8), torch.ones(1, 3, dtype=torch.bool)
    d_u = epar.push_embeddings(embeds, mask, u, 0.4)
    d_r = epar.push_embeddings(embeds, mask, r, 0.4)
    assert torch.allclose(d_u.norm(dim=-1), d_r.norm(dim=-1)) and not torch.allclose(d_u, d_r)


def test_pull_terms_are_zero_for_identical_inputs_and_positive_otherwise():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    q, k = torch.randn(2, 4, 6), torch.randn(2, 4, 6)
    lp = epar.attention_logprobs(q, k, mask, head_size=3, scale=3 ** -0.5)
    assert lp.shape == (2, 2, 4, 4)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(2, 2, 4), atol=1e-5)  # distributions over keys
    assert float(lp.exp()[0, :, :, 3].max()) == 0.0  # no attention on padding
    assert float(epar.attention_kl([lp, lp], [lp, lp], mask)) == 0.0
    other = epar.attention_logprobs(q + 0.5 * torch.randn_like(q), k, mask, 3, 3 ** -0.5)
    assert float(epar.attention_kl([lp], [other], mask)) > 0.0
    # the KL only looks at real query tokens: changing a padded query changes nothing
    q2 = q.clone()
    q2[1, 3] += 5.0
    assert float(epar.attention_kl([lp], [epar.attention_logprobs(q2, k, mask, 3, 3 ** -0.5)], mask)) == 0.0
    h = [torch.randn(2, 4, 6) for _ in range(3)]
    assert float(epar.hidden_mse(h, h, mask)) == 0.0
    h2 = [h[0] + 1.0] + h[1:]  # the embedding output (index 0) is ignored: it differs by the push
    assert float(epar.hidden_mse(h, h2, mask)) == 0.0
    assert float(epar.hidden_mse(h, [h[0], h[1] + 0.1, h[2]], mask)) == pytest.approx(0.01 / 2, rel=1e-4)


def test_robust_targets_are_distributions_and_one_hot_at_full_gold_weight():
    logits = torch.randn(5, 4)
    gold = torch.tensor([0, 3, IGNORE, 1, 2])
    t = epar.robust_targets(logits, gold, 0.6)
    valid = gold != IGNORE
    assert torch.allclose(t[valid].sum(-1), torch.ones(4)) and bool((t >= 0).all())
    assert torch.equal(t[~valid], torch.zeros(1, 4))  # ignored sub-tokens stay out of the loss
    assert bool((t[valid].gather(1, gold[valid, None]) >= 0.6).all())  # the gold label keeps its share
    one = epar.robust_targets(logits, gold, 1.0)
    assert torch.equal(one[valid], torch.nn.functional.one_hot(gold[valid], 4).float())
    # soft CE with one-hot targets is the ordinary cross-entropy
    ce = torch.nn.functional.cross_entropy(logits, gold, ignore_index=IGNORE)
    assert float(epar.soft_cross_entropy(logits, one, gold)) == pytest.approx(float(ce), rel=1e-6)


def _epar_settings(raw):
    return parse_method_settings(["epar"], {"epar": raw})["epar"]


def test_settings_are_validated_with_clear_errors():
    assert _epar_settings({"push_norm": "0.5", "pull_on": "hidden"}) == EparSettings(push_norm=0.5, pull_on="hidden")
    bad = [({"push_nrom": 1}, "did you mean 'push_norm'"), ({"w_pull": "lots"}, "must be a number"),
           ({"gold_weight": 1.5}, "between 0 and 1"), ({"noise_norm": -1}, ">= 0"), ({"w_virtual": True}, "number"),
           ({"pull_on": "keys"}, "attention, hidden, both"), ([1, 2], "must be a mapping")]
    for raw, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            _epar_settings(raw)
    with pytest.raises(ConfigError, match="unknown method 'epar-fast'"):
        parse_method_settings(["epar-fast"], {})
    with pytest.raises(ConfigError, match="no method has settings 'eparr'; did you mean 'epar'"):
        parse_method_settings(["epar"], {"eparr": {}})
    with pytest.raises(ConfigError, match="method_settings must be a mapping"):
        parse_method_settings(["epar"], [1])
    assert set(METHODS) == {"finetune", "lora", "epar", *ABLATIONS}


def test_settings_are_typed_defaulted_and_shared_by_the_ablations():
    where = lambda *key: "s.yaml:" + ".".join(key)  # noqa: E731
    assert parse_method_settings(["finetune"], None, where) == {}  # nothing to fill for plain fine-tuning
    parsed = parse_method_settings(["finetune", "epar-no-pull"], None, where)
    assert parsed == {"epar": EparSettings()}  # defaults for a method in use
    parsed = parse_method_settings(["finetune", *ABLATIONS], {"epar": {"w_pull": 2}}, where)
    assert settings_for("finetune", parsed) is None
    assert all(settings_for(m, parsed) == EparSettings(w_pull=2.0) for m in ABLATIONS)
    assert all(REGISTRY[m].settings_type is EparSettings and REGISTRY[m].settings_key == "epar" for m in ABLATIONS)
    with pytest.raises(ConfigError, match=r"^s\.yaml:epar\.gold_weight: method_settings\.epar\.gold_weight must be"):
        parse_method_settings(["epar"], {"epar": {"gold_weight": 2}}, where)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed["epar"].w_pull = 3.0


def test_study_file_errors_name_the_line(tmp_path):
    text = ("name: s\nmodels: [m]\ntasks: [sib200]\nmethods: [finetune, epar]\n"
            "method_settings:\n  epar:\n    w_pull: 2\n    gold_weight: 3\n")
    import yaml

    with pytest.raises(ConfigError, match=r"s\.yaml:8: .*gold_weight must be between 0 and 1"):
        parse_study(yaml.safe_load(text), "s.yaml", text)
    with pytest.raises(ConfigError, match=r"unknown method 'epar2'.*epar-random-push"):
        parse_study({"name": "s", "models": ["m"], "tasks": ["sib200"], "methods": ["epar2"]})


# --- the loss on tiny models of each task type --------------------------------------------------


def _spec(kind, labels=(), metrics=("accuracy",)):
    return TaskSpec(name="t", type=kind, description="", languages=("en",), source_language="en",
                    metrics=metrics, main_metric=metrics[0], version="1", labels=labels)


def _examples(kind):
    if kind is TaskType.CLASSIFICATION:
        return ("pos", "neg"), [Example("The teacher loves a red apple.", "pos"), Example("My brother sees the letter.", "neg"),
                                Example("A child reads a book.", "pos"), Example("The doctor buys fresh bread.", "neg")]
    if kind is TaskType.MULTIPLE_CHOICE:
        return (), [ChoiceExample("The teacher reads.", ("a book", "the house"), 0, "effect"),
                    ChoiceExample("My brother buys.", ("fresh bread", "a letter"), 1, "cause")]
    if kind is TaskType.TAGGING:
        return ("O", "B-PER"), [TaggingExample(("the", "teacher", "reads", "a", "book"), ("O", "B-PER", "O", "O", "O")),
                                TaggingExample(("my", "brother", "sees"), ("O", "B-PER", "O"))]
    ctx = "The teacher reads a book in the old house."
    return (), [QAExample("q1", "Who reads?", ctx, (Answer("The teacher", 0),)),
                QAExample("q2", "Where?", ctx, (Answer("the old house", ctx.index("the old house")),))]


def _setup(tiny_model, kind, **kw):
    labels, exs = _examples(kind)
    metrics = {TaskType.TAGGING: ("f1",), TaskType.QA: ("squad_f1",)}.get(kind, ("accuracy",))
    kind = kind_for(_spec(kind, labels, metrics))
    tok = AutoTokenizer.from_pretrained(tiny_model)
    torch.manual_seed(0)
    model = kind.build(AutoModel.from_pretrained(tiny_model, **kw), len(labels), "mean", 0.0)
    enc = kind.encode(exs, tok, {l: i for i, l in enumerate(labels)}, 48)
    return kind, model, enc, collate(enc, list(range(len(exs))), tok.pad_token_id), tok


KINDS = [TaskType.CLASSIFICATION, TaskType.MULTIPLE_CHOICE, TaskType.TAGGING, TaskType.QA]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_epar_task_term_is_the_task_loss_and_the_total_decreases(tiny_xlmr, kind):
    kind, model, enc, batch, tok = _setup(tiny_xlmr, kind)
    loss = make_loss("epar", kind, model, enc, EparSettings(), tok.all_special_ids)
    model.eval()  # no dropout: the task term must equal the task type's own loss
    with torch.no_grad():
        total = loss(model, batch)
        assert float(loss.last["task"]) == pytest.approx(float(kind.loss(model, batch)), rel=1e-5)
    assert float(loss.last["virtual"]) > 0 and float(loss.last["pull"]) > 0
    assert float(total) == pytest.approx(float(loss.last["task"] + loss.last["virtual"] + loss.last["pull"]), rel=1e-5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(8):
        value = loss(model, batch)
        opt.zero_grad()
        value.backward()
        opt.step()
        history.append(float(value.detach()))
    assert history[-1] < history[0] * 0.9


def test_virtual_pass_without_push_or_noise_has_zero_pull(tiny_bert):
    kind, model, enc, batch, tok = _setup(tiny_bert, TaskType.CLASSIFICATION)
    still = EparSettings(push_norm=0.0, noise_norm=0.0, pull_on="both")
    loss = epar.EparLoss(kind, model, enc, still, special_ids=tok.all_special_ids)
    model.eval()
    with torch.no_grad():
        loss(model, batch)
    assert float(loss.last["pull"]) == pytest.approx(0.0, abs=1e-7)
    with torch.no_grad():  # same logits: the virtual term is 0.7 * CE(gold) + 0.3 * entropy(prediction)
        p = model(**{k: v for k, v in batch.items() if k != "labels"}).softmax(-1)
    expected = 0.7 * loss.last["task"] - 0.3 * (p * p.log()).sum(-1).mean()
    assert float(loss.last["virtual"]) == pytest.approx(float(expected), rel=1e-5)
    pushed = epar.EparLoss(kind, model, enc, dataclasses.replace(still, push_norm=0.5), special_ids=tok.all_special_ids)
    with torch.no_grad():
        pushed(model, batch)
    assert float(pushed.last["pull"]) > 1e-4
    # special tokens and padding are never pushed
    emb = model.encoder.get_input_embeddings()(batch["input_ids"])
    moved = (pushed.virtual_embeddings(model, batch) - emb).norm(dim=-1) > 0
    special = torch.isin(batch["input_ids"], torch.tensor(tok.all_special_ids))
    assert torch.equal(moved, batch["attention_mask"].bool() & ~special)


# what each method name must switch off, in EparLoss's terms
SWITCHES = {
    "epar": {"push": True, "pull": True, "robust": True, "direction": "centroid"},
    "epar-no-push": {"push": False, "pull": True, "robust": True, "direction": "centroid"},
    "epar-no-pull": {"push": True, "pull": False, "robust": True, "direction": "centroid"},
    "epar-no-robust": {"push": True, "pull": True, "robust": False, "direction": "centroid"},
    "epar-random-push": {"push": True, "pull": True, "robust": True, "direction": "random"},
}


def test_every_epar_name_builds_its_own_variant_through_make_loss(tiny_bert):
    kind, model, enc, batch, tok = _setup(tiny_bert, TaskType.CLASSIFICATION)
    model.eval()  # no dropout, and no noise below: the virtual input is exactly the push
    settings = EparSettings(push_norm=1.0, noise_norm=0.0, pull_on="both")
    with torch.no_grad():
        emb = model.encoder.get_input_embeddings()(batch["input_ids"])
    got = {}
    for name in SWITCHES:
        torch.manual_seed(0)  # the random direction is drawn when the loss is built
        loss = make_loss(name, kind, model, enc, settings, tok.all_special_ids)
        assert loss.variant == SWITCHES[name], name
        model.zero_grad()
        loss(model, batch).backward()
        grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        with torch.no_grad():
            push = loss.virtual_embeddings(model, batch) - emb
        got[name] = ({k: float(v) for k, v in loss.last.items()}, grad, push)
    (full, _, push), rows = got["epar"], batch["attention_mask"].bool()
    rows &= ~torch.isin(batch["input_ids"], torch.tensor(tok.all_special_ids))
    assert full["pull"] > 1e-4 and float(push[rows].norm(dim=-1).min()) > 0
    # no push: the virtual input is the original one, so there is nothing to pull back
    terms, _, moved = got["epar-no-push"]
    assert float(moved.abs().max()) == 0.0 and terms["pull"] == pytest.approx(0.0, abs=1e-7)
    # random push: the same length at every token, orthogonal to EPAR's direction
    _, _, rand = got["epar-random-push"]
    assert torch.allclose(rand[rows].norm(dim=-1), push[rows].norm(dim=-1), rtol=1e-4)
    assert float((rand[rows] * push[rows]).sum(-1).abs().max()) < 1e-4 * float(push[rows].norm(dim=-1).max()) ** 2
    # no pull: same task and virtual terms as EPAR, no pull in the total
    terms = got["epar-no-pull"][0]
    assert terms["virtual"] == pytest.approx(full["virtual"], rel=1e-6) and terms["pull"] == 0.0
    assert terms["total"] == pytest.approx(terms["task"] + terms["virtual"], rel=1e-6)
    # no robust targets: same virtual input (same pull), but the virtual term is CE against the gold label
    terms = got["epar-no-robust"][0]
    assert terms["pull"] == pytest.approx(full["pull"], rel=1e-6)
    assert abs(terms["virtual"] - full["virtual"]) > 1e-4
    # and every variant trains the model differently
    names = list(SWITCHES)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not torch.allclose(got[a][1], got[b][1], rtol=1e-4, atol=1e-7), (a, b)


def test_recomputed_attention_matches_the_models_own_probabilities(tiny_model):
    kind, model, enc, batch, tok = _setup(tiny_model, TaskType.CLASSIFICATION, attn_implementation="eager")
    model.eval()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad(), epar.capture(model, attention=True, hidden=True) as got:
        out = model.encoder(**inputs, output_attentions=True)
    assert len(got["qk"]) == len(out.attentions) == 2 and len(got["hidden"]) == 3
    mask = batch["attention_mask"].bool()
    for (q, k, h, s), ref in zip(got["qk"], out.attentions):
        mine = epar.attention_logprobs(q, k, batch["attention_mask"], h, s).exp()
        assert torch.allclose(mine[mask[:, None, :, None].expand_as(mine)],
                              ref[mask[:, None, :, None].expand_as(ref)], atol=1e-5)


def test_attention_pull_needs_bert_style_attention():
    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Linear(2, 2)

    with pytest.raises(XltError, match="pull_on: hidden"):
        with epar.capture(Plain(), attention=True, hidden=False):
            pass


def test_unsupported_task_type_is_refused():
    spec = _spec(TaskType.RETRIEVAL, metrics=("map@20",))
    with pytest.raises(XltError, match="EPAR does not support RetrievalKind tasks"):
        make_loss("epar", kind_for(spec), None, None, EparSettings())


# --- tiny studies -------------------------------------------------------------------------------

TRAIN = {"max_steps": 4, "batch_size": 8, "lr": 5e-3, "head_lr": 5e-2, "pooling": "mean", "max_length": 32}
RUNTIME = {"progress": False, "device": "cpu", "threads": 1}


def test_study_runs_finetune_epar_and_every_ablation(tiny_bert, tmp_path):
    data = write_tiny_sib200(tmp_path / "sib")
    methods = ["finetune", "epar", *ABLATIONS]
    store = Store(str(tmp_path / "r.sqlite"))
    study = parse_study({"name": "ep", "models": [str(tiny_bert)], "seeds": [1], "methods": methods,
                         "tasks": [{"name": "sib200", "data_dir": str(data), "languages": "available"}],
                         "train": TRAIN, "runtime": RUNTIME,
                         "method_settings": {"epar": {"push_norm": 0.3, "w_pull": 0.5}}})
    assert Runner(study, store, progress=False).run() == {"runs": 6, "skipped": 0, "ran": 6}
    runs = store.runs(study="ep")
    assert sorted(r["method"] for r in runs) == sorted(methods) and all(r["status"] == "done" for r in runs)
    recorded = {r["method"]: json.dumps(r["config"]["run"]) for r in runs}  # what the run id hashes
    assert all('"push_norm": 0.3' in recorded[m] for m in methods if m != "finetune")
    assert "push_norm" not in recorded["finetune"]  # EPAR's settings are not part of the plain run's identity
    accuracy = {}
    for r in store.score_rows(study="ep"):
        accuracy.setdefault(r["method"], {})[r["language"]] = r["value"]
    assert set(accuracy) == set(methods)
    assert all(set(v) == {"eng_Latn", "fra_Latn", "rus_Cyrl"} for v in accuracy.values())
    assert len({r["run_id"] for r in runs}) == 6  # the method is part of the run id


def test_epar_study_on_extractive_qa(tiny_xlmr, tmp_path):
    from tests.study.test_task_types_end_to_end import _qa_file

    data = tmp_path / "xquad"
    for name, word, n in [("train-v1.1", "indeed", 8), ("dev-v1.1", "indeed", 4), ("xquad.en", "indeed", 6),
                          ("xquad.de", "wirklich", 6)]:
        _qa_file(data / f"{name}.json", word, n)
    store = Store(str(tmp_path / "r.sqlite"))
    study = parse_study({"name": "qa", "models": [str(tiny_xlmr)], "seeds": [1], "methods": ["epar"],
                         "tasks": [{"name": "xquad", "data_dir": str(data), "languages": ["de"]}],
                         "train": dict(TRAIN, max_length=48), "runtime": RUNTIME,
                         "method_settings": {"epar": {"pull_on": "hidden"}}})
    Runner(study, store, progress=False).run()
    got = {(r["language"], r["metric"]) for r in store.score_rows(study="qa")}
    assert got == {(l, m) for l in ("en", "de") for m in ("squad_f1", "squad_em")}


@shared_files("masakhaner/data/conll_2003_en/train.txt", "masakhaner/data/yor/test.txt")
def test_epar_study_on_ner_tagging(tiny_xlmr, tmp_path):
    store = Store(str(tmp_path / "r.sqlite"))
    study = parse_study({"name": "ner", "models": [str(tiny_xlmr)], "seeds": [1], "methods": ["epar"],
                         "tasks": [{"name": "masakhaner", "data_dir": str(SHARED_DATA / "masakhaner"),
                                    "languages": ["yor"]}],
                         "train": dict(TRAIN, max_length=64, max_train_examples=32), "runtime": RUNTIME})
    Runner(study, store, progress=False).run()
    [run] = store.runs(study="ner")
    assert run["status"] == "done" and run["method"] == "epar"
    f1 = [r for r in store.score_rows(study="ner") if r["metric"] == "f1" and r["language"] == "yor"]
    assert len(f1) == 1 and 0.0 <= f1[0]["value"] <= 1.0
