"""Emission densities of the relationship HMM and their gradients (DESIGN.md §4, "voice").

Given latent state *k* in period *t* a customer writes

* ``complaints ~ Poisson(λ_tk)``, ``log λ_tk = a_k + x_c,t'β_c`` — with ``x_c = redress``,
  ``β_c = γ`` is the squeaky-wheel effect;
* ``compliments ~ Poisson(μ_tk)``, ``log μ_tk = c_k + x_p,t'β_p``;
* optionally ``sentiment_mean ~ Normal(m_k, σ_k)`` where observed;
* optionally (reply model) ``answered ~ Binomial(complaints, logistic(ρ_brand + ψ_k))``.

The gradients use Fisher's identity: the score of the observed-data likelihood is the posterior
expectation of the complete-data score, so each block is a posterior-weighted sum of the
familiar single-distribution scores (Netzer, Lattin & Srinivasan 2008 estimate the same model
family by maximum likelihood). Arrays are ``(T, K, N)``: period, state, sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from complaintpanel.hmm.data import PanelArrays
from complaintpanel.model import ModelParams, ModelSpec

__all__ = [
    "EmissionTerms",
    "emission_gradient",
    "emission_terms",
    "first_contact_probability",
]

_LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class EmissionTerms:
    """Emission log-densities plus what their gradient needs.

    Attributes
    ----------
    log_density : ndarray, shape (T, K, N)
        ``log p(y_t | s_t = k)`` (0 in padding; first period truncated when requested).
        Rates are 0 in padding.
    rate_complaints, rate_compliments : ndarray, shape (T, K, N)
        ``λ_tk`` and ``μ_tk``.
    sentiment_z : ndarray or None, shape (T, K, N)
        Standardised sentiment residuals.
    reply_prob : ndarray or None, shape (K, N)
        Probability that the brand answers a complaint, by state.
    """

    log_density: np.ndarray
    rate_complaints: np.ndarray
    rate_compliments: np.ndarray
    sentiment_z: np.ndarray | None
    reply_prob: np.ndarray | None


def _linear(beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x'β`` for covariates stacked as (p, T, N); zeros when there are none."""
    out = np.zeros(x.shape[1:])
    # an explicit sum over the few covariates: tensordot copies (p, T, N) to a (T·N, p) layout
    for coef, values in zip(beta, x, strict=True):
        out += coef * values
    return out


def first_contact_probability(rate_complaints: np.ndarray, rate_compliments: np.ndarray
                              ) -> np.ndarray:
    """``P(complaints + compliments ≥ 1 | state)`` in the first period, shape (K, N)."""
    return -np.expm1(-(rate_complaints[0] + rate_compliments[0]))


def emission_terms(nat: ModelParams, spec: ModelSpec, data: PanelArrays) -> EmissionTerms:
    """Evaluate the emission log-densities of every state in every period.

    Parameters
    ----------
    nat : ModelParams
    spec : ModelSpec
    data : PanelArrays

    Returns
    -------
    EmissionTerms
    """
    xb_c = _linear(nat.beta_c, data.x_complaint)
    xb_p = _linear(nat.beta_p, data.x_compliment)
    # Rates as outer products exp(a_k)·exp(x'β): one exponential per customer-period instead
    # of one per state, and zero rates in padding so padded cells contribute exactly nothing.
    scale_c = np.exp(xb_c) * data.mask
    scale_p = np.exp(xb_p) * data.mask
    lam = np.exp(nat.a)[None, :, None] * scale_c[:, None, :]
    mu = np.exp(nat.c)[None, :, None] * scale_p[:, None, :]
    counts_c = data.complaints[:, None, :]
    counts_p = data.compliments[:, None, :]
    # log p = C (a_k + x'β_c) − λ + P (c_k + x'β_p) − μ − log C! − log P!
    base = data.complaints * xb_c + data.compliments * xb_p - data.log_factorial
    log_density = counts_c * nat.a[None, :, None]
    log_density += counts_p * nat.c[None, :, None]
    log_density -= lam
    log_density -= mu
    log_density += base[:, None, :]

    z = None
    if spec.sentiment:
        sd = np.exp(nat.sent_log_sd)
        z = (data.sentiment[:, None, :] - nat.sent_mean[None, :, None]) / sd[None, :, None]
        log_density += data.sentiment_obs[:, None, :] * (
            -0.5 * z * z - nat.sent_log_sd[None, :, None] - 0.5 * _LOG_2PI)

    reply_prob = None
    if spec.reply_model:
        state_shift = np.concatenate([[0.0], nat.reply_state])
        index = nat.reply_brand[data.brand_code][None, :] + state_shift[:, None]  # (K, N)
        reply_prob = expit(index)
        # log p and log(1 − p) without cancellation: −log(1 + e^{∓x})
        log_p = -np.logaddexp(0.0, -index)
        log_q = -np.logaddexp(0.0, index)
        answered = data.answered[:, None, :]
        log_density += (answered * log_p[None] + (counts_c - answered) * log_q[None]
                        + data.log_binom[:, None, :])

    if spec.first_contact == "state":
        # First contact: emissions zero-truncated given the state (the simulator redraws a
        # silent first week for the same state), i.e. divide by P(C + P ≥ 1 | k).
        log_density[0] -= np.log(first_contact_probability(lam, mu))
    return EmissionTerms(log_density=log_density, rate_complaints=lam, rate_compliments=mu,
                         sentiment_z=z, reply_prob=reply_prob)


def emission_gradient(terms: EmissionTerms, posterior: np.ndarray, nat: ModelParams,
                      spec: ModelSpec, data: PanelArrays) -> dict[str, np.ndarray]:
    """Per-sequence score of the emission parameters (Fisher's identity).

    Parameters
    ----------
    terms : EmissionTerms
    posterior : ndarray, shape (T, K, N)
        Smoothed state probabilities, zero in padding.
    nat : ModelParams
    spec : ModelSpec
    data : PanelArrays

    Returns
    -------
    dict
        Blocks ``a``, ``c`` (K, N), ``beta_c``, ``beta_p`` (p, N) and, when present,
        ``sent_mean``, ``sent_log_sd`` (K, N), ``reply_brand`` (B, N), ``reply_state``
        (K−1, N).
    """
    lam, mu = terms.rate_complaints, terms.rate_compliments
    resid_c = posterior * (data.complaints[:, None, :] - lam)
    resid_p = posterior * (data.compliments[:, None, :] - mu)
    if spec.first_contact == "state":
        # ∂(−log(1 − e^{−λ−μ}))/∂log λ = −λ / (e^{λ+μ} − 1), weighted by the posterior
        denom = np.expm1(lam[0] + mu[0])
        resid_c[0] -= posterior[0] * lam[0] / denom
        resid_p[0] -= posterior[0] * mu[0] / denom
    out = {
        "a": resid_c.sum(axis=0),
        "c": resid_p.sum(axis=0),
        "beta_c": np.einsum("ptn,tn->pn", data.x_complaint, resid_c.sum(axis=1)),
        "beta_p": np.einsum("ptn,tn->pn", data.x_compliment, resid_p.sum(axis=1)),
    }
    if spec.sentiment:
        z = terms.sentiment_z
        assert z is not None  # computed whenever the specification has a sentiment emission
        weight = posterior * data.sentiment_obs[:, None, :]
        sd = np.exp(nat.sent_log_sd)[:, None]
        out["sent_mean"] = (weight * z).sum(axis=0) / sd
        out["sent_log_sd"] = (weight * (z * z - 1.0)).sum(axis=0)
    if spec.reply_model:
        assert terms.reply_prob is not None  # computed whenever there is a reply model
        # ∂/∂index of a binomial log-likelihood: answered − complaints · p
        score = (posterior * (data.answered[:, None, :]
                              - data.complaints[:, None, :] * terms.reply_prob[None])).sum(0)
        n_brands = len(spec.brands)
        by_brand = np.zeros((n_brands, score.shape[1]))
        by_brand[data.brand_code, np.arange(score.shape[1])] = score.sum(axis=0)
        out["reply_brand"] = by_brand
        out["reply_state"] = score[1:]
    return out
