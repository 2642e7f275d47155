"""The misclassification matrix's uncertainty and the corrected reduced form (issue 15).

Known answers: M̂ of a small table by hand; its delta-method standard errors against a
simulation of the stratified multinomial sample; the correction recovers known true effects
through M⁻ᵀ (not M⁻¹, not with M transposed); with M = identity it changes nothing; M's
uncertainty enters as the delta method says; the corrected AIPW equals the AIPW of the
corrected outcome (linearity); and on small simulated worlds the corrected design-based
estimate is near the truth of the same (classified) population while the naive one is biased.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import SimulateConfig
from complaintpanel.estimate import add_model_columns, answered_vs_unanswered
from complaintpanel.estimate.measurement import (
    correct_effects,
    corrected_design,
    corrected_outcomes,
)
from complaintpanel.label.validation import draw_validation_sample, oracle_code, validation_counts
from complaintpanel.model.measurement import (
    ValidationCounts,
    misclassification,
    misclassification_jacobian,
    q_covariance,
)
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth
from complaintpanel.simulate.truth_effects import world_answer_effects

# An asymmetric misclassification matrix: M, Mᵀ, M⁻¹ and M⁻ᵀ all differ.
M_KNOWN = np.array([[0.85, 0.05, 0.10],
                    [0.02, 0.90, 0.08],
                    [0.12, 0.20, 0.68]])


def test_m_by_hand() -> None:
    counts = np.array([[40, 5, 10], [5, 30, 10], [5, 15, 30]])  # 50 coded per label
    validation = ValidationCounts(counts=counts, population=np.array([500, 300, 200]))
    # joint P(v, ℓ) = q[v | ℓ] N_ℓ / N
    joint = np.array([[0.80 * 0.5, 0.10 * 0.3, 0.20 * 0.2],
                      [0.10 * 0.5, 0.60 * 0.3, 0.20 * 0.2],
                      [0.10 * 0.5, 0.30 * 0.3, 0.60 * 0.2]])
    shares = np.array([0.47, 0.27, 0.26])
    m, pi = validation.misclassification()
    np.testing.assert_allclose(pi, shares, rtol=1e-12)
    np.testing.assert_allclose(m, joint / shares[:, None], rtol=1e-12)
    np.testing.assert_allclose(m[0], [0.40 / 0.47, 0.03 / 0.47, 0.04 / 0.47], rtol=1e-12)


def test_jacobian_matches_finite_differences() -> None:
    q = np.array([[0.8, 0.1, 0.2], [0.1, 0.6, 0.2], [0.1, 0.3, 0.6]])
    population = np.array([500, 300, 200])
    d_m, d_shares = misclassification_jacobian(q, population)
    eps = 1e-7
    for j in range(9):
        bumped = q.ravel().copy()
        bumped[j] += eps
        m_plus, pi_plus = misclassification(bumped.reshape(3, 3), population)
        bumped[j] -= 2 * eps
        m_minus, pi_minus = misclassification(bumped.reshape(3, 3), population)
        np.testing.assert_allclose(d_m[:, j], (m_plus - m_minus).ravel() / (2 * eps),
                                   atol=1e-6)
        np.testing.assert_allclose(d_shares[:, j], (pi_plus - pi_minus) / (2 * eps), atol=1e-6)


def test_q_covariance_closed_form() -> None:
    counts = np.array([[30, 0, 5], [10, 20, 5], [10, 0, 10]])
    cov = q_covariance(counts)
    q0 = np.array([0.6, 0.2, 0.2])  # stratum 0: n = 50
    at = [0, 3, 6]
    np.testing.assert_allclose(cov[np.ix_(at, at)], (np.diag(q0) - np.outer(q0, q0)) / 50)
    assert cov[0, 1] == 0 and np.all(cov[np.ix_([1, 4, 7], [1, 4, 7])] == 0)  # q = (0, 1, 0)


def test_m_standard_errors_match_a_simulation() -> None:
    """Delta-method SEs of M̂ and π̂ within 10% of their spread over 4,000 samples."""
    q = np.array([[0.80, 0.10, 0.15], [0.05, 0.75, 0.15], [0.15, 0.15, 0.70]])
    population = np.array([6000, 1500, 2500])
    sizes = np.array([300, 300, 300])
    rng = np.random.default_rng(11)
    draws_m, draws_pi = [], []
    for _ in range(4000):
        counts = np.column_stack([rng.multinomial(sizes[ell], q[:, ell]) for ell in range(3)])
        m, pi = ValidationCounts(counts=counts, population=population).misclassification()
        draws_m.append(m.ravel())
        draws_pi.append(pi)
    expected = np.round(q * sizes).astype(int)
    cov_m, cov_pi = ValidationCounts(counts=expected, population=population
                                     ).misclassification_cov()
    np.testing.assert_allclose(np.sqrt(np.diag(cov_m)), np.std(draws_m, axis=0), rtol=0.10)
    np.testing.assert_allclose(np.sqrt(np.diag(cov_pi)), np.std(draws_pi, axis=0), rtol=0.10)
    # the rows of M sum to one: so must the covariance of each row's sum be ~0
    for v in range(3):
        row = slice(3 * v, 3 * v + 3)
        assert abs(cov_m[row, row].sum()) < 1e-12


def test_correction_recovers_known_effects_through_m_inverse_transpose() -> None:
    true = np.array([[-0.10, 0.06, 0.02], [-0.07, 0.05, 0.00]])  # leads × (compl., compl., n.)
    observed = true @ M_KNOWN  # θ_obs = Mᵀ θ_true, row by row
    recovered, cov = correct_effects(observed, np.zeros((6, 6)), M_KNOWN)
    np.testing.assert_allclose(recovered, true, atol=1e-12)
    assert np.all(cov == 0)
    # M⁻¹ θ_obs in place of M⁻ᵀ θ_obs (the same as transposing M) would not
    wrong = observed @ np.linalg.inv(M_KNOWN).T  # rows: (M⁻¹ θ_obs[k])ᵀ
    assert np.abs(wrong - true).max() > 0.005


def test_identity_m_changes_nothing() -> None:
    rng = np.random.default_rng(3)
    observed = rng.normal(size=(4, 3))
    a = rng.normal(size=(12, 12))
    cov = a @ a.T
    corrected, cov_corrected = correct_effects(observed, cov, np.eye(3))
    np.testing.assert_array_equal(corrected, observed)
    np.testing.assert_allclose(cov_corrected, cov, rtol=1e-14, atol=1e-14)


def test_m_uncertainty_enters_by_the_delta_method() -> None:
    """The added variance equals J Σ_M Jᵀ with J by finite differences of M ↦ M⁻ᵀ θ_obs."""
    observed = np.array([[-0.08, 0.07, 0.01]])
    rng = np.random.default_rng(5)
    a = rng.normal(scale=0.01, size=(9, 9))
    cov_m = a @ a.T
    _, without = correct_effects(observed, np.zeros((3, 3)), M_KNOWN)
    _, with_m = correct_effects(observed, np.zeros((3, 3)), M_KNOWN, cov_m)
    eps = 1e-7
    jac = np.zeros((3, 9))
    for j in range(9):
        bumped = M_KNOWN.ravel().copy()
        bumped[j] += eps
        plus = np.linalg.solve(bumped.reshape(3, 3).T, observed[0])
        bumped[j] -= 2 * eps
        minus = np.linalg.solve(bumped.reshape(3, 3).T, observed[0])
        jac[:, j] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(without, 0, atol=1e-15)
    np.testing.assert_allclose(with_m, jac @ cov_m @ jac.T, rtol=1e-5)


@pytest.fixture(scope="module")
def small_world() -> dict[str, object]:
    """A small world labelled with M_KNOWN (tweet by tweet, given the true voice)."""
    world = simulate_world(SimulateConfig(customers=1500, weeks=14, seed=31))
    truth = world.voice.set_index("tweet_id")["voice"]
    customer = world.tweets.loc[world.tweets["inbound"], "tweet_id"].to_numpy()
    voices = np.array(["complaint", "compliment", "neutral"])
    index = pd.Series(truth.loc[customer].to_numpy()).map(
        {v: i for i, v in enumerate(voices)}).to_numpy()
    rng = np.random.default_rng(0)
    cumulative = np.cumsum(M_KNOWN[index], axis=1)
    labels = voices[(rng.random(len(index))[:, None] > cumulative).sum(axis=1)]
    voiced = voiced_from_truth(world, pd.Series(labels, index=customer))
    data = add_model_columns(build_panel(voiced))
    naive = answered_vs_unanswered(data, outcomes=("complaints", "compliments", "neutral"),
                                   horizon=1)
    return {"world": world, "voiced": voiced, "data": data, "naive": naive}


def test_corrected_aipw_is_the_aipw_of_the_corrected_outcome(small_world) -> None:
    """AIPW is linear in the outcome: M⁻ᵀ on the three effects = AIPW of W·y (same SEs)."""
    naive, data = small_world["naive"], small_world["data"]
    counts = np.round(M_KNOWN * 400).astype(int)  # a validation table with M̂ = M_KNOWN·(±)
    validation = ValidationCounts(counts=counts, population=np.array([5000, 2000, 3000]))
    m, _ = validation.misclassification()
    fixed = corrected_design(naive, validation, with_m_uncertainty=False)
    extended = corrected_outcomes(data, m)
    direct = answered_vs_unanswered(extended, outcomes=("true_complaints", "true_compliments",
                                                        "true_neutral"), horizon=1)
    for outcome in ("complaints", "compliments", "neutral"):
        for lead in (0, 1):
            ours = fixed.term(outcome=outcome, lead=lead)
            theirs = direct.term(outcome=f"true_{outcome}", lead=lead)
            assert ours["estimate"] == pytest.approx(theirs["estimate"], abs=1e-12)
            assert ours["se"] == pytest.approx(theirs["se"], rel=1e-9)
    with_m = corrected_design(naive, validation)
    assert (with_m.bse > fixed.bse).all()  # M's uncertainty adds variance to every term


def test_identity_validation_leaves_the_design_estimate_unchanged(small_world) -> None:
    naive = small_world["naive"]
    perfect = ValidationCounts(counts=np.diag([300, 300, 300]),
                               population=np.array([5000, 2000, 3000]))
    corrected = corrected_design(naive, perfect)
    pd.testing.assert_series_equal(corrected.params, naive.params, check_names=False)
    pd.testing.assert_series_equal(corrected.bse, naive.bse, check_names=False, rtol=1e-12)


def test_small_world_corrected_is_near_the_truth_and_naive_is_biased(small_world) -> None:
    """With an oracle-coded 1,000-tweet sample, on a world labelled with M_KNOWN.

    Truth: the effect on the true counts among the customer-periods the estimate kept on the
    classified labels. Naive effects are attenuated by the misclassification (complaints by
    roughly M[c, c] − M[n, c]·(share), compliments the same way): its error must be larger
    than the corrected one's and outside the corrected one's interval.
    """
    world, voiced, naive = small_world["world"], small_world["voiced"], small_world["naive"]
    design = draw_validation_sample(voiced, 1000, seed=1)
    sample = design.sample.assign(tweet_id=design.sample["tweet_key"])
    coded = oracle_code(sample[["tweet_id"]].assign(voice=""), world.voice)
    corrected = corrected_design(naive, validation_counts(coded, design))
    truth = world_answer_effects(world, horizon=1, draws=10, rows=naive.kept,
                                 require_complaint=False).set_index("lead")
    for outcome in ("complaints", "compliments"):
        true_value = float(truth.loc[0, f"effect_{outcome}"])
        fixed = corrected.term(outcome=outcome, lead=0)
        raw = naive.term(outcome=outcome, lead=0)
        assert fixed["ci_lower"] <= true_value <= fixed["ci_upper"], (outcome, fixed, true_value)
        assert abs(raw["estimate"] - true_value) > abs(fixed["estimate"] - true_value), outcome
        # the naive estimate is pulled toward zero
        assert abs(raw["estimate"]) < abs(true_value), (outcome, raw["estimate"], true_value)


def test_corrected_event_study_is_linear_in_the_naive_ones(small_world) -> None:
    """did2s is linear in the outcome: corrected = M⁻ᵀ × naive event studies, term by term."""
    from complaintpanel.estimate.event_study import event_study
    from complaintpanel.estimate.measurement import corrected_event_study

    data = small_world["data"]
    validation = ValidationCounts(counts=np.round(M_KNOWN * 400).astype(int),
                                  population=np.array([5000, 2000, 3000]))
    m, _ = validation.misclassification()
    weights = np.linalg.inv(m).T
    naive = {o: event_study(data, o, estimators=("did2s",))["did2s"]
             for o in ("complaints", "compliments", "neutral")}
    corrected = corrected_event_study(data, validation, outcomes=("complaints", "compliments"))
    for i, outcome in enumerate(("complaints", "compliments")):
        fit = corrected[outcome]["did2s"]
        names = fit.params.index
        expected = sum(weights[i, ell] * naive[o].params.loc[names]
                       for ell, o in enumerate(("complaints", "compliments", "neutral")))
        # pyfixest demeans the fixed effects iteratively (to its convergence tolerance), so
        # linearity holds to ~1e-6 here, against effects of order 0.01–0.6.
        np.testing.assert_allclose(fit.params.to_numpy(), expected.to_numpy(), atol=1e-5)
        own = naive[outcome]
        assert (fit.bse > 0).all() and len(names) == len(own.params)
    perfect = ValidationCounts(counts=np.diag([300, 300, 300]),
                               population=np.array([5000, 2000, 3000]))
    same = corrected_event_study(data, perfect, outcomes=("complaints",))["complaints"]["did2s"]
    np.testing.assert_allclose(same.params.to_numpy(),
                               naive["complaints"].params.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(same.bse.to_numpy(), naive["complaints"].bse.to_numpy(),
                               rtol=1e-9)
