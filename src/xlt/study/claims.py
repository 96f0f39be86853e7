"""Claims: the only code that marks runs in the results database.

A worker claims a run (one locked transaction, `Store.claim_run`), keeps the claim fresh with a
heartbeat thread while it computes, then finishes (rows + done mark in one transaction), fails, or
gives the run back when preempted. A claim is dead when its process is gone (same host) or its
heartbeat is older than `lease_s` (other hosts); anyone may then take the run over and redo it.
Scores are keyed by run + language + split + metric and a finished run is rewritten, never
appended, so a duplicated or retried job cannot double a row.

Dependencies: runs with the same `RunSpec.stage_key()` (same model, intermediate
condition, stage seed and settings) share one intermediate checkpoint. The first pending run of such
a group runs alone; the others wait until one of the group is done, so the checkpoint is trained once.
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

from xlt.store.db import Store

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


def stage_leaders(plan: list[PlanRow]) -> list[str]:
    """The first unfinished run of every dependency group that has no finished run yet."""
    done = {r.stage_key() for r, _, st in plan if st == "done"}
    leaders: dict[tuple, str] = {}
    for run, rid, st in plan:
        key = run.stage_key()
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
    redo: frozenset = frozenset()  # finished runs to compute again (`--rerun-stale`), once per launch

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

    def claimable(self, row: dict, run_id: str | None = None) -> bool:
        if row["status"] == "done":  # only a `redo` run not yet finished again since this worker began
            return run_id in self.redo and (row["heartbeat"] or 0.0) < self.since
        if row["status"] == "failed":  # failed in this launch: not retried until the next one
            return (row["heartbeat"] or 0.0) < self.since
        return row["worker"] == self.id or not self.live(row)

    def claim(self, run_id: str, info: dict) -> bool:
        self.current = run_id  # before the claim commits: a preemption in between still gives it back
        if self.store.claim_run(run_id, info, self.id, lambda row: self.claimable(row, run_id),
                                redo=run_id in self.redo):
            return True
        self.current = None
        return False

    def finish(self, run_id: str, result) -> bool:
        """Store a computed run (`xlt.study.run.RunResult`) with its done mark; False if the claim was lost."""
        return self.store.finish_run(run_id, result.rows, result.per_example, result.info, result.preds, self.id,
                                     curve=result.curve)

    def fail(self, run_id: str, error: BaseException) -> None:
        self.store.fail_run(run_id, f"{type(error).__name__}: {error}", self.id)

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
        pending = {rid: run for run, rid, st in plan
                   if (st != "done" or rid in self.redo) and (only is None or rid in only)}
        keys = {rid: run.stage_key() for run, rid, _ in plan}
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
            if row is not None and row["status"] == "done" and not self.claimable(row, rid):
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
            if row is not None and not self.claimable(row, rid):
                waiting = True
                continue
            ready.append(rid)
        return ready, waiting
