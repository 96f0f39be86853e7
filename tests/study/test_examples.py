"""Every shipped study file (the demo and examples/*.yaml) loads and names only things xlt has:
presets, registered tasks and their languages, methods, intermediate tasks. Offline: nothing is
downloaded or trained; a broken example fails here rather than on a user's first run."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlt.methods import METHODS
from xlt.methods.intermediate.data import MULTIMODAL_TASKS
from xlt.models import registry
from xlt.study.config import load_study
from xlt.tasks import get_task

from tests.conftest import REQUIRE_SHARED_DATA, shared

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted((ROOT / "examples").glob("*.yaml")) + [ROOT / "src" / "xlt" / "studies" / "demo.yaml"]


def test_the_shipped_study_files_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in STUDIES}
    assert {"src/xlt/studies/demo.yaml", "examples/mbert_vs_xlmr_sib200.yaml", "examples/offline_intermediate.yaml",
            "examples/offline_sib200.yaml"} <= names


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_study_file_loads_and_names_only_known_things(path):
    cfg = load_study(path)
    assert cfg.models and cfg.tasks and cfg.seeds
    for model in cfg.models:
        assert model in registry.PRESETS, f"{path.name}: model {model!r} is not a preset"
    assert set(cfg.methods) <= set(METHODS)
    for entry in cfg.tasks:
        spec = get_task(entry.name).spec
        if isinstance(entry.languages, tuple):
            unknown = set(entry.languages) - set(spec.languages) - {spec.source_language}
            assert not unknown, f"{path.name}: {entry.name} has no languages {sorted(unknown)}"
        if entry.data_dir and not Path(entry.data_dir).is_relative_to((ROOT.parent / "shared" / "data").resolve()):
            # else: cluster paths of the GPU study, or files derived by the script the study names
            derived = Path(entry.data_dir).is_relative_to(ROOT / "xlt-results")
            assert path.name == "mission.yaml" or derived, (path.name, entry.data_dir)
            assert not derived or "examples/mission_offline_data.py" in path.read_text(encoding="utf-8")
        elif entry.data_dir:  # examples read the real files from ../shared/data beside the checkout
            sub = Path(entry.data_dir).relative_to((ROOT.parent / "shared" / "data").resolve())
            if shared(str(sub)).is_dir() or REQUIRE_SHARED_DATA:  # the same files where this checkout has them
                assert get_task(entry.name, shared(str(sub))).available_languages("test"), (path.name, sub)
    for label, cond in cfg.intermediate_setup.items():
        if cond.kind == "none":
            continue
        if cond.multimodal:
            assert cond.task in MULTIMODAL_TASKS, (path.name, label)
            assert not MULTIMODAL_TASKS[cond.task].check_settings(cond.data), (path.name, label)
        else:
            assert get_task(cond.task, cond.data.get("data_dir")).spec.labels, (path.name, label)


def test_the_demo_is_what_xlt_demo_runs():
    from importlib.resources import files

    packaged = files("xlt") / "studies" / "demo.yaml"
    assert packaged.read_text(encoding="utf-8") == STUDIES[-1].read_text(encoding="utf-8")
    assert load_study(STUDIES[-1]).tasks[0].name == "cldr-names"
