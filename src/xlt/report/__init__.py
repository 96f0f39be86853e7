"""The study report (build.py). `xlt.report(db, study, out)` calls `xlt.api.report`: importing any
submodule binds the name `xlt.report` to this package, so the package itself is the callable."""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from xlt.api import report

        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
