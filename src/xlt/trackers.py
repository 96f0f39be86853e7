"""Experiment trackers: every finished run logged to TensorBoard, MLflow and/or Weights & Biases.

    runtime:
      trackers: [tensorboard, mlflow]     # any of tensorboard, mlflow, wandb
      tracker_dir: runs/trackers          # default: trackers/ next to a SQLite results DB

What a run logs: its hyperparameters (the `RunSpec` identity, flattened to `train.lr`, `task.name`, ...),
its fine-tuning curve (dev score, mean train loss and learning rate per step, as stored in the results
DB's `curves` table) and its final scores (`test/<metric>/<language>`, and the best English dev score).
The tracker run is named `<run id> <model / method / intermediate / task / seed N>` and tagged with the
run id, so a tracker run leads back to the results DB row. Trackers only mirror what the results DB
holds: a run is logged once it is stored (a run finished by another worker is logged by that worker),
and a tracker that fails costs a warning, never the stored run. A rerun replaces the run's TensorBoard
folder and its earlier MLflow run (deleted), as the results DB replaces its rows; W&B keeps both
(an offline run cannot be deleted).

Where each writes, under `tracker_dir`:
- tensorboard: `tensorboard/<study>/<run id>/` (`tensorboard --logdir <tracker_dir>/tensorboard`)
- mlflow: `sqlite:///<tracker_dir>/mlflow.db`, experiment = the study (`mlflow ui --backend-store-uri ...`);
  MLFLOW_TRACKING_URI, when set, wins. (MLflow 3 refuses its old `file:` store unless told to; its
  SQLite store is the local default it recommends.)
- wandb: project = the study, files under `wandb/`; WANDB_MODE=offline keeps it off the network
  (`wandb sync` uploads later). W&B's own settings (entity, API key) come from its environment.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xlt.study.run import RunResult
    from xlt.study.spec import RunSpec
    from xlt.training.settings import Runtime

log = logging.getLogger("xlt")

# tracker -> (modules it needs, what to install)
NEEDS = {
    "tensorboard": (("tensorboard",), "pip install tensorboard"),
    "mlflow": (("mlflow", "alembic"), "pip install mlflow-skinny alembic"),
    "wandb": (("wandb",), "pip install wandb"),
}
_PARAM_CHARS = 6000  # MLflow's limit on a parameter value


def check(names) -> str:
    """Why `runtime.trackers` cannot be used here ('' when it can): an unknown name or a missing package."""
    for name in names:
        if name not in NEEDS:
            return f"unknown tracker {name!r} (valid: {', '.join(NEEDS)})"
        modules, install = NEEDS[name]
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            return (f"tracker {name} needs the {missing[0]} package, which is not installed "
                    f'({install}, or pip install "xlt[trackers]")')
    return ""


def default_dir(db: str) -> Path:
    """`trackers/` next to a SQLite results file (a bare path or sqlite:///path); ./xlt-trackers otherwise."""
    if "://" not in db:
        return Path(db).expanduser().parent / "trackers"
    if db.startswith("sqlite:///") and len(db) > len("sqlite:///"):
        return Path(db.removeprefix("sqlite:///")).expanduser().parent / "trackers"
    return Path("xlt-trackers")


def flatten(d: dict, prefix: str = "") -> dict[str, object]:
    """{'train': {'lr': 2e-5}} -> {'train.lr': 2e-5}; lists become JSON text (trackers take scalars)."""
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(list(v), default=str)
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[key] = v
        else:
            out[key] = str(v)
    return out


def label(run: RunSpec) -> str:
    """A person's name for the run (the run id alone says nothing)."""
    return f"{run.model} / {run.method} / {run.intermediate} / {run.task.name} / seed {run.seed}"


def log_run(runtime: Runtime, db: str, run: RunSpec, result: RunResult) -> None:
    """Log one stored run to every tracker of `runtime` (`db`: the results DB's URL, for the default
    folder); a tracker that fails logs a warning."""
    root = Path(runtime.tracker_dir).expanduser() if runtime.tracker_dir else default_dir(db)
    record = Record(run.study, run.run_id, f"{run.run_id} {label(run)}", flatten(run.identity()),
                    result.curve, list(result.rows), result.info.get("dev_score"))
    for name in runtime.trackers:
        try:
            {"tensorboard": tensorboard, "mlflow": mlflow, "wandb": wandb}[name](record, root)
        except Exception as exc:  # the run is stored; a tracker's problem must not fail it
            log.warning("tracker %s could not log run %s: %s: %s", name, run.run_id, type(exc).__name__, exc)


class Record:
    """What every tracker logs of one run."""

    def __init__(self, study: str, run_id: str, name: str, params: dict, curve: list[dict], rows: list[dict],
                 dev_score: float | None):
        self.study, self.run_id, self.name, self.params = study, run_id, name, params
        self.curve, self.dev_score = curve, dev_score
        self.last_step = max((p["step"] for p in curve), default=0)
        # final scores: test/<metric>/<language> (and the dev row the run selected on)
        self.scores = {f"{r['split']}/{r['metric']}/{r['language']}": float(r["value"]) for r in rows}

    def points(self):
        """(step, {metric: value}) per curve point; dev only at evaluations."""
        for p in self.curve:
            values = {"train/loss": p.get("train_loss"), "train/lr": p.get("lr"), "train/epoch": p.get("epoch"),
                      "dev/score": p.get("dev")}
            yield int(p["step"]), {k: float(v) for k, v in values.items() if v is not None}


def tensorboard(rec: Record, root: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    folder = root / "tensorboard" / rec.study / rec.run_id
    shutil.rmtree(folder, ignore_errors=True)  # a rerun replaces the run's events
    with SummaryWriter(str(folder)) as w:
        w.add_text("run", rec.name)
        for step, values in rec.points():
            for key, value in values.items():
                w.add_scalar(key, value, step)
        for key, value in rec.scores.items():
            w.add_scalar(key, value, rec.last_step)
        # the HPARAMS tab: identity fields as columns, the final scores as its metrics
        metrics = dict(rec.scores)
        if rec.dev_score is not None:
            metrics["dev/best"] = float(rec.dev_score)
        params = {k: ("" if v is None else v) for k, v in rec.params.items()}
        for summary in hparams(params, metrics):
            w.file_writer.add_summary(summary)
        if rec.dev_score is not None:  # the hparams metric needs a scalar under its own tag
            w.add_scalar("dev/best", float(rec.dev_score), rec.last_step)


def mlflow(rec: Record, root: Path) -> None:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        root.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{(root / 'mlflow.db').resolve()}"
    with warnings.catch_warnings():  # MLflow's SQL store uses SQLAlchemy options that 2.1 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(rec.study)
    if exp is None:
        try:
            exp_id = client.create_experiment(rec.study)
        except Exception:  # another worker created it first
            exp_id = client.get_experiment_by_name(rec.study).experiment_id
    else:
        exp_id = exp.experiment_id
    for old in client.search_runs([exp_id], filter_string=f"tags.`xlt.run_id` = '{rec.run_id}'"):
        client.delete_run(old.info.run_id)  # a rerun replaces the earlier one
    run = client.create_run(exp_id, run_name=rec.name, tags={"xlt.run_id": rec.run_id})
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, step) for step, values in rec.points() for k, v in values.items()]
    metrics += [Metric(k, v, now, rec.last_step) for k, v in rec.scores.items()]
    if rec.dev_score is not None:
        metrics.append(Metric("dev/best", float(rec.dev_score), now, rec.last_step))
    params = [Param(k, str(v)[:_PARAM_CHARS]) for k, v in rec.params.items()]
    for i in range(0, max(len(metrics), len(params)), 100):  # log_batch takes <= 1000 metrics, <= 100 params
        client.log_batch(run.info.run_id, metrics=metrics[i:i + 100], params=params[i:i + 100],
                         tags=[RunTag("xlt.label", rec.name)] if i == 0 else [])
    client.set_terminated(run.info.run_id)


def wandb(rec: Record, root: Path) -> None:
    import wandb as wb

    folder = root / "wandb"
    folder.mkdir(parents=True, exist_ok=True)
    run = wb.init(project=rec.study, name=rec.name, config=rec.params, dir=str(folder), tags=[rec.run_id],
                  reinit="create_new", settings=wb.Settings(console="off", silent=True))
    try:
        for step, values in rec.points():
            run.log(values, step=step)
        run.summary.update({**rec.scores, "xlt.run_id": rec.run_id,
                            **({"dev/best": float(rec.dev_score)} if rec.dev_score is not None else {})})
    finally:
        run.finish()
