"""kill -9 a real `xlt study` process during training, evaluation and a DB write; every rerun resumes,
and the final DB equals a clean sequential run's DB row for row (same seeds, CPU, one thread).

The kill points are drawn at random (seed XLT_KILL_SEED, default 0): the run, the training step or
the table whose INSERT the final transaction had just sent.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from tests.study.launch_helpers import sequential_reference, snapshot, write_study, xlt

KILLABLE = Path(__file__).with_name("killable.py")
ROOT = Path(__file__).resolve().parents[2]


def _kill_at(phase: str, nth: int, point, marker: Path, study: Path, db: str) -> None:
    cmd = [sys.executable, str(KILLABLE), phase, str(nth), str(point), str(marker), "--"] + xlt(
        "study", study, "--db", db)[3:]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while not marker.exists():
        assert proc.poll() is None, f"{phase}: exited {proc.returncode} before the kill point:\n{proc.stdout.read()}"
        assert time.time() < deadline, f"{phase}: kill point not reached"
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no handler, no clean-up, an open transaction stays uncommitted
    proc.wait()  # reaped, like a shell or a job scheduler would


def _by_run(snap: dict, table: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for row in snap[table]:  # run_id is every table's first column
        out.setdefault(row[0], []).append(row)
    return out


def test_kill_9_anywhere_then_resume_equals_clean_run(tiny_bert, tmp_path):
    study = write_study(tmp_path, tiny_bert, seeds=(1, 2))
    ref = sequential_reference(study, f"sqlite:///{tmp_path / 'clean.sqlite'}")
    assert len(ref["runs"]) == 2 and len(ref["scores"]) == 2 * 4  # 3 test languages + English dev

    rng = random.Random(int(os.environ.get("XLT_KILL_SEED", "0")))
    db = f"sqlite:///{tmp_path / 'killed.sqlite'}"
    kills = [("train", 1, rng.randint(1, 12)), ("eval", 1, 0),
             ("write", 2, rng.choice(["scores", "example_scores", "predictions"]))]
    compared = 0
    for i, (phase, nth, point) in enumerate(kills):
        t0 = time.time()
        _kill_at(phase, nth, point, tmp_path / f"kill{i}", study, db)
        snap = snapshot(db)
        states = {row[0]: row for row in snap["runs"]}
        for table in ("scores", "example_scores", "predictions"):
            got, want = _by_run(snap, table), _by_run(ref, table)
            for rid, rows in got.items():  # only finished runs have rows, and they are final
                assert "'done'" in states[rid], f"after the {phase} kill: rows of an unfinished run in {table}"
                assert rows == want[rid]
                compared += len(rows)
        assert sum("'running'" in r for r in snap["runs"]) == 1  # the killed attempt, taken over next time
        print(f"{phase} kill after {time.time() - t0:.1f} s")

    done = subprocess.run(xlt("study", study, "--db", db), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    final = snapshot(db)
    assert final == ref  # row for row: runs (minus timings), scores, example_scores, predictions
    rows = sum(len(v) for v in final.values())
    print(f"{len(kills)} kills, {compared} rows checked between kills, {rows} rows equal to the clean run")
