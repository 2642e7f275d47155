"""Reduced-form estimators: independent implementations agree, and the design recovers truth."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest

from complaintpanel.config import EstimateConfig, SimulateConfig
from complaintpanel.estimate import (
    NotEstimated,
    NotIdentifiedError,
    add_model_columns,
    answered_vs_unanswered,
    event_study,
    fit_linear_fe,
    fit_panelols,
    fit_ppml,
)
from complaintpanel.estimate.run import run_estimates
from complaintpanel.panel import build_panel
from complaintpanel.report.estimate_tables import write_estimate_tables
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth


@pytest.fixture(scope="module")
def small_panel() -> pd.DataFrame:
    world = simulate_world(SimulateConfig(customers=400, weeks=10, seed=21))
    return add_model_columns(build_panel(voiced_from_truth(world)))


# The default settings but for the sensitivity bootstrap's replicates (3, not the default 40:
# their number is plumbing here, and a stage ignoring the setting would report 40).
WHOLE_RUN_SETTINGS = EstimateConfig(sensitivity_reps=3)


@pytest.fixture(scope="module")
def whole_run(small_panel: pd.DataFrame) -> dict[str, Any]:
    """``run_estimates`` as the estimate stage runs it (``WHOLE_RUN_SETTINGS``)."""
    return run_estimates(small_panel.drop(columns=[c for c in small_panel.columns
                                                   if c.startswith("treat_")]),
                         WHOLE_RUN_SETTINGS, with_event_studies=True, period="week")


def test_ppml_equals_conditional_poisson(small_panel: pd.DataFrame) -> None:
    """PPML with pair effects = conditional Poisson MLE (the pair effects condition out)."""
    from statsmodels.discrete.conditional_models import ConditionalPoisson

    ppml = fit_ppml(small_panel, "answered_complaint")
    sample = small_panel.dropna(subset=["treat_answered_complaint"])
    # Pairs that never complain carry no information (pyfixest drops them as separated).
    sample = sample[sample.groupby("pair_id")["complaints"].transform("sum") > 0]
    dummies = pd.get_dummies(sample["brand_period"], drop_first=True, dtype=float)
    exog = pd.concat([sample[["treat_answered_complaint"]], dummies], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conditional = ConditionalPoisson(sample["complaints"].to_numpy(), exog.to_numpy(),
                                         groups=sample["pair_id"].to_numpy()).fit(
            method="newton", maxiter=200, tol=1e-12, disp=False)
    beta = conditional.params[0]
    assert ppml.params["answered_complaint"] == pytest.approx(beta, rel=1e-5)


def test_feols_equals_panelols(small_panel: pd.DataFrame) -> None:
    """Same coefficient to 1e-8 and same clustered SE to 1e-6 once corrections are aligned.

    Alignment (documented in ``fit_panelols``): pyfixest with ``ssc(k_adj=False,
    G_adj=True)`` scales the cluster sandwich by G/(G−1); linearmodels' ``group_debias`` by
    G/(G−1)·(N−1)/N, with absorbed effects not counted on either side.
    """
    aligned = fit_linear_fe(small_panel, "sentiment_mean", "replied",
                            ssc=pf.ssc(k_adj=False, G_adj=True))
    reference = fit_panelols(small_panel, "sentiment_mean", "replied")
    n = aligned.nobs
    assert n == reference.nobs
    assert aligned.params["replied"] == pytest.approx(reference.params["replied"], rel=1e-8)
    assert aligned.bse["replied"] * np.sqrt((n - 1) / n) == pytest.approx(
        reference.bse["replied"], rel=1e-6)


def test_results_have_the_statsmodels_shape(small_panel: pd.DataFrame) -> None:
    result = fit_ppml(small_panel, "replied")
    ci = result.conf_int()
    assert list(ci.columns) == ["lower", "upper"]
    assert ci.loc["replied", "lower"] < result.params["replied"] < ci.loc["replied", "upper"]
    assert 0 <= result.pvalues["replied"] <= 1
    assert "ppml_complaints" in result.summary()
    cov = result.cov_params()
    assert list(cov.index) == list(cov.columns) == ["replied"]
    assert cov.loc["replied", "replied"] == pytest.approx(result.bse["replied"] ** 2, rel=1e-12)
    assert result.term(treatment="replied")["outcome"] == "complaints"
    as_dict = result.to_dict()
    assert as_dict["status"] == "estimated"
    assert [t["name"] for t in as_dict["terms"]] == ["replied"]
    assert as_dict["terms"][0]["treatment"] == "replied"


def test_design_covers_the_true_answering_effects() -> None:
    """With exogenous answering, the AIPW 95% intervals cover the simulator's true effects.

    One world at CI size; benchmarks/bench_panel.py measures coverage over 100+ worlds.
    """
    world = simulate_world(SimulateConfig(customers=3000, weeks=20, seed=31))
    data = add_model_columns(build_panel(voiced_from_truth(world)))
    design = answered_vs_unanswered(data, horizon=2)
    # the truth on the same customer-periods the estimator kept after trimming for overlap
    truth = world.answer_effects(horizon=2, draws=10, rows=design.kept).set_index("lead")
    assert len(design.params) == 6
    for outcome in ("complaints", "compliments"):
        for lead in range(3):
            term = design.term(outcome=outcome, lead=lead)
            true_value = truth.loc[lead, f"effect_{outcome}"]
            assert term["ci_lower"] <= true_value <= term["ci_upper"], (outcome, lead)
    # The relationship effect dominates next week's complaints (DESIGN.md §5) ...
    assert design.term(outcome="complaints", lead=0)["ci_upper"] < 0
    # ... while the fixed-effects PPML lands on the other side of zero.
    assert fit_ppml(data, "answered_complaint").params["answered_complaint"] > 0


def test_models_without_variation_are_reported_not_crashed(small_panel: pd.DataFrame) -> None:
    silent_brand = small_panel.assign(replied=0, replies=0, answered_complaints=0,
                                      answered_neutral=0, answered_compliments=0,
                                      unanswered_complaints=small_panel["complaints"],
                                      replies_before=0, fastest_reply_h=np.nan,
                                      reply_latency_h=np.nan, first_reply_period=pd.NA,
                                      event_time=pd.NA)
    data = add_model_columns(silent_brand)
    with pytest.raises(NotIdentifiedError, match="never varies"):
        fit_ppml(data, "replied")
    with pytest.raises(NotIdentifiedError, match="no comparison"):
        answered_vs_unanswered(data)
    results = run_estimates(silent_brand, with_event_studies=True)
    for entry in (results["ppml_complaints"]["replied"], results["design"],
                  results["event_study"]["complaints"], results["sensitivity"],
                  results["event_study_complaint_anchored"]["complaints"]):
        assert isinstance(entry, NotEstimated) and entry.status == "not identified"
    assert "never varies" in results["ppml_complaints"]["replied"].reason


def test_event_study_reports_both_estimators(small_panel: pd.DataFrame) -> None:
    studies = event_study(small_panel, "complaints", window=3)
    assert list(studies) == ["did2s", "twfe"]
    expected_times = {"did2s": list(range(0, 4)), "twfe": list(range(-3, 4))}
    for estimator, result in studies.items():
        rows = result.term_estimates()
        assert rows["event_time"].tolist() == expected_times[estimator]
        assert (rows["estimator"] == estimator).all() and (rows["outcome"] == "complaints").all()
        n_params = len(expected_times[estimator]) - (estimator == "twfe")
        assert len(result.params) == n_params and (result.bse > 0).all()
        assert result.cov_params().shape == (n_params, n_params)
        np.testing.assert_allclose(np.diag(result.cov_params()), result.bse**2, rtol=1e-12)
        assert result.nobs > 0
    # the TWFE reference period is in the term table as a fixed zero, not a parameter
    reference = studies["twfe"].term_estimates().query("event_time == -1").iloc[0]
    assert reference["fixed"] and reference["estimate"] == 0 and np.isnan(reference["se"])
    assert reference.name not in studies["twfe"].params.index
    # did2s reports no leads: the pre-trend test on unanswered rows does (−3 … −1)
    test = studies["did2s"].info["pretrend_test"]
    assert [lead["event_time"] for lead in test["leads"]] == [-1, -2, -3]
    assert 0 <= test["pvalue"] <= 1 and test["df"] == 3


def test_tables_are_written_in_both_formats(whole_run: dict[str, Any], tmp_path: Path) -> None:
    results = whole_run
    written = write_estimate_tables(results, tmp_path)
    # (the run has its event studies, so their tables are written too; the estimate stage
    # without them, `--no-event-studies`, runs in test_design_truth.py and test_validation.py)
    assert {p.name for p in written} == {f"{stem}.{ext}" for stem in (
        "descriptives", "ppml_complaints", "fe_sentiment", "design_answered",
        "design_sentiment", "awareness", "design_heterogeneity", "design_sensitivity",
        "event_study_complaints", "event_study_complaint_anchored_complaints",
        "event_study_sentiment_mean")
        for ext in ("md", "tex")}
    latex = (tmp_path / "ppml_complaints.tex").read_text()
    assert "\\toprule" in latex and "\\bottomrule" in latex
    assert "Answered a complaint" in (tmp_path / "ppml_complaints.md").read_text()
    assert "| Outcome week |" in (tmp_path / "design_answered.md").read_text()
    # the sensitivity block: bounds at every configured Λ for each design term, the flip Λ
    sensitivity = results["sensitivity"]
    settings = WHOLE_RUN_SETTINGS
    assert sensitivity["info"]["bootstrap_reps"] == settings.sensitivity_reps
    assert {row["lambda"] for row in sensitivity["bounds"]} == set(settings.sensitivity_lambdas)
    # the sentiment bounds without monotonicity at every configured defier share
    assert {row["defier_share"] for row in results["design_sentiment"]["defier_bounds"]} == \
        set(settings.sentiment_defier_shares)
    assert {row["outcome"] + str(row["lead"]) for row in sensitivity["flips"]} == {
        o + str(lead) for o in ("complaints", "compliments") for lead in range(5)}
    at_one = [row for row in sensitivity["bounds"] if row["lambda"] == 1.0]
    assert all(row["lower"] == pytest.approx(row["upper"]) for row in at_one)
    table = (tmp_path / "design_sensitivity.md").read_text()
    assert "| Complaints t+0 |" in table and "Flip Λ" in table and "Λ = 2.72" in table


def test_tiny_event_study_is_not_identified_instead_of_aborting() -> None:
    """A panel whose did2s first stage is all singletons: a reason, not a Rust panic.

    Run in a subprocess, since the panic would abort the test process itself.
    """
    import subprocess
    import sys

    code = """
import pandas as pd
from complaintpanel.estimate import event_study
from complaintpanel.results import NotIdentifiedError
d = pd.DataFrame({"customer_id": ["c0", "c0", "c1", "c1", "c1"], "brand": "b",
                  "pair_id": ["c0|b", "c0|b", "c1|b", "c1|b", "c1|b"],
                  "period": [2, 3, 1, 2, 3], "complaints": [2, 2, 0, 2, 1],
                  "first_reply_period": pd.array([None, None, 3, 3, 3], dtype="Int64")})
for estimator in ("did2s", "twfe", "poisson"):
    try:
        event_study(d, "complaints", window=2, estimators=(estimator,))
        print(estimator, "estimated")
    except NotIdentifiedError as error:
        print(estimator, "not identified:", error)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    # as many effects as observations: the linear estimators have no standard error and say
    # so; the Poisson fit (whose separation rules differ) must at least not abort
    for estimator in ("did2s", "twfe"):
        assert f"{estimator} not identified" in result.stdout
    assert "poisson estimated" in result.stdout or "poisson not identified" in result.stdout


def test_dependent_variable_means_are_over_the_rows_used(small_panel: pd.DataFrame) -> None:
    """The tables' 'Mean of the dependent variable' is over each regression's own N.

    PPML drops separated pairs (all-zero complaints), so its mean is the complaints of the
    informative pairs over its N; the linear FE mean is over the rows with a sentiment.
    """
    ppml = fit_ppml(small_panel, "answered_complaint")
    sample = small_panel.dropna(subset=["treat_answered_complaint"])
    assert ppml.info["dep_var_mean"] == pytest.approx(sample["complaints"].sum() / ppml.nobs,
                                                      rel=1e-12)
    assert ppml.info["dep_var_mean"] > sample["complaints"].mean()  # zeros were set aside
    linear = fit_linear_fe(small_panel, "sentiment_mean", "replied")
    rows = small_panel.dropna(subset=["treat_replied", "sentiment_mean"])
    rows = rows[rows.groupby("pair_id")["pair_id"].transform("size") > 1]
    rows = rows[rows.groupby("brand_period")["brand_period"].transform("size") > 1]
    assert linear.nobs == len(rows)
    assert linear.info["dep_var_mean"] == pytest.approx(rows["sentiment_mean"].mean(), rel=1e-12)


def test_the_pipeline_runs_the_complaint_anchored_study_on_complaints(
        small_panel: pd.DataFrame, whole_run: dict[str, Any]) -> None:
    """estimates.json's complaint-anchored study is the study of complaints in the main window."""
    from complaintpanel.estimate.event_study import complaint_anchored_event_study

    settings = WHOLE_RUN_SETTINGS
    anchored = whole_run["event_study_complaint_anchored"]["complaints"]
    direct = complaint_anchored_event_study(small_panel, "complaints", settings.event_window)
    assert anchored.nobs == direct.nobs
    pd.testing.assert_series_equal(anchored.params, direct.params, rtol=1e-10)
    pd.testing.assert_series_equal(anchored.bse, direct.bse, rtol=1e-10)
