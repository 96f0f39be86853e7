"""Accuracy parity of bf16 autocast against fp32: the same studies, the same seeds, two precisions.

    python bench/parity.py --out /tmp/parity                  # demo study + SIB-200 (84 languages x 3 seeds)
    python bench/parity.py --out /tmp/parity --only demo      # one study
    python bench/parity.py --out /tmp/parity --analyse        # only the tables, from the databases already there

Each (study, precision) is one `xlt` process writing its own SQLite database under --out
(`<study>-<precision>.sqlite`), one seed at a time, fp32 then bf16, so an interrupted measurement
leaves paired seeds (and resumes: finished runs are skipped). The token cache and converted model
are shared through $XLT_CACHE (tokens do not depend on the precision). Wall-clock seconds per
process go to `<study>-<precision>.seconds.json` (per seed).

The analysis pairs the runs by seed and test example: per language, bf16 minus fp32 accuracy in
points (mean over seeds), then the summary the issue asks for: mean over languages (goal within
0.3 points), the largest |difference| (goal 1.5 points at most) and the paired test of
xlt.analysis.stats.paired_difference (seeds paired, example bootstrap + permutation), per language
with Holm correction and over all languages at once. A language beyond 1.5 points only counts as a
failure when its Holm-corrected p-value is below 0.05 (otherwise it is seed noise).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
# ../shared/data next to the checkout (or next to a folder above it, as for a git worktree)
DEFAULT_DATA = next((p for p in (d / "shared" / "data" / "sib-200" for d in HERE.parents) if p.is_dir()),
                    HERE.parents[1] / "shared" / "data" / "sib-200")
PRECISIONS = ("fp32", "bf16")
MEAN_GOAL, MAX_GOAL = 0.3, 1.5  # points


def study_files(out: Path, data: Path) -> dict[str, tuple[list[str], str, list[int]]]:
    """study -> (xlt command line before the overrides, study name in the DB, seeds)."""
    from importlib import resources

    demo = yaml.safe_load((resources.files("xlt") / "studies" / "demo.yaml").read_text())
    sib = yaml.safe_load((HERE.parent / "examples" / "offline_sib200.yaml").read_text())
    sib["tasks"] = [{**sib["tasks"][0], "data_dir": str(data)}]
    path = out / "sib200.yaml"
    path.write_text(yaml.safe_dump(sib))
    return {"demo": (["demo"], demo["name"], demo["seeds"]),
            "sib200": (["study", str(path)], sib["name"], sib["seeds"])}


def measure(out: Path, which: list[str], data: Path, overrides: list[str]) -> None:
    """Seed by seed (every study's first seed first), fp32 then bf16: an interrupted measurement
    still leaves paired seeds of every study."""
    studies = study_files(out, data)
    order = sorted((seed, i, name) for i, name in enumerate(which) for seed in studies[name][2])
    for seed, _, name in order:
        for precision in PRECISIONS:
            times = out / f"{name}-{precision}.seconds.json"
            done = json.loads(times.read_text()) if times.is_file() else {}
            if str(seed) in done:  # measured before (a re-run would only time the skip)
                continue
            cmd = [sys.executable, "-m", "xlt.cli.main", "-q", *studies[name][0], "--db",
                   str(out / f"{name}-{precision}.sqlite"), f"train.precision={precision}", f"seeds=[{seed}]",
                   *overrides]
            print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd)}", flush=True)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - t0
            times.write_text(json.dumps({**done, str(seed): seconds}))
            print(f"[{time.strftime('%H:%M:%S')}] {name} seed {seed} {precision}: {seconds:.0f} s", flush=True)


def matrices(db: Path, metric: str) -> dict[str, np.ndarray]:
    """language -> seeds x examples scores (seeds in ascending order) of every finished run in `db`.

    Not through the study's links: each invocation runs one seed (`seeds=[s]`), so the study links only that
    seed's run; and a database holds one study in one precision, so its finished runs are the measurement. Where
    a seed was finished twice (its run id changed with xlt's code between seeds), the latest one counts."""
    from sqlalchemy import select

    from xlt.analysis.families import per_example_scores
    from xlt.store.db import Store, example_scores, runs

    q = (select(runs.c.seed, runs.c.finished_at, example_scores.c.language, example_scores.c["values"])
         .join(example_scores, example_scores.c.run_id == runs.c.run_id)
         .where(runs.c.status == "done", example_scores.c.metric == metric)
         .order_by(runs.c.finished_at))
    latest: dict[str, dict[int, np.ndarray]] = {}
    with Store(str(db)).engine.connect() as c:
        for seed, _, lang, values in c.execute(q):
            latest.setdefault(lang, {})[int(seed)] = per_example_scores(metric, values)
    return {lang: np.stack([by_seed[s] for s in sorted(by_seed)]) for lang, by_seed in latest.items()}


def compare(fp32: dict[str, np.ndarray], bf16: dict[str, np.ndarray], n_boot: int, seed: int = 0) -> dict:
    from xlt.analysis.stats import holm, paired_difference

    rng = np.random.default_rng(seed)
    langs = sorted(set(fp32) & set(bf16))
    rows = []
    for lang in langs:
        r = paired_difference(bf16[lang], fp32[lang], n_boot, n_boot, rng=rng, paired_seeds=True)
        rows.append({"language": lang, "fp32": 100 * fp32[lang].mean(), "bf16": 100 * bf16[lang].mean(),
                     "diff": 100 * r.diff, "low": 100 * r.low, "high": 100 * r.high, "p": r.p_value})
    for row, p in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = float(p)
    overall = paired_difference({l: bf16[l] for l in langs}, {l: fp32[l] for l in langs}, n_boot, n_boot,
                                rng=rng, paired_seeds=True)
    diffs = np.array([r["diff"] for r in rows])
    worst = rows[int(np.argmax(np.abs(diffs)))]
    beyond = [r for r in rows if abs(r["diff"]) > MAX_GOAL]
    failing = [r for r in beyond if r["p_holm"] < 0.05]
    return {"rows": rows, "n_languages": len(langs), "seeds": int(fp32[langs[0]].shape[0]),
            "mean_diff": float(diffs.mean()), "mean_abs_diff": float(np.abs(diffs).mean()),
            "max_abs_diff": float(abs(worst["diff"])), "worst": worst["language"],
            "beyond": [r["language"] for r in beyond], "significant_beyond": [r["language"] for r in failing],
            "overall": {"diff": 100 * overall.diff, "low": 100 * overall.low, "high": 100 * overall.high,
                        "p": overall.p_value},
            "parity": abs(diffs.mean()) <= MEAN_GOAL and not failing}


def report(name: str, res: dict, seconds: dict[str, float], verbose: bool) -> None:
    print(f"\n## {name}: bf16 minus fp32, accuracy points, {res['n_languages']} languages x {res['seeds']} seeds")
    if verbose:
        print(f"{'language':<12} {'fp32':>6} {'bf16':>6} {'diff':>6} {'95% CI':>15} {'p_holm':>7}")
        for r in res["rows"]:
            print(f"{r['language']:<12} {r['fp32']:6.2f} {r['bf16']:6.2f} {r['diff']:+6.2f} "
                  f"[{r['low']:+6.2f},{r['high']:+6.2f}] {r['p_holm']:7.3f}")
    o = res["overall"]
    q = np.percentile([abs(r["diff"]) for r in res["rows"]], [50, 90])
    print(f"mean diff {res['mean_diff']:+.3f} (goal |.| <= {MEAN_GOAL}); mean |diff| {res['mean_abs_diff']:.3f}; "
          f"median / p90 |diff| {q[0]:.2f} / {q[1]:.2f}; max |diff| {res['max_abs_diff']:.2f} ({res['worst']}; "
          f"goal <= {MAX_GOAL})")
    print(f"beyond {MAX_GOAL}: {len(res['beyond'])} language(s) {res['beyond']}; of them significant after Holm: "
          f"{res['significant_beyond'] or 'none'}")
    print(f"paired test over all languages: {o['diff']:+.3f} points, 95% CI [{o['low']:+.3f}, {o['high']:+.3f}], "
          f"p = {o['p']:.3f}")
    if seconds:
        ratio = f" ({seconds['fp32'] / seconds['bf16']:.2f}x)" if len(seconds) == 2 else ""
        print("wall time (a shared machine's load changes it; bench/speed.py measures speed): "
              + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ratio)
    print("PARITY " + ("holds" if res["parity"] else "FAILS"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the databases (kept for --analyse)")
    ap.add_argument("--only", choices=("demo", "sib200"), action="append", help="one study (repeatable)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SIB-200 data folder")
    ap.add_argument("--analyse", action="store_true", help="skip the measurement, tabulate what --out holds")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--per-language", action="store_true", help="print every language's row")
    ap.add_argument("--json", type=Path, help="write the comparison here too")
    ap.add_argument("overrides", nargs="*", help="key=value overrides for both precisions (e.g. runtime.threads=2)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    which = args.only or ["demo", "sib200"]
    if not args.analyse:
        measure(args.out, which, args.data.resolve(), args.overrides)
    results = {}
    for name in which:
        dbs = {p: args.out / f"{name}-{p}.sqlite" for p in PRECISIONS}
        if not all(db.is_file() for db in dbs.values()):
            print(f"\n## {name}: no databases in {args.out} (run without --analyse first)")
            continue
        mats = {p: matrices(db, "accuracy") for p, db in dbs.items()}
        n = min(m[next(iter(m))].shape[0] for m in mats.values())  # seeds both have (seeds ascending)
        mats = {p: {l: v[:n] for l, v in m.items()} for p, m in mats.items()}
        times = {p: args.out / f"{name}-{p}.seconds.json" for p in PRECISIONS}
        times = {p: json.loads(f.read_text()) for p, f in times.items() if f.is_file()}
        shared = set.intersection(*(set(t) for t in times.values())) if len(times) == 2 else set()
        seconds = {p: sum(t[s] for s in shared) for p, t in times.items()}  # seeds both precisions ran
        results[name] = compare(mats["fp32"], mats["bf16"], args.n_boot) | {"seconds": seconds}
        report(name, results[name], seconds, args.per_language)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["parity"] for r in results.values()) else 1


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
