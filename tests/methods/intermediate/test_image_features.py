"""Image features of an intermediate stage: computed once per (vision encoder, image set), then reused."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from tests.methods.intermediate.test_stage import TRAIN, _condition, snli_ve_dir, tiny, vision_dir  # noqa: F401
from xlt.methods.intermediate import checkpoint, vision
from xlt.methods.intermediate.stage import image_table
from xlt.training.settings import Runtime

CPU = torch.device("cpu")


@pytest.fixture
def calls(monkeypatch, tmp_path):
    """Every real encode_images call; a fresh process memory and a private cache folder."""
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(vision, "_MEMORY", {})
    made = []
    real = vision.encode_images
    monkeypatch.setattr(vision, "encode_images", lambda *a, **k: made.append(a[2]) or real(*a, **k))
    return made


def _cond(snli, vision_path, kind="multimodal", tokens="pooled", **more):
    return _condition({"condition": f"{kind}:snli-ve", "data_dir": str(snli), "images": str(snli / "images"),
                       "vision_model": str(vision_path), "image_tokens": tokens, **more})


def test_every_condition_and_seed_reuses_one_computation(tiny, vision_dir, snli_ve_dir, calls, tmp_path):
    ref, tok = tiny
    for kind in ("multimodal", "multimodal-shuffled"):
        for seed in (1, 2):
            cond = _cond(snli_ve_dir, vision_dir, kind)  # stage_seed: paired
            checkpoint.load_encoder(cond, ref, tok, TRAIN, seed, tmp_path / "ckpt", Runtime(progress=False))
    assert len(list((tmp_path / "ckpt" / "intermediate").glob("*/meta.json"))) == 4  # four stages trained
    assert len(calls) == 1  # and one pass of the vision encoder


def test_a_later_process_reads_the_disk_and_images_are_in_the_key(vision_dir, snli_ve_dir, calls, tmp_path):
    from xlt.methods.intermediate.data import MULTIMODAL_TASKS

    cond = _cond(snli_ve_dir, vision_dir)
    task = MULTIMODAL_TASKS["snli-ve"](cond.data)
    ids = ["1000", "1001", "1005"]
    first = image_table(task, cond, ids, CPU, False)
    vision._MEMORY.clear()  # as in a new process
    again = image_table(task, cond, ids, CPU, False)
    assert len(calls) == 1 and np.array_equal(first, again) and not again.flags.writeable
    assert np.array_equal(first, vision.encode_images(str(vision_dir), snli_ve_dir / "images", ids, "pooled", CPU,
                                                      progress=False))
    calls.clear()
    image_table(task, cond, ids[:2], CPU, False)  # another image set
    image_table(task, _cond(snli_ve_dir, vision_dir, tokens="patches"), ids, CPU, False)  # other tokens
    assert len(calls) == 2


def test_an_edited_image_or_a_damaged_entry_is_computed_again(vision_dir, snli_ve_dir, calls, tmp_path, caplog):
    import shutil

    from xlt.methods.intermediate.data import MULTIMODAL_TASKS

    snli = tmp_path / "snli"
    shutil.copytree(snli_ve_dir, snli)
    cond = _cond(snli, vision_dir)
    task = MULTIMODAL_TASKS["snli-ve"](cond.data)
    ids = ["1000", "1001"]
    before = image_table(task, cond, ids, CPU, False)
    shutil.copy(snli / "images" / "1003.png", snli / "images" / "1001.png")  # same name, other pixels
    after = image_table(task, cond, ids, CPU, False)
    assert len(calls) == 2 and not np.allclose(before[1], after[1])
    vision._MEMORY.clear()
    (entry,) = [p for p in (tmp_path / "cache" / "image-features").glob("*.npy")
                if np.load(p).shape == after.shape and np.array_equal(np.load(p), after)]
    entry.write_bytes(entry.read_bytes()[:64])
    with caplog.at_level(logging.WARNING, logger="xlt"):
        again = image_table(task, cond, ids, CPU, False)
    assert "unusable" in caplog.text and len(calls) == 3 and np.array_equal(again, after)
