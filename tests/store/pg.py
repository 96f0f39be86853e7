"""The real PostgreSQL server of the store tests (`.ci/run` starts one on loopback).

XLT_TEST_POSTGRES_URL names a database the tests may wipe; without it Postgres tests skip, unless
XLT_REQUIRE_POSTGRES=1 (set by CI), where a missing server must fail the run instead of hiding it.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine

from xlt.store.db import metadata

from tests.conftest import needed


def postgres_url() -> str:
    return needed(os.environ.get("XLT_TEST_POSTGRES_URL"), "XLT_REQUIRE_POSTGRES",
                  "no PostgreSQL server (set XLT_TEST_POSTGRES_URL, as .ci/run does)")


def fresh_postgres_url() -> str:
    """The test database, emptied of xlt's tables."""
    url = postgres_url()
    engine = create_engine(url)
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """A fresh results database: a SQLite file, then the PostgreSQL test database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'r.sqlite'}"
    return fresh_postgres_url()
