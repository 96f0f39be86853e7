"""User-facing errors: the CLI prints them as one line and exits with code 2 (no traceback)."""


class XltError(Exception):
    """Bad input from the user: unknown name, malformed file, invalid config."""


class DataError(XltError):
    """A data file is missing, malformed or inconsistent; the message names file and line."""

    def __init__(self, message: str, path=None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path, self.line = path, line


class ConfigError(XltError):
    """A study/config file or override is invalid (unknown key, wrong type, bad value)."""


def unknown(kind: str, value: str, valid) -> XltError:
    """Error for an unknown name, with a close-match suggestion and the valid choices."""
    import difflib

    valid = sorted(valid)
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(valid[:60]) + (" ..." if len(valid) > 60 else "")
    return XltError(f"unknown {kind} {value!r}{hint} (valid: {shown})")
