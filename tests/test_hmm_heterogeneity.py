"""Random intercepts in the relationship HMM (issue 16): known answers, gradient, recovery."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import ParamLayout, RelationshipHMM, RelationshipHMMResults, prepare_panel
from complaintpanel.hmm.heterogeneity import (
    RandomIntercepts,
    customer_groups,
    evaluate_random_intercepts,
    heterogeneity_table,
    quadrature,
)
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.model import default_params
from complaintpanel.simulate import simulate_world

SIGMA = 0.7


@pytest.fixture(scope="module")
def small() -> tuple[ParamLayout, object, np.ndarray]:
    """40 customers × 26 weeks drawn with a complaint random effect of sd 0.7."""
    world = simulate_world(SimulateConfig(customers=40, seed=5, complaint_re_sd=SIGMA))
    spec = RelationshipHMM().make_spec()
    data = prepare_panel(world.states, spec)
    layout = ParamLayout(spec)
    theta = np.append(layout.from_natural(default_params().with_spec(spec)), SIGMA)
    return layout, data, theta


def _model(small, n_nodes: int = 9, adaptive: bool = True) -> RandomIntercepts:  # type: ignore[no-untyped-def]
    layout, data, _ = small
    return RandomIntercepts.from_data(layout, data, n_nodes=n_nodes, adaptive=adaptive)


def test_quadrature_integrates_normal_moments_exactly() -> None:
    nodes, weights = quadrature(9)
    assert weights.sum() == pytest.approx(1.0, abs=1e-15)
    for power, moment in ((1, 0.0), (2, 1.0), (4, 3.0), (6, 15.0), (16, 2027025.0)):
        assert (weights * nodes**power).sum() == pytest.approx(moment, rel=1e-10, abs=1e-12)


def test_sigma_zero_equals_the_homogeneous_likelihood(small) -> None:  # type: ignore[no-untyped-def]
    layout, data, theta = small
    chunks = data.chunks(4096)
    homogeneous = evaluate(theta[:-1], layout, chunks)
    at_zero = np.append(theta[:-1], 0.0)
    for model in (_model(small, adaptive=False), _model(small)):
        ev = model.adapt(at_zero)
        ev = model.evaluate(at_zero)
        assert ev.loglik == pytest.approx(homogeneous.loglik, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(ev.gradient()[:-1], homogeneous.gradient(), rtol=1e-9,
                                   atol=1e-9)
        assert abs(ev.gradient()[-1]) < 1e-9  # the likelihood is even in σ


def test_likelihood_is_even_in_sigma(small) -> None:  # type: ignore[no-untyped-def]
    layout, data, theta = small
    codes, n_groups = customer_groups(data)
    flipped = theta.copy()
    flipped[-1] = -SIGMA
    chunks = data.chunks(4096)
    up = evaluate_random_intercepts(theta, layout, chunks, codes, n_groups, gradient=False)
    down = evaluate_random_intercepts(flipped, layout, chunks, codes, n_groups, gradient=False)
    assert up.loglik == pytest.approx(down.loglik, rel=1e-12)


def test_adaptive_quadrature_matches_a_monte_carlo_integral(small) -> None:  # type: ignore[no-untyped-def]
    """Each customer's L_i = E_u Π_s L_s(σu) by 2,000 plain Monte Carlo draws of u.

    Tolerance: 4.5 Monte Carlo standard errors per customer (40 customers: a false alarm has
    probability ≈ 3e-4). Plain (non-adaptive) 9-node quadrature misses by far more: with 26
    weeks a customer's posterior of u is narrower than the node spacing.
    """
    layout, data, theta = small
    model = _model(small)
    adaptive = model.adapt(theta)
    plain = _model(small, adaptive=False).evaluate(theta, gradient=False)
    rng = np.random.default_rng(0)
    draws = rng.standard_normal(2000)
    chunks = data.chunks(4096)
    codes, n_groups = customer_groups(data)
    loglik = np.empty((draws.size, n_groups))
    a0 = layout.slices["a"].start
    for m, u in enumerate(draws):
        shifted = theta[:-1].copy()
        shifted[a0] += SIGMA * u
        loglik[m] = np.bincount(codes, evaluate(shifted, layout, chunks,
                                                gradient=False).loglik_seq, n_groups)
    top = loglik.max(axis=0)
    ratio = np.exp(loglik - top)
    mc_mean = ratio.mean(axis=0)
    mc_se = ratio.std(axis=0) / np.sqrt(draws.size)
    z_adaptive = np.abs(np.exp(adaptive.loglik_customer - top) - mc_mean) / mc_se
    z_plain = np.abs(np.exp(plain.loglik_customer - top) - mc_mean) / mc_se
    assert z_adaptive.max() < 4.5
    assert z_plain.max() > 10
    # and 9 adaptive nodes agree with 15 on the total to 0.01 log-likelihood units
    assert adaptive.loglik == pytest.approx(_model(small, n_nodes=15).adapt(theta).loglik,
                                            abs=0.01)


def test_gradient_matches_finite_differences(small) -> None:  # type: ignore[no-untyped-def]
    _, _, theta = small
    model = _model(small)
    point = theta + np.linspace(-0.05, 0.05, theta.size)  # away from the truth
    model.adapt(point)
    ev = model.evaluate(point, scores=True)
    grad = ev.gradient()
    assert ev.scores is not None
    np.testing.assert_allclose(ev.scores.sum(axis=1), grad, rtol=1e-10, atol=1e-8)
    numeric = np.empty_like(grad)
    for i in range(point.size):
        step = 1e-5
        up, down = point.copy(), point.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (model.evaluate(up, gradient=False).loglik
                      - model.evaluate(down, gradient=False).loglik) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-5)


def test_effect_is_shared_by_a_customers_sequences(small) -> None:  # type: ignore[no-untyped-def]
    """Two sequences of one customer integrate one u: L = Σ_q w_q L_1(z_q) L_2(z_q)."""
    layout, data, theta = small
    frame = data.frame
    first, second = (frame.drop_duplicates("customer_id")
                     .drop_duplicates("brand").head(2)["customer_id"])
    panel = frame.loc[:, ["customer_id", "brand", "period", "complaints", "compliments",
                          "answered_complaints", "peer_complaints", "peer_compliments"]]
    panel = panel.assign(customer_id=panel["customer_id"].replace({second: first}))
    merged = prepare_panel(panel, layout.spec)
    codes, n_groups = customer_groups(merged)
    assert n_groups == data.n_sequences - 1 and merged.n_sequences == data.n_sequences
    chunks = merged.chunks(4096)
    ev = evaluate_random_intercepts(theta, layout, chunks, codes, n_groups, gradient=False)
    nodes, weights = quadrature(9)
    a0 = layout.slices["a"].start
    own = np.flatnonzero(merged.sequences["customer_id"].to_numpy() == first)
    assert own.size == 2
    per_node = []
    for z in nodes:
        shifted = theta[:-1].copy()
        shifted[a0] += SIGMA * z
        per_node.append(evaluate(shifted, layout, chunks, gradient=False).loglik_seq[own].sum())
    expected = np.log(np.sum(weights * np.exp(np.asarray(per_node))))
    group = codes[own[0]]
    assert ev.loglik_customer[group] == pytest.approx(expected, rel=1e-12)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[RelationshipHMMResults, str]:
    """`complaintpanel hmm --heterogeneity random_intercepts` on a world with σ = 0.6.

    500 customers × 26 weeks; the CLI's fit is the one the recovery tests check (read back
    from hmm.json).
    """
    from typer.testing import CliRunner

    from complaintpanel.cli import app
    from complaintpanel.hmm.results import read_hmm_results

    world = simulate_world(SimulateConfig(customers=500, seed=11, complaint_re_sd=0.6))
    folder = tmp_path_factory.mktemp("world")
    (folder / "truth").mkdir(parents=True)
    world.states.to_parquet(folder / "truth" / "states.parquet")
    out = folder / "results"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a singular information would fail
        result = CliRunner().invoke(app, ["hmm", str(folder), "--out", str(out), "--starts",
                                          "1", "--heterogeneity", "random_intercepts",
                                          "--quadrature-nodes", "5"])
    assert result.exit_code == 0, result.output
    results = read_hmm_results(out / "hmm.json")
    assert isinstance(results, RelationshipHMMResults)
    return results, result.stdout


def test_recovers_sigma_gamma_delta(fitted: tuple[RelationshipHMMResults, str]) -> None:
    """Truth σ = 0.6, γ = 0.4, δ = 1.2, each within 3 standard errors."""
    results, _ = fitted
    truth = {"sigma[complaint]": 0.6, "gamma": 0.4, "delta": 1.2}
    for name, value in truth.items():
        assert abs(results.params[name] - value) < 3 * results.bse[name], name
    homogeneous = results.extra["heterogeneity"]["homogeneous"]["params"]
    assert abs(results.params["gamma"] - 0.4) < abs(homogeneous["gamma"] - 0.4)
    table = heterogeneity_table(results)
    assert table.loc[table["best"], "heterogeneity"].tolist() == ["random_intercepts"]
    assert table["n_params"].tolist() == [17, 18]
    assert results.extra["heterogeneity"]["bic_selects"] == "random_intercepts"


def test_results_and_cli_report_sigma(fitted: tuple[RelationshipHMMResults, str]) -> None:
    results, stdout = fitted
    assert "sigma[complaint]" in stdout and "BIC selects random_intercepts" in stdout
    assert results.n_params == 18
    assert "sigma[complaint]" in results.summary()
    assert "Customers differ" in results.summary()
    ci = results.conf_int()
    assert ci.loc["sigma[complaint]", "lower"] > 0
    assert results.terms.loc["sigma[complaint]", "block"] == "heterogeneity"
    back = RelationshipHMMResults.from_dict(results.to_dict())
    pd.testing.assert_series_equal(back.params, results.params)
    pd.testing.assert_series_equal(back.bse, results.bse)
    info = results.extra["heterogeneity"]
    assert info["quadrature_nodes"] == 5 and info["kind"] == "random_intercepts"
    assert "random_intercepts_seconds" not in info  # hmm.json is byte-identical across runs
    assert "fit_seconds" not in info["homogeneous"]


def test_bad_settings_are_refused() -> None:
    from complaintpanel.config import HMMConfig

    assert HMMConfig().heterogeneity == "none" and HMMConfig().quadrature_nodes == 9
    with pytest.raises(ValueError, match=r"\[hmm\] heterogeneity"):
        HMMConfig(heterogeneity="mixture")  # type: ignore[arg-type]
    panel = pd.DataFrame()
    with pytest.raises(ValueError, match="heterogeneity must be"):
        RelationshipHMM(heterogeneity="mixture").fit(panel)
    with pytest.raises(ValueError, match="cov_type='oim'"):
        RelationshipHMM(heterogeneity="classes", cov_type="robust").fit(panel)
    with pytest.raises(ValueError, match="cov_type='oim'"):
        RelationshipHMM(heterogeneity="random_intercepts", cov_type="robust").fit(panel)
    with pytest.raises(ValueError, match="not available with the reply process"):
        RelationshipHMM(heterogeneity="random_intercepts", reply_process=True).fit(panel)


def test_score_integrates_the_effect(fitted: tuple[RelationshipHMMResults, str]) -> None:
    """A model rebuilt from hmm.json scores its panel at the fit's log-likelihood."""
    results, _ = fitted
    world = simulate_world(SimulateConfig(customers=500, seed=11, complaint_re_sd=0.6))
    model = RelationshipHMM.from_results(results)
    assert model.score(world.states) == pytest.approx(results.loglike, abs=0.05)


@pytest.mark.parametrize("settings", [
    {"misclassification": np.array([[0.85, 0.05, 0.10], [0.05, 0.85, 0.10], [0.1, 0.1, 0.8]])},
    {"first_contact_truncation": "joint"},
], ids=["misclassification_layer", "joint_first_contact"])
def test_other_specifications(settings: dict[str, object]) -> None:
    """σ = 0 gives the homogeneous model, and the gradient is exact, under other options."""
    world = simulate_world(SimulateConfig(customers=40, seed=5, complaint_re_sd=SIGMA))
    spec = RelationshipHMM(**settings).make_spec()  # type: ignore[arg-type]
    data = prepare_panel(world.states, spec)
    layout = ParamLayout(spec)
    theta = np.append(layout.from_natural(default_params().with_spec(spec)), SIGMA)
    model = RandomIntercepts.from_data(layout, data)
    at_zero = np.append(theta[:-1], 0.0)
    model.adapt(at_zero)
    homogeneous = evaluate(theta[:-1], layout, data.chunks(4096))
    assert model.evaluate(at_zero).loglik == pytest.approx(homogeneous.loglik, rel=1e-12)
    point = theta + np.linspace(-0.05, 0.05, theta.size)
    model.adapt(point)
    grad = model.evaluate(point).gradient()
    numeric = np.empty_like(grad)
    for i in range(point.size):
        up, down = point.copy(), point.copy()
        up[i] += 1e-5
        down[i] -= 1e-5
        numeric[i] = (model.evaluate(up, gradient=False).loglik
                      - model.evaluate(down, gradient=False).loglik) / 2e-5
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-5)


@pytest.fixture(scope="module")
def fast_and_slow() -> dict[str, object]:
    """A 120-customer world (σ = 0.6) maximised from one homogeneous optimum both ways.

    ``fast``: OPG-preconditioned BFGS (the default); ``slow``: the earlier L-BFGS-B rounds.
    Each has its own :class:`RandomIntercepts` (7 adaptive nodes), whose nodes end adapted at
    its optimum. ``central``: the observed information at the fast optimum.
    """
    from complaintpanel.hmm.heterogeneity import (
        maximise,
        observed_information,
        start_from_homogeneous,
    )

    world = simulate_world(SimulateConfig(customers=120, seed=23, complaint_re_sd=0.6))
    model = RelationshipHMM(n_starts=1, random_state=0).fit(world.states)
    data = prepare_panel(world.states, model.spec_)
    layout = ParamLayout(model.spec_)
    theta0 = start_from_homogeneous(model.results_.theta, layout)
    out: dict[str, object] = {"theta0": theta0, "nobs": data.nobs}
    for name, optimiser in (("fast", "polish"), ("slow", "lbfgsb")):
        intercepts = RandomIntercepts.from_data(layout, data, n_nodes=7)
        theta, report, _ = maximise(theta0, intercepts, data.nobs, optimiser=optimiser)
        out[name] = (intercepts, theta, report)
    model, theta, _ = out["fast"]  # type: ignore[misc]
    out["central"] = observed_information(theta, model)  # standard errors for the tolerances
    return out


def _objective(model: RandomIntercepts, nobs: int):  # type: ignore[no-untyped-def]
    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        ev = model.evaluate(x)
        return -ev.loglik / nobs, -ev.gradient() / nobs
    return objective


def test_fast_path_reaches_the_plain_lbfgsb_optimum(fast_and_slow) -> None:  # type: ignore[no-untyped-def]
    """At the nodes the fast path ends with, plain L-BFGS-B finds the fast path's optimum.

    L-BFGS-B starts from the earlier path's optimum (found at other nodes, without the fast
    path's BFGS) and runs to a tenfold tighter tolerance. Same log-likelihood to 1e-5 and the
    same θ to 0.05 SE (the largest gap is in the weakly identified ``tau[poor,2]``; the others
    agree to 1e-4 SE). The forward-difference information, the fit's default, gives the
    central-difference standard errors to 0.1%.
    """
    from scipy.optimize import minimize

    from complaintpanel.hmm.heterogeneity import observed_information

    model, theta, report = fast_and_slow["fast"]
    nobs = fast_and_slow["nobs"]
    plain = minimize(_objective(model, nobs), fast_and_slow["slow"][1], jac=True,
                     method="L-BFGS-B",
                     options={"maxiter": 5000, "maxcor": 20, "ftol": 1e-15, "gtol": 1e-8})
    at_fast = model.evaluate(theta)
    assert report.loglike == pytest.approx(at_fast.loglik, abs=1e-6)  # reported at these nodes
    assert at_fast.loglik == pytest.approx(-plain.fun * nobs, abs=1e-5)
    se = np.sqrt(np.diag(np.linalg.inv(fast_and_slow["central"])))
    gap = np.abs(theta - plain.x) / se
    assert gap.max() < 0.05
    assert np.median(gap) < 1e-4
    forward = observed_information(theta, model, step=1e-6, scheme="forward")
    np.testing.assert_allclose(np.sqrt(np.diag(np.linalg.inv(forward))), se, rtol=1e-3)


def test_fast_path_matches_the_earlier_path(fast_and_slow) -> None:  # type: ignore[no-untyped-def]
    """Same log-likelihood and estimates as the L-BFGS-B rounds (each path's nodes adapted at
    its own optimum, so they agree to the adaptation tolerance, 0.01 in the log-likelihood,
    and to 0.02 SE), in fewer evaluations, with the nodes adapted at the optimum."""
    from complaintpanel.hmm.heterogeneity import maximise

    fast_model, fast, fast_report = fast_and_slow["fast"]
    _, slow, slow_report = fast_and_slow["slow"]
    assert fast_report.loglike == pytest.approx(slow_report.loglike, abs=0.01)
    se = np.sqrt(np.diag(np.linalg.inv(fast_and_slow["central"])))
    assert np.max(np.abs(fast - slow) / se) < 0.02  # measured 0.013 (median 0.006)
    assert fast_report.n_eval < slow_report.n_eval
    # the nodes end adapted at the optimum: adapting afresh there (from plain Gauss-Hermite)
    # moves the log-likelihood by less than the adaptation tolerance (measured 0.002)
    fresh = copy.deepcopy(fast_model)
    fresh.reset()
    assert fresh.adapt(fast).loglik == pytest.approx(fast_report.loglike, abs=0.01)
    with pytest.raises(ValueError, match="optimiser must be"):
        maximise(fast_and_slow["theta0"], fast_model, 1, optimiser="bfgs")
