"""``describe``, ``figures``, ``summary``, ``manifest``, ``label-validity`` and ``paper``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from complaintpanel.commands._common import (
    TIMINGS_ENV,
    ConfigOption,
    echo_summary,
    labels_beside_truth,
    load,
)
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import (
    atomic_path,
    output_folder,
    stage_lock,
    stage_outputs,
    verified_input,
    write_json,
    write_parquet,
)

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
    from complaintpanel.runtime.inputs import require_rows

    source = directory / "tweets.parquet"
    if not source.exists():
        raise PipelineError("does not exist; run `complaintpanel ingest` first", file=source)
    out = out or Path("results") / directory.name
    started = time.perf_counter()
    with stage_outputs("describe", out) as outputs:
        rows = require_rows(verified_input(source))
        weekly = weekly_activity(source)
        if weekly.empty:
            raise PipelineError(f"has {rows:,} tweets but no customer tweet to describe",
                                file=source)
        write_parquet(weekly, outputs.path("weekly_activity.parquet"))
        summary = activity_summary(weekly)
        write_json(summary, outputs.path("activity.json"))
    echo_summary("describe", f"{summary['customer_tweets']:,} customer tweets over "
                 f"{summary['weeks']} weeks → {out}", time.perf_counter() - started)


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(verified_input(path).read_text()) if path.exists() else None


def _exists(path: Path) -> bool:
    """Whether an input exists; if it does, it must be a complete output of its stage."""
    if not path.exists():
        return False
    verified_input(path)
    return True


def _panel_period(processed: Path) -> str | None:
    """Return the period ("week", …) recorded in a processed folder's ``panel_report.json``."""
    report = _read(processed / "panel_report.json")
    return report.get("period") if report is not None else None


def _hmm_truth(params_json: Path) -> pd.Series:
    """Return the true parameters of a simulated world, named as in ``hmm.json``."""
    from complaintpanel.model import ModelParams

    truth = json.loads(verified_input(params_json).read_text())
    return ModelParams.from_dict(truth["model"]).reported()


def figures(
    results: Annotated[Path, typer.Argument(help="Results folder of one dataset.")],
    processed: Annotated[Path | None, typer.Option(
        help="Processed data folder (panel.parquet, voiced.parquet).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Folder for PDF and PNG figures (default RESULTS/figures).")] = None,
    truth: Annotated[Path | None, typer.Option(
        help="Simulated world's truth/params.json, for the parameter-recovery figure.")] = None,
    classifier_benchmark: Annotated[Path | None, typer.Option(
        help="benchmarks/results/labels.json, for the classifiers' cross-domain validity "
             "figure (measured on the shared labelled data by benchmarks/bench_labels.py).")
    ] = None,
    tables: Annotated[Path | None, typer.Option(
        help="Folder for the paper's regression tables, built from the results JSON "
             "(reduced, hmm: .typ, .tex, .md; default RESULTS/tables).")] = None,
) -> None:
    """Draw every figure whose inputs exist (PDF + PNG) and write the paper's regression tables.

    Figures show aggregates only. The tables (:mod:`complaintpanel.report.paper_tables`) are
    read from the same results files, one builder rendering Typst, LaTeX and Markdown.
    """
    from complaintpanel.report.paper_tables import write_paper_tables

    out = out or results / "figures"
    started = time.perf_counter()
    with stage_outputs("figures", out) as outputs:
        written = _draw_figures(results, processed, truth, outputs.folder())
        table_files = write_paper_tables(results, outputs.folder(tables or results / "tables"),
                                         truth if truth is not None and truth.exists() else None)
        if classifier_benchmark is not None and _exists(classifier_benchmark):
            from complaintpanel.report.fig_classifier import fig_classifier_validity

            written += fig_classifier_validity(classifier_benchmark, outputs.folder())
    echo_summary("figures", f"{len(written) // 2} figures ({len(written)} files) → {out}; "
                            f"{len(table_files) // 3} tables",
                 time.perf_counter() - started)


def _draw_figures(results: Path, processed: Path | None, truth: Path | None,
                  out: Path) -> list[Path]:
    """Draw every figure whose inputs exist into ``out``; return the files written."""
    import numpy as np
    import pandas as pd

    from complaintpanel.hmm.results import RelationshipHMMResults, read_hmm_results
    from complaintpanel.report import figures as fig
    from complaintpanel.results import read_results

    written: list[Path] = []
    estimates = (read_results(results / "estimates.json")
                 if _exists(results / "estimates.json") else None)
    # Axis labels name the panel's period: the estimate stage records it in its settings; the
    # panel figure reads it beside the panel it draws.
    period = estimates["settings"].get("period") if estimates is not None else None
    if _exists(results / "weekly_activity.parquet"):
        written += fig.fig_weekly_activity(pd.read_parquet(results / "weekly_activity.parquet"),
                                           out / "weekly_activity")
    if processed is not None and _exists(processed / "panel.parquet"):
        written += fig.fig_activity_by_brand(pd.read_parquet(processed / "panel.parquet"),
                                             out / "activity_by_brand",
                                             _panel_period(processed) or period)
    if processed is not None and _exists(processed / "voiced.parquet"):
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
            # a simulated world's true effects of answering, beside its params.json
            effects = (_read(truth.parent / "answer_effects.json")
                       if truth is not None and (truth.parent / "answer_effects.json").exists()
                       else None)
            written += fig.fig_design_effects(
                design, out / "design_effects", period,
                fig.answer_effects_truth(effects) if effects else None)
    hmm = read_hmm_results(results / "hmm.json") if _exists(results / "hmm.json") else None
    if isinstance(hmm, RelationshipHMMResults):
        # the period of the panel the model was fitted on, recorded by the hmm stage
        hmm_period = (_read(results / "hmm.json") or {}).get("period")
        truth_terms = None
        if truth is not None and truth.exists():
            from complaintpanel.model import ModelParams

            truth_terms = ModelParams.from_dict(
                json.loads(verified_input(truth).read_text())["model"]).reported_terms()
        written += fig.fig_hmm_states(hmm, out / "hmm_states", hmm_period, truth_terms)
        written += fig.fig_hmm_transitions(hmm, out / "hmm_transitions")
        written += fig.fig_hmm_effects(hmm, out / "hmm_effects")
        fits: dict[str, RelationshipHMMResults] = {"classifier labels": hmm}
        truth_path = results / "truth-labels" / "hmm.json"
        truth_fit = read_hmm_results(truth_path) if _exists(truth_path) else None
        if isinstance(truth_fit, RelationshipHMMResults):
            fits = {"true labels": truth_fit, **fits}
        if truth is not None and truth.exists():
            written += fig.fig_parameter_recovery(_hmm_truth(truth), fits,
                                                  out / "parameter_recovery")
    policy = _read(results / "policy.json")
    if policy is not None and "periods" in policy:
        # a simulated world's policy truth (`policy --truth`), named by policy.json
        true_policy = (_read(results / policy["truth_file"]) if "truth_file" in policy
                       else None)
        written += fig.fig_policies(policy, out / "policies", truth=true_policy)
    validity = _read(results / "label_validity.json")
    if validity is not None and "confusion" in validity:
        from complaintpanel.label.evaluate import LabelReport

        report = LabelReport(labels=tuple(validity["labels"]),
                             confusion=np.asarray(validity["confusion"]))
        written += fig.fig_label_validity(report, out / "label_validity",
                                          title="Default classifier vs the simulated true voice",
                                          reference="Simulated true voice")
    if validity is not None and "validation" in validity:
        from complaintpanel.report.fig_measurement import fig_misclassification

        written += fig_misclassification(validity, out)
    return written


def label_validity(
    voiced: Annotated[Path, typer.Argument(help="voiced.parquet labelled by a classifier.")],
    truth: Annotated[Path | None, typer.Argument(
        help="The simulator's truth/voice.parquet (simulated worlds only).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Results folder (default results/NAME, NAME = the folder of VOICED).")] = None,
    interim: Annotated[Path | None, typer.Option(
        help="Interim folder the labels were made from, whose pseudonymisation key hashed "
             "their tweet ids (default: the input named in VOICED's label_report.json).")
    ] = None,
    validation: Annotated[Path | None, typer.Option(
        help="Coded validation sheet (validation-sample, then coded by hand or by "
             "validation-code-oracle): report the estimated misclassification matrix M with "
             "its uncertainty.")] = None,
    config: ConfigOption = None,
) -> None:
    """Report the classifier's validity: its confusion with the truth and/or the estimated M.

    With TRUTH (a simulated world), the confusion matrix against the simulated true voice
    (``voiced.parquet`` holds keyed pseudonyms of the tweet ids; the truth's raw ids are
    hashed with the same key to join the two) and the true M[v, l] = P(label l | true v).
    With ``--validation``, M and the true voice shares estimated from the coded validation
    sample, with delta-method standard errors and 95% intervals (``validation``), beside the
    true M when TRUTH is given too.
    """
    import numpy as np
    import pandas as pd

    from complaintpanel.label.evaluate import evaluate_labels
    from complaintpanel.label.validation import load_validation_counts
    from complaintpanel.model.measurement import VOICES, validation_description
    from complaintpanel.runtime.inputs import require_rows

    if truth is None and validation is None:
        raise PipelineError("give the simulator's truth, a coded validation sheet "
                            "(--validation), or both", file=voiced)
    for path in (voiced, truth, validation):
        if path is not None and not path.is_file():
            raise PipelineError("does not exist", file=path)
    out = out or Path("results") / voiced.parent.name
    started = time.perf_counter()
    if interim is None and truth is not None:
        label_report = _read(voiced.parent / "label_report.json") or {}
        if not label_report.get("input"):
            raise PipelineError("has no label_report.json naming the interim folder it was "
                                "labelled from; give it with --interim", file=voiced)
        interim = Path(label_report["input"]).parent
    payload: dict[str, object] = {}
    summary = []
    with stage_outputs("label-validity", out) as outputs:
        require_rows(verified_input(voiced))
        labelled = pd.read_parquet(voiced, columns=["tweet_id", "voice"])
        if truth is not None and interim is not None:
            merged = labels_beside_truth(labelled, truth, interim, config)
            report = evaluate_labels(merged["voice_true"], merged["voice_label"])
            payload.update(report.to_dict())
            order = [list(report.labels).index(v) for v in VOICES]
            confusion = np.asarray(report.confusion, dtype=float)[np.ix_(order, order)]
            payload["true_misclassification"] = {
                "voices": list(VOICES),
                "misclassification": (confusion / confusion.sum(axis=1, keepdims=True)).tolist(),
                "true_shares": (confusion.sum(axis=1) / confusion.sum()).tolist(),
                "note": "M[v, l] = P(label l | true v) over every customer tweet (the truth)"}
            summary.append(f"{report.n:,} tweets, accuracy {report.accuracy:.3f}")
        if validation is not None:
            counts = load_validation_counts(validation, labelled)
            payload["validation"] = validation_description(counts)
            summary.append(f"M estimated from {counts.n:,} coded tweets")
        write_json(payload, outputs.path("label_validity.json"))
    echo_summary("label-validity", f"{'; '.join(summary)} → {out / 'label_validity.json'}",
                 time.perf_counter() - started)


def summary(
    results: Annotated[Path, typer.Argument(help="Results folder of one dataset.")],
    out: Annotated[Path | None, typer.Option(help="Markdown file (default RESULTS/summary.md).")
                   ] = None,
) -> None:
    """Write a one-page summary: what was estimated, what could not be, and why."""
    from complaintpanel.report.summary import summary_markdown

    started = time.perf_counter()
    out = out or results / "summary.md"
    with stage_outputs("summary", out.parent) as outputs:
        for path in sorted(results.glob("*")):
            if path.is_file():
                verified_input(path)
        text = summary_markdown(results)
        with atomic_path(outputs.path(out)) as tmp:
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
    output_folder(results)
    # One file, written atomically, under the stage's lock but without a completion record:
    # its stage timings differ between runs by design, and a record of its hash would make the
    # results folder differ too.
    with stage_lock(results, "manifest"):
        for path in sorted(results.rglob("*")):
            if path.is_file() and path.name != "manifest.json":
                verified_input(path)
        payload = build_manifest(results, list(raw or []), load(config), config,
                                 Path(timings) if timings else None, processed)
        write_json(payload, results / "manifest.json")
    echo_summary("manifest", f"{len(payload['outputs'])} outputs, {len(payload['stages'])} "
                 f"stage timings → {results / 'manifest.json'}", time.perf_counter() - started)


def paper(
    source: Annotated[Path, typer.Argument(help="Typst manuscript.")] = Path("paper/paper.typ"),
    out: Annotated[Path, typer.Option(help="PDF to write.")] = Path("paper/paper.pdf"),
    root: Annotated[Path, typer.Option(help="Project root the manuscript may read.")] = Path("."),
    results: Annotated[Path | None, typer.Option(
        help="Results folder of one dataset, for paper/dataset.typ (input `results`).",
        exists=True, file_okay=False)] = None,
    real: Annotated[Path | None, typer.Option(
        help="Results folder of the full TWCS run (results/twcs), for the real-data section "
             "of paper/paper.typ (input `real`); without it the section gives the command "
             "that fills it.", exists=True, file_okay=False)] = None,
) -> None:
    """Compile a manuscript to PDF (offline, embedded fonts only).

    ``paper/paper.typ`` is the replication paper (simulated world, and the TWCS run with
    ``--real``); ``paper/dataset.typ --results results/NAME`` reports one dataset's run.
    """
    from complaintpanel.report.paper import compile_paper

    folders = {name: folder for name, folder in (("results", results), ("real", real))
               if folder is not None}
    started = time.perf_counter()
    try:
        compile_paper(source, out, root, folders)
    except ValueError as error:  # a results folder outside the root
        raise PipelineError(str(error), file=source) from None
    echo_summary("paper", f"{out} ({out.stat().st_size / 1024:.0f} KiB)",
                 time.perf_counter() - started)


def register(app: typer.Typer) -> None:
    """Add the reporting commands to ``app``."""
    for command in (describe, figures, label_validity, summary, manifest, paper):
        app.command()(command)
