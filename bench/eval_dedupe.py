"""Evaluation with repeated inputs run once vs every row run: the demo's test set (CLDR names, 100 locales).

    python bench/eval_dedupe.py [--precision bf16|fp32] [--repeats 3]

Both routes are xlt's `forward_rows` on the same fine-tuning-free classifier (a fresh head on me5-small-q4;
speed does not depend on the weights): "all" on every row with each distinct input made unique by a marker
token, so nothing repeats (what evaluation cost before), "dedupe" on the rows as they are. They alternate,
`--repeats` times each, in one process; the ratio of their rows/s is the speed-up. It also checks that both
give the same argmax for every row whose input is unchanged.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from xlt.models import registry
    from xlt.tasks import get_task
    from xlt.training.batching import Encoded, first_of_equal
    from xlt.training.kinds import kind_for
    from xlt.training.loop import forward_rows
    from xlt.training.settings import Runtime

    task = get_task("cldr-names", None)
    ref = registry.resolve("me5-small-q4")
    tok = registry.load_tokenizer(ref)
    kind = kind_for(task.spec)
    rows = [ex for lang in task.available_languages("test") for ex in task.load("test", lang)]
    enc = kind.encode(rows, tok, {l: i for i, l in enumerate(task.spec.labels)}, 32)
    first = first_of_equal(enc)
    # "all": each repeated row gets its first real token replaced by an ordinary vocabulary id that depends on the
    # row (5 + i mod 7919), so no two rows are equal and every row runs, at the same lengths
    marked = [np.array(r, dtype=np.int64) for r in enc.input_ids]
    for i in np.flatnonzero(first != np.arange(len(enc))):
        if len(marked[i]) > 2:
            marked[i] = marked[i].copy()
            marked[i][1] = 5 + i % 7919
    distinct = Encoded(marked, enc.token_type_ids, enc.labels)
    assert (first_of_equal(distinct) == np.arange(len(enc))).mean() > 0.99
    torch.manual_seed(0)
    model = kind.build(registry.load_encoder(ref), len(task.spec.labels), ref.pooling, 0.1)
    rt = Runtime(progress=False)
    seconds = {"all": [], "dedupe": []}
    outs = {}
    for _ in range(args.repeats):
        for name, data in (("all", distinct), ("dedupe", enc)):
            t0 = time.perf_counter()
            outs[name] = forward_rows(model, data, tok.pad_token_id, torch.device("cpu"), precision=args.precision,
                                      runtime=rt)
            seconds[name].append(time.perf_counter() - t0)
    same = [i for i in range(len(enc)) if first[i] == i]
    agree = np.mean([outs["all"][i].argmax() == outs["dedupe"][i].argmax() for i in same])
    best = {k: min(v) for k, v in seconds.items()}
    print(f"{len(enc)} rows, {len(same)} distinct ({1 - len(same) / len(enc):.1%} repeats), {args.precision}, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}")
    for k, s in best.items():
        print(f"  {k:7s} {s:6.1f} s  {len(enc) / s:7.1f} rows/s")
    print(f"dedupe / all: {best['all'] / best['dedupe']:.2f}x; argmax agreement on the distinct rows {agree:.4f}")


if __name__ == "__main__":
    main()
