"""Results store: SQLAlchemy Core over SQLite (default) or any URL (PostgreSQL on clusters).

Tables
- runs:           one row per run (model x condition x task x seed), with the resolved config.
- scores:         long table, one row per (run, language, split, metric).
- example_scores: per-example scores per (run, language, metric) as JSON, so later analysis can
                  bootstrap over test examples.
- curves:         the fine-tuning curve, one row per (run, step) point (`curves` below).

A run's scores are written in the same transaction that marks it done: a killed process leaves
either a finished run or none, never half of one, and rewriting a run replaces its rows (no doubles).

Several workers (processes, Slurm jobs) share one database: a worker *claims* a run before running it
(`claim_run`: status running + its worker id + a heartbeat, decided and written in one locked
transaction), refreshes the heartbeat while it works, and a claim whose worker died can be taken over.
SQLite write transactions start with BEGIN IMMEDIATE (one writer at a time, waiting up to 60 s, never
a stale read-then-write); on PostgreSQL the run's row is locked with SELECT ... FOR UPDATE.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON, BigInteger, Column, DateTime, Float, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint,
    create_engine, delete, event, func, inspect, make_url, select, update,
)
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError

from xlt.errors import XltError

if TYPE_CHECKING:
    import pandas as pd

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("study", String(200), nullable=False),
    Column("model", String(500), nullable=False),
    Column("model_revision", String(200)),
    Column("task", String(100), nullable=False),
    Column("task_version", String(50)),
    Column("method", String(100), nullable=False),
    Column("intermediate", String(200), nullable=False),
    Column("seed", Integer, nullable=False),
    Column("config", JSON),
    Column("config_hash", String(64)),
    Column("xlt_version", String(50)),
    Column("status", String(20), nullable=False),  # running | done | failed | interrupted
    Column("dev_score", Float),
    Column("best_step", Integer),
    Column("train_seconds", Float),
    Column("eval_seconds", Float),
    Column("peak_rss_mb", Float),
    Column("trainable_params", BigInteger),  # parameters the run trained (LoRA: adapters + head)
    Column("total_params", BigInteger),  # all parameters of the trained model
    Column("error", Text),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("worker", String(200)),  # who claimed the run: host:pid:token
    Column("heartbeat", Float),     # epoch seconds of the claim's last sign of life
    Column("stage", JSON),  # the intermediate stage the run started from: seeds, lrs, diagnostics
    Column("protocol", String(100)),  # transfer protocol (zero-shot | few-shot:K | translate-train); NULL: zero-shot
)

# columns added after the first release: created on older databases when they are opened
_ADDED_COLUMNS = ("worker", "heartbeat", "stage", "protocol", "trainable_params", "total_params")
# transient errors worth retrying: SQLite's single writer, PostgreSQL deadlocks and dropped connections
_TRANSIENT = ("locked", "busy", "deadlock detected", "could not serialize", "server closed the connection")


def _per_run(name: str, constraint: str, key: tuple[str, ...], *columns: Column) -> Table:
    """A table of rows belonging to one run, unique per (run_id, *key): a rewrite can never double."""
    return Table(
        name, metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False, index=True),
        *columns,
        UniqueConstraint("run_id", *key, name=constraint),
    )


scores = _per_run(
    "scores", "uq_score", ("language", "split", "metric"),
    Column("language", String(50), nullable=False),
    Column("split", String(20), nullable=False),
    Column("metric", String(50), nullable=False),
    Column("value", Float, nullable=False),
    Column("n", Integer),
)

# which studies include which runs: a run shared by two studies is computed once, listed in both
study_runs = Table(
    "study_runs", metadata,
    Column("study", String(200), primary_key=True),
    Column("run_id", String(64), primary_key=True),
)

example_scores = _per_run(
    "example_scores", "uq_example_scores", ("language", "metric"),
    Column("language", String(50), nullable=False),
    Column("metric", String(50), nullable=False),
    Column("values", JSON, nullable=False),
)


# test-set predictions per (run, language), in test-example order, for leaderboard export
predictions = _per_run(
    "predictions", "uq_predictions", ("language",),
    Column("language", String(50), nullable=False),
    Column("values", JSON, nullable=False),
)

# where `runtime.save: best` wrote a run's fine-tuned model (xlt.repro.saved). A table rather than a runs
# column: databases from before it stay readable read-only (the table is created on the next write open)
saved_models = _per_run(
    "saved_models", "uq_saved_models", (),
    Column("path", Text, nullable=False),
    Column("bytes", BigInteger),
)


# the fine-tuning curve per (run, step): `train_loss` is the mean training loss over the optimizer steps
# since the run's previous point, `lr` the learning rate the step applied, `dev` the English dev score
# (main metric, [0, 1]) at evaluation steps and NULL between them. Tables new to an older database are
# created when it is opened for writing; a read-only reader of one sees no curves.
curves = _per_run(
    "curves", "uq_curves", ("step",),
    Column("step", Integer, nullable=False),
    Column("epoch", Float),
    Column("dev", Float),
    Column("train_loss", Float),
    Column("lr", Float),
)


def default_url(path: str | Path = "xlt-results/results.sqlite") -> str:
    return f"sqlite:///{Path(path)}"


def normalize_url(url: str) -> str:
    """A bare path means a SQLite file; `postgresql://` uses psycopg 3 when psycopg2 is absent."""
    if "://" not in url:
        return default_url(url)
    if url.startswith("postgresql://"):
        try:
            import psycopg2  # noqa: F401  (SQLAlchemy's default PostgreSQL driver)
        except ImportError:
            return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _check_sqlite_path(path: Path, read_only: bool) -> None:
    """One clear line for a SQLite path that cannot be a database (before SQLite says something vaguer)."""
    if path.is_dir():
        raise XltError(f"results database {path} is a directory, not a file")
    if read_only:
        if not path.is_file():
            raise XltError(f"no results database at {path} (run a study first, or pass --db)")
        if not _sqlite_or_empty(path):
            raise XltError(f"{path} is not a SQLite database")
        return
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise XltError(f"cannot create results database {path}: {parent} is a file, not a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise XltError(f"cannot create results database {path}: {exc.strerror}") from None
    if path.is_file() and not _sqlite_or_empty(path):
        raise XltError(f"{path} is not a SQLite database (refusing to write into it)")


def _sqlite_or_empty(path: Path) -> bool:
    """Whether the file starts with SQLite's header (an empty file is a database not yet written)."""
    with path.open("rb") as fh:
        head = fh.read(16)
    return not head or head == b"SQLite format 3\x00"


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    def __init__(self, url: str, read_only: bool = False):
        """Open (and with `read_only=False` create or upgrade) a results database. `read_only` never
        creates, upgrades or writes anything: reading commands use it on databases that must exist."""
        url = normalize_url(url)
        self.sqlite = url.startswith("sqlite")
        self.url = url
        shown = url
        if self.sqlite and url != "sqlite://":
            _check_sqlite_path(Path(url.removeprefix("sqlite:///")).expanduser(), read_only)
        try:
            shown = make_url(url).render_as_string(hide_password=True)
            engine_url = url
            if read_only and self.sqlite and url != "sqlite://":  # SQLite's own read-only mode
                engine_url = f"sqlite:///file:{Path(url.removeprefix('sqlite:///')).expanduser()}?mode=ro&uri=true"
            self.engine = create_engine(engine_url, connect_args={"timeout": 60} if self.sqlite else {},
                                        pool_pre_ping=not self.sqlite)
        except Exception as exc:  # bad URL or missing DB driver
            hint = ' (pip install "xlt[postgres]")' if "postgres" in url else ""
            raise XltError(f"cannot open results database {shown!r}: {exc}{hint}") from exc
        if self.sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._writer = self.engine.execution_options(xlt_write=True)
        try:
            if read_only:
                self._check_schema(shown)
            else:
                self._retry(self._create, also=("already exists", "duplicate", "UNIQUE"))
        except DatabaseError as exc:  # server down, wrong credentials, unwritable or not a database file
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
            raise XltError(f"cannot open results database {shown!r}: {detail}") from None

    def _check_schema(self, shown: str) -> None:
        """A database to read must hold xlt's tables, as this version writes them."""
        have = set(inspect(self.engine).get_table_names())
        if "runs" not in have:
            raise XltError(f"{shown!r} is not an xlt results database (no runs table)")
        missing = [n for n in _ADDED_COLUMNS if n not in {c["name"] for c in inspect(self.engine).get_columns("runs")}]
        if missing:
            self._read_older(missing)

    def _read_older(self, missing: list[str]) -> None:
        """Read a database written by an older xlt without changing it: every connection gets a temporary
        view `runs` (temporary objects are searched before the database's own, in SQLite and PostgreSQL)
        with the columns added since as NULL. Tables added since are absent; their readers check first."""
        schema = "main" if self.sqlite else inspect(self.engine).default_schema_name
        nulls = ", ".join(f"NULL AS {name}" for name in missing)
        view = f"CREATE TEMP VIEW runs AS SELECT *, {nulls} FROM {schema}.runs"

        def add_view(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(view)
            cur.close()
            if not self.sqlite:
                dbapi_conn.commit()

        event.listen(self.engine, "connect", add_view)
        self.engine.dispose()  # connections opened before the listener lack the view

    def _create(self) -> None:
        with self._write() as c:
            metadata.create_all(c)
            have = {col["name"] for col in inspect(c).get_columns("runs")}
            for name in _ADDED_COLUMNS:
                if name not in have:
                    kind = runs.c[name].type.compile(c.dialect)
                    c.exec_driver_sql(f"ALTER TABLE runs ADD COLUMN {name} {kind}")

    @contextmanager
    def _write(self):
        """A write transaction (BEGIN IMMEDIATE on SQLite: the lock is taken before the first read)."""
        with self._writer.begin() as c:
            yield c

    @staticmethod
    def _retry(fn, attempts: int = 8, also: tuple[str, ...] = ()):
        """SQLite allows one writer; concurrent workers retry on 'database is locked' with backoff.

        `also`: further transient messages (two workers creating the tables of a new file race on
        "table already exists"; the retry then finds the tables and creates nothing).
        """
        for i in range(attempts):
            try:
                return fn()
            except (OperationalError, IntegrityError) as exc:
                if not any(t in str(exc) for t in _TRANSIENT + also) or i == attempts - 1:
                    raise
                time.sleep(0.05 * 2**i)

    # -- runs -------------------------------------------------------------------------------
    def run_status(self) -> dict[str, str]:
        with self.engine.connect() as c:
            return dict(c.execute(select(runs.c.run_id, runs.c.status)).all())

    def claims(self) -> dict[str, dict]:
        """run_id -> status, worker and heartbeat of every run (what schedulers decide on)."""
        q = select(runs.c.run_id, runs.c.status, runs.c.worker, runs.c.heartbeat)
        with self.engine.connect() as c:
            return {r.run_id: dict(r._mapping) for r in c.execute(q)}

    def timings(self) -> list[dict]:
        """model, task, train_seconds, eval_seconds of every finished run (throughput estimates)."""
        q = (select(runs.c.model, runs.c.task, runs.c.train_seconds, runs.c.eval_seconds)
             .where(runs.c.status == "done"))
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def link_study(self, study: str, run_ids: list[str]) -> int:
        """Make `study` include exactly these runs (its current grid; idempotent). Runs it included
        before and no longer does (their data, weights or settings changed) keep their rows but leave
        the study; returns how many left."""
        def tx() -> int:
            with self._write() as c:
                gone = delete(study_runs).where(study_runs.c.study == study, study_runs.c.run_id.not_in(run_ids))
                left = c.execute(gone).rowcount
                _link(c, study, run_ids)
                return left
        return self._retry(tx, also=("UNIQUE", "duplicate key"))

    def superseded(self, study: str) -> int:
        """Finished runs that `study` created but no longer includes (see `link_study`)."""
        linked = select(study_runs.c.run_id).where(study_runs.c.study == study)
        q = select(func.count()).select_from(runs).where(runs.c.study == study, runs.c.status == "done",
                                                         runs.c.run_id.not_in(linked))
        with self.engine.connect() as c:
            return int(c.execute(q).scalar())

    def start_run(self, run_id: str, info: dict) -> None:
        """Record that a run started (replacing an unfinished attempt; a done run is never reset)."""
        self.claim_run(run_id, info)

    def claim_run(self, run_id: str, info: dict, worker: str | None = None,
                  claimable: Callable[[dict], bool] | None = None, redo: bool = False) -> bool:
        """Take a run for `worker`; False when it is done (unless `redo` and `claimable` agree: a run to
        recompute, `--rerun-stale`) or `claimable(row)` refuses the current row.

        Decided and written in one locked transaction, so of two workers claiming the same run
        exactly one gets True. Taking over an unfinished attempt deletes its rows.
        """
        def tx() -> bool:
            with self._write() as c:
                row = c.execute(select(runs.c.status, runs.c.worker, runs.c.heartbeat)
                                .where(runs.c.run_id == run_id).with_for_update()).first()
                values = dict(info, status="running", started_at=_now(), worker=worker, heartbeat=time.time())
                if row is None:
                    c.execute(runs.insert().values(run_id=run_id, **values))
                elif ((row.status == "done" and not redo)
                      or (claimable is not None and not claimable(dict(row._mapping)))):
                    return False
                else:  # reset every result column of the old attempt, keep the row (and its lock)
                    fresh = {col.name: None for col in runs.c if col.nullable}
                    c.execute(update(runs).where(runs.c.run_id == run_id).values(**{**fresh, **values}))
                    _delete_results(c, run_id)
                _link(c, info["study"], [run_id])
                return True
        return self._retry(tx, also=("UNIQUE", "duplicate key"))

    def heartbeat(self, run_id: str, worker: str) -> bool:
        """Refresh `worker`'s claim; False when the claim is no longer its own."""
        return self._set_if_held(run_id, worker, {})

    def release_run(self, run_id: str, worker: str) -> bool:
        """Give a claimed run back unfinished (a preempted job): anyone may claim it at once."""
        return self._set_if_held(run_id, worker, {"status": "interrupted"})

    def _set_if_held(self, run_id: str, worker: str | None, values: dict) -> bool:
        cond = [runs.c.run_id == run_id, runs.c.status == "running"]
        if worker is not None:
            cond.append(runs.c.worker == worker)

        def tx() -> bool:
            with self._write() as c:
                return c.execute(update(runs).where(*cond).values(heartbeat=time.time(), **values)).rowcount > 0
        return self._retry(tx)

    def finish_run(self, run_id: str, rows: Iterable[dict], per_example: Iterable[dict], info: dict,
                   preds: Iterable[dict] = (), worker: str | None = None, curve: Iterable[dict] = ()) -> bool:
        """Atomically store all scores (and predictions) of a run and mark it done.

        Rewriting a run replaces its old rows, so a retried run never doubles them. With `worker`,
        only while that worker still holds the run (False, nothing written, once it was given back
        or taken over: the new holder stores it).
        """
        rows, per_example, preds, curve = list(rows), list(per_example), list(preds), list(curve)
        info = dict(info)
        saved = info.pop("saved_model", None)  # {path, bytes}: its own table

        def tx() -> bool:
            with self._write() as c:
                row = c.execute(select(runs.c.status, runs.c.worker).where(runs.c.run_id == run_id)
                                .with_for_update()).first()
                if worker is not None and (row is None or row.status != "running" or row.worker != worker):
                    return False
                _delete_results(c, run_id)
                if rows:
                    c.execute(scores.insert(), [{"run_id": run_id, **r} for r in rows])
                if per_example:
                    c.execute(example_scores.insert(), [{"run_id": run_id, **r} for r in per_example])
                if preds:
                    c.execute(predictions.insert(), [{"run_id": run_id, **r} for r in preds])
                if curve:
                    c.execute(curves.insert(), [{"run_id": run_id, **_curve_point(p)} for p in curve])
                if saved:
                    c.execute(saved_models.insert(), [{"run_id": run_id, **saved}])
                c.execute(update(runs).where(runs.c.run_id == run_id).values(
                    status="done", finished_at=_now(), heartbeat=time.time(), error=None, **info))
                return True
        return self._retry(tx)

    def fail_run(self, run_id: str, error: str, worker: str | None = None) -> None:
        """Mark a running attempt failed (not one that was released or taken over meanwhile)."""
        self._set_if_held(run_id, worker, {"status": "failed", "error": error[:4000], "finished_at": _now()})

    # -- reading ----------------------------------------------------------------------------
    def score_rows(self, study: str | None = None, task: str | None = None, split: str = "test") -> list[dict]:
        """Long table of finished runs' scores joined with their run metadata."""
        q = (
            select(runs.c.study, runs.c.model, runs.c.task, runs.c.method, runs.c.intermediate, _PROTOCOL, runs.c.seed,
                   runs.c.run_id, scores.c.language, scores.c.metric, scores.c.value, scores.c.n)
            .join(scores, scores.c.run_id == runs.c.run_id)
            .where(runs.c.status == "done", scores.c.split == split)
        )
        if study:
            q = q.join(study_runs, study_runs.c.run_id == runs.c.run_id).where(study_runs.c.study == study)
        else:  # every study's current runs (superseded ones belong to none)
            q = q.where(runs.c.run_id.in_(select(study_runs.c.run_id)))
        if task:
            q = q.where(runs.c.task == task)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def predictions(self, run_id: str) -> dict[str, list]:
        """Stored test predictions of a run: language -> values in test-example order."""
        with self.engine.connect() as c:
            q = select(predictions.c.language, predictions.c["values"]).where(predictions.c.run_id == run_id)
            return dict(c.execute(q).all())

    def runs(self, study: str | None = None) -> list[dict]:
        q = select(runs)
        if study:
            q = q.join(study_runs, study_runs.c.run_id == runs.c.run_id).where(study_runs.c.study == study)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def saved_models(self, study: str | None = None) -> dict[str, dict]:
        """run_id -> {path, bytes} of the finished runs whose model was saved (`runtime.save: best`);
        {} for a database opened read-only from before saved models existed."""
        if not inspect(self.engine).has_table("saved_models"):
            return {}
        q = (select(saved_models.c.run_id, saved_models.c.path, saved_models.c.bytes)
             .join(runs, runs.c.run_id == saved_models.c.run_id).where(runs.c.status == "done"))
        if study:
            q = q.join(study_runs, study_runs.c.run_id == runs.c.run_id).where(study_runs.c.study == study)
        with self.engine.connect() as c:
            return {r.run_id: {"path": r.path, "bytes": r.bytes} for r in c.execute(q)}

    # -- reading for analysis: DataFrames (xlt.analysis and xlt.report read only these) -----------
    def studies(self) -> list[str]:
        """Names of the studies that include at least one run, sorted."""
        with self.engine.connect() as c:
            return sorted(c.execute(select(study_runs.c.study).distinct()).scalars())

    def runs_frame(self, study: str | None = None) -> "pd.DataFrame":
        """One row per run of `study` (every status), the columns of the `runs` table."""
        frame = _frame(self.runs(study), [c.name for c in runs.c])
        return frame.fillna({"protocol": "zero-shot"})  # rows written before protocols existed

    def scores_frame(self, study: str | None = None, task: str | None = None, split: str = "test") -> "pd.DataFrame":
        """`score_rows` as a DataFrame: one row per finished run / language / metric, scores in [0, 1]."""
        return _frame(self.score_rows(study, task, split), SCORE_COLUMNS)

    def example_frame(self, study: str, task: str | None = None, metric: str | None = None) -> "pd.DataFrame":
        """Per-example scores of the finished runs of `study`, in one query: one row per run / language /
        metric with its run's condition and seed; `scores` holds the stored list in test-example order
        (one number per example, or per-sentence counts for corpus-level F1)."""
        q = (select(runs.c.task, runs.c.model, runs.c.method, runs.c.intermediate, _PROTOCOL, runs.c.seed, runs.c.run_id,
                    example_scores.c.language, example_scores.c.metric, example_scores.c["values"].label("scores"))
             .join(example_scores, example_scores.c.run_id == runs.c.run_id)
             .join(study_runs, study_runs.c.run_id == runs.c.run_id)
             .where(study_runs.c.study == study, runs.c.status == "done"))
        if task:
            q = q.where(runs.c.task == task)
        if metric:
            q = q.where(example_scores.c.metric == metric)
        with self.engine.connect() as c:
            return _frame([dict(r._mapping) for r in c.execute(q)], EXAMPLE_COLUMNS)

    def curves_frame(self, study: str, task: str | None = None) -> "pd.DataFrame":
        """The fine-tuning curves of the finished runs of `study`: one row per run / step point with its
        run's task, condition and seed, ordered by run and step (`dev` is NaN between evaluations)."""
        if not inspect(self.engine).has_table("curves"):  # an older database opened read-only
            return _frame([], CURVE_COLUMNS)
        q = (select(runs.c.task, runs.c.model, runs.c.method, runs.c.intermediate, _PROTOCOL, runs.c.seed,
                    runs.c.run_id, curves.c.step, curves.c.epoch, curves.c.dev, curves.c.train_loss, curves.c.lr)
             .join(curves, curves.c.run_id == runs.c.run_id)
             .join(study_runs, study_runs.c.run_id == runs.c.run_id)
             .where(study_runs.c.study == study, runs.c.status == "done")
             .order_by(runs.c.run_id, curves.c.step))
        if task:
            q = q.where(runs.c.task == task)
        with self.engine.connect() as c:
            return _frame([dict(r._mapping) for r in c.execute(q)], CURVE_COLUMNS).astype({"dev": float})


SCORE_COLUMNS = ["study", "model", "task", "method", "intermediate", "protocol", "seed", "run_id", "language", "metric",
                 "value", "n"]
EXAMPLE_COLUMNS = ["task", "model", "method", "intermediate", "protocol", "seed", "run_id", "language", "metric",
                   "scores"]
CURVE_COLUMNS = ["task", "model", "method", "intermediate", "protocol", "seed", "run_id", "step", "epoch", "dev",
                 "train_loss", "lr"]
_PROTOCOL = func.coalesce(runs.c.protocol, "zero-shot").label("protocol")  # rows written before protocols existed


def _frame(records: list[dict], columns: list[str]) -> "pd.DataFrame":
    """Records as a DataFrame with fixed columns, also when there are none (callers test `.empty`)."""
    import pandas as pd  # only readers need pandas; workers that write never import it

    return pd.DataFrame.from_records(records, columns=columns)


def _link(conn, study: str, run_ids: list[str]) -> None:
    have = set(conn.execute(select(study_runs.c.run_id).where(study_runs.c.study == study)).scalars())
    new = [{"study": study, "run_id": r} for r in dict.fromkeys(run_ids) if r not in have]
    if new:
        conn.execute(study_runs.insert(), new)


def _delete_results(conn, run_id: str) -> None:
    for table in (scores, example_scores, predictions, curves, saved_models):
        conn.execute(delete(table).where(table.c.run_id == run_id))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers proceed while one worker writes; foreign keys make deletes cascade.
    # isolation_level None: pysqlite's own implicit BEGIN comes only before the first write, after
    # the reads a claim decides on; `_sqlite_begin` emits the BEGIN instead.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:  # a read-only connection to a file in another journal mode keeps it
        pass
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("xlt_write") else "BEGIN")


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def _curve_point(point: dict) -> dict:
    """A curve point as a `curves` row (the loop's keys; anything else it may carry is not stored)."""
    return {k: point.get(k) for k in ("step", "epoch", "dev", "train_loss", "lr")}
