"""Text sizes of the paper's figures at print size: the figure's own font sizes times its scale.

A figure PDF is placed in the paper at a width set in ``paper.typ`` (``image(…, width: 88%)``
of the text width, or a cell of a two-column grid), so its text prints at its own size times
(placed width / the PDF's width). :func:`printed_text_sizes` reads both — the placements from
``paper.typ``, each PDF's width and the size of every glyph from the PDF (pypdfium2) — and
returns the smallest printed size of each figure, which the paper's figures keep ≥ 8 pt.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

__all__ = ["MIN_PRINTED_PT", "figure_placements", "printed_text_sizes", "smallest_font_pt"]

MIN_PRINTED_PT = 8.0
_IMAGE = re.compile(r'image\("(?P<path>[^"]+\.pdf)"(?:,\s*width:\s*(?P<pct>[\d.]+)%)?\)')
_GRID = re.compile(r"grid\(columns:\s*(?P<n>\d+),\s*gutter:\s*(?P<gutter>[\d.]+)pt")
_MARGIN_X = re.compile(r"margin:\s*\(x:\s*(?P<x>[\d.]+)in")
_PAPER_WIDTH_IN = {"us-letter": 8.5, "a4": 8.27}


def figure_placements(paper_typ: Path) -> dict[str, float]:
    """Return the printed width (pt) of every figure PDF placed in ``paper_typ``, by file name.

    An ``image`` with ``width: P%`` takes P% of the text width; one in a ``grid(columns: n,
    gutter: g pt, …)`` takes its cell, (text width − (n−1)·g) / n; one without a width the
    whole text width.
    """
    text = paper_typ.read_text(encoding="utf-8")
    paper = re.search(r'paper:\s*"(?P<p>[\w-]+)"', text)
    margin = _MARGIN_X.search(text)
    page_in = _PAPER_WIDTH_IN.get(paper.group("p") if paper else "us-letter", 8.5)
    text_pt = 72.0 * (page_in - 2 * (float(margin.group("x")) if margin else 1.0))
    placements: dict[str, float] = {}
    for line_start, line in _figure_chunks(text):
        grid = _GRID.search(line_start)
        for match in _IMAGE.finditer(line):
            if grid is not None:
                n, gutter = int(grid.group("n")), float(grid.group("gutter"))
                width = (text_pt - (n - 1) * gutter) / n
            else:
                width = text_pt * (float(match.group("pct")) / 100 if match.group("pct")
                                   else 1.0)
            placements[Path(match.group("path")).name] = width
    return placements


def _figure_chunks(text: str) -> list[tuple[str, str]]:
    """Split the document at each ``#figure(``: (the figure's opening, its text)."""
    parts = text.split("#figure(")
    return [(part[:80], part) for part in parts[1:]]


def smallest_font_pt(pdf: Path) -> tuple[float, float]:
    """Return (smallest font size of a visible glyph in pt, page width in pt) of a figure PDF."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]  # the dev extra
    import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

    document = pdfium.PdfDocument(str(pdf))
    try:
        page = document[0]
        width = float(page.get_size()[0])
        textpage = page.get_textpage()
        sizes = [pdfium_c.FPDFText_GetFontSize(textpage.raw, i)
                 for i in range(textpage.count_chars())
                 if not chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i)).isspace()]
        return (min(sizes) if sizes else float("nan")), width
    finally:
        document.close()


def printed_text_sizes(paper_typ: Path, figures: Path) -> pd.DataFrame:
    """Tabulate, per figure the paper places, its smallest text size at print size.

    Parameters
    ----------
    paper_typ : Path
        The manuscript (``paper/paper.typ``).
    figures : Path
        Folder of the figure PDFs (``paper/figures``).

    Returns
    -------
    DataFrame
        Indexed by file name: ``placed_pt`` (printed width), ``pdf_pt`` (the PDF's width),
        ``scale``, ``font_pt`` (smallest size in the PDF) and ``printed_pt`` (= font × scale).
    """
    rows = {}
    for name, placed in figure_placements(paper_typ).items():
        path = figures / name
        if not path.exists():
            continue
        font, width = smallest_font_pt(path)
        rows[name] = {"placed_pt": placed, "pdf_pt": width, "scale": placed / width,
                      "font_pt": font, "printed_pt": font * placed / width}
    return pd.DataFrame.from_dict(rows, orient="index")
