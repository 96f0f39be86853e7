"""`xlt bundle --study S -o S.tar.gz`: one finished study as an archive a reviewer can read and re-check.

    <study>/README.md            what is in the bundle and how to verify it
    <study>/manifest.json        format marker, study, who wrote it, sha256 of every other file
    <study>/study.yaml           the study as run (rebuilt from the configuration stored with its runs)
    <study>/runs/<run id>.json   per run: its identity (resolved settings, data and weights fingerprints),
                                 runtime, provenance (library versions, xlt commit, device), timings
    <study>/environment.txt      `pip freeze` of the environment that wrote the bundle (importlib.metadata)
    <study>/fingerprints.json    the data and model fingerprints the runs read, per task and per model
    <study>/results.json         `xlt results --format json` (validates against results.schema.json)
    <study>/results.sqlite       the study's rows of the results database (runs, scores, per-example
                                 scores, predictions, saved-model paths): every `xlt` reader opens it
    <study>/report/report.md     `xlt report` (Markdown; figures are not bundled)

Everything is read from the results database through the store's read API, and only the study's
current finished runs are bundled (runs it superseded and unfinished ones are left out, and counted).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from datetime import datetime, timezone
from importlib.metadata import distributions
from pathlib import Path

import yaml

from xlt.errors import XltError

FORMAT = "xlt-bundle"
VERSION = 1
N_BOOT = 2000  # bootstrap replicates (fixed seed): results.json and report.md equal what the commands write


def raw_study(cfg: dict) -> dict:
    """The study configuration as stored with a run (`config["study"]`, the parsed StudyConfig) back in
    the shape of a study file: parsing it again gives the same runs."""
    setup = cfg.get("intermediate_setup") or {}
    items = []
    for label in cfg["intermediate"]:
        cond = setup.get(label)
        if cond is None or (not cond.get("data") and not cond.get("stage")):
            items.append(label)
        else:  # the mapping form: condition + its data and stage settings (the label's digest covers them)
            items.append({"condition": f"{cond['kind']}:{cond['task']}", **cond["data"], **cond["stage"]})
    tasks = [{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in t.items() if v is not None}
             for t in cfg["tasks"]]
    raw = {"name": cfg["name"], "models": list(cfg["models"]), "tasks": tasks, "seeds": list(cfg["seeds"]),
           "methods": list(cfg["methods"]), "intermediate": items, "train": dict(cfg["train"]),
           "method_settings": dict(cfg.get("method_settings") or {}), "runtime": dict(cfg.get("runtime") or {}),
           "db": cfg.get("db")}
    if cfg.get("cache_dir"):
        raw["cache_dir"] = cfg["cache_dir"]
    return raw


def pip_freeze() -> list[str]:
    """`name==version` of every installed distribution, sorted (what `pip freeze` lists, without pip)."""
    seen = {}
    for d in distributions():
        name = d.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={d.version}"
    return [seen[k] for k in sorted(seen)]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False, sort_keys=True, default=str) + "\n",
                    encoding="utf-8")


def _copy_rows(src, study: str, run_ids: list[str], dest: Path) -> None:
    """The study's rows of every table into a fresh SQLite database at `dest`."""
    from sqlalchemy import inspect, select

    from xlt.store.db import Store, metadata

    out = Store(str(dest))
    with src.engine.connect() as r, out.engine.begin() as w:
        have = set(inspect(src.engine).get_table_names())
        for table in metadata.sorted_tables:  # parents (runs) before the rows that point at them
            if table.name not in have:  # a table newer than the source database
                continue
            q = select(table).where(table.c.run_id.in_(run_ids))
            if table.name == "study_runs":
                q = q.where(table.c.study == study)
            rows = [dict(row._mapping) for row in r.execute(q)]
            if rows:
                w.execute(table.insert(), rows)
    out.engine.dispose()  # the last connection closed: the WAL is folded into the file


def _fingerprints(runs: list[dict]) -> dict:
    data, models = {}, {}
    for r in runs:
        cfg = r["config"] or {}
        ident = cfg.get("run", {})
        entry = next((t for t in cfg.get("study", {}).get("tasks", []) if t["name"] == r["task"]), {})
        data.setdefault(r["task"], {"fingerprint": set(), "sources": set(), "data_dir": entry.get("data_dir"),
                                    "task_version": r["task_version"]})
        data[r["task"]]["fingerprint"].add(ident.get("data"))
        data[r["task"]]["sources"].update(cfg.get("data_sources", []))
        models.setdefault(r["model"], {"weights": set(), "location": cfg.get("model_location")})
        models[r["model"]]["weights"].add(ident.get("weights"))
    for d in (*data.values(), *models.values()):
        for k, v in d.items():
            if isinstance(v, set):
                d[k] = sorted(str(x) for x in v)
    return {"data": data, "models": models,
            "about": "data: sha256 of the bytes of every file a task's runs read (or its pinned hub revision); "
                     "models: hub commit, hash of a local model folder, or the embedded package version"}


def write_bundle(db, study: str, out: Path, progress: bool = False) -> dict:
    """Write `out` (.tar.gz) for `study` of the results database `db`; returns {"path", "runs", "bytes",
    "left_out"}. One XltError when the study has no finished runs."""
    from xlt.api import _store, results_document
    from xlt.provenance import source

    store = _store(db)
    runs = [r for r in store.runs(study) if r["status"] == "done"]
    if not runs:
        raise XltError(f"study {study!r} has no finished runs in {store.url} "
                       f"(studies: {', '.join(store.studies()) or 'none'})")
    runs.sort(key=lambda r: (r["task"], r["model"], r["method"], r["intermediate"], r["seed"], r["run_id"]))
    left_out = len(store.runs(study)) - len(runs) + store.superseded(study)
    saved = store.saved_models(study)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".xlt-bundle-", dir=out.parent))  # same disk: the final rename is atomic
    try:
        root = stage / _folder(study)
        # the study file(s) as run: one per distinct configuration stored with the runs, newest first
        configs: list[dict] = []
        for r in sorted(runs, key=lambda r: r["finished_at"], reverse=True):
            cfg = raw_study((r["config"] or {}).get("study", {})) if (r["config"] or {}).get("study") else None
            if cfg is not None and cfg not in configs:
                configs.append(cfg)
        names = ["study.yaml"] + [f"study-earlier-{i}.yaml" for i in range(1, len(configs))]
        header = ("# The study as run, rebuilt from the configuration stored with its runs (xlt bundle).\n"
                  "# Data and model paths are those of the machine that ran it.\n")
        root.mkdir(parents=True)
        for name, cfg in zip(names, configs):
            (root / name).write_text(header + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True),
                                     encoding="utf-8")
        for r in runs:
            cfg = dict(r["config"] or {})
            study_cfg = raw_study(cfg.pop("study")) if cfg.get("study") else None
            item = {k: v for k, v in r.items() if k not in ("config", "worker", "heartbeat", "error")}
            item.update(cfg, study_file=names[configs.index(study_cfg)] if study_cfg in configs else None,
                        saved_model=saved.get(r["run_id"]))
            _dump(root / "runs" / f"{r['run_id']}.json", item)
        (root / "environment.txt").write_text("\n".join(pip_freeze()) + "\n", encoding="utf-8")
        _dump(root / "fingerprints.json", _fingerprints(runs))
        doc = results_document(store, study, n_boot=N_BOOT)  # written as `xlt results --format json` writes it
        (root / "results.json").write_text(json.dumps(doc, indent=1, allow_nan=False, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        _copy_rows(store, study, [r["run_id"] for r in runs], root / "results.sqlite")
        _report(store, study, root / "report", progress)
        (root / "README.md").write_text(_readme(study, runs, out.name, left_out), encoding="utf-8")
        files = sorted(p for p in root.rglob("*") if p.is_file())
        _dump(root / "manifest.json", {
            "format": FORMAT, "version": VERSION, "study": study, "runs": len(runs), "left_out": left_out,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "xlt": source(),
            "files": {str(p.relative_to(root)): sha256(p) for p in files}})
        tmp_out = stage / "bundle.tar.gz"
        with tarfile.open(tmp_out, "w:gz") as tar:
            tar.add(root, arcname=root.name, filter=_portable)
        os.replace(tmp_out, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {"path": str(out), "runs": len(runs), "bytes": out.stat().st_size, "left_out": left_out}


def _report(store, study: str, dest: Path, progress: bool) -> None:
    """report.md of `xlt report` (the analyses are the report's own; figures are left out of the bundle)."""
    from xlt.report.build import analyse
    from xlt.report.document import Figure
    from xlt.report.markdown import render
    from xlt.report.sections import report_blocks

    runs, scores, analyses = analyse(store, study, n_boot=N_BOOT, progress=progress)
    blocks = [b for b in report_blocks(study, runs, scores, analyses, N_BOOT) if not isinstance(b, Figure)]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "report.md").write_text(render(blocks), encoding="utf-8")


def _portable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No user names or ids of the machine that wrote it."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _folder(study: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in study) or "study"


def _readme(study: str, runs: list[dict], archive: str, left_out: int) -> str:
    models = sorted({r["model"] for r in runs})
    tasks = sorted({r["task"] for r in runs})
    groups = len({(r["model"], r["method"], r["intermediate"], r["task"]) for r in runs})
    prov = (runs[0]["config"] or {}).get("provenance") or {}
    libs = ", ".join(f"{k} {v}" for k, v in (prov.get("libraries") or {}).items() if v)
    return f"""# Reproduction bundle: study `{study}`

{len(runs)} finished run(s): {len(models)} model(s) ({', '.join(models)}) x {len(tasks)} task(s) ({', '.join(tasks)}),
{groups} model x condition x task combination(s), seeds {sorted({r['seed'] for r in runs})}.
{f"{left_out} run(s) of the study are not included (unfinished, or superseded by changed data, weights or settings)." if left_out else ""}

Written by xlt {prov.get('xlt', {}).get('version', '?')} (git {str(prov.get('xlt', {}).get('git_commit') or 'unknown')[:12]}); the first run used
{libs or 'unrecorded library versions'} on {prov.get('device', '?')} ({prov.get('gpu', {}) and prov['gpu'].get('name') or prov.get('cpu', '?')}).

## Verify it

```bash
pip install "xlt==<the version above>"      # or a checkout of the commit above
xlt verify {archive} --runs 1               # one run; --runs N for more (every model x condition x task when N allows)
```

`xlt verify` re-executes runs of this bundle from their stored settings (`study.yaml` restricted to the
run, with the run's resolved training settings, precision included) and compares every per-language
score (test and English dev) with `results.sqlite`:

- **identical**: every score equal, as expected on the same machine type with the same library versions;
- **within tolerance**: no score further than `--tolerance` points (x100; default 0.5) from the bundled one;
- **differs**: a score beyond the tolerance, or a language missing; `verify` then exits with code 1.

Each verdict lists the provenance differences that may explain a difference: library versions
(`environment.txt`, and per run `runs/<id>.json` -> `provenance`), xlt commit, device, GPU/CUDA, CPU,
torch threads. If the data or weights on your machine are not the ones the run read, its run id
differs, and verify says which fingerprint changed (`fingerprints.json`). Data folders must exist at
the paths in `study.yaml`, or be given with `--data-dir TASK=PATH`. Intermediate-task checkpoints already
in your xlt cache are reused; `XLT_CACHE=$(mktemp -d) xlt verify ...` recomputes them too.

## Read it

```bash
tar xzf {archive}
xlt results --db {_folder(study)}/results.sqlite --study {study}
xlt families --db {_folder(study)}/results.sqlite --study {study}
xlt report --db {_folder(study)}/results.sqlite --study {study} -o report/
```

`results.json` is the machine-readable document (schema: `xlt/schemas/results.schema.json` in xlt),
`report/report.md` the report, `runs/` the settings and provenance of every run, `manifest.json` the
sha256 of every file (verify reports files edited after bundling).
"""
