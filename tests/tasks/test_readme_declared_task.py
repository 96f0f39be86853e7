"""README's declared-task example runs as written: the shell block under `readme-example: declared-task`,
with the tiny offline model in place of the preset (the only change) and xlt run from this checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- readme-example: declared-task -->\n```bash\n(.*?)```", text, re.S)
    assert match, "README lost its declared-task example"
    return match.group(1)


def test_readme_example_uses_a_real_preset():
    from xlt.models.registry import describe

    assert "models: [me5-small-q4]" in example() and "me5-small-q4" in {m["name"] for m in describe()}
    assert len(example().strip().splitlines()) <= 15  # a short example


def test_readme_example_runs(tmp_path, tiny_bert):
    script = example().replace("me5-small-q4", str(tiny_bert))
    xlt = f'"{sys.executable}" -m xlt.cli.main'
    script = re.sub(r"(?m)^xlt study mine.yaml", f"{xlt} study mine.yaml runtime.threads=1 runtime.progress=false",
                    script).replace("&& xlt results", f"&& {xlt} results")
    env = {**os.environ, "XLT_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(README.parent / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "my-sentiment" in done.stdout
    assert re.search(r"(?m)^\s*de\s", done.stdout), done.stdout  # a row for the German test set
    from xlt.store.db import Store

    rows = Store(str(tmp_path / "xlt-results" / "results.sqlite"), read_only=True).score_rows(study="mine")
    assert {(r["language"], r["metric"], r["n"]) for r in rows} == {("en", "accuracy", 3), ("de", "accuracy", 2)}
