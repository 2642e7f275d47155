"""The complaint-anchored Poisson event study and its truth (issue 21)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from complaintpanel.config import SimulateConfig
from complaintpanel.estimate import add_model_columns
from complaintpanel.estimate.complaint_event_study import (
    STRATUM_FE,
    _informative,
    anchor_sample,
    complaint_event_study,
    informed_answered_rows,
)
from complaintpanel.estimate.event_study import event_study
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth
from complaintpanel.simulate.truth_effects import (
    anchor_effects,
    anchor_path,
    answer_effects,
    poisson_fe_log_ratio,
)

# Known rate ratios of answered vs unanswered complainers at event times 1 … 4.
RATIOS = {1: 2.0, 2: 3.0, 3: 1.0, 4: 0.5}


def _panel(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for column in ("compliments", "neutral", "answered_before"):
        frame[column] = 0
    frame["pair_id"] = frame["customer_id"]
    frame["brand_period"] = frame["brand"] + "|" + frame["period"].astype(str)
    return frame


def _known_world(rng: np.random.Generator | None = None, pairs: int = 8) -> pd.DataFrame:
    """Pairs of two brands anchored in periods 1 and 2; half of each stratum answered.

    Without ``rng`` the counts are exact: unanswered pairs complain ``base`` or ``3 × base``
    times at each event time (base varying by brand, anchor and event time), answered ones
    ``RATIOS[k]`` times as often, so in every stratum the answered mean is ``RATIOS[k]`` times
    the unanswered one and the Poisson MLE of every cohort × event time is ``log RATIOS[k]``.
    With ``rng``, Poisson draws around those means.
    """
    rows = []
    customer = 0
    for brand, level in (("A", 2), ("B", 4)):
        for anchor in (1, 2):
            for i in range(pairs):
                customer += 1
                answered = i % 2
                for period in range(anchor + 6):
                    k = period - anchor
                    if k < 0:
                        complaints = 0
                    elif k == 0:
                        complaints = 1
                    else:
                        spread = 1 + 2 * ((i // 2) % 2)  # 1 or 3 in each arm
                        mean = level * (1 + (k + anchor) % 2) * spread * (
                            RATIOS.get(k, 1.0) if answered else 1.0)
                        complaints = int(rng.poisson(mean)) if rng is not None else mean
                    rows.append({"customer_id": f"c{customer}", "brand": brand,
                                 "period": period, "complaints": int(complaints),
                                 "answered_complaints": answered * (k == 0)})
    return _panel(rows)


def test_known_rate_ratios_exactly() -> None:
    fit = complaint_event_study(_known_world(), window=4)
    np.testing.assert_allclose(fit.params.to_numpy(), np.log(list(RATIOS.values())),
                               atol=1e-7)
    assert list(fit.term_estimates()["event_time"]) == [1, 2, 3, 4]
    assert fit.info["anchors"] == 32 and fit.info["anchors_answered"] == 16
    # every cohort contributes its answered rows: 8 per cohort and event time
    assert fit.info["cohort_weights"]["1"] == {"1": 8, "2": 8}


def test_recovers_known_ratios_from_poisson_draws() -> None:
    fit = complaint_event_study(_known_world(np.random.default_rng(5), pairs=100), window=4)
    z = (fit.params.to_numpy() - np.log(list(RATIOS.values()))) / fit.bse.to_numpy()
    assert np.all(np.abs(z) < 3.5), z
    assert fit.bse.max() < 0.1  # the test has power: an error of 0.35 would fail it


def test_equals_statsmodels_poisson_with_dummies() -> None:
    data = _known_world(np.random.default_rng(7), pairs=10)
    fit = complaint_event_study(data, window=3, placebo=False)
    kept, _ = _informative(anchor_sample(data, 3), "complaints")
    cells = sorted(set(kept["cell"]) - {"control"})
    x = pd.concat([pd.get_dummies(kept[STRATUM_FE], dtype=float),
                   pd.DataFrame({c: (kept["cell"] == c).astype(float) for c in cells},
                                index=kept.index)], axis=1)
    # CRV1 by customer with statsmodels' small-sample factor G/(G−1)·(N−1)/(N−K)
    glm = sm.GLM(kept["complaints"].astype(float), x, family=sm.families.Poisson()).fit(
        tol=1e-12, cov_type="cluster",
        cov_kwds={"groups": pd.factorize(kept["customer_id"])[0], "use_correction": True})
    assert kept.groupby("customer_id").size().min() > 1  # clustering matters
    weights = fit.info["cohort_weights"]
    for k in (1, 2, 3):
        by_cohort = weights[str(k)]
        total = sum(by_cohort.values())
        vector = pd.Series(0.0, index=x.columns)
        for a, n in by_cohort.items():
            vector[f"{a}_{k}"] = n / total
        assert fit.params[f"event_time={k}"] == pytest.approx(vector @ glm.params, abs=1e-6)
        se = float(np.sqrt(vector @ glm.cov_params() @ vector))
        assert fit.bse[f"event_time={k}"] == pytest.approx(se, rel=1e-6)


# Exact counts at event time 1 per anchor period and brand: (answered?, count) × pairs. The
# rate ratio differs between strata (3 vs 1, 3 vs 0.5) and the cohorts have 4 and 6 answered
# rows, so neither the strata's nor the cohorts' weights can be got wrong unnoticed.
TWO_COHORTS = {1: {"A": [(1, 6)] * 2 + [(0, 2)] * 2, "B": [(1, 4)] * 2 + [(0, 4)] * 6},
               2: {"A": [(1, 3)] * 2 + [(0, 1)] * 3, "B": [(1, 2)] * 4 + [(0, 4)] * 1}}


def _two_cohorts() -> pd.DataFrame:
    rows = []
    for anchor, by_brand in TWO_COHORTS.items():
        for brand, pairs in by_brand.items():
            for i, (answered, later) in enumerate(pairs):
                for period in range(anchor + 2):
                    complaints = {anchor: 1, anchor + 1: later}.get(period, 0)
                    rows.append({"customer_id": f"{brand}{anchor}_{i}", "brand": brand,
                                 "period": period, "complaints": complaints,
                                 "answered_complaints": answered * (period == anchor)})
    return _panel(rows)


def test_strata_are_weighted_as_the_poisson_fit_weights_them() -> None:
    data = _two_cohorts()
    fit = complaint_event_study(data, window=1, placebo=False)
    first = poisson_fe_log_ratio(np.array([2, 2]), np.array([2, 6]), np.array([6.0, 4.0]),
                                 np.array([2.0, 4.0]))
    # not the answered rows' ratio of means (log(5/3)) nor the mean log ratio (log(3)/2)
    assert abs(first - np.log(5 / 3)) > 0.05 and abs(first - np.log(3) / 2) > 0.05
    assert fit.info["cohort_weights"]["1"] == {"1": 4, "2": 6}
    # the truth's aggregation, given each answered row's rates with (its count) and without
    # the answer (its stratum's unanswered count), is the estimator's fit exactly
    rows = informed_answered_rows(data, "complaints", 1)
    assert sorted(rows["controls"]) == [1] * 4 + [2] * 2 + [3] * 2 + [6] * 2
    sample = anchor_sample(data, 1)
    count = sample.set_index("customer_id")["complaints"]
    control = sample[sample["answered"] == 0].groupby("stratum")["complaints"].mean()
    rows["answered"] = count.reindex(rows["customer_id"]).to_numpy(dtype=float)
    rows["withheld"] = control.reindex(rows["stratum"]).to_numpy()
    truth = anchor_path(rows).set_index("event_time")
    assert truth.loc[1, "truth"] == pytest.approx(fit.params["event_time=1"], abs=1e-8)
    assert abs(truth.loc[1, "truth_ratio_of_means"] - truth.loc[1, "truth"]) > 0.05


def test_poisson_fe_log_ratio_is_the_common_ratio_when_there_is_one() -> None:
    beta = poisson_fe_log_ratio(np.array([3, 1, 7]), np.array([2, 9, 1]),
                                np.array([1.5, 6.0, 0.3]), np.array([1.0, 4.0, 0.2]))
    assert beta == pytest.approx(np.log(1.5), abs=1e-10)


def test_placebo_before_the_anchor_does_not_reject_when_nothing_differs() -> None:
    data = _known_world(np.random.default_rng(11), pairs=40)
    rng = np.random.default_rng(12)
    data["compliments"] = rng.poisson(1.0, len(data))
    test = complaint_event_study(data, window=3).info["placebo_test"]["compliments"]
    assert test["df"] == 2  # leads −2, −1 (anchors in periods 1 and 2)
    assert test["pvalue"] > 0.01


def test_registered_in_event_study_with_joint_inference() -> None:
    out = event_study(_known_world(), "complaints", 4, ("poisson_complaint",))
    result = out["poisson_complaint"]
    assert set(out) == {"poisson_complaint"}
    assert {"pvalue_holm", "band_lower", "band_upper"} <= set(result.terms)
    assert result.info["sup_t_critical_95"] > 1.96


@pytest.fixture(scope="module")
def small_world():
    world = simulate_world(SimulateConfig(customers=300, weeks=10, seed=21))
    return world, add_model_columns(build_panel(voiced_from_truth(world)))


def test_truth_of_one_cohort_equals_answer_effects(small_world) -> None:
    world, data = small_world
    rows = informed_answered_rows(data, "complaints", 2)
    cohort = rows["anchor_period"].value_counts().idxmax()
    anchors = rows.loc[rows["anchor_period"] == cohort, ["customer_id"]].drop_duplicates()
    anchors["anchor_period"] = cohort
    grid = anchors.merge(pd.DataFrame({"event_time": [1, 2]}), how="cross")
    truth = anchor_effects(world, grid, draws=5).set_index("event_time")
    from complaintpanel.simulate.world import answer_rule

    reference = answer_effects(
        world.states, world.params, answer_rule(world.brands, False, world.params.n_states),
        [b.handle for b in world.brands], horizon=1, draws=5, seed=world.spec.seed + 1,
        rows=anchors.rename(columns={"anchor_period": "period"}))
    for k in (1, 2):
        lead = reference.loc[k - 1]
        expected = np.log(lead["mean_complaints_answered"] / lead["mean_complaints_unanswered"])
        assert truth.loc[k, "truth"] == pytest.approx(expected, rel=1e-9)
        assert truth.loc[k, "truth"] == pytest.approx(truth.loc[k, "log_ratio_pooled"])
    assert truth.loc[1, "truth"] > 0  # answering raises complaints next period (γ > 0)


def test_written_to_estimates_json_and_tabled(small_world, tmp_path) -> None:
    from complaintpanel.estimate.event_study import complaint_anchored_event_study
    from complaintpanel.report.estimate_tables import complaint_event_study_table
    from complaintpanel.results import read_results, write_results

    _, data = small_world
    fit = complaint_anchored_event_study(data, "complaints", 2)
    path = write_results({"event_study_complaint_anchored": {"complaints": fit}},
                         tmp_path / "estimates.json")
    back = read_results(path)["event_study_complaint_anchored"]["complaints"]
    np.testing.assert_allclose(back.params.to_numpy(), fit.params.to_numpy())
    np.testing.assert_allclose(back.bse.to_numpy(), fit.bse.to_numpy())
    assert back.info["placebo_test"]["compliments"]["df"] >= 1
    table = complaint_event_study_table(back)
    assert ["event time 1", "event time 2"] == list(table.index[:2])
    assert table.loc["event time 1", "Estimate (SE)"].startswith(f"{fit.params.iloc[0]:.3f}")
    assert "placebo before the anchor: compliments, joint p" in table.index
