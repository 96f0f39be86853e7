"""Model names: presets, local directories, typos, and the offline-hub error path."""

import os
import subprocess
import sys

import pytest

from xlt.errors import XltError
from xlt.models import registry


def test_presets_map_to_hub_ids():
    assert registry.resolve("mbert").location == "bert-base-multilingual-cased"
    assert registry.resolve("xlmr-base").location == "xlm-roberta-base"
    assert registry.resolve("xlmr-large").location == "xlm-roberta-large"
    assert registry.resolve("xlmr-base").pooling == "cls"


def test_typo_of_a_preset_suggests_the_preset():
    with pytest.raises(XltError, match="did you mean 'mbert'"):
        registry.resolve("mbrt")


def test_missing_local_directory_is_reported():
    with pytest.raises(XltError, match="does not exist"):
        registry.resolve("/no/such/model/dir")


def test_directory_without_config_is_reported(tmp_path):
    with pytest.raises(XltError, match="no config.json"):
        registry.resolve(str(tmp_path))


def test_local_directory_loads_with_content_revision(tiny_model):
    ref = registry.resolve(str(tiny_model))
    assert ref.location == str(tiny_model.resolve())
    assert ref.revision.startswith("local-") and len(ref.revision) == 22
    assert registry.resolve(str(tiny_model)).revision == ref.revision  # stable
    tok = registry.load_tokenizer(ref)
    enc = registry.load_encoder(ref)
    assert tok.is_fast and enc.config.hidden_size == 32
    assert not hasattr(enc, "pooler") or enc.pooler is None  # pooling is ours


def test_a_model_resaved_in_place_with_the_same_sizes_is_another_model(tiny_bert, tmp_path):
    """The revision of a local directory hashes the files' bytes, not their sizes."""
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(tiny_bert, copy)
    before = registry.resolve(str(copy)).revision
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # same size, one bit of one weight
    weights.write_bytes(bytes(data))
    assert registry.resolve(str(copy)).revision != before


_OFFLINE = """
import sys
from xlt.errors import XltError
from xlt.models import registry
from xlt.tasks import get_task
for load in (lambda: registry.load_tokenizer(registry.resolve("mbert")),
             lambda: get_task("sib200").load("test", "deu_Latn")):
    try:
        load()
    except XltError as exc:
        print("XLTERROR", exc)
"""


def test_unreachable_hub_gives_a_clear_local_directory_hint():
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", _OFFLINE], env=env, capture_output=True, text=True, timeout=120)
    lines = [l for l in out.stdout.splitlines() if l.startswith("XLTERROR")]
    assert len(lines) == 2, out.stdout + out.stderr
    assert "bert-base-multilingual-cased" in lines[0] and "local" in lines[0] and "DIR" in lines[0]
    assert "Davlan/sib200" in lines[1] and "data_dir" in lines[1]
