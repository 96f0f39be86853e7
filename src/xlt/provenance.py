"""What a run was computed with: library versions, the xlt source commit, python, platform, hardware.

Stored with every run (`config["provenance"]` of its `runs` row; rows from before this field simply
lack it). The data and model fingerprints are part of the run's identity (`config["run"]`: `data`,
`weights`), so they are not repeated here. `stale_libraries` compares the library versions of stored
runs with this process's, which is how `xlt study` finds runs computed under other versions.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# the libraries whose versions can change a run's numbers (a difference makes a finished run "stale")
LIBRARIES = ("torch", "transformers", "tokenizers", "datasets", "numpy", "xlt")
STALE_KEYS = ("torch", "transformers", "tokenizers", "datasets", "xlt")


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    """`git -C <xlt package dir> ...` stdout, or None when git, a checkout or time (5 s) is missing."""
    try:
        out = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), *args], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def source() -> dict:
    """xlt's version and, when it runs from a git checkout, its commit and whether the tree had edits."""
    from xlt import __version__

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"version": __version__, "git_commit": commit.strip() if commit else None,
            "git_dirty": bool(status.strip()) if status is not None else None}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def libraries() -> dict:
    """The installed versions of the libraries that decide numbers (and xlt's own)."""
    libs = {name: _version(name) for name in LIBRARIES}
    libs["xlt"] = source()["version"]  # a source tree without install still has a version
    return libs


def provenance(device) -> dict:
    """Everything about the environment that a reviewer needs to judge (or redo) a run on `device`."""
    import torch

    libs = libraries()
    dev = torch.device(device)
    gpu = None
    if dev.type == "cuda" and torch.cuda.is_available():
        gpu = {"name": torch.cuda.get_device_name(dev), "cuda": torch.version.cuda,
               "cudnn": torch.backends.cudnn.version()}
    return {"libraries": libs, "xlt": source(), "python": platform.python_version(),
            "python_implementation": platform.python_implementation(), "platform": platform.platform(),
            "executable": sys.executable, "cpu": _cpu(), "device": str(dev), "gpu": gpu,
            "torch_threads": torch.get_num_threads()}


def stale_libraries(stored: dict | None, current: dict) -> dict[str, tuple]:
    """{library: (stored version, current version)} where a stored run's provenance differs from
    `current` in a library that can change results; {} for runs stored before provenance existed
    (nothing to compare: they are not called stale)."""
    if not stored or "libraries" not in stored:
        return {}
    old, new = stored["libraries"], current["libraries"]
    return {k: (old.get(k), new.get(k)) for k in STALE_KEYS if old.get(k) != new.get(k)}


def version_line() -> str:
    """`xlt --version`: the version, plus the commit (and `dirty`) when running from a checkout."""
    src = source()
    line = f"xlt {src['version']}"
    if src["git_commit"]:
        line += f" (git {src['git_commit'][:12]}{', dirty' if src['git_dirty'] else ''})"
    return line
