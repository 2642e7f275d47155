"""The brand's replies in the likelihood: latent intervention under misclassified voice.

Why
---
Brands answer *true* complaints (and, less often, true neutral tweets and compliments).
Intervention ``I_t`` (a true complaint answered in period *t*) and redress ``R_t`` (one in an
earlier period) are then functions of the hidden true voice once labels are noisy: counting
replies to tweets *labelled* complaint mismeasures them, and even the true ``I_t`` is not an
ignorable covariate, because ``I_t = 1`` says the period had a true complaint, which the noisy
labels do not reveal (``benchmarks/results/hmm_measurement_isolation.json``: δ is biased even
with the true covariates). So the replies are modelled.

Model (per customer-period, given the state ``s`` and redress ``r``)
-------------------------------------------------------------------
True voice counts ``C_v ~ Poisson(Λ_v(s, r))`` for ``v`` ∈ (complaint, compliment, neutral),
``Λ_complaint = exp(a_s + γ r + x'β_c)``. Each tweet of true voice ``v`` is answered with
probability ``p[v, b]`` (``b`` the brand of the sequence; exogenous: not state-dependent) and
labelled ``ℓ`` with probability ``M[v, ℓ]``, independently. By thinning and superposition the
observed counts ``N[ℓ, a]`` (label ℓ, answered ``a`` ∈ {no, yes}) are independent Poisson with

    ``μ[ℓ, yes] = Σ_v Λ_v p_v M[v, ℓ]``,   ``μ[ℓ, no] = Σ_v Λ_v (1 − p_v) M[v, ℓ]``.

Given these counts each answered tweet labelled ℓ is independently a true complaint with
probability ``w_ℓ = Λ_c p_c M[c, ℓ] / μ[ℓ, yes]``, so

    ``P(I = 0 | N, s, r) = P0 = Π_ℓ (1 − w_ℓ)^{N[ℓ, yes]}``.

The hidden chain is ``Z_t = (S_t, R_t)`` (2K values, ``R_0 = 0``) and the period's joint
density of data and intervention is ``g_t(z, i) = e_t(z) · (P0 if i = 0 else 1 − P0)`` with
``e_t(z) = Π_{ℓ,a} Pois(N[ℓ, a]; μ[ℓ, a](z))``. The move to ``t+1`` is
``P(s' | s, i)`` (the ordered logit with ``δ·i`` and the other transition covariates) and
``r' = max(r, i)``. Under first-contact conditioning (``first_contact="state"``) the first
period is conditioned on ``C_c + C_p ≥ 1``: ``g_0(z, 1) = e (1 − P0) / D``,
``g_0(z, 0) = e (P0 − Rn) / D`` with ``D = 1 − e^{−Λ_c − Λ_p}`` and ``Rn`` the probability that
all the period's tweets are true neutral, ``Π_{ℓ,a} (Λ_n P_n^a M[n, ℓ] / μ[ℓ, a])^{N[ℓ, a]}``.

With ``M = I`` the latent intervention is observed (``P0 = 1{no answered complaint}``) and the
likelihood factors into the naive model with a neutral emission times ``z``-free binomial
reply terms: the fit of ``γ``, ``δ`` is the naive one (tested).

Computation
-----------
Exact log-likelihood by the scaled forward recursion over ``(z, i)`` pairs (the transition is
data-dependent through ``P(I_t | N_t, z)``), vectorised over sequences like
:mod:`complaintpanel.hmm.core`; exact gradient by Fisher's identity from the matching backward
pass: posterior weights of ``(z_t, i_t)`` multiply the derivatives of ``log e``, ``log P0``,
``log Rn`` and ``log D`` with respect to the cell rates ``Λ_v P_v^a M[v, ℓ]`` (chain rule to
``Λ``, ``p`` and ``M``), and the posterior of each move ``(s, i) → s'`` gives the ordered-logit
score (:func:`complaintpanel.hmm.transitions.threshold_gradient`, once per ``(i, r')``).

Assumptions: labelling and answering independent given the true voice; replies not
state-dependent (this version); ``intervened`` and ``redress`` defined as in the simulator and
:func:`complaintpanel.model.add_hmm_covariates` but from true complaints.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln, logit

from complaintpanel.hmm.data import PanelArrays
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.transitions import (
    cumulative,
    initial_gradient,
    initial_log_probs,
    threshold_gradient,
)
from complaintpanel.model import ModelParams, ModelSpec

__all__ = ["LATENT_INTERVENTION", "LATENT_REDRESS", "check_reply_spec", "evaluate_chunk",
           "label_answer_counts", "reply_start_logits", "state_probabilities"]

LATENT_INTERVENTION = "intervened"
LATENT_REDRESS = "redress"
_COMPLAINT, _COMPLIMENT, _NEUTRAL = 0, 1, 2
# the natural-gradient blocks, in ParamLayout order
_GRAD_BLOCKS = ("a", "c", "beta_c", "beta_p", "beta_tr", "tau", "init", "sent_mean",
                "sent_log_sd", "reply_brand", "reply_state", "neutral", "q_logits",
                "reply_logits")


def check_reply_spec(spec: ModelSpec) -> None:
    """Raise a clear error for specifications the reply process does not support.

    Raises
    ------
    ValueError
        Sentiment, the binomial reply model, ``joint`` first contact, transition covariates
        that depend on the latent answered complaints (``unanswered_complaints``,
        ``fast_reply``), or latent covariates outside their block.
    """
    if not spec.reply_process:
        return
    if spec.sentiment:
        raise ValueError("the reply process does not support the sentiment emission yet")
    if spec.reply_model:
        raise ValueError("the reply process replaces the binomial reply model: use one")
    if spec.first_contact not in ("state", "none"):
        raise ValueError("the reply process supports first_contact 'state' or 'none'")
    latent = {"unanswered_complaints", "fast_reply"} & set(spec.transition_covariates)
    if latent:
        raise ValueError(f"transition covariate(s) {sorted(latent)} depend on the latent true "
                         "complaints answered; not supported with the reply process")
    misplaced = ({LATENT_INTERVENTION, LATENT_REDRESS}
                 & (set(spec.compliment_covariates) | set(spec.initial_covariates)))
    if (misplaced or LATENT_INTERVENTION in spec.complaint_covariates
            or LATENT_REDRESS in spec.transition_covariates):
        raise ValueError("with the reply process `redress` may only enter the complaint rate "
                         "and `intervened` the transitions (both are latent)")


def label_answer_counts(data: PanelArrays) -> np.ndarray:
    """Observed counts ``N[ℓ, a]`` (label × answered no/yes), shape (3, 2, T, N)."""
    if data.answered_by_label is None:
        raise ValueError("the reply process needs the answered tweets by label")
    labelled = np.stack([data.complaints, data.compliments, data.neutral])
    answered = data.answered_by_label
    return np.stack([labelled - answered, answered], axis=1)


def reply_start_logits(data: PanelArrays, n_brands: int) -> np.ndarray:
    """Start values of ``logit p[v, b]``: each label's answered share by brand, shape (3, B)."""
    counts = label_answer_counts(data)
    out = np.zeros((3, n_brands))
    for b in range(n_brands):
        cells = data.mask & (data.brand_code == b)[None, :]
        for v in range(3):
            answered = counts[v, 1][cells].sum()
            total = counts[v].sum(axis=0)[cells].sum()
            out[v, b] = logit(np.clip((answered + 0.5) / (total + 1.0), 0.01, 0.99))
    return out


def state_probabilities(nat: ModelParams, layout: ParamLayout, data: PanelArrays,
                        misclassification: np.ndarray | None, reply_logits: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed and filtered state probabilities under the reply process.

    Returns
    -------
    posterior, filtered : ndarray, shape (T, K, N)
        ``P(s_t | all data)`` (zero in padding) and ``P(s_t | data up to t)``, marginal over
        the latent redress and intervention.
    """
    out: dict[str, np.ndarray] = {}
    evaluate_chunk(nat, layout, data, True, misclassification, None, reply_logits, out)
    return out["posterior"], out["filtered"]


class _Cell:
    """One observed cell (label ℓ, answered a) at the customer-periods where it is positive."""

    def __init__(self, label: int, answered: int, t: np.ndarray, n: np.ndarray,
                 count: np.ndarray, lam: np.ndarray) -> None:
        self.label, self.answered, self.t, self.n = label, answered, t, n
        self.count = count  # (A, 1, 1)
        self.lam = lam  # true rates there, (A, v, K, R)
        self.ratio = np.zeros(0)  # N / μ, (A, K, R)
        self.s_ratio: np.ndarray | None = None  # N / ν (answered cells), (A, K, R)


def _linear_except(beta: np.ndarray, x: np.ndarray, skip: int | None) -> np.ndarray:
    out = np.zeros(x.shape[1:])
    for j, (coef, values) in enumerate(zip(beta, x, strict=True)):
        if j != skip:
            out += coef * values
    return out


def _index(columns: tuple[str, ...], name: str) -> int | None:
    return columns.index(name) if name in columns else None


def _where_log(counts: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """``N log rate`` with ``0 log 0 = 0`` (and ``N log 0 = −inf`` for N > 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, counts * np.log(rate), 0.0)


def _ratio(counts: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """``N / rate`` (0 where ``N = 0`` or the rate is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((counts > 0) & (rate > 0), counts / rate, 0.0)


def _cdf_step(mass: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """``Σ_j mass(j, r) P(j, k)`` for ordered-logit ``P`` given by its CDF; mass (K, R, N)."""
    cum = np.einsum("jrn,jmn->mrn", mass, cdf)
    out = np.empty_like(mass)
    out[0] = cum[0]
    out[1:-1] = cum[1:] - cum[:-1]
    out[-1] = mass.sum(axis=0) - cum[-1]
    return out


def _cdf_back(cdf: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``Σ_k P(j, k) h(k)`` for ordered-logit ``P``; h (K, N) → (K, N)."""
    d = h[:-1] - h[1:]
    return np.einsum("jmn,mn->jn", cdf, d) + h[-1][None]


def evaluate_chunk(nat: ModelParams, layout: ParamLayout, data: PanelArrays, gradient: bool,
                   misclassification: np.ndarray | None, m_jacobian: np.ndarray | None,
                   reply_logits: np.ndarray, states_out: dict[str, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Log-likelihood (and natural-parameter scores) of one block of sequences.

    Parameters
    ----------
    nat : ModelParams
    layout : ParamLayout
        Of a specification with ``reply_process``.
    data : PanelArrays
    gradient : bool
        Also return the per-sequence scores.
    misclassification : ndarray (3, 3) or None
        ``M``; ``None`` is the identity.
    m_jacobian : ndarray or None
        ``∂M / ∂q-logits`` when ``M`` is estimated.
    reply_logits : ndarray, shape (3, B)
        ``logit p[v, b]``.
    states_out : dict, optional
        Filled with ``filtered`` ``P(s_t | data_≤t)`` and (with ``gradient``) ``posterior``
        ``P(s_t | data)``, shape (T, K, N), marginal over redress and intervention.

    Returns
    -------
    loglik : ndarray, shape (N,)
    grad_nat : ndarray, shape (p, N) or None
        Scores w.r.t. the natural vector (layout order).
    """
    spec = layout.spec
    k = spec.n_states
    mask = data.mask
    t_len, n = mask.shape
    m = np.eye(3) if misclassification is None else np.asarray(misclassification, float)
    counts = label_answer_counts(data)  # (ℓ, a, T, N)
    j_red = _index(spec.complaint_covariates, LATENT_REDRESS)
    j_int = _index(spec.transition_covariates, LATENT_INTERVENTION)
    gamma = float(nat.beta_c[j_red]) if j_red is not None else 0.0
    delta = float(nat.beta_tr[j_int]) if j_int is not None else 0.0

    # true rates Λ_v(t, s, r, n), zero in padding
    scale_c = np.exp(_linear_except(nat.beta_c, data.x_complaint, j_red)) * mask
    scale_p = np.exp(_linear_except(nat.beta_p, data.x_compliment, None)) * mask
    redress_factor = np.array([1.0, np.exp(gamma)])
    assert nat.neutral is not None  # reply_process needs the neutral emission
    lam = np.empty((3, t_len, k, 2, n))
    lam[_COMPLAINT] = (np.exp(nat.a)[None, :, None, None] * redress_factor[None, None, :, None]
                       * scale_c[:, None, None, :])
    lam[_COMPLIMENT] = (np.exp(nat.c)[None, :, None, None] * scale_p[:, None, None, :])
    lam[_NEUTRAL] = (np.exp(nat.neutral)[None, :, None, None] * mask[:, None, None, :])
    p = expit(reply_logits)[:, data.brand_code]  # (v, N)
    p_a = np.stack([1.0 - p, p])  # (a, v, N)

    # Observed cells (ℓ, a) are mostly empty: everything that involves a count is computed on
    # the customer-periods where that cell's count is positive (compact arrays (A, K, R)).
    log_fact = gammaln(counts + 1.0).sum(axis=(0, 1))  # (T, N)
    log_e = -lam.sum(axis=0) - log_fact[:, None, None, :]
    # compact gathers and scatters run on a (T, N, ...) layout: contiguous rows per cell
    lam_tn = np.ascontiguousarray(lam.transpose(1, 4, 0, 2, 3))  # (T, N, v, K, R)
    log_e_tn = np.zeros((t_len, n, k, 2))
    log_p0_tn = np.zeros((t_len, n, k, 2))
    cells = []
    for ell in range(3):
        for a in range(2):
            t_at, n_at = np.nonzero(counts[ell, a])
            cell = _Cell(ell, a, t_at, n_at, counts[ell, a][t_at, n_at][:, None, None],
                         lam_tn[t_at, n_at])  # lam gathered: (A, v, K, R)
            mu_cell = sum((m[v, ell] * p_a[a, v][n_at])[:, None, None] * cell.lam[:, v]
                          for v in range(3) if m[v, ell] != 0.0)
            log_e_tn[t_at, n_at] += cell.count * np.log(mu_cell)
            cell.ratio = cell.count / mu_cell
            if a == 1:
                if m[_COMPLIMENT, ell] == 0.0 and m[_NEUTRAL, ell] == 0.0:
                    log_p0_tn[t_at, n_at] = -np.inf  # only a true complaint gets label ℓ
                else:
                    nu_cell = sum((m[v, ell] * p[v][n_at])[:, None, None] * cell.lam[:, v]
                                  for v in (_COMPLIMENT, _NEUTRAL) if m[v, ell] != 0.0)
                    log_p0_tn[t_at, n_at] += cell.count * (np.log(nu_cell) - np.log(mu_cell))
                    cell.s_ratio = cell.count / nu_cell
            cells.append(cell)
    log_e += log_e_tn.transpose(0, 2, 3, 1)
    log_p0 = np.ascontiguousarray(log_p0_tn.transpose(0, 2, 3, 1))
    p0 = np.exp(log_p0)
    q1 = -np.expm1(log_p0)  # 1 − P0

    contact = spec.first_contact == "state"
    shift = log_e.max(axis=(1, 2))
    shift[0] = log_e[0, :, 0].max(axis=0)  # R_0 = 0: r = 1 is impossible in the first period
    e = np.exp(log_e - shift[:, None, None, :])  # (T, K, R, N)
    e[0, :, 1] = 0.0
    g = np.empty((t_len, k, 2, 2, n))  # (T, s, r, i, N)
    g[..., 0, :] = e * p0
    g[..., 1, :] = e * q1
    rn = log_rn = d = rho_n = None
    if contact:
        rho_n = np.stack([np.stack([lam[_NEUTRAL, 0] * p_a[a, _NEUTRAL][None, None, :] * m[2, ell]
                                    for a in range(2)]) for ell in range(3)])  # (ℓ, a, K, R, N)
        c0 = counts[:, :, 0][:, :, None, None, :]
        mu0 = np.stack([np.stack([sum(m[v, ell] * p_a[a, v][None, None, :] * lam[v, 0]
                                      for v in range(3)) for a in range(2)])
                        for ell in range(3)])  # (ℓ, a, K, R, N)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_rn = (_where_log(c0, rho_n) - _where_log(c0, mu0)).sum(axis=(0, 1))
            log_rn = np.where(np.isnan(log_rn), -np.inf, log_rn)
        rn = np.exp(log_rn)
        d = -np.expm1(-(lam[_COMPLAINT, 0] + lam[_COMPLIMENT, 0]))  # (K, R, N)
        g[0, :, :, 0] = e[0] * np.maximum(p0[0] - rn, 0.0) / d
        g[0, :, :, 1] = e[0] * q1[0] / d

    # transitions: shift without the latent intervention, then + δ when I_t = 1
    base_shift = _linear_except(nat.beta_tr, data.x_transition, j_int)[:-1]
    cdfs = (cumulative(nat.tau, base_shift), cumulative(nat.tau, base_shift + delta))
    log_initial = initial_log_probs(nat, data.x_initial)

    # ---------------------------------------------------------------- forward
    pred = np.empty((t_len, k, 2, n))  # predicted P(z_t | data_<t)
    filt = np.empty((t_len, k, 2, 2, n))  # P(z_t, i_t | data_≤t)
    moved = np.empty((t_len, k, 2, 2, n))  # mass (s, r', i) entering the move t → t+1
    scale = np.empty((t_len, n))
    pred[0] = 0.0
    pred[0, :, 0] = np.exp(log_initial)
    for t in range(t_len):
        joint = pred[t][:, :, None, :] * g[t]
        scale[t] = joint.sum(axis=(0, 1, 2))
        filt[t] = joint / scale[t]
        mv = moved[t]
        mv[:, :, 0] = filt[t][:, :, 0]
        mv[:, 0, 1] = 0.0
        mv[:, 1, 1] = filt[t][:, 0, 1] + filt[t][:, 1, 1]
        if t + 1 < t_len:
            pred[t + 1] = (_cdf_step(mv[:, :, 0], cdfs[0][t])
                           + _cdf_step(mv[:, :, 1], cdfs[1][t]))
    with np.errstate(divide="ignore"):
        loglik = np.where(mask, np.log(scale) + shift, 0.0).sum(axis=0)
    if states_out is not None:
        states_out["filtered"] = filt.sum(axis=(2, 3))
    if not gradient:
        return loglik, None

    # ---------------------------------------------------------------- backward
    back = np.ones((t_len, k, 2, 2, n))  # scaled P(data_>t | z_t, i_t)
    dh = np.zeros((t_len - 1, k - 1, 2, n))
    for t in range(t_len - 2, -1, -1):
        h = (g[t + 1] * back[t + 1]).sum(axis=2) / scale[t + 1]  # (s', r', N)
        live = mask[t + 1]
        h = np.where(live[None, None, :], h, 1.0)
        dh[t] = (h[:-1] - h[1:]) * live
        back[t, :, 0, 0] = _cdf_back(cdfs[0][t], h[:, 0])
        back[t, :, 1, 0] = _cdf_back(cdfs[0][t], h[:, 1])
        back[t, :, :, 1] = _cdf_back(cdfs[1][t], h[:, 1])[:, None]
    post = filt * back * mask[:, None, None, None, :]
    if states_out is not None:
        states_out["posterior"] = post.sum(axis=(2, 3))

    # transitions (and δ, the other shift coefficients)
    grad_tau = np.zeros((k, k - 1, n))
    grad_shift = np.zeros((2, t_len - 1, n))
    for i in range(2):
        for r in range(2):
            if i == 1 and r == 0:
                continue  # I_t = 1 always moves to r' = 1
            gt, gs = threshold_gradient(cdfs[i], moved[:-1, :, r, i], dh[:, :, r])
            grad_tau += gt
            grad_shift[i] += gs
    total_shift = grad_shift.sum(axis=0)
    grad_tr = np.einsum("ptn,tn->pn", data.x_transition[:, :-1], total_shift)
    if j_int is not None:
        grad_tr[j_int] = grad_shift[1].sum(axis=0)

    # emission weights: on ∂log e (and −∂log D), on ∂log P0, on ∂log Rn
    w_e = post.sum(axis=3)  # (T, K, R, N)
    live_scale = np.where(mask, scale, 1.0)
    w_p0 = pred * e * p0 * (back[:, :, :, 0] - back[:, :, :, 1]) / live_scale[:, None, None, :]
    w_p0 *= mask[:, None, None, :]
    w_rn = np.zeros_like(w_e)
    if contact:
        assert d is not None and rn is not None
        w_p0[0] /= d
        w_rn[0] = -pred[0] * e[0] * rn * back[0, :, :, 0] / (d * scale[0])

    t_ratio = ratio0 = None
    if contact:
        assert rho_n is not None
        t_ratio = _ratio(c0, rho_n)  # (ℓ, a, K, R, N), first period
        ratio0 = _ratio(c0, mu0)
    g_lam = np.empty((3, t_len, k, 2, n))  # score of log Λ_v
    cell_score = np.zeros((3, 3, 2, n))  # Σ_{t,s,r} Λ_v ∂ℓ/∂ρ[v, ℓ, a], ρ = Λ_v P_v^a M[v, ℓ]
    w_e_tn = np.ascontiguousarray(w_e.transpose(0, 3, 1, 2))  # (T, N, K, R)
    w_p0_tn = np.ascontiguousarray(w_p0.transpose(0, 3, 1, 2))
    for v in range(3):
        # ∂ℓ/∂log Λ_v = Λ_v Σ_{ℓ,a} M P^a coef(ℓ, a), with (Σ_{ℓ,a} M[v,ℓ] P^a = 1)
        # coef = w_e (R − 1) − 1{a=yes} w_P0 (R[ℓ,yes] − 1{v≠c} S_ℓ) + w_Rn (1{v=n} T − R)
        acc_tn = np.zeros((t_len, n, k, 2))
        total_lw = (lam[v] * w_e).sum(axis=(0, 1, 2))
        for cell in cells:
            ell, a = cell.label, cell.answered
            if m[v, ell] == 0.0 or cell.t.size == 0:
                continue
            inner = w_e_tn[cell.t, cell.n] * cell.ratio
            if a == 1:
                diff = cell.ratio
                if v != _COMPLAINT and cell.s_ratio is not None:
                    diff = diff - cell.s_ratio
                inner -= w_p0_tn[cell.t, cell.n] * diff
            weight = (m[v, ell] * p_a[a, v][cell.n])[:, None, None]
            acc_tn[cell.t, cell.n] += weight * inner
            cell_score[v, ell, a] += np.bincount(
                cell.n, (cell.lam[:, v] * inner).sum(axis=(1, 2)), minlength=n)
        cell_score[v] -= total_lw[None, None, :] * (m[v] != 0.0)[:, None, None]
        acc = acc_tn.transpose(0, 2, 3, 1) - w_e
        if contact:
            assert t_ratio is not None and ratio0 is not None
            lr = lam[v, 0] * w_rn[0]
            extra = np.zeros_like(lr)
            for ell in range(3):
                for a in range(2):
                    if m[v, ell] == 0.0:
                        continue
                    term = (t_ratio[ell, a] if v == _NEUTRAL else 0.0) - ratio0[ell, a]
                    extra += m[v, ell] * p_a[a, v][None, None, :] * term
                    cell_score[v, ell, a] += (lr * term).sum(axis=(0, 1))
            acc[0] += w_rn[0] * extra
        g_lam[v] = lam[v] * acc
    # M and the reply logits from the cell scores: ρ = Λ_v P_v^a M[v, ℓ]
    g_m = (cell_score * p_a.transpose(1, 0, 2)[:, None, :, :]).sum(axis=2)  # (v, ℓ, N)
    sign = np.array([-1.0, 1.0])[None, None, :, None]
    g_p = ((cell_score * sign * m[:, :, None, None]).sum(axis=(1, 2))
           * p * (1.0 - p))  # (v, N)
    if contact:
        assert d is not None
        hazard = w_e[0] / np.expm1(lam[_COMPLAINT, 0] + lam[_COMPLIMENT, 0])
        g_lam[_COMPLAINT, 0] -= hazard * lam[_COMPLAINT, 0]
        g_lam[_COMPLIMENT, 0] -= hazard * lam[_COMPLIMENT, 0]

    per_t_c = g_lam[_COMPLAINT].sum(axis=(1, 2))  # (T, N)
    grad_c = np.einsum("ptn,tn->pn", data.x_complaint, per_t_c)
    if j_red is not None:
        grad_c[j_red] = g_lam[_COMPLAINT][:, :, 1].sum(axis=(0, 1))
    residual = post[0].sum(axis=(1, 2)) - np.exp(log_initial)
    n_brands = len(spec.brands)
    reply = np.zeros((3, n_brands, n))
    reply[:, data.brand_code, np.arange(n)] = g_p
    blocks: dict[str, np.ndarray] = {
        "a": g_lam[_COMPLAINT].sum(axis=(0, 2)),
        "c": g_lam[_COMPLIMENT].sum(axis=(0, 2)),
        "beta_c": grad_c,
        "beta_p": np.einsum("ptn,tn->pn", data.x_compliment,
                            g_lam[_COMPLIMENT].sum(axis=(1, 2))),
        "beta_tr": grad_tr,
        "tau": grad_tau.reshape(-1, n),
        "init": initial_gradient(residual, data.x_initial).reshape(-1, n),
        "neutral": g_lam[_NEUTRAL].sum(axis=(0, 2)),
        "reply_logits": reply.reshape(-1, n),
    }
    if m_jacobian is not None:
        blocks["q_logits"] = np.einsum("vln,vlum->umn", g_m, m_jacobian).reshape(-1, n)
    grad_nat = np.concatenate([np.asarray(blocks.get(name, np.zeros((0, n)))).reshape(-1, n)
                               for name in _GRAD_BLOCKS])
    return loglik, grad_nat
