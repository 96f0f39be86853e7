"""What a study will cost before it runs: a FLOP count per run, turned into GPU hours.

The model (Kaplan et al. 2020, "Scaling laws", sec. 2.1; the usual 6ND rule):

    N          = layers x (4 d^2 + 2 d f)        non-embedding parameters (d hidden, f FFN = 4d: 12 L d^2)
    forward    = 2 N + 2 L T d  FLOPs per token  (T tokens per sequence: the attention scores)
    training   = 3 x forward per token           (backward = 2 x forward: the 6N of 6ND)
    run        = train tokens x 3 fwd            English train examples x epochs (or max_steps x batch)
               + dev tokens x fwd x evaluations  (every `eval_every` steps, else every epoch)
               + test tokens x fwd               every evaluation language (retrieval: queries + pool)
    stage      = its data x its epochs/steps x 3 fwd, once per intermediate checkpoint (RunSpec.stage_key)

Tokens per example are measured on the data where it was read (`approx_tokens`: 1.4 subwords per
whitespace word, at least 1 per 3.5 characters, + 3 special tokens, capped at max_length; multiple
choice counts every choice, QA its 384-token windows), else taken from `TYPICAL` (sizes of the English
training sets and test sets as the task specs and the XTREME-R paper give them). Retrieval tasks train
nothing; their embeddings are computed once per model and intermediate checkpoint (xlt caches them
across seeds), so only the first such run is charged.

Hours = FLOPs / (peak x utilization) of a device class (`DEVICES`: bf16 dense peak, at an assumed 30 %
utilization for encoder fine-tuning on short, dynamically padded batches), where each forward(+backward)
pass takes at least its kernel-launch floor (`LAUNCH_FLOOR_S`, per layer): XTREME's micro-batches of 2-8
sequences are launch-bound on a GPU, not FLOP-bound. Not counted: padding, data
loading and tokenisation, model loading, the vision encoder of multimodal stages (features are read
from a file). When finished runs of the grid are in the results database, their measured train and
eval seconds calibrate the estimate: FLOP/s achieved on the device they ran on (`calibrate`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

# (layers, hidden, ffn) of the presets, so that an offline machine can estimate without the configs
KNOWN_SIZES = {
    "mbert": (12, 768, 3072), "bert-base-multilingual-cased": (12, 768, 3072),
    "xlmr-base": (12, 768, 3072), "xlm-roberta-base": (12, 768, 3072),
    "xlmr-large": (24, 1024, 4096), "xlm-roberta-large": (24, 1024, 4096),
    "me5-small-q4": (12, 384, 1536), "intfloat/multilingual-e5-small": (12, 384, 1536),
}

# bf16 dense tensor-core peak (vendor data sheets: A100 SXM 312 TFLOP/s, H100 SXM 989 TFLOP/s)
DEVICES = {"A100": 312e12, "H100": 989e12}
UTILIZATION = 0.30

# task -> (English train examples, English dev examples, test examples per language, tokens per example,
# retrieval candidate pool size (shared by every language)); sizes from the task specs' train_source and
# the XTREME / XTREME-R papers (Hu et al. 2020 table 1, Ruder et al. 2021 table 1); tokens per example
# are typical lengths (NLI pair ~50, SQuAD window ~180, UD/WikiANN sentence ~25/15 subwords)
TYPICAL = {
    "xnli": (392_702, 2_490, 5_010, 50, 0), "xcopa": (400, 100, 500, 2 * 22, 0),  # both choices
    "udpos": (12_543, 2_001, 1_500, 25, 0), "panx": (20_000, 10_000, 5_000, 15, 0),
    "xquad": (88_600, 10_570, 1_190, 180, 0), "mlqa": (88_600, 1_148, 5_000, 200, 0),
    "tydiqa": (3_700, 440, 700, 200, 0), "tatoeba": (0, 0, 1_000, 12, 1_000),
    "mewslix": (0, 0, 2_500, 40, 1_003_349), "lareqa": (0, 0, 1_190, 40, 13_000),
    "sib200": (701, 99, 204, 40, 0), "americasnli": (392_702, 2_490, 750, 45, 0),
    "masakhaner": (14_042, 3_250, 1_000, 35, 0),
    # intermediate-stage tasks
    "snli-ve": (529_527, 17_858, 0, 14, 0), "snli-ve-text": (529_527, 17_858, 0, 25, 0),
    "digits-nli": (3_786, 810, 0, 14, 0), "digits-ve": (3_786, 810, 0, 12, 0),
}
_GUESS = (10_000, 1_000, 1_000, 64, 0)  # a task we know nothing about (said in the output)


@dataclass(frozen=True)
class Size:
    layers: int
    hidden: int
    ffn: int
    known: str  # where the numbers came from: "config" | "preset table" | "guess"

    @property
    def params(self) -> int:
        """Non-embedding parameters (attention 4 d^2, FFN 2 d f per layer)."""
        return self.layers * (4 * self.hidden ** 2 + 2 * self.hidden * self.ffn)

    def forward(self, tokens: float, seq: float) -> float:
        """Forward FLOPs for `tokens` tokens in sequences of `seq` tokens."""
        return tokens * (2 * self.params + 2 * self.layers * seq * self.hidden)


def model_size(name: str, location: str | None = None) -> Size:
    """From the model's config.json when it is on disk, else the preset table, else XLM-R base's."""
    if location and (Path(location) / "config.json").is_file():
        try:
            c = json.loads((Path(location) / "config.json").read_text(encoding="utf-8"))
            return Size(int(c["num_hidden_layers"]), int(c["hidden_size"]),
                        int(c.get("intermediate_size") or 4 * c["hidden_size"]), "config")
        except (ValueError, KeyError, TypeError):
            pass
    for key in (name, location):
        if key in KNOWN_SIZES:
            return Size(*KNOWN_SIZES[key], "preset table")
    return Size(12, 768, 3072, "guess")


def approx_tokens(texts) -> int:
    """Subword tokens of one sequence made of `texts` (see the module docstring)."""
    words = sum(len(t.split()) for t in texts)
    chars = sum(len(t) for t in texts)
    return math.ceil(max(1.4 * words, chars / 3.5)) + 3


def example_tokens(ex) -> list[int]:
    """Sequences (as token counts) the encoder reads for one example, uncapped."""
    if hasattr(ex, "choices"):  # multiple choice: one sequence per choice
        return [approx_tokens([ex.premise, ex.question or "", c]) for c in ex.choices]
    if hasattr(ex, "tokens"):
        return [approx_tokens(ex.tokens)]
    if hasattr(ex, "context"):
        return [approx_tokens([ex.question, ex.context])]
    if hasattr(ex, "query"):
        return [approx_tokens([ex.query])]
    return [approx_tokens([getattr(ex, "text", "") or "", getattr(ex, "text_pair", "") or ""])]


def windows(n: int, max_length: int, qa: bool) -> list[int]:
    """One uncapped sequence of `n` tokens as the windows it is cut into (QA: 128-token overlap, the
    question repeated; anything else truncated)."""
    if not qa or n <= max_length:
        return [min(n, max_length)]
    step = max(max_length // 3, max_length - 128 - 20)
    return [max_length] * (1 + math.ceil((n - max_length) / step))


@dataclass
class Workload:
    """Token counts of one task entry at one max_length: (rows, tokens) per split, a row being what
    batch_size and max_train_examples count (a sentence, a QA window, a multiple-choice example with
    all its choices)."""

    train: tuple[float, float]
    dev: tuple[float, float]
    test: tuple[float, float]  # all evaluation languages together, plus the candidate pool
    source: str  # "measured" | "typical" | "guessed"


def _count(examples, max_length: int, qa: bool, limit: int = 2000) -> tuple[float, float]:
    """(sequences, tokens) of `examples`, measured on the first `limit` and scaled."""
    if not examples:
        return 0.0, 0.0
    sample = examples[:limit]
    rows = []  # what training batches count: a QA window, a multiple-choice example with all its choices
    for ex in sample:
        seqs = [w for n in example_tokens(ex) for w in windows(n, max_length, qa)]
        rows += [sum(seqs)] if hasattr(ex, "choices") else seqs
    scale = len(examples) / len(sample)
    return len(rows) * scale, sum(rows) * scale


def workload(data, max_length: int) -> Workload:
    """The workload of a `TaskData` entry: measured when its splits were read, else typical sizes."""
    qa = data.spec.type.value == "extractive-qa"
    if not getattr(data, "unread", "") and "splits" in data.__dict__:  # read by validate()
        splits = data.splits
        seqs, tokens = map(sum, zip((0.0, 0.0), *(_count(e, max_length, qa) for e in splits["test"].values())))
        if not data.kind.trains:  # retrieval: every distinct candidate pool is embedded too
            pools = {id(p): p for p in (data.candidates(lang) for lang in data.languages)}
            for pool in pools.values():
                s, t = _count(pool, max_length, False)
                seqs, tokens = seqs + s, tokens + t
        return Workload(_count(splits["train"], max_length, qa), _count(splits["dev"], max_length, qa),
                        (seqs, tokens), "measured")
    n_train, n_dev, n_test, per, pool = TYPICAL.get(data.spec.name, _GUESS)
    per = min(per, max_length)
    langs = len(data.languages)
    source = "typical" if data.spec.name in TYPICAL else "guessed"
    return Workload((n_train, n_train * per), (n_dev, n_dev * per),
                    (n_test * langs + pool, (n_test * langs + pool) * per), source)


@dataclass
class Cost:
    """FLOPs and micro-batches (forward passes) of a piece of work; `seconds` turns them into time."""

    train_flops: float = 0.0
    train_batches: float = 0.0  # forward + backward passes
    eval_flops: float = 0.0
    eval_batches: float = 0.0  # forward-only passes

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def __rmul__(self, n: float) -> "Cost":
        return Cost(*(n * a for a in dataclasses.astuple(self)))

    @property
    def flops(self) -> float:
        return self.train_flops + self.eval_flops

    def seconds(self, size: Size, rate: float, eval_rate: float | None = None) -> float:
        """At `rate` FLOP/s (training; `eval_rate` for forward-only work, default the same), each pass
        taking at least its launch floor (`LAUNCH_FLOOR_S` per layer)."""
        train_floor, eval_floor = (f * size.layers for f in LAUNCH_FLOOR_S)
        return (max(self.train_flops / rate, self.train_batches * train_floor)
                + max(self.eval_flops / (eval_rate or rate), self.eval_batches * eval_floor))


# Small micro-batches (XTREME's 8 or 2 sequences) leave a GPU waiting on kernel launches: eager PyTorch
# issues ~50 kernels per encoder layer for forward + backward (~15 forward-only) at ~10 us each, so a
# pass takes at least this long per layer whatever its FLOPs: (forward + backward, forward only) seconds
_LAUNCH = 10e-6
LAUNCH_FLOOR_S = (50 * _LAUNCH, 15 * _LAUNCH)
EVAL_BATCH_TOKENS = 16384  # Runtime.eval_max_tokens: evaluation batches are token-budgeted


def train_cost(size: Size, work: Workload, train, trains: bool = True) -> Cost:
    """Fine-tuning of one run with TrainSettings `train`, its dev evaluations included."""
    if not trains or not work.train[0]:
        return Cost()
    seqs, tokens = work.train
    if train.max_train_examples:
        frac = min(1.0, train.max_train_examples / seqs)
        seqs, tokens = seqs * frac, tokens * frac
    per_step = train.batch_size * train.grad_accum
    steps_per_epoch = math.ceil(seqs / per_step)
    steps = train.max_steps or math.ceil(steps_per_epoch * train.epochs)
    seen = steps * per_step / seqs  # passes over the data
    evals = math.ceil(steps / train.eval_every) if train.eval_every else math.ceil(steps / steps_per_epoch)
    dev = evals * eval_cost(size, work.dev)
    return Cost(3 * size.forward(tokens * seen, tokens / seqs), steps * train.grad_accum) + \
        Cost(0.0, 0.0, dev.eval_flops, dev.eval_batches)


def eval_cost(size: Size, split: tuple[float, float]) -> Cost:
    """Forward passes over `split` = (sequences, tokens), in token-budgeted batches."""
    seqs, tokens = split
    if not seqs:
        return Cost()
    return Cost(0.0, 0.0, size.forward(tokens, tokens / seqs), math.ceil(tokens / EVAL_BATCH_TOKENS))


def stage_cost(size: Size, cond, stage_train) -> Cost:
    """One intermediate stage (its task's typical size; `stage_train` = xlt's `stage_settings`)."""
    n, n_dev, _, per, _ = TYPICAL.get(cond.task, _GUESS)
    per = min(per + (cond.setting("prefix_tokens") if cond.multimodal else 0), stage_train.max_length)
    return train_cost(size, Workload((n, n * per), (n_dev, n_dev * per), (0, 0), "typical"), stage_train)


def device_seconds(cost: Cost, size: Size, device: str) -> float:
    return cost.seconds(size, DEVICES[device] * UTILIZATION)


def calibrate(measured: list[tuple[float, float, float, float]]) -> tuple[float, float] | None:
    """(train FLOP/s, eval FLOP/s) achieved by finished runs, from (train FLOPs, train s, eval FLOPs,
    eval s) per run; None without a usable run. Ratios of sums: long runs weigh more. Without a run
    that trained, training is assumed to run at the eval rate / 1 (said in the output)."""
    tf = sum(m[0] for m in measured if m[1] > 0 and m[0] > 0)
    ts = sum(m[1] for m in measured if m[1] > 0 and m[0] > 0)
    ef = sum(m[2] for m in measured if m[3] > 0 and m[2] > 0)
    es = sum(m[3] for m in measured if m[3] > 0 and m[2] > 0)
    if not es and not ts:
        return None
    train_rate = tf / ts if ts else ef / es
    return train_rate, (ef / es if es else train_rate)


def estimate(left: list, done: list[tuple], workspace) -> list[str]:
    """Lines for `xlt study --dry-run`: per model and in total, the FLOPs of the runs `left` and their
    hours per device class; calibrated on `done` = (RunSpec, train s, eval s, device) of finished runs
    of the same grid. `workspace` gives the task data (`task(entry)`), model refs and conditions."""
    from xlt.methods.intermediate.conditions import condition_from_label, stage_settings
    from xlt.training.kinds import kind_for

    works: dict = {}

    def run_cost(run) -> tuple[Cost, str]:
        data = workspace.task(run.task)
        key = (run.task, run.train.max_length)
        if key not in works:
            works[key] = workload(data, run.train.max_length)
        size = model_size(run.model, _location(workspace, run.model))
        return (train_cost(size, works[key], run.train, kind_for(data.spec).trains)
                + eval_cost(size, works[key].test)), works[key].source

    per_model: dict[str, list] = {}
    stages, embedded, sources = set(), set(), set()
    for run in left:
        cost, source = run_cost(run)
        sources.add(f"{run.task.name} {source}")
        if not cost.train_flops:  # retrieval: embeddings are cached across seeds of the same weights
            if (run.model, run.task, run.stage_key()) in embedded:
                cost = Cost()
            embedded.add((run.model, run.task, run.stage_key()))
        stage = Cost()
        if run.stage_key() is not None and run.stage_key() not in stages:
            stages.add(run.stage_key())
            cond = workspace.conditions.get(run.intermediate) or condition_from_label(run.intermediate)
            stage = stage_cost(model_size(run.model, _location(workspace, run.model)), cond,
                               stage_settings(cond, run.stage_train))
        row = per_model.setdefault(run.model, [0, Cost(), Cost()])
        row[0], row[1], row[2] = row[0] + 1, row[1] + cost, row[2] + stage
    if not per_model:
        return []
    out = ["estimate (cost model, xlt.study.cost: 6 x N x tokens to train, 2 x N x tokens to evaluate, "
           "N = non-embedding params from layers x hidden size):",
           f"  {'model':14} {'runs':>5} {'stages':>6} {'params':>7} {'train PFLOP':>11} {'stage PFLOP':>11} "
           f"{'eval PFLOP':>10} " + " ".join(f"{d + ' h':>8}" for d in DEVICES)]
    totals = {d: 0.0 for d in DEVICES}
    flops = [0.0, 0.0, 0.0]
    for model, (n, cost, stage) in per_model.items():
        size = model_size(model, _location(workspace, model))
        secs = {d: device_seconds(cost, size, d) + device_seconds(stage, size, d) for d in DEVICES}
        n_stages = sum(1 for k in stages if k[0] == model)
        out.append(f"  {model:14} {n:>5} {n_stages:>6} {size.params / 1e6:>6.0f}M {_pf(cost.train_flops):>11} "
                   f"{_pf(stage.flops):>11} {_pf(cost.eval_flops):>10} "
                   + " ".join(_h(secs[d]) for d in DEVICES))
        totals = {d: totals[d] + secs[d] for d in DEVICES}
        flops = [flops[0] + cost.train_flops, flops[1] + stage.flops, flops[2] + cost.eval_flops]
    out.append(f"  {'total':14} {len(left):>5} {len(stages):>6} {'':>7} {_pf(flops[0]):>11} "
               f"{_pf(flops[1]):>11} {_pf(flops[2]):>10} "
               + " ".join(_h(totals[d]) for d in DEVICES))
    sizes = sorted({f"{m} {model_size(m, _location(workspace, m)).known}" for m in per_model})
    out.append(f"  assumes: bf16 at {UTILIZATION:.0%} of peak ("
               + ", ".join(f"{d} {p / 1e12:.0f} TFLOP/s" for d, p in DEVICES.items())
               + f"), each pass >= {LAUNCH_FLOOR_S[0] * 1e3:.1f} ms per layer (kernel launches); stages once per "
               "checkpoint, retrieval embeddings once per model x checkpoint; padding, tokenisation and model "
               "loading not counted. Model sizes: " + ", ".join(sizes) + ". Tokens per example: "
               + ", ".join(sorted(sources)) + " (measured = from the data read here; typical = cost.TYPICAL)")
    measured = []
    for run, train_s, eval_s, device in done:
        cost, _ = run_cost(run)
        measured.append((cost.train_flops, train_s or 0.0, cost.eval_flops, eval_s or 0.0, device))
    rates = calibrate([m[:4] for m in measured])
    if rates:
        train_rate, eval_rate = rates
        left_s = sum(c.seconds(model_size(m, _location(workspace, m)), train_rate, eval_rate)
                     + s.seconds(model_size(m, _location(workspace, m)), train_rate, eval_rate)
                     for m, (_, c, s) in per_model.items())
        out.append(f"  calibrated on {len(measured)} finished run(s) of this grid ("
                   f"{', '.join(sorted({m[4] for m in measured}))}): measured train {train_rate / 1e12:.3g}, "
                   f"eval {eval_rate / 1e12:.3g} TFLOP/s -> {left_s / 3600:.2f} h left on that device")
    return out


def _pf(flops: float) -> str:
    """PFLOP with three significant digits, without exponents."""
    p = flops / 1e15
    return f"{p:.0f}" if p >= 100 else f"{p:.1f}" if p >= 10 else f"{p:.3g}"


def _h(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:>8.1f}" if hours >= 10 else f"{hours:>8.3f}"


def _location(workspace, model: str) -> str | None:
    """Where the model's files are, when they are on disk (no download, no conversion)."""
    ref = workspace._refs.get(model) if hasattr(workspace, "_refs") else None
    return ref.location if ref is not None else None
