"""Bounds on the always-tweeters' sentiment effect without monotonicity (a defier share κ)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from complaintpanel.config import SimulateConfig
from complaintpanel.estimate import add_model_columns
from complaintpanel.estimate.sentiment import (
    _defier_intervals,
    breakdown_defier_share,
    defier_bounds,
    lee_bounds,
    sentiment_lee_bounds,
)
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth


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


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_zero_defiers_is_lee_to_the_last_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    treated = rng.random(n) < 0.4
    # seeds 0, 1: the answered arm tweets more; 2, 3: less (the unanswered arm is trimmed)
    p = np.where(treated, 0.8, 0.6) if seed < 2 else np.where(treated, 0.55, 0.75)
    tweeted = rng.random(n) < p
    y = np.round(rng.normal(size=n), 1)  # ties, as sentiment has
    weights = rng.uniform(0.5, 3.0, size=(3, n))  # replicate weightings at once
    for w in (None, weights[0], weights):
        lee = lee_bounds(y, tweeted, treated, w)
        ours = defier_bounds(y, tweeted, treated, 0.0, w)
        assert np.array_equal(ours["lower"], lee["lower"])
        assert np.array_equal(ours["upper"], lee["upper"])
        assert np.array_equal(ours["trimmed_arm"], lee["trimmed_arm"])


def test_hand_computed_defier_bounds() -> None:
    # answered: 8 of 10 tweet (1..8); unanswered: 6 of 10 (0, 0, 1, 1, 2, 2). κ = 0.1:
    # always-tweeters 0.6 − 0.1 = 0.5 of the units: keep 5 of the 8 answered tweeters
    # (lowest five mean 3, highest five mean 6) and 5 of the 6 unanswered (lowest five
    # 0, 0, 1, 1, 2: mean 0.8; highest five 2, 2, 1, 1, 0: mean 1.2).
    y, tweeted, treated = _arms([1, 2, 3, 4, 5, 6, 7, 8], 10, [0, 0, 1, 1, 2, 2], 10)
    out = defier_bounds(y, tweeted, treated, 0.1)
    assert out["kept_answered"] == pytest.approx(5 / 8)
    assert out["kept_unanswered"] == pytest.approx(5 / 6)
    assert out["lower"] == pytest.approx(3.0 - 1.2)
    assert out["upper"] == pytest.approx(6.0 - 0.8)
    # κ = 0.05: always-tweeters 0.55, keep 5.5 of the 8 answered and 5.5 of the 6 unanswered
    # tweeters, half a unit at each cut: answered lowest (1+2+3+4+5 + 6/2), highest
    # (8+7+6+5+4 + 3/2); unanswered lowest (0+0+1+1+2 + 2/2), highest (2+2+1+1+0 + 0/2)
    half = defier_bounds(y, tweeted, treated, 0.05)
    assert half["lower"] == pytest.approx(18 / 5.5 - 6 / 5.5)
    assert half["upper"] == pytest.approx(31.5 / 5.5 - 5 / 5.5)
    # κ beyond what the shares allow (never-tweeters 1 − 0.8 = 0.2) is capped there
    capped = defier_bounds(y, tweeted, treated, 0.5)
    assert capped["defier_share"] == pytest.approx(0.2)
    assert capped["lower"] == pytest.approx(defier_bounds(y, tweeted, treated, 0.2)["lower"])


def test_trimming_brute_force_over_every_always_tweeter_set() -> None:
    # 6 of 10 answered and 4 of 10 unanswered tweet; k = 1 defier in 10 units: 3 always-
    # tweeters, any 3 of each arm's tweeters. Their mean differences span the bounds exactly.
    answered, unanswered = [3, -1, 4, 1, -5, 9], [2, 6, -5, 3]
    y, tweeted, treated = _arms(answered, 10, unanswered, 10)
    always = 4 - 1
    diffs = [np.mean(a) - np.mean(b) for a in itertools.combinations(answered, always)
             for b in itertools.combinations(unanswered, always)]
    out = defier_bounds(y, tweeted, treated, 0.1)
    assert out["lower"] == pytest.approx(min(diffs))
    assert out["upper"] == pytest.approx(max(diffs))


def test_bounds_contain_the_always_tweeters_effect_of_any_population() -> None:
    # Populations of 12 units with both potential tweet indicators and outcomes; each unit is
    # observed once answered and once not (a perfectly balanced design), so the data are the
    # two potential distributions. At the true defier share the bounds must hold the truth.
    rng = np.random.default_rng(7)
    failures_below_truth = 0
    for _ in range(300):
        n = 12
        s1, s0 = rng.random(n) < 0.7, rng.random(n) < 0.6
        both = s1 & s0
        if not both.any() or s1.sum() == s0.sum():
            continue
        y1, y0 = rng.integers(-3, 4, n).astype(float), rng.integers(-3, 4, n).astype(float)
        truth = float(np.mean(y1[both]) - np.mean(y0[both]))
        y = np.concatenate([y1, y0])
        tweeted = np.concatenate([s1, s0])
        treated = np.arange(2 * n) < n
        low_arm_only = (s0 & ~s1) if s1.sum() > s0.sum() else (s1 & ~s0)
        kappa = float(low_arm_only.mean())
        out = defier_bounds(y, tweeted, treated, kappa)
        assert out["defier_share"] == pytest.approx(kappa)
        assert out["lower"] - 1e-12 <= truth <= out["upper"] + 1e-12
        if kappa > 0:
            lee = lee_bounds(y, tweeted, treated)
            failures_below_truth += not (lee["lower"] <= truth <= lee["upper"])
    assert failures_below_truth > 0  # Lee alone (κ = 0) does fail on some of them


def test_bounds_widen_with_kappa() -> None:
    rng = np.random.default_rng(5)
    n = 500
    treated = rng.random(n) < 0.5
    tweeted = rng.random(n) < np.where(treated, 0.7, 0.6)
    y = rng.normal(size=n)
    grid = np.linspace(0.0, 0.3, 16)
    bounds = [defier_bounds(y, tweeted, treated, k) for k in grid]
    assert all(b["lower"] >= c["lower"] and b["upper"] <= c["upper"]
               for b, c in itertools.pairwise(bounds))


def test_breakdown_of_a_known_interval() -> None:
    assert breakdown_defier_share(lambda k: (0.3 - 2 * k, 0.5 + k), cap=1.0) == \
        pytest.approx(0.15, abs=1e-6)
    assert breakdown_defier_share(lambda k: (-0.5 - k, -0.1 + 0.5 * k), cap=1.0) == \
        pytest.approx(0.2, abs=1e-6)
    assert breakdown_defier_share(lambda k: (-0.1, 0.2), cap=1.0) == 0.0
    assert np.isnan(breakdown_defier_share(lambda k: (0.3 - k, 0.5), cap=0.1))


@pytest.fixture(scope="module")
def world_bounds():
    world = simulate_world(SimulateConfig(customers=400, weeks=8, seed=4))
    data = add_model_columns(build_panel(voiced_from_truth(world)))
    return sentiment_lee_bounds(data, horizon=2, bootstrap_draws=50,
                                defier_shares=(0.0, 0.01, 0.05))


def test_sentiment_bounds_grid_and_breakdown(world_bounds) -> None:
    table, grid = world_bounds.table, world_bounds.defiers.set_index(["lead", "defier_share"])
    assert len(grid) == 3 * len(table)
    for lead, row in table.iterrows():
        # κ = 0 of the grid is the Lee row (same bootstrap multiplicities)
        for column in ("lower", "upper", "se_lower", "se_upper", "ci_lower", "ci_upper"):
            assert grid.loc[(lead, 0.0), column] == pytest.approx(row[column], abs=1e-12)
        assert grid.loc[(lead, 0.01), "lower"] <= row["lower"]
        # the grid's bounds exclude 0 below the breakdown κ and include it above
        kappa = row["breakdown_defier_share"]
        for k in (0.0, 0.01, 0.05):
            low, high = grid.loc[(lead, k), "lower"], grid.loc[(lead, k), "upper"]
            assert (low <= 0 <= high) == (k >= kappa)
        # the interval is wider than the bounds: it reaches 0 no later
        assert row["breakdown_defier_share_ci"] <= kappa
    exported = world_bounds.to_dict()
    assert len(exported["defier_bounds"]) == 3 * len(table)
    assert {"breakdown_defier_share", "breakdown_defier_share_ci"} <= set(exported["leads"][0])
    assert "Breakdown" in world_bounds.summary()


def test_configured_default_grid_is_the_estimators() -> None:
    from complaintpanel.config import EstimateConfig
    from complaintpanel.estimate.sentiment import DEFIER_SHARES

    assert EstimateConfig().sentiment_defier_shares == DEFIER_SHARES
    with pytest.raises(ValueError, match="sentiment_defier_shares"):
        EstimateConfig(sentiment_defier_shares=(0.0, -0.1))


@pytest.mark.parametrize("seed", [0, 1])
def test_sorted_fast_path_equals_the_plain_bounds(seed: int) -> None:
    # the estimator's grid and root-finding use arms sorted once (cumulative sums, binary
    # search); they must reproduce defier_bounds, for the point and every bootstrap replicate
    rng = np.random.default_rng(seed)
    n = 200
    treated = rng.random(n) < 0.5
    tweeted = rng.random(n) < np.where(treated, 0.75, 0.6) if seed == 0 else \
        rng.random(n) < np.where(treated, 0.5, 0.7)
    y = np.round(rng.normal(size=n), 1)
    w = rng.uniform(0.5, 2.0, size=n)
    replicates = w * rng.multinomial(n, np.full(n, 1 / n), size=30)
    interval = _defier_intervals(y, tweeted, treated, w, replicates)
    for kappa in (0.0, 0.013, 0.1, 0.5):
        plain = defier_bounds(y, tweeted, treated, kappa, w)
        reps = defier_bounds(y, tweeted, treated, kappa, replicates)
        low, high, ci_low, ci_high, used, se_low, se_high, *_ = interval(kappa)
        assert low == pytest.approx(plain["lower"], abs=1e-12)
        assert high == pytest.approx(plain["upper"], abs=1e-12)
        assert used == pytest.approx(plain["defier_share"], abs=1e-15)
        assert se_low == pytest.approx(np.std(reps["lower"], ddof=1), abs=1e-12)
        assert se_high == pytest.approx(np.std(reps["upper"], ddof=1), abs=1e-12)
        assert ci_low < low and ci_high > high
