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
    validation: Annotated[Path | None, typer.Option(
        help="Coded validation sheet (validation-sample, coded by hand or by "
             "validation-code-oracle; its validation_design.json beside it): also report the "
             "design-based estimate and event studies corrected for misclassified voice. "
             "Without it the estimates are naive (classifier labels uncorrected).")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the PPML, fixed-effects, design-based and event-study estimates."""
    import pandas as pd

    from complaintpanel.estimate.run import run_estimates
    from complaintpanel.label.validation import load_coded_tweets, load_validation_counts
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
        panel_info = (json.loads(verified_input(panel_report).read_text())
                      if panel_report.exists() else {})
        period = panel_info.get("period")
        counts = coded_tweets = None
        if validation is not None:
            voiced = directory / "voiced.parquet"
            if not voiced.is_file():
                raise PipelineError("does not exist: --validation joins the coded sheet to the "
                                    "labels of voiced.parquet beside the panel", file=voiced)
            counts = load_validation_counts(validation, verified_input(voiced))
            # The coded tweets linked to their customer-weeks: the corrected design estimate is
            # also reported adjusted for the true voice of the answered week.
            coded_tweets = load_coded_tweets(validation, voiced)
        results = run_estimates(pd.read_parquet(source), settings,
                                with_event_studies=event_studies, period=period,
                                validation=counts, validation_tweets=coded_tweets)
        if panel_info:
            # The panel's observation window, so a report can state which periods it covers
            # and how many customer tweets fell outside ([panel] window_start / window_end).
            results["settings"]["panel_window"] = {
                key: panel_info.get(key) for key in
                ("window_start", "window_end", "tweets_outside_window", "periods")}
        write_results(results, outputs.path("estimates.json"))
        write_estimate_tables(results, outputs.folder(tables or out / "tables"))
    not_estimated = [(path, item) for path, item in iter_results(results)
                     if isinstance(item, NotEstimated)]
    summary = (f"{len(not_estimated)} model(s) not identified or not estimated"
               if not_estimated else "all models estimated")
    summary += ("; corrected for misclassification" if validation is not None
                else "; naive (no validation sample)")
    echo_summary("estimate", f"{summary} → {out / 'estimates.json'}",
                 time.perf_counter() - started)
    for path, item in not_estimated:
        typer.echo(f"  {item.status}: {'/'.join(path)}")


def register(app: typer.Typer) -> None:
    """Add ``estimate`` to ``app``."""
    app.command()(estimate)
