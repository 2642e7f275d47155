"""``complaintpanel robustness``: whole-run drivers that chain label → panel → estimate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import ConfigOption, echo_summary, load


def robustness(
    directory: Annotated[Path, typer.Argument(help="Interim folder holding exchanges.parquet.")],
    out: Annotated[Path | None, typer.Option(
        help="Results folder for robustness.json (default results/NAME, NAME = the input "
             "folder's name).")] = None,
    tables: Annotated[Path | None, typer.Option(
        help="Folder for the Markdown + LaTeX table (default: OUT/tables).")] = None,
    truth: Annotated[Path | None, typer.Option(
        help="Simulator truth/voice.parquet: add the true labels as a classifier variant.",
        exists=True, dir_okay=False)] = None,
    config: ConfigOption = None,
) -> None:
    """Re-estimate the main models across periods, filters, classifiers and treatments."""
    import pandas as pd

    from complaintpanel.pipeline.robustness import run_robustness
    from complaintpanel.report.estimate_tables import write_robustness_table
    from complaintpanel.results import write_results

    settings = load(config)
    source = directory / "exchanges.parquet"
    if not source.exists():
        raise typer.BadParameter(f"{source} does not exist; run `complaintpanel thread` first")
    out = out or Path("results") / directory.name
    started = time.perf_counter()
    truth_voice = pd.read_parquet(truth) if truth is not None else None
    records = run_robustness(pd.read_parquet(source), settings, truth_voice)
    write_results({"specifications": records}, out / "robustness.json")
    write_robustness_table(records, tables or out / "tables")
    echo_summary("robustness", f"{len(records)} specifications → {out / 'robustness.json'}",
                 time.perf_counter() - started)


def register(app: typer.Typer) -> None:
    """Add ``robustness`` to ``app``."""
    app.command()(robustness)
