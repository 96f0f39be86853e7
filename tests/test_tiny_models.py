"""The tiny offline models load, tokenise and run like their full-size counterparts."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertModel, XLMRobertaModel

from tests.tiny_models import (
    HIDDEN_SIZE,
    MAX_LENGTH,
    UNSEEN_SCRIPT_TEXT,
    build_tiny_bert,
    build_tiny_xlmr,
    default_corpus,
)

PAIR = ("Le garçon achète un gâteau.", "Мой брат читает книгу.")


def _arch(model_dir: Path) -> str:
    return json.loads((model_dir / "config.json").read_text())["model_type"]


@pytest.fixture
def tok(tiny_model: Path):
    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture
def model(tiny_model: Path):
    return AutoModel.from_pretrained(tiny_model)


# ---------------------------------------------------------------------------
# loading / config
# ---------------------------------------------------------------------------


def test_auto_classes_load_from_directory(tiny_model: Path, tok, model):
    arch = _arch(tiny_model)
    assert arch in ("bert", "xlm-roberta")
    expected_cls = BertModel if arch == "bert" else XLMRobertaModel
    assert type(model) is expected_cls
    assert not model.training  # from_pretrained returns an eval-mode model

    cfg = model.config
    assert cfg.hidden_size == HIDDEN_SIZE
    assert cfg.num_hidden_layers == 2 and cfg.num_attention_heads == 2 and cfg.intermediate_size == 64
    # every token id the tokenizer can produce has an embedding row, and vice versa
    assert len(tok) == cfg.vocab_size == model.get_input_embeddings().num_embeddings
    assert 500 <= cfg.vocab_size <= 1000
    assert tok.pad_token_id == cfg.pad_token_id


def test_model_max_length_and_positions(tiny_model: Path, tok):
    cfg = AutoConfig.from_pretrained(tiny_model)
    assert tok.model_max_length == MAX_LENGTH == 128
    if _arch(tiny_model) == "bert":
        assert cfg.max_position_embeddings == MAX_LENGTH
        assert cfg.type_vocab_size == 2
    else:
        # XLM-R position ids start at padding_idx + 1
        assert cfg.pad_token_id == 1
        assert cfg.max_position_embeddings == MAX_LENGTH + cfg.pad_token_id + 1 == 130
        assert cfg.type_vocab_size == 1


def test_special_token_ids(tiny_model: Path, tok):
    if _arch(tiny_model) == "bert":
        expected = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
        assert (tok.cls_token, tok.sep_token, tok.pad_token, tok.unk_token, tok.mask_token) == (
            "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]",
        )
    else:
        expected = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": len(tok) - 1}
        assert (tok.cls_token, tok.sep_token, tok.pad_token, tok.unk_token, tok.mask_token) == (
            "<s>", "</s>", "<pad>", "<unk>", "<mask>",
        )
        assert (tok.bos_token, tok.eos_token) == ("<s>", "</s>")
    assert {t: tok.convert_tokens_to_ids(t) for t in expected} == expected


# ---------------------------------------------------------------------------
# tokenisation
# ---------------------------------------------------------------------------


def test_pair_special_token_layout(tiny_model: Path, tok):
    a, b = PAIR
    a_ids = tok(a, add_special_tokens=False)["input_ids"]
    b_ids = tok(b, add_special_tokens=False)["input_ids"]
    assert a_ids and b_ids
    enc = tok(a, b)
    ids = enc["input_ids"]
    n_a, n_b = len(a_ids), len(b_ids)

    if _arch(tiny_model) == "bert":
        cls, sep = tok.cls_token_id, tok.sep_token_id
        # [CLS] A [SEP] B [SEP]
        assert ids == [cls, *a_ids, sep, *b_ids, sep]
        assert [i for i, t in enumerate(ids) if t == sep] == [n_a + 1, n_a + n_b + 2]
        assert enc["token_type_ids"] == [0] * (n_a + 2) + [1] * (n_b + 1)
        assert tok(a)["input_ids"] == [cls, *a_ids, sep]
    else:
        bos, eos = tok.bos_token_id, tok.eos_token_id
        # <s> A </s></s> B </s>
        assert ids == [bos, *a_ids, eos, eos, *b_ids, eos]
        assert [i for i, t in enumerate(ids) if t == eos] == [n_a + 1, n_a + 2, n_a + n_b + 3]
        # single token type: the tokenizer must not emit (non-zero) token_type_ids
        assert "token_type_ids" not in enc
        assert tok(a)["input_ids"] == [bos, *a_ids, eos]
    assert enc["attention_mask"] == [1] * len(ids)
    assert tok.num_special_tokens_to_add(pair=True) == len(ids) - n_a - n_b


def test_corpus_characters_are_covered(tok, tiny_corpus):
    for sentence in tiny_corpus:
        ids = tok(sentence, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids, (sentence, tok.convert_ids_to_tokens(ids))


def test_unseen_script_tokenises_to_unk(tok):
    ids = tok(UNSEEN_SCRIPT_TEXT, add_special_tokens=False)["input_ids"]
    words = UNSEEN_SCRIPT_TEXT.split()
    content = [i for i in ids if tok.convert_ids_to_tokens(i) != "▁"]  # bare Metaspace marker
    # each unseen word collapses into exactly one unknown token
    assert content == [tok.unk_token_id] * len(words)

    # known words around an unseen one are still tokenised normally
    mixed = tok(f"Учитель {words[0]} книгу", add_special_tokens=False)["input_ids"]
    assert mixed.count(tok.unk_token_id) == 1
    assert len(mixed) > 2


def test_cased_bert_keeps_case_and_accents(tiny_bert: Path):
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    pieces = tok.tokenize("garçon")
    assert "".join(p.removeprefix("##") for p in pieces) == "garçon"  # accent kept
    assert pieces[1:] and all(p.startswith("##") for p in pieces[1:])  # WordPiece continuations
    assert tok.tokenize("Le") != tok.tokenize("le")
    # Chinese characters are split into single-character tokens, as in mBERT
    assert tok.tokenize("老师") == ["老", "师"]


def test_xlmr_nfkc_normalisation_survives_reload(tiny_xlmr: Path):
    tok = AutoTokenizer.from_pretrained(tiny_xlmr)
    fullwidth = "ｇａｒçｏｎ"  # full-width Latin letters; NFKC maps them to ASCII
    assert unicodedata.normalize("NFKC", fullwidth) == "garçon"
    assert tok(fullwidth)["input_ids"] == tok("garçon")["input_ids"]
    assert tok.decode(tok(PAIR[1])["input_ids"], skip_special_tokens=True) == PAIR[1]


# ---------------------------------------------------------------------------
# forward pass
# ---------------------------------------------------------------------------


def test_forward_padded_batch(tok, model):
    texts = ["Мой брат читает книгу.", "Le garçon achète un gâteau et la lettre, 2024!"]
    batch = tok(texts, padding=True, return_tensors="pt")
    lengths = batch["attention_mask"].sum(dim=1)
    assert lengths[0] < lengths[1]  # the first row really is padded
    seq_len = batch["input_ids"].shape[1]
    assert int(lengths[1]) == seq_len
    assert (batch["input_ids"][0, int(lengths[0]):] == tok.pad_token_id).all()

    with torch.no_grad():
        out = model(**batch)
    hidden = out.last_hidden_state
    assert hidden.shape == (2, seq_len, HIDDEN_SIZE)
    assert torch.isfinite(hidden).all()

    # the attention mask works: the padded row's real tokens match an unpadded run
    single = tok(texts[0], return_tensors="pt")
    with torch.no_grad():
        alone = model(**single).last_hidden_state
    n = int(lengths[0])
    assert alone.shape == (1, n, HIDDEN_SIZE)
    torch.testing.assert_close(hidden[0, :n], alone[0], atol=1e-5, rtol=1e-4)


def test_forward_at_model_max_length(tok, model):
    long_text = " ".join(default_corpus()[:60])
    enc = tok(long_text, truncation=True, return_tensors="pt")
    assert enc["input_ids"].shape == (1, MAX_LENGTH)  # truncated to model_max_length
    with torch.no_grad():
        out = model(**enc)  # all positions fit the position-embedding table
    assert out.last_hidden_state.shape == (1, MAX_LENGTH, HIDDEN_SIZE)


# ---------------------------------------------------------------------------
# builders / corpus
# ---------------------------------------------------------------------------


def test_default_corpus_covers_scripts():
    corpus = default_corpus()
    assert 200 <= len(corpus) <= 1000
    assert corpus == default_corpus()  # deterministic
    text = "".join(corpus)
    scripts = {
        "latin-accented": any(unicodedata.name(c, "").startswith("LATIN") and ord(c) > 0x7F for c in text),
        "cyrillic": any("\u0400" <= c <= "\u04ff" for c in text),
        "greek": any("\u0370" <= c <= "\u03ff" for c in text),
        "arabic": any("\u0600" <= c <= "\u06ff" for c in text),
        "cjk": any("\u4e00" <= c <= "\u9fff" for c in text),
        "devanagari": any("\u0900" <= c <= "\u097f" for c in text),
    }
    assert all(scripts.values()), scripts
    assert not set(UNSEEN_SCRIPT_TEXT.replace(" ", "")) & set(text)


@pytest.mark.parametrize("build", [build_tiny_bert, build_tiny_xlmr], ids=["bert", "xlmr"])
def test_build_is_deterministic_and_leaves_global_rng_alone(build, tmp_path: Path, tiny_corpus):
    torch.manual_seed(0)
    expected_next = torch.rand(3)
    torch.manual_seed(0)
    a = build(tmp_path / "a", tiny_corpus)
    torch.testing.assert_close(torch.rand(3), expected_next)  # builder forked the RNG
    b = build(tmp_path / "b", tiny_corpus)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
