"""Run one study with many workers: local processes, submitit's local executor or a Slurm job array.

    xlt study s.yaml --workers 4                                   # 4 local processes
    xlt study s.yaml --launcher local --workers 2                  # submitit LocalExecutor (what tests use)
    xlt study s.yaml --launcher slurm --partition gpu --gpus-per-job 1 --max-parallel 16 --time 8:00:00

Every worker is a `Runner` with its own `Worker` (`xlt.study.claims`): the workers coordinate only
through the claims in the results database, so this module only fans them out and waits.

Preemption: a Slurm (or local) job gets SIGUSR2; `StudyJob.checkpoint` gives its run back
(status `interrupted`) and submitit requeues the job, which skips finished runs and restarts the
unfinished one from scratch (training does not resume mid-run).

Dependencies: the first run of every intermediate-checkpoint group (`claims.stage_leaders`) goes
first: the Slurm launcher submits these leaders as a pre-stage array and the rest with
`--dependency=afterany:<pre-stage>` (the local launcher waits for the pre-stage instead).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import submitit

from xlt.errors import XltError
from xlt.store.db import Store, normalize_url
from xlt.study.claims import PlanRow, Worker, stage_leaders
from xlt.study.cost import estimate
from xlt.study.data import hub_reachable
from xlt.study.runner import Runner


class StudyJob(submitit.helpers.Checkpointable):
    """One worker as a picklable job: a submitit job, or a local process of `--workers N`."""

    def __init__(self, study, db: str, since: float, only: list[str] | None = None, wait: bool = True,
                 threads: int = 0, lease_s: float = 180.0, heartbeat_s: float = 30.0):
        self.study, self.db, self.since, self.only, self.wait = study, db, since, only, wait
        self.threads, self.lease_s, self.heartbeat_s = threads, lease_s, heartbeat_s
        self._worker: Worker | None = None

    def __call__(self) -> dict:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        study = self.study
        if self.threads and not study.runtime.threads:  # N workers on one machine share its cores
            study = dataclasses.replace(study, runtime=dataclasses.replace(study.runtime, threads=self.threads))
        store = Store(self.db)
        self._worker = Worker(store, since=self.since, wait=self.wait, lease_s=self.lease_s,
                              heartbeat_s=self.heartbeat_s, poll_s=1.0)
        only = set(self.only) if self.only is not None else None
        return Runner(study, store, progress=False).run(self._worker, only=only)

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        if self._worker is not None:
            self._worker.release()
        fresh = StudyJob(self.study, self.db, self.since, self.only, self.wait, self.threads, self.lease_s,
                         self.heartbeat_s)
        return submitit.helpers.DelayedSubmission(fresh, *args, **kwargs)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_worker": None}  # a live DB engine and thread do not pickle


# -- launchers ------------------------------------------------------------------------------------
@dataclass
class LaunchOptions:
    launcher: str = "processes"  # processes (--workers N) | local (submitit LocalExecutor) | slurm
    workers: int = 0  # parallel workers or array jobs; 0 = 1 locally, one per unfinished run on Slurm
    folder: str = "xlt-results/jobs"  # submitit's pickles and logs
    time: str = "24:00:00"  # per job (Slurm syntax); a timed-out job requeues and resumes
    partition: str | None = None
    gpus_per_job: int = 1
    max_parallel: int = 0  # array jobs running at once (0 = all)
    account: str | None = None
    qos: str | None = None
    lease_s: float = 180.0
    heartbeat_s: float = 30.0


def slurm_minutes(text: str) -> int:
    """Slurm's --time syntax (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) in whole minutes."""
    try:
        days, _, clock = text.rpartition("-")
        parts = [int(p) for p in clock.split(":")]
        if days:
            h, m, s = (parts + [0, 0])[:3]
            seconds = int(days) * 86400 + h * 3600 + m * 60 + s
        else:
            seconds = {1: lambda m: m * 60, 2: lambda m, s: m * 60 + s,
                       3: lambda h, m, s: h * 3600 + m * 60 + s}[len(parts)](*parts)
    except (ValueError, KeyError, TypeError):
        raise XltError(f"--time {text!r}: expected minutes, H:M:S or D-H:M:S") from None
    if seconds <= 0:
        raise XltError(f"--time {text!r} must be positive")
    return -(-seconds // 60)


def launch(study, db: str, plan: list[PlanRow], opts: LaunchOptions) -> dict:
    """Run the unfinished runs of `plan` with several workers; wait unless they went to Slurm."""
    todo = sum(st != "done" for *_, st in plan)
    summary = {"runs": len(plan), "skipped": len(plan) - todo, "ran": 0}
    if not todo:
        return summary
    db, since = absolute_url(db), time.time()
    n = min(todo, opts.workers or (todo if opts.launcher == "slurm" else 1))
    threads = max(1, (os.cpu_count() or 1) // n) if opts.launcher != "slurm" else 0

    def job(only=None) -> StudyJob:
        return StudyJob(study, db, since, only, wait=opts.launcher != "slurm", threads=threads,
                        lease_s=opts.lease_s, heartbeat_s=opts.heartbeat_s)

    if opts.launcher == "processes":
        summary["ran"] = sum(r["ran"] for r in _run_processes([job() for _ in range(n)]))
        return summary
    executor = _executor(study, opts, n)
    leaders = stage_leaders(plan)
    if leaders:  # intermediate checkpoints first (one job per group), the rest after them
        pre = executor.submit_array([job([rid]) for rid in leaders])
        if opts.launcher == "slurm":
            executor.update_parameters(slurm_dependency=f"afterany:{pre[0].job_id.split('_')[0]}")
        else:
            summary["ran"] += sum(r["ran"] for r in _results(pre))
    jobs = executor.submit_array([job() for _ in range(n)])
    if opts.launcher == "slurm":
        ids = sorted({j.job_id.split("_")[0] for j in jobs + (pre if leaders else [])})
        return {**summary, "jobs": ids, "folder": opts.folder}
    summary["ran"] += sum(r["ran"] for r in _results(jobs))
    return summary


def absolute_url(db: str) -> str:
    """Jobs may start in another directory: a relative SQLite path is made absolute."""
    url = normalize_url(db)
    if url.startswith("sqlite:///"):
        return "sqlite:///" + str(Path(url.removeprefix("sqlite:///")).expanduser().resolve())
    return url


def _executor(study, opts: LaunchOptions, n: int) -> submitit.AutoExecutor:
    try:
        executor = submitit.AutoExecutor(folder=opts.folder, cluster=opts.launcher)
    except RuntimeError as exc:  # no srun/sbatch on this machine
        raise XltError(f"--launcher {opts.launcher}: {exc}") from None
    params = {"name": f"xlt-{study.name}", "timeout_min": slurm_minutes(opts.time), "nodes": 1,
              "tasks_per_node": 1}
    if opts.launcher == "slurm":
        params.update(gpus_per_node=opts.gpus_per_job, slurm_array_parallelism=opts.max_parallel or n)
        params.update({f"slurm_{k}": v for k, v in (("partition", opts.partition), ("account", opts.account),
                                                    ("qos", opts.qos)) if v})
    executor.update_parameters(**params)
    return executor


def _results(jobs) -> list[dict]:
    """Wait for local submitit jobs; one clear error naming the log of the first that failed."""
    out, failed = [], []
    for j in jobs:
        try:
            out.append(j.result())
        except Exception as exc:  # submitit re-raises the job's error with its traceback
            failed.append(f"{str(exc).strip().splitlines()[-1]} (log: {j.paths.stderr})")
    if failed:
        raise XltError(f"{len(failed)} of {len(jobs)} job(s) failed; first: {failed[0]}; finished runs are "
                       "stored, rerun the same command to resume")
    return out


def _run_processes(jobs: list[StudyJob]) -> list[dict]:
    """Each job in its own (spawned) process; all of them finish before the first error is raised."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    out, failed = [], []
    with ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in [pool.submit(j) for j in jobs]:
            try:
                out.append(future.result())
            except BrokenProcessPool:
                failed.append("a worker process died")
            except Exception as exc:
                failed.append(f"{type(exc).__name__}: {exc}")
    if failed:
        raise XltError(f"{len(failed)} of {len(jobs)} worker(s) failed; first: {failed[0]}; finished runs are "
                       "stored, rerun the same command to resume")
    return out


# -- dry run --------------------------------------------------------------------------------------
def describe(plan: list[PlanRow], store: Store, precision: str = "", workspace=None) -> str:
    """The grid with each run's state (done | running | failed | todo), the counts, and an estimate of
    the compute time left from the measured time of finished runs with the same model and task; with
    the study's `workspace`: what could not be read here, each model x task's resolved settings, and the
    cost model's FLOP / GPU-hour estimate (`xlt.study.cost`)."""
    claims, judge = store.claims(), Worker(store, since=0.0)
    lines, counts, left = [], dict.fromkeys(("done", "running", "failed", "todo"), 0), []
    if precision:  # what `precision: auto` became on this machine, and why (it is part of every run id)
        lines.append(precision)
    for run, rid, status in plan:
        row = claims.get(rid)
        state = "todo" if row is None else row["status"]
        if state in ("interrupted", "running") and not judge.live(row):
            state = "todo"  # given back, or its worker is dead: the next launch redoes it
        counts[state] += 1
        held = f"  [{row['worker']}]" if state == "running" else ""
        lines.append(f"{rid}  {state:7}  {run.model}  {run.task.name}  {run.method}  {run.intermediate}  "
                     f"seed={run.seed}{f'  {run.protocol} {run.target}' if run.target else ''}{held}")
        if state != "done":
            left.append(run)
    lines.append(f"{len(plan)} runs: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if workspace is not None:  # after the (long) run list, next to the counts and estimates
        lines += _unread(plan, workspace) + _settings(plan)
    lines += _estimate(left, store.timings())
    if workspace is not None:
        lines += estimate(left, _measured(plan, store), workspace)
        lines += [size] if (size := saved_models_line(plan, workspace)) else []
    return "\n".join(lines)


def _unread(plan: list[PlanRow], workspace) -> list[str]:
    """Tasks and models that could not be read here (dry run without the hub): listed with the task's
    declared languages; their runs' ids are provisional (data and weights are part of the id)."""
    out, seen = [], set()
    for run, _, _ in plan:
        data = workspace.task(run.task)
        if data.unread and run.task not in seen:
            seen.add(run.task)
            out.append(f"task {run.task.name}: not readable here ({data.unread}); {len(data.languages)} "
                       f"language(s) as declared: {' '.join(data.languages)}")
    for model in dict.fromkeys(run.model for run, _, _ in plan):
        ref = workspace.ref(model)
        if not Path(ref.location).is_dir() and not _is_commit(ref.revision) and not hub_reachable():
            out.append(f"model {model}: not readable here (hub offline); revision {ref.revision!r} unresolved")
    if out:
        out.append("run ids of these are provisional: the data's hash and the model's commit enter the id")
    return out


def _is_commit(revision: str) -> bool:
    return len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)


def _settings(plan: list[PlanRow]) -> list[str]:
    from xlt.report.settings import settings_table

    rows = {(run.model, run.task.name): run.train for run, _, _ in plan}
    return ["train settings per model x task (those that differ from TrainSettings defaults):"] + [
        "  " + line for line in settings_table(rows)]


def _measured(plan: list[PlanRow], store: Store) -> list[tuple]:
    """(RunSpec, train s, eval s, device) of the finished runs of `plan` (for the cost model's calibration)."""
    specs = {rid: run for run, rid, status in plan if status == "done"}
    out = []
    for row in store.runs() if specs else []:
        if row["run_id"] in specs and row["status"] == "done":
            prov = (row["config"] or {}).get("provenance") or {}
            device = (prov.get("gpu") or {}).get("name") or f"{prov.get('cpu') or 'cpu'}, " \
                f"{prov.get('torch_threads', '?')} thread(s)"
            out.append((specs[row["run_id"]], row["train_seconds"], row["eval_seconds"], device))
    return out


def _estimate(left: list, timings: list[dict]) -> list[str]:
    if not left:
        return []
    measured: dict[tuple, list[float]] = {}
    for t in timings:
        if t["train_seconds"] is not None or t["eval_seconds"] is not None:
            secs = (t["train_seconds"] or 0.0) + (t["eval_seconds"] or 0.0)
            measured.setdefault((t["model"], t["task"]), []).append(secs)
    if not any((run.model, run.task.name) in measured for run in left):
        return ["compute left: no finished run with the same model and task to measure it by"]
    groups: dict[tuple, int] = {}
    for run in left:
        groups[(run.model, run.task.name)] = groups.get((run.model, run.task.name), 0) + 1
    out = ["compute left (train + eval seconds of finished runs with the same model and task, on the "
           "device they ran on):"]
    total, unknown = 0.0, 0
    for (model, task), n in groups.items():
        secs = measured.get((model, task))
        if secs:
            per_run = sum(secs) / len(secs)
            total += n * per_run
            out.append(f"  {model}  {task}: {n} run(s) x {per_run:.0f} s = {n * per_run / 3600:.2f} h "
                       f"(mean of {len(secs)} finished)")
        else:
            unknown += n
            out.append(f"  {model}  {task}: {n} run(s) x unknown (no finished run to measure)")
    known = len(left) - unknown
    total_text = f"{total / 3600:.2f} h for {known} run(s)" if known else "unknown"
    out.append(f"  total: {total_text}" + (f"; unknown for {unknown} run(s)" if known and unknown else ""))
    return out


def saved_models_line(plan: list[PlanRow], workspace) -> str:
    """The dry run's disk estimate for `runtime.save: best` ('' when off): the runs still to do that train
    a head, each saving its encoder's parameters x 4 bytes (float32), its head and its tokenizer files."""
    from xlt.repro.saved import estimate_bytes

    runtime = workspace.runtime
    if runtime.save == "none":
        return ""
    per_run: dict[tuple, int | None] = {}
    total, n, unknown = 0, 0, set()
    for run, _, status in plan:
        data = workspace.task(run.task)
        if status == "done" or not data.kind.trains:
            continue
        key = (run.model, len(data.label_names))
        if key not in per_run:
            per_run[key] = estimate_bytes(workspace.ref(run.model), len(data.label_names))
        n += 1
        if per_run[key] is None:
            unknown.add(run.model)
        else:
            total += per_run[key]
    where = Path(runtime.save_dir).expanduser().resolve()
    text = f"saved models (runtime.save: {runtime.save}): {n} run(s) to do ≈ {_size(total)} under {where}"
    return text + (f"; size unknown for {', '.join(sorted(unknown))} (config not readable here)" if unknown else "")


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.3g} MB"
