"""`xlt report` plots the stored curves: one figure per task, a line per condition (mean over seeds) with a
± 1 std band, in all three formats; tasks without curves get none."""

from __future__ import annotations

import numpy as np
import pytest

from xlt.report import curves
from xlt.report.build import write_report
from xlt.report.document import Figure, Heading, Para
from xlt.store.db import Store

STUDY, TASK, LANGS = "cur", "sib200", ("eng_Latn", "deu_Latn", "fra_Latn", "swh_Latn")
MODELS, SEEDS, STEPS = ("mbert_cased", "xlmr"), (1, 2, 3), (5, 10, 15, 20)


def _dev(model: str, seed: int, step: int) -> float:
    """Planted: xlmr 0.1 above mbert_cased, rising with the step, skewed seed noise (mean != median)."""
    return 0.4 + 0.01 * step + (0.1 if model == "xlmr" else 0.0) + {1: -0.03, 2: 0.0, 3: 0.01}[seed]


def _write(store: Store) -> None:
    rng = np.random.default_rng(0)
    for model in MODELS:
        for seed in SEEDS:
            rid = f"{model}-{seed}"
            store.start_run(rid, {"study": STUDY, "model": model, "task": TASK, "method": "finetune",
                                  "intermediate": "none", "seed": seed})
            hits = {lang: (rng.random(30) < 0.6).astype(int) for lang in LANGS}
            curve = []
            for s in range(1, 21):  # a loss point every step, dev every 5
                curve.append({"step": s, "epoch": s / 10, "dev": _dev(model, seed, s) if s in STEPS else None,
                              "train_loss": 2.0 / s + 0.01 * seed, "lr": 1e-4 * (1 - s / 20)})
            store.finish_run(rid, [{"language": l, "split": "test", "metric": "accuracy", "value": float(v.mean()),
                                    "n": 30} for l, v in hits.items()],
                             [{"language": l, "metric": "accuracy", "values": v.tolist()} for l, v in hits.items()],
                             {"dev_score": max(_dev(model, seed, s) for s in STEPS), "best_step": 20}, curve=curve)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    s = Store(str(tmp_path_factory.mktemp("curves") / "r.sqlite"))
    _write(s)
    return s


def test_mean_and_band_over_seeds_per_condition_and_step(store):
    frame = store.curves_frame(STUDY)
    assert len(frame) == len(MODELS) * len(SEEDS) * 20
    dev = curves.summarize(frame, "dev")
    assert len(dev) == len(MODELS) * len(STEPS)  # evaluation points only
    for _, r in dev.iterrows():
        values = [_dev(r["model"], seed, r["step"]) for seed in SEEDS]
        assert r["mean"] == pytest.approx(np.mean(values)) and r["std"] == pytest.approx(np.std(values, ddof=1))
        assert r["n"] == len(SEEDS)
    fig = curves.plot(TASK, frame, "accuracy")
    ax_dev = fig.axes[0]
    assert [line.get_label() for line in ax_dev.lines] == [f"{m} / finetune / none" for m in MODELS]
    for line, model in zip(ax_dev.lines, MODELS):
        assert line.get_xdata().tolist() == list(STEPS)
        assert line.get_ydata() == pytest.approx([100 * np.mean([_dev(model, seed, s) for seed in SEEDS])
                                                  for s in STEPS])
    band = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]  # ± 1 std around the first condition
    std = [100 * np.std([_dev(MODELS[0], seed, s) for seed in SEEDS], ddof=1) for s in STEPS]
    mean = ax_dev.lines[0].get_ydata()
    assert band.max() == pytest.approx(max(mean + std)) and band.min() == pytest.approx(min(mean - std))
    assert len(fig.axes[1].lines) == len(MODELS) and len(fig.axes[1].lines[0].get_xdata()) == 20


def test_the_report_has_a_curves_figure_in_the_task_section(store, tmp_path):
    paths = write_report(store, STUDY, tmp_path, n_boot=100, progress=False)
    md, tex, html = (paths[k].read_text(encoding="utf-8") for k in ("md", "tex", "html"))
    task_at, curves_at, notes_at = md.index(f"## Task {TASK}"), md.index("### Fine-tuning curves"), md.index("## Notes")
    assert task_at < curves_at < notes_at
    assert f"![{TASK}: fine-tuning curves](figures/curves-{TASK}.svg)" in md
    assert (tmp_path / "figures" / f"curves-{TASK}.svg").stat().st_size > 1000
    assert (tmp_path / "figures" / f"curves-{TASK}.pdf").read_bytes().startswith(b"%PDF")
    assert f"figures/curves-{TASK}.pdf" in tex and "Fine-tuning curves" in tex
    figure = html[html.index(f'id="fig-curves-{TASK}"'):]
    assert figure.index("<svg") < figure.index("</figure>")
    assert "3 per condition" in md and "(log scale)" in md  # the caption: seeds per band, the loss axis


def test_no_curves_no_figure():
    blocks = [Heading(2, f"Task {TASK}", f"task-{TASK}"), Para("x"), Heading(2, "Notes", "notes")]
    empty = Store("sqlite://")  # in memory, no runs
    assert curves.add_curves(blocks, empty.curves_frame(STUDY)) == blocks
    assert not any(isinstance(b, Figure) for b in blocks)
