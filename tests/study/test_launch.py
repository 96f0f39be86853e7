"""Launchers: `--workers 2` local processes and submitit's local executor (with a preemption) give the
sequential run's DB row for row; the Slurm array (pre-stage + dependency) as sbatch sees it; the
dependency order of intermediate-condition groups; the dry run's counts and compute estimate."""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from xlt.cli.main import main
from xlt.errors import XltError
from xlt.store.db import Store
from xlt.study.config import load_study
import xlt.study.launch as launch_module
from xlt.study.claims import Worker, stage_leaders
from xlt.study.launch import LaunchOptions, StudyJob, launch, slurm_minutes
from xlt.study.runner import Runner

from tests.store.pg import fresh_postgres_url
from tests.study.launch_helpers import BarrierJob, sequential_reference, snapshot, write_study

HOST = socket.gethostname()


@pytest.fixture(scope="module")
def study_and_reference(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("launch")
    study = write_study(root, tiny_bert, seeds=(1, 2, 3))
    return study, sequential_reference(study, f"sqlite:///{root / 'sequential.sqlite'}")


def test_two_local_worker_processes_equal_the_sequential_run(study_and_reference, tmp_path, capsys, monkeypatch):
    study, ref = study_and_reference
    db, started = tmp_path / "two.sqlite", tmp_path / "started"
    started.mkdir()
    real = launch_module._run_processes
    monkeypatch.setattr(launch_module, "_run_processes", lambda jobs: real([BarrierJob(started, 2, j) for j in jobs]))
    assert main(["-q", "study", str(study), "--db", str(db), "--workers", "2"]) == 0  # spawns 2 processes
    out = capsys.readouterr().out
    assert "3 run(s) executed, 0 already done" in out and "eng_Latn" in out
    assert snapshot(f"sqlite:///{db}") == ref
    pids = {int(p.name) for p in started.iterdir()}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes ran at once, neither this one
    ran_in = {int(r["worker"].split(":")[1]) for r in Store(str(db)).runs()}
    assert ran_in == pids  # and each of them ran runs
    plan = Runner(load_study(study), Store(str(db)), progress=False).plan()
    opts = LaunchOptions(workers=2, launcher="slurm")  # would fail here (no srun) if it started anything
    assert launch(load_study(study), str(db), plan, opts) == {"runs": 3, "skipped": 3, "ran": 0}


def test_submitit_local_jobs_survive_a_preemption(study_and_reference, tmp_path):
    """Two submitit-local jobs; one gets SIGUSR2 mid-run (Slurm's preemption signal), gives its run back
    and is requeued; the final DB equals the sequential run's."""
    study_file, ref = study_and_reference
    study, url, folder = load_study(study_file), f"sqlite:///{tmp_path / 'submitit.sqlite'}", tmp_path / "jobs"
    store = Store(url)
    plan = Runner(study, store, progress=False).plan()
    out: dict = {}
    runner = threading.Thread(target=lambda: out.update(launch(
        study, url, plan, LaunchOptions(launcher="local", workers=2, folder=str(folder), time="10"))))
    runner.start()
    preempted, deadline = None, time.time() + 240
    while preempted is None and runner.is_alive() and time.time() < deadline:
        held = [c for c in store.claims().values() if c["status"] == "running" and c["worker"]]
        if held:
            preempted = held[0]
            os.kill(int(preempted["worker"].split(":")[1]), signal.SIGUSR2)
        time.sleep(0.02)
    runner.join(240)
    assert preempted is not None and not runner.is_alive()
    assert out == {"runs": 3, "skipped": 0, "ran": 3}
    logs = "".join(p.read_text() for p in folder.glob("*_log.*"))
    assert "gave run" in logs and "back (preempted)" in logs and "Requeued job" in logs
    assert snapshot(url) == ref


def test_a_study_on_postgresql_stores_what_sqlite_stores(study_and_reference):
    study, ref = study_and_reference
    url = fresh_postgres_url()
    assert sequential_reference(study, url) == ref  # same rows, JSON and floats through psycopg


def _plan(*rows) -> list:
    def key(inter):  # what RunSpec.stage_key gives: one checkpoint per model and condition here
        return lambda: None if inter == "none" else ("m", inter)

    return [(SimpleNamespace(model="m", intermediate=inter, stage_key=key(inter)), rid, st) for rid, inter, st in rows]


def test_intermediate_groups_run_their_first_run_alone(tmp_path):
    plan = _plan(("t1", "text:a", "todo"), ("n1", "none", "todo"), ("t2", "text:a", "todo"),
                 ("t3", "text:a", "todo"), ("b1", "text:b", "done"), ("b2", "text:b", "todo"))
    assert stage_leaders(plan) == ["t1"]  # text:b has a finished run: its checkpoint exists
    w = Worker(Store(str(tmp_path / "r.sqlite")))
    pending = {rid: run for run, rid, st in plan if st != "done"}
    keys = {rid: ("m", run.intermediate) if run.intermediate != "none" else None for run, rid, _ in plan}
    other = {"status": "running", "worker": f"{HOST}:{os.getppid()}:x", "heartbeat": time.time()}

    def triage(claims):
        return w._triage(dict(pending), keys, {("m", "text:b")}, claims)

    assert triage({}) == (["t1", "n1", "b2"], True)  # t2, t3 wait for t1's checkpoint
    assert triage({"t1": other}) == (["n1", "b2"], True)
    assert triage({"t1": {**other, "status": "done"}}) == (["n1", "t2", "t3", "b2"], False)
    failed_now = {**other, "status": "failed", "heartbeat": time.time() + 1}
    assert triage({"t1": failed_now}) == (["n1", "t2", "b2"], True)  # the next in line makes it

    order = []  # one worker through the real loop: the leader is stored before its followers start
    store = w.store

    def execute(run, rid, worker):
        assert worker.claim(rid, {"study": "s", "model": "m", "task": "t", "method": "finetune",
                                  "intermediate": run.intermediate, "seed": 1})
        order.append(rid)
        store.finish_run(rid, [], [], {})
        return True
    assert w.work(plan, execute) == 5 and order[0] == "t1"


def _fake_slurm(tmp_path, monkeypatch) -> Path:
    """`sbatch` that keeps each script and answers like Slurm; `srun` that exists."""
    bin_dir, log = tmp_path / "bin", tmp_path / "sbatch"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text('#!/bin/sh\nn=$(ls "$FAKE_SBATCH" | wc -l); id=$((7000 + n))\n'
                                    'cp "$1" "$FAKE_SBATCH/$id.sh"\necho "Submitted batch job $id"\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    log.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SBATCH", str(log))
    return log


def test_slurm_array_with_intermediate_pre_stage(study_and_reference, tmp_path, monkeypatch):
    study_file, _ = study_and_reference
    study = load_study(study_file)
    with pytest.raises(XltError, match="--launcher slurm: .*srun"):
        launch(study, "x.sqlite", [(None, "r", "todo")], LaunchOptions(launcher="slurm", folder=str(tmp_path)))
    log = _fake_slurm(tmp_path, monkeypatch)
    plan = Runner(study, Store(str(tmp_path / "r.sqlite")), progress=False).plan()
    plan = [(dataclasses.replace(run, intermediate="text:xnli"), rid + "t", st) for run, rid, st in plan] + plan
    folder = tmp_path / "jobs"
    out = launch(study, str(tmp_path / "r.sqlite"), plan, LaunchOptions(
        launcher="slurm", partition="gpu", account="lab", qos="high", gpus_per_job=2, max_parallel=3,
        time="1-02:30:00", folder=str(folder)))
    assert out["jobs"] == ["7000", "7001"] and out["runs"] == 6 and out["ran"] == 0
    pre, main_array = (log / "7000.sh").read_text(), (log / "7001.sh").read_text()
    for script in (pre, main_array):
        for line in ("--partition=gpu", "--account=lab", "--qos=high", "--gpus-per-node=2", "--time=1590",
                     "--signal=USR2@", "--job-name=xlt-tiny"):
            assert f"#SBATCH {line}" in script
    assert "--array" not in pre and "--dependency" not in pre  # one leader: a single job
    assert "#SBATCH --array=0-5%3" in main_array and "#SBATCH --dependency=afterany:7000" in main_array
    jobs = [pickle.loads(p.read_bytes()) for p in folder.glob("*_submitted.pkl")]
    only = sorted(str(j.function.only) for j in jobs if isinstance(j.function, StudyJob))
    assert only == ["None"] * 6 + [f"[{plan[0][1]!r}]"]  # the leader: the first text:xnli run
    assert all(j.function.db == f"sqlite:///{tmp_path / 'r.sqlite'}" and not j.function.wait for j in jobs)


def test_slurm_time_syntax():
    assert [slurm_minutes(t) for t in ("90", "1:30", "2:00:00", "1-0", "1-02:30", "0-0:0:1")] == \
        [90, 2, 120, 1440, 1590, 1]
    for bad in ("soon", "1:2:3:4", "0"):
        with pytest.raises(XltError, match="--time"):
            slurm_minutes(bad)


def test_dry_run_states_and_compute_estimate(tiny_bert, tiny_xlmr, tmp_path, capsys):
    study_file = write_study(tmp_path, tiny_bert, seeds=(1, 2))
    raw = study_file.read_text().replace("models:\n", f"models:\n- {tiny_xlmr}\n")
    study_file.write_text(raw)
    db = str(tmp_path / "r.sqlite")
    store = Store(db)
    plan = Runner(load_study(study_file), store, progress=False).plan()
    by = {("bert" if r.model == str(tiny_bert) else "xlmr", r.seed): (rid, r.model) for r, rid, _ in plan}
    info = {rid: {"study": "tiny", "model": model, "task": "sib200", "method": "finetune", "intermediate": "none",
                  "seed": 1} for rid, model in by.values()}
    bert1, bert2, xlmr1 = by[("bert", 1)][0], by[("bert", 2)][0], by[("xlmr", 1)][0]
    live = Worker(store, id="node9:1:x")
    assert live.claim(bert1, info[bert1])
    store.finish_run(bert1, [], [], {"train_seconds": 30.0, "eval_seconds": 6.0})
    assert live.claim(bert2, info[bert2])  # held by a live worker on another node
    assert live.claim(xlmr1, info[xlmr1])
    store.fail_run(xlmr1, "RuntimeError: boom", live.id)

    assert main(["-q", "study", str(study_file), "--db", db, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "4 runs: 1 done, 1 running, 1 failed, 1 todo" in text
    assert f"{bert2}  running" in text and "[node9:1:x]" in text
    assert f"{tiny_bert}  sib200: 1 run(s) x 36 s = 0.01 h (mean of 1 finished)" in text
    assert f"{tiny_xlmr}  sib200: 2 run(s) x unknown" in text
    assert "total: 0.01 h for 1 run(s); unknown for 2 run(s)" in text

    store.heartbeat(bert2, live.id)
    with store._write() as c:  # node9 went silent 10 minutes ago: its run counts as todo again
        c.exec_driver_sql("UPDATE runs SET heartbeat = heartbeat - 600")
    assert main(["-q", "study", str(study_file), "--db", db, "--dry-run"]) == 0
    assert "4 runs: 1 done, 0 running, 1 failed, 2 todo" in capsys.readouterr().out
