"""Ordered-logit transitions and initial-state distribution, with their gradients.

``P(s_{t+1} ≤ k | s_t = j) = logistic(τ_jk − shift_t)``, ``shift_t = x_t'β`` (δ·intervened +
η·peer_voice + …), as in :func:`complaintpanel.model.transition_matrices`. The estimator's hot
path only needs the cumulative probabilities ``F(τ_jm − shift)`` with the *sequence axis last*
(``(T-1, K, K-1, N)``): the forward and backward steps and the gradient are written in terms of
``F`` (:func:`complaintpanel.hmm.core.forward_backward_cumulative`), so the K × K matrices are
never built there. :func:`ordered_logit` builds them from the same formula for the generic core
(Viterbi, checks); a test pins both to :func:`complaintpanel.model.transition_matrices`, which
all other code (results, policies, sampling) uses directly.

Gradient (Fisher's identity): with ``W_t(j,k) = ξ_t(j,k) / P_t(j,k)`` the posterior weight of
each transition divided by its probability, the score of the thresholds is
``Σ_t f_t(j,m) (W_t(j,m) − W_t(j,m+1))`` with ``f = F(1 − F)`` the logistic density, and the
score of the shift is minus its sum over ``(j, m)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from complaintpanel.hmm.data import PanelArrays
from complaintpanel.model import ModelParams

__all__ = [
    "cumulative",
    "initial_gradient",
    "initial_log_probs",
    "ordered_logit",
    "probs_from_cdf",
    "shift",
    "threshold_gradient",
]


def shift(nat: ModelParams, data: PanelArrays) -> np.ndarray:
    """Latent-index shift of every period, shape (T, N) (``x_t'β_tr``; last period included)."""
    out = np.zeros(data.mask.shape)
    for coef, values in zip(nat.beta_tr, data.x_transition, strict=True):
        out += coef * values
    return out


def cumulative(tau: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Cumulative ordered-logit probabilities ``F(τ_jm − shift)``, sequence axis last.

    Parameters
    ----------
    tau : ndarray, shape (K, K-1)
    shifts : ndarray, shape (T, N)

    Returns
    -------
    ndarray, shape (T, K, K-1, N)
        ``P(s_{t+1} ≤ m | s_t = j)``.
    """
    # logistic(τ − s) = 1 / (1 + e^{−τ} e^{s}): exponentials of the small factors only, then
    # one multiply-add-reciprocal over the big array (3× faster than expit over it). An
    # overflow to inf gives exactly 0, the right limit.
    with np.errstate(over="ignore"):
        out = np.exp(-tau)[None, :, :, None] * np.exp(shifts)[:, None, None, :]
    out += 1.0
    return np.reciprocal(out, out=out)


def ordered_logit(tau: np.ndarray, shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Transition matrices and cumulative probabilities, sequence axis last.

    Parameters
    ----------
    tau : ndarray, shape (K, K-1)
    shifts : ndarray, shape (T, N)

    Returns
    -------
    cdf : ndarray, shape (T, K, K-1, N)
        ``F(τ_jm − shift)``.
    probs : ndarray, shape (T, K, K, N)
        ``P[t, j, k, n] = P(s_{t+1} = k | s_t = j)``.
    """
    cdf = cumulative(tau, shifts)
    return cdf, probs_from_cdf(cdf)


def probs_from_cdf(cdf: np.ndarray) -> np.ndarray:
    """Transition probabilities ``(T, K, K, N)`` from cumulative ones ``(T, K, K-1, N)``."""
    t_len, k, _, n = cdf.shape
    probs = np.empty((t_len, k, k, n))
    probs[:, :, 0] = cdf[:, :, 0]
    probs[:, :, 1:-1] = cdf[:, :, 1:] - cdf[:, :, :-1]
    probs[:, :, -1] = 1.0 - cdf[:, :, -1]
    # Differences of CDFs can round to ≤ 0 for extreme thresholds; a floor keeps logs finite.
    np.maximum(probs, 1e-300, out=probs)
    return probs


def threshold_gradient(cdf: np.ndarray, alpha: np.ndarray, du: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per-sequence score of the thresholds and of each period's shift.

    Parameters
    ----------
    cdf : ndarray, shape (T-1, K, K-1, N)
    alpha : ndarray, shape (T-1, K, N)
        Normalised forward probabilities of periods ``0..T-2``.
    du : ndarray, shape (T-1, K-1, N)
        ``u_{t+1}(m) − u_{t+1}(m+1)`` from the backward pass, zero for unobserved moves
        (``ξ_t(j,k) = α_t(j) P_t(j,k) u_{t+1}(k)``, so ``W(j,m) − W(j,m+1) = α_t(j) du_t(m)``:
        the K × K weights are never materialised).

    Returns
    -------
    grad_tau : ndarray, shape (K, K-1, N)
    grad_shift : ndarray, shape (T-1, N)
    """
    g = cdf * (1.0 - cdf)  # logistic density f = F(1 − F)
    g *= alpha[:, :, None, :]
    g *= du[:, None, :, :]
    return g.sum(axis=0), -g.sum(axis=(1, 2))


def initial_log_probs(nat: ModelParams, x_initial: np.ndarray) -> np.ndarray:
    """Log initial-state probabilities, shape (K, N) (multinomial logit, state 0 reference)."""
    design = np.vstack([np.ones((1, x_initial.shape[1])), x_initial])
    logits = np.vstack([np.zeros((1, design.shape[1])), nat.init @ design])
    return logits - logsumexp(logits, axis=0, keepdims=True)


def initial_gradient(residual: np.ndarray, x_initial: np.ndarray) -> np.ndarray:
    """Per-sequence score of the initial logits from ``∂ℓ/∂logit_k``, shape (K-1, 1+p0, N)."""
    design = np.vstack([np.ones((1, x_initial.shape[1])), x_initial])
    return residual[1:, None, :] * design[None, :, :]
