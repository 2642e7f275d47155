"""``complaintpanel estimate``: every reduced-form model on one panel."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import ConfigOption, echo_summary, load, overridden
from complaintpanel.runtime.io import write_json


def estimate(
    directory: Annotated[Path, typer.Argument(help="Folder holding panel.parquet.")],
    out: Annotated[Path | None, typer.Option(
        help="Results folder for estimates.json (default results/NAME, NAME = the input "
             "folder's name).")] = None,
    tables: Annotated[Path | None, typer.Option(
        help="Folder for Markdown + LaTeX tables (default: OUT/tables).")] = None,
    treatment: Annotated[str | None, typer.Option(help="Main treatment definition.")] = None,
    event_studies: Annotated[bool, typer.Option(help="Also run the event studies.")] = True,
    config: ConfigOption = None,
) -> None:
    """Run the PPML, fixed-effects, design-based and event-study estimates."""
    import pandas as pd

    from complaintpanel.estimate.run import run_estimates
    from complaintpanel.report.estimate_tables import write_estimate_tables

    settings = overridden(load(config).estimate, treatment=treatment)
    source = directory / "panel.parquet"
    if not source.exists():
        raise typer.BadParameter(f"{source} does not exist; run `complaintpanel panel` first")
    out = out or Path("results") / directory.name
    started = time.perf_counter()
    results = run_estimates(pd.read_parquet(source), settings, with_event_studies=event_studies)
    write_json(results, out / "estimates.json")
    write_estimate_tables(results, tables or out / "tables")
    not_identified = [f"{model}/{key}" for model, entries in results.items()
                      if isinstance(entries, dict)
                      for key, entry in entries.items()
                      if isinstance(entry, dict)
                      and entry.get("status") in ("not identified", "not estimated")]
    if results.get("design", {}).get("status") in ("not identified", "not estimated"):
        not_identified.append("design")
    summary = (f"{len(not_identified)} model(s) not identified or not estimated"
               if not_identified else "all models estimated")
    echo_summary("estimate", f"{summary} → {out / 'estimates.json'}",
                 time.perf_counter() - started)
    for item in not_identified:
        typer.echo(f"  not identified: {item}")


def register(app: typer.Typer) -> None:
    """Add ``estimate`` to ``app``."""
    app.command()(estimate)
