"""Results store: SQLAlchemy Core over SQLite (default) or any URL (PostgreSQL on clusters).

Tables
- runs:           one row per run (model x condition x task x seed), with the resolved config.
- scores:         long table, one row per (run, language, split, metric).
- example_scores: per-example scores per (run, language, metric) as JSON, so later analysis can
                  bootstrap over test examples.

A run's scores are written in the same transaction that marks it done: a killed process leaves
either a finished run or none, never half of one, and rewriting a run replaces its rows (no doubles).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    JSON, Column, DateTime, Float, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint,
    create_engine, delete, event, select, update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from xlt.errors import XltError

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
    Column("status", String(20), nullable=False),  # running | done | failed
    Column("dev_score", Float),
    Column("best_step", Integer),
    Column("train_seconds", Float),
    Column("eval_seconds", Float),
    Column("peak_rss_mb", Float),
    Column("error", Text),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
)

scores = Table(
    "scores", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("language", String(50), nullable=False),
    Column("split", String(20), nullable=False),
    Column("metric", String(50), nullable=False),
    Column("value", Float, nullable=False),
    Column("n", Integer),
    UniqueConstraint("run_id", "language", "split", "metric", name="uq_score"),
)

# which studies include which runs: a run shared by two studies is computed once, listed in both
study_runs = Table(
    "study_runs", metadata,
    Column("study", String(200), primary_key=True),
    Column("run_id", String(64), primary_key=True),
)

example_scores = Table(
    "example_scores", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("language", String(50), nullable=False),
    Column("metric", String(50), nullable=False),
    Column("values", JSON, nullable=False),
    UniqueConstraint("run_id", "language", "metric", name="uq_example_scores"),
)


# test-set predictions per (run, language), in test-example order, for leaderboard export
predictions = Table(
    "predictions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("language", String(50), nullable=False),
    Column("values", JSON, nullable=False),
    UniqueConstraint("run_id", "language", name="uq_predictions"),
)


def default_url(path: str | Path = "xlt-results/results.sqlite") -> str:
    return f"sqlite:///{Path(path)}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    def __init__(self, url: str):
        if "://" not in url:  # a bare path means a SQLite file
            url = default_url(url)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        try:
            self.engine = create_engine(url, connect_args={"timeout": 60} if url.startswith("sqlite") else {})
        except Exception as exc:  # bad URL or missing DB driver
            raise XltError(f"cannot open results database {url!r}: {exc}") from exc
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._retry(lambda: metadata.create_all(self.engine), also=("already exists",))

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
                transient = ("locked", "busy") + also
                if not any(t in str(exc) for t in transient) or i == attempts - 1:
                    raise
                time.sleep(0.05 * 2**i)

    # -- runs -------------------------------------------------------------------------------
    def run_status(self) -> dict[str, str]:
        with self.engine.connect() as c:
            return dict(c.execute(select(runs.c.run_id, runs.c.status)).all())

    def link_study(self, study: str, run_ids: list[str]) -> None:
        """Record that `study` includes these runs (idempotent)."""
        def tx():
            with self.engine.begin() as c:
                _link(c, study, run_ids)
        self._retry(tx, also=("UNIQUE", "duplicate key"))

    def start_run(self, run_id: str, info: dict) -> None:
        """Record that a run started (replacing an unfinished attempt; a done run is never reset)."""
        def tx():
            with self.engine.begin() as c:
                status = c.execute(select(runs.c.status).where(runs.c.run_id == run_id)).scalar()
                if status == "done":
                    return
                if status is not None:
                    c.execute(delete(runs).where(runs.c.run_id == run_id))
                c.execute(runs.insert().values(run_id=run_id, status="running", started_at=_now(), **info))
                _link(c, info["study"], [run_id])
        self._retry(tx, also=("UNIQUE", "duplicate key"))

    def finish_run(self, run_id: str, rows: Iterable[dict], per_example: Iterable[dict], info: dict,
                   preds: Iterable[dict] = ()) -> None:
        """Atomically store all scores (and predictions) of a run and mark it done.

        Rewriting a run replaces its old rows, so a retried run never doubles them.
        """
        rows, per_example, preds = list(rows), list(per_example), list(preds)

        def tx():
            with self.engine.begin() as c:
                c.execute(delete(scores).where(scores.c.run_id == run_id))
                c.execute(delete(example_scores).where(example_scores.c.run_id == run_id))
                c.execute(delete(predictions).where(predictions.c.run_id == run_id))
                if rows:
                    c.execute(scores.insert(), [{"run_id": run_id, **r} for r in rows])
                if per_example:
                    c.execute(example_scores.insert(), [{"run_id": run_id, **r} for r in per_example])
                if preds:
                    c.execute(predictions.insert(), [{"run_id": run_id, **r} for r in preds])
                c.execute(update(runs).where(runs.c.run_id == run_id).values(
                    status="done", finished_at=_now(), error=None, **info))
        self._retry(tx)

    def fail_run(self, run_id: str, error: str) -> None:
        def tx():
            with self.engine.begin() as c:
                c.execute(update(runs).where(runs.c.run_id == run_id).values(
                    status="failed", error=error[:4000], finished_at=_now()))
        self._retry(tx)

    # -- reading ----------------------------------------------------------------------------
    def score_rows(self, study: str | None = None, task: str | None = None, split: str = "test") -> list[dict]:
        """Long table of finished runs' scores joined with their run metadata."""
        q = (
            select(runs.c.study, runs.c.model, runs.c.task, runs.c.method, runs.c.intermediate, runs.c.seed,
                   runs.c.run_id, scores.c.language, scores.c.metric, scores.c.value, scores.c.n)
            .join(scores, scores.c.run_id == runs.c.run_id)
            .where(runs.c.status == "done", scores.c.split == split)
        )
        if study:
            q = q.join(study_runs, study_runs.c.run_id == runs.c.run_id).where(study_runs.c.study == study)
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


def _link(conn, study: str, run_ids: list[str]) -> None:
    have = set(conn.execute(select(study_runs.c.run_id).where(study_runs.c.study == study)).scalars())
    new = [{"study": study, "run_id": r} for r in dict.fromkeys(run_ids) if r not in have]
    if new:
        conn.execute(study_runs.insert(), new)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers proceed while one worker writes; foreign keys make deletes cascade.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)
