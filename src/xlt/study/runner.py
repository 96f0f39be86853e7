"""Schedule a study: expand the grid into run specs, skip finished runs, compute and store the rest.

    cli -> launch (fan out workers) -> runner (this: plan, loop) -> claims (mark runs) -> run (compute)

Run ids are hashes of `RunSpec` (everything that determines a result), so re-running a study does no
work for finished runs and a killed study resumes with the first unfinished one.
"""

from __future__ import annotations

import dataclasses
import logging

import torch
from tqdm.auto import tqdm

from xlt import __version__, trackers
from xlt.methods import settings_for
from xlt.methods import check as check_method
from xlt.methods.intermediate import condition_from_label
from xlt.models import registry
from xlt.provenance import provenance, stale_libraries
from xlt.store.db import Store
from xlt.study.claims import PlanRow, Worker
from xlt.study.config import StudyConfig, to_dict
from xlt.study.protocols import expand
from xlt.study.run import Workspace, compute
from xlt.study.spec import RunSpec
from xlt.training import distributed, precision
from xlt.training.loop import pick_device

log = logging.getLogger("xlt")


class Runner:
    def __init__(self, study: StudyConfig, store: Store | None = None, progress: bool = True):
        """`store` may be None for `validate` (which never touches a database)."""
        self.study, self.store = study, store
        runtime = study.runtime if progress else dataclasses.replace(study.runtime, progress=False)
        self.workspace = Workspace(study.intermediate_setup, study.cache_dir, runtime)
        self.workspace.share_english = any(p.startswith("few-shot:") for p in study.protocols)
        self._validated: list[RunSpec] | None = None

    def validate(self, dry_run: bool = False) -> list[RunSpec]:
        """Everything a study needs, checked before anything is claimed or written: model names, every
        split of every task and language read through the readers (kept for the runs), labels, the
        resolved grid. Bad input raises one XltError here; `xlt validate` and `--dry-run` stop here.
        Done once per Runner: `plan` and `run` reuse the result. `dry_run`: a task whose data is not on
        this machine (unreachable hub, absent data_dir) is listed unread (provisional run ids) instead of
        stopping the listing."""
        if self._validated is None:
            for m in self.study.models:
                registry.resolve_name_only(m)
            for entry in self.study.tasks:
                data = self.workspace.task(entry)
                if not (dry_run and data.skip_unreadable()):
                    data.validate()
            for m in self.study.models if not dry_run else ():  # a method's settings against each model
                for meth in self.study.methods:                  # (LoRA's target layers; reads the config)
                    check_method(meth, settings_for(meth, self.study.method_settings), self.workspace.ref(m))
            self._validated = self.specs()
        return self._validated

    def specs(self) -> list[RunSpec]:
        """The grid in a stable order (model-major, so each model's data is tokenised once), each run
        resolved: its task's languages and version, its method's settings, its merged train settings with
        the precision it runs in."""
        study, ws = self.study, self.workspace
        device = pick_device(ws.runtime.device)
        out = []
        for m in study.models:
            weights = ws.ref(m).revision
            for entry in study.tasks:
                data = ws.task(entry)
                own = study.train_for(m, entry)  # study < preset < model < task (xlt.study.config)
                train = dataclasses.replace(own, precision=precision.resolve(own.precision, device))
                base = study.stage_train_for(m)
                base = dataclasses.replace(base, precision=precision.resolve(base.precision, device))
                for inter in study.intermediate:
                    cond = study.intermediate_setup.get(inter) or condition_from_label(inter)
                    for meth in study.methods:
                        for seed in study.seeds:
                            out.append(RunSpec(study.name, m, weights, entry, data.fingerprint, tuple(data.languages),
                                               data.spec.version, seed, meth, settings_for(meth, study.method_settings),
                                               inter, cond.stage_seed(seed), train,
                                               stage_base=None if base == train else base))
        return expand(out, study.protocols, study.few_shot, ws.task)  # protocols: one run per target language

    def plan(self) -> list[PlanRow]:
        """(run, run_id, status) for the whole grid, after `validate`."""
        runs = self.validate()
        status = self.store.run_status()
        out, seen = [], set()
        for run in runs:
            if run.run_id not in seen:  # `seeds: [1, 1]` or a model listed twice is one run
                seen.add(run.run_id)
                out.append((run, run.run_id, status.get(run.run_id, "todo")))
        return out

    def run(self, worker: Worker | None = None, only: set[str] | None = None,
            rerun_stale: bool = False) -> dict:
        """Run the grid's unfinished runs (or those in `only`), each claimed in the results DB first,
        so that several workers (`xlt.study.launch`) share one study. Counts are this worker's.
        `rerun_stale`: also recompute the finished runs that `stale` names (and only those)."""
        plan = self.plan()
        if not distributed.is_main():  # a data-parallel rank: run what rank 0 claims, store nothing
            return self._follow(plan)
        worker = worker or Worker(self.store)
        stale = self.stale(plan)
        if rerun_stale:
            worker.redo = frozenset(stale)
        left = self.store.link_study(self.study.name, [rid for _, rid, _ in plan])
        if left:
            log.warning("study %s: %d earlier run(s) are no longer in its grid (their data, weights or settings "
                        "changed); their rows are kept, results and reports show the current runs", self.study.name, left)
        todo = sum(st != "done" or rid in worker.redo for _, rid, st in plan)
        log.info("study %s: %d runs, %d done, %d to run", self.study.name, len(plan), len(plan) - todo, todo)
        if self.workspace.runtime.threads:
            torch.set_num_threads(self.workspace.runtime.threads)
        with tqdm(total=todo, desc=f"study {self.study.name}", unit="run",
                  disable=not self.workspace.runtime.progress) as bar:
            def execute(run: RunSpec, rid: str, w: Worker) -> bool:
                ok = self.execute(run, w)
                bar.update(int(ok))
                return ok
            ran = worker.work(plan, execute, only)
        distributed.broadcast(None)  # tell the other ranks the study is over
        return {"runs": len(plan), "skipped": len(plan) - todo, "ran": ran}

    def _follow(self, plan: list[PlanRow]) -> dict:
        """Ranks > 0 of a multi-process launch: take part in each run rank 0 announces."""
        runs, ran = {rid: run for run, rid, _ in plan}, 0
        while (rid := distributed.broadcast(None)) is not None:
            compute(runs[rid], self.workspace)
            ran += 1
        return {"runs": len(plan), "skipped": len(plan) - ran, "ran": ran}

    def execute(self, run: RunSpec, worker: Worker | None = None) -> bool:
        """Claim, compute and store one run; False when another worker holds or finished it."""
        worker = worker or Worker(self.store)
        if not worker.claim(run.run_id, self.describe(run)):
            return False
        distributed.broadcast(run.run_id)  # the other data-parallel ranks (if any) join this run
        with worker.holding(run.run_id):  # heartbeats: a dead worker's claim can be taken over
            try:
                result = compute(run, self.workspace)
            except BaseException as exc:
                worker.fail(run.run_id, exc)
                raise
            stored = worker.finish(run.run_id, result)
        if stored and self.workspace.runtime.trackers:  # mirror the stored run (xlt.trackers)
            trackers.log_run(self.workspace.runtime, self.store.url, run, result)  # the DB in use (--db wins)
        return stored

    def describe(self, run: RunSpec) -> dict:
        """The run's row in the `runs` table: its identity, the study as written, how it ran."""
        ref = self.workspace.ref(run.model)
        return {
            "study": run.study, "model": run.model, "model_revision": ref.revision, "task": run.task.name,
            "task_version": run.task_version, "method": run.method, "intermediate": run.intermediate,
            "seed": run.seed, "config_hash": run.run_id, "xlt_version": __version__, "protocol": run.protocol,
            "config": {"run": run.identity(), "study": to_dict(self.study), "model_location": ref.location,
                       "runtime": dataclasses.asdict(self.workspace.runtime),
                       "provenance": provenance(pick_device(self.workspace.runtime.device)),
                       # the pinned hub revision (or embedded version) the data came from; files are in `data`
                       "data_sources": sorted(s for s in self.workspace.task(run.task).sources
                                              if not s.startswith("file:"))},
        }

    def stale(self, plan: list[PlanRow]) -> set[str]:
        """Finished runs of `plan` computed under other library versions than this process has (see
        `xlt.provenance.stale_libraries`); logs one warning line saying which versions and how many."""
        done = {rid for _, rid, st in plan if st == "done"}
        if not done:
            return set()
        current = provenance(pick_device(self.workspace.runtime.device))
        ids, diffs = set(), {}
        for row in self.store.runs(self.study.name):
            if row["run_id"] in done and (diff := stale_libraries((row["config"] or {}).get("provenance"), current)):
                ids.add(row["run_id"])
                for lib, (old, new) in diff.items():
                    diffs.setdefault((lib, new), set()).add(str(old))
        if ids:
            what = ", ".join(f"{lib} {'/'.join(sorted(old))} (now {new})" for (lib, new), old in sorted(diffs.items()))
            log.warning("study %s: %d finished run(s) were computed under other library versions: %s; "
                        "--rerun-stale recomputes them", self.study.name, len(ids), what)
        return ids
