"""Tables as Markdown (for the README and quick reading) and LaTeX (booktabs, for papers).

Written by hand rather than with pyfixest's ``etable``: the tables combine pyfixest,
linearmodels and the package's own estimators, and must be byte-stable across runs.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import pandas as pd

from complaintpanel.runtime.io import atomic_path

__all__ = ["fmt", "write_table"]


def fmt(value: object, digits: int = 3) -> str:
    """Format a number for a table: fixed decimals, thousands separators for counts."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    # numbers.Integral / Real also cover NumPy scalars (e.g. a count read from a DataFrame)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):,.{digits}f}"
    return str(value)


def _latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"),
                          ("_", r"\_"), ("#", r"\#"), ("$", r"\$"), ("×", r"$\times$"),
                          ("−", "$-$"), ("≤", r"$\le$"), ("β", r"$\beta$"), ("θ", r"$\theta$"),
                          ("γ", r"$\gamma$"), ("δ", r"$\delta$"), ("η", r"$\eta$")):
        text = text.replace(char, escaped)
    return text


def write_table(frame: pd.DataFrame, stem: str | Path, caption: str, notes: str = ""
                ) -> list[Path]:
    """Write ``frame`` (already formatted as strings) to ``stem.md`` and ``stem.tex``.

    Parameters
    ----------
    frame : DataFrame
        Cells as display strings; the index is written as the first column.
    stem : str or Path
        Output path without suffix.
    caption : str
        Table caption (first line of the Markdown file, the caption in LaTeX).
    notes : str
        Notes printed under the table.
    """
    stem = Path(stem)
    table = frame.reset_index()
    header = [str(c) for c in table.columns]
    rows = [[str(v) for v in row] for row in table.itertuples(index=False)]
    markdown = [f"**{caption}**", "", "| " + " | ".join(header) + " |",
                "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    markdown += ["| " + " | ".join(row) + " |" for row in rows]
    if notes:
        markdown += ["", f"*Notes:* {notes}"]
    latex = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{_latex_escape(caption)}}}",
             r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
             " & ".join(_latex_escape(h) for h in header) + r" \\", r"\midrule"]
    latex += [" & ".join(_latex_escape(v) for v in row) + r" \\" for row in rows]
    latex += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        latex += [rf"\par\smallskip\parbox{{0.9\linewidth}}{{\footnotesize \emph{{Notes:}} "
                  rf"{_latex_escape(notes)}}}"]
    latex += [r"\end{table}"]
    written = []
    for suffix, lines in ((".md", markdown), (".tex", latex)):
        path = stem.with_suffix(suffix)
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written
