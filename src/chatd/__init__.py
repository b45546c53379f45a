"""chatd: a reactor chat server speaking the IRC client protocol, and its terminal client.

The version lives in one place, pyproject.toml; the installed package's metadata carries it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chatd")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
