"""Speed: xlt's fine-tuning and zero-shot evaluation against the HF Trainer route, in one run.

    python bench/speed.py --quick                      # < 5 min on 2 CPU cores: 5 steps, 40 languages x 6 rows
    python bench/speed.py --json bench/out/speed.json  # full: 3 epochs; 84 test languages x 48 rows
    python bench/speed.py --quick --profile            # plus where xlt's time goes, per phase

Every configuration runs the same network: xlt's SequenceClassifier (mean pooling, as e5 was
trained) on the same encoder, the same head initialisation (seed), data (SIB-200 English train/dev,
test languages from --data), batch size, steps, lr, linear warmup/decay, weight decay and clipping.
Inside HF Trainer it is wrapped to take labels and return loss + logits, as
AutoModelForSequenceClassification does, so the only differences are the loop and the batching.

Fine-tuning (samples/s over the training steps; English dev and test accuracy afterwards):
  a        HF Trainer as the example scripts run it: every row padded to max_length 128
  b        HF Trainer as a careful user runs it: DataCollatorWithPadding + group_by_length
  xlt      xlt's fine_tune: length-grouped batches, per-batch padding, frozen word embeddings
  xlt-emb  the same with the word-embedding table trained: what the freeze buys (and costs)
Zero-shot evaluation of xlt's checkpoint on the test languages:
  base     one Trainer.predict per language, tokenised and padded to 128, batch --eval-batch
  xlt      xlt's evaluation: tokens from its cache, one length-sorted pass over all languages,
           decode, score per language
  raw      only the model's forward over the same sorted batches, collated beforehand: the limit

How it is measured: each configuration is its own process, so its peak memory is its own: "peak"
is VmHWM from /proc (the high-water mark of resident memory), "+peak" its rise over the resident
memory when the measured work started (what the phase itself needs). The processes of one group
take turns forward call by forward call (a baton passed over pipes, see bench/speed_phases.py)
and only time inside a process's own turns counts, so a shared machine's load falls on all
configurations alike. The last line printed holds the headline ratios.
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
DEFAULT_DATA = HERE.parents[1] / "shared" / "data" / "sib-200"
TRAIN = [("a", "train_a", {}), ("b", "train_b", {}), ("xlt", "train_xlt", {}),
         ("xlt-emb", "train_xlt", {"freeze_embeddings": False})]
EVAL = [("base", "eval_base"), ("xlt", "eval_xlt"), ("raw", "eval_raw")]


def settings_for(args, tmp: Path) -> dict:
    from xlt.tasks import get_task

    langs = get_task("sib200", args.data).available_languages("test")
    if args.languages:
        langs = langs[:: max(1, len(langs) // args.languages)][: args.languages]
    return {"model": args.model, "data": str(args.data), "device": args.device, "threads": args.threads,
            "steps": args.steps, "batch_size": args.batch_size, "eval_batch": args.eval_batch, "lr": args.lr,
            "max_length": 128, "seed": args.seed, "freeze_embeddings": True, "compile": args.compile,
            "eval_max_tokens": args.eval_tokens, "quick": args.quick,
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
            p.stdin.write("go\n")
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
    print(f"{'config':<9}{'samples/s':>10}{'vs a':>7}{'vs b':>7}{'dev acc':>9}{'en test':>9}{'peak MB':>9}{'+peak':>7}")
    pct = lambda r, k: f"{100 * r[k]:.1f}" if k in r else "-"
    for name, r in train.items():
        print(f"{name:<9}{r['per_s']:>10.2f}{r['per_s'] / train['a']['per_s']:>6.2f}x"
              f"{r['per_s'] / train['b']['per_s']:>6.2f}x{pct(r, 'dev_acc'):>9}{pct(r, 'en_test_acc'):>9}"
              f"{r['peak_rss_mb']:>9.0f}{r['phase_peak_mb']:>7.0f}")
    a, b, x = train["a"], train["b"], train["xlt"]
    out = {"train_xlt_vs_a": x["per_s"] / a["per_s"], "train_xlt_vs_b": x["per_s"] / b["per_s"]}
    if "dev_acc" in x:
        out.update({"dev_acc_points_xlt_minus_a": 100 * (x["dev_acc"] - a["dev_acc"]),
                    "dev_acc_points_xlt_minus_b": 100 * (x["dev_acc"] - b["dev_acc"])})
    return out


def report_eval(s: dict, prep: dict, ev: dict) -> dict:
    for r in ev.values():
        r["per_s"] = r["samples"] / r["seconds"]
    base, xlt = ev["base"]["acc"], ev["xlt"]["acc"]
    agree = max(abs(base[l] - xlt[l]) for l in base)
    print(f"\nzero-shot evaluation: {len(s['languages'])} languages x "
          f"{s['per_language'] or 'all'} rows = {prep['test_rows']} rows (mean {prep['mean_tokens']:.0f} tokens); "
          f"largest per-language accuracy difference xlt vs base: {100 * agree:.2f} points")
    print(f"{'config':<9}{'rows/s':>10}{'vs base':>9}{'vs raw':>8}{'mean acc':>10}{'peak MB':>9}{'+peak':>7}")
    for name, r in ev.items():
        acc = f"{100 * sum(r['acc'].values()) / len(r['acc']):.1f}" if "acc" in r else "-"
        print(f"{name:<9}{r['per_s']:>10.2f}{r['per_s'] / ev['base']['per_s']:>8.2f}x"
              f"{r['per_s'] / ev['raw']['per_s']:>7.2f}x{acc:>10}{r['peak_rss_mb']:>9.0f}{r['phase_peak_mb']:>7.0f}")
    share = ev["xlt"]["forward_s"] / ev["xlt"]["seconds"]
    print(f"xlt: {100 * share:.1f} % of its evaluation time is inside the model's forward (the rest: token cache, "
          f"collate, copies, decode, score); token cache: first tokenisation {prep['cache_miss_s']:.1f} s, "
          f"read back {prep['cache_hit_s']:.2f} s")
    return {"eval_xlt_vs_raw": ev["xlt"]["per_s"] / ev["raw"]["per_s"],
            "eval_xlt_vs_base": ev["xlt"]["per_s"] / ev["base"]["per_s"],
            "eval_xlt_forward_share": share, "eval_acc_max_diff_points": 100 * agree}


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
    ap.add_argument("--no-emb", action="store_true", help="skip the xlt-emb configuration (default in --quick)")
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
        train_cfgs = [c for c in TRAIN if not (c[0] == "xlt-emb" and (quick or args.no_emb))]
        ckpt = None if args.eval_only else str(tmp / "xlt.pt")  # what every route evaluates: xlt's weights
        train = {}
        if not args.eval_only:
            stage("fine-tuning: " + ", ".join(c[0] for c in train_cfgs), t0)
            train = run_group([(n, p, {**e, "save": ckpt} if n == "xlt" else e) for n, p, e in train_cfgs], s, tmp)
        stage("evaluation: base, xlt, raw", t0)
        ev = run_group([(n, p, {}) for n, p in EVAL], {**s, "checkpoint": ckpt}, tmp)
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
        head = f"fine-tune xlt = {r['train_xlt_vs_a']:.2f}x (a) {r['train_xlt_vs_b']:.2f}x (b) samples/s"
        if "dev_acc_points_xlt_minus_a" in r:
            head += (f" (dev acc xlt-a {r['dev_acc_points_xlt_minus_a']:+.1f}, "
                     f"xlt-b {r['dev_acc_points_xlt_minus_b']:+.1f} points)")
        head += "; "
    print(f"HEADLINE {head}eval xlt = {r['eval_xlt_vs_raw']:.2f}x raw forward "
          f"({100 * r['eval_xlt_forward_share']:.0f} % in forward), {r['eval_xlt_vs_base']:.2f}x Trainer.predict "
          f"[{out['wall_s']:.0f} s]")


def print_profile(p: dict) -> None:
    for part in ("train", "eval"):
        total = p[part]["total_s"]
        print(f"\nprofile, xlt {part} ({p[part]['what']}): {total:.1f} s")
        for k, v in p[part]["phases"].items():
            print(f"  {k:<28}{v:>8.2f} s {100 * v / total:>5.1f} %")
        print("  top kernels (self time): " + ", ".join(f"{k} {v:.1f}s" for k, v in p[part]["ops"]))


if __name__ == "__main__":
    main()
