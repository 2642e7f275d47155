"""``complaintpanel estimate``: every reduced-form model on one panel."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from complaintpanel.commands._common import ConfigOption, echo_summary, load, overridden
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import stage_outputs, verified_input, write_json

if TYPE_CHECKING:
    import pandas as pd

    from complaintpanel.results import EffectResults, NotEstimated
    from complaintpanel.simulate.design_truth import TruthWorld


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
    truth: Annotated[Path | None, typer.Option(
        help="A simulated world's truth folder (simulate's OUT/truth): also write "
             "design_truth.json, the true effects averaged over the customer-weeks the "
             "design-based estimate kept (its own population). The panel's pseudonyms are "
             "joined to the world's customers with the key of the interim folder named in "
             "label_report.json beside the panel.")] = None,
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
        panel = pd.read_parquet(source)
        known = (_truth_world(truth, directory, panel, load(config).ingest.key_env)
                 if truth is not None else None)
        results = run_estimates(panel, settings,
                                with_event_studies=event_studies, period=period,
                                validation=counts, validation_tweets=coded_tweets)
        if panel_info:
            # The panel's observation window, so a report can state which periods it covers
            # and how many customer tweets fell outside ([panel] window_start / window_end).
            results["settings"]["panel_window"] = {
                key: panel_info.get(key) for key in
                ("window_start", "window_end", "tweets_outside_window", "periods")}
        write_results(results, outputs.path("estimates.json"))
        if known is not None and truth is not None:
            write_json(_design_truth(results["design"], panel, *known, settings.horizon, truth),
                       outputs.path("design_truth.json"))
        write_estimate_tables(results, outputs.folder(tables or out / "tables"))
    not_estimated = [(path, item) for path, item in iter_results(results)
                     if isinstance(item, NotEstimated)]
    summary = (f"{len(not_estimated)} model(s) not identified or not estimated"
               if not_estimated else "all models estimated")
    summary += ("; corrected for misclassification" if validation is not None
                else "; naive (no validation sample)")
    summary += f" → {out / 'estimates.json'}"
    if known is not None:
        summary += f"; the design's truth on its own population → {out / 'design_truth.json'}"
    echo_summary("estimate", summary, time.perf_counter() - started)
    for path, item in not_estimated:
        typer.echo(f"  {item.status}: {'/'.join(path)}")


def _truth_world(truth: Path, directory: Path, panel: pd.DataFrame,
                 key_env: str) -> tuple[TruthWorld, bytes]:
    """Read the world's truth and the panel's key; check that every panel row is the world's.

    Run before the estimates, so a truth folder of another world (or another key) fails at
    once rather than after them.

    Parameters
    ----------
    truth : Path
        The simulated world's ``truth`` folder.
    directory : Path
        The processed folder (its ``label_report.json`` names the interim folder, whose key
        pseudonymised the customers).
    panel : DataFrame
        ``panel.parquet``.
    key_env : str
        Environment variable that may hold the pseudonymisation key.

    Returns
    -------
    world : TruthWorld
    key : bytes
    """
    from complaintpanel.label.stage import interim_key
    from complaintpanel.simulate.design_truth import read_truth, world_rows

    for name in ("params.json", "states.parquet"):
        if not (truth / name).is_file():
            raise PipelineError(f"has no {name}: give the truth folder that `complaintpanel "
                                "simulate` wrote", file=truth)
        verified_input(truth / name)
    label_report = directory / "label_report.json"
    if not label_report.is_file():
        raise PipelineError("does not exist: --truth needs it to find the interim folder whose "
                            "key pseudonymised the panel's customers", file=label_report)
    source = json.loads(label_report.read_text()).get("input")
    if not source:
        raise PipelineError("names no input (interim) folder", file=label_report)
    key = interim_key(Path(source).parent, key_env)
    world = read_truth(truth)
    try:
        world_rows(panel[["customer_id", "brand", "period"]], panel[["period", "period_start"]],
                   world.states, key)
    except ValueError as error:
        raise PipelineError(f"--truth: the panel is not this world's: {error}",
                            file=truth) from None
    return world, key


def _design_truth(design: EffectResults | NotEstimated, panel: pd.DataFrame, world: TruthWorld,
                  key: bytes, horizon: int, truth: Path) -> dict[str, object]:
    """Compute the truth of the design estimate on its own customer-weeks (design_truth.json).

    Parameters
    ----------
    design : EffectResults or NotEstimated
        ``run_estimates``' ``design`` (with its ``kept`` customer-weeks).
    panel : DataFrame
        The panel it was estimated on (dates its periods).
    world : TruthWorld
        The simulated world (:func:`_truth_world`).
    key : bytes
        The key that pseudonymised the panel's customers.
    horizon : int
        Last lead of the estimate.
    truth : Path
        The truth folder (named in errors).

    Returns
    -------
    dict
        :func:`~complaintpanel.simulate.design_truth.design_truth_record`, or a record with
        ``status`` ``"not estimated"`` and its ``reason`` when the design was not estimated.
    """
    from complaintpanel.results import EffectResults
    from complaintpanel.simulate.design_truth import design_truth, design_truth_record

    if not isinstance(design, EffectResults) or not hasattr(design, "kept"):
        # nothing to compare: say so rather than fail the stage
        return {"estimate": "design", "status": "not estimated",
                "reason": "the design-based estimate was not estimated, so it has no "
                          "population to compute the truth on"}
    try:
        effects, true_weeks = design_truth(design.kept,
                                           panel[["period", "period_start"]], world, key,
                                           horizon=horizon)
        return design_truth_record(design, effects, true_weeks, seed=world.spec.seed + 1)
    except ValueError as error:
        raise PipelineError(f"--truth: {error}", file=truth) from None


def register(app: typer.Typer) -> None:
    """Add ``estimate`` to ``app``."""
    app.command()(estimate)
