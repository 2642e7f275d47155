"""Correctness of the relationship-HMM likelihood against independent code.

* with no covariates the model is a homogeneous Poisson HMM: its log-likelihood equals
  hmmlearn's ``PoissonHMM.score`` for the same parameters and sequences;
* the scaled forward pass equals a textbook log-sum-exp recursion and brute-force enumeration;
* the analytic gradient (Fisher's identity) equals finite differences, for every option;
* the hot-path ordered logit equals :func:`complaintpanel.model.transition_matrices`.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from complaintpanel.hmm import (
    ParamLayout,
    RelationshipHMM,
    core,
    prepare_panel,
    sample_panel,
)
from complaintpanel.hmm.likelihood import evaluate, model_arrays
from complaintpanel.hmm.transitions import cumulative, ordered_logit, probs_from_cdf
from complaintpanel.model import ModelParams, ModelSpec, default_params, transition_matrices

hmmlearn = pytest.importorskip("hmmlearn.hmm")

NO_COVARIATES = {"complaint_covariates": (), "transition_covariates": ()}


def _estimated(params: ModelParams, spec: ModelSpec | None = None) -> ModelParams:
    # The parameters as the estimator sees them: no neutral tweets (it does not model them).
    return params.with_spec(spec or params.spec).replace(neutral=None)


def _homogeneous_params() -> ModelParams:
    return _estimated(default_params().replace(gamma=0.0, delta=0.0, eta=0.0))


@pytest.fixture(scope="module")
def homogeneous_panel() -> pd.DataFrame:
    spec = ModelSpec(complaint_covariates=(), transition_covariates=(), first_contact="none")
    return sample_panel(_estimated(_homogeneous_params(), spec), 600, 20, random_state=3)


@pytest.fixture(scope="module")
def default_panel() -> pd.DataFrame:
    return sample_panel(_estimated(default_params()), 400, 16, random_state=11)


def _hmmlearn_model(params: ModelParams) -> object:
    model = hmmlearn.PoissonHMM(n_components=params.n_states)
    model.startprob_ = params.initial_probs
    model.transmat_ = transition_matrices(params.tau, 0.0)
    model.lambdas_ = np.exp(np.c_[params.a, params.c])
    return model


def _sequences(panel: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    ordered = panel.sort_values(["customer_id", "brand", "period"])
    lengths = ordered.groupby(["customer_id", "brand"], sort=False).size().to_numpy()
    return ordered[["complaints", "compliments"]].to_numpy(), lengths


def test_loglike_equals_hmmlearn_without_covariates(homogeneous_panel):
    params = _homogeneous_params()
    ours = RelationshipHMM.from_params(params, first_contact_truncation=False,
                                       **NO_COVARIATES).score(homogeneous_panel)
    x, lengths = _sequences(homogeneous_panel)
    reference = _hmmlearn_model(params).score(x, lengths)
    assert abs(ours - reference) < 1e-6


def test_loglike_equals_hmmlearn_per_sequence(homogeneous_panel):
    params = _homogeneous_params()
    model = RelationshipHMM.from_params(params, first_contact_truncation=False, **NO_COVARIATES)
    per_seq = model.score_samples(homogeneous_panel)
    x, lengths = _sequences(homogeneous_panel)
    reference = _hmmlearn_model(params)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    for i in range(0, len(lengths), 97):
        expected = reference.score(x[bounds[i]:bounds[i + 1]])
        assert per_seq["loglike"].iloc[i] == pytest.approx(expected, abs=1e-9)


def test_zero_coefficients_equal_no_covariates(default_panel):
    # Covariates with zero coefficients must leave the homogeneous likelihood unchanged.
    params = _homogeneous_params()
    with_cov = RelationshipHMM.from_params(params, first_contact_truncation=False)
    without = RelationshipHMM.from_params(params, first_contact_truncation=False,
                                          **NO_COVARIATES)
    assert with_cov.score(default_panel) == pytest.approx(without.score(default_panel),
                                                          abs=1e-8)


def test_smoothed_probabilities_equal_hmmlearn(homogeneous_panel):
    params = _homogeneous_params()
    model = RelationshipHMM.from_params(params, first_contact_truncation=False, **NO_COVARIATES)
    ours = model.predict_proba(homogeneous_panel)
    x, lengths = _sequences(homogeneous_panel)
    reference = _hmmlearn_model(params).predict_proba(x, lengths)
    np.testing.assert_allclose(ours[["p_poor", "p_fair", "p_good"]].to_numpy(), reference,
                               atol=1e-9)


def test_viterbi_equals_hmmlearn(homogeneous_panel):
    params = _homogeneous_params()
    model = RelationshipHMM.from_params(params, first_contact_truncation=False, **NO_COVARIATES)
    log_prob, states = model.decode(homogeneous_panel)
    x, lengths = _sequences(homogeneous_panel)
    ref_log_prob, ref_states = _hmmlearn_model(params).decode(x, lengths, algorithm="viterbi")
    # hmmlearn's decode returns the summed log-probability of the best paths
    assert log_prob == pytest.approx(ref_log_prob, abs=1e-6)
    np.testing.assert_array_equal(states["state"].to_numpy(), ref_states)


def _arrays(panel: pd.DataFrame, spec: ModelSpec, theta: np.ndarray | None = None):
    layout = ParamLayout(spec)
    data = prepare_panel(panel, spec)
    if theta is None:
        theta = layout.from_natural(default_params().with_spec(spec))
    nat = layout.to_natural(theta)
    log_initial, cdf, terms = model_arrays(nat, layout, data)
    return data, log_initial, cdf, terms


@pytest.mark.parametrize("first_contact", ["state", "joint", "none"])
def test_scaled_forward_equals_log_space_recursion(default_panel, first_contact):
    data, log_initial, cdf, terms = _arrays(default_panel, ModelSpec(first_contact=first_contact))
    fast, *_ = core.forward_cumulative(log_initial, cdf, terms.log_density, data.mask)
    generic, *_ = core.forward(log_initial, probs_from_cdf(cdf), terms.log_density, data.mask)
    reference = core.log_forward(log_initial, np.log(probs_from_cdf(cdf)), terms.log_density,
                                 data.mask)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(generic, reference, rtol=0, atol=1e-9)


def test_forward_backward_and_viterbi_equal_brute_force():
    rng = np.random.default_rng(0)
    k, t_len, n = 3, 5, 4
    log_initial = np.log(rng.dirichlet(np.ones(k), size=n).T)
    tau = np.sort(rng.normal(size=(k, k - 1)), axis=1)
    shifts = rng.normal(size=(t_len - 1, n))
    cdf, probs = ordered_logit(tau, shifts)
    log_emission = rng.normal(-2, 1, size=(t_len, k, n))
    mask = np.ones((t_len, n), dtype=bool)
    mask[3:, 1] = False  # a shorter sequence
    mask[4:, 2] = False
    log_emission[~mask[:, None, :].repeat(k, axis=1)] = 0.0
    fb = core.forward_backward_cumulative(log_initial, cdf, log_emission, mask)
    best_lp, best_path = core.viterbi(log_initial, np.log(probs), log_emission, mask)
    for i in range(n):
        length = int(mask[:, i].sum())
        scores = {}
        for path in itertools.product(range(k), repeat=length):
            score = log_initial[path[0], i] + log_emission[0, path[0], i]
            for t in range(1, length):
                score += np.log(probs[t - 1, path[t - 1], path[t], i])
                score += log_emission[t, path[t], i]
            scores[path] = score
        values = np.array(list(scores.values()))
        assert fb.loglik[i] == pytest.approx(logsumexp(values), abs=1e-10)
        marginal = np.array([[np.exp(logsumexp([v for p, v in scores.items() if p[t] == s])
                                     - logsumexp(values)) for s in range(k)]
                             for t in range(length)])
        np.testing.assert_allclose(fb.posterior[:length, :, i], marginal, atol=1e-10)
        best = max(scores, key=scores.get)
        assert best_lp[i] == pytest.approx(scores[best], abs=1e-10)
        np.testing.assert_array_equal(best_path[:length, i], best)
        assert np.all(best_path[length:, i] == -1)


def test_hot_path_transitions_equal_model_transition_matrices():
    rng = np.random.default_rng(1)
    tau = default_params().tau
    shifts = rng.normal(0, 2, size=(6, 7))
    cdf = cumulative(tau, shifts)
    ours = np.moveaxis(probs_from_cdf(cdf), -1, 1)  # (T, N, K, K)
    np.testing.assert_allclose(ours, transition_matrices(tau, shifts), atol=1e-14)


FULL_SPEC = {
    "complaint_covariates": ("redress",),
    "compliment_covariates": ("redress",),
    "transition_covariates": ("intervened", "peer_voice", "unanswered_complaints"),
    "initial_covariates": ("brand_b",),
    "sentiment": "sentiment_mean",
    "reply_model": True,
}


@pytest.fixture(scope="module")
def rich_panel() -> pd.DataFrame:
    spec = ModelSpec(sentiment="sentiment_mean", reply_model=True,
                     brands=("brand0", "brand1", "brand2"),
                     transition_covariates=("intervened", "peer_voice", "unanswered_complaints"))
    layout = ParamLayout(spec)
    base = _estimated(default_params(), ModelSpec(
        transition_covariates=("intervened", "peer_voice", "unanswered_complaints")))
    nat = dataclasses.replace(
        base, spec=spec, sent_mean=np.array([-0.4, 0.0, 0.5]),
        sent_log_sd=np.log([0.3, 0.25, 0.2]), reply_brand=np.array([-1.0, 0.0, 1.0]),
        reply_state=np.array([-0.5, -1.0]))
    assert layout.n_params > 0
    panel = sample_panel(nat, 300, 12, random_state=5)
    panel["brand_b"] = (panel["brand"] == "brand1").astype(float)
    return panel


@pytest.mark.parametrize("first_contact", ["state", "joint", "none"])
def test_gradient_matches_finite_differences(rich_panel, first_contact):
    spec = ModelSpec(first_contact=first_contact, brands=("brand0", "brand1", "brand2"),
                     **FULL_SPEC)
    layout = ParamLayout(spec)
    data = prepare_panel(rich_panel, spec)
    rng = np.random.default_rng(2)
    theta = rng.normal(0, 0.3, layout.n_params)
    theta[layout.slices["a"]] = [-0.2, -0.1, 0.3]
    chunks = data.chunks(128)  # several chunks: the sum over chunks is part of the check
    ev = evaluate(theta, layout, chunks)
    step = 1e-6
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (evaluate(up, layout, chunks, gradient=False).loglik
                      - evaluate(down, layout, chunks, gradient=False).loglik) / (2 * step)
    rel = np.max(np.abs(ev.grad - numeric) / (1 + np.abs(numeric)))
    assert rel < 1e-5, rel
    per_seq = evaluate(theta, layout, chunks, scores=True)
    np.testing.assert_allclose(per_seq.scores.sum(axis=1), ev.grad, rtol=1e-10, atol=1e-8)


def test_joint_and_state_conditioning_are_reparametrisations(default_panel):
    # Conditioning state and emissions jointly on first contact (π_joint) is the same model as
    # zero-truncating the emissions given the state with π_state ∝ π_joint · q: equal
    # likelihoods; only the meaning of π differs.
    params = default_params()
    state = RelationshipHMM.from_params(params, first_contact_truncation="state")
    q = -np.expm1(-(np.exp(params.a) + np.exp(params.c)))  # R = 0 at first contact
    pi_joint = params.initial_probs / q
    joint_params = params.replace(initial_probs=pi_joint / pi_joint.sum())
    joint = RelationshipHMM.from_params(joint_params, first_contact_truncation="joint")
    assert state.score(default_panel) == pytest.approx(joint.score(default_panel), abs=1e-7)


def test_parametrisation_round_trip_and_ordering():
    spec = ModelSpec(**{**FULL_SPEC, "brands": ("x", "y")})
    layout = ParamLayout(spec)
    theta = np.random.default_rng(4).normal(size=layout.n_params)
    nat = layout.to_natural(theta)
    assert np.all(np.diff(nat.a) < 0)  # states ordered by complaint propensity
    assert np.all(np.diff(nat.tau, axis=1) > 0)
    np.testing.assert_allclose(layout.from_natural(nat), theta, atol=1e-12)


def test_same_optimum_as_hmmlearn_em(homogeneous_panel):
    # A free K × K transition matrix is an ordered logit with free row thresholds, so without
    # covariates our maximum is hmmlearn's: EM started at our estimate stays there, and EM
    # started elsewhere (at the truth) does not find a higher likelihood.
    fit = RelationshipHMM(first_contact_truncation=False, n_starts=3, random_state=0,
                          **NO_COVARIATES).fit(homogeneous_panel)
    x, lengths = _sequences(homogeneous_panel)
    em = hmmlearn.PoissonHMM(n_components=3, n_iter=25, tol=1e-12, init_params="")
    em.startprob_ = fit.startprob_.copy()
    em.transmat_ = fit.transmat_.copy()
    em.lambdas_ = np.exp(np.c_[fit.complaint_log_rate_, fit.compliment_log_rate_])
    assert em.score(x, lengths) == pytest.approx(fit.loglike_, abs=1e-6)
    em.fit(x, lengths)
    assert em.score(x, lengths) - fit.loglike_ < 1e-4
    np.testing.assert_allclose(np.log(em.lambdas_[:, 0]), fit.complaint_log_rate_, atol=2e-3)
    np.testing.assert_allclose(np.log(em.lambdas_[:, 1]), fit.compliment_log_rate_, atol=2e-3)
    np.testing.assert_allclose(em.transmat_, fit.transmat_, atol=2e-3)
    from_truth = _hmmlearn_model(_homogeneous_params())
    from_truth.set_params(n_iter=200, tol=1e-9, init_params="")
    from_truth.fit(x, lengths)
    assert from_truth.score(x, lengths) <= fit.loglike_ + 1e-6
