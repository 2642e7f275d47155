"""Forward–backward and Viterbi on padded sequences, vectorised over customers.

This is the hot path of the estimator. Arrays are time-major with the sequence axis last:
emissions ``(T, K, N)``, transitions ``(T-1, K, K, N)`` (``[t, j, k, n] = P(s_{t+1}=k |
s_t=j)``), masks ``(T, N)``. The recursions loop over the ~26 periods; inside, every step is a
contiguous NumPy operation over all customers.

Numerical scheme
----------------
The forward pass is the *scaled* forward algorithm (Zucchini, MacDonald & Langrock 2016,
*Hidden Markov Models for Time Series*, §3.2 and §5.4): each period's emission log-densities are
shifted by their maximum over states before exponentiation, the forward vector is normalised to
sum to one, and the log-likelihood is the sum of the log normalising constants plus the shifts.
This is the log-space computation arranged so that only one logarithm per customer-period is
taken; :func:`log_forward` is the textbook log-sum-exp recursion, kept as an independent check.

Padding
-------
Sequences end at different periods. In padded periods the emission log-density is 0 (emission
factor 1), so the forward vector only passes through a stochastic matrix: the normalising
constant is 1 and the likelihood is unchanged. Padded periods are nevertheless masked wherever
a sum is taken, so no rounding from them reaches the likelihood or the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "CumulativeForwardBackward",
    "ForwardBackward",
    "forward",
    "forward_backward",
    "forward_backward_cumulative",
    "forward_cumulative",
    "log_forward",
    "viterbi",
]


@dataclass(frozen=True)
class ForwardBackward:
    """Output of :func:`forward_backward`.

    Attributes
    ----------
    loglik : ndarray, shape (N,)
        Log-likelihood of each sequence.
    alpha : ndarray, shape (T, K, N)
        Normalised forward probabilities (filtered state probabilities ``P(s_t | y_{≤t})``).
    u : ndarray, shape (T, K, N) or None
        Backward weights ``e_t β̂_t / c_t``; ``ξ_t(j,k) = α_t(j) P_t(j,k) u_{t+1}(k)``.
    posterior : ndarray, shape (T, K, N) or None
        Smoothed state probabilities ``P(s_t | y)``.
    """

    loglik: np.ndarray
    alpha: np.ndarray
    u: np.ndarray | None
    posterior: np.ndarray | None


def _step_forward(alpha_prev: np.ndarray, trans: np.ndarray) -> np.ndarray:
    # Σ_j α(j) P(j, k) for every customer: einsum beats matmul for K × K blocks over N.
    return np.einsum("jn,jkn->kn", alpha_prev, trans)


def forward(log_initial: np.ndarray, transition: np.ndarray, log_emission: np.ndarray,
            mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scaled forward pass.

    Parameters
    ----------
    log_initial : ndarray, shape (K, N)
    transition : ndarray, shape (T-1, K, K, N)
    log_emission : ndarray, shape (T, K, N)
        Zero in padded periods.
    mask : ndarray of bool, shape (T, N)

    Returns
    -------
    loglik : ndarray, shape (N,)
    alpha : ndarray, shape (T, K, N)
    scale : ndarray, shape (T, N)
        Normalising constants ``c_t``.
    emission : ndarray, shape (T, K, N)
        Shifted emission factors ``exp(log p − max_k log p)``.
    """
    return _forward_with(_step_forward, log_initial, transition, log_emission, mask)


def _forward_with(step, log_initial: np.ndarray, transition: np.ndarray,
                  log_emission: np.ndarray, mask: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # The scaled forward recursion, shared by the matrix and the cumulative-probability
    # layouts of the transitions; ``step`` propagates alpha one period.
    shift = log_emission.max(axis=1)
    emission = np.exp(log_emission - shift[:, None, :])
    t_len = log_emission.shape[0]
    alpha = np.empty_like(emission)
    scale = np.empty(shift.shape)
    current = np.exp(log_initial) * emission[0]
    scale[0] = current.sum(axis=0)
    alpha[0] = current / scale[0]
    for t in range(1, t_len):
        current = step(alpha[t - 1], transition[t - 1])
        current *= emission[t]
        scale[t] = current.sum(axis=0)
        alpha[t] = current / scale[t]
    loglik = np.where(mask, np.log(scale) + shift, 0.0).sum(axis=0)
    return loglik, alpha, scale, emission


def forward_backward(log_initial: np.ndarray, transition: np.ndarray,
                     log_emission: np.ndarray, mask: np.ndarray) -> ForwardBackward:
    """Scaled forward–backward: log-likelihood, filtered and smoothed state probabilities.

    Parameters
    ----------
    log_initial : ndarray, shape (K, N)
    transition : ndarray, shape (T-1, K, K, N)
    log_emission : ndarray, shape (T, K, N)
    mask : ndarray of bool, shape (T, N)

    Returns
    -------
    ForwardBackward
    """
    loglik, alpha, scale, emission = forward(log_initial, transition, log_emission, mask)
    t_len = alpha.shape[0]
    u = np.empty_like(alpha)
    beta = np.ones(alpha.shape[1:])
    u[-1] = emission[-1] / scale[-1]
    posterior = np.empty_like(alpha)
    posterior[-1] = alpha[-1]
    for t in range(t_len - 2, -1, -1):
        beta = np.einsum("jkn,kn->jn", transition[t], u[t + 1])
        u[t] = emission[t] * beta / scale[t]
        posterior[t] = alpha[t] * beta
    return ForwardBackward(loglik=loglik, alpha=alpha, u=u, posterior=posterior)


def _step_forward_cumulative(alpha_prev: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    # Σ_j α(j) P(j,k) with P(j,k) = F(j,k) − F(j,k−1): first A(m) = Σ_j α(j) F(j,m), then
    # difference; the last state takes the rest of the mass Σ_j α(j).
    cum = np.einsum("jn,jmn->mn", alpha_prev, cdf)
    out = np.empty_like(alpha_prev)
    out[0] = cum[0]
    out[1:-1] = cum[1:] - cum[:-1]
    out[-1] = alpha_prev.sum(axis=0) - cum[-1]
    return out


def forward_cumulative(log_initial: np.ndarray, cdf: np.ndarray, log_emission: np.ndarray,
                       mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scaled forward pass for ordered-logit transitions given by their CDFs.

    Same as :func:`forward` with ``transition`` replaced by ``cdf`` of shape
    ``(T-1, K, K-1, N)``, ``cdf[t, j, m, n] = P(s_{t+1} ≤ m | s_t = j)``.
    """
    return _forward_with(_step_forward_cumulative, log_initial, cdf, log_emission, mask)


@dataclass(frozen=True)
class CumulativeForwardBackward:
    """Output of :func:`forward_backward_cumulative`.

    Attributes
    ----------
    loglik : ndarray, shape (N,)
    alpha : ndarray, shape (T, K, N)
        Filtered state probabilities.
    posterior : ndarray, shape (T, K, N)
        Smoothed state probabilities.
    du : ndarray, shape (T-1, K-1, N)
        ``u_{t+1}(m) − u_{t+1}(m+1)`` (zero where the move ``t → t+1`` is padding), the only
        backward quantity the ordered-logit gradient needs.
    """

    loglik: np.ndarray
    alpha: np.ndarray
    posterior: np.ndarray
    du: np.ndarray


def forward_backward_cumulative(log_initial: np.ndarray, cdf: np.ndarray,
                                log_emission: np.ndarray, mask: np.ndarray
                                ) -> CumulativeForwardBackward:
    """Scaled forward–backward for ordered-logit transitions given by their CDFs.

    The backward step ``β_t(j) = Σ_k P(j,k) u_{t+1}(k)`` is rewritten with
    ``P(j,k) = F(j,k) − F(j,k−1)`` as ``Σ_m F(j,m) (u(m) − u(m+1)) + u(K−1)``, so only the
    ``K × (K−1)`` cumulative block is touched and the differences ``du`` are produced for the
    gradient as a by-product.

    Parameters
    ----------
    log_initial : ndarray, shape (K, N)
    cdf : ndarray, shape (T-1, K, K-1, N)
    log_emission : ndarray, shape (T, K, N)
    mask : ndarray of bool, shape (T, N)

    Returns
    -------
    CumulativeForwardBackward
    """
    loglik, alpha, scale, emission = forward_cumulative(log_initial, cdf, log_emission, mask)
    t_len, k, n = alpha.shape
    du = np.empty((t_len - 1, k - 1, n))
    posterior = np.empty_like(alpha)
    posterior[-1] = alpha[-1]
    u = emission[-1] / scale[-1]
    for t in range(t_len - 2, -1, -1):
        d = u[:-1] - u[1:]
        d *= mask[t + 1]
        du[t] = d
        beta = np.einsum("jmn,mn->jn", cdf[t], d)
        # padded moves: u = 1 for every state, so β = 1 exactly (d is already zero)
        beta += np.where(mask[t + 1], u[-1], 1.0)
        posterior[t] = alpha[t] * beta
        u = emission[t] * beta / scale[t]
    return CumulativeForwardBackward(loglik=loglik, alpha=alpha, posterior=posterior, du=du)


def log_forward(log_initial: np.ndarray, log_transition: np.ndarray,
                log_emission: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Textbook log-space forward recursion (log-sum-exp); reference implementation.

    Same arguments as :func:`forward` but with log transition probabilities. Slower; used to
    check the scaled recursion.

    Returns
    -------
    ndarray, shape (N,)
        Log-likelihood of each sequence.
    """
    log_alpha = log_initial + log_emission[0]
    for t in range(1, log_emission.shape[0]):
        moved = logsumexp(log_alpha[:, None, :] + log_transition[t - 1], axis=0)
        log_alpha = np.where(mask[t], moved + log_emission[t], log_alpha)
    return logsumexp(log_alpha, axis=0)


def viterbi(log_initial: np.ndarray, log_transition: np.ndarray, log_emission: np.ndarray,
            mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Most likely state path of every sequence (max-product in log space).

    Parameters
    ----------
    log_initial : ndarray, shape (K, N)
    log_transition : ndarray, shape (T-1, K, K, N)
    log_emission : ndarray, shape (T, K, N)
    mask : ndarray of bool, shape (T, N)

    Returns
    -------
    log_prob : ndarray, shape (N,)
        Joint log-probability of each sequence and its best path.
    states : ndarray of int, shape (T, N)
        Best path (−1 in padded periods).
    """
    t_len, k, n = log_emission.shape
    delta = log_initial + log_emission[0]
    backpointer = np.empty((t_len, k, n), dtype=np.int64)
    stay = np.broadcast_to(np.arange(k)[:, None], (k, n))
    for t in range(1, t_len):
        candidates = delta[:, None, :] + log_transition[t - 1]  # (j, k, n)
        best = candidates.argmax(axis=0)
        moved = np.take_along_axis(candidates, best[None], axis=0)[0] + log_emission[t]
        # Padded periods carry the path unchanged, so backtracking passes straight through.
        delta = np.where(mask[t], moved, delta)
        backpointer[t] = np.where(mask[t], best, stay)
    states = np.empty((t_len, n), dtype=np.int64)
    states[-1] = delta.argmax(axis=0)
    log_prob = delta.max(axis=0)
    columns = np.arange(n)
    for t in range(t_len - 1, 0, -1):
        states[t - 1] = backpointer[t][states[t], columns]
    return log_prob, np.where(mask, states, -1)
