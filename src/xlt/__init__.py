"""xlt: zero-shot cross-lingual transfer studies (models x conditions x tasks x seeds)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xlt")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"
