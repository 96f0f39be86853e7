"""Tiny, offline Hugging Face models for the test-suite.

Two builders write a complete model directory (``config.json``, weights,
``tokenizer.json``, ``tokenizer_config.json``, ...) that
``AutoModel.from_pretrained(dest)`` / ``AutoTokenizer.from_pretrained(dest)``
load without network access:

* :func:`build_tiny_bert` -- mBERT-like: cased WordPiece, ``[CLS] A [SEP] B [SEP]``.
* :func:`build_tiny_xlmr` -- XLM-R-like: SentencePiece-style Unigram,
  ``<s> A </s></s> B </s>``, position ids offset by ``padding_idx + 1``.

Both share the same shape (hidden size 32, 2 layers, 2 heads) and a random
initialisation seeded with ``torch.manual_seed`` inside a forked RNG, so the
weights are reproducible and the caller's global RNG state is left alone.
The ``tokenizers`` trainers are not reproducible on their own
(huggingface/tokenizers#1794); ``_train_wordpiece`` / ``_train_unigram`` work
around that, so a build's files are byte-identical from run to run.

The tokenizers are trained on :func:`default_corpus` (or any corpus you pass),
which covers Latin-with-diacritics, Cyrillic, Greek, Arabic, CJK and
Devanagari.  Scripts outside the corpus (e.g. Georgian, Thai -- see
:data:`UNSEEN_SCRIPT_TEXT`) tokenise to the unknown token.

The tokenizers are saved as the generic ``PreTrainedTokenizerFast`` so that
``tokenizer.json`` is the single source of truth: with transformers 5 the
model-specific classes (``BertTokenizer``, ``XLMRobertaTokenizer``) rebuild
their normaliser/pre-tokeniser from constructor defaults on load, which would
silently drop e.g. the NFKC normaliser of the XLM-R-style tokenizer.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertModel,
    PreTrainedTokenizerFast,
    XLMRobertaConfig,
    XLMRobertaModel,
)

__all__ = [
    "BERT_SPECIAL_TOKENS",
    "HIDDEN_SIZE",
    "MAX_LENGTH",
    "SEED",
    "UNSEEN_SCRIPT_TEXT",
    "XLMR_SPECIAL_TOKENS",
    "build_tiny_bert",
    "build_tiny_xlmr",
    "default_corpus",
]

SEED = 1234
MAX_LENGTH = 128
HIDDEN_SIZE = 32
BERT_VOCAB_SIZE = 800
XLMR_VOCAB_SIZE = 800

# Order fixes the ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.
BERT_SPECIAL_TOKENS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
# <s>=0 <pad>=1 </s>=2 <unk>=3 (trained into the model vocab); <mask> is appended last.
XLMR_SPECIAL_TOKENS = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}

# Scripts that default_corpus() never uses: Georgian and Thai.
UNSEEN_SCRIPT_TEXT = "გამარჯობა สวัสดี"

_COMMON_MODEL_KWARGS = dict(
    hidden_size=HIDDEN_SIZE,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
)

# ---------------------------------------------------------------------------
# corpus
# ---------------------------------------------------------------------------

# Small per-language word lists: (subjects, verbs, objects, joiner).  ``joiner``
# is the word separator ("" for CJK, which is written without spaces).
_LEXICON: dict[str, tuple[list[str], list[str], list[str], str]] = {
    "en": (
        ["the teacher", "my brother", "a child", "the doctor", "our neighbour"],
        ["reads", "writes", "buys", "sees", "loves"],
        ["a book", "the letter", "fresh bread", "the old house", "a red apple"],
        " ",
    ),
    "fr": (
        ["le garçon", "la fillette", "mon élève", "notre façade", "le maître"],
        ["achète", "préfère", "écrit", "connaît", "reçoit"],
        ["un gâteau", "la lettre", "des pâtes", "le théâtre", "une forêt"],
        " ",
    ),
    "de": (
        ["der Bäcker", "die Schülerin", "mein Großvater", "das Mädchen", "ein Fußgänger"],
        ["kauft", "öffnet", "grüßt", "hört", "wählt"],
        ["das Brötchen", "die Tür", "den Schlüssel", "eine Blume", "die Straße"],
        " ",
    ),
    "es": (
        ["el niño", "la señora", "mi compañero", "el pingüino", "nuestra canción"],
        ["come", "añade", "busca", "mira", "lleva"],
        ["una manzana", "el jamón", "la montaña", "un corazón", "el café"],
        " ",
    ),
    "tr": (
        ["öğretmen", "küçük kız", "şoför", "ağabeyim", "güzel çocuk"],
        ["okuyor", "görüyor", "alıyor", "seviyor", "yazıyor"],
        ["kitabı", "mektubu", "çiçeği", "ekmeği", "şarkıyı"],
        " ",
    ),
    "ru": (
        ["учитель", "мой брат", "девочка", "старый врач", "наш сосед"],
        ["читает", "пишет", "покупает", "видит", "любит"],
        ["книгу", "письмо", "свежий хлеб", "старый дом", "красное яблоко"],
        " ",
    ),
    "el": (
        ["ο δάσκαλος", "η μητέρα", "το παιδί", "ο γιατρός", "η γειτόνισσα"],
        ["διαβάζει", "γράφει", "αγοράζει", "βλέπει", "αγαπά"],
        ["ένα βιβλίο", "το γράμμα", "φρέσκο ψωμί", "το σπίτι", "ένα μήλο"],
        " ",
    ),
    "ar": (
        ["المعلم", "أخي", "الطفل", "الطبيب", "جارنا"],
        ["يقرأ", "يكتب", "يشتري", "يرى", "يحب"],
        ["كتابا", "الرسالة", "خبزا طازجا", "البيت القديم", "تفاحة حمراء"],
        " ",
    ),
    "zh": (
        ["老师", "我的哥哥", "孩子", "医生", "我们的邻居"],
        ["读", "写", "买", "看见", "喜欢"],
        ["一本书", "这封信", "新鲜的面包", "老房子", "红苹果"],
        "",
    ),
    "ja": (
        ["先生は", "兄は", "子供は", "医者は", "隣人は"],
        ["読みます", "書きます", "買います", "見ます", "好きです"],
        ["本を", "手紙を", "パンを", "古い家を", "りんごを"],
        "",
    ),
    "hi": (
        ["शिक्षक", "मेरा भाई", "बच्चा", "डॉक्टर", "हमारा पड़ोसी"],
        ["पढ़ता है", "लिखता है", "खरीदता है", "देखता है", "पसंद करता है"],
        ["किताब", "पत्र", "ताज़ी रोटी", "पुराना घर", "लाल सेब"],
        " ",
    ),
}

_PUNCT = [".", "!", "?", "。", "؟", "।"]


def default_corpus(n_per_language: int = 30, seed: int = SEED) -> list[str]:
    """A few hundred short multilingual sentences, generated deterministically.

    Every (subject, verb, object) word of every language in the lexicon is
    guaranteed to appear at least once, so the trained tokenizers cover all of
    the characters of Latin (with diacritics), Cyrillic, Greek, Arabic, CJK
    (Han + kana) and Devanagari used here.  Some sentences carry a number so
    digits are covered too.
    """
    rng = random.Random(seed)
    sentences: list[str] = []
    for lang in sorted(_LEXICON):
        subjects, verbs, objects, joiner = _LEXICON[lang]
        if lang in ("zh", "ja"):
            end = "。"
        elif lang == "ar":
            end = "."
        elif lang == "hi":
            end = "।"
        else:
            end = "."
        # Word order: SVO for most, SOV for ja/hi/tr.
        sov = lang in ("ja", "hi", "tr")
        for i in range(n_per_language):
            # Cycle deterministically first so every word is used, then sample.
            if i < max(len(subjects), len(verbs), len(objects)):
                s, v, o = subjects[i % len(subjects)], verbs[i % len(verbs)], objects[i % len(objects)]
            else:
                s, v, o = rng.choice(subjects), rng.choice(verbs), rng.choice(objects)
            words = [s, o, v] if sov else [s, v, o]
            sentence = joiner.join(words)
            if rng.random() < 0.2:
                sentence = f"{sentence}{joiner}{rng.randint(0, 2024)}"
            sentence += end if rng.random() < 0.8 else rng.choice(_PUNCT)
            if joiner == " ":
                sentence = sentence[0].upper() + sentence[1:]
            sentences.append(sentence)
    return sentences


# ---------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------


def _words(tok: Tokenizer, corpus: list[str]) -> Counter[str]:
    """Pre-tokenised word counts, exactly as ``tok``'s normaliser + pre-tokeniser see them."""
    counts: Counter[str] = Counter()
    for text in corpus:
        normalized = tok.normalizer.normalize_str(text)
        counts.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(normalized))
    return counts


def _train_wordpiece(tok: Tokenizer, corpus: list[str], vocab_size: int, specials: list[str]) -> dict[str, int]:
    """Train a WordPiece vocabulary with ``tokenizers``' WordPieceTrainer, deterministically.

    The trainer is otherwise not reproducible (huggingface/tokenizers#1794): it
    assigns ids to the ``##x`` continuation tokens in hash-map order and those
    ids break ties between equally frequent merges.  Registering every
    ``##x`` up front (as extra "special" tokens, in sorted order) fixes their
    ids and hence the merges.  The caller rebuilds the model from the returned
    vocabulary so those helper tokens end up as ordinary vocabulary entries.
    """
    continuations = sorted({ch for word in _words(tok, corpus) for ch in word[1:]})
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=specials + [f"##{ch}" for ch in continuations],
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return tok.get_vocab(with_added_tokens=False)


def _viterbi(word: str, scores: dict[str, float], max_len: int) -> list[str]:
    """Best segmentation of ``word`` into pieces of ``scores`` (ties: earliest/longest found first)."""
    best = [0.0] + [-math.inf] * len(word)
    back = [0] * (len(word) + 1)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - max_len), end):
            score = scores.get(word[start:end])
            if score is not None and best[start] + score > best[end]:
                best[end], back[end] = best[start] + score, start
    pieces, end = [], len(word)
    while end > 0:
        pieces.append(word[back[end]:end])
        end = back[end]
    return pieces[::-1]


def _train_unigram(tok: Tokenizer, corpus: list[str], vocab_size: int, specials: list[str], unk: str):
    """Train a Unigram vocabulary with ``tokenizers``' UnigramTrainer, deterministically.

    The trainer picks a stable set of pieces but their log-probabilities vary
    from run to run (hash-map ordered float sums).  We keep the trained piece
    set and re-estimate the scores with a few rounds of deterministic hard EM
    (Viterbi counts) in Python, then order pieces by score as SentencePiece
    does.  Returns ``[(piece, score), ...]`` with ``specials`` first.
    """
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        unk_token=unk,
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    pieces = sorted(set(tok.get_vocab(with_added_tokens=False)) - set(specials))
    max_len = max(map(len, pieces))
    words = _words(tok, corpus)

    # Initialise with substring frequencies, then re-estimate from Viterbi counts.
    piece_set = set(pieces)
    counts: Counter[str] = Counter()
    for word, freq in words.items():
        for i in range(len(word)):
            for j in range(i + 1, min(len(word), i + max_len) + 1):
                if word[i:j] in piece_set:
                    counts[word[i:j]] += freq
    for _ in range(3):
        total = sum(counts[p] + 0.5 for p in pieces)
        scores = {p: math.log((counts[p] + 0.5) / total) for p in pieces}
        counts = Counter()
        for word in sorted(words):
            for piece in _viterbi(word, scores, max_len):
                counts[piece] += words[word]
    scores = {p: round(s, 6) for p, s in scores.items()}
    ordered = sorted(pieces, key=lambda p: (-scores[p], p))
    return [(s, 0.0) for s in specials] + [(p, scores[p]) for p in ordered]


def _init_model(model_cls, config, seed: int):
    """Random-init ``model_cls(config)`` deterministically without touching the global RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = model_cls(config)
    model.eval()
    return model


def _save(hf_tok: PreTrainedTokenizerFast, model, dest: Path) -> None:
    hf_tok.save_pretrained(dest)
    model.save_pretrained(dest)
    # transformers 5 records the generic fast class as "TokenizersBackend", a
    # name transformers 4 cannot resolve; "PreTrainedTokenizerFast" is resolved
    # by both and loads tokenizer.json verbatim.
    cfg_path = dest / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def build_tiny_bert(
    dest: Path,
    corpus: list[str] | None = None,
    *,
    vocab_size: int = BERT_VOCAB_SIZE,
    seed: int = SEED,
) -> Path:
    """Build a tiny cased mBERT-like model + WordPiece tokenizer in ``dest``.

    Returns ``dest`` (created if needed).  ``corpus`` defaults to
    :func:`default_corpus`.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    corpus = default_corpus() if corpus is None else list(corpus)
    sp = BERT_SPECIAL_TOKENS
    specials = [sp["pad"], sp["unk"], sp["cls"], sp["sep"], sp["mask"]]  # ids 0..4

    def new_tokenizer(model) -> Tokenizer:
        tok = Tokenizer(model)
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        return tok

    vocab = _train_wordpiece(
        new_tokenizer(models.WordPiece(unk_token=sp["unk"], continuing_subword_prefix="##")),
        corpus,
        vocab_size,
        specials,
    )
    tok = new_tokenizer(models.WordPiece(vocab, unk_token=sp["unk"], continuing_subword_prefix="##"))
    tok.add_special_tokens(specials)
    cls_id, sep_id = tok.token_to_id(sp["cls"]), tok.token_to_id(sp["sep"])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{sp['cls']}:0 $A:0 {sp['sep']}:0",
        pair=f"{sp['cls']}:0 $A:0 {sp['sep']}:0 $B:1 {sp['sep']}:1",
        special_tokens=[(sp["cls"], cls_id), (sp["sep"], sep_id)],
    )

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=sp["unk"],
        pad_token=sp["pad"],
        cls_token=sp["cls"],
        sep_token=sp["sep"],
        mask_token=sp["mask"],
        model_max_length=MAX_LENGTH,
        padding_side="right",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )

    config = BertConfig(
        vocab_size=len(hf_tok),
        max_position_embeddings=MAX_LENGTH,
        type_vocab_size=2,
        pad_token_id=hf_tok.pad_token_id,
        **_COMMON_MODEL_KWARGS,
    )
    model = _init_model(BertModel, config, seed)

    _save(hf_tok, model, dest)
    return dest


def build_tiny_xlmr(
    dest: Path,
    corpus: list[str] | None = None,
    *,
    vocab_size: int = XLMR_VOCAB_SIZE,
    seed: int = SEED,
) -> Path:
    """Build a tiny XLM-R-like model + SentencePiece-style Unigram tokenizer in ``dest``.

    Returns ``dest`` (created if needed).  ``corpus`` defaults to
    :func:`default_corpus`.  ``vocab_size`` is an upper bound: on a small
    corpus the Unigram trainer may stop earlier.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    corpus = default_corpus() if corpus is None else list(corpus)
    sp = XLMR_SPECIAL_TOKENS
    specials = [sp["bos"], sp["pad"], sp["eos"], sp["unk"]]  # ids 0..3

    def new_tokenizer(model) -> Tokenizer:
        tok = Tokenizer(model)
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        return tok

    # vocab_size - 1: <mask> is appended after training.
    vocab = _train_unigram(new_tokenizer(models.Unigram()), corpus, vocab_size - 1, specials, sp["unk"])
    tok = new_tokenizer(models.Unigram(vocab, unk_id=specials.index(sp["unk"]), byte_fallback=False))
    tok.add_special_tokens(specials)
    # XLM-R puts <mask> at the very end of the vocabulary (and lets it absorb the
    # space before it, as the real tokenizer does).
    tok.add_special_tokens([AddedToken(sp["mask"], lstrip=True, special=True, normalized=False)])
    bos_id, eos_id = tok.token_to_id(sp["bos"]), tok.token_to_id(sp["eos"])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{sp['bos']} $A {sp['eos']}",
        pair=f"{sp['bos']} $A {sp['eos']} {sp['eos']} $B {sp['eos']}",
        special_tokens=[(sp["bos"], bos_id), (sp["eos"], eos_id)],
    )

    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=sp["bos"],
        eos_token=sp["eos"],
        cls_token=sp["bos"],
        sep_token=sp["eos"],
        unk_token=sp["unk"],
        pad_token=sp["pad"],
        mask_token=sp["mask"],
        model_max_length=MAX_LENGTH,
        padding_side="right",
        # XLM-R has a single token type: do not emit token_type_ids.
        model_input_names=["input_ids", "attention_mask"],
    )

    config = XLMRobertaConfig(
        vocab_size=len(hf_tok),
        # Position ids start at padding_idx + 1 = 2, hence max_len + 2.
        max_position_embeddings=MAX_LENGTH + 2,
        type_vocab_size=1,
        pad_token_id=hf_tok.pad_token_id,
        bos_token_id=hf_tok.bos_token_id,
        eos_token_id=hf_tok.eos_token_id,
        **_COMMON_MODEL_KWARGS,
    )
    model = _init_model(XLMRobertaModel, config, seed)

    _save(hf_tok, model, dest)
    return dest


def tiny_classifier_and_rows(path, n: int):
    """A mean-pooled 3-class classifier on the tiny encoder at `path` (head seeded with 0) and `n` rows of
    3-8 random token ids with random labels: what loop-level tests train on."""
    import numpy as np
    import torch
    from transformers import AutoModel

    from xlt.models.heads import SequenceClassifier
    from xlt.training.batching import Encoded

    torch.manual_seed(0)
    model = SequenceClassifier(AutoModel.from_pretrained(path), 3, "mean")
    rng = np.random.default_rng(0)
    rows = Encoded([rng.integers(5, 90, rng.integers(3, 9)).tolist() for _ in range(n)], None, rng.integers(0, 3, n))
    return model, rows
