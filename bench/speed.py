"""Speed: xlt's fine-tuning and zero-shot evaluation against the HF Trainer route, in one run.

    python bench/speed.py --quick                      # 5 steps, 40 languages x 6 rows (~3-19 min on 2 cores)
    python bench/speed.py --json bench/out/speed.json  # full: 3 epochs; 84 test languages x 48 rows
    python bench/speed.py --quick --profile            # plus where xlt's time goes, per phase
    python bench/speed.py --quick --fp32-only --no-emb # the fp32 comparison only (a, b, xlt; base, xlt, raw)

On a machine shared with other jobs pass --threads 1: two OpenMP threads on oversubscribed cores
spin at every barrier (measured here: a training step 6x slower than with one thread), which
hides what bf16 changes.

Every configuration runs the same network: xlt's SequenceClassifier (mean pooling, as e5 was
trained) on the same encoder, the same head initialisation (seed), data (SIB-200 English train/dev,
test languages from --data), batch size, steps, lr, linear warmup/decay, weight decay and clipping.
Inside HF Trainer it is wrapped to take labels and return loss + logits, as
AutoModelForSequenceClassification does, so the only differences are the loop and the batching.

Fine-tuning (samples/s over the training steps; English dev and test accuracy afterwards):
  a        HF Trainer as the example scripts run it: every row padded to max_length 128
  b        HF Trainer as a careful user runs it: DataCollatorWithPadding + group_by_length
  c        b with bf16=True (Trainer's own CPU/GPU bf16 autocast): the strongest bf16 baseline
  xlt      xlt's fine_tune: length-grouped batches, per-batch padding, frozen word embeddings
  xlt-emb  the same with the word-embedding table trained: the Trainer's work (equal-work ratio)
  xlt-bf16, xlt-emb-bf16   the same two with precision bf16 (autocast)
Zero-shot evaluation of xlt's (fp32-trained) checkpoint on the test languages:
  base     one Trainer.predict per language, tokenised and padded to 128, batch --eval-batch
  xlt      xlt's evaluation: tokens from its cache, one length-sorted pass over all languages,
           decode, score per language
  raw      only the model's forward over the same sorted batches, collated beforehand: the limit
  xlt-bf16, raw-bf16       the same two under bf16 autocast
Headline ratios compare like with like: fp32 xlt against the strongest fp32 baseline (b; raw), bf16
xlt against the strongest bf16 one (c; raw-bf16), each with frozen embeddings and at equal work.

How it is measured: each configuration is its own process, so its peak memory is its own: "peak"
is VmHWM from /proc (the high-water mark of resident memory), "+peak" its rise over the resident
memory when the measured work started (what the phase itself needs). The processes of one group
take turns forward call by forward call (a baton passed over pipes, see bench/speed_phases.py)
and only time inside a process's own turns counts, so a shared machine's load falls on all
configurations alike. Fine-tuning runs as two such groups, fp32 (a, b, xlt, xlt-emb) then bf16 (c,
xlt-bf16, xlt-emb-bf16), to stay within 24 GB; evaluation is one group. The last line printed holds
the headline ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# ../shared/data next to the checkout (or next to a folder above it, as for a git worktree)
DEFAULT_DATA = next((p for p in (d / "shared" / "data" / "sib-200" for d in HERE.parents) if p.is_dir()),
                    HERE.parents[1] / "shared" / "data" / "sib-200")
BF16 = {"precision": "bf16"}
EMB = {"freeze_embeddings": False}
# (name, phase, settings): fp32 then bf16; "-emb" = word embeddings trained (the Trainer's work)
TRAIN = [("a", "train_a", {}), ("b", "train_b", {}), ("c", "train_c", BF16), ("xlt", "train_xlt", {}),
         ("xlt-emb", "train_xlt", EMB), ("xlt-bf16", "train_xlt", BF16), ("xlt-emb-bf16", "train_xlt", {**EMB, **BF16})]
EVAL = [("base", "eval_base", {}), ("xlt", "eval_xlt", {}), ("raw", "eval_raw", {}),
        ("xlt-bf16", "eval_xlt", BF16), ("raw-bf16", "eval_raw", BF16)]


def settings_for(args, tmp: Path) -> dict:
    from xlt.tasks import get_task

    langs = get_task("sib200", args.data).available_languages("test")
    if args.languages:
        langs = langs[:: max(1, len(langs) // args.languages)][: args.languages]
    return {"model": args.model, "data": str(args.data), "device": args.device, "threads": args.threads,
            "steps": args.steps, "batch_size": args.batch_size, "eval_batch": args.eval_batch, "lr": args.lr,
            "max_length": 128, "seed": args.seed, "freeze_embeddings": True, "compile": args.compile,
            "eval_max_tokens": args.eval_tokens, "quick": args.quick, "precision": "fp32",
            "languages": langs, "per_language": args.per_language, "token_cache": str(tmp / "cache")}


def stage(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:5.0f} s] {msg}", file=sys.stderr, flush=True)


def run_group(configs: list[tuple[str, str, dict]], settings: dict, tmp: Path) -> dict:
    """Start one process per configuration, let them take turns until all are done, collect results."""
    procs = {}
    for name, phase, extra in configs:
        sfile, rfile = tmp / f"{name}-{phase}.settings.json", tmp / f"{name}-{phase}.result.json"
        sfile.write_text(json.dumps({**settings, **extra}))
        log = open(tmp / f"{name}-{phase}.log", "w")
        p = subprocess.Popen([sys.executable, str(HERE / "speed_phases.py"), phase, str(sfile), str(rfile)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)
        procs[name] = (p, rfile, log)
    for name, (p, _, _) in procs.items():
        _expect(name, p, tmp, "ready")
    alive = list(procs)
    while alive:
        for name in list(alive):
            p = procs[name][0]
            try:
                p.stdin.write("go\n")
            except BrokenPipeError:  # it died between turns: _expect reports its log
                pass
            if _expect(name, p, tmp, "yield", "done") == "done":
                alive.remove(name)
                p.wait()
    return {name: json.loads(rfile.read_text()) for name, (_, rfile, _) in procs.items()}


def _expect(name: str, p, tmp: Path, *words: str) -> str:
    line = p.stdout.readline().strip()
    if line not in words:
        p.kill()
        logs = [f for f in tmp.glob(f"{name}-*.log") if f.name.count("-") == name.count("-") + 1]
        tail = logs[0].read_text()[-3000:] if logs else ""
        raise SystemExit(f"configuration {name} failed (said {line!r}); its log ends:\n{tail}")
    return line


def run_alone(phase: str, settings: dict, tmp: Path) -> dict:
    sfile, rfile = tmp / f"{phase}.settings.json", tmp / f"{phase}.result.json"
    sfile.write_text(json.dumps(settings))
    with open(tmp / f"{phase}.log", "w") as log:
        p = subprocess.run([sys.executable, str(HERE / "speed_phases.py"), phase, str(sfile), str(rfile)],
                           stdout=subprocess.DEVNULL, stderr=log)
    if p.returncode:
        raise SystemExit(f"{phase} failed; its log ends:\n{(tmp / f'{phase}.log').read_text()[-3000:]}")
    return json.loads(rfile.read_text())


def report_train(s: dict, prep: dict, train: dict) -> dict:
    for r in train.values():
        r["per_s"] = r["samples"] / r["seconds"]
    print(f"\nfine-tuning: {s['steps']} steps x {s['batch_size']} rows, lr {s['lr']}, max_length 128, "
          f"English train {prep['train_rows']} rows (mean {prep['train_tokens']:.0f} tokens)"
          + "; samples/s over steps 2.. (step 1 warms up)" + ("; quick: no accuracies (too few steps)" if s["quick"] else ""))
    base = [b for b in ("a", "b", "c") if b in train]
    print(f"{'config':<13}{'samples/s':>10}" + "".join(f"{'vs ' + b:>7}" for b in base)
          + f"{'dev acc':>9}{'en test':>9}{'peak MB':>9}{'+peak':>7}")
    pct = lambda r, k: f"{100 * r[k]:.1f}" if k in r else "-"
    for name, r in train.items():
        print(f"{name:<13}{r['per_s']:>10.2f}" + "".join(f"{r['per_s'] / train[b]['per_s']:>6.2f}x" for b in base)
              + f"{pct(r, 'dev_acc'):>9}{pct(r, 'en_test_acc'):>9}{r['peak_rss_mb']:>9.0f}{r['phase_peak_mb']:>7.0f}")
    out = {}
    for x, b in (("xlt", "a"), ("xlt", "b"), ("xlt-emb", "b"), ("xlt-bf16", "c"), ("xlt-emb-bf16", "c"),
                 ("c", "b"), ("xlt-bf16", "xlt"), ("xlt-bf16", "b")):
        if x in train and b in train:
            out[f"train_{x}_vs_{b}".replace("-", "_")] = train[x]["per_s"] / train[b]["per_s"]
            if "dev_acc" in train[x]:
                diff = 100 * (train[x]["dev_acc"] - train[b]["dev_acc"])
                out[f"dev_acc_points_{x}_minus_{b}".replace("-", "_")] = diff
    return out


def report_eval(s: dict, prep: dict, ev: dict) -> dict:
    for r in ev.values():
        r["per_s"] = r["samples"] / r["seconds"]
    gap = lambda x, y: max(abs(ev[x]["acc"][l] - ev[y]["acc"][l]) for l in ev[x]["acc"])
    print(f"\nzero-shot evaluation: {len(s['languages'])} languages x "
          f"{s['per_language'] or 'all'} rows = {prep['test_rows']} rows (mean {prep['mean_tokens']:.0f} tokens); "
          f"largest per-language accuracy difference xlt vs base: {100 * gap('xlt', 'base'):.2f} points"
          + (f", xlt-bf16 vs xlt: {100 * gap('xlt-bf16', 'xlt'):.2f} points" if "xlt-bf16" in ev else ""))
    raws = [r for r in ("raw", "raw-bf16") if r in ev]
    print(f"{'config':<10}{'rows/s':>10}{'vs base':>9}" + "".join(f"{'vs ' + r:>12}" for r in raws)
          + f"{'mean acc':>10}{'peak MB':>9}{'+peak':>7}")
    for name, r in ev.items():
        acc = f"{100 * sum(r['acc'].values()) / len(r['acc']):.1f}" if "acc" in r else "-"
        print(f"{name:<10}{r['per_s']:>10.2f}{r['per_s'] / ev['base']['per_s']:>8.2f}x"
              + "".join(f"{r['per_s'] / ev[x]['per_s']:>11.2f}x" for x in raws)
              + f"{acc:>10}{r['peak_rss_mb']:>9.0f}{r['phase_peak_mb']:>7.0f}")
    share = ev["xlt"]["forward_s"] / ev["xlt"]["seconds"]
    print(f"xlt: {100 * share:.1f} % of its evaluation time is inside the model's forward (the rest: token cache, "
          f"collate, copies, decode, score); token cache: first tokenisation {prep['cache_miss_s']:.1f} s, "
          f"read back {prep['cache_hit_s']:.2f} s")
    out = {"eval_xlt_vs_raw": ev["xlt"]["per_s"] / ev["raw"]["per_s"],
           "eval_xlt_vs_base": ev["xlt"]["per_s"] / ev["base"]["per_s"],
           "eval_xlt_forward_share": share, "eval_acc_max_diff_points": 100 * gap("xlt", "base")}
    if "xlt-bf16" in ev:
        out.update({"eval_xlt_bf16_vs_raw": ev["xlt-bf16"]["per_s"] / ev["raw"]["per_s"],
                    "eval_xlt_bf16_vs_raw_bf16": ev["xlt-bf16"]["per_s"] / ev["raw-bf16"]["per_s"],
                    "eval_raw_bf16_vs_raw": ev["raw-bf16"]["per_s"] / ev["raw"]["per_s"],
                    "eval_bf16_acc_max_diff_points": 100 * gap("xlt-bf16", "xlt")})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 steps x 16, 40 languages x 6 rows, eval batches of "
                    "4096 tokens (same speed as the 16384 default on CPU, but more turns)")
    ap.add_argument("--model", default="me5-small-q4")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SIB-200 data folder")
    ap.add_argument("--json", type=Path, help="write the settings, per-configuration results and ratios here")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per process (0 = torch's default)")
    ap.add_argument("--steps", type=int, help="optimizer steps (default: quick 5, full 66 = 3 epochs)")
    ap.add_argument("--batch-size", type=int, help="training batch (default: quick 16, full 32)")
    ap.add_argument("--eval-batch", type=int, default=32, help="Trainer.predict batch of the base route")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=1, help="head initialisation, batch order, dropout")
    ap.add_argument("--languages", type=int, help="evaluate this many languages (default: quick 40, full all)")
    ap.add_argument("--per-language", type=int, help="test rows per language, spread over the file "
                    "(default: quick 6, full 48; 0 = all 204, ~2 h on 2 cores: the base route is slow)")
    ap.add_argument("--no-emb", action="store_true", help="skip the xlt-emb configurations (no equal-work ratio)")
    ap.add_argument("--fp32-only", action="store_true", help="skip the bf16 configurations (c, xlt-bf16, raw-bf16)")
    ap.add_argument("--compile", action="store_true", help="train.compile for xlt (torch.compile)")
    ap.add_argument("--eval-tokens", type=int, default=0, help="xlt's eval_max_tokens (0 = its default)")
    ap.add_argument("--eval-only", action="store_true", help="skip fine-tuning: evaluate a fresh head (speed only)")
    ap.add_argument("--profile", action="store_true", help="also profile xlt's fine-tuning and evaluation")
    args = ap.parse_args()
    quick = args.quick
    args.steps = args.steps or (5 if quick else 66)
    args.batch_size = args.batch_size or (16 if quick else 32)
    args.languages = args.languages if args.languages is not None else (40 if quick else 0)
    args.per_language = args.per_language if args.per_language is not None else (6 if quick else 48)
    args.eval_tokens = args.eval_tokens or (4096 if quick else 0)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xlt-speed-") as tmp_name:
        tmp = Path(tmp_name)
        s = settings_for(args, tmp)
        stage("tokenising into xlt's cache", t0)
        prep = run_alone("prepare", s, tmp)
        train_cfgs = [c for c in TRAIN if not ("-emb" in c[0] and args.no_emb)
                      and not (args.fp32_only and c[2].get("precision") == "bf16")]
        eval_cfgs = [c for c in EVAL if not (args.fp32_only and c[2].get("precision") == "bf16")]
        ckpt = None if args.eval_only else str(tmp / "xlt.pt")  # what every route evaluates: xlt's weights
        train = {}
        if not args.eval_only:
            stage("fine-tuning: " + ", ".join(c[0] for c in train_cfgs), t0)
            # one group per precision: all seven at once need ~25 GB at full size (a 2-core, 24 GB machine
            # OOM-killed one); the headline ratios compare within a precision, so within a group
            for group in ([c for c in train_cfgs if c[2].get("precision") != "bf16"],
                          [c for c in train_cfgs if c[2].get("precision") == "bf16"]):
                if group:
                    train.update(run_group([(n, p, {**e, "save": ckpt} if n == "xlt" else e) for n, p, e in group],
                                           s, tmp))
        stage("evaluation: " + ", ".join(c[0] for c in eval_cfgs), t0)
        ev = run_group(eval_cfgs, {**s, "checkpoint": ckpt}, tmp)
        if args.profile:
            stage("profile", t0)
        profile = run_alone("profile", {**s, "steps": min(s["steps"], 8)}, tmp) if args.profile else None
    ratios = {**(report_train(s, prep, train) if train else {}), **report_eval(s, prep, ev)}
    if profile:
        print_profile(profile)
    import torch

    out = {"settings": s, "prepare": prep, "train": train, "eval": ev, "profile": profile, "ratios": ratios,
           "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                       "torch": torch.__version__, "threads": args.threads or torch.get_num_threads(),
                       "device": args.device},
           "wall_s": time.perf_counter() - t0}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
    r = ratios
    head = ""
    if train:
        pts = lambda k: f" ({r[k]:+.1f} dev points)" if k in r else ""
        head = (f"fine-tune fp32: xlt {r['train_xlt_vs_b']:.2f}x b{pts('dev_acc_points_xlt_minus_b')}"
                + (f", equal work {r['train_xlt_emb_vs_b']:.2f}x b" if "train_xlt_emb_vs_b" in r else ""))
        if "train_xlt_bf16_vs_c" in r:
            head += (f"; bf16: xlt {r['train_xlt_bf16_vs_c']:.2f}x c{pts('dev_acc_points_xlt_bf16_minus_c')}"
                     + (f", equal work {r['train_xlt_emb_bf16_vs_c']:.2f}x c"
                        f"{pts('dev_acc_points_xlt_emb_bf16_minus_c')}"
                        if "train_xlt_emb_bf16_vs_c" in r else ""))
        head += "; "
    head += (f"eval fp32: xlt {r['eval_xlt_vs_raw']:.2f}x raw ({100 * r['eval_xlt_forward_share']:.0f} % in forward), "
             f"{r['eval_xlt_vs_base']:.2f}x Trainer.predict")
    if "eval_xlt_bf16_vs_raw" in r:
        head += (f"; bf16: xlt {r['eval_xlt_bf16_vs_raw']:.2f}x raw fp32, "
                 f"{r['eval_xlt_bf16_vs_raw_bf16']:.2f}x raw bf16 "
                 f"(max language diff vs fp32 {r['eval_bf16_acc_max_diff_points']:.2f} points)")
    print(f"HEADLINE {head} [{out['wall_s']:.0f} s]")


def print_profile(p: dict) -> None:
    for part in ("train", "eval"):
        total = p[part]["total_s"]
        print(f"\nprofile, xlt {part} ({p[part]['what']}): {total:.1f} s")
        for k, v in p[part]["phases"].items():
            print(f"  {k:<28}{v:>8.2f} s {100 * v / total:>5.1f} %")
        print("  top kernels (self time): " + ", ".join(f"{k} {v:.1f}s" for k, v in p[part]["ops"]))


if __name__ == "__main__":
    main()
