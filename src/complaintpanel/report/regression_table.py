"""A regression table as a small object, rendered to Typst, LaTeX and Markdown alike.

:class:`RegressionTable` holds columns (one per model), body rows (estimates with standard
errors in parentheses on the line below, panel headings, or ready text) and footer rows (fixed
effects, clustering, clusters, N per column, dependent-variable means, fit statistics). The
three renderers read the same object, so the paper's Typst table, the LaTeX table and the
README's Markdown table cannot disagree.

Written here rather than with pyfixest's ``etable`` or great_tables: ``etable`` takes only
pyfixest fits (not the structural model's results or numbers read back from the results
JSON), and great_tables renders HTML and LaTeX but not Typst, which the paper is set in.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from complaintpanel.runtime.io import atomic_path

__all__ = ["Estimate", "Heading", "RegressionTable", "Row", "number"]


def number(value: float | int | None, digits: int = 3) -> str:
    """Format a number for a table: fixed decimals, thousands separators, a true minus sign.

    Parameters
    ----------
    value : float, int or None
        The number (an integer is written without decimals); None or NaN gives "".
    digits : int
        Decimals of a non-integer.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        text = f"{int(value):,}"
    else:
        text = f"{float(value):,.{digits}f}"
        if float(text.replace(",", "")) == 0:  # no "−0.000"
            text = text.lstrip("-")
    return text.replace("-", "−")


@dataclass(frozen=True)
class Estimate:
    """An estimate with its standard error (drawn in parentheses on the line below)."""

    value: float
    se: float | None = None


Cell = Estimate | str | None


@dataclass(frozen=True)
class Row:
    """A body row: a label and one cell per column (``None``: the model has no such term)."""

    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Heading:
    """A panel heading spanning the table (e.g. "Complaint log-rate by state")."""

    label: str


@dataclass
class RegressionTable:
    """Columns of models, rows of readable parameter names, and footer rows.

    Attributes
    ----------
    stub : str
        Header of the label column.
    columns : sequence of str
        One header per model.
    body : list of Row or Heading
        Parameter rows (cells are :class:`Estimate`, text, or None for a term the model
        does not have: an empty cell) and panel headings.
    footer : list of Row
        Rows of text under a rule: fixed effects, clustering, N, fit statistics.
    notes : str
        Notes printed under the table.
    digits : int
        Decimals of estimates and standard errors.
    se_below : bool
        Standard errors in parentheses on a line of their own under the estimates (the
        default), or after the estimate in the same cell (a compact table).
    """

    stub: str
    columns: Sequence[str]
    body: list[Row | Heading] = field(default_factory=list)
    footer: list[Row] = field(default_factory=list)
    notes: str = ""
    digits: int = 3
    se_below: bool = True

    def __post_init__(self) -> None:
        for row in [*self.body, *self.footer]:
            if isinstance(row, Row) and len(row.cells) != len(self.columns):
                raise ValueError(f"row {row.label!r} has {len(row.cells)} cells for "
                                 f"{len(self.columns)} columns")

    # ---- the rows as text, shared by every renderer -----------------------------------
    def _lines(self) -> list[tuple[str, str, list[str]]]:
        """Return (kind, label, cells) lines: kind is "heading", "row" or "footer"."""
        lines: list[tuple[str, str, list[str]]] = []
        for item in self.body:
            if isinstance(item, Heading):
                lines.append(("heading", item.label, []))
                continue
            estimates, errors = [], []
            for cell in item.cells:
                if isinstance(cell, Estimate):
                    estimates.append(number(cell.value, self.digits))
                    errors.append(f"({number(cell.se, self.digits)})"
                                  if cell.se is not None and not math.isnan(cell.se) else "")
                else:
                    estimates.append(cell or "")
                    errors.append("")
            if not self.se_below:
                estimates = [f"{e} {s}" if s else e
                             for e, s in zip(estimates, errors, strict=True)]
                errors = []
            lines.append(("row", item.label, estimates))
            if any(errors):
                lines.append(("row", "", errors))
        lines += [("footer", row.label, [c if isinstance(c, str) else "" for c in row.cells])
                  for row in self.footer]
        return lines

    # ---- renderers ----------------------------------------------------------------------
    def to_markdown(self, caption: str = "") -> str:
        """Render as a GitHub Markdown table (headings and the footer as rows in bold)."""
        n = len(self.columns)
        out = [f"**{caption}**", ""] if caption else []
        out += ["| " + " | ".join([self.stub, *self.columns]) + " |",
                "|" + "|".join(["---"] + ["---:"] * n) + "|"]
        for kind, label, cells in self._lines():
            if kind == "heading":
                out.append(f"| *{label}* |" + " |" * n)
            else:
                out.append("| " + " | ".join([label, *cells]) + " |")
        if self.notes:
            out += ["", f"*Notes:* {self.notes}"]
        return "\n".join(out) + "\n"

    def to_latex(self, caption: str = "") -> str:
        """Render as a booktabs LaTeX table (a rule above the footer)."""
        n = len(self.columns)
        out = [r"\begin{table}[htbp]", r"\centering"]
        if caption:
            out.append(rf"\caption{{{_latex(caption)}}}")
        out += [r"\begin{tabular}{l" + "r" * n + "}", r"\toprule",
                " & ".join(_latex(c) for c in [self.stub, *self.columns]) + r" \\", r"\midrule"]
        footer_started = False
        for kind, label, cells in self._lines():
            if kind == "footer" and not footer_started:
                out.append(r"\midrule")
                footer_started = True
            if kind == "heading":
                out.append(rf"\multicolumn{{{n + 1}}}{{l}}{{\emph{{{_latex(label)}}}}} \\")
            else:
                out.append(" & ".join(_latex(c) for c in [label, *cells]) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        if self.notes:
            out.append(rf"\par\smallskip\parbox{{0.9\linewidth}}{{\footnotesize \emph{{Notes:}} "
                       rf"{_latex(self.notes)}}}")
        out.append(r"\end{table}")
        return "\n".join(out) + "\n"

    def to_typst(self) -> str:
        """Render as Typst markup: a ``table`` (and the notes) for ``#figure(include …)``.

        Cells are Typst strings, so no character of a label needs escaping beyond quotes
        and backslashes; the caption and the figure's label stay in the document.
        """
        n = len(self.columns)
        out = ["// Generated by complaintpanel.report.regression_table; do not edit.",
               "#table(",
               f"  columns: {n + 1}, align: (left,{' right,' * n}), stroke: none,",
               "  table.hline(),",
               "  table.header(" + ", ".join(_typst(c) for c in [self.stub, *self.columns])
               + "),", "  table.hline(stroke: 0.5pt),"]
        footer_started = False
        for kind, label, cells in self._lines():
            if kind == "footer" and not footer_started:
                out.append("  table.hline(stroke: 0.5pt),")
                footer_started = True
            if kind == "heading":
                out.append(f"  table.cell(colspan: {n + 1}, emph({_typst(label)})),")
            else:
                out.append("  " + ", ".join(_typst(c) for c in [label, *cells]) + ",")
        out += ["  table.hline(),", ")"]
        if self.notes:
            out.append("#block(width: 100%, inset: (top: 2pt), align(left, text(size: 8.5pt, "
                       f"[_Notes:_ #{_typst(self.notes)}])))")
        return "\n".join(out) + "\n"

    def write(self, stem: str | Path, caption: str = "") -> list[Path]:
        """Write ``stem.typ``, ``stem.tex`` and ``stem.md`` (atomically); return the paths."""
        stem = Path(stem)
        written = []
        for suffix, text in ((".typ", self.to_typst()), (".tex", self.to_latex(caption)),
                             (".md", self.to_markdown(caption))):
            path = stem.with_suffix(suffix)
            with atomic_path(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
            written.append(path)
        return written


def _typst(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_LATEX = (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
          ("$", r"\$"), ("×", r"$\times$"), ("−", "$-$"), ("→", r"$\to$"), ("≤", r"$\le$"),
          ("β", r"$\beta$"), ("γ", r"$\gamma$"), ("δ", r"$\delta$"), ("η", r"$\eta$"),
          ("θ", r"$\theta$"), ("π", r"$\pi$"), ("τ", r"$\tau$"))


def _latex(text: str) -> str:
    for char, escaped in _LATEX:
        text = text.replace(char, escaped)
    return text
