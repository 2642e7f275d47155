"""Exact log-likelihood of the relationship HMM and its analytic gradient.

The likelihood of one customer–brand sequence is the forward probability of its voice given
its covariates (:mod:`complaintpanel.hmm.core`), conditioned on first contact as set by
``ModelSpec.first_contact``. The gradient is exact: Fisher's identity turns the score into
posterior expectations of complete-data scores, which forward–backward delivers in the same
pass (the "joint" first-contact term has a closed-form derivative of its own). Both are
computed per sequence, so sums give the total and the per-sequence scores give the outer
product / clustered sandwich.

Under the misclassification layer with a validation sample (``ModelSpec.validation_counts``)
the total log-likelihood adds the validation sample's multinomial log-likelihood
(:meth:`complaintpanel.model.measurement.ValidationCounts.loglike`) — ``M`` is estimated
jointly, so the observed information carries its uncertainty — and the gradient of the
q-logits chains the emissions' score of ``M`` through ``∂M / ∂q-logits``
(:func:`~complaintpanel.model.measurement.misclassification_logit_jacobian`). The per-sequence
log-likelihoods and scores hold the panel's part only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from complaintpanel.hmm import core, reply_process
from complaintpanel.hmm.data import PanelArrays
from complaintpanel.hmm.emissions import (
    EmissionTerms,
    emission_gradient,
    emission_terms,
    first_contact_probability,
)
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.transitions import (
    cumulative,
    initial_gradient,
    initial_log_probs,
    shift,
    threshold_gradient,
)
from complaintpanel.model import ModelParams
from complaintpanel.model.measurement import (
    misclassification_logit_jacobian,
    q_from_logits,
    validation_score,
)

__all__ = ["Evaluation", "evaluate", "filtered_last_states", "information_from_gradient",
           "last_filtered", "length_groups", "log_joint_contact", "model_arrays"]


@dataclass(frozen=True)
class Evaluation:
    """Log-likelihood (and gradients) at one parameter vector.

    Attributes
    ----------
    loglik : float
        Total log-likelihood.
    loglik_seq : ndarray, shape (N,)
        Per-sequence log-likelihood.
    grad : ndarray or None, shape (p,)
        Gradient w.r.t. the unconstrained vector ``θ``.
    scores : ndarray or None, shape (p, N)
        Per-sequence gradients w.r.t. ``θ`` (when asked for).
    """

    loglik: float
    loglik_seq: np.ndarray
    grad: np.ndarray | None
    scores: np.ndarray | None

    def gradient(self) -> np.ndarray:
        """Return the gradient, which must have been asked for (``gradient=True``)."""
        if self.grad is None:
            raise ValueError("this evaluation was made without the gradient")
        return self.grad


def model_arrays(nat: ModelParams, layout: ParamLayout, data: PanelArrays,
                 misclassification: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, EmissionTerms]:
    """Compute initial log-probabilities, cumulative transition probabilities, emissions.

    ``misclassification`` is ``M`` of the misclassification layer
    (:meth:`ParamLayout.misclassification`), when the specification has one.

    Returns
    -------
    log_initial : ndarray, shape (K, N)
    cdf : ndarray, shape (T-1, K, K-1, N)
        ``P(s_{t+1} ≤ m | s_t = j)`` (see :func:`~complaintpanel.hmm.transitions.cumulative`).
    terms : EmissionTerms
    """
    spec = layout.spec
    if spec.misclassified and misclassification is None:
        raise ValueError("this specification needs the misclassification matrix M")
    terms = emission_terms(nat, spec, data, misclassification)
    cdf = cumulative(nat.tau, shift(nat, data)[:-1])
    log_initial = initial_log_probs(nat, data.x_initial)
    return log_initial, cdf, terms


def _evaluate_chunk(nat: ModelParams, layout: ParamLayout, data: PanelArrays,
                    gradient: bool, misclassification: np.ndarray | None = None,
                    m_jacobian: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    spec = layout.spec
    log_initial, cdf, terms = model_arrays(nat, layout, data, misclassification)
    if not gradient:
        loglik, *_ = core.forward_cumulative(log_initial, cdf, terms.log_density, data.mask)
        if spec.first_contact == "joint":
            loglik = loglik - log_joint_contact(log_initial, terms)
        return loglik, None

    fb = core.forward_backward_cumulative(log_initial, cdf, terms.log_density, data.mask)
    loglik = fb.loglik
    posterior = fb.posterior * data.mask[:, None, :]
    blocks = emission_gradient(terms, posterior, nat, spec, data)
    grad_tau, grad_shift = threshold_gradient(cdf, fb.alpha[:-1], fb.du)
    blocks["tau"] = grad_tau.reshape(-1, grad_tau.shape[-1])
    blocks["beta_tr"] = np.einsum("ptn,tn->pn", data.x_transition[:, :-1], grad_shift)
    pi = np.exp(log_initial)
    residual = posterior[0] - pi
    if spec.first_contact == "joint":
        # −log D with D = Σ_k π_k q_k, q_k = P(C + P ≥ 1 | k) in the first period
        lam, mu = terms.rate_complaints[0], terms.rate_compliments[0]
        q = first_contact_probability(terms.rate_complaints, terms.rate_compliments)
        d = (pi * q).sum(axis=0)
        loglik = loglik - np.log(d)
        residual += pi - pi * q / d
        dlog_rate = -pi * np.exp(-(lam + mu)) / d  # ∂(−log D)/∂log rate_k, before × rate
        blocks["a"] = blocks["a"] + dlog_rate * lam
        blocks["c"] = blocks["c"] + dlog_rate * mu
        blocks["beta_c"] = blocks["beta_c"] + data.x_complaint[:, 0] * (dlog_rate * lam).sum(0)
        blocks["beta_p"] = blocks["beta_p"] + data.x_compliment[:, 0] * (dlog_rate * mu).sum(0)
    blocks["init"] = initial_gradient(residual, data.x_initial).reshape(
        -1, residual.shape[1])
    n = data.n_sequences
    if m_jacobian is not None:
        # chain rule through M(q-logits): (V, L, N) × (V, L, V−1, L) → (V−1, L, N)
        blocks["q_logits"] = np.einsum("vln,vlum->umn", blocks.pop("misclassification"),
                                       m_jacobian)
    grad_nat = np.concatenate([
        np.asarray(blocks.get(name, np.zeros((0, n)))).reshape(-1, n)
        for name in ("a", "c", "beta_c", "beta_p", "beta_tr", "tau", "init", "sent_mean",
                     "sent_log_sd", "reply_brand", "reply_state", "neutral", "q_logits")
    ])
    return loglik, grad_nat


def log_joint_contact(log_initial: np.ndarray, terms: EmissionTerms) -> np.ndarray:
    """``log Σ_k π_k P(C + P ≥ 1 | k)`` per sequence (the "joint" first-contact divisor)."""
    q = first_contact_probability(terms.rate_complaints, terms.rate_compliments)
    return np.log((np.exp(log_initial) * q).sum(axis=0))


# A block whose padded cells exceed this multiple of its customer-periods is evaluated in
# groups of similar length (see :func:`length_groups`). Below it the copies and the shorter
# vectors cost about what the padding does (benchmarks/bench_hmm_padding.py: at 3.5× padding one
# evaluation took the same time whole and grouped; at 32× grouping was 8× faster).
PADDING_SPLIT = 4.0


def length_groups(lengths: np.ndarray, padding: float = PADDING_SPLIT
                  ) -> list[np.ndarray] | None:
    """Group sequences by length when padding to the longest would waste most of the work.

    The recursions run over every padded cell (``T × N``), so a block whose lengths are very
    unequal — a real archive where a few customers' first tweets are years older than the
    rest — costs ``T_max / mean length`` times its customer-periods. Such a block is split into
    groups in which the longest sequence is less than twice the shortest, each padded to its
    own length only (at most twice its customer-periods). The likelihood and the gradient are
    sums over sequences, so the grouping changes them only by the order of summation.

    Parameters
    ----------
    lengths : ndarray of int, shape (N,)
        Periods of each sequence.
    padding : float
        Split only when ``max(lengths) × N > padding × sum(lengths)``.

    Returns
    -------
    list of ndarray or None
        Sorted indices of each group (together a partition of ``range(N)``), longest group
        first; ``None`` when the block is evaluated whole.
    """
    lengths = np.asarray(lengths)
    n = lengths.size
    if n == 0 or float(lengths.max()) * n <= padding * float(lengths.sum()):
        return None
    order = np.argsort(-lengths, kind="stable")
    descending = lengths[order]
    groups = []
    start = 0
    while start < n:
        # the first sequence at most half as long as this group's longest starts the next
        stop = int(np.searchsorted(-descending, -(descending[start] / 2), side="left"))
        stop = max(stop, start + 1)
        groups.append(np.sort(order[start:stop]))
        start = stop
    return groups


def evaluate(theta: np.ndarray, layout: ParamLayout, chunks: list[PanelArrays], *,
             gradient: bool = True, scores: bool = False) -> Evaluation:
    """Log-likelihood (and gradient) of the relationship HMM at ``θ``.

    Parameters
    ----------
    theta : ndarray, shape (p,)
        Unconstrained parameters (:class:`ParamLayout`).
    layout : ParamLayout
    chunks : list of PanelArrays
        The panel, split into blocks of sequences to bound memory (a block of very unequal
        lengths is evaluated in groups of similar length, :func:`length_groups`).
    gradient : bool
        Also compute the gradient.
    scores : bool
        Also return per-sequence gradients (for sandwich / OPG covariances).

    Returns
    -------
    Evaluation
    """
    nat = layout.to_natural(theta)
    m = layout.misclassification(theta)
    logits = layout.q_logits(theta)
    spec = layout.spec
    m_jacobian = None
    validation_loglik = 0.0
    validation_grad = np.zeros(layout.n_params)
    if logits is not None:
        counts = np.asarray(spec.validation_counts, dtype=float)
        m_jacobian = misclassification_logit_jacobian(
            logits, np.asarray(spec.validation_population, dtype=float))
        q = q_from_logits(logits)
        validation_loglik = float(np.sum(np.where(counts > 0, counts * np.log(q), 0.0)))
        validation_grad[layout.slices["q_logits"]] = validation_score(counts, logits).ravel()
    logliks = []
    grads = []
    reply_logits = layout.reply_logits(theta)
    for chunk in chunks:
        groups = length_groups(chunk.lengths)
        parts = ([(None, chunk)] if groups is None
                 else [(index, chunk.take(index)) for index in groups])
        loglik = np.empty(chunk.n_sequences)
        grad_nat: np.ndarray | None = None
        for index, part in parts:
            if reply_logits is not None:  # the reply process (latent intervention, redress)
                part_loglik, part_grad = reply_process.evaluate_chunk(
                    nat, layout, part, gradient or scores, m, m_jacobian, reply_logits)
            else:
                part_loglik, part_grad = _evaluate_chunk(nat, layout, part, gradient or scores,
                                                         m, m_jacobian)
            if index is None:
                loglik, grad_nat = part_loglik, part_grad
                continue
            # back to the chunk's order, so per-sequence values line up with its sequences
            loglik[index] = part_loglik
            if part_grad is not None:
                if grad_nat is None:
                    grad_nat = np.empty((part_grad.shape[0], chunk.n_sequences))
                grad_nat[:, index] = part_grad
        logliks.append(loglik)
        if grad_nat is not None:
            grads.append(grad_nat)
    loglik_seq = np.concatenate(logliks)
    total_loglik = float(loglik_seq.sum()) + validation_loglik
    if not (gradient or scores):
        return Evaluation(total_loglik, loglik_seq, None, None)
    if scores:
        per_seq = layout.gradient_to_theta(theta, np.concatenate(grads, axis=1))
        return Evaluation(total_loglik, loglik_seq, per_seq.sum(axis=1) + validation_grad,
                          per_seq)
    total = layout.gradient_to_theta(theta, sum(g.sum(axis=1) for g in grads))
    return Evaluation(total_loglik, loglik_seq, total + validation_grad, None)


def last_filtered(nat: ModelParams, layout: ParamLayout, chunks: list[PanelArrays],
                  misclassification: np.ndarray | None = None) -> np.ndarray:
    """Return filtered state probabilities at each sequence's last period, ``P(s_T = k | data)``.

    The forward pass behind :meth:`RelationshipHMM.filtered_last_proba
    <complaintpanel.hmm.RelationshipHMM.filtered_last_proba>` (specifications without the
    reply process, which filters jointly with the latent replies).

    Returns
    -------
    ndarray, shape (N, K)
        One row per sequence, in the chunks' order.
    """
    rows = []
    for chunk in chunks:
        log_initial, cdf, terms = model_arrays(nat, layout, chunk, misclassification)
        _, alpha, _, _ = core.forward_cumulative(log_initial, cdf, terms.log_density,
                                                 chunk.mask)
        rows.append(alpha[chunk.lengths - 1, :, np.arange(chunk.n_sequences)])
    return np.concatenate(rows)


def filtered_last_states(theta: np.ndarray, layout: ParamLayout,
                         chunks: list[PanelArrays]) -> np.ndarray:
    """:func:`last_filtered` at an unconstrained vector (its ``M`` included).

    So the integrated likelihoods can filter under their own offsets (a customer's random
    effect, a class's parameters).
    """
    if layout.reply_logits(theta) is not None:
        raise ValueError("filtered_last_states does not take the reply process")
    return last_filtered(layout.to_natural(theta), layout, chunks,
                         layout.misclassification(theta))


def information_from_gradient(gradient: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                              step: float = 1e-4, scheme: str = "central") -> np.ndarray:
    """Observed information ``−∂²ℓ/∂θ∂θ'`` by finite differences of an analytic gradient.

    Parameters
    ----------
    gradient : callable
        ``θ ↦ ∂ℓ/∂θ`` (exact), e.g. ``lambda t: evaluate(t, layout, chunks).gradient()``.
    theta : ndarray
        The point (the optimum).
    step : float
        Relative step: parameter ``i`` moves by ``step · max(1, |θ_i|)``.
    scheme : {"central", "forward"}
        Central differences (``2p`` gradients, error ``O(step²)``: for standard errors) or
        forward differences (``p + 1`` gradients, error ``O(step)``: enough for a
        preconditioner).

    Returns
    -------
    ndarray
        The symmetrised negative Hessian, ``(p, p)``.
    """
    if scheme not in ("central", "forward"):
        raise ValueError(f"scheme must be 'central' or 'forward', not {scheme!r}")
    p = theta.size
    hessian = np.empty((p, p))
    at_theta = gradient(theta) if scheme == "forward" else None
    for i in range(p):
        h = step * max(1.0, abs(theta[i]))
        up = theta.copy()
        up[i] += h
        if at_theta is not None:
            hessian[:, i] = (gradient(up) - at_theta) / h
            continue
        down = theta.copy()
        down[i] -= h
        hessian[:, i] = (gradient(up) - gradient(down)) / (2 * h)
    return -(hessian + hessian.T) / 2
