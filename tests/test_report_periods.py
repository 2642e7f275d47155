"""Tables, figures and the summary name the panel's period: a monthly panel says "month"."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.config import SimulateConfig
from complaintpanel.report import figures
from complaintpanel.report.periods import period_words
from complaintpanel.runtime.io import write_parquet
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth


def _figure_text(fig: plt.Figure) -> list[str]:
    texts = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        texts += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
    return [t for t in texts if t]


@pytest.fixture(scope="module")
def monthly_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Panel (--period month) → estimate → figures → summary, through the command line."""
    root = tmp_path_factory.mktemp("monthly")
    processed, results = root / "processed", root / "results"
    world = simulate_world(SimulateConfig(customers=600, weeks=26, seed=8))
    write_parquet(voiced_from_truth(world), processed / "voiced.parquet")
    # the sensitivity table's words are tested, not its bootstrap: 3 replicates, not 40
    config = root / "config.toml"
    config.write_text("[estimate]\nsensitivity_reps = 3\n")
    runner = CliRunner()
    labels: dict[str, list[str]] = {}
    original = figures.save_figure

    def capture(fig: plt.Figure, stem: str | Path) -> list[Path]:
        labels[Path(stem).name] = _figure_text(fig)
        return original(fig, stem)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(figures, "save_figure", capture)
        for args in (["panel", str(processed), "--period", "month"],
                     ["estimate", str(processed), "--out", str(results), "--config",
                      str(config)],
                     ["figures", str(results), "--processed", str(processed)],
                     ["summary", str(results)]):
            outcome = runner.invoke(app, args)
            assert outcome.exit_code == 0, (args, outcome.output, outcome.exception)
    return {"results": results, "labels": labels}


def test_the_estimate_stage_records_the_panel_period(monthly_run: dict[str, object]) -> None:
    results = monthly_run["results"]
    assert isinstance(results, Path)
    estimates = json.loads((results / "estimates.json").read_text())
    assert estimates["settings"]["period"] == "month"
    assert estimates["design"]["status"] == "estimated"
    assert estimates["sensitivity"]["info"]["bootstrap_reps"] == 3  # the fixture's config


def test_monthly_tables_say_month(monthly_run: dict[str, object]) -> None:
    tables = monthly_run["results"] / "tables"  # type: ignore[operator]
    # (hidden files are the stage's completion record, not tables)
    texts = {p.name: p.read_text() for p in sorted(tables.iterdir())
             if not p.name.startswith(".")}
    stems = {"descriptives", "design_answered", "design_heterogeneity", "design_sentiment",
             "awareness", "design_sensitivity",
             "event_study_complaints", "event_study_complaint_anchored_complaints",
             "event_study_sentiment_mean", "fe_sentiment", "ppml_complaints"}
    # the figures stage adds the paper's regression table (reduced.typ/.tex/.md) beside them
    assert set(texts) == {f"{stem}.{ext}" for stem in stems for ext in ("md", "tex")} | {
        "reduced.typ", "reduced.tex", "reduced.md"}
    for name, text in texts.items():
        assert "week" not in text.lower(), name
    design = texts["design_answered.md"]
    assert "| Outcome month |" in design and "customer-months" in design
    assert "later months" in design and "brand × month" in design
    descriptives = texts["descriptives.md"]
    assert "| Months |" in descriptives and "Pair-months (panel rows)" in descriptives
    assert "customer × brand × month panel" in descriptives
    assert "brand $\\times$ month fixed effects" in texts["ppml_complaints.tex"]
    assert '"Brand × month fixed effects", "yes"' in texts["reduced.typ"]


def test_monthly_figures_say_month(monthly_run: dict[str, object]) -> None:
    labels = monthly_run["labels"]
    assert isinstance(labels, dict)
    assert {"activity_by_brand", "design_effects", "event_study_complaints",
            "event_study_sentiment_mean"} <= set(labels)
    for stem, texts in labels.items():
        for text in texts:
            assert "week" not in text.lower(), (stem, text)
    assert "Months after the answer (t + lead)" in labels["design_effects"]
    assert "Months since the brand's first reply" in labels["event_study_complaints"]
    # the coefficients are differences from the reference period, and the axis says so
    assert "Complaints per customer-month:\ndifference from month −1" in labels[
        "event_study_complaints"]
    assert "Mean sentiment of the month's tweets:\ndifference from month −1" in labels[
        "event_study_sentiment_mean"]
    assert "Month start" in labels["activity_by_brand"]


def test_monthly_summary_says_month(monthly_run: dict[str, object]) -> None:
    summary = (monthly_run["results"] / "summary.md").read_text()  # type: ignore[operator]
    assert "week" not in summary.lower()
    assert "complaints next month" in summary and " months, " in summary


def test_period_words() -> None:
    assert period_words("day").plural == "days" and period_words("day").adjective == "daily"
    assert period_words("month").title_plural == "Months"
    assert period_words(None).noun == "period" and period_words("fortnight").noun == "period"


def test_hmm_states_figure_names_the_period(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import hmm_results_at

    hmm = hmm_results_at()
    seen: list[str] = []
    original = figures.save_figure

    def capture(fig: plt.Figure, stem: str | Path) -> list[Path]:
        seen.extend(_figure_text(fig))
        return original(fig, stem)

    monkeypatch.setattr(figures, "save_figure", capture)
    figures.fig_hmm_states(hmm, tmp_path / "states", "day")
    assert "Expected tweets per customer-day" in seen
