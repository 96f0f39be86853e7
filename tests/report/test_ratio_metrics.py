"""Corpus-level metrics stored as per-sentence counts (UD-POS F1, token accuracy) get the family analysis and the
paired comparisons like per-example scores: their means are the corpus scores, and sentences are resampled."""

from __future__ import annotations

import numpy as np

from xlt.report.build import write_report
from xlt.store.db import Store

LANGS = ["en", "de", "tr", "ja"]  # en is udpos's source; de, tr, ja are three families


def _counts(rng, n, p):
    gold = rng.integers(1, 20, n)
    pred = np.maximum(gold + rng.integers(-1, 2, n), 0)
    tp = rng.binomial(np.minimum(gold, pred), p)
    return np.stack([tp, pred, gold], axis=1), np.stack([rng.binomial(gold, p), gold], axis=1)


def test_udpos_counts_get_family_tables_and_comparisons(tmp_path):
    store, rng, corpus = Store(str(tmp_path / "r.sqlite")), np.random.default_rng(0), {}
    for intermediate, p in (("none", 0.8), ("text:x", 0.6)):
        for seed in (1, 2, 3):
            run_id = f"{intermediate}-{seed}"
            store.start_run(run_id, {"study": "s", "model": "m", "task": "udpos", "method": "finetune",
                                     "intermediate": intermediate, "seed": seed, "task_version": "1"})
            rows, per_example = [], []
            for lang in LANGS:
                f1_stats, acc_stats = _counts(rng, 60, p)
                f1 = 2 * f1_stats[:, 0].sum() / (f1_stats[:, 1].sum() + f1_stats[:, 2].sum())
                corpus.setdefault((intermediate, lang), []).append(f1)
                rows += [{"language": lang, "split": "test", "metric": "f1", "value": f1, "n": 60},
                         {"language": lang, "split": "test", "metric": "accuracy",
                          "value": acc_stats[:, 0].sum() / acc_stats[:, 1].sum(), "n": 60}]
                per_example += [{"language": lang, "metric": "f1", "values": f1_stats.tolist()},
                                {"language": lang, "metric": "accuracy", "values": acc_stats.tolist()}]
            store.finish_run(run_id, rows, per_example, {"dev_score": 0.9, "best_step": 1, "train_seconds": 1,
                                                         "eval_seconds": 1, "xlt_version": "test"})
    md = write_report(store, "s", tmp_path / "rep", n_boot=200, progress=False)["md"].read_text()
    assert "no per-example scores stored" not in md and "### By language family" in md
    assert "### Paired comparison" in md and "delta-method linearisation" in md
    # each family here has one language: its A and B columns are that language's corpus F1 (mean over seeds), and
    # A - B is the planted difference as measured (A = none, B = text:x)
    comparison = md[md.index("### Paired comparison"):]
    for family, lang in (("Indo-European", "de"), ("Turkic", "tr"), ("Japonic", "ja")):
        cells = next(l for l in comparison.splitlines() if l.startswith(f"| {family} |")).split("|")
        a, b = (100 * np.mean(corpus[(c, lang)]) for c in ("none", "text:x"))
        assert [float(cells[i]) for i in (3, 4, 5)] == [round(a, 1), round(b, 1), round(a - b, 1)]
        assert 10 < a - b < 30 and float(cells[7]) < 0.05  # found: p below 0.05
