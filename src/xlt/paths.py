"""Where xlt keeps what it can rebuild: converted models, intermediate checkpoints, tokenised splits.

One root for all of them, chosen in this order: the study's `cache_dir`, else $XLT_CACHE, else the
platform's user cache folder (platformdirs: `$XDG_CACHE_HOME/xlt/models`, by default
`~/.cache/xlt/models` on Linux, `~/Library/Caches/xlt/models` on macOS).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir(override: str | Path | None = None) -> Path:
    """The cache root; callers add their own subfolder (`intermediate`, `tokens`, the model's name)."""
    base = override or os.environ.get("XLT_CACHE") or Path(platformdirs.user_cache_dir("xlt")) / "models"
    return Path(base).expanduser()
