"""The study package's layers point one way: launch -> runner -> claims / run -> store.

Imports are read from the source (module level and inside functions alike), so a lazy import that
closes a cycle is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import xlt.study

STUDY = Path(xlt.study.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every xlt module `path` imports, anywhere in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("xlt")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xlt"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}  # `from xlt.study import run`
    return out


def _graph() -> dict[str, set[str]]:
    modules = {f"xlt.study.{p.stem}": p for p in STUDY.glob("*.py") if p.stem != "__init__"}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])):
            return found
    return None


def test_the_study_package_has_no_import_cycle():
    graph = _graph()
    assert {"xlt.study.launch", "xlt.study.runner", "xlt.study.claims", "xlt.study.run"} <= set(graph)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {**_graph(), "xlt.study.claims": _graph()["xlt.study.claims"] | {"xlt.study.launch"}}
    assert _cycle(graph) is not None


def test_layers_point_one_way():
    graph = _graph()
    below = {  # what each layer may not import (its callers)
        "xlt.study.claims": {"xlt.study.launch", "xlt.study.runner", "xlt.study.run"},
        "xlt.study.run": {"xlt.study.launch", "xlt.study.runner", "xlt.study.claims"},
        "xlt.study.runner": {"xlt.study.launch"},
        "xlt.study.spec": {"xlt.study.launch", "xlt.study.runner", "xlt.study.claims", "xlt.study.run"},
    }
    for module, forbidden in below.items():
        assert not graph[module] & forbidden, (module, graph[module] & forbidden)


def test_computing_a_run_never_touches_the_database():
    """`run` is pure (spec in, result out): only `claims` marks runs, so no run-layer module imports the store."""
    for name in ("run", "spec", "data"):
        imported = _imports(STUDY / f"{name}.py")
        assert not any(m.startswith("xlt.store") for m in imported), (name, imported)
    marking = {p.stem for p in STUDY.glob("*.py")
               if any(word in p.read_text() for word in ("finish_run(", "fail_run(", "claim_run(", "release_run("))}
    assert marking == {"claims"}
