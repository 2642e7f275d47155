"""Lee bounds on the effect of answering on later sentiment, and their truth in the simulator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from complaintpanel.config import SimulateConfig
from complaintpanel.estimate import add_model_columns
from complaintpanel.estimate.sentiment import (
    imbens_manski_interval,
    lee_bounds,
    sentiment_lee_bounds,
)
from complaintpanel.model import default_params
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import TRUE_SENTIMENT, voiced_from_truth
from complaintpanel.simulate.truth_effects import world_sentiment_effects


def _arms(treated_values, n_treated, control_values, n_control):
    """Units of two arms: the listed values tweet, the rest of each arm is silent."""
    y = np.concatenate([treated_values, np.zeros(n_treated - len(treated_values)),
                        control_values, np.zeros(n_control - len(control_values))])
    tweeted = np.concatenate([np.ones(len(treated_values), bool),
                              np.zeros(n_treated - len(treated_values), bool),
                              np.ones(len(control_values), bool),
                              np.zeros(n_control - len(control_values), bool)])
    treated = np.arange(y.size) < n_treated
    return y, tweeted, treated


def test_lee_bounds_hand_computed_trimming_the_answered_arm() -> None:
    # answered: 8 of 10 tweet (values 1..8); unanswered: 6 of 10 (mean 1).
    # q = (0.8 − 0.6)/0.8 = 1/4: drop 2 of the 8; lowest six mean 3.5, highest six 5.5.
    y, tweeted, treated = _arms([1, 2, 3, 4, 5, 6, 7, 8], 10, [0, 0, 1, 1, 2, 2], 10)
    out = lee_bounds(y, tweeted, treated)
    assert out["trimmed_arm"] == "answered"
    assert out["trimmed_share"] == pytest.approx(0.25)
    assert out["lower"] == pytest.approx(3.5 - 1.0)
    assert out["upper"] == pytest.approx(5.5 - 1.0)


def test_lee_bounds_fractional_cut_and_the_unanswered_arm() -> None:
    # answered: 7 of 10 tweet (mean 2); unanswered: 4 of 5 tweet (values 0, 1, 2, 3).
    # q = (0.8 − 0.7)/0.8 = 1/8: keep 3.5 of the 4 unanswered tweeters, half a unit at the cut:
    # lowest (0 + 1 + 2 + 1.5)/3.5, highest (3 + 2 + 1 + 0)/3.5.
    y, tweeted, treated = _arms([2] * 7, 10, [0, 1, 2, 3], 5)
    out = lee_bounds(y, tweeted, treated)
    assert out["trimmed_arm"] == "unanswered"
    assert out["trimmed_share"] == pytest.approx(0.125)
    assert out["lower"] == pytest.approx(2 - 6 / 3.5)
    assert out["upper"] == pytest.approx(2 - 4.5 / 3.5)


def test_lee_bounds_weights_count_as_units() -> None:
    # Weight 2 on a unit is the same as the unit twice (the weighting honours the propensity).
    y, tweeted, treated = _arms([1, 2, 3, 4, 5, 6, 7, 8], 10, [0, 0, 1, 1, 2, 2], 10)
    weights = np.ones(y.size)
    weights[[0, 12]] = 2.0
    doubled = np.concatenate([np.arange(y.size), [0, 12]])
    weighted = lee_bounds(y, tweeted, treated, weights)
    repeated = lee_bounds(y[doubled], tweeted[doubled], treated[doubled])
    for key in ("lower", "upper", "share_treated", "share_untreated", "trimmed_share"):
        assert weighted[key] == pytest.approx(repeated[key])


def test_lee_bounds_collapse_to_the_difference_in_means_at_equal_shares() -> None:
    rng = np.random.default_rng(3)
    n = 400
    treated = np.arange(n) < n // 2
    tweeted = (np.arange(n) % 4) != 0  # 3 of 4 tweet in each arm
    y = rng.normal(size=n) + 0.3 * treated
    # weights vary, but by the same pattern in both arms, so the weighted shares are equal
    weights = 1.0 + (np.arange(n) % 8) / 4
    out = lee_bounds(y, tweeted, treated, weights)
    diff = (np.average(y[treated & tweeted], weights=weights[treated & tweeted])
            - np.average(y[~treated & tweeted], weights=weights[~treated & tweeted]))
    assert out["trimmed_share"] == pytest.approx(0.0, abs=1e-12)
    assert out["lower"] == pytest.approx(diff, abs=1e-12)
    assert out["upper"] == pytest.approx(diff, abs=1e-12)


def test_imbens_manski_critical_values() -> None:
    z = stats.norm.ppf(0.975)
    assert imbens_manski_interval(0.0, 0.0, 1.0, 1.0) == pytest.approx((-z, z))
    # far apart bounds: each side one-sided at 95%
    one_sided = stats.norm.ppf(0.95)
    low, high = imbens_manski_interval(0.0, 100.0, 1.0, 2.0)
    assert low == pytest.approx(-one_sided, abs=1e-6)
    assert high == pytest.approx(100.0 + 2.0 * one_sided, abs=1e-6)


@pytest.fixture(scope="module")
def world_without_effect():
    """A small world in which answering changes nothing (γ = δ = 0)."""
    params = default_params().replace(gamma=0.0, delta=0.0)
    return simulate_world(SimulateConfig(customers=400, weeks=8, seed=4), params=params)


def test_sentiment_truth_is_zero_when_answering_does_nothing(world_without_effect) -> None:
    truth = world_sentiment_effects(world_without_effect, TRUE_SENTIMENT, horizon=2, draws=5)
    assert (truth["effect_sentiment_always"] == 0.0).all()
    assert (truth["difference_tweeters"] == 0.0).all()
    assert (truth["share_tweeting_answered"] == truth["share_tweeting_unanswered"]).all()
    assert (truth["share_against_monotone"] == 0.0).all()
    assert (truth["n_eligible"] > 100).all()


def test_sentiment_lee_bounds_on_a_world(world_without_effect) -> None:
    data = add_model_columns(build_panel(voiced_from_truth(world_without_effect)))
    result = sentiment_lee_bounds(data, horizon=2, bootstrap_draws=50)
    table = result.table
    assert list(table.index) == [0, 1, 2]
    assert (table["lower"] <= table["upper"]).all()
    assert (table["ci_lower"] < table["lower"]).all() and (table["ci_upper"] > table["upper"]).all()
    # the bounds are computed on the design's sample (its overlap cut); lead 0 on the rows
    # whose next period is in the panel
    assert (result.kept["period"] < data["period"].max()).sum() == table.loc[0, "nobs"]
    assert result.to_dict()["leads"][0]["lead"] == 0
