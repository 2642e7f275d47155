"""Known-answer tests of the reduced-form estimators: they tell a wrong estimator from a right one.

Each test draws a panel from a data-generating process whose answer is known and in which the
common mistakes give a visibly different answer: the outcome responds to the treatment of the
*previous* period only (a lead or a contemporaneous treatment estimates zero), and errors are
correlated within customers (standard errors that are not clustered by customer are far too
small). The pipeline's own panels are tested elsewhere; here the panel is built directly, so
every number is under control.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from complaintpanel.estimate import add_model_columns, fit_linear_fe, fit_ppml

BETA = 0.4  # effect of last period's reply on the complaint log-rate
THETA = 0.3  # effect of last period's reply on mean sentiment


def _panel(n_pairs: int, n_periods: int, seed: int, *, persistence: float = 0.0,
           error_ar: float = 0.0) -> pd.DataFrame:
    """A customer × brand × period panel with lagged treatment effects.

    ``replied`` follows a two-state Markov chain per pair (stay probability ``persistence``
    above independence); complaints are Poisson with log-rate ``α_i + λ_bt + β·replied_{t−1}
    + v_it`` and sentiment is ``α_i + λ_bt + θ·replied_{t−1} + v_it + e_it``, with ``v_it`` an
    AR(``error_ar``) shock shared by both outcomes of a pair (within-customer correlation).
    """
    rng = np.random.default_rng(seed)
    brand = rng.integers(0, 3, n_pairs)
    alpha = rng.normal(0.0, 0.5, n_pairs)
    lam = rng.normal(0.0, 0.2, (3, n_periods))
    replied = np.zeros((n_pairs, n_periods), dtype=int)
    shock = np.zeros((n_pairs, n_periods))
    replied[:, 0] = rng.random(n_pairs) < 0.3
    shock[:, 0] = rng.normal(0.0, 0.5, n_pairs)
    for t in range(1, n_periods):
        fresh = rng.random(n_pairs) < 0.3
        keep = rng.random(n_pairs) < persistence
        replied[:, t] = np.where(keep, replied[:, t - 1], fresh)
        shock[:, t] = error_ar * shock[:, t - 1] + np.sqrt(1 - error_ar**2) * rng.normal(
            0.0, 0.5, n_pairs)
    lagged = np.concatenate([np.zeros((n_pairs, 1), dtype=int), replied[:, :-1]], axis=1)
    index = alpha[:, None] + lam[brand] + shock
    complaints = rng.poisson(np.exp(0.5 + index + BETA * lagged))
    sentiment = index + THETA * lagged + rng.normal(0.0, 0.5, (n_pairs, n_periods))
    pairs, periods = np.meshgrid(np.arange(n_pairs), np.arange(n_periods), indexing="ij")
    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in pairs.ravel()],
        "brand": [f"brand{b}" for b in brand[pairs.ravel()]],
        "period": periods.ravel(),
        "complaints": complaints.ravel(),
        "compliments": 1,
        "replied": replied.ravel(),
        "sentiment_mean": sentiment.ravel(),
    })
    frame["tweets"] = frame["complaints"] + frame["compliments"]
    frame["replies"] = frame["replied"]
    frame["answered_complaints"] = frame["replied"] * (frame["complaints"] > 0)
    frame["fastest_reply_h"] = np.where(frame["replied"] == 1, 1.0, np.nan)
    frame["replies_before"] = (frame.groupby("customer_id")["replies"].cumsum()
                               - frame["replies"])
    return frame


@pytest.fixture(scope="module")
def lagged_world() -> pd.DataFrame:
    return add_model_columns(_panel(1500, 12, seed=1))


def test_ppml_recovers_the_effect_of_last_periods_reply(lagged_world: pd.DataFrame) -> None:
    """β of the lagged reply within 4 SE, and clearly away from zero.

    A lead or a contemporaneous treatment has no effect in this world: it would estimate ≈ 0,
    more than 10 SE from β.
    """
    fit = fit_ppml(lagged_world, "replied")
    estimate, se = fit.params["replied"], fit.bse["replied"]
    assert abs(estimate - BETA) < 4 * se
    assert BETA / se > 10


def test_linear_fe_recovers_the_effect_of_last_periods_reply(lagged_world: pd.DataFrame
                                                             ) -> None:
    fit = fit_linear_fe(lagged_world, "sentiment_mean", "replied")
    estimate, se = fit.params["replied"], fit.bse["replied"]
    assert abs(estimate - THETA) < 4 * se
    assert THETA / se > 10


def test_treatment_is_last_periods_value(lagged_world: pd.DataFrame) -> None:
    """``treat_replied`` in period t is ``replied`` in t−1 of the same pair (missing at entry)."""
    data = lagged_world.sort_values(["pair_id", "period"])
    previous = data.groupby("pair_id")["replied"].shift(1)
    assert data["treat_replied"].isna().equals(previous.isna())
    assert (data["treat_replied"].dropna() == previous.dropna()).all()
    # the cumulative count is of strictly earlier periods
    earlier = data.groupby("pair_id")["replies"].cumsum() - data["replies"]
    first = data.groupby("pair_id").cumcount() == 0
    assert (data.loc[~first, "treat_replies_cumulative"] == earlier[~first]).all()


def _hand_crv1_poisson(data: pd.DataFrame, treatment: str) -> tuple[float, float, float]:
    """β, its customer-clustered and its iid standard error from a Poisson GLM with dummies.

    Independent of pyfixest: statsmodels fits the same PPML with explicit pair and brand ×
    period dummies; the sandwich is assembled here, without small-sample factors.
    """
    import statsmodels.api as sm

    sample = data.dropna(subset=[treatment]).reset_index(drop=True)
    # Pair dummies span each brand's level, so brand × period dummies leave out each brand's
    # first period in the sample (a full-rank design, checked below).
    later = sample["brand_period"].where(sample["period"] > sample["period"].min())
    dummies = pd.concat([pd.get_dummies(sample["pair_id"], dtype=float),
                         pd.get_dummies(later, dtype=float)], axis=1)
    x = pd.concat([sample[[treatment]].astype(float), dummies], axis=1).to_numpy()
    assert np.linalg.matrix_rank(x) == x.shape[1]
    y = sample["complaints"].to_numpy(dtype=float)
    fit = sm.GLM(y, x, family=sm.families.Poisson()).fit(tol=1e-12, maxiter=200)
    mu = fit.fittedvalues
    bread = np.linalg.inv(x.T @ (x * mu[:, None]))
    scores = x * (y - mu)[:, None]
    codes = pd.factorize(sample["customer_id"])[0]
    clustered = np.zeros((codes.max() + 1, x.shape[1]))
    np.add.at(clustered, codes, scores)
    sandwich = bread @ (clustered.T @ clustered) @ bread
    return float(fit.params[0]), float(np.sqrt(sandwich[0, 0])), float(np.sqrt(bread[0, 0]))


def test_ppml_standard_errors_are_clustered_by_customer() -> None:
    """With persistent replies and serially correlated shocks, iid SEs are far too small.

    The package's SE matches a hand-made customer-clustered sandwich (up to fixest's
    small-sample factors, under 1% at this size) and is far from the iid one.
    """
    data = add_model_columns(_panel(300, 20, seed=2, persistence=0.8, error_ar=0.9))
    data = data[data.groupby("pair_id")["complaints"].transform("sum") > 0]
    fit = fit_ppml(data, "replied")
    beta, crv1, iid = _hand_crv1_poisson(data, "treat_replied")
    assert fit.params["replied"] == pytest.approx(beta, rel=1e-5)
    assert crv1 > 1.3 * iid  # the design makes clustering matter
    assert fit.bse["replied"] == pytest.approx(crv1, rel=0.01)


def test_linear_fe_standard_errors_are_clustered_by_customer() -> None:
    """Clustered FE standard errors against linearmodels, on a world where clustering matters."""
    from complaintpanel.estimate import fit_panelols

    data = add_model_columns(_panel(300, 20, seed=3, persistence=0.8, error_ar=0.9))
    fit = fit_linear_fe(data, "sentiment_mean", "replied")
    reference = fit_panelols(data, "sentiment_mean", "replied")
    # linearmodels with its unadjusted (robust, not clustered) covariance for contrast
    from linearmodels import PanelOLS

    indexed = data.dropna(subset=["treat_replied"]).set_index(["pair_id", "period"])
    iid = PanelOLS(indexed["sentiment_mean"], indexed[["treat_replied"]], entity_effects=True,
                   other_effects=indexed[["brand_period"]].astype("category")).fit(
        cov_type="unadjusted")
    assert reference.bse["replied"] > 1.3 * float(iid.std_errors["treat_replied"])
    assert fit.bse["replied"] == pytest.approx(reference.bse["replied"], rel=0.02)


# ------------------------------------------------------------------------------ event studies
WINDOW = 3


def _staggered(n_pairs: int, n_periods: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Staggered first replies with effects that grow with event time and differ by cohort.

    ``y = α_i + λ_t + τ_g(e) + ε`` with ``τ_g(e) = (1 + e)·g/4`` for ``e = t − g ≥ 0`` (the
    period of the first reply is the first treated period) and 0 before. A quarter of the
    pairs are never answered. Returns the panel and the true average effect in each reported
    event-time bin (ends binned, as the estimator bins them) over the treated observations.
    """
    rng = np.random.default_rng(seed)
    first = rng.integers(2, n_periods - 2, n_pairs).astype(float)
    first[rng.random(n_pairs) < 0.25] = np.nan
    alpha = rng.normal(0.0, 1.0, n_pairs)
    lam = rng.normal(0.0, 0.5, n_periods)
    pairs, periods = np.meshgrid(np.arange(n_pairs), np.arange(n_periods), indexing="ij")
    g = first[pairs]
    event = periods - g
    effect = np.where(event >= 0, (1.0 + event) * g / 4.0, 0.0)
    effect = np.nan_to_num(effect)
    y = alpha[pairs] + lam[periods] + effect + rng.normal(0.0, 0.1, pairs.shape)
    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in pairs.ravel()], "brand": "brandA",
        "period": periods.ravel(), "outcome": y.ravel(),
        "first_reply_period": pd.array(g.ravel(), dtype="Float64").astype("Int64"),
        "effect": effect.ravel(), "event": event.ravel(),
    })
    frame["pair_id"] = frame["customer_id"] + "|" + frame["brand"]
    treated = frame[frame["event"].notna()]
    bins = treated["event"].clip(-WINDOW - 1, WINDOW + 1).astype(int)
    truth = treated.groupby(bins)["effect"].mean()
    return frame, truth.loc[[e for e in range(-WINDOW, WINDOW + 1) if e != -1]]


@pytest.fixture(scope="module")
def staggered() -> tuple[pd.DataFrame, pd.Series]:
    return _staggered(900, 12, seed=4)


def test_robust_event_study_recovers_the_average_effect_at_each_event_time(
        staggered: tuple[pd.DataFrame, pd.Series]) -> None:
    """did2s: every reported event time within 4 SE of the truth; the pre-trend test passes.

    Event times off by one would compare each estimate with its neighbour's truth (the
    effects grow by g/4 per period, far beyond 4 SE).
    """
    from complaintpanel.estimate import event_study

    data, truth = staggered
    did2s = event_study(data, "outcome", window=WINDOW, estimators=("did2s",))["did2s"]
    rows = did2s.select().query("not fixed").set_index("event_time")
    post = [e for e in truth.index if e >= 0]
    assert sorted(rows.index) == post
    gap = (rows["estimate"] - truth.loc[post]).abs()
    assert (gap < 4 * rows["se"]).all(), pd.DataFrame({"gap": gap, "se": rows["se"]})
    # no effect before the reply: the imputation test's leads are within 4 SE of zero
    for lead in did2s.info["pretrend_test"]["leads"]:
        assert abs(lead["estimate"]) < 4 * lead["se"], lead
    # ... and from the truth one period earlier (zero before the reply) by far more
    earlier = pd.Series([truth.get(e - 1, 0.0) for e in post], index=post)
    assert ((rows.loc[post, "estimate"] - earlier).abs() > 6 * rows.loc[post, "se"]).all()


def test_naive_twfe_differs_where_effects_are_heterogeneous(
        staggered: tuple[pd.DataFrame, pd.Series]) -> None:
    """The naive TWFE event study is biased here, so swapping the estimators would show."""
    from complaintpanel.estimate import event_study

    data, truth = staggered
    both = event_study(data, "outcome", window=WINDOW)
    twfe = both["twfe"].select().query("not fixed").set_index("event_time")
    did2s = both["did2s"].select().query("not fixed").set_index("event_time")
    post = [e for e in truth.index if e >= 0]
    twfe_gap = (twfe.loc[post, "estimate"] - truth.loc[post]).abs()
    assert (twfe_gap > 5 * twfe.loc[post, "se"]).any()
    assert (did2s.loc[post, "estimate"] - twfe.loc[post, "estimate"]).abs().max() > 0.2


# ------------------------------------------------------------------------------ design estimate
def test_design_standard_errors_are_clustered_by_customer() -> None:
    """Copying every customer's history to four brands adds no information.

    With standard errors clustered by customer, the copies leave the estimate and its SE
    unchanged (up to the propensity model's slight L2 penalty, which the copies weaken); iid
    standard errors would shrink by half.
    """
    from complaintpanel.config import SimulateConfig
    from complaintpanel.estimate import answered_vs_unanswered
    from complaintpanel.panel import build_panel
    from complaintpanel.simulate import simulate_world
    from complaintpanel.simulate.oracle import voiced_from_truth

    world = simulate_world(SimulateConfig(customers=1500, weeks=12, brands=1, seed=41))
    panel = build_panel(voiced_from_truth(world))
    once = answered_vs_unanswered(add_model_columns(panel), horizon=0)
    copies = pd.concat([panel.assign(brand=f"copy{k}") for k in range(4)], ignore_index=True)
    four = answered_vs_unanswered(add_model_columns(copies), horizon=0)
    for term in once.params.index:
        assert four.params[term] == pytest.approx(once.params[term], rel=0.01)
        assert four.bse[term] == pytest.approx(once.bse[term], rel=0.02)


def test_holm_equals_statsmodels_and_keeps_missing_values() -> None:
    """The Holm step-down equals statsmodels' multipletests, ties, ones and gaps included."""
    from statsmodels.stats.multitest import multipletests

    from complaintpanel.estimate.inference import holm

    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 17):
        pvalues = rng.uniform(0, 0.3, m)
        pvalues[::3] = pvalues[0]  # ties
        expected = multipletests(pvalues, method="holm")[1]
        np.testing.assert_allclose(holm(pd.Series(pvalues)).to_numpy(), expected, rtol=0,
                                   atol=1e-15)
    # a known answer: sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04, made monotone
    # 0.03, 0.06, 0.06, back in the input's order (the gap left out of m)
    got = holm(pd.Series([0.04, np.nan, 0.01, 0.03], index=list("abcd")))
    assert np.isnan(got["b"])
    np.testing.assert_allclose(got[["a", "c", "d"]].to_numpy(), [0.06, 0.03, 0.06])
    assert holm(pd.Series([0.6, 0.9])).tolist() == [1.0, 1.0]
