"""``complaintpanel estimate``: every reduced-form model on one panel."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import ConfigOption, echo_summary, load, overridden
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import stage_outputs, verified_input


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
    from complaintpanel.results import NotEstimated, iter_results, write_results
    from complaintpanel.runtime.inputs import require_rows

    settings = overridden(load(config).estimate, treatment=treatment)
    source = directory / "panel.parquet"
    if not source.exists():
        raise PipelineError("does not exist; run `complaintpanel panel` first", file=source)
    out = out or Path("results") / directory.name
    started = time.perf_counter()
    with stage_outputs("estimate", out) as outputs:
        require_rows(verified_input(source))
        # The panel stage records the length of its periods beside the panel; tables and
        # figures name it ("week", "month", "day").
        panel_report = directory / "panel_report.json"
        period = (json.loads(verified_input(panel_report).read_text()).get("period")
                  if panel_report.exists() else None)
        results = run_estimates(pd.read_parquet(source), settings,
                                with_event_studies=event_studies, period=period)
        write_results(results, outputs.path("estimates.json"))
        write_estimate_tables(results, outputs.folder(tables or out / "tables"))
    not_estimated = [(path, item) for path, item in iter_results(results)
                     if isinstance(item, NotEstimated)]
    summary = (f"{len(not_estimated)} model(s) not identified or not estimated"
               if not_estimated else "all models estimated")
    echo_summary("estimate", f"{summary} → {out / 'estimates.json'}",
                 time.perf_counter() - started)
    for path, item in not_estimated:
        typer.echo(f"  {item.status}: {'/'.join(path)}")


def register(app: typer.Typer) -> None:
    """Add ``estimate`` to ``app``."""
    app.command()(estimate)
