"""Correlated random intercepts in the complaint and compliment log-rates (issue 16).

Known answers (zero Cholesky factor, the univariate model as a special case, a Monte Carlo
integral computed by shifting the homogeneous parameters directly), the analytic gradient
against finite differences, the delta-method map to (σ_c, σ_p, ρ), and recovery on a
simulated world with complaint sd 0.6, compliment sd 0.5 and correlation 0.3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import HMMConfig, SimulateConfig
from complaintpanel.hmm import ParamLayout, RelationshipHMM, RelationshipHMMResults, prepare_panel
from complaintpanel.hmm.heterogeneity import (
    BivariateRandomIntercepts,
    RandomIntercepts,
    bivariate_reported,
    customer_groups,
    quadrature_grid,
)
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.model import default_params
from complaintpanel.simulate import simulate_world

SD_C, SD_P, CORR = 0.6, 0.5, 0.3
# (l11, l21, l22) of Σ with those standard deviations and correlation
CHOL = np.array([SD_C, CORR * SD_P, np.sqrt(1 - CORR**2) * SD_P])


@pytest.fixture(scope="module")
def small() -> tuple[ParamLayout, object, np.ndarray]:
    """40 customers × 26 weeks drawn with correlated complaint and compliment effects."""
    world = simulate_world(SimulateConfig(customers=40, seed=5, complaint_re_sd=SD_C,
                                          compliment_re_sd=SD_P, re_corr=CORR))
    spec = RelationshipHMM().make_spec()
    data = prepare_panel(world.states, spec)
    layout = ParamLayout(spec)
    theta = np.append(layout.from_natural(default_params().with_spec(spec)), CHOL)
    return layout, data, theta


def _model(small, n_nodes: int = 7, adaptive: bool = True  # type: ignore[no-untyped-def]
           ) -> BivariateRandomIntercepts:
    layout, data, _ = small
    return BivariateRandomIntercepts.from_data(layout, data, n_nodes=n_nodes,
                                               adaptive=adaptive)


def test_grid_integrates_bivariate_normal_moments() -> None:
    nodes, weights = quadrature_grid(5)
    assert nodes.shape == (25, 2) and weights.sum() == pytest.approx(1.0, abs=1e-14)
    for (i, j), moment in {(2, 0): 1.0, (0, 2): 1.0, (1, 1): 0.0, (2, 2): 1.0,
                           (4, 2): 3.0, (8, 0): 105.0}.items():
        assert (weights * nodes[:, 0] ** i * nodes[:, 1] ** j).sum() == pytest.approx(
            moment, abs=1e-10)


def test_zero_cholesky_equals_the_homogeneous_likelihood(small) -> None:  # type: ignore[no-untyped-def]
    layout, data, theta = small
    homogeneous = evaluate(theta[:-3], layout, data.chunks(4096))
    at_zero = np.append(theta[:-3], [0.0, 0.0, 0.0])
    for model in (_model(small, adaptive=False), _model(small)):
        model.adapt(at_zero)
        ev = model.evaluate(at_zero)
        assert ev.loglik == pytest.approx(homogeneous.loglik, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(ev.gradient()[:-3], homogeneous.gradient(), rtol=1e-9,
                                   atol=1e-9)
        # the likelihood is even in each Cholesky element at 0
        np.testing.assert_allclose(ev.gradient()[-3:], 0.0, atol=1e-9)


def test_complaint_only_equals_the_univariate_model(small) -> None:  # type: ignore[no-untyped-def]
    """With l21 = l22 = 0 the grid sums the second axis out: plain quadrature is exact."""
    layout, data, theta = small
    point = np.append(theta[:-3], [SD_C, 0.0, 0.0])
    uni = RandomIntercepts.from_data(layout, data, n_nodes=7, adaptive=False).evaluate(
        point[:-2])
    bi = _model(small, adaptive=False).evaluate(point)
    assert bi.loglik == pytest.approx(uni.loglik, rel=1e-12)
    np.testing.assert_allclose(bi.gradient()[:-2], uni.gradient(), rtol=1e-9, atol=1e-8)


def test_likelihood_is_invariant_to_column_signs(small) -> None:  # type: ignore[no-untyped-def]
    """b = L z with z symmetric: flipping (l11, l21) or l22 leaves the likelihood."""
    _, _, theta = small
    model = _model(small, adaptive=False)
    base = model.evaluate(theta, gradient=False).loglik
    for signs in ((-1, -1, 1), (1, 1, -1), (-1, -1, -1)):
        flipped = theta.copy()
        flipped[-3:] *= signs
        assert model.evaluate(flipped, gradient=False).loglik == pytest.approx(base,
                                                                               rel=1e-12)
    flipped = theta.copy()
    flipped[-2] *= -1  # the correlation's sign is identified
    assert abs(model.evaluate(flipped, gradient=False).loglik - base) > 0.01


def test_adaptive_grid_matches_a_monte_carlo_integral(small) -> None:  # type: ignore[no-untyped-def]
    """Each customer's L_i = E_z Π_s L_s(L z) by 4,000 Monte Carlo draws of z.

    The draw shifts the homogeneous vector itself (θ_{a_0} by l11 z_1, every compliment
    log-rate c_k by l21 z_1 + l22 z_2), not the offsets the quadrature uses. Tolerance: 4.5
    Monte Carlo standard errors per customer (40 customers: a false alarm has probability
    ≈ 3e-4). Plain (non-adaptive) 7 × 7 quadrature misses by far more.
    """
    layout, data, theta = small
    adaptive = _model(small).adapt(theta)
    plain = _model(small, adaptive=False).evaluate(theta, gradient=False)
    rng = np.random.default_rng(1)
    draws = rng.standard_normal((4000, 2))
    chunks = data.chunks(4096)
    codes, n_groups = customer_groups(data)
    a0, c_block = layout.slices["a"].start, layout.slices["c"]
    l11, l21, l22 = CHOL
    loglik = np.empty((draws.shape[0], n_groups))
    for m, (z1, z2) in enumerate(draws):
        shifted = theta[:-3].copy()
        shifted[a0] += l11 * z1
        shifted[c_block] += l21 * z1 + l22 * z2
        loglik[m] = np.bincount(codes, evaluate(shifted, layout, chunks,
                                                gradient=False).loglik_seq, n_groups)
    top = loglik.max(axis=0)
    ratio = np.exp(loglik - top)
    mc_mean = ratio.mean(axis=0)
    mc_se = ratio.std(axis=0) / np.sqrt(draws.shape[0])
    z_adaptive = np.abs(np.exp(adaptive.loglik_customer - top) - mc_mean) / mc_se
    z_plain = np.abs(np.exp(plain.loglik_customer - top) - mc_mean) / mc_se
    assert z_adaptive.max() < 4.5
    assert z_plain.max() > 10
    # and 7 × 7 adaptive nodes agree with 11 × 11 on the total to 0.005 log-likelihood units
    assert adaptive.loglik == pytest.approx(_model(small, n_nodes=11).adapt(theta).loglik,
                                            abs=0.005)


def test_gradient_matches_finite_differences(small) -> None:  # type: ignore[no-untyped-def]
    _, _, theta = small
    model = _model(small, n_nodes=5)
    point = theta + np.linspace(-0.05, 0.05, theta.size)  # away from the truth; l21 ≠ 0
    assert abs(point[-2]) > 0.1
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
    assert np.all(np.abs(grad[-3:]) > 0.1)  # the Cholesky terms are checked at work


def test_reported_values_and_jacobian() -> None:
    values, jac = bivariate_reported(CHOL)
    np.testing.assert_allclose(values, [SD_C, SD_P, CORR], rtol=1e-12)
    for chol in (CHOL, np.array([-0.4, -0.3, 0.2]), np.array([0.8, 0.5, -0.1])):
        _, jac = bivariate_reported(chol)
        numeric = np.empty((3, 3))
        for i in range(3):
            up, down = chol.copy(), chol.copy()
            up[i] += 1e-6
            down[i] -= 1e-6
            numeric[:, i] = (bivariate_reported(up)[0] - bivariate_reported(down)[0]) / 2e-6
        np.testing.assert_allclose(jac, numeric, rtol=1e-6, atol=1e-8)
        # Σ = L L' reproduces the reported standard deviations and correlation
        lower = np.array([[chol[0], 0.0], [chol[1], chol[2]]])
        sigma = lower @ lower.T
        sd = np.sqrt(np.diag(sigma))
        values, _ = bivariate_reported(chol)
        np.testing.assert_allclose(values, [sd[0], sd[1], sigma[0, 1] / sd.prod()],
                                   rtol=1e-12)


def test_config_and_estimator_refuse_other_effects() -> None:
    assert HMMConfig().random_intercepts == ("complaint",)
    assert HMMConfig(random_intercepts=("complaint", "compliment")).bivariate_nodes == 7
    with pytest.raises(ValueError, match="random_intercepts"):
        HMMConfig(random_intercepts=("compliment",))
    assert "bivariate_intercepts" not in HMMConfig().select_candidates  # opt in: ~5 fits
    with pytest.raises(ValueError, match="select_candidates"):
        HMMConfig(select_candidates=("none", "bivariate"))
    world = simulate_world(SimulateConfig(customers=20, seed=1))
    with pytest.raises(ValueError, match="random_intercepts"):
        RelationshipHMM(heterogeneity="random_intercepts",
                        random_intercepts=("compliment", "neutral")).fit(world.states)


@pytest.fixture(scope="module")
def recovered(tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[RelationshipHMMResults, pd.DataFrame, str, Path]:
    """A bivariate fit by ``complaintpanel hmm`` on 400 customers, read back from hmm.json.

    ``[hmm] random_intercepts = ["complaint", "compliment"]`` with 5 × 5 adaptive nodes and
    one start (about 15 s on one core), and the BIC comparison with the bivariate candidate
    (about as long again).
    """
    from typer.testing import CliRunner

    from complaintpanel.cli import app
    from complaintpanel.hmm.results import read_hmm_results

    world = simulate_world(SimulateConfig(customers=400, seed=11, complaint_re_sd=SD_C,
                                          compliment_re_sd=SD_P, re_corr=CORR))
    folder = tmp_path_factory.mktemp("bivariate")
    (folder / "truth").mkdir(parents=True)
    world.states.to_parquet(folder / "truth" / "states.parquet")
    config = folder / "config.toml"
    config.write_text('[hmm]\nn_starts = 1\nseed = 0\nheterogeneity = "random_intercepts"\n'
                      'random_intercepts = ["complaint", "compliment"]\nbivariate_nodes = 5\n'
                      'select_heterogeneity = true\nselect_customers = 0\n'
                      'select_candidates = ["none", "random_intercepts", '
                      '"bivariate_intercepts"]\n')
    out = folder / "results"
    result = CliRunner().invoke(app, ["hmm", str(folder), "--out", str(out),
                                      "--config", str(config)])
    assert result.exit_code == 0, result.output
    results = read_hmm_results(out / "hmm.json")
    assert isinstance(results, RelationshipHMMResults)
    return results, world.states, result.stdout, out


def test_recovers_the_covariance_and_gamma(recovered) -> None:  # type: ignore[no-untyped-def]
    """σ_c, σ_p and the correlation within 3 SE of the truth, γ within 3 SE."""
    res, _, stdout, _ = recovered
    truth = default_params()
    for name, value in (("sigma[complaint]", SD_C), ("sigma[compliment]", SD_P),
                        ("corr[complaint,compliment]", CORR), ("gamma", truth.gamma),
                        ("delta", truth.delta)):
        se = float(res.bse[name])
        assert 0 < se < 0.5, name
        assert abs(res.params[name] - value) < 3 * se, (name, res.params[name], se)
    # the standard deviations are measured well enough to tell 0.6 from 0.5 from 0
    assert res.bse["sigma[complaint]"] < 0.1 and res.bse["sigma[compliment]"] < 0.1
    assert res.params["corr[complaint,compliment]"] > 0
    assert "sigma[compliment]" in stdout and "corr[complaint,compliment]" in stdout
    info = res.extra["heterogeneity"]
    assert info["effects"] == ["complaint", "compliment"] and info["quadrature_points"] == 25
    # BIC counts the three extra parameters and prefers them on this world
    assert res.n_params == info["homogeneous"]["n_params"] + 3
    assert info["bic_selects"] == "random_intercepts"
    assert "compliment" in res.heterogeneity
    assert set(res.terms.loc[["sigma[compliment]", "corr[complaint,compliment]"], "block"]
               ) == {"heterogeneity"}


def test_bic_comparison_with_the_bivariate_candidate(recovered) -> None:  # type: ignore[no-untyped-def]
    """On request the BIC comparison fits the bivariate model too, and selects it here.

    Its fit is the main fit (same data, same start, same nodes): the same log-likelihood,
    and three parameters more than the homogeneous model.
    """
    import json

    res, _, _, out = recovered
    selection = json.loads((out / "hmm.json").read_text())["heterogeneity_selection"]
    assert selection["status"] == "estimated" and not selection["subsample"]
    rows = {r["heterogeneity"]: r for r in selection["candidates"]}
    assert list(rows) == ["none", "random_intercepts", "bivariate_intercepts"]
    bivariate = rows["bivariate_intercepts"]
    assert selection["selected"] == "bivariate_intercepts"
    assert bivariate["bic"] < rows["random_intercepts"]["bic"] < rows["none"]["bic"]
    assert bivariate["loglike"] == pytest.approx(res.loglike, abs=0.05)
    assert bivariate["n_params"] == rows["none"]["n_params"] + 3 == res.n_params
    assert bivariate["params"]["corr[complaint,compliment]"] == pytest.approx(
        res.params["corr[complaint,compliment]"], abs=0.01)
    assert "5x5" in bivariate["description"]
    table = (out / "hmm_heterogeneity.md").read_text()
    assert "compliment log-rates" in table and "| yes |" in table.splitlines()[4]


def test_fit_scores_its_own_panel(recovered) -> None:  # type: ignore[no-untyped-def]
    """The model rebuilt from hmm.json integrates the panel back to the fit's log-likelihood."""
    res, states, _, _ = recovered
    model = RelationshipHMM.from_results(res)
    assert model.score(states) == pytest.approx(res.loglike, abs=0.05)


def test_policies_run_on_a_bivariate_fit(recovered) -> None:  # type: ignore[no-untyped-def]
    """Policies take the bivariate fit: each observed customer's (z_1, z_2) nodes and posterior.

    The draw itself (b = L z, Var b = L L') has its known-answer test in test_policy.py.
    """
    from complaintpanel.hmm.policy import customer_heterogeneity, simulate_policies

    res, states, _, _ = recovered
    model = RelationshipHMM.from_results(res)
    frame = model.model_frame(states)
    hetero = customer_heterogeneity(res, model, states, frame)
    assert hetero is not None and hetero.support.shape[2] == 2
    out = simulate_policies(res, states, policies=("none", "all"), horizon=4, n_paths=2,
                            n_draws=2, random_state=0)
    totals = out.total("observed", "all", "compliments")
    assert np.isfinite(totals["estimate"]) and totals["estimate"] > 0
