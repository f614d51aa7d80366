"""The one exception type for problems a user can fix.

The CLI prints an :class:`EmbedtuneError` as a single message, without a traceback, and exits 2.
Anything else that escapes is a bug in embedtune.
"""

from __future__ import annotations

from pathlib import Path


class EmbedtuneError(Exception):
    """A problem with the user's input, configuration or environment, with what to do about it."""


class DataError(EmbedtuneError):
    """Bad input data: names the file and, where there is one, the line (1-based)."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, hint: str | None = None):
        self.path = Path(path)
        self.line = line
        self.reason = message
        self.hint = hint
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        text = f"{where}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
