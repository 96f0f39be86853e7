"""`xlt study --dry-run` on a machine without the hub: the grid, its settings and its estimate are
listed (unreadable tasks and models say so); `xlt validate` and real runs stay strict."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from xlt.cli.main import main
from xlt.study import data as study_data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    study_data.hub_reachable.cache_clear()
    yield
    study_data.hub_reachable.cache_clear()


def test_hub_offline_is_answered_at_once(offline):
    t0 = time.perf_counter()
    assert study_data.hub_reachable() is False
    assert time.perf_counter() - t0 < 0.5


def test_mission_dry_run_lists_grid_settings_and_estimate_offline(offline, tmp_path, capsys):
    t0 = time.perf_counter()
    assert main(["-q", "study", str(ROOT / "examples" / "mission.yaml"), "--dry-run",
                 "--db", str(tmp_path / "r.sqlite")]) == 0
    seconds = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert seconds < 60, seconds  # strict validation would wait ~26 s for each of 8 hub tasks
    assert "600 runs: 0 done, 0 running, 0 failed, 600 todo" in out  # 3 models x 4 conditions x 10 tasks x 5
    assert "task xnli: not readable here (hub offline); 15 language(s) as declared: ar bg de" in out
    assert "task mewslix: not readable here (data_dir /data/mewsli-x is not on this machine)" in out
    assert "model xlmr-large: not readable here (hub offline)" in out
    assert "run ids of these are provisional" in out
    # resolved settings: XTREME's per-task values, large branch for XLM-R large
    rows = {" ".join(l.split()) for l in out.splitlines()}
    assert any(r.startswith("xlmr-large xnli epochs 5, batch_size 2, grad_accum 16, lr 3e-05, weight_decay 0, "
                            "warmup_ratio 0, eval_every 100, precision ") for r in rows)
    assert any(r.startswith("mbert, xlmr-base xnli epochs 5, batch_size 8, grad_accum 4, weight_decay 0,")
               for r in rows)
    lines = out.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("estimate (cost model"))
    rows = {l.split()[0]: l.split() for l in lines[head + 2:head + 6]}
    assert set(rows) == {"mbert", "xlmr-base", "xlmr-large", "total"}
    assert rows["total"][1] == "600" and float(rows["total"][-1]) > 0  # H100 hours
    assert float(rows["xlmr-large"][-2]) > 2 * float(rows["mbert"][-2])  # A100 h: 24 x 1024 vs 12 x 768
    assert "assumes: bf16 at 30% of peak" in out and "xnli typical" in out


def test_absent_data_is_listed_by_dry_run_but_stops_validate(tmp_path, capsys, tiny_bert):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: m\nmodels: [{tiny_bert}]\ntasks:\n  - {{name: sib200, data_dir: /nowhere/sib}}\n"
                    "  - digits-nli\ntrain: {precision: fp32}\n", encoding="utf-8")
    assert main(["-q", "validate", str(path)]) == 2
    assert "data directory does not exist" in capsys.readouterr().err
    assert main(["-q", "study", str(path), "--db", str(tmp_path / "r.sqlite")]) == 2
    assert "data directory does not exist" in capsys.readouterr().err
    assert not (tmp_path / "r.sqlite").exists()
    assert main(["-q", "study", str(path), "--dry-run", "--db", str(tmp_path / "r.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "task sib200: not readable here (data_dir /nowhere/sib is not on this machine)" in out
    assert "task digits-nli" not in out  # read and checked as always
    assert "2 runs: 0 done" in out and "digits-nli measured" in out and "sib200 typical" in out


def test_dry_run_still_stops_at_bad_local_data(tmp_path, capsys):
    bad = tmp_path / "sib" / "eng_Latn"
    bad.mkdir(parents=True)
    (bad / "train.tsv").write_text("index_id\tcategory\ttext\n1\tscience\n", encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(f"name: m\nmodels: [mbert]\ntasks: [{{name: sib200, data_dir: {tmp_path / 'sib'}}}]\n",
                    encoding="utf-8")
    assert main(["-q", "study", str(path), "--dry-run", "--db", str(tmp_path / "r.sqlite")]) == 2
    assert str(bad / "train.tsv") in capsys.readouterr().err
