"""Compile a manuscript (``paper/paper.typ``, ``paper/dataset.typ``) to PDF with Typst.

The manuscripts read every number from generated JSON files under ``results/`` and every figure
from a figures folder; nothing in them is typed by hand. Compilation uses only the fonts embedded
in Typst (no system fonts) and a fixed timestamp, so the PDF is the same on every machine.

A manuscript may be given results folders by name (``compile_paper(..., folders={"results":
Path("results/twcs")})``). Typst cannot test whether a file exists, so for each folder it gets
three inputs (``sys.inputs``): ``NAME`` (the folder, relative to the root, as ``/results/twcs/``),
``NAME-name`` (the folder's own name, the dataset's) and ``NAME-files`` (the files the folder
holds, one relative path a line), and reads only the files listed. A JSON file Typst could not
parse (a non-finite number, ``NaN``, which the results writers allow) is listed in
``NAME-unreadable`` instead, so the manuscript can say so rather than fail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import typst

from complaintpanel.runtime.io import atomic_path

__all__ = ["compile_paper", "folder_inputs"]

# 2015-10-01, the month the original article appeared; fixes the PDF's creation date.
_FIXED_TIMESTAMP = 1443657600
# Files of a results folder a manuscript may read: results, figures (PDF) and tables.
_READABLE = {".json", ".pdf", ".md"}


def folder_inputs(name: str, folder: str | Path, root: str | Path = ".") -> dict[str, str]:
    """Return the Typst inputs describing one results folder (see the module docstring).

    Parameters
    ----------
    name : str
        The input's name, e.g. ``"results"``.
    folder : str or Path
        The results folder; must lie below ``root``.
    root : str or Path
        Project root Typst runs from.

    Returns
    -------
    dict of str to str
        ``{name: "/rel/path/", name + "-name": folder name, name + "-files": listing,
        name + "-unreadable": JSON files Typst could not parse}``.

    Raises
    ------
    ValueError
        If ``folder`` is not below ``root`` (Typst could not read it).
    """
    folder, root = Path(folder).resolve(), Path(root).resolve()
    if not folder.is_relative_to(root):
        raise ValueError(f"{folder} is not below the project root {root}")
    relative = folder.relative_to(root).as_posix()
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.suffix in _READABLE and not p.name.startswith(".")
                   and p.name != "paper.pdf")
    unreadable = [f for f in files if f.endswith(".json") and not _strict_json(folder / f)]
    return {name: f"/{relative}/" if relative != "." else "/", f"{name}-name": folder.name,
            f"{name}-files": "\n".join(f for f in files if f not in unreadable),
            f"{name}-unreadable": "\n".join(unreadable)}


def _reject_constant(constant: str) -> None:
    raise ValueError(f"non-finite number {constant}")


def _strict_json(path: Path) -> bool:
    """Whether ``path`` is JSON Typst can parse (no ``NaN`` or ``Infinity``)."""
    try:
        json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def compile_paper(source: str | Path, output: str | Path, root: str | Path = ".",
                  folders: Mapping[str, str | Path] | None = None) -> Path:
    """Compile a Typst source to PDF.

    Parameters
    ----------
    source : str or Path
        The ``.typ`` file.
    output : str or Path
        The PDF to write (atomically).
    root : str or Path
        Project root: the document may read files anywhere below it (results, figures).
    folders : mapping of str to path, optional
        Results folders given to the manuscript by input name (:func:`folder_inputs`).

    Returns
    -------
    Path
        ``output``.
    """
    inputs: dict[str, str] = {}
    for name, folder in (folders or {}).items():
        inputs.update(folder_inputs(name, folder, root))
    with atomic_path(output) as tmp:
        typst.compile(str(source), output=str(tmp), root=str(Path(root).resolve()),
                      ignore_system_fonts=True, timestamp=_FIXED_TIMESTAMP, sys_inputs=inputs)
    return Path(output)
