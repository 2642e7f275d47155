"""Compile the manuscript ``paper/paper.typ`` to PDF with Typst (pip-installable, offline).

The manuscript reads every number from generated JSON files under ``results/`` and every figure
from ``paper/figures/``; nothing in it is typed by hand. Compilation uses only the fonts embedded
in Typst (no system fonts) and a fixed timestamp, so the PDF is the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

import typst

from complaintpanel.runtime.io import atomic_path

__all__ = ["compile_paper"]

# 2015-10-01, the month the original article appeared; fixes the PDF's creation date.
_FIXED_TIMESTAMP = 1443657600


def compile_paper(source: str | Path, output: str | Path, root: str | Path = ".") -> Path:
    """Compile a Typst source to PDF.

    Parameters
    ----------
    source : str or Path
        The ``.typ`` file.
    output : str or Path
        The PDF to write (atomically).
    root : str or Path
        Project root: the document may read files anywhere below it (results, figures).

    Returns
    -------
    Path
        ``output``.
    """
    with atomic_path(output) as tmp:
        typst.compile(str(source), output=str(tmp), root=str(Path(root).resolve()),
                      ignore_system_fonts=True, timestamp=_FIXED_TIMESTAMP)
    return Path(output)
