"""``complaintpanel describe``, ``figures`` and ``paper``: from data to the manuscript."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import echo_summary
from complaintpanel.descriptives import activity_summary, weekly_activity
from complaintpanel.io import write_json, write_parquet


def describe(
    raw: Annotated[Path, typer.Argument(help="Raw file in the TWCS schema.", exists=True,
                                        dir_okay=False)],
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("results/simulated"),
) -> None:
    """Weekly counts of customer tweets and brand replies, and their headline numbers."""
    started = time.perf_counter()
    weekly = weekly_activity(raw)
    write_parquet(weekly, out / "weekly_activity.parquet")
    summary = activity_summary(weekly)
    write_json(summary, out / "activity.json")
    echo_summary("describe", f"{summary['customer_tweets']:,} customer tweets over "
                 f"{summary['weeks']} weeks → {out}", time.perf_counter() - started)


def figures(
    results: Annotated[Path, typer.Argument(help="Results folder of one dataset.")] = Path(
        "results/simulated"),
    out: Annotated[Path, typer.Option(help="Folder for PDF and PNG figures.")] = Path(
        "paper/figures"),
) -> None:
    """Draw every figure whose inputs exist in ``results`` (PDF + PNG)."""
    import pandas as pd

    from complaintpanel.report.figures import fig_weekly_activity

    started = time.perf_counter()
    written = fig_weekly_activity(pd.read_parquet(results / "weekly_activity.parquet"),
                                  out / "weekly_activity")
    echo_summary("figures", f"{len(written)} files → {out}", time.perf_counter() - started)


def paper(
    source: Annotated[Path, typer.Argument(help="Typst manuscript.")] = Path("paper/paper.typ"),
    out: Annotated[Path, typer.Option(help="PDF to write.")] = Path("paper/paper.pdf"),
    root: Annotated[Path, typer.Option(help="Project root the manuscript may read.")] = Path("."),
) -> None:
    """Compile the manuscript to PDF (offline, embedded fonts only)."""
    from complaintpanel.report.paper import compile_paper

    started = time.perf_counter()
    compile_paper(source, out, root)
    echo_summary("paper", f"{out} ({out.stat().st_size / 1024:.0f} KiB)",
                 time.perf_counter() - started)


def register(app: typer.Typer) -> None:
    """Add ``describe``, ``figures`` and ``paper`` to ``app``."""
    app.command()(describe)
    app.command()(figures)
    app.command()(paper)
