"""xlt: zero-shot cross-lingual transfer studies (models x conditions x tasks x seeds).

The Python API (`xlt.api`) loads on first use, so `import xlt` stays light (no torch):

    xlt.run_study(path_or_dict, db=...)   xlt.load_results(db, study=...)   xlt.write_report(db, study, out)
    xlt.results_document(db, study)       (the `xlt results --format json` document)
    xlt.load_model(path)                  (a run's model saved with `runtime.save: best`)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xlt")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"

# `write_report`, not `report`: `xlt.report` is the report subpackage
_API = ("load_results", "run_study", "results_document", "write_report", "load_model")
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    from importlib import import_module  # not `from xlt import ...`: that would call this again

    if name in _API or name == "api":
        api = import_module("xlt.api")
        return api if name == "api" else getattr(api, name)
    raise AttributeError(f"module 'xlt' has no attribute {name!r}")
