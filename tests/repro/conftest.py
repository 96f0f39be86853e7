"""One tiny study for the reproduction tests: two tiny models x one tiny SIB-200 task x two seeds, run
once per session through the CLI with `runtime.save: best` (4 runs, 4 saved models)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from tests.sib_fixture import write_tiny_sib200

# 8 steps, dev every 2: the best dev checkpoint is often not the last one (what restoring is for)
TRAIN = {"max_steps": 8, "batch_size": 8, "lr": 5e-3, "head_lr": 5e-2, "pooling": "mean", "eval_every": 2,
         "max_length": 32, "precision": "fp32"}
RUNTIME = {"progress": False, "device": "cpu", "threads": 1}


def write_study(dest: Path, models: list, data: Path, name: str = "repro-tiny", seeds=(1, 2), **extra) -> Path:
    raw = {"name": name, "models": [str(m) for m in models], "db": str(dest / "r.sqlite"),
           "tasks": [{"name": "sib200", "data_dir": str(data), "languages": "available"}],
           "seeds": list(seeds), "train": TRAIN, "runtime": dict(RUNTIME), **extra}
    path = dest / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _restore_threads():
    n = torch.get_num_threads()  # runtime.threads is process-wide: give other tests theirs back
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory, tiny_bert, tiny_xlmr) -> dict:
    """{"path", "db", "data", "models", "tmp"}: the study file, its database and its data folder."""
    from xlt.cli.main import main

    n = torch.get_num_threads()
    tmp = tmp_path_factory.mktemp("repro")
    data = write_tiny_sib200(tmp / "sib", n=14)
    path = write_study(tmp, [tiny_bert, tiny_xlmr], data, runtime={**RUNTIME, "save": "best",
                                                                   "save_dir": str(tmp / "models")})
    assert main(["-q", "study", str(path)]) == 0
    torch.set_num_threads(n)
    return {"path": path, "db": str(tmp / "r.sqlite"), "data": data, "models": [str(tiny_bert), str(tiny_xlmr)],
            "tmp": tmp, "name": "repro-tiny"}
