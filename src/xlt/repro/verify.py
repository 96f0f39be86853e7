"""`xlt verify S.tar.gz [--runs K] [--tolerance T]`: re-execute runs of a bundle and compare the scores.

    xlt verify demo.tar.gz --runs 1                  # one run (the first model x condition x task)
    xlt verify big.tar.gz --runs 6 --tolerance 1.0   # six runs, differences up to 1 point pass
    xlt verify big.tar.gz --data-dir sib200=/data/sib-200   # the data is elsewhere on this machine

Which runs: the bundle's runs grouped by model x condition (method, intermediate) x task, groups in
sorted order, each group's runs by seed; K runs are taken round-robin over the groups, so every
combination appears once K reaches the number of groups (the default). The choice depends only on
the bundle, so two reviewers asking for K runs re-execute the same ones.

How: each run is rebuilt from its stored configuration (`bundle.raw_study`, restricted to that run,
with the run's resolved training settings, precision included, and its runtime settings: threads,
evaluation batching, compile) and executed by the same code as `xlt study` (`Runner.execute`), into a
temporary results database (or `--db`). Its run id must equal the bundled one: a different id means
different data, weights or settings, and the verdict is "differs" (saying which), whatever the scores. Every stored score of the run (each
test language and metric, and English dev) is compared with the bundle's `results.sqlite`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from xlt.errors import XltError
from xlt.repro.bundle import FORMAT, raw_study, sha256

IDENTICAL, WITHIN, DIFFERS = "identical", "within tolerance", "differs"
DEFAULT_TOLERANCE = 0.5  # points (x100), like every score a person reads


@dataclass
class Verdict:
    run: dict  # the bundled runs row
    verdict: str = DIFFERS
    compared: int = 0  # scores compared
    max_diff: float = 0.0  # points
    worst: str = ""  # the largest difference, in words
    explain: list[str] = field(default_factory=list)  # provenance / identity differences


# -- the bundle ------------------------------------------------------------------------------------
def open_bundle(path, dest: Path) -> tuple[Path, dict, list[str]]:
    """Extract `path` into `dest`: (its root folder, manifest, notes on files that fail their checksum).
    One XltError when it is not a readable xlt bundle."""
    path = Path(path)
    if not path.is_file():
        raise XltError(f"bundle {path} not found" if not path.exists() else f"bundle {path} is not a file")
    try:
        with tarfile.open(path, "r:gz") as tar:  # xlt bundle writes gzip
            tar.extractall(dest, filter="data")  # no absolute paths, links out or devices
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise XltError(f"{path} is not an xlt bundle (not a readable .tar.gz: {why})") from None
    roots = [p.parent for p in dest.glob("*/manifest.json")]
    if len(roots) != 1:
        raise XltError(f"{path} is not an xlt bundle (no <study>/manifest.json inside; write one with xlt bundle)")
    root = roots[0]
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise XltError(f"{path}: manifest.json is unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        what = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise XltError(f"{path} is not an xlt bundle (manifest.json format {what!r}, expected {FORMAT!r})")
    if not (root / "results.sqlite").is_file():
        raise XltError(f"{path}: the bundle has no results.sqlite (incomplete bundle)")
    notes = []
    for name, digest in sorted((manifest.get("files") or {}).items()):
        f = root / name
        if not f.is_file():
            notes.append(f"{name} is listed in manifest.json but missing")
        elif sha256(f) != digest:
            notes.append(f"{name} was changed after bundling (sha256 differs from manifest.json)")
    return root, manifest, notes


def choose(runs: list[dict], k: int | None) -> list[dict]:
    """K runs, round-robin over the sorted model x method x intermediate x task groups (all groups once
    when `k` is None)."""
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(runs, key=lambda r: (r["seed"], r["run_id"])):
        groups.setdefault((r["model"], r["method"], r["intermediate"], r["task"]), []).append(r)
    ordered, depth = [], 0
    while len(ordered) < len(runs):
        ordered += [g[depth] for _, g in sorted(groups.items()) if depth < len(g)]
        depth += 1
    return ordered[: len(groups) if k is None else k]


# -- one run ---------------------------------------------------------------------------------------
def run_study_dict(run: dict, data_dirs: dict[str, str], progress: bool) -> dict:
    """The study file that computes exactly `run` (its stored configuration restricted to it)."""
    from xlt.training.settings import Runtime, check_device

    cfg = run["config"] or {}
    if "study" not in cfg or "run" not in cfg:
        raise XltError(f"run {run['run_id']} of the bundle has no stored configuration (made by an old xlt)")
    raw, ident = raw_study(cfg["study"]), cfg["run"]
    entry = dict(next(t for t in raw["tasks"] if t["name"] == run["task"]))
    if run["task"] in data_dirs:
        entry["data_dir"] = data_dirs[run["task"]]
    item = raw["intermediate"][cfg["study"]["intermediate"].index(run["intermediate"])]
    if isinstance(item, dict):
        task = item["condition"].partition(":")[2]
        item = {**item, **({"data_dir": data_dirs[task]} if task in data_dirs else {})}
        _exists(task, [item.get(k) for k in ("data_dir", "images", "features")])
    _exists(run["task"], [entry.get("data_dir")])
    known = {f.name for f in dataclasses.fields(Runtime)}
    runtime = {k: v for k, v in (cfg.get("runtime") or {}).items() if k in known}
    runtime.update(progress=progress, save="none")
    if check_device(str(runtime.get("device", "auto"))):
        runtime["device"] = "auto"  # the bundle's GPU is not here; the provenance notes the device
    raw.update(models=[run["model"]], tasks=[entry], seeds=[run["seed"]], methods=[run["method"]],
               intermediate=[item], train=dict(ident["train"]), runtime=runtime, db=None)
    raw.pop("cache_dir", None)  # the verifier's own cache (XLT_CACHE or the default)
    return raw


def _exists(task: str, paths: list) -> None:
    for p in paths:
        if p and not Path(p).expanduser().exists():
            raise XltError(f"the bundle's task {task} reads {p}, which does not exist on this machine: put the "
                           f"data there or pass --data-dir {task}=PATH")


def execute(run: dict, store, bundle: Path, data_dirs: dict[str, str], progress: bool) -> tuple[dict, dict]:
    """Re-execute `run` into `store`: (its identity as computed here, its runs row here)."""
    import torch

    from xlt.study.claims import Worker
    from xlt.study.config import parse_study
    from xlt.study.runner import Runner

    study = parse_study(run_study_dict(run, data_dirs, progress), f"{bundle} (study of run {run['run_id']})")
    runner = Runner(study, store, progress=progress)
    (spec,) = runner.validate()
    if store.run_status().get(spec.run_id) == "done":
        raise XltError(f"--db {store.url} already holds run {spec.run_id}: verify re-executes runs; give a "
                       "database without them (or no --db: a temporary one)")
    if study.runtime.threads:  # as `xlt study` does: the thread count can change CPU results
        torch.set_num_threads(study.runtime.threads)
    if not runner.execute(spec, Worker(store)):
        raise XltError(f"run {spec.run_id} is held by another worker in {store.url}")
    row = next(r for r in store.runs(study.name) if r["run_id"] == spec.run_id)
    return spec.identity(), row


def _scores(store, study: str, run_id: str) -> dict[tuple, float]:
    return {(s, r["language"], r["metric"]): r["value"] for s in ("test", "dev")
            for r in store.score_rows(study=study, split=s) if r["run_id"] == run_id}


def _norm(obj):
    return json.loads(json.dumps(obj, sort_keys=True, default=list))


def identity_diffs(bundled: dict, here: dict) -> list[str]:
    """What differs between the bundled run's identity and the one computed here, in words."""
    bundled, here = _norm(bundled), _norm(here)
    words = {"data": "the task's data files differ from the ones the run read",
             "weights": "the model weights differ from the ones the run used",
             "task_version": "the task reader's version differs"}
    out = []
    for key in sorted(set(bundled) | set(here)):
        a, b = bundled.get(key), here.get(key)
        if a == b:
            continue
        if key == "train" and isinstance(a, dict) and isinstance(b, dict):
            out += [f"train.{k} {a.get(k)!r} (bundle) vs {b.get(k)!r} (here)" for k in sorted(set(a) | set(b))
                    if a.get(k) != b.get(k)]
        elif key in words:
            out.append(f"{words[key]} ({key} {str(a)[:12]} vs {str(b)[:12]} here)")
        else:
            out.append(f"{key}: {json.dumps(a)[:60]} (bundle) vs {json.dumps(b)[:60]} (here)")
    return out


def provenance_diffs(bundled: dict | None, here: dict | None) -> list[str]:
    """Environment differences that can change numbers: libraries, xlt commit, device, GPU, CPU, threads."""
    if not bundled:
        return ["the bundled run has no provenance (made before xlt recorded it)"]
    here = here or {}
    out = []
    a, b = bundled.get("libraries") or {}, here.get("libraries") or {}
    out += [f"{k} {a.get(k)} (bundle) vs {b.get(k)} (here)" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    xa, xb = bundled.get("xlt") or {}, here.get("xlt") or {}
    if (xa.get("git_commit"), xa.get("git_dirty")) != (xb.get("git_commit"), xb.get("git_dirty")):
        def commit(x):
            return f"{str(x.get('git_commit') or 'unknown')[:12]}{' dirty' if x.get('git_dirty') else ''}"
        out.append(f"xlt commit {commit(xa)} (bundle) vs {commit(xb)} (here)")
    ga, gb = bundled.get("gpu") or {}, here.get("gpu") or {}
    for what, x, y in (("device", bundled.get("device"), here.get("device")), ("GPU", ga.get("name"), gb.get("name")),
                       ("CUDA", ga.get("cuda"), gb.get("cuda")), ("CPU", bundled.get("cpu"), here.get("cpu")),
                       ("torch threads", bundled.get("torch_threads"), here.get("torch_threads")),
                       ("python", bundled.get("python"), here.get("python"))):
        if x != y:
            out.append(f"{what} {x} (bundle) vs {y} (here)")
    return out


def compare(bundled: dict[tuple, float], here: dict[tuple, float], tolerance: float) -> tuple[str, int, float, str]:
    """(verdict, scores compared, largest difference in points, that difference in words)."""
    missing = sorted(set(bundled) ^ set(here))
    if missing:
        split, lang, metric = missing[0]
        side = "here" if missing[0] in bundled else "in the bundle"
        return DIFFERS, len(set(bundled) & set(here)), math.inf, \
            f"{len(missing)} score(s) missing, e.g. {lang} {split} {metric} not computed {side}"
    worst, diff = None, 0.0
    for key in sorted(bundled):
        d = abs(here[key] - bundled[key]) * 100
        if worst is None or d > diff:
            worst, diff = key, d
    if diff == 0.0:
        return IDENTICAL, len(bundled), 0.0, ""
    split, lang, metric = worst
    words = f"{lang} {split} {metric} {100 * here[worst]:.2f} here vs {100 * bundled[worst]:.2f} bundled"
    return (WITHIN if diff <= tolerance else DIFFERS), len(bundled), diff, words


# -- the whole check -------------------------------------------------------------------------------
def verify(bundle, runs: int | None = None, tolerance: float = DEFAULT_TOLERANCE, db: str | None = None,
           data_dirs: dict[str, str] | None = None, progress: bool = False) -> tuple[list[Verdict], dict, list[str]]:
    """Re-execute `runs` runs of `bundle` (see the module docstring): (verdicts, manifest, notes)."""
    from xlt.store.db import Store

    if runs is not None and runs < 1:
        raise XltError(f"--runs must be at least 1, got {runs}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise XltError(f"--tolerance must be a number of points >= 0, got {tolerance}")
    tmp = Path(tempfile.mkdtemp(prefix="xlt-verify-"))
    try:
        root, manifest, notes = open_bundle(bundle, tmp / "bundle")
        bundled = Store(str(root / "results.sqlite"), read_only=True)
        study = manifest.get("study")
        stored = [r for r in bundled.runs(study) if r["status"] == "done"]
        if not stored:
            raise XltError(f"{bundle}: the bundle holds no finished run of study {study!r}")
        store = Store(db) if db else Store(str(tmp / "verify.sqlite"))
        verdicts = []
        for run in choose(stored, runs):
            ident, row = execute(run, store, Path(bundle), data_dirs or {}, progress)
            v = Verdict(run)
            v.verdict, v.compared, v.max_diff, v.worst = compare(
                _scores(bundled, study, run["run_id"]), _scores(store, row["study"], row["run_id"]), tolerance)
            changed = identity_diffs((run["config"] or {}).get("run", {}), ident)
            v.explain = changed + provenance_diffs((run["config"] or {}).get("provenance"),
                                                   (row["config"] or {}).get("provenance"))
            if changed and v.verdict != DIFFERS:  # equal numbers from other inputs verify nothing
                v.verdict, v.worst = DIFFERS, f"not the bundled run (its run id differs): {changed[0]}"
            verdicts.append(v)
        store.engine.dispose()
        bundled.engine.dispose()
        return verdicts, manifest, notes
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def table(verdicts: list[Verdict], tolerance: float) -> str:
    """The verdict table: one line per run, then what differs in its environment."""
    head = ("run", "model", "task", "method / intermediate", "seed", "scores", "max |diff| (x100)", "verdict")
    rows = [(v.run["run_id"], v.run["model"], v.run["task"], f"{v.run['method']} / {v.run['intermediate']}",
             str(v.run["seed"]), str(v.compared), "-" if math.isinf(v.max_diff) else f"{v.max_diff:.2f}", v.verdict)
            for v in verdicts]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip()]
    for v, r in zip(verdicts, rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if v.worst:
            lines.append(f"    largest difference: {v.worst}")
        lines.append("    environment: " + ("; ".join(v.explain) if v.explain else
                                            "same library versions, xlt commit, device, CPU and threads"))
    lines.append(f"(identical: every score equal; within tolerance: no score more than {tolerance:g} points "
                 "away; scores compared: every test language and metric, and English dev)")
    return "\n".join(lines)
