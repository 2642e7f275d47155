"""Event studies (one sample, imputation pre-trend test, Poisson ETWFE) and joint inference.

Each estimator is checked against an independent implementation or a known answer:
did2s against pyfixest's ``did2s``; the pre-trend test against statsmodels OLS with dummies and
a hand-made cluster sandwich; the Poisson event study against statsmodels' conditional Poisson MLE;
the wild cluster bootstrap against refitting every bootstrap sample with pyfixest; sup-t and
Holm against closed forms.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
from scipy import stats

from complaintpanel.config import SimulateConfig
from complaintpanel.estimate import add_model_columns
from complaintpanel.estimate.event_study import (
    _did2s,
    event_study,
    event_study_sample,
    pretrend_test,
)
from complaintpanel.estimate.inference import holm, sup_t_critical, wild_cluster_bootstrap
from complaintpanel.estimate.samples import informative_rows
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth

WINDOW = 3


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    world = simulate_world(SimulateConfig(customers=400, weeks=10, seed=21))
    return add_model_columns(build_panel(voiced_from_truth(world)))


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    """A smaller world for the checks against dense dummy-variable fits."""
    world = simulate_world(SimulateConfig(customers=150, weeks=8, seed=22))
    return add_model_columns(build_panel(voiced_from_truth(world)))


@pytest.fixture(scope="module")
def studies(data: pd.DataFrame) -> dict:
    return event_study(data, "complaints", window=WINDOW,
                       estimators=("did2s", "twfe", "poisson"))


def test_one_sample_for_every_estimator(data: pd.DataFrame, studies: dict) -> None:
    """Same N everywhere; pairs with one unanswered period are kept, answered-at-entry not."""
    sample = event_study_sample(data, "complaints", WINDOW)
    assert {r.nobs for r in studies.values()} == {len(sample)}
    rows = data.dropna(subset=["complaints"])
    entry = rows.groupby("pair_id")["period"].transform("min")
    at_entry = rows["first_reply_period"].notna() & (rows["first_reply_period"] <= entry)
    assert not sample["pair_id"].isin(rows.loc[at_entry, "pair_id"]).any()
    n_untreated = (sample["is_treated"] == 0).groupby(sample["pair_id"]).sum()
    assert (n_untreated >= 1).all() and (n_untreated == 1).sum() > 0
    for result in studies.values():
        assert "brand × period" in result.info["fixed_effects"]
        assert result.info["pretrend_test"] == studies["did2s"].info["pretrend_test"]


def _pyfixest_applicable(sample: pd.DataFrame) -> pd.DataFrame:
    """Rows where pyfixest's did2s first stage drops nothing (no singleton unanswered rows)."""
    while True:
        untreated = informative_rows(sample[sample["is_treated"] == 0],
                                     ("pair_id", "brand_period"), "complaints")
        keep = (sample["pair_id"].isin(untreated["pair_id"])
                & sample["brand_period"].isin(untreated["brand_period"])
                & ~((sample["is_treated"] == 0) & ~sample.index.isin(untreated.index)))
        if keep.all():
            return sample.copy()
        sample = sample[keep]


def test_did2s_equals_pyfixest_did2s(data: pd.DataFrame) -> None:
    sample = _pyfixest_applicable(event_study_sample(data, "complaints", WINDOW))
    mine = _did2s(sample, "complaints", WINDOW)
    sample["post_bin"] = np.where(sample["is_treated"] == 1, sample["event_bin"].astype(str),
                                  "untreated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.did2s(sample, yname="complaints", first_stage="~ 0 | pair_id + brand_period",
                       second_stage="~ i(post_bin, ref='untreated')", treatment="is_treated",
                       cluster="customer_id")
    names = [f"post_bin::{k}" for k in range(WINDOW + 1)]
    # pyfixest demeans iteratively (default tolerance 1e-8 on the fixed effects): ~5e-6 here,
    # against estimates of order 0.1-0.8; the solve here is direct.
    np.testing.assert_allclose(mine.params.to_numpy(), fit.coef()[names].to_numpy(), atol=2e-5)
    np.testing.assert_allclose(mine.bse.to_numpy(), fit.se()[names].to_numpy(), rtol=2e-4)


def test_pretrend_test_equals_ols_with_dummies(tiny: pd.DataFrame) -> None:
    """Leads −K … −1 on unanswered rows: statsmodels OLS + hand CRV0 sandwich, Wald χ²."""
    import statsmodels.api as sm

    test = pretrend_test(tiny, "complaints", WINDOW, ssc=pf.ssc(k_adj=False, G_adj=False))
    sample = event_study_sample(tiny, "complaints", WINDOW)
    untreated = informative_rows(sample[sample["is_treated"] == 0],
                                 ("pair_id", "brand_period"), "complaints")
    leads = pd.DataFrame({f"lead_{k}": (untreated["event_time"] == -k).astype(float)
                          for k in range(1, WINDOW + 1)})
    dummies = pd.get_dummies(untreated[["pair_id", "brand_period"]], drop_first=False,
                             dtype=float)
    design = pd.concat([leads, dummies], axis=1)
    ols = sm.OLS(untreated["complaints"].to_numpy(float), design.to_numpy()).fit(
        method="pinv")
    x = design.to_numpy()
    bread = np.linalg.pinv(x.T @ x)
    scores = pd.DataFrame(x * ols.resid[:, None]).groupby(
        untreated["customer_id"].to_numpy()).sum().to_numpy()
    cov = (bread @ scores.T @ scores @ bread)[:WINDOW, :WINDOW]
    b = ols.params[:WINDOW]
    estimates = {row["event_time"]: row for row in test["leads"]}
    for k in range(1, WINDOW + 1):
        assert estimates[-k]["estimate"] == pytest.approx(b[k - 1], abs=1e-8)
        assert estimates[-k]["se"] == pytest.approx(np.sqrt(cov[k - 1, k - 1]), rel=1e-6)
    wald = float(b @ np.linalg.inv(cov) @ b)
    assert test["wald"] == pytest.approx(wald, rel=1e-6)
    assert test["pvalue"] == pytest.approx(stats.chi2.sf(wald, WINDOW), rel=1e-6)


def test_pretrend_test_detects_an_anticipation_effect(data: pd.DataFrame) -> None:
    """Add +0.5 to the outcome one period before the first reply: lead −1 finds it."""
    shifted = data.copy()
    before = (shifted["period"] - shifted["first_reply_period"]) == -1
    shifted["complaints"] = shifted["complaints"] + 0.5 * before.fillna(False).astype(float)
    base = {r["event_time"]: r for r in pretrend_test(data, "complaints", WINDOW)["leads"]}
    test = pretrend_test(shifted, "complaints", WINDOW)
    moved = {r["event_time"]: r for r in test["leads"]}
    assert moved[-1]["estimate"] - base[-1]["estimate"] == pytest.approx(0.5, abs=1e-6)
    assert moved[-2]["estimate"] == pytest.approx(base[-2]["estimate"], abs=1e-6)
    assert test["pvalue"] < 1e-3


def test_poisson_event_study_equals_conditional_poisson(tiny: pd.DataFrame) -> None:
    """PPML with pair effects = conditional Poisson MLE (statsmodels), cell by cell."""
    from statsmodels.discrete.conditional_models import ConditionalPoisson

    poisson = event_study(tiny, "complaints", window=WINDOW, estimators=("poisson",))["poisson"]
    sample = event_study_sample(tiny, "complaints", WINDOW)
    sample["cell"] = np.where(sample["is_treated"] == 1,
                              sample["g"].astype(str) + "_" + sample["event_bin"].astype(str),
                              "untreated")
    cell_sum = sample.groupby("cell")["complaints"].transform("sum")
    sample = sample[~((sample["is_treated"] == 1) & (cell_sum == 0))]
    kept = informative_rows(sample, ("pair_id", "brand_period"), "complaints", poisson=True)
    cells = pd.get_dummies(kept["cell"], dtype=float).drop(columns="untreated")
    # pair effects conditioned out; one brand × period dropped per brand (collinear with them)
    periods = pd.get_dummies(kept["brand_period"], dtype=float)
    first = kept.groupby("brand")["brand_period"].min()
    periods = periods.drop(columns=first.tolist())
    design = pd.concat([cells, periods], axis=1)
    conditional = ConditionalPoisson(kept["complaints"].to_numpy(float), design.to_numpy(),
                                     groups=kept["pair_id"].to_numpy())
    fit = conditional.fit(method="newton", maxiter=200, tol=1e-12, disp=False)
    beta = pd.Series(fit.params[:cells.shape[1]], index=cells.columns)
    bins = kept[kept["is_treated"] == 1].groupby("cell")["event_bin"].first()
    sizes = kept[kept["is_treated"] == 1].groupby("cell").size()
    for k in range(WINDOW + 1):
        mask = bins == k
        expected = float((beta[mask.index[mask]] * sizes[mask.index[mask]]).sum()
                         / sizes[mask.index[mask]].sum())
        assert poisson.params[f"event_time={k}"] == pytest.approx(expected, abs=1e-6)


def test_poisson_event_study_recovers_known_rate_ratios() -> None:
    """y ~ Poisson(exp(α_i + λ_t + β_k)) with β_k = 0.3, 0.5, 0.2: within 4 SE."""
    rng = np.random.default_rng(3)
    n_pairs, n_periods = 1500, 10
    first = rng.integers(3, 8, n_pairs).astype(float)
    first[rng.random(n_pairs) < 0.3] = np.nan
    pairs, periods = np.meshgrid(np.arange(n_pairs), np.arange(n_periods), indexing="ij")
    event = periods - first[pairs]
    effect = np.select([event == 0, event == 1, event >= 2], [0.3, 0.5, 0.2], 0.0)
    rate = np.exp(rng.normal(0.0, 0.5, n_pairs)[pairs] + 0.05 * periods + effect)
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in pairs.ravel()], "brand": "b",
                          "period": periods.ravel(), "complaints": rng.poisson(rate).ravel(),
                          "first_reply_period": pd.array(first[pairs].ravel(),
                                                         dtype="Float64").astype("Int64")})
    frame["pair_id"] = frame["customer_id"] + "|b"
    frame["brand_period"] = "b|" + frame["period"].astype(str)
    result = event_study(frame, "complaints", window=2, estimators=("poisson",))["poisson"]
    truth = pd.Series([0.3, 0.5, 0.2], index=[f"event_time={k}" for k in range(3)])
    assert ((result.params - truth).abs() < 4 * result.bse).all()
    # a lead taken for a lag (the truth shifted by one event time) is far off
    assert ((result.params - truth.shift(1, fill_value=0.0)).abs() > 4 * result.bse).any()


def test_joint_inference_columns(studies: dict) -> None:
    for result in studies.values():
        rows = result.term_estimates()
        est = rows[~rows["fixed"].astype(bool)]
        critical = result.info["sup_t_critical_95"]
        assert critical > stats.norm.ppf(0.975)  # simultaneous bands are wider
        np.testing.assert_allclose(est["band_upper"] - est["estimate"], critical * est["se"])
        assert (est["pvalue_holm"] >= est["pvalue"] - 1e-15).all()


def test_sup_t_and_holm_closed_forms() -> None:
    assert sup_t_critical(np.eye(1)) == pytest.approx(stats.norm.ppf(0.975), abs=0.01)
    # K independent estimates: Šidák's c = Φ⁻¹((1 + 0.95^{1/K}) / 2)
    k = 5
    assert sup_t_critical(np.diag([1.0, 4.0, 0.5, 2.0, 3.0])) == pytest.approx(
        stats.norm.ppf((1 + 0.95 ** (1 / k)) / 2), abs=0.01)
    # perfectly correlated: one test
    assert sup_t_critical(np.ones((3, 3))) == pytest.approx(stats.norm.ppf(0.975), abs=0.01)
    adjusted = holm(pd.Series([0.01, 0.04, 0.03, np.nan]))
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])
    assert np.isnan(adjusted.iloc[3])


def test_wild_cluster_bootstrap_equals_refitting_each_sample() -> None:
    """Full enumeration of 2^6 Rademacher weight vectors, each sample refitted by pyfixest."""
    rng = np.random.default_rng(5)
    n_clusters, per = 6, 8
    cluster = np.repeat(np.arange(n_clusters), per)
    fe = rng.integers(0, 3, cluster.size)
    x = rng.normal(size=cluster.size) + 0.3 * fe
    y = 0.2 * x + fe + rng.normal(size=cluster.size) + rng.normal(size=n_clusters)[cluster]
    frame = pd.DataFrame({"y": y, "x": x, "fe": fe, "cl": cluster})
    fit = pf.feols("y ~ x | fe", data=frame, vcov={"CRV1": "cl"})
    weights = np.array(list(itertools.product([-1.0, 1.0], repeat=n_clusters)))
    dummies = pd.get_dummies(frame["fe"], dtype=float).to_numpy()  # not nested in clusters
    mine = wild_cluster_bootstrap(x, y, cluster, controls=dummies, weights=weights,
                                  return_draws=True)
    restricted = frame["y"] - fit._Y.ravel()  # fitted values of y on the fixed effects alone
    t_obs = float(fit.tstat()["x"])
    t_star = []
    for w in weights:
        star = frame.assign(y=restricted + fit._Y.ravel() * w[cluster])
        t_star.append(float(pf.feols("y ~ x | fe", data=star, vcov={"CRV1": "cl"}).tstat()["x"]))
    expected = float(np.mean(np.abs(t_star) >= abs(t_obs) * (1 - 1e-9)))  # ties count
    assert mine["pvalue"] == pytest.approx(expected, abs=1e-12)
    # every bootstrap t, not only the p-value: CRV0 here, CRV1 there — a constant factor
    ratio = np.asarray(t_star) / mine["t_star"]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-8)
    assert float(fit.tstat()["x"]) / mine["t"] == pytest.approx(ratio[0], rel=1e-8)
    assert 0.0 < expected < 1.0


# ------------------------------------------------------------------ FE bootstrap, design, grid
def test_fe_wild_bootstrap_partials_out_the_main_fixed_effects(data: pd.DataFrame) -> None:
    """The bootstrap's observed t equals pyfixest's CRV0 t with pair + brand × period effects."""
    from complaintpanel.estimate import fit_linear_fe
    from complaintpanel.estimate.fixed_effects import (
        _estimation_sample,
        _informative,
        _wild_bootstrap,
    )

    kept = _informative(_estimation_sample(data, "sentiment_mean", "replied"),
                        "sentiment_mean", "replied", poisson=False)
    boot = _wild_bootstrap(kept, "sentiment_mean", "treat_replied")
    crv0 = fit_linear_fe(data, "sentiment_mean", "replied",
                         ssc=pf.ssc(k_adj=False, G_adj=False), wild_bootstrap=False)
    assert boot["t"] == pytest.approx(float(crv0.tvalues["replied"]), rel=1e-6)
    main = fit_linear_fe(data, "sentiment_mean", "replied")
    p_wild = main.term(treatment="replied")["pvalue_wild_bootstrap"]
    assert 0.0 <= p_wild <= 1.0 and main.info["wild_bootstrap"]["draws"] == 1999


def test_design_by_brand_equals_the_design_on_that_brand(tiny: pd.DataFrame) -> None:
    from complaintpanel.estimate.design import answered_vs_unanswered, design_heterogeneity

    data = tiny
    groups = design_heterogeneity(data)
    brand = sorted(data["brand"].unique())[0]
    alone = answered_vs_unanswered(data[data["brand"] == brand], horizon=0)
    np.testing.assert_allclose(groups["by_brand"][brand].params, alone.params, rtol=1e-10)
    assert len(groups["by_latency"]) == 3
    # Holm across the leads of each outcome, beside the pointwise p-values
    design = answered_vs_unanswered(data, horizon=2)
    rows = design.term_estimates()
    for _, block in rows.groupby("outcome"):
        np.testing.assert_allclose(block["pvalue_holm"], holm(block["pvalue"]), rtol=1e-9)


def test_activity_filters_bite_or_fall_back_to_quartiles() -> None:
    from complaintpanel.pipeline.robustness import activity_thresholds

    panel = pd.DataFrame({"customer_id": list("abcdefgh"), "brand": "b",
                          "tweets": [6, 7, 8, 9, 10, 12, 20, 30]})
    chosen = activity_thresholds(panel, (3, 5))  # both drop nothing: quartiles instead
    assert [n for n, _ in chosen] == [7, 9]  # int() of the quartiles 7.75 and 9.5
    assert "drop none" in chosen[0][1]
    assert [n for n, _ in activity_thresholds(panel.assign(tweets=panel["tweets"] - 4),
                                              (3, 5))] == [3, 5]


def test_robustness_grid_uses_the_configured_main_treatment() -> None:
    from complaintpanel.config import EstimateConfig, PanelConfig
    from complaintpanel.estimate import fit_ppml
    from complaintpanel.pipeline.robustness import Variant, robustness_checks

    world = simulate_world(SimulateConfig(customers=300, weeks=8, seed=23))
    voiced = voiced_from_truth(world)
    records = robustness_checks({"main": voiced}, PanelConfig(),
                                EstimateConfig(treatment="replied"),
                                variants=[Variant("main", "Main specification")])
    assert records[0]["treatment"] == "replied"
    headline = fit_ppml(add_model_columns(build_panel(voiced)), "replied")
    assert records[0]["ppml_complaints"].params["replied"] == pytest.approx(
        headline.params["replied"], rel=1e-10)
