"""``complaintpanel estimate``: every reduced-form model on one panel."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import ConfigOption, echo_summary, load
from complaintpanel.io import write_json


def estimate(
    directory: Annotated[Path, typer.Argument(help="Folder holding panel.parquet.")],
    out: Annotated[Path, typer.Option(help="Results folder (estimates.json).")] = Path(
        "results/simulated"),
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

    settings = load(config).estimate
    if treatment is not None:
        settings = dataclasses.replace(settings, treatment=treatment)
    source = directory / "panel.parquet"
    if not source.exists():
        raise typer.BadParameter(f"{source} does not exist; run `complaintpanel panel` first")
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




def robustness(
    directory: Annotated[Path, typer.Argument(help="Interim folder holding exchanges.parquet.")],
    out: Annotated[Path, typer.Option(help="Results folder (robustness.json).")] = Path(
        "results/simulated"),
    tables: Annotated[Path | None, typer.Option(
        help="Folder for the Markdown + LaTeX table (default: OUT/tables).")] = None,
    truth: Annotated[Path | None, typer.Option(
        help="Simulator truth/voice.parquet: add the true labels as a classifier variant.",
        exists=True, dir_okay=False)] = None,
    config: ConfigOption = None,
) -> None:
    """Re-estimate the main models across periods, filters, classifiers and treatments."""
    import pandas as pd

    from complaintpanel.estimate.robustness import robustness_checks
    from complaintpanel.label import classifier_for, label_exchanges, label_exchanges_with_truth
    from complaintpanel.report.estimate_tables import write_robustness_table

    settings = load(config)
    source = directory / "exchanges.parquet"
    if not source.exists():
        raise typer.BadParameter(f"{source} does not exist; run `complaintpanel thread` first")
    started = time.perf_counter()
    exchanges = pd.read_parquet(source)
    labelled = {"main": label_exchanges(exchanges, classifier_for(settings.label))}
    if settings.label.classifier == "rules":
        for threshold in (0.5, 1.5):
            if threshold != settings.label.threshold:
                labelled[f"rules, threshold {threshold:g}"] = label_exchanges(
                    exchanges, classifier_for(settings.label, threshold=threshold))
    if truth is not None:
        labelled["truth"] = label_exchanges_with_truth(exchanges, pd.read_parquet(truth))
    records = robustness_checks(labelled, settings.panel, settings.estimate)
    write_json({"specifications": records}, out / "robustness.json")
    write_robustness_table(records, tables or out / "tables")
    echo_summary("robustness", f"{len(records)} specifications → {out / 'robustness.json'}",
                 time.perf_counter() - started)


def register(app: typer.Typer) -> None:
    """Add ``estimate`` and ``robustness`` to ``app``."""
    app.command()(estimate)
    app.command()(robustness)
