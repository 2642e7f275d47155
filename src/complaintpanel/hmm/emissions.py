"""Emission densities of the relationship HMM and their gradients (DESIGN.md §4, "voice").

Given latent state *k* in period *t* a customer writes

* ``complaints ~ Poisson(λ_tk)``, ``log λ_tk = a_k + x_c,t'β_c`` — with ``x_c = redress``,
  ``β_c = γ`` is the squeaky-wheel effect;
* ``compliments ~ Poisson(μ_tk)``, ``log μ_tk = c_k + x_p,t'β_p``;
* optionally ``sentiment_mean ~ Normal(m_k, σ_k)`` where observed;
* optionally (reply model) ``answered ~ Binomial(complaints, logistic(ρ_brand + ψ_k))``;
* optionally (``ModelSpec.neutral``) ``neutral ~ Poisson(ν_k)``, ``log ν_k = n_k``.

Misclassification layer (DESIGN.md §4.1, ``ModelSpec.misclassified``). The counts above are the
*true* voice ``Λ_tk = (λ_tk, μ_tk, ν_k)``; the panel holds a classifier's labels. If each tweet
is labelled independently given its true voice with ``M[v, ℓ] = P(label ℓ | true v)`` — errors
independent of the latent state, the customer, the period and every other tweet given the true
voice — the label counts are independent Poisson with rates ``ω_tk = Mᵀ Λ_tk`` (thinning and
superposition, exact), and that is the emission of the observed ``(complaints, compliments,
neutral)``. First contact is the first period with a *true* complaint or compliment; its
observed labels ``y`` have density ``P(y | k) (1 − r) / (1 − e^{−λ−μ})`` with ``r = P(true
complaints = true compliments = 0 | y, k) = Π_ℓ (ν M[n, ℓ] / ω_ℓ)^{y_ℓ}`` (all of the first
period's tweets truly neutral). With ``M = I`` all of this is the model without the layer.

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
    rate_neutral : ndarray or None, shape (T, K, N)
        ``ν_k`` (neutral emission).
    label_ratio : tuple of ndarray or None
        Per label ℓ, ``y_ℓ / ω_tkℓ`` of shape (T, K, N) (0 in padding), neutral emission.
    contact_weight : ndarray or None, shape (K, N)
        ``r / (1 − r)`` in the first period (first-contact conditioning under the layer).
    first_ratio : ndarray or None, shape (3, K, N)
        ``y_ℓ / ω_ℓ`` in the first period (0 where ``y_ℓ = 0``).
    misclassification : ndarray or None, shape (3, 3)
        ``M`` used (identity when the labels are taken as the truth).
    """

    log_density: np.ndarray
    rate_complaints: np.ndarray
    rate_compliments: np.ndarray
    sentiment_z: np.ndarray | None
    reply_prob: np.ndarray | None
    rate_neutral: np.ndarray | None = None
    label_ratio: tuple[np.ndarray, ...] | None = None
    contact_weight: np.ndarray | None = None
    first_ratio: np.ndarray | None = None
    misclassification: np.ndarray | None = None


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


def _label_counts(data: PanelArrays) -> np.ndarray:
    return np.stack([data.complaints, data.compliments, data.neutral])[:, :, None, :]


def emission_terms(nat: ModelParams, spec: ModelSpec, data: PanelArrays,
                   misclassification: np.ndarray | None = None) -> EmissionTerms:
    """Evaluate the emission log-densities of every state in every period.

    Parameters
    ----------
    nat : ModelParams
    spec : ModelSpec
    data : PanelArrays
    misclassification : ndarray, shape (3, 3), optional
        ``M[v, ℓ] = P(label ℓ | true v)`` of the misclassification layer (needs
        ``spec.neutral``); ``None`` takes the labels as the truth.

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
    nu = ratio = weight = first_ratio = m_used = None
    if spec.neutral:
        log_density, nu, ratio, weight, first_ratio, m_used = _voice_with_neutral(
            nat, spec, data, lam, mu, misclassification)
    else:
        if misclassification is not None:
            raise ValueError("the misclassification layer needs the neutral emission")
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

    if spec.first_contact == "state" and not spec.neutral:
        # First contact: emissions zero-truncated given the state (the simulator redraws a
        # silent first week for the same state), i.e. divide by P(C + P ≥ 1 | k).
        log_density[0] -= np.log(first_contact_probability(lam, mu))
    return EmissionTerms(log_density=log_density, rate_complaints=lam, rate_compliments=mu,
                         sentiment_z=z, reply_prob=reply_prob, rate_neutral=nu,
                         label_ratio=ratio, contact_weight=weight, first_ratio=first_ratio,
                         misclassification=m_used)


LabelCells = tuple[np.ndarray, ...]


def _voice_with_neutral(nat: ModelParams, spec: ModelSpec, data: PanelArrays, lam: np.ndarray,
                        mu: np.ndarray, misclassification: np.ndarray | None
                        ) -> tuple[np.ndarray, np.ndarray, LabelCells, np.ndarray | None,
                                   np.ndarray | None, np.ndarray]:
    """Poisson log-densities of the three label counts with rates ``ω = Mᵀ Λ``.

    ``Σ_ℓ ω_ℓ = λ + μ + ν`` (rows of ``M`` sum to one) gives the rate term in one sum.
    """
    assert nat.neutral is not None  # ModelParams checks it under spec.neutral
    nu = np.exp(nat.neutral)[None, :, None] * data.mask[:, None, :]
    true_rates = (lam, mu, nu)
    m = np.eye(3) if misclassification is None else np.asarray(misclassification, float)
    log_density = -(lam + mu + nu)
    log_density -= data.log_factorial[:, None, :]
    padding = ~data.mask[:, None, :]
    cells = []
    for ell, counts in enumerate((data.complaints, data.compliments, data.neutral)):
        omega = m[0, ell] * lam
        omega += m[1, ell] * mu
        omega += m[2, ell] * nu
        omega += padding  # ω = 1 in padding, where y = 0: log ω = 0 and y / ω = 0
        y = counts[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            # ω = 0 (a label M never produces): log p = −inf when y > 0, nan → 0 when y = 0
            log_density += np.where(y > 0, y * np.log(omega), 0.0) if (
                not np.all(omega > 0)) else y * np.log(omega)
            ratio = y / omega
        cells.append(ratio)
    weight = first_ratio = None
    if spec.first_contact == "state":
        # condition on true complaints + compliments ≥ 1 in the first period:
        # × (1 − r) / (1 − e^{−λ−μ}), r = Π_ℓ (ν M[n, ℓ] / ω_ℓ)^{y_ℓ}
        y0 = _label_counts(data)[:, 0]  # (3, 1, N)
        omega0 = np.stack([sum(m[v, ell] * true_rates[v][0] for v in range(3))
                           for ell in range(3)])  # (3, K, N)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_neutral_only = np.log(nu[0][None] * m[2][:, None, None])
            # 0 · (−inf) where no tweet has that label
            terms = np.where(y0 > 0, y0 * (log_neutral_only - np.log(omega0)), 0.0)
            first_ratio = np.where(y0 > 0, y0 / omega0, 0.0)
        log_r = terms.sum(axis=0)
        with np.errstate(divide="ignore"):
            log_density[0] += np.log(-np.expm1(log_r))
            weight = np.where(np.isfinite(log_r), 1.0 / np.expm1(-log_r), 0.0)
        log_density[0] -= np.log(first_contact_probability(lam, mu))
    return log_density, nu, tuple(cells), weight, first_ratio, m


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
    if spec.neutral:
        resid_c, resid_p, resid_n, grad_m = _neutral_residuals(terms, posterior, spec, data)
    else:
        resid_c = posterior * (data.complaints[:, None, :] - lam)
        resid_p = posterior * (data.compliments[:, None, :] - mu)
    if spec.first_contact == "state" and not spec.neutral:
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
    if spec.neutral:
        out["neutral"] = resid_n.sum(axis=0)
        if grad_m is not None:
            out["misclassification"] = grad_m
    return out


def _neutral_residuals(terms: EmissionTerms, posterior: np.ndarray, spec: ModelSpec,
                       data: PanelArrays
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Posterior-weighted scores of the three log true rates and of ``M`` (Fisher's identity).

    ``∂ log p / ∂ log Λ_v = Λ_v (Σ_ℓ M[v, ℓ] y_ℓ / ω_ℓ − 1)`` and ``∂ log p / ∂M[v, ℓ] =
    Λ_v (y_ℓ / ω_ℓ − 1)``; the first period adds the derivatives of ``log(1 − r)`` and
    ``−log(1 − e^{−λ−μ})``.

    Returns
    -------
    resid_c, resid_p, resid_n : ndarray, shape (T, K, N)
        Scores of ``log λ``, ``log μ``, ``log ν`` weighted by the posterior.
    grad_m : ndarray or None, shape (3, 3, N)
        Score of ``M`` per sequence (only when ``M`` is estimated).
    """
    cells, m = terms.label_ratio, terms.misclassification
    nu = terms.rate_neutral
    assert cells is not None and m is not None and nu is not None  # neutral emission
    true_rates = (terms.rate_complaints, terms.rate_compliments, nu)
    n_seq = posterior.shape[2]
    estimated = spec.validation_counts is not None
    weighted = [posterior * rate for rate in true_rates]
    resid = [-w for w in weighted]
    grad_m = np.empty((3, 3, n_seq)) if estimated else None
    for ell, ratio in enumerate(cells):
        post_ratio = posterior * ratio
        for v in range(3):
            if m[v, ell] == 0 and not estimated:
                continue
            part = true_rates[v] * post_ratio
            resid[v] += m[v, ell] * part
            if grad_m is not None:
                grad_m[v, ell] = part.sum(axis=(0, 1))
    if grad_m is not None:
        for v in range(3):
            grad_m[v] -= weighted[v].sum(axis=(0, 1))[None, :]
    if spec.first_contact == "state":
        weight, first_ratio = terms.contact_weight, terms.first_ratio
        assert weight is not None and first_ratio is not None  # computed under "state"
        lam0, mu0 = true_rates[0][0], true_rates[1][0]
        denom = np.expm1(lam0 + mu0)
        post0 = posterior[0]
        y0 = _label_counts(data)[:, 0]  # (3, 1, N)
        # ∂ log r / ∂ log Λ_v = 1{v = n} Σ_ℓ y_ℓ − Λ_v Σ_ℓ M[v, ℓ] y_ℓ / ω_ℓ
        for v in range(3):
            dlog_r = -true_rates[v][0] * sum(m[v, ell] * first_ratio[ell] for ell in range(3))
            if v == 2:
                dlog_r = dlog_r + y0.sum(axis=0)
            resid[v][0] -= post0 * weight * dlog_r
        resid[0][0] -= post0 * lam0 / denom
        resid[1][0] -= post0 * mu0 / denom
        if grad_m is not None:
            # ∂ log r / ∂M[v, ℓ] = −Λ_v y_ℓ / ω_ℓ + 1{v = n} y_ℓ / M[n, ℓ]
            inv_neutral = np.divide(1.0, m[2], out=np.zeros(3), where=m[2] > 0)
            pw = post0 * weight  # (K, N)
            for v in range(3):
                for ell in range(3):
                    dlr = -true_rates[v][0] * first_ratio[ell]
                    if v == 2:
                        dlr = dlr + y0[ell] * inv_neutral[ell]
                    grad_m[v, ell] -= (pw * dlr).sum(axis=0)
    return resid[0], resid[1], resid[2], grad_m
