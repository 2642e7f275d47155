"""Errors a user can act on, reported in one line: the file, the row, the problem.

Every stage raises :class:`PipelineError` (or a subclass) for a problem with its input or its
settings — a file that is not conversation data, a malformed mapping, an input with no usable
rows, an output path that is a file — and the command-line layer prints it as one line
(``stage: error: FILE[, row N]: problem``) with exit status 2. Anything else is a bug and
keeps its traceback (``complaintpanel --debug`` shows tracebacks for every error).
"""

from __future__ import annotations

import os

__all__ = ["PipelineError"]


class PipelineError(Exception):
    """A problem with the input or the settings, stated so the user can fix it.

    Parameters
    ----------
    problem : str
        What is wrong, in words (no traceback needed to understand it).
    file : path-like, optional
        The file (or folder) the problem is in.
    row : int, optional
        1-based record number in ``file``, when the problem is one record.
    """

    def __init__(self, problem: str, *, file: str | os.PathLike[str] | None = None,
                 row: int | None = None) -> None:
        self.problem = problem
        self.file = None if file is None else os.fspath(file)
        self.row = row
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """``FILE, row N: problem`` (the parts that are known)."""
        where = self.file or ""
        if self.row is not None:
            where = f"{where}, row {self.row}" if where else f"row {self.row}"
        return f"{where}: {self.problem}" if where else self.problem
