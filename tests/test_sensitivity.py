"""The design estimate's sensitivity to selection on the unobserved (estimate.sensitivity).

Known answers: the bounds at Λ = 1 are the (augmented) Hajek estimate; the threshold search
equals brute force over every vertex of the weight box and a linear programme; the bounds widen
with Λ; the simulator's own Λ is exactly 1 on a world with exogenous answers. On a small world
with endogenous answers the plain interval misses the truth and the interval at the Λ the
world implies covers it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from complaintpanel.config import EstimateConfig, SimulateConfig
from complaintpanel.estimate import add_model_columns, answered_vs_unanswered
from complaintpanel.estimate.design import _fit_linear, design_sample
from complaintpanel.estimate.sensitivity import (
    _first_crossing,
    covariate_benchmarks,
    design_sensitivity,
    extreme_weighted_means,
    msm_weight_box,
)
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth
from complaintpanel.simulate.truth_effects import (
    selection_lambda,
    selection_odds_ratios,
    world_answer_effects,
)
from complaintpanel.simulate.world import answer_rule


def test_weight_box_known_answer() -> None:
    # e = 0.5, Λ = 2: odds 1 either way, 1/π in [1 + 1/2, 1 + 2]; e = 0.8 answered: odds 1/4
    low, high = msm_weight_box(np.array([0.5, 0.8, 0.8]), np.array([True, True, False]), 2.0)
    np.testing.assert_allclose(low, [1.5, 1.125, 3.0])
    np.testing.assert_allclose(high, [3.0, 1.5, 9.0])
    with pytest.raises(ValueError, match="at least 1"):
        msm_weight_box(np.array([0.5]), np.array([True]), 0.5)


def _vertex_extrema(y: np.ndarray, low: np.ndarray, high: np.ndarray, f: np.ndarray
                    ) -> tuple[float, float]:
    """Brute force: a linear-fractional objective over a box is extreme at a vertex."""
    values = [np.sum(f * w * y) / np.sum(f * w)
              for w in (np.where(np.array(pick), high, low)
                        for pick in itertools.product([False, True], repeat=y.size))]
    return min(values), max(values)


def _lp_max(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Charnes–Cooper: max Σ v y s.t. Σ v = 1, low·t ≤ v ≤ high·t, t ≥ 0 (v = w t)."""
    n = y.size
    c = np.concatenate([-y, [0.0]])
    a_ub = np.vstack([np.hstack([np.eye(n), -high[:, None]]),
                      np.hstack([-np.eye(n), low[:, None]])])
    a_eq = np.concatenate([np.ones(n), [0.0]])[None, :]
    fit = linprog(c, A_ub=a_ub, b_ub=np.zeros(2 * n), A_eq=a_eq, b_eq=[1.0],
                  bounds=[(0, None)] * (n + 1))
    return float(-fit.fun)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_threshold_search_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 8
    y = rng.poisson(1.5, n).astype(float) - rng.random(n)  # ties broken, some negative
    e = rng.uniform(0.1, 0.9, n)
    odds = (1 - e) / e
    f = rng.integers(1, 4, n).astype(float)  # bootstrap frequencies
    lams = np.array([1.0, 1.3, 2.0, 5.0])
    minimum, maximum = extreme_weighted_means(y, odds, lams, f)
    for k, lam in enumerate(lams):
        low, high = 1 + odds / lam, 1 + odds * lam
        brute_min, brute_max = _vertex_extrema(y, low, high, f)
        assert minimum[k] == pytest.approx(brute_min, abs=1e-12)
        assert maximum[k] == pytest.approx(brute_max, abs=1e-12)
        if f.max() == f.min() or seed == 0:
            assert maximum[k] == pytest.approx(_lp_max(y, f * low, f * high), abs=1e-7)


def test_lambda_one_is_hajek_and_bounds_widen() -> None:
    rng = np.random.default_rng(5)
    y, e = rng.normal(size=200), rng.uniform(0.05, 0.95, 200)
    lams = np.geomspace(1, 10, 15)
    minimum, maximum = extreme_weighted_means(y, (1 - e) / e, lams)
    hajek = np.sum(y / e) / np.sum(1 / e)
    assert minimum[0] == pytest.approx(hajek, abs=1e-12)
    assert maximum[0] == pytest.approx(hajek, abs=1e-12)
    assert np.all(np.diff(minimum) < 0) and np.all(np.diff(maximum) > 0)
    assert minimum[-1] >= y.min() and maximum[-1] <= y.max()


def test_first_crossing() -> None:
    lams = np.array([1.0, 2.0, 4.0])
    # the lower bound falls through 0 half way (in log Λ) between 2 and 4: Λ = √8
    assert _first_crossing(lams, np.array([0.3, 0.1, -0.1]), np.array([0.5, 0.6, 0.7])) \
        == pytest.approx(math.sqrt(8))
    assert _first_crossing(lams, np.array([-0.1, -0.2, -0.3]), np.ones(3)) == 1.0
    assert _first_crossing(lams, np.array([0.3, 0.2, 0.1]), np.ones(3)) is None


@pytest.fixture(scope="module")
def endogenous() -> dict[str, object]:
    world = simulate_world(SimulateConfig(customers=1200, weeks=12, seed=41,
                                          endogenous_replies=True))
    data = add_model_columns(build_panel(voiced_from_truth(world)))
    sample = design_sample(data)
    rule = answer_rule(world.brands, True, world.params.n_states)
    implied = selection_lambda(selection_odds_ratios(
        world.states, rule, [b.handle for b in world.brands],
        sample.base[["customer_id", "period"]], sample.propensity))
    sens = design_sensitivity(data, outcomes=("complaints",), horizon=0,
                              lambdas=(1.0, 2.0, implied["p95"]), reps=40, seed=3)
    truth = world_answer_effects(world, horizon=0, draws=5, rows=sens.kept)
    return {"world": world, "data": data, "sample": sample, "sens": sens,
            "implied": implied, "truth": float(truth.loc[0, "effect_complaints"])}


def test_lambda_one_equals_augmented_hajek(endogenous: dict[str, object]) -> None:
    """Independent computation of the augmented Hajek estimate on the same sample."""
    data, sample, sens = endogenous["data"], endogenous["sample"], endogenous["sens"]
    base, x, d, e = sample.base, sample.x, sample.treated, sample.propensity
    lookup = data.set_index(["pair_id", "period"])["complaints"]
    y = lookup.reindex(pd.MultiIndex.from_arrays([base["pair_id"], base["period"] + 1]))
    ok = y.notna().to_numpy()
    y, x, d, e = y.to_numpy()[ok], x[ok], d[ok], e[ok]
    m1, m0 = x @ _fit_linear(x[d], y[d]), x @ _fit_linear(x[~d], y[~d])
    arm1 = np.sum((y - m1)[d] / e[d]) / np.sum(1 / e[d])
    arm0 = np.sum((y - m0)[~d] / (1 - e[~d])) / np.sum(1 / (1 - e[~d]))
    expected = np.mean(m1 - m0) + arm1 - arm0
    at_one = sens.bounds[sens.bounds["lambda"] == 1.0].iloc[0]
    assert at_one["lower"] == pytest.approx(expected, abs=1e-9)
    assert at_one["upper"] == pytest.approx(expected, abs=1e-9)
    # and it is the design's AIPW estimate up to the weights' normalisation
    design = answered_vs_unanswered(data, outcomes=("complaints",), horizon=0)
    assert expected == pytest.approx(design.params.iloc[0], abs=0.02)


def test_plain_interval_misses_and_sensitivity_interval_covers(
        endogenous: dict[str, object]) -> None:
    sens, truth, implied = endogenous["sens"], endogenous["truth"], endogenous["implied"]
    design = answered_vs_unanswered(endogenous["data"], outcomes=("complaints",), horizon=0)
    term = design.term(outcome="complaints", lead=0)
    assert not term["ci_lower"] <= truth <= term["ci_upper"]  # selection: the design misses
    rows = sens.bounds.set_index("lambda")
    assert not rows.loc[1.0, "ci_lower"] <= truth <= rows.loc[1.0, "ci_upper"]
    at_sim = rows.loc[implied["p95"]]
    assert at_sim["ci_lower"] <= truth <= at_sim["ci_upper"]
    # the percentile interval (ZSB's union of intervals) contains the bounds themselves
    assert (rows["ci_lower"] < rows["lower"]).all() and (rows["upper"] < rows["ci_upper"]).all()
    # intervals are nested in Λ, and the flip Λ lies where the interval first contains 0
    assert rows["ci_lower"].is_monotonic_decreasing and rows["ci_upper"].is_monotonic_increasing
    flip = sens.flips.iloc[0]["flip_lambda"]
    assert 1 < flip < implied["p95"]
    inside = sens.conf_int(flip * 1.02).iloc[0]
    below = sens.conf_int(flip / 1.05).iloc[0]
    assert inside["lower"] <= 0 <= inside["upper"]
    assert not below["lower"] <= 0 <= below["upper"]


def test_simulator_lambda_is_one_without_selection_and_above_with(
        endogenous: dict[str, object]) -> None:
    world = simulate_world(SimulateConfig(customers=300, weeks=8, seed=42))
    rows = world.states.loc[world.states["complaints"] > 0, ["customer_id", "period"]]
    rule = answer_rule(world.brands, False, world.params.n_states)
    ratios = selection_odds_ratios(world.states, rule, [b.handle for b in world.brands], rows)
    np.testing.assert_allclose(ratios, 1.0, atol=1e-9)
    assert world.truth_dict()["behaviour"]["selection_lambda"]["max"] == 1.0
    implied = endogenous["implied"]
    # the logit shift is ±1 per complaint: odds ratios of a few, not 1
    assert 1.5 < implied["p95"] < 10 and implied["max"] >= implied["p95"]
    written = endogenous["world"].truth_dict()["behaviour"]["selection_lambda"]
    assert 1.5 < written["p95"] < 10


def test_bootstrap_redraws_customers(endogenous: dict[str, object],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every replicate gives all rows of one customer the same frequency (cluster bootstrap)."""
    from complaintpanel.estimate import sensitivity

    seen: list[np.ndarray] = []
    original = sensitivity._effect_bounds

    def spy(x, y, treated, score, f, *args):
        seen.append(f)
        return original(x, y, treated, score, f, *args)

    monkeypatch.setattr(sensitivity, "_effect_bounds", spy)
    data = endogenous["data"]
    design_sensitivity(data, outcomes=("complaints",), horizon=0, lambdas=(1.0,), reps=2,
                       benchmarks=False, refit_propensity=False)
    base = endogenous["sample"].base
    lookup = data.set_index(["pair_id", "period"])["complaints"]
    ok = lookup.reindex(pd.MultiIndex.from_arrays(
        [base["pair_id"], base["period"] + 1])).notna().to_numpy()
    customers = base["customer_id"].to_numpy()[ok]
    for f in seen[1:]:  # the first call is the full sample
        per_customer = pd.Series(f).groupby(customers).nunique()
        assert (per_customer == 1).all()
        assert f.sum() != len(f) or len(np.unique(f)) > 1  # a real redraw


def test_covariate_benchmarks(endogenous: dict[str, object]) -> None:
    bench = covariate_benchmarks(endogenous["sample"])
    assert list(bench.index) == ["complaints in t−1", "answered before", "brand × period"]
    assert (bench["lambda_max"] >= bench["lambda_p95"]).all()
    assert (bench["lambda_p95"] >= 1).all()
    # brands answer a customer with more complaints more often: the count is a strong control
    assert bench.loc["complaints in t−1", "lambda_max"] > bench.loc["answered before",
                                                                    "lambda_max"]


def test_config_rejects_lambda_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EstimateConfig(sensitivity_lambdas=(0.5, 2.0))
