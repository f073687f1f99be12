"""writer: a creative-writing assistant that lives in the terminal.

Nothing heavy is imported here: the app must paint before torch is loaded.
"""

from typing import Any

# The distribution is "writer-tui" on the package index ("writer" there is another project); the
# import package and the command are both `writer`.
DISTRIBUTION = "writer-tui"


def __getattr__(name: str) -> Any:
    # `__version__` from the installed metadata, read on demand: importlib.metadata costs
    # ~60 ms at import, which the app's first paint would pay for nothing.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(DISTRIBUTION)
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    raise AttributeError(name)
