"""Run one study with many workers: local processes, submitit's local executor or a Slurm job array.

    xlt study s.yaml --workers 4                                   # 4 local processes
    xlt study s.yaml --launcher local --workers 2                  # submitit LocalExecutor (what tests use)
    xlt study s.yaml --launcher slurm --partition gpu --gpus-per-job 1 --max-parallel 16 --time 8:00:00

Every worker runs the same loop (`Worker.work`): read the claims in the results DB, claim a run that no
live worker holds (one locked transaction, see `Store.claim_run`), run it while a thread refreshes the
claim's heartbeat, store it, repeat. A claim is dead when its process is gone (same host) or its
heartbeat is older than `lease_s` (other hosts); anyone may then take the run over and redo it.
Scores are keyed by run + language + split + metric and a finished run is rewritten, never appended,
so a duplicated or retried job cannot double a row.

Preemption: a Slurm (or local) job gets SIGUSR2; `StudyJob.checkpoint` gives its run back
(status `interrupted`) and submitit requeues the job, which skips finished runs and restarts the
unfinished one from scratch (training does not resume mid-run).

Dependencies: runs with the same `dependency_key` (same model and intermediate condition other than
`none`) share one intermediate checkpoint. The first pending run of such a group runs alone; the
others wait until one of the group is done, so the checkpoint is trained once. The Slurm launcher
submits these group leaders as a pre-stage array and the rest with `--dependency=afterany:<pre-stage>`
(the local launcher waits for the pre-stage instead).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import submitit

from xlt.errors import XltError
from xlt.store.db import Store, normalize_url

log = logging.getLogger("xlt")

PlanRow = tuple  # (RunSpec, run_id, status) as Runner.plan() returns


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a killed process nobody has reaped yet is a zombie: dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def dependency_key(run) -> tuple | None:
    """Runs sharing this key reuse one intermediate-task checkpoint (None: no dependency)."""
    return None if run.intermediate == "none" else (run.model, run.intermediate)


def stage_leaders(plan: list[PlanRow]) -> list[str]:
    """The first unfinished run of every dependency group that has no finished run yet."""
    done = {dependency_key(r) for r, _, st in plan if st == "done"}
    leaders: dict[tuple, str] = {}
    for run, rid, st in plan:
        key = dependency_key(run)
        if key is not None and key not in done and st != "done":
            leaders.setdefault(key, rid)
    return list(leaders.values())


@dataclass
class Worker:
    """One claimant of runs in a shared results database."""

    store: Store
    since: float = field(default_factory=time.time)  # runs that failed after this are not retried
    lease_s: float = 180.0  # a claim from another host without a heartbeat for this long is dead
    heartbeat_s: float = 30.0
    poll_s: float = 5.0  # how often to look again while other workers hold the remaining runs
    wait: bool = True  # wait for runs held by others (and redo them if their worker dies); False: exit
    id: str = field(default_factory=worker_id)
    current: str | None = None
    preempted: bool = False  # set by `release`: claim nothing more

    def live(self, row: dict) -> bool:
        """Is the worker holding this row alive (same host: its process exists; else: fresh heartbeat)?"""
        if row["status"] != "running" or not row["worker"]:
            return False
        if row["worker"] == self.id:
            return True
        host, _, rest = row["worker"].partition(":")
        pid = rest.partition(":")[0]
        fresh = (row["heartbeat"] or 0.0) > time.time() - self.lease_s
        if host == socket.gethostname() and pid.isdigit():
            # a worker object of this very process that has ended held it when it died
            return fresh and int(pid) != os.getpid() and _pid_alive(int(pid))
        return fresh

    def claimable(self, row: dict) -> bool:
        if row["status"] == "done":
            return False
        if row["status"] == "failed":  # failed in this launch: not retried until the next one
            return (row["heartbeat"] or 0.0) < self.since
        return row["worker"] == self.id or not self.live(row)

    def claim(self, run_id: str, info: dict) -> bool:
        self.current = run_id  # before the claim commits: a preemption in between still gives it back
        if self.store.claim_run(run_id, info, self.id, self.claimable):
            return True
        self.current = None
        return False

    @contextmanager
    def holding(self, run_id: str):
        """Keep the claim on `run_id` fresh while the body runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat_s):
                try:
                    if not self.store.heartbeat(run_id, self.id):
                        log.warning("worker %s lost its claim on run %s (taken over)", self.id, run_id)
                        return
                except Exception as exc:  # a DB hiccup: the next beat tries again
                    log.warning("heartbeat of run %s failed: %s", run_id, exc)

        thread = threading.Thread(target=beat, name=f"xlt-heartbeat-{run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.current = None

    def release(self, timeout_s: float = 10.0) -> None:
        """Give the current run back (called from a preemption signal handler).

        In a thread with a timeout: the interrupted main thread may hold the SQLite write lock, and
        a dead process's claim is taken over anyway.
        """
        self.preempted, rid = True, self.current
        if rid is None:
            return
        released: list[bool] = []
        thread = threading.Thread(target=lambda: released.append(self.store.release_run(rid, self.id)),
                                  daemon=True)
        thread.start()
        thread.join(timeout_s)
        if released and released[0]:
            log.warning("worker %s gave run %s back (preempted)", self.id, rid)

    def work(self, plan: list[PlanRow], execute: Callable, only: set[str] | None = None) -> int:
        """Claim and `execute(run, run_id, worker)` runs until none is left to this worker.

        `execute` returns False when another worker claimed the run first. Returns how many ran here.
        """
        pending = {rid: run for run, rid, st in plan if st != "done" and (only is None or rid in only)}
        keys = {rid: dependency_key(run) for run, rid, _ in plan}
        unlocked = {keys[rid] for _, rid, st in plan if st == "done"}
        ran = 0
        while pending and not self.preempted:  # preempted: the job is being requeued
            ready, waiting = self._triage(pending, keys, unlocked, self.store.claims())
            for rid in ready:
                if self.preempted:
                    break
                ran += bool(execute(pending[rid], rid, self))
            if not ready:
                if not (waiting and self.wait):
                    break
                time.sleep(self.poll_s)
        return ran

    def _triage(self, pending: dict, keys: dict, unlocked: set, claims: dict) -> tuple[list[str], bool]:
        """(runs to try now, whether others hold or block some of the rest); drops finished runs."""
        for rid in list(pending):
            row = claims.get(rid)
            if row is not None and row["status"] == "done":
                unlocked.add(keys[rid])
                del pending[rid]
            elif row is not None and row["status"] == "failed" and not self.claimable(row):
                del pending[rid]
        ready, waiting, leaders = [], False, set()
        for rid in pending:
            key, row = keys[rid], claims.get(rid)
            if key is not None and key not in unlocked:
                if key in leaders:  # its group's checkpoint is being made by an earlier run
                    waiting = True
                    continue
                leaders.add(key)
            if row is not None and not self.claimable(row):
                waiting = True
                continue
            ready.append(rid)
        return ready, waiting


class StudyJob(submitit.helpers.Checkpointable):
    """One worker as a picklable job: a submitit job, or a local process of `--workers N`."""

    def __init__(self, study, db: str, since: float, only: list[str] | None = None, wait: bool = True,
                 threads: int = 0, lease_s: float = 180.0, heartbeat_s: float = 30.0):
        self.study, self.db, self.since, self.only, self.wait = study, db, since, only, wait
        self.threads, self.lease_s, self.heartbeat_s = threads, lease_s, heartbeat_s
        self._worker: Worker | None = None

    def __call__(self) -> dict:
        import torch

        from xlt.study.runner import Runner

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        if self.threads and not self.study.train.threads:
            torch.set_num_threads(self.threads)  # N workers on one machine share its cores
        store = Store(self.db)
        self._worker = Worker(store, since=self.since, wait=self.wait, lease_s=self.lease_s,
                              heartbeat_s=self.heartbeat_s, poll_s=1.0)
        only = set(self.only) if self.only is not None else None
        return Runner(self.study, store, progress=False).run(self._worker, only=only)

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
def describe(plan: list[PlanRow], store: Store) -> str:
    """The grid with each run's state (done | running | failed | todo), the counts, and an estimate of
    the compute time left from the measured time of finished runs with the same model and task."""
    claims, judge = store.claims(), Worker(store, since=0.0)
    lines, counts, left = [], dict.fromkeys(("done", "running", "failed", "todo"), 0), []
    for run, rid, status in plan:
        row = claims.get(rid)
        state = "todo" if row is None else row["status"]
        if state in ("interrupted", "running") and not judge.live(row):
            state = "todo"  # given back, or its worker is dead: the next launch redoes it
        counts[state] += 1
        held = f"  [{row['worker']}]" if state == "running" else ""
        lines.append(f"{rid}  {state:7}  {run.model}  {run.task.name}  {run.method}  {run.intermediate}  "
                     f"seed={run.seed}{held}")
        if state != "done":
            left.append(run)
    lines.append(f"{len(plan)} runs: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return "\n".join(lines + _estimate(left, store.timings()))


def _estimate(left: list, timings: list[dict]) -> list[str]:
    if not left:
        return []
    measured: dict[tuple, list[float]] = {}
    for t in timings:
        if t["train_seconds"] is not None or t["eval_seconds"] is not None:
            secs = (t["train_seconds"] or 0.0) + (t["eval_seconds"] or 0.0)
            measured.setdefault((t["model"], t["task"]), []).append(secs)
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
