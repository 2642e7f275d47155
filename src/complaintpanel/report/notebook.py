"""Show numbers in a notebook together with where they come from, and check them later.

The analysis notebooks display estimates and counts read from results files (``estimates.json``,
``hmm.json``, ``ingest_report.json`` …). Each table they show goes through :func:`show_terms`,
:func:`show_values` or :func:`show_matrix`, which display it (plain text and HTML, as any
DataFrame) and attach to the same output a machine-readable record (MIME type
:data:`SHOWN_MIMETYPE`): for every number shown, the file, the place in the file and the value
as displayed. Notebook front ends ignore that MIME type and render the table.

:func:`shown_numbers` reads the records back from an executed notebook and :func:`mismatches`
compares each displayed number with the file it names, at the precision it was displayed with:
a notebook that shows a stale or wrong number, or a results file changed after the notebook
ran, is reported.

Showing needs IPython (installed with ``ipykernel``, the ``dev`` and ``lab`` extras); outside a
kernel the table is printed as text and nothing is recorded.

A place in a file is a ``path`` of keys (list positions as integers) from the top of the JSON
and, for a results entry with a term list (``EffectResults.to_dict``: ``estimates.json``,
``robustness.json``), the term's describing columns (``where``, e.g. ``outcome`` and ``lead``;
``name`` is the term's name) and the column of its record (``estimate``, ``se``, ``ci_lower``
…). Numbers are compared with the file as stored, not as recomputed from it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ROW",
    "SHOWN_MIMETYPE",
    "ShownNumber",
    "locate",
    "mismatches",
    "show_matrix",
    "show_table",
    "show_terms",
    "show_values",
    "shown_numbers",
    "value_in_file",
]

SHOWN_MIMETYPE = "application/vnd.complaintpanel.shown+json"
# In a path template of :func:`show_table`: the row's index value.
ROW = "{row}"

Key = str | int


@dataclass(frozen=True)
class ShownNumber:
    """One number a notebook displayed, and where it comes from.

    Attributes
    ----------
    source : str
        The results file (absolute path).
    path : tuple of str or int
        Keys from the top of the file's JSON to the number, or to a results entry.
    value : float
        The number as displayed (after rounding to ``digits``).
    digits : int or None
        Decimals it was rounded to for display (``None``: shown in full).
    where : dict, optional
        For a results entry: the term's describing columns (``name`` = the term's name).
    column : str, optional
        For a results entry: the column of ``term_estimates()`` (``estimate``, ``se`` …).
    """

    source: str
    path: tuple[Key, ...]
    value: float
    digits: int | None = None
    where: Mapping[str, Any] | None = field(default=None)
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the record written into the notebook's output)."""
        return {"source": self.source, "path": list(self.path), "value": self.value,
                "digits": self.digits, "where": None if self.where is None else dict(self.where),
                "column": self.column}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ShownNumber:
        """Rebuild from :meth:`to_dict` output."""
        return cls(source=values["source"], path=tuple(values["path"]),
                   value=float(values["value"]), digits=values.get("digits"),
                   where=values.get("where"), column=values.get("column"))

    def __str__(self) -> str:
        place = "/".join(map(str, self.path))
        if self.where is not None:
            place += f" {dict(self.where)} {self.column}"
        return f"{Path(self.source).name}: {place}"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _number(value: Any) -> float:
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


def _publish(frame: pd.DataFrame, numbers: list[ShownNumber]) -> None:
    from IPython import get_ipython
    from IPython.display import display

    # numbers in object columns (a mix of counts and rates) shown as written, not as floats
    frame = frame.copy()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = _object_map(frame[name], lambda v: str(_plain(v)) if isinstance(
                _plain(v), int | float) and not isinstance(_plain(v), bool) else v)
    if get_ipython() is None:  # run as a plain script: print the table
        print(frame.to_string())
        return

    bundle = {"text/plain": repr(frame), "text/html": frame._repr_html_(),
              SHOWN_MIMETYPE: {"numbers": [n.to_dict() for n in numbers]}}
    display(bundle, raw=True)


def _object_map(values: pd.Series, function: Any) -> pd.Series:
    """``values.map(function)`` kept as objects (``map`` would turn counts into floats)."""
    return pd.Series([function(v) for v in values], index=values.index, name=values.name,
                     dtype=object)


def _rounded(frame: pd.DataFrame, digits: int | None) -> pd.DataFrame:
    """``frame`` with its floats rounded to ``digits`` (in object columns too)."""
    if digits is None:
        return frame

    def column(values: pd.Series) -> pd.Series:
        if pd.api.types.is_float_dtype(values):
            return values.round(digits)
        if values.dtype == object:
            return _object_map(values, lambda v: round(v, digits)
                               if isinstance(_plain(v), float) else v)
        return values

    out = frame.copy()
    for name in out.columns:  # column by column: apply() would turn counts into floats
        out[name] = column(out[name])
    return out


def show_terms(frame: pd.DataFrame, *, source: str | os.PathLike[str],
               path: Sequence[Key] | Mapping[Any, Sequence[Key]],
               by: Sequence[str], columns: Mapping[str, str] | Sequence[str],
               path_by: str | None = None, digits: int | None = 4) -> pd.DataFrame:
    """Display terms of a results entry and record each shown estimate's place in the file.

    Parameters
    ----------
    frame : DataFrame
        The table to show, one row per term (e.g. ``result.select(...)`` of the entry read
        from ``source``, possibly joined with other columns, which are shown but not recorded).
    source : path
        The results file the entry was read from.
    path : sequence of str or int, or mapping
        Keys from the top of the file to the entry (e.g. ``["design"]``); for a table of
        several entries, a mapping from the value of column ``path_by`` to each one's keys.
    by : sequence of str
        Columns (or the index name) of ``frame`` that identify a term: describing columns of
        the entry's term table, or ``name`` for the term's name.
    columns : mapping or sequence of str
        Shown columns to record: displayed name → column of ``term_estimates()`` (a sequence
        when the names are the same).
    path_by : str, optional
        Column (or index name) of ``frame`` whose value selects the entry in ``path``.
    digits : int or None
        Decimals shown (and the precision of the later comparison).

    Returns
    -------
    DataFrame
        The table as displayed (rounded).
    """
    shown = _rounded(frame, digits)
    needed = [*by, *([path_by] if path_by else [])]
    flat = shown.reset_index() if any(b not in shown.columns for b in needed) else shown
    mapping = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}
    numbers = []
    for _, row in flat.iterrows():
        where = {b: _plain(row[b]) for b in by}
        if isinstance(path, Mapping):
            if path_by is None:
                raise ValueError("a mapping of paths needs `path_by`, the column selecting one")
            row_path = tuple(path[_plain(row[path_by])])
        else:
            row_path = tuple(path)
        for shown_column, column in mapping.items():
            if pd.isna(row[shown_column]):
                continue
            numbers.append(ShownNumber(str(Path(source).resolve()), row_path,
                                       _number(row[shown_column]), digits, where, column))
    _publish(shown, numbers)
    return shown


def show_table(frame: pd.DataFrame, *, source: str | os.PathLike[str],
               paths: Mapping[str, Sequence[Key]], digits: int | None = None) -> pd.DataFrame:
    """Display a table of plain JSON numbers and record where each column's numbers are.

    Parameters
    ----------
    frame : DataFrame
        The table to show (its index: the keys that :data:`ROW` stands for).
    source : path
        The JSON file the numbers were read from.
    paths : mapping
        Shown column → keys from the top of the file to its number in each row, with
        :data:`ROW` standing for the row's index value (e.g. ``{"se": ["bse", ROW]}``, or
        ``{"estimate": ["contrasts", ROW, "estimate"]}`` for a list of records).
        Columns not named are shown but not recorded.
    digits : int or None
        Decimals shown (``None``: in full).

    Returns
    -------
    DataFrame
        The table as displayed (rounded).
    """
    shown = _rounded(frame, digits)
    numbers = []
    for column, template in paths.items():
        for key, value in shown[column].items():
            value = _plain(value)
            if not isinstance(value, int | float) or isinstance(value, bool) or pd.isna(value):
                continue
            path = tuple(_plain(key) if part == ROW else part for part in template)
            numbers.append(ShownNumber(str(Path(source).resolve()), path, float(value),
                                       digits if isinstance(value, float) else None))
    _publish(shown, numbers)
    return shown


def show_values(values: Mapping[Key, Any] | pd.Series, *, source: str | os.PathLike[str],
                path: Sequence[Key] = (), name: str = "value",
                digits: int | None = None) -> pd.DataFrame:
    """Display plain numbers of a JSON file (counts, rates) and record each one's key.

    Parameters
    ----------
    values : mapping or Series
        Key → number, each read from ``source`` at ``path + (key,)``. Non-numeric values are
        shown but not recorded.
    source : path
        The JSON file.
    path : sequence of str or int
        Keys from the top of the file to the object holding ``values``.
    name : str
        Heading of the value column.
    digits : int or None
        Decimals shown (``None``: in full).

    Returns
    -------
    DataFrame
        The table as displayed.
    """
    series = pd.Series(dict(values) if not isinstance(values, pd.Series) else values,
                       name=name, dtype=object)
    return show_table(series.to_frame(), source=source, paths={name: (*path, ROW)},
                      digits=digits)


def show_matrix(frame: pd.DataFrame, *, source: str | os.PathLike[str], path: Sequence[Key],
                digits: int | None = None) -> pd.DataFrame:
    """Display a matrix stored as a list of rows (e.g. a confusion matrix) and record it.

    Entry ``(i, j)`` of ``frame`` (by position) is recorded at ``path + (i, j)``.
    """
    shown = _rounded(frame, digits)
    numbers = [ShownNumber(str(Path(source).resolve()), (*path, i, j),
                           _number(shown.iat[i, j]), digits)
               for i in range(shown.shape[0]) for j in range(shown.shape[1])]
    _publish(shown, numbers)
    return shown


def shown_numbers(notebook: Mapping[str, Any]) -> list[ShownNumber]:
    """Every number recorded in the outputs of an executed notebook (nbformat 4 dict)."""
    numbers = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(SHOWN_MIMETYPE)
            if record is not None:
                if isinstance(record, str):  # some writers store JSON outputs as text
                    record = json.loads(record)
                numbers += [ShownNumber.from_dict(n) for n in record["numbers"]]
    return numbers


def _walk(tree: Any, path: Iterable[Key]) -> Any:
    for key in path:
        tree = tree[int(key)] if isinstance(tree, list) else tree[key]
    return tree


def _term_record(entry: Any, number: ShownNumber) -> dict[str, Any]:
    """Find the record of ``entry["terms"]`` whose describing columns equal ``number.where``."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("terms"), list):
        raise TypeError(f"{number}: not a results entry with a term list")
    where = dict(number.where or {})
    found = [record for record in entry["terms"]
             if all(record.get(column) == value for column, value in where.items())]
    if len(found) != 1:
        raise KeyError(f"{number}: {len(found)} terms match")
    return found[0]


def locate(number: ShownNumber, tree: Any) -> tuple[Any, Key]:
    """Return the container in ``tree`` (a file's JSON) holding ``number``, and its key.

    For a results entry the container is the term's record and the key the column.
    """
    if number.where is None:
        *head, last = number.path
        container = _walk(tree, head)
        return container, int(last) if isinstance(container, list) else last
    return _term_record(_walk(tree, number.path), number), str(number.column)


def value_in_file(number: ShownNumber) -> float:
    """Read the number at ``number``'s place in its file afresh (as stored, not recomputed)."""
    tree = json.loads(Path(number.source).read_text(encoding="utf-8"))
    container, key = locate(number, tree)
    return _number(container[key])


def mismatches(numbers: Iterable[ShownNumber]) -> list[str]:
    """Describe every shown number that differs from its file (empty: all agree).

    A number shown rounded to ``d`` decimals agrees when it equals the file's value rounded
    the same way (within floating-point noise); one shown in full must be equal.
    """
    problems = []
    for number in numbers:
        try:
            stored = value_in_file(number)
        except (KeyError, IndexError, TypeError, ValueError, FileNotFoundError) as error:
            problems.append(f"{number}: cannot be found ({error})")
            continue
        tolerance = 0.5 * 10.0 ** -number.digits + 1e-9 if number.digits is not None else 0.0
        if math.isnan(stored) or abs(stored - number.value) > tolerance:
            problems.append(f"{number}: shown {number.value!r}, file has {stored!r}")
    return problems
