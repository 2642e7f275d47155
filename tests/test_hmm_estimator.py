"""RelationshipHMM API, identification errors, options and the CLI (policies: test_policy.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.hmm import (
    IdentificationError,
    ModelSpec,
    RelationshipHMM,
    prepare_panel,
    sample_panel,
)
from complaintpanel.hmm.policy import simulate_policies
from complaintpanel.model import add_hmm_covariates, default_params


@pytest.fixture(scope="module")
def small_panel() -> pd.DataFrame:
    # the estimator's view of the default world: no neutral tweets (it does not model them)
    return sample_panel(default_params().replace(neutral=None), 800, 20, random_state=21)


@pytest.fixture(scope="module")
def small_fit(small_panel) -> RelationshipHMM:
    return RelationshipHMM(n_starts=2, random_state=1).fit(small_panel)


# ------------------------------------------------------------------ identification errors
def test_no_intervention_variation_is_a_clear_error(small_panel):
    panel = small_panel.drop(columns=["intervened", "redress", "peer_voice"]).assign(
        answered_complaints=0)
    with pytest.raises(IdentificationError, match=r"`intervened` does not vary.*delta"):
        RelationshipHMM(n_starts=1).fit(panel)


def test_intervention_always_on_is_a_clear_error(small_panel):
    with pytest.raises(ValueError, match=r"`intervened` does not vary.*always 1"):
        RelationshipHMM(n_starts=1).fit(small_panel.assign(intervened=1))


def test_no_redress_variation_is_a_clear_error(small_panel):
    panel = small_panel.assign(redress=0)
    with pytest.raises(ValueError, match=r"`redress` never varies.*gamma"):
        RelationshipHMM(n_starts=1).fit(panel)


def test_single_period_customers_are_a_clear_error(small_panel):
    first = small_panel.groupby(["customer_id", "brand"]).head(1)
    with pytest.raises(ValueError, match="two or more periods"):
        RelationshipHMM(n_starts=1).fit(first)


def test_missing_columns_and_gaps_are_clear_errors(small_panel):
    with pytest.raises(KeyError, match="compliments"):
        RelationshipHMM(n_starts=1).fit(small_panel.drop(columns=["compliments"]))
    gappy = small_panel.drop(index=small_panel.index[5])
    with pytest.raises(ValueError, match="consecutive"):
        RelationshipHMM(n_starts=1).fit(gappy)
    with pytest.raises(ValueError, match="non-negative integer"):
        RelationshipHMM(n_starts=1).fit(small_panel.assign(complaints=-1))


def test_not_fitted_is_a_clear_error(small_panel):
    with pytest.raises(AttributeError, match="not fitted"):
        RelationshipHMM().score(small_panel)


# ------------------------------------------------------------------ data preparation
def test_leading_silent_periods_are_dropped_for_first_contact(small_panel):
    first = small_panel.groupby(["customer_id", "brand"]).head(1).index
    silent = small_panel.copy()
    extra = silent.loc[first].assign(period=lambda f: f["period"] - 1, complaints=0,
                                     compliments=0, answered_complaints=0, intervened=0,
                                     redress=0)
    padded = pd.concat([extra, silent], ignore_index=True)
    data = prepare_panel(padded, ModelSpec())
    assert data.dropped_rows == len(first)
    assert data.nobs == len(small_panel)
    kept = prepare_panel(padded, ModelSpec(first_contact="none"))
    assert kept.dropped_rows == 0 and kept.nobs == len(padded)


def test_covariates_are_derived_when_absent(small_panel):
    raw = small_panel.drop(columns=["intervened", "redress", "peer_voice"])
    a = prepare_panel(raw, ModelSpec())
    b = prepare_panel(small_panel, ModelSpec())
    np.testing.assert_allclose(a.x_transition, b.x_transition)
    np.testing.assert_allclose(a.x_complaint, b.x_complaint)


def test_sampler_matches_model_covariate_definitions(small_panel):
    derived = add_hmm_covariates(small_panel.drop(columns=["intervened", "redress",
                                                           "peer_voice"]))
    for col in ("intervened", "redress", "peer_voice"):
        np.testing.assert_allclose(derived[col].to_numpy(float),
                                   small_panel[col].to_numpy(float))
    first = small_panel.groupby(["customer_id", "brand"]).head(1)
    assert ((first["complaints"] + first["compliments"]) > 0).all()  # first contact


# ------------------------------------------------------------------ API
def test_fitted_attributes_and_inference(small_fit, small_panel):
    res = small_fit.results_
    assert small_fit.params_.index.equals(res.params.index)
    assert small_fit.transmat_.shape == (3, 3)
    np.testing.assert_allclose(small_fit.transmat_.sum(axis=1), 1.0)
    assert small_fit.startprob_.sum() == pytest.approx(1.0)
    assert small_fit.score(small_panel) == pytest.approx(res.loglike, abs=1e-6)
    assert small_fit.score_samples(small_panel)["loglike"].sum() == pytest.approx(res.loglike)
    proba = small_fit.predict_proba(small_panel)
    assert len(proba) == len(small_panel)
    assert list(proba.columns) == ["customer_id", "brand", "period", "p_poor", "p_fair",
                                   "p_good"]
    filtered = small_fit.filtered_proba(small_panel)
    np.testing.assert_allclose(filtered.iloc[:, 3:].sum(axis=1), 1.0, atol=1e-12)
    states = small_fit.predict(small_panel)
    assert set(states.unique()) <= {0, 1, 2}
    assert res.bic > -2 * res.loglike
    ci = res.conf_int(0.1)
    assert (ci["lower"] < res.params).all() and (res.params < ci["upper"]).all()
    drawn = small_fit.sample(50, 10, random_state=0)
    assert {"state", "complaints", "intervened"} <= set(drawn.columns)
    assert "neutral" not in drawn  # the estimator does not model neutral tweets


def test_public_pieces_for_simulation(small_fit, small_panel):
    # What policy simulation uses instead of the estimator's internals.
    res = small_fit.results_
    pd.testing.assert_series_equal(res.model_params().reported(), res.params)
    pd.testing.assert_series_equal(small_fit.model_params_.reported(), res.params)
    frame = small_fit.model_frame(small_panel)
    assert len(frame) == res.nobs
    assert {"intervened", "redress", "peer_voice"} <= set(frame.columns)
    filtered = small_fit.filtered_proba(small_panel)
    last = small_fit.filtered_last_proba(small_panel)
    expected = filtered.groupby(["customer_id", "brand"], sort=False).tail(1)
    pd.testing.assert_frame_equal(last, expected.reset_index(drop=True))
    pd.testing.assert_frame_equal(
        frame.groupby(["customer_id", "brand"], sort=False).tail(1)[
            ["customer_id", "brand", "period"]].reset_index(drop=True),
        last[["customer_id", "brand", "period"]])
    # at several parameter sets: one block per set, the fitted one first
    drawn = [res.model_params(), res.draw_model_params(np.random.default_rng(0))]
    both = small_fit.filtered_last_proba(small_panel, params=drawn)
    assert list(both["draw"].unique()) == [0, 1]
    pd.testing.assert_frame_equal(both[both["draw"] == 0].drop(columns="draw"), last)
    assert not np.allclose(both.loc[both["draw"] == 1, "p_poor"], last["p_poor"])
    # draws from the sampling distribution: centred on the estimate, spread as the bse
    rng = np.random.default_rng(1)
    draws = pd.DataFrame([res.draw_model_params(rng).reported() for _ in range(400)])
    z = (draws.mean() - res.params) / (res.bse / np.sqrt(len(draws)))
    assert (z[["gamma", "delta", "eta"]].abs() < 4).all(), z
    ratio = (draws.std() / res.bse)[["gamma", "delta", "eta"]]
    assert ((ratio > 0.85) & (ratio < 1.15)).all(), ratio


def test_from_params_scores_match_fit_at_truth(small_fit, small_panel):
    truth = RelationshipHMM.from_params(default_params())
    assert small_fit.results_.loglike >= truth.score(small_panel) - 1e-6


def test_parallel_starts_match_serial(small_fit, small_panel):
    serial = small_fit.results_  # n_starts=2, random_state=1, serial
    parallel = RelationshipHMM(n_starts=2, random_state=1, n_jobs=2).fit(small_panel).results_
    assert parallel.loglike == pytest.approx(serial.loglike, abs=1e-8)
    pd.testing.assert_series_equal(parallel.params, serial.params, atol=1e-8)


def test_robust_and_bootstrap_standard_errors(small_fit, small_panel):
    oim = small_fit.results_
    robust = RelationshipHMM(n_starts=2, random_state=1, cov_type="robust").fit(
        small_panel).results_
    boot = RelationshipHMM(n_starts=1, random_state=0, cov_type="bootstrap", n_boot=10,
                           gtol=1e-6).fit(small_panel).results_
    pd.testing.assert_series_equal(robust.params, oim.params)
    # a correctly specified model: sandwich ≈ inverse information
    ratio = (robust.bse / oim.bse).to_numpy()
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio
    ratio = (boot.bse / oim.bse)[["gamma", "delta"]].to_numpy()
    assert np.all((ratio > 0.4) & (ratio < 2.5)), ratio  # 10 replications: rough
    assert boot.extra["n_boot"] == 10


def test_options_fit_sentiment_unanswered_and_latency(small_panel):
    rng = np.random.default_rng(0)
    panel = small_panel.copy()
    voiced = panel["complaints"] + panel["compliments"] > 0
    state_mean = np.array([-0.5, 0.0, 0.5])[panel["state"].to_numpy()]
    panel["sentiment_mean"] = np.where(voiced, state_mean + 0.3 * rng.standard_normal(len(panel)),
                                       np.nan)
    panel["reply_latency_h"] = np.where(panel["intervened"] > 0,
                                        rng.exponential(4.0, len(panel)), np.nan)
    fit = RelationshipHMM(n_starts=1, random_state=0, sentiment=True, unanswered=True,
                          latency_hours=2.0).fit(panel)
    params = fit.results_.params
    assert {"kappa", "delta_fast", "m[poor]", "sigma[good]"} <= set(params.index)
    assert params["m[poor]"] < params["m[fair]"] < params["m[good]"]
    assert abs(params["kappa"]) < 4 * fit.results_.bse["kappa"]  # truth 0
    policies = simulate_policies(fit.results_, panel, horizon=2, cohort_horizon=2, n_draws=3,
                                 n_paths=1, random_state=0)
    assert "fast" in set(policies.totals["arm"])


def test_select_n_states_prefers_the_true_k(small_panel):
    from complaintpanel.hmm import select_n_states

    table = select_n_states(small_panel, n_states=(2, 3), n_starts=2, random_state=0)
    assert table.loc[table["best"], "n_states"].item() == 3


# Policies: tests/test_policy.py.


# ------------------------------------------------------------------ CLI
def test_cli_hmm_and_policy(tmp_path, small_panel):
    from complaintpanel.cli import app

    folder = tmp_path / "world"
    (folder / "truth").mkdir(parents=True)
    small_panel.to_parquet(folder / "truth" / "states.parquet")
    out = tmp_path / "results"
    runner = CliRunner()
    result = runner.invoke(app, ["hmm", str(folder), "--out", str(out), "--starts", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("hmm: K=3, gamma")  # progress lines go to stderr
    stored = json.loads((out / "hmm.json").read_text())
    for key in ("params", "bse", "loglike", "bic", "n_starts_converged", "converged",
                "transition_matrices", "cov_theta"):
        assert key in stored
    assert set(stored["transition_matrices"]) == {"no_intervention", "intervention"}
    assert (out / "hmm_table.md").exists() and (out / "hmm_table.tex").exists()
    result = runner.invoke(app, ["policy", str(folder), "--out", str(out), "--horizon", "3",
                                 "--draws", "4"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("policy: complaints per customer")
    assert (out / "policy.json").exists() and (out / "policy_table.tex").exists()


def test_cli_records_a_panel_that_cannot_identify_the_model(tmp_path, small_panel):
    from complaintpanel.cli import app

    panel = small_panel.drop(columns=["intervened", "redress", "peer_voice"]).assign(
        answered_complaints=0)
    folder = tmp_path / "processed"
    folder.mkdir()
    panel.to_parquet(folder / "panel.parquet")
    out = tmp_path / "results"
    runner = CliRunner()
    result = runner.invoke(app, ["hmm", str(folder), "--out", str(out), "--starts", "1"])
    assert result.exit_code == 0, result.output
    assert "not identified" in result.output
    stored = json.loads((out / "hmm.json").read_text())
    assert stored["status"] == "not identified" and "delta" in stored["reason"]
    result = runner.invoke(app, ["policy", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "policy.json").read_text())["status"] == "not identified"
