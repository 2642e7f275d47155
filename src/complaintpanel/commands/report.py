"""``describe``, ``figures``, ``summary``, ``manifest``, ``label-validity`` and ``paper``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from complaintpanel.commands._common import TIMINGS_ENV, ConfigOption, echo_summary, load
from complaintpanel.runtime.io import atomic_path, write_json, write_parquet

if TYPE_CHECKING:  # imported inside the commands, so `complaintpanel --help` stays fast
    import pandas as pd


def describe(
    directory: Annotated[Path, typer.Argument(
        help="Interim folder holding tweets.parquet (from `complaintpanel ingest`).",
        exists=True, file_okay=False)],
    out: Annotated[Path | None, typer.Option(
        help="Results folder (default results/NAME, NAME = the folder's name).")] = None,
) -> None:
    """Weekly counts of customer tweets and brand replies, and their headline numbers."""
    from complaintpanel.report.descriptives import activity_summary, weekly_activity

    source = directory / "tweets.parquet"
    if not source.exists():
        raise typer.BadParameter(f"{source} does not exist; run `complaintpanel ingest` first")
    out = out or Path("results") / directory.name
    started = time.perf_counter()
    weekly = weekly_activity(source)
    write_parquet(weekly, out / "weekly_activity.parquet")
    summary = activity_summary(weekly)
    write_json(summary, out / "activity.json")
    echo_summary("describe", f"{summary['customer_tweets']:,} customer tweets over "
                 f"{summary['weeks']} weeks → {out}", time.perf_counter() - started)


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _panel_period(processed: Path) -> str | None:
    """Return the period ("week", …) recorded in a processed folder's ``panel_report.json``."""
    report = _read(processed / "panel_report.json")
    return report.get("period") if report is not None else None


def _hmm_truth(params_json: Path) -> pd.Series:
    """Return the true parameters of a simulated world, named as in ``hmm.json``."""
    from complaintpanel.model import ModelParams

    truth = json.loads(params_json.read_text())
    return ModelParams.from_dict(truth["model"]).reported()


def figures(
    results: Annotated[Path, typer.Argument(help="Results folder of one dataset.")],
    processed: Annotated[Path | None, typer.Option(
        help="Processed data folder (panel.parquet, voiced.parquet).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Folder for PDF and PNG figures (default RESULTS/figures).")] = None,
    truth: Annotated[Path | None, typer.Option(
        help="Simulated world's truth/params.json, for the parameter-recovery figure.")] = None,
) -> None:
    """Draw every figure whose inputs exist (PDF + PNG); figures show aggregates only."""
    import numpy as np
    import pandas as pd

    from complaintpanel.hmm.results import RelationshipHMMResults, read_hmm_results
    from complaintpanel.report import figures as fig
    from complaintpanel.results import read_results

    out = out or results / "figures"
    started = time.perf_counter()
    written: list[Path] = []
    estimates = (read_results(results / "estimates.json")
                 if (results / "estimates.json").exists() else None)
    # Axis labels name the panel's period: the estimate stage records it in its settings; the
    # panel figure reads it beside the panel it draws.
    period = estimates["settings"].get("period") if estimates is not None else None
    if (results / "weekly_activity.parquet").exists():
        written += fig.fig_weekly_activity(pd.read_parquet(results / "weekly_activity.parquet"),
                                           out / "weekly_activity")
    if processed is not None and (processed / "panel.parquet").exists():
        written += fig.fig_activity_by_brand(pd.read_parquet(processed / "panel.parquet"),
                                             out / "activity_by_brand",
                                             _panel_period(processed) or period)
    if processed is not None and (processed / "voiced.parquet").exists():
        voiced = pd.read_parquet(processed / "voiced.parquet",
                                 columns=["brand", "brand_replied", "reply_latency_h"])
        written += fig.fig_reply_latency(voiced, out / "reply_latency")
    if estimates is not None:
        for outcome, studies in estimates.get("event_study", {}).items():
            if isinstance(studies, dict):  # else a NotEstimated record
                written += fig.fig_event_study(studies, out / f"event_study_{outcome}",
                                               fig.outcome_label(outcome, period), period)
        design = estimates.get("design")
        if design is not None and design.is_estimated:
            written += fig.fig_design_effects(design, out / "design_effects", period)
    hmm = read_hmm_results(results / "hmm.json")
    if isinstance(hmm, RelationshipHMMResults):
        # the period of the panel the model was fitted on, recorded by the hmm stage
        hmm_period = (_read(results / "hmm.json") or {}).get("period")
        written += fig.fig_hmm_states(hmm, out / "hmm_states", hmm_period)
        written += fig.fig_hmm_transitions(hmm, out / "hmm_transitions")
        written += fig.fig_hmm_effects(hmm, out / "hmm_effects")
        fits: dict[str, RelationshipHMMResults] = {"classifier labels": hmm}
        truth_fit = read_hmm_results(results / "truth-labels" / "hmm.json")
        if isinstance(truth_fit, RelationshipHMMResults):
            fits = {"true labels": truth_fit, **fits}
        if truth is not None and truth.exists():
            written += fig.fig_parameter_recovery(_hmm_truth(truth), fits,
                                                  out / "parameter_recovery")
    policy = _read(results / "policy.json")
    if policy is not None and "periods" in policy:
        written += fig.fig_policies(policy, out / "policies")
    validity = _read(results / "label_validity.json")
    if validity is not None:
        from complaintpanel.label.evaluate import LabelReport

        report = LabelReport(labels=tuple(validity["labels"]),
                             confusion=np.asarray(validity["confusion"]))
        written += fig.fig_label_validity(report, out / "label_validity",
                                  title="Default classifier vs the simulated true voice")
    echo_summary("figures", f"{len(written) // 2} figures ({len(written)} files) → {out}",
                 time.perf_counter() - started)


def label_validity(
    voiced: Annotated[Path, typer.Argument(help="voiced.parquet labelled by a classifier.")],
    truth: Annotated[Path, typer.Argument(help="The simulator's truth/voice.parquet.")],
    out: Annotated[Path | None, typer.Option(
        help="Results folder (default results/NAME, NAME = the folder of VOICED).")] = None,
) -> None:
    """Agreement of the classifier's voice with the simulated true voice (confusion matrix)."""
    import pandas as pd

    from complaintpanel.label.evaluate import evaluate_labels

    out = out or Path("results") / voiced.parent.name
    started = time.perf_counter()
    labelled = pd.read_parquet(voiced, columns=["tweet_id", "voice"])
    true_voice = pd.read_parquet(truth, columns=["tweet_id", "voice"])
    merged = labelled.merge(true_voice, on="tweet_id", suffixes=("_predicted", "_true"),
                            validate="one_to_one")
    if len(merged) != len(labelled):
        raise typer.BadParameter(f"{len(labelled) - len(merged)} tweets have no true voice")
    report = evaluate_labels(merged["voice_true"], merged["voice_predicted"])
    payload = report.to_dict()
    write_json(payload, out / "label_validity.json")
    echo_summary("label-validity", f"{report.n:,} tweets, accuracy {report.accuracy:.3f} → "
                 f"{out / 'label_validity.json'}", time.perf_counter() - started)


def summary(
    results: Annotated[Path, typer.Argument(help="Results folder of one dataset.")],
    out: Annotated[Path | None, typer.Option(help="Markdown file (default RESULTS/summary.md).")
                   ] = None,
) -> None:
    """Write a one-page summary: what was estimated, what could not be, and why."""
    from complaintpanel.report.summary import summary_markdown

    started = time.perf_counter()
    out = out or results / "summary.md"
    text = summary_markdown(results)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    echo_summary("summary", f"{out}", time.perf_counter() - started)


def manifest(
    results: Annotated[Path, typer.Argument(help="Results folder of one dataset.")],
    raw: Annotated[list[Path] | None, typer.Option(help="Raw input file(s).")] = None,
    processed: Annotated[Path | None, typer.Option(help="Processed data folder.")] = None,
    config: ConfigOption = None,
) -> None:
    """Write results/<dataset>/manifest.json: inputs, settings, software, outputs, timings."""
    import os

    from complaintpanel.report.manifest import build_manifest

    started = time.perf_counter()
    timings = os.environ.get(TIMINGS_ENV)
    payload = build_manifest(results, list(raw or []), load(config), config,
                             Path(timings) if timings else None, processed)
    write_json(payload, results / "manifest.json")
    echo_summary("manifest", f"{len(payload['outputs'])} outputs, {len(payload['stages'])} "
                 f"stage timings → {results / 'manifest.json'}", time.perf_counter() - started)


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
    """Add the reporting commands to ``app``."""
    for command in (describe, figures, label_validity, summary, manifest, paper):
        app.command()(command)
