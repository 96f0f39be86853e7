"""A small synthetic two-condition study and its report, built once per session.

Runs go through `Store.start_run` / `Store.finish_run` as the study runner writes them. Real registry
codes (16 targets in 10 families, N'Ko among them for the LaTeX escaping). Planted: "xlmr" is
EFFECT better than "mbert_cased" on the Indo-European languages only.
"""

from __future__ import annotations

import numpy as np
import pytest

from xlt.report.build import write_report
from xlt.store.db import Store

STUDY, TASK, SOURCE = "syn", "sib200", "eng_Latn"
TARGETS = ["deu_Latn", "fra_Latn", "rus_Cyrl", "hin_Deva", "arb_Arab", "heb_Hebr", "fin_Latn", "hun_Latn",
           "tur_Latn", "kaz_Cyrl", "jpn_Jpan", "zho_Hans", "swh_Latn", "yor_Latn", "eus_Latn", "nqo_Nkoo"]
INDO_EUROPEAN = {"deu_Latn", "fra_Latn", "rus_Cyrl", "hin_Deva"}
MODELS = ("mbert_cased", "xlmr")
EFFECT, N_EXAMPLES, SEEDS, N_BOOT = 0.2, 80, (1, 2, 3), 1000


def write_study(store: Store) -> None:
    rng = np.random.default_rng(0)
    probs = {l: rng.uniform(0.3, 0.7, N_EXAMPLES) for l in TARGETS} | {SOURCE: rng.uniform(0.8, 0.95, N_EXAMPLES)}
    for model in MODELS:
        for seed in SEEDS:
            run_id = f"{STUDY}-{model}-{seed}"
            store.start_run(run_id, {"study": STUDY, "model": model, "task": TASK, "method": "finetune",
                                     "intermediate": "none", "seed": seed, "task_version": "1"})
            shift, scores = rng.normal(0, 0.01), {}
            for lang, p in probs.items():
                boost = EFFECT if model == "xlmr" and lang in INDO_EUROPEAN else 0.0
                scores[lang] = (rng.random(N_EXAMPLES) < np.clip(p + boost + shift, 0, 1)).astype(int)
            rows = [{"language": l, "split": "test", "metric": "accuracy", "value": float(v.mean()), "n": len(v)}
                    for l, v in scores.items()]
            per_example = [{"language": l, "metric": "accuracy", "values": v.tolist()} for l, v in scores.items()]
            info = {"dev_score": 0.9, "best_step": 40 + seed, "train_seconds": 1.5, "eval_seconds": 2.5,
                    "xlt_version": "test", "config": {"run": {"train": {"epochs": 2, "lr": 1e-4}}}}
            store.finish_run(run_id, rows, per_example, info)


@pytest.fixture(scope="session")
def study_db(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("report-db") / "results.sqlite")
    write_study(Store(path))
    return path


@pytest.fixture(scope="session")
def report(study_db, tmp_path_factory) -> dict:
    """{"md"|"tex"|"html": Path} of the study's report (n_boot = N_BOOT), written once."""
    out = tmp_path_factory.mktemp("report")
    return write_report(Store(study_db), STUDY, out, n_boot=N_BOOT, progress=False)
