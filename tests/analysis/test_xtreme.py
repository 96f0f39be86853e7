"""XTREME-R task / category / overall aggregation on hand-made rows."""

import pandas as pd
import pytest

from xlt.analysis import xtreme
from xlt.analysis.condition import Condition
from xlt.analysis.xtreme import CATEGORIES, to_text
from xlt.tasks import find_spec

TEN = {"xnli": "accuracy", "xcopa": "accuracy", "udpos": "f1", "panx": "f1", "tatoeba": "retrieval_accuracy",
       "mewslix": "map@20", "lareqa": "map@20"}


def _row(task, lang, metric, value, seed=1, model="m"):
    return {"model": model, "method": "finetune", "intermediate": "none", "protocol": "zero-shot", "seed": seed,
            "task": task, "language": lang, "metric": metric, "value": value}


def _target(task: str) -> str:
    """A zero-shot language of `task` (the averages count only the task's XTREME-R languages)."""
    return next(l for l in find_spec(task).languages if l != "en")


def _all_ten(seed=1, bump=0.0):
    rows = [_row(t, l, m, 0.5 + bump, seed) for t, m in TEN.items() for l in ("en", _target(t))]
    qa = {"xquad": ("squad_f1", "squad_em"), "tydiqa": ("squad_f1", "squad_em"), "mlqa": ("mlqa_f1", "mlqa_em")}
    for t, (f1, em) in qa.items():
        rows += [_row(t, "en", f1, 0.8, seed), _row(t, "en", em, 0.6, seed),
                 _row(t, _target(t), f1, 0.6, seed), _row(t, _target(t), em, 0.4, seed)]
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    return xtreme.summarize(pd.DataFrame(rows))


def test_qa_task_score_is_mean_of_f1_and_em_over_languages():
    [s] = summarize(_all_ten())
    assert s["tasks"]["xquad"][0] == pytest.approx((0.7 + 0.5) / 2)
    assert s["tasks"]["xnli"][0] == pytest.approx(0.5)
    assert s["categories"]["question answering"][0] == pytest.approx(0.6)
    assert s["categories"]["classification"][0] == pytest.approx(0.5)
    assert set(s["categories"]) == set(CATEGORIES)
    # overall = mean of the ten task scores: 7 tasks at 0.5, 3 QA tasks at 0.6
    assert s["overall"][0] == pytest.approx((7 * 0.5 + 3 * 0.6) / 10)


def test_overall_needs_all_ten_tasks_and_extras_are_ignored():
    rows = [r for r in _all_ten() if r["task"] != "lareqa"] + [_row("sib200", "en", "accuracy", 1.0)]
    [s] = summarize(rows)
    assert s["overall"] is None and "sib200" not in s["tasks"]
    assert "n/a (9 of 10 tasks)" in to_text([s])


def test_seeds_give_mean_and_std():
    [s] = summarize(_all_ten(seed=1) + _all_ten(seed=2, bump=0.1))
    mean, std, n = s["tasks"]["xnli"]
    assert n == 2 and mean == pytest.approx(0.55) and std == pytest.approx(0.0707107, rel=1e-4)


def test_conditions_are_labelled_in_full_and_scores_are_x100():
    rows = _all_ten() + [{**r, "method": "epar"} for r in _all_ten(bump=0.1)]
    first, second = summarize(rows)
    assert first["condition"] == Condition("m", "epar", "none") and second["condition"].label == "m / finetune / none"
    text = to_text([first, second])
    assert text.startswith("XTREME-R scores (x100, mean ± std over seeds;")
    assert "m / epar / none:" in text and "xnli 60.0" in text and "xnli 50.0" in text


def test_released_languages_beyond_xtreme_r_stay_out_of_its_averages():
    # Tatoeba accepts every LASER language (e.g. Kabyle), but the XTREME-R score averages its own set only
    rows = _all_ten() + [_row("tatoeba", "kab", "retrieval_accuracy", 0.0)]
    [s] = summarize(rows)
    assert s["tasks"]["tatoeba"][0] == pytest.approx(0.5)
