"""`python killable.py PHASE NTH POINT MARKER -- XLT-ARGS...`: run the `xlt` CLI, and in the NTH run
this process executes, stop at POINT of PHASE: write MARKER, then sleep so the test can kill -9 the
process exactly there. Only observes (counts calls); the numbers are those of a plain `xlt` run.

PHASE  train: before backward pass POINT (1-based) of the run's training
       eval:  at the start of the test-set forward pass
       write: right after the INSERT INTO <POINT> of the run's final transaction, before it commits
"""

import os
import sys
import time
from pathlib import Path

import torch
from sqlalchemy import event
from sqlalchemy.engine import Engine

import xlt.study.run as run_mod
from xlt.cli.main import main

phase, nth, point, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
runs = backwards = 0


def hold() -> None:
    marker.write_text(str(os.getpid()))
    time.sleep(600)


compute = run_mod.compute


def counting_compute(*args, **kwargs):
    global runs
    runs += 1
    return compute(*args, **kwargs)


run_mod.compute = counting_compute
import xlt.study.runner  # noqa: E402  (binds the counting compute)

xlt.study.runner.compute = counting_compute

if phase == "train":
    backward = torch.Tensor.backward

    def counting_backward(self, *args, **kwargs):
        global backwards
        if runs == nth:
            backwards += 1
            if backwards == int(point):
                hold()
        return backward(self, *args, **kwargs)

    torch.Tensor.backward = counting_backward
elif phase == "eval":
    forward_rows = run_mod.forward_rows

    def watching_forward_rows(*args, **kwargs):
        if runs == nth and kwargs.get("desc") == "test":  # the test-set pass (dev checks say "dev")
            hold()
        return forward_rows(*args, **kwargs)

    run_mod.forward_rows = watching_forward_rows
elif phase == "write":
    @event.listens_for(Engine, "after_cursor_execute")
    def watch(conn, cursor, statement, *_):
        if runs == nth and statement.lstrip().upper().startswith(f"INSERT INTO {point.upper()} "):
            hold()
else:
    sys.exit(f"unknown phase {phase!r}")

sys.exit(main(sys.argv[sys.argv.index("--") + 1:]))
