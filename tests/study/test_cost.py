"""The cost model's arithmetic (xlt.study.cost) on configurations worked out by hand."""

from __future__ import annotations

import json

import pytest

from xlt.study.cost import (DEVICES, LAUNCH_FLOOR_S, UTILIZATION, Cost, Size, Workload, approx_tokens, calibrate,
                            device_seconds, eval_cost, model_size, train_cost, windows)
from xlt.training.settings import TrainSettings

BASE = Size(12, 768, 3072, "test")


def test_parameter_count_and_forward_flops_of_bert_base():
    # 12 layers x (4 x 768^2 attention + 2 x 768 x 3072 FFN) = 12 x 7,077,888
    assert BASE.params == 84_934_656
    # 1,000 tokens in sequences of 100: 2 N per token + 2 L T d for the attention scores
    assert BASE.forward(1000, 100) == 1000 * (2 * 84_934_656 + 2 * 12 * 100 * 768)


def test_sizes_from_config_then_preset_table(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"num_hidden_layers": 6, "hidden_size": 256,
                                                      "intermediate_size": 1024}))
    assert model_size("anything", str(tmp_path)) == Size(6, 256, 1024, "config")
    assert model_size("xlmr-large") == Size(24, 1024, 4096, "preset table")
    assert model_size("xlmr-large").params == 24 * 12 * 1024 ** 2
    assert model_size("/nowhere/model").known == "guess"


def test_training_cost_by_hand():
    # 1,000 sequences of 100 tokens, 10 per step, 2 epochs: 200 steps, 2 dev evaluations over 50 x 100
    work = Workload(train=(1000, 100_000), dev=(50, 5_000), test=(0, 0), source="test")
    cost = train_cost(BASE, work, TrainSettings(epochs=2, batch_size=10, grad_accum=1, eval_every=0))
    per_token = 2 * BASE.params + 2 * 12 * 100 * 768
    assert cost.train_flops == pytest.approx(3 * 200_000 * per_token)
    assert cost.train_batches == 200
    assert cost.eval_flops == pytest.approx(2 * 5_000 * per_token) and cost.eval_batches == 2
    # max_steps and accumulation: 30 steps of 5 x 4 = 600 sequences = 0.6 epoch; eval every 10 steps
    capped = train_cost(BASE, work, TrainSettings(max_steps=30, batch_size=5, grad_accum=4, eval_every=10))
    assert capped.train_flops == pytest.approx(3 * 60_000 * per_token) and capped.train_batches == 120
    assert capped.eval_flops == pytest.approx(3 * 5_000 * per_token)
    # max_train_examples subsamples English train
    sub = train_cost(BASE, work, TrainSettings(epochs=1, batch_size=10, max_train_examples=100))
    assert sub.train_flops == pytest.approx(3 * 10_000 * per_token) and sub.train_batches == 10
    assert train_cost(BASE, work, TrainSettings(), trains=False) == Cost()  # retrieval trains nothing


def test_hours_take_the_larger_of_flops_and_launch_floor():
    rate = DEVICES["A100"] * UTILIZATION
    big = Cost(train_flops=rate * 3600, train_batches=10)  # an hour of FLOPs in 10 passes: FLOP-bound
    assert device_seconds(big, BASE, "A100") == pytest.approx(3600)
    tiny = Cost(train_flops=1.0, train_batches=1000, eval_flops=1.0, eval_batches=100)  # launch-bound
    assert device_seconds(tiny, BASE, "A100") == pytest.approx(1000 * 12 * LAUNCH_FLOOR_S[0]
                                                               + 100 * 12 * LAUNCH_FLOOR_S[1])
    assert eval_cost(BASE, (100, 40_000)).eval_batches == 3  # 16,384-token evaluation batches


def test_calibration_is_a_ratio_of_sums():
    # (train FLOPs, train s, eval FLOPs, eval s)
    assert calibrate([(1e12, 10, 4e11, 4), (3e12, 30, 0.0, 0.0)]) == (pytest.approx(1e11), pytest.approx(1e11))
    assert calibrate([(0.0, 0.0, 2e12, 10)]) == (pytest.approx(2e11), pytest.approx(2e11))  # retrieval only
    assert calibrate([]) is None


def test_token_approximation_and_qa_windows():
    assert approx_tokens(["one two three four five"]) == 7 + 3  # 1.4 x 5 words + specials
    assert approx_tokens(["这是一个没有空格的句子"]) == 4 + 3  # 11 characters / 3.5, not 1 "word"
    assert windows(100, 384, qa=True) == [100]
    assert windows(1000, 384, qa=True) == [384] * 4  # 236-token steps: 1 + ceil(616 / 236)
    assert windows(1000, 128, qa=False) == [128]  # truncated


def test_estimate_per_model_and_calibrated_on_finished_runs(tiny_bert, tmp_path):
    """Runs of one model x task cost the same, so a finished run that took 10 s + 5 s predicts 15 s for
    each run left; the table has the model's row and the total."""
    import yaml

    from xlt.study.config import parse_study
    from xlt.study.cost import estimate
    from xlt.study.runner import Runner

    study = parse_study(yaml.safe_load(f"name: c\nmodels: ['{tiny_bert}']\ntasks: [digits-nli]\nseeds: [1, 2, 3, 4]\n"
                                       "train: {epochs: 1, max_length: 32, precision: fp32}\n"))
    runner = Runner(study, progress=False)
    first, *left = runner.validate()
    lines = estimate(left, [(first, 10.0, 5.0, "test cpu")], runner.workspace)
    rows = {line.split()[0]: line.split() for line in lines[2:4]}
    assert set(rows) == {str(tiny_bert), "total"} and rows["total"][1] == "3"
    assert "digits-nli measured" in lines[4] and "Model sizes: " + str(tiny_bert) + " config" in lines[4]
    assert lines[5].startswith("  calibrated on 1 finished run(s) of this grid (test cpu)")
    assert lines[5].endswith(f"-> {3 * 15 / 3600:.2f} h left on that device")
    assert estimate([], [], runner.workspace) == []


def test_a_multiple_choice_example_is_one_training_row_with_all_its_choices():
    from xlt.study.cost import _count
    from xlt.tasks.base import ChoiceExample, Example

    choice = ChoiceExample("The man fell.", ("He slipped.", "He sang."), 0, "cause")
    assert _count([choice] * 10, 128, qa=False) == (10, 10 * sum(
        approx_tokens([choice.premise, "cause", c]) for c in choice.choices))
    assert _count([Example("a b c", "x")] * 4, 128, qa=False) == (4, 4 * approx_tokens(["a b c", ""]))
