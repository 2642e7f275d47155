"""``RelationshipHMM``: maximum-likelihood estimation of the relationship HMM (DESIGN.md §4).

The estimator follows scikit-learn / hmmlearn (constructor holds the specification, ``fit``
returns ``self``, fitted attributes end in ``_``, ``score``, ``predict_proba``, ``decode``,
``sample``) and hands its estimates to a statsmodels-shaped results object (``results_``).

Estimation
----------
* exact log-likelihood by the scaled forward algorithm over padded, masked sequences
  (:mod:`complaintpanel.hmm.core`), conditioned on first contact;
* exact gradient by Fisher's identity from the same forward–backward pass;
* L-BFGS-B (scipy) on an unconstrained parametrisation (:mod:`.parametrisation`) from several
  starts — the first from data moments, the others random from a seeded generator; the results
  report how many reached the best optimum;
* standard errors from the observed information (central differences of the analytic
  gradient), optionally a customer-clustered sandwich or a customer-clustered bootstrap.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logit

from complaintpanel.hmm import core, reply_process
from complaintpanel.hmm.data import PanelArrays, prepare_panel
from complaintpanel.hmm.likelihood import (
    evaluate,
    information_from_gradient,
    last_filtered,
    log_joint_contact,
    model_arrays,
)
from complaintpanel.hmm.parametrisation import IdentificationError, ParamLayout
from complaintpanel.hmm.results import RelationshipHMMResults, StartReport
from complaintpanel.hmm.sampling import sample_panel
from complaintpanel.hmm.transitions import probs_from_cdf
from complaintpanel.model import (
    COEFFICIENT_NAMES,
    FirstContact,
    ModelParams,
    ModelSpec,
    state_names,
    transition_matrices,
)
from complaintpanel.model.measurement import ValidationCounts, validation_score
from complaintpanel.runtime.progress import track

__all__ = ["IdentificationError", "RelationshipHMM", "check_identification", "select_n_states"]

PROFILE_START = 0.5  # ρ of the multi-start fit that starts the profile over the redress decay


def check_identification(data: PanelArrays, spec: ModelSpec) -> None:
    """Raise a clear error when the panel cannot identify the specification.

    Raises
    ------
    IdentificationError
        No sequence with two periods (no transitions), a covariate without variation
        (e.g. intervention always 0 or always 1: δ is not identified), no complaints or no
        compliments at all, or no more observations than parameters.
    """
    if not np.any(data.lengths >= 2):
        raise IdentificationError("no customer has two or more periods: transitions (and so "
                                  "δ, η) are not identified")
    moves = data.mask[1:]
    for col, values in zip(spec.transition_covariates, data.x_transition[:, :-1], strict=True):
        seen = values[moves]
        if seen.size == 0 or np.ptp(seen) == 0:
            what = COEFFICIENT_NAMES.get(col, f"the coefficient of {col}")
            level = seen[0] if seen.size else "n/a"
            raise IdentificationError(
                f"`{col}` does not vary over the periods that have a next period (always "
                f"{level}): {what} is not identified. A panel needs both periods with and "
                f"without {col}; drop it from transition_covariates otherwise.")
    for kind, cols, xs in (("complaint", spec.complaint_covariates, data.x_complaint),
                           ("compliment", spec.compliment_covariates, data.x_compliment)):
        for col, values in zip(cols, xs, strict=True):
            seen = values[data.mask]
            if np.ptp(seen) == 0:
                what = COEFFICIENT_NAMES.get(col, f"the coefficient of {col}")
                raise IdentificationError(f"{kind} covariate `{col}` never varies (always "
                                          f"{seen[0]}): {what} is not identified")
    if data.complaints.sum() == 0 or data.compliments.sum() == 0:
        raise IdentificationError("the panel needs both complaints and compliments to tell "
                                  "states apart")
    if spec.reply_model:
        answered = data.answered[data.mask].sum()
        if answered == 0 or answered == data.complaints[data.mask].sum():
            raise IdentificationError("the reply model needs both answered and unanswered "
                                      "complaints")
    if data.nobs <= ParamLayout(spec).n_params:
        raise IdentificationError("fewer customer-periods than parameters")


# ---------------------------------------------------------------------------------- starts
def _state_stay_thresholds(stay: np.ndarray, k: int, rng: np.random.Generator | None
                           ) -> np.ndarray:
    """Thresholds of rows that stay with probability ``stay[j]`` and spread the rest."""
    tau = np.empty((k, k - 1))
    for j in range(k):
        rest = rng.dirichlet(np.ones(k - 1)) if rng is not None else np.full(k - 1, 1 / (k - 1))
        probs = np.insert(rest * (1 - stay[j]), j, stay[j])
        cum = np.clip(np.cumsum(probs)[:-1], 1e-6, 1 - 1e-6)
        tau[j] = logit(cum)
        tau[j] = np.maximum.accumulate(tau[j] + 1e-3 * np.arange(k - 1))
    return tau


def start_values(layout: ParamLayout, data: PanelArrays,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Build a start vector ``θ``: from data moments (``rng=None``) or random around them."""
    spec = layout.spec
    k = spec.n_states
    nobs = data.nobs
    log_rc = np.log(max(data.complaints.sum() / nobs, 1e-3))
    log_rp = np.log(max(data.compliments.sum() / nobs, 1e-3))
    if rng is None:
        a = log_rc + np.linspace(1.0, -1.5, k)
        c = log_rp + np.linspace(-1.0, 1.0, k)
        tau = _state_stay_thresholds(np.full(k, 0.8), k, None)
        beta_sd = init_sd = 0.0
    else:
        a = log_rc + np.sort(rng.uniform(-2.5, 1.5, k))[::-1]
        a -= 0.05 * np.arange(k)  # strictly decreasing
        c = log_rp + rng.uniform(-2.0, 1.5, k)
        tau = _state_stay_thresholds(rng.uniform(0.5, 0.95, k), k, rng)
        beta_sd, init_sd = 0.3, 0.5

    def draw(size: int, sd: float) -> np.ndarray:
        # random starts scatter coefficients around 0; the moment start puts them at 0
        return rng.normal(0, sd, size) if rng is not None else np.zeros(size)

    sent_mean = sent_log_sd = np.zeros(0)
    if spec.sentiment:
        observed = data.sentiment[data.sentiment_obs > 0]
        quantiles = np.linspace(0.2, 0.8, k) if rng is None else np.sort(rng.uniform(0.1, 0.9, k))
        sent_mean = np.quantile(observed, quantiles) if observed.size else np.zeros(k)
        sent_log_sd = np.full(k, np.log(max(observed.std(), 1e-2) if observed.size else 1.0))
    reply_brand = reply_state = np.zeros(0)
    if spec.reply_model:
        reply_brand = np.empty(len(spec.brands))
        for b in range(len(spec.brands)):
            cells = data.mask & (data.brand_code == b)[None, :]
            rate = (data.answered[cells].sum() + 0.5) / (data.complaints[cells].sum() + 1.0)
            reply_brand[b] = logit(np.clip(rate, 0.01, 0.99))
        reply_state = draw(k - 1, beta_sd)
    neutral = None
    if spec.neutral:
        log_rn = np.log(max(data.neutral[data.mask].sum() / nobs, 1e-3))
        neutral = np.full(k, log_rn) + draw(k, beta_sd)
    nat = ModelParams(
        spec=spec, a=a, c=c,
        beta_c=draw(len(spec.complaint_covariates), beta_sd),
        beta_p=draw(len(spec.compliment_covariates), beta_sd),
        beta_tr=draw(len(spec.transition_covariates), beta_sd),
        tau=tau,
        init=draw((k - 1) * (1 + len(spec.initial_covariates)), init_sd).reshape(k - 1, -1),
        sent_mean=sent_mean, sent_log_sd=sent_log_sd,
        reply_brand=reply_brand, reply_state=reply_state, neutral=neutral,
    )
    return layout.from_natural(nat)


# ---------------------------------------------------------------------------------- optimiser
def _objective(layout: ParamLayout, chunks: list[PanelArrays], nobs: int
               ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Build the objective: negative mean log-likelihood per customer-period, gradient."""

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ev = evaluate(theta, layout, chunks)
        assert ev.grad is not None  # asked for (gradient=True)
        if not np.isfinite(ev.loglik) or not np.all(np.isfinite(ev.grad)):
            # Outside the numerically safe region: a large value sends the line search back.
            return 1e10, np.zeros_like(theta)
        return -ev.loglik / nobs, -ev.grad / nobs

    return objective


def optimise(theta0: np.ndarray, layout: ParamLayout, chunks: list[PanelArrays], nobs: int,
             *, max_iter: int = 2000, gtol: float = 1e-7) -> tuple[np.ndarray, StartReport]:
    """Maximise the log-likelihood from ``theta0`` with L-BFGS-B.

    The objective is the negative mean log-likelihood per customer-period, so tolerances do
    not depend on the panel's size.
    """
    started = time.perf_counter()
    result = minimize(_objective(layout, chunks, nobs), theta0, jac=True, method="L-BFGS-B",
                      bounds=layout.bounds(),
                      options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-14,
                               "gtol": gtol})
    loglike = -float(result.fun) * nobs
    message = str(result.message)
    # L-BFGS-B may stop in the line search within rounding of the optimum; accept that when
    # the gradient is small (it is then as converged as floating point allows).
    small_gradient = float(np.max(np.abs(result.jac))) < 100 * gtol
    report = StartReport(loglike=loglike, converged=bool(result.success or small_gradient),
                         n_iter=int(result.nit), n_eval=int(result.nfev), message=message,
                         seconds=time.perf_counter() - started)
    return np.asarray(result.x), report


def polish(theta0: np.ndarray, layout: ParamLayout, chunks: list[PanelArrays], nobs: int,
           *, max_iter: int = 2000, gtol: float = 1e-7) -> tuple[np.ndarray, StartReport]:
    """Maximise from a start near the optimum: BFGS preconditioned by the curvature there.

    For the corrected fit's single start (the naive optimum translated through ``M̂``),
    L-BFGS-B spends most of its ~120 iterations learning the curvature of ~35 parameters.
    Here BFGS starts from an estimate of the information at ``theta0`` — the outer product of
    the per-sequence scores (one evaluation) plus the validation sample's own information in
    the q-logits (:func:`validation_information`), eigenvalues floored — and reaches the same
    optimum in far fewer iterations (18 against 118 on a 1,000-customer world, log-likelihoods
    equal to 2e-7). Written here because scipy offers the pieces
    (``minimize(method="BFGS", hess_inv0=...)``), not the combination. When BFGS does not
    converge, or leaves the box of :meth:`ParamLayout.bounds`, L-BFGS-B finishes from the best
    point, so the result is never worse than :func:`optimise`'s.
    """
    started = time.perf_counter()
    objective = _objective(layout, chunks, nobs)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        at_start = evaluate(theta0, layout, chunks, scores=True)
    scores = at_start.scores
    if scores is None or not np.all(np.isfinite(scores)):
        return optimise(theta0, layout, chunks, nobs, max_iter=max_iter, gtol=gtol)
    information = (scores @ scores.T + validation_information(layout, theta0)) / nobs
    return preconditioned_bfgs(
        objective, theta0, information, layout.bounds(),
        lambda start: optimise(start, layout, chunks, nobs, max_iter=max_iter, gtol=gtol),
        nobs=nobs, label="BFGS preconditioned at the start", started=started,
        max_iter=max_iter, gtol=gtol)


def preconditioned_bfgs(objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
                        theta0: np.ndarray, information: np.ndarray,
                        bounds: list[tuple[float | None, float | None]],
                        fallback: Callable[[np.ndarray], tuple[np.ndarray, StartReport]], *,
                        nobs: int, label: str, started: float, max_iter: int, gtol: float
                        ) -> tuple[np.ndarray, StartReport]:
    """BFGS from ``theta0`` whose inverse Hessian starts at the inverse of ``information``.

    The one optimiser behind :func:`polish` and
    :func:`complaintpanel.hmm.heterogeneity.polish`: eigenvalues of ``information`` are
    floored at 1e-3 of the largest before inverting. When BFGS does not converge (gradient
    above ``100·gtol``) or leaves the box ``bounds``, ``fallback`` (L-BFGS-B) finishes from the
    better of BFGS's end point (clipped to the box) and ``theta0``, so the result is never
    worse than the fallback's alone.

    Parameters
    ----------
    objective : callable
        Negative mean log-likelihood and its gradient at θ.
    theta0 : ndarray
    information : ndarray
        Estimated information per observation at ``theta0`` (e.g. the OPG).
    bounds : list of (lower, upper)
        The box of the parametrisation (None: unbounded).
    fallback : callable
        L-BFGS-B from a start, returning the estimate and its :class:`StartReport`.
    nobs : int
        Observations the objective's mean is over (the log-likelihood is ``−fun·nobs``).
    label : str
        How the report's message names this optimiser.
    started : float
        ``time.perf_counter()`` when the caller started (its report's seconds count from it).
    max_iter, gtol : int, float
        BFGS's iteration limit and gradient tolerance.
    """
    eigenvalues, vectors = np.linalg.eigh(information)
    floor = max(1e-3 * float(np.max(np.abs(eigenvalues))), 1e-12)
    hess_inv0 = (vectors / np.maximum(np.abs(eigenvalues), floor)) @ vectors.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # line-search precision notes
        result = minimize(objective, theta0, jac=True, method="BFGS",
                          options={"hess_inv0": (hess_inv0 + hess_inv0.T) / 2,
                                   "gtol": gtol, "maxiter": max_iter})
    box = np.array([(-np.inf if lo is None else lo, np.inf if hi is None else hi)
                    for lo, hi in bounds])
    inside = bool(np.all((result.x >= box[:, 0]) & (result.x <= box[:, 1])))
    small_gradient = float(np.max(np.abs(result.jac))) < 100 * gtol
    n_eval = int(result.nfev) + 1
    if inside and (result.success or small_gradient):
        return np.asarray(result.x), StartReport(
            loglike=-float(result.fun) * nobs, converged=True,
            n_iter=int(result.nit), n_eval=n_eval, message=f"{label}: {result.message}",
            seconds=time.perf_counter() - started)
    restart = np.clip(result.x, box[:, 0], box[:, 1]) if np.isfinite(result.fun) \
        and result.fun <= objective(theta0)[0] else theta0
    theta, report = fallback(restart)
    return theta, StartReport(
        loglike=report.loglike, converged=report.converged,
        n_iter=int(result.nit) + report.n_iter, n_eval=n_eval + report.n_eval,
        message=f"{label}, finished by L-BFGS-B: {report.message}",
        seconds=time.perf_counter() - started)


def validation_information(layout: ParamLayout, theta: np.ndarray) -> np.ndarray:
    """Information of the validation sample's multinomial term, ``(p, p)`` (zero without one).

    The term depends on the q-logits only; its score is analytic
    (:func:`complaintpanel.model.measurement.validation_score`), differenced here.
    """
    out = np.zeros((theta.size, theta.size))
    logits = layout.q_logits(theta)
    if logits is None:
        return out
    counts = np.asarray(layout.spec.validation_counts, dtype=float)
    block = information_from_gradient(
        lambda x: validation_score(counts, x.reshape(logits.shape)).ravel(), logits.ravel(),
        step=1e-6, scheme="forward")
    where = layout.slices["q_logits"]
    out[where, where] = block
    return out


def observed_information(theta: np.ndarray, layout: ParamLayout, chunks: list[PanelArrays],
                         step: float = 1e-4, scheme: str = "central") -> np.ndarray:
    """Observed information ``−∂²ℓ/∂θ∂θ'`` by finite differences of the analytic gradient.

    See :func:`complaintpanel.hmm.likelihood.information_from_gradient`.
    """
    return information_from_gradient(lambda t: evaluate(t, layout, chunks).gradient(), theta,
                                     step, scheme)


def run_start(theta0: np.ndarray, layout: ParamLayout, chunks: list[PanelArrays], nobs: int,
              warm: tuple[list[PanelArrays], int] | None = None, *, max_iter: int = 2000,
              gtol: float = 1e-7) -> tuple[np.ndarray, StartReport]:
    """One start: optionally a warm-up on a subsample of customers, then the full panel.

    The warm-up moves a random start most of the way to its optimum at a fraction of the cost
    (the first, far-from-optimum iterations are the many); the final optimisation always runs
    on the full panel to the full tolerance, so the reported optimum is the full-data one.
    """
    started = time.perf_counter()
    warm_iter = 0
    if warm is not None:
        theta0, warm_report = optimise(theta0, layout, warm[0], warm[1], max_iter=max_iter,
                                       gtol=max(gtol, 1e-5))
        warm_iter = warm_report.n_iter
    theta, report = optimise(theta0, layout, chunks, nobs, max_iter=max_iter, gtol=gtol)
    return theta, StartReport(loglike=report.loglike, converged=report.converged,
                              n_iter=report.n_iter, n_eval=report.n_eval,
                              message=report.message, seconds=time.perf_counter() - started,
                              n_iter_warm_up=warm_iter)


# Worker state for parallel starts: the panel is sent once per process, not once per start.
_WORKER: dict[str, Any] = {}


def _init_worker(layout: ParamLayout, chunks: list[PanelArrays], nobs: int,
                 warm: tuple[list[PanelArrays], int] | None) -> None:
    _WORKER.update(layout=layout, chunks=chunks, nobs=nobs, warm=warm)


def _run_start(args: tuple[np.ndarray, int, float]) -> tuple[np.ndarray, StartReport]:
    theta0, max_iter, gtol = args
    return run_start(theta0, _WORKER["layout"], _WORKER["chunks"], _WORKER["nobs"],
                     _WORKER["warm"], max_iter=max_iter, gtol=gtol)


def _init_boot_worker(layout: ParamLayout, data: PanelArrays) -> None:
    _WORKER.update(layout=layout, data=data)


def _boot_replicate(args: tuple[np.ndarray, np.ndarray, int, int, float]) -> np.ndarray:
    theta, index, chunk_size, max_iter, gtol = args
    sub = _WORKER["data"].take(index)
    new_theta, _ = optimise(theta, _WORKER["layout"], sub.chunks(chunk_size), sub.nobs,
                            max_iter=max_iter, gtol=gtol)
    return new_theta


class RelationshipHMM:
    """Hidden Markov model of the customer–brand relationship with both effects of a reply.

    States are ordered by complaint propensity (state 0 = "poor" complains most). In period
    *t* and state *k*: ``complaints ~ Poisson(exp(a_k + γ·R_t))``, ``compliments ~
    Poisson(exp(c_k))``; transitions ``P(s_{t+1} ≤ k | s_t = j) = logistic(τ_jk − δ·I_t −
    η·peer_t [− κ·U_t])``. γ > 0 is the squeaky-wheel effect, δ > 0 the relationship effect.

    Parameters
    ----------
    n_states : int
        Number of latent states K.
    complaint_covariates, compliment_covariates, transition_covariates : sequence of str
        Panel columns in the complaint rate, compliment rate and ordered-logit index.
        Defaults: ``("redress",)`` → γ, ``()``, ``("intervened", "peer_voice")`` → δ, η.
    unanswered : bool
        Add ``unanswered_complaints`` to the transitions (κ).
    latency_hours : float, optional
        Add ``fast_reply`` (a complaint answered within this many hours; needs the panel's
        ``reply_latency_h``) to the transitions (δ_fast), enabling the "answer within H hours"
        policy.
    initial_covariates : sequence of str
        Customer-level columns of a multinomial logit for the state at first contact.
    sentiment : str or bool
        Gaussian sentiment emission on this column (``True`` → ``sentiment_mean``).
    reply_model : bool
        Model replies as ``Binomial(complaints, logistic(ρ_brand + ψ_state))``; use it when
        brands choose whom to answer by the customer's state (endogenous replies).
    first_contact_truncation : bool or {"state", "joint"}
        Condition the first period on ``complaints + compliments ≥ 1`` (panels that start at
        first contact). ``True``/``"state"``: zero-truncated emissions given the state (the
        simulator's convention); ``"joint"``: state and emissions conditioned together;
        ``False``: none. With conditioning, leading periods without a complaint or a
        compliment are dropped from each sequence.
    n_starts : int
        Optimiser starts (first from data moments, the rest random).
    random_state : int or Generator, optional
        Seed of the random starts (and bootstrap).
    max_iter : int
        L-BFGS-B iteration limit per start.
    gtol : float
        L-BFGS-B tolerance on the projected gradient of the mean log-likelihood.
    cov_type : {"oim", "robust", "bootstrap"}
        Observed information, customer-clustered sandwich, or customer-clustered bootstrap.
    n_boot : int
        Bootstrap replications (``cov_type="bootstrap"``).
    n_jobs : int
        Processes for the starts and the bootstrap (−1 = all cores).
    chunk_size : int
        Sequences per block of the likelihood (memory bound; ~4,000 is fastest here).
    optimum_tol : float
        A start reached the best optimum if its log-likelihood is within this distance.
    warm_start_size : int or None
        On panels with more than twice this many sequences, each start first runs on a random
        subsample of this many sequences (looser tolerance), then on the full panel; ``None``
        switches the warm-up off.
    neutral : bool
        Model the neutral tweets, ``neutral ~ Poisson(exp(n_k))`` (the panel's ``neutral``).
        Implied by ``validation`` and ``misclassification``.
    validation : ValidationCounts, optional
        A coded validation sample stratified by predicted label. The emissions become the
        misclassification layer (DESIGN.md §4.1): observed label counts Poisson with rates
        ``Mᵀ Λ``, ``M`` estimated jointly (q-logits as parameters, the sample's multinomial
        log-likelihood added), so standard errors include ``M``'s uncertainty. Assumes each
        tweet is labelled independently given its true voice — errors independent of the
        latent state, the customer, the period and the other tweets. Needs ``cov_type="oim"``.
        ``None`` (default): the labels are taken as the true voice ("naive").
    misclassification : array-like (3, 3), optional
        A known ``M`` used as fixed (studies; with the identity the fit is the naive one).
    naive_start : bool
        With a validation sample, search the naive model from ``n_starts`` starts and
        run the corrected fit once, from the naive optimum translated through ``M̂``
        (:meth:`_starts_from_naive`; reported in ``results_.extra["start"]``). ``False``: the
        corrected model itself from ``n_starts`` starts (about three times slower; always so
        with a fixed ``misclassification``).
    reply_process : bool
        Model the brand's replies to every tweet (:mod:`complaintpanel.hmm.reply_process`):
        each tweet of true voice ``v`` answered with probability ``p[v, brand]``, intervention
        and redress latent (a *true* complaint answered). Needs the panel's
        ``answered_complaints``, ``answered_compliments`` and ``answered_neutral``; implies
        ``neutral``. Use it with ``validation``: brands answer true, not labelled, complaints.
    heterogeneity : {"none", "random_intercepts", "classes"}
        How customers differ (DESIGN.md §4.2). ``"random_intercepts"``: a normal random
        intercept ``σ·u_i`` in every customer's complaint log-rate, integrated out by
        Gauss–Hermite quadrature (:mod:`complaintpanel.hmm.heterogeneity`); the homogeneous
        model is fitted first and its optimum starts the random-intercept fit, whose results
        report σ (``sigma[complaint]``) and both BICs. Needs ``cov_type="oim"``. Inference
        methods (``predict_proba``, ``decode``, policies) use the median customer (u = 0).
        ``"classes"``: a finite mixture of ``classes`` latent customer classes with
        class-specific ``class_blocks`` (:mod:`complaintpanel.hmm.classes`), fitted from the
        homogeneous optimum; the results report each class's values (``delta[class1]``, …;
        class 0, the one with the smallest δ, keeps the plain names) and shares, and
        :meth:`class_proba` each customer's posterior class membership. Inference methods
        and policies without a class use class 0's parameters.
    quadrature_nodes : int
        Gauss–Hermite nodes of the random intercept.
    random_intercepts : tuple of str
        The log-rates with a random intercept: ``("complaint",)`` (default) or
        ``("complaint", "compliment")``, a bivariate normal intercept, Cholesky-parametrised,
        integrated on a product grid of ``bivariate_nodes²`` adaptive Gauss–Hermite nodes
        (:class:`~complaintpanel.hmm.heterogeneity.BivariateRandomIntercepts`); the results
        report ``sigma[complaint]``, ``sigma[compliment]`` and
        ``corr[complaint,compliment]``.
    bivariate_nodes : int
        Gauss–Hermite nodes per dimension of the bivariate intercept (7: 49 forward passes).
    redress : {"binary", "stock"}
        The redress history ``redress`` in the complaint rate: ``"binary"`` (a complaint was
        answered in an earlier period; default) or ``"stock"``, the decaying stock
        ``R_t = Σ_{s<t} ρ^{t−1−s} I_s`` built from the panel's answered history
        (:mod:`complaintpanel.hmm.redress`).
    redress_decay : float, "auto" or None
        With ``redress="stock"``: a fixed ρ in (0, 1], or ``"auto"``/``None`` to estimate ρ
        (how: ``redress_decay_method``). Must be ``None`` with binary redress.
    redress_decay_method : {"joint", "profile"}
        How an estimated ρ is estimated. ``"joint"`` (default): ρ is a parameter of the
        optimiser beside the others (:class:`complaintpanel.hmm.redress.JointDecay`); ρ̂, its
        standard error and Wald interval are in ``results_.extra["redress"]`` and the other
        standard errors come from the joint observed information (they carry ρ's
        uncertainty; ``cov_type`` "oim" or "robust"). ``"profile"``: profile likelihood
        (ρ̂ and its 95% profile-likelihood interval; the other standard errors are
        conditional on ρ̂).
    classes : int
        Number of latent classes (``heterogeneity="classes"``).
    class_blocks : tuple of str
        Class-specific parameter blocks: ``"delta"`` (the relationship effect) and/or ``"a"``
        (the level of the complaint log-rates).
    class_starts : int
        Starts of the class fit from the homogeneous optimum, the class values spread by 1,
        2, … × :data:`~complaintpanel.hmm.classes.START_SPREAD` (the best is kept).
    """

    # Internal hooks of the profile over the redress decay (_fit_profiled).
    _extra_start: np.ndarray | None = None

    def __init__(self, n_states: int = 3, *,
                 complaint_covariates: Sequence[str] = ("redress",),
                 compliment_covariates: Sequence[str] = (),
                 transition_covariates: Sequence[str] = ("intervened", "peer_voice"),
                 unanswered: bool = False, latency_hours: float | None = None,
                 initial_covariates: Sequence[str] = (), sentiment: str | bool = False,
                 reply_model: bool = False,
                 first_contact_truncation: bool | FirstContact = True,
                 n_starts: int = 5, random_state: int | None = None, max_iter: int = 2000,
                 gtol: float = 1e-7, cov_type: str = "oim", n_boot: int = 200,
                 n_jobs: int = 1, chunk_size: int = 4096, optimum_tol: float = 0.05,
                 warm_start_size: int | None = 3000, neutral: bool = False,
                 validation: ValidationCounts | None = None,
                 misclassification: np.ndarray | None = None,
                 naive_start: bool = True, reply_process: bool = False,
                 heterogeneity: str = "none", quadrature_nodes: int = 9,
                 random_intercepts: Sequence[str] = ("complaint",), bivariate_nodes: int = 7,
                 classes: int = 2, class_blocks: Sequence[str] = ("delta",),
                 class_starts: int = 2,
                 redress: str = "binary", redress_decay: float | str | None = None,
                 redress_decay_method: str = "joint") -> None:
        self.n_states = n_states
        self.complaint_covariates = tuple(complaint_covariates)
        self.compliment_covariates = tuple(compliment_covariates)
        self.transition_covariates = tuple(transition_covariates)
        self.unanswered = unanswered
        self.latency_hours = latency_hours
        self.initial_covariates = tuple(initial_covariates)
        self.sentiment = sentiment
        self.reply_model = reply_model
        self.first_contact_truncation = first_contact_truncation
        self.n_starts = n_starts
        self.random_state = random_state
        self.max_iter = max_iter
        self.gtol = gtol
        self.cov_type = cov_type
        self.n_boot = n_boot
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.optimum_tol = optimum_tol
        self.warm_start_size = warm_start_size
        self.neutral = neutral
        self.validation = validation
        self.misclassification = misclassification
        self.naive_start = naive_start
        self.reply_process = reply_process
        self.heterogeneity = heterogeneity
        self.quadrature_nodes = quadrature_nodes
        self.random_intercepts = tuple(random_intercepts)
        self.bivariate_nodes = bivariate_nodes
        self.classes = classes
        self.class_blocks = tuple(class_blocks)
        self.class_starts = class_starts
        self.redress = redress
        self.redress_decay = redress_decay
        self.redress_decay_method = redress_decay_method

    # ------------------------------------------------------------------ specification
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the constructor arguments (scikit-learn convention)."""
        return {name: getattr(self, name) for name in (
            "n_states", "complaint_covariates", "compliment_covariates",
            "transition_covariates", "unanswered", "latency_hours", "initial_covariates",
            "sentiment", "reply_model", "first_contact_truncation", "n_starts",
            "random_state", "max_iter", "gtol", "cov_type", "n_boot", "n_jobs", "chunk_size",
            "optimum_tol", "warm_start_size", "neutral", "validation", "misclassification",
            "naive_start", "reply_process", "heterogeneity", "quadrature_nodes",
            "random_intercepts", "bivariate_nodes", "classes", "class_blocks", "class_starts",
            "redress", "redress_decay", "redress_decay_method")}

    def _estimates_decay(self) -> bool:
        """Whether ρ of the redress stock is estimated (profiled) rather than fixed."""
        return self.redress == "stock" and self.redress_decay in (None, "auto")

    def _decay(self) -> float | None:
        """ρ of the specification: ``None`` (binary), the fixed ρ, or the profile's start."""
        if self.redress not in ("binary", "stock"):
            raise ValueError(f"redress must be 'binary' or 'stock', not {self.redress!r}")
        if self.redress == "binary":
            if self.redress_decay not in (None, "auto"):
                raise ValueError("redress_decay needs redress='stock' (binary redress does "
                                 "not decay)")
            return None
        if self._estimates_decay():
            return PROFILE_START
        assert not isinstance(self.redress_decay, str | None)
        return float(self.redress_decay)

    def make_spec(self, brands: tuple[str, ...] = ()) -> ModelSpec:
        """Build the :class:`ModelSpec` these settings describe."""
        transition = list(self.transition_covariates)
        if self.unanswered and "unanswered_complaints" not in transition:
            transition.append("unanswered_complaints")
        if self.latency_hours is not None and "fast_reply" not in transition:
            transition.append("fast_reply")
        truncation = self.first_contact_truncation
        first_contact: FirstContact = ("state" if truncation is True else "none"
                                       if truncation is False else truncation)
        sentiment = "sentiment_mean" if self.sentiment is True else (self.sentiment or None)
        validation = self.validation
        fixed = self.misclassification
        return ModelSpec(
            neutral=bool(self.neutral or validation is not None or fixed is not None
                         or self.reply_process),
            reply_process=self.reply_process,
            validation_counts=(None if validation is None else tuple(
                tuple(int(x) for x in row) for row in np.asarray(validation.counts))),
            validation_population=(None if validation is None else tuple(
                int(x) for x in np.asarray(validation.population))),
            fixed_misclassification=(None if fixed is None else tuple(
                tuple(float(x) for x in row) for row in np.asarray(fixed, dtype=float))),
            n_states=self.n_states,
            complaint_covariates=self.complaint_covariates,
            compliment_covariates=self.compliment_covariates,
            transition_covariates=tuple(transition),
            initial_covariates=self.initial_covariates,
            sentiment=sentiment, reply_model=self.reply_model,
            first_contact=first_contact, latency_hours=self.latency_hours,
            brands=tuple(brands) if self.reply_model or self.reply_process else (),
            redress_decay=self._decay(),
        )

    def _n_workers(self) -> int:
        if self.n_jobs == -1:
            return os.cpu_count() or 1
        return max(1, self.n_jobs)

    # ------------------------------------------------------------------ fitting
    def fit(self, panel: pd.DataFrame) -> RelationshipHMM:
        """Estimate the model on a customer × brand × period panel.

        Parameters
        ----------
        panel : DataFrame
            See :func:`complaintpanel.hmm.data.prepare_panel` for the columns.

        Returns
        -------
        RelationshipHMM
            ``self``, with ``results_`` and the fitted attributes set.

        Raises
        ------
        IdentificationError
            The panel cannot identify the model (see :func:`check_identification`); a
            subclass of ``ValueError``.
        """
        started = time.perf_counter()
        if self.cov_type not in ("oim", "robust", "bootstrap"):
            raise ValueError("cov_type must be 'oim', 'robust' or 'bootstrap'")
        if self.heterogeneity not in ("none", "random_intercepts", "classes"):
            raise ValueError("heterogeneity must be 'none', 'random_intercepts' or 'classes', "
                             f"not {self.heterogeneity!r}")
        if self.heterogeneity != "none" and self.cov_type != "oim":
            raise ValueError("random intercepts and classes have observed-information "
                             "standard errors only (cov_type='oim')")
        if self.heterogeneity != "none" and self.reply_process:
            # The random intercept enters as a per-customer complaint offset, which the reply
            # process's likelihood does not take (yet): refuse rather than ignore it.
            raise ValueError("random intercepts and classes are not available with the reply "
                             "process (reply_process=True); fit one or the other")
        if self.heterogeneity == "classes" and self.classes < 1:
            raise ValueError("classes must be at least 1")
        if self.heterogeneity == "random_intercepts":
            from complaintpanel.hmm.heterogeneity import check_effects
            check_effects(self.random_intercepts)
        if self.validation is not None and self.cov_type != "oim":
            raise ValueError("with a validation sample only cov_type='oim' carries the "
                             "uncertainty of M (the sandwich and the customer bootstrap "
                             "would hold the validation sample fixed)")
        if self.redress == "stock" and "redress" not in self.complaint_covariates:
            raise ValueError("redress='stock' needs `redress` among the complaint covariates")
        if self._estimates_decay():
            if self.redress_decay_method == "joint":
                return self._fit_joint(panel)
            if self.redress_decay_method != "profile":
                raise ValueError("redress_decay_method must be 'joint' or 'profile', not "
                                 f"{self.redress_decay_method!r}")
            return self._fit_profiled(panel)
        brands: tuple[str, ...] = ()
        if self.reply_model or self.reply_process:
            brands = tuple(sorted(map(str, panel["brand"].unique())))
        spec = self.make_spec(brands)
        if spec.misclassified and spec.reply_model:
            raise ValueError(
                "the reply model cannot be combined with the misclassification layer: it "
                "models answered complaints as Binomial(complaints, p) on the labelled "
                "counts, but under the layer the true complaint count is latent (and brands "
                "answer true, not labelled, complaints); fit it on true labels or without "
                "the validation sample")
        reply_process.check_reply_spec(spec)
        data = prepare_panel(panel, spec)
        check_identification(data, spec)
        layout = ParamLayout(spec)
        chunks = data.chunks(self.chunk_size)
        rng = np.random.default_rng(self.random_state)
        start_info: dict[str, Any] = {}
        if spec.validation_counts is not None and self.naive_start:
            starts, start_info = self._starts_from_naive(panel, layout, rng)
        else:
            starts = [start_values(layout, data)] + [
                start_values(layout, data, rng) for _ in range(max(0, self.n_starts - 1))]
        if self._extra_start is not None:  # the profile's optimum at this ρ (redress stock)
            starts = [np.array(self._extra_start, dtype=float), *starts]
        if spec.reply_process:  # reply probabilities start at the answered share of each label
            for theta0 in starts:
                theta0[layout.slices["reply_logits"]] = reply_process.reply_start_logits(
                    data, len(spec.brands)).ravel()
        if start_info:  # one start near the optimum (the translated naive optimum)
            outcomes = [polish(theta0, layout, chunks, data.nobs, max_iter=self.max_iter,
                               gtol=self.gtol) for theta0 in starts]
        else:
            outcomes = self._run_starts(starts, layout, data, chunks, rng)
        best_index = int(np.argmax([report.loglike for _, report in outcomes]))
        theta = outcomes[best_index][0]
        if start_info:
            # The corrected model has twice the parameters and ~5× the cost per gradient:
            # forward differences with a small step halve the cost and move the standard
            # errors by at most 5e-5 relative to central differences (measured on a
            # 1,000-customer world; steps 1e-4 / 1e-5 gave 5e-3 / 5e-4).
            information = observed_information(theta, layout, chunks, step=1e-6,
                                               scheme="forward")
        else:
            information = observed_information(theta, layout, chunks)
        cov_theta, hessian_ok = _invert_information(information)
        cov_type = self.cov_type
        reported_cov = None
        extra: dict[str, Any] = {"start": start_info} if start_info else {}
        if cov_type == "robust":
            cov_theta = _cluster_sandwich(theta, layout, chunks, data, cov_theta)
        elif cov_type == "bootstrap":
            reported_cov, boot_thetas = self._bootstrap(theta, layout, data, rng)
            extra["n_boot"] = len(boot_thetas)
            extra["cov_theta_oim"] = cov_theta.tolist()
            cov_theta = np.cov(np.asarray(boot_thetas).T)
        self.results_ = RelationshipHMMResults(
            spec=spec, theta=theta, cov_theta=cov_theta, loglike=outcomes[best_index][1].loglike,
            nobs=data.nobs, n_sequences=data.n_sequences,
            n_customers=int(data.sequences["customer_id"].nunique()),
            starts=[report for _, report in outcomes], cov_type=cov_type,
            reported_cov=reported_cov, optimum_tol=self.optimum_tol,
            fit_seconds=time.perf_counter() - started, dropped_rows=data.dropped_rows,
            hessian_ok=hessian_ok, extra=extra)
        if spec.validation_counts is not None:
            self.results_.extra["measurement"] = {
                "correction": ("misclassification + reply process" if spec.reply_process
                               else "misclassification"),
                "validation_n": int(np.sum(spec.validation_counts))}
        if spec.redress_decay is not None:
            self.results_.extra["redress"] = {"kind": "stock", "decay": spec.redress_decay,
                                              "estimated": False}
        if self.heterogeneity == "random_intercepts":
            from complaintpanel.hmm.heterogeneity import fit_random_intercepts
            bivariate = len(self.random_intercepts) == 2
            self.results_ = fit_random_intercepts(
                self.results_, data, chunks,
                n_nodes=self.bivariate_nodes if bivariate else self.quadrature_nodes,
                max_iter=self.max_iter, gtol=self.gtol, effects=self.random_intercepts)
            theta = self.results_.theta
        elif self.heterogeneity == "classes":
            from complaintpanel.hmm.classes import fit_classes
            self.results_ = fit_classes(
                self.results_, data, chunks, n_classes=self.classes,
                blocks=self.class_blocks, max_iter=self.max_iter, gtol=self.gtol,
                spreads=tuple(float(k) for k in range(1, max(1, self.class_starts) + 1)))
            theta = self.results_.theta
        self._set_fitted(spec, theta)
        return self

    def _fit_joint(self, panel: pd.DataFrame) -> RelationshipHMM:
        """Fit with the redress decay ρ inside θ (joint maximum likelihood).

        The model is first fitted from all starts at ``ρ = PROFILE_START``; L-BFGS-B then
        maximises over ``(θ, ρ)`` from that optimum
        (:meth:`complaintpanel.hmm.redress.JointDecay.maximise`). The reported fit is the one
        at ρ̂ from the joint optimum and from all the starts (if that finds a better optimum,
        the joint maximisation runs once more from there); its covariance is the inverse of
        the joint observed information of ``(θ, ρ)`` (or the customer-clustered sandwich with
        the joint scores), of which ``results_.cov_theta`` is the θ block and ρ's variance
        is in ``results_.extra["redress"]``.
        """
        from complaintpanel.hmm.redress import RHO_MIN, JointDecay

        if self.heterogeneity != "none":
            raise NotImplementedError("estimating the redress decay with random intercepts is "
                                      "not implemented; fix redress_decay, or fit "
                                      "heterogeneity='none'")
        if self.cov_type not in ("oim", "robust"):
            raise ValueError("with ρ in θ the covariance is 'oim' or 'robust' (the bootstrap "
                             "is available with redress_decay_method='profile')")
        started = time.perf_counter()
        first = RelationshipHMM(**{**self.get_params(), "redress_decay": PROFILE_START,
                                   "cov_type": "oim"})
        first.fit(panel)
        spec = first.spec_
        data = prepare_panel(panel, spec)
        joint = JointDecay(first.layout_, data, panel, chunk_size=self.chunk_size)
        point = np.append(first.results_.theta, PROFILE_START)
        n_iter = 0
        for _round in range(2):
            point, loglike, converged, iterations = joint.maximise(
                point, max_iter=self.max_iter, gtol=self.gtol)
            n_iter += iterations
            rho_hat = float(point[-1])
            # The reported fit at ρ̂: from the joint optimum and from all the starts (the
            # joint path from one start may stay in a local optimum of the HMM's likelihood).
            final = RelationshipHMM(**{**self.get_params(), "redress_decay": rho_hat,
                                       "cov_type": "oim"})
            final._extra_start = point[:-1]
            final.fit(panel)
            if final.results_.loglike <= loglike + self.optimum_tol:
                break
            point = np.append(final.results_.theta, rho_hat)  # a better optimum at ρ̂
        point = np.append(final.results_.theta, rho_hat)
        information = joint.information(point)
        cov_joint, hessian_ok = _invert_information(information)
        if self.cov_type == "robust":
            scores = joint.evaluate(point, scores=True).scores
            assert scores is not None  # asked for: (p + 1, N)
            codes, uniques = pd.factorize(data.sequences["customer_id"].to_numpy())
            clustered = np.zeros((scores.shape[0], len(uniques)))
            np.add.at(clustered.T, codes, scores.T)
            g = len(uniques)
            cov_joint = cov_joint @ (clustered @ clustered.T * g / max(g - 1, 1)) @ cov_joint
        p = first.layout_.n_params
        se_rho = float(np.sqrt(max(cov_joint[p, p], 0.0)))
        results = final.results_
        conditional_bse = {str(k): float(v) for k, v in results.bse.items()}
        results.cov_theta = cov_joint[:p, :p]
        results.cov_type = self.cov_type
        results.hessian_ok = bool(results.hessian_ok and hessian_ok)
        results.fit_seconds = time.perf_counter() - started
        results.extra["redress"] = {
            "kind": "stock", "decay": rho_hat, "estimated": True,
            "method": "joint maximum likelihood (rho in theta, bounded to "
                      f"[{RHO_MIN}, 1]; analytic gradient in rho)",
            "se": se_rho, "conf_int_95": [rho_hat - 1.959963984540054 * se_rho,
                                          rho_hat + 1.959963984540054 * se_rho],
            "at_bound": bool(rho_hat <= RHO_MIN + 1e-8 or rho_hat >= 1.0 - 1e-8),
            "cov_rho_theta": cov_joint[p, :p].tolist(),
            "joint_converged": converged, "joint_iterations": n_iter,
            "joint_rounds": _round + 1, "start_decay": PROFILE_START,
            "starts_at_start_decay": first.results_.n_starts,
            "starts_converged_at_start_decay": first.results_.n_starts_converged,
            "bse_conditional": conditional_bse,
            "note": "standard errors from the joint observed information of (theta, rho); "
                    "bse_conditional: those at rho fixed at rho-hat"}
        # results derived from cov_theta (the reported covariance) are rebuilt
        self.results_ = dataclasses.replace(results)
        self._set_fitted(final.spec_, final.theta_)
        return self

    def _fit_profiled(self, panel: pd.DataFrame) -> RelationshipHMM:
        """Fit with the redress decay ρ estimated by profile likelihood.

        The model is first fitted from all starts at ``ρ = PROFILE_START``; the profile
        (:func:`complaintpanel.hmm.redress.profile_decay`) then refits the other parameters
        at each ρ of a bounded scalar search from the nearest optimum; the reported fit is the
        one at ρ̂ (one start, from the profile's optimum there), its standard errors
        conditional on ρ̂. The fit at ρ̂ also runs from all the starts; if it finds a better
        optimum than the profile's, the profile is run again from there (once).
        """
        from complaintpanel.hmm.redress import chord_newton, profile_decay

        if self.heterogeneity != "none":
            raise NotImplementedError("estimating the redress decay with random intercepts is "
                                      "not implemented; fix redress_decay, or fit "
                                      "heterogeneity='none'")
        started = time.perf_counter()
        first = RelationshipHMM(**{**self.get_params(), "redress_decay": PROFILE_START,
                                   "cov_type": "oim"})
        first.fit(panel)
        # chord Newton steps along ρ, with the inverse information of the latest full refit
        curvature = {"inverse_information": first.results_.cov_theta}
        # ρ̂ is wanted to RHO_TOL: the profile's refits stop at a looser gradient tolerance
        # (the reported fit at ρ̂ runs to the full one)
        chunk_size, max_iter, gtol = self.chunk_size, self.max_iter, max(self.gtol, 1e-6)

        def refit(theta: np.ndarray, layout: ParamLayout, data: PanelArrays
                  ) -> tuple[np.ndarray, float]:
            theta_hat, loglike, converged = chord_newton(
                theta, layout, data, curvature["inverse_information"], chunk_size=chunk_size)
            if converged:
                return theta_hat, loglike
            chunks = data.chunks(chunk_size)
            theta_hat, report = run_start(theta_hat, layout, chunks, data.nobs,
                                          max_iter=max_iter, gtol=gtol)
            # the curvature has moved: refresh it for the next refits (2p gradients, far
            # cheaper than an L-BFGS-B run)
            with warnings.catch_warnings():  # a pseudo-inverse is good enough for steps
                warnings.simplefilter("ignore", RuntimeWarning)
                inverse, _ = _invert_information(observed_information(theta_hat, layout,
                                                                      chunks))
            curvature["inverse_information"] = inverse
            return theta_hat, report.loglike

        theta0, rho0, loglike0 = first.results_.theta, PROFILE_START, first.results_.loglike
        for _round in range(2):
            profile = profile_decay(panel, first.spec_, theta0, rho0, loglike0, refit)
            # The reported fit at ρ̂: from the profile's optimum and from all the starts
            # (warm starts along ρ may stay in a local optimum of the HMM's likelihood).
            final = RelationshipHMM(**{**self.get_params(), "redress_decay": profile.rho_hat})
            final._extra_start = profile.values[profile.rho_hat][1]
            final.fit(panel)
            if final.results_.loglike <= profile.loglike + self.optimum_tol:
                break
            # a better optimum at ρ̂: profile again from there
            theta0, rho0, loglike0 = (final.results_.theta, profile.rho_hat,
                                      final.results_.loglike)
        self.results_ = final.results_
        self.results_.extra["redress"] = {
            **profile.to_dict(), "profile_start": PROFILE_START, "profile_rounds": _round + 1,
            "starts_at_profile_start": first.results_.n_starts,
            "starts_converged_at_profile_start": first.results_.n_starts_converged,
            "profile_seconds": time.perf_counter() - started}
        self.results_.fit_seconds = time.perf_counter() - started
        self._set_fitted(final.spec_, final.theta_)
        return self

    def _starts_from_naive(self, panel: pd.DataFrame, layout: ParamLayout,
                           rng: np.random.Generator) -> tuple[list[np.ndarray], dict[str, Any]]:
        """Start the corrected fit at the naive model's optimum, translated through ``M̂``.

        The naive model (labels taken as the truth) is searched from ``n_starts`` starts —
        cheaper per evaluation and in iterations than the layer — and its best optimum
        becomes the single start of the corrected fit: true rates per state
        ``Λ_k = M̂⁻ᵀ Λ̃_k`` from the naive label rates ``Λ̃_k`` (the neutral rate of a state
        is the naive posterior's mean neutral count), the covariate and transition
        coefficients carried over, ``M̂`` from the validation sample alone.

        Returns
        -------
        starts : list of ndarray
            One start vector of the corrected specification.
        info : dict
            The strategy and the naive search's log-likelihood and convergence.
        """
        spec = layout.spec
        # The full naive fit (starts drawn as its own fit() draws them, so the same optimum),
        # kept as ``naive_`` so that a report of the naive estimate beside the corrected one
        # does not fit it again.
        naive = RelationshipHMM(**{**self.get_params(), "validation": None,
                                   "misclassification": None, "neutral": False,
                                   "cov_type": "oim", "reply_process": False,
                                   "heterogeneity": "none"}).fit(panel)
        self.naive_ = naive
        naive_spec = naive.spec_
        naive_data = prepare_panel(panel, naive_spec)
        naive_layout = naive.layout_
        logliks = np.array([report.loglike for report in naive.results_.starts])
        nat = naive_layout.to_natural(naive.results_.theta)
        # per-state neutral rate: the naive posterior's mean neutral count
        log_initial, cdf, terms = model_arrays(nat, naive_layout, naive_data)
        posterior = core.forward_backward_cumulative(
            log_initial, cdf, terms.log_density, naive_data.mask).posterior
        posterior = posterior * naive_data.mask[:, None, :]
        rows = naive_data.rows
        neutral = np.where(naive_data.mask,
                           naive_data.frame["neutral"].to_numpy(dtype=float)[rows], 0.0)
        weight = posterior.sum(axis=(0, 2))
        nu = np.maximum((posterior * neutral[:, None, :]).sum(axis=(0, 2)), 1e-3) / np.maximum(
            weight, 1e-12)
        m = (np.asarray(spec.fixed_misclassification, dtype=float)
             if spec.fixed_misclassification is not None else
             layout.misclassification(layout.from_natural(
                 _with_neutral(nat, spec, np.log(nu)))))
        assert m is not None  # the layer has an M
        labelled = np.stack([np.exp(nat.a), np.exp(nat.c), nu])  # (3, K)
        try:
            true = np.linalg.solve(m.T, labelled)
        except np.linalg.LinAlgError:
            true = labelled
        true = np.maximum(true, 0.05 * labelled)
        a = np.log(true[0])
        if np.any(np.diff(a) >= 0):  # keep the state order of the naive optimum
            a = nat.a
        start = _with_neutral(nat, spec, np.log(true[2]), a=a, c=np.log(true[1]))
        info = {"strategy": "naive optimum translated through M (one corrected start)",
                "naive_starts": len(logliks),
                "naive_starts_at_optimum": int(np.sum(logliks >= logliks.max()
                                                      - self.optimum_tol)),
                "naive_loglike": float(logliks.max())}
        return [layout.from_natural(start)], info

    def _run_starts(self, starts: list[np.ndarray], layout: ParamLayout, data: PanelArrays,
                    chunks: list[PanelArrays], rng: np.random.Generator
                    ) -> list[tuple[np.ndarray, StartReport]]:
        warm = None
        if self.warm_start_size and data.n_sequences > 2 * self.warm_start_size:
            subset = np.sort(rng.choice(data.n_sequences, self.warm_start_size, replace=False))
            sub = data.take(subset)
            warm = (sub.chunks(self.chunk_size), sub.nobs)
        workers = min(self._n_workers(), len(starts))
        if workers == 1:
            return [run_start(theta0, layout, chunks, data.nobs, warm, max_iter=self.max_iter,
                              gtol=self.gtol) for theta0 in track(starts, "hmm starts")]
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                 initargs=(layout, chunks, data.nobs, warm)) as pool:
            return list(track(pool.map(_run_start, [(theta0, self.max_iter, self.gtol)
                                                    for theta0 in starts]),
                              "hmm starts", total=len(starts)))

    def _bootstrap(self, theta: np.ndarray, layout: ParamLayout, data: PanelArrays,
                   rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
        """Customer-clustered bootstrap: resample customers, refit from the estimate."""
        codes, uniques = pd.factorize(data.sequences["customer_id"].to_numpy())
        members = [np.flatnonzero(codes == g) for g in range(len(uniques))]
        draws = [np.concatenate([members[g] for g in rng.integers(0, len(uniques),
                                                                   len(uniques))])
                 for _ in range(self.n_boot)]
        tasks = [(theta, index, self.chunk_size, self.max_iter, self.gtol) for index in draws]
        workers = min(self._n_workers(), len(tasks))
        if workers == 1:
            _init_boot_worker(layout, data)
            thetas = [_boot_replicate(task) for task in tasks]
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_boot_worker,
                                     initargs=(layout, data)) as pool:
                thetas = list(pool.map(_boot_replicate, tasks))
        reported = [layout.reported(t)[1] for t in thetas]
        return np.cov(np.asarray(reported).T), thetas

    def _set_fitted(self, spec: ModelSpec, theta: np.ndarray) -> None:
        self.spec_ = spec
        self.layout_ = ParamLayout(spec)
        self.theta_ = np.asarray(theta, dtype=float)
        nat = self.layout_.to_natural(self.theta_)
        self.model_params_ = nat
        names = state_names(spec.n_states)
        self.state_names_ = names
        self.complaint_log_rate_ = nat.a
        self.compliment_log_rate_ = nat.c
        self.thresholds_ = nat.tau
        # π at first contact (with initial covariates: of a customer whose covariates are 0)
        logits = np.concatenate([[0.0], nat.init[:, 0]])
        self.startprob_ = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        self.transmat_ = transition_matrices(nat.tau, 0.0)
        self.transmat_intervened_ = transition_matrices(nat.tau, nat.delta)
        self.misclassification_ = self.layout_.misclassification(self.theta_)
        if hasattr(self, "results_") and self.results_.spec == spec:
            self.params_ = self.results_.params
            self.bse_ = self.results_.bse
            self.loglike_ = self.results_.loglike
            self.bic_ = self.results_.bic
            self.converged_ = self.results_.converged
            self.n_starts_converged_ = self.results_.n_starts_converged
        else:
            self.params_ = pd.Series(self.layout_.reported(self.theta_)[1],
                                     index=self.layout_.reported(self.theta_)[0])

    @classmethod
    def from_params(cls, params: ModelParams, **kwargs: Any) -> RelationshipHMM:
        """Build a model with given parameters, ready to score, decode and sample (no fit).

        The specification is ``params.spec``; ``kwargs`` change it as in the constructor
        (e.g. ``first_contact_truncation=False``), the parameters being carried over by
        :meth:`~complaintpanel.model.ModelParams.with_spec` (coefficients of covariates the
        new specification drops must be zero).
        """
        spec = params.spec
        settings: dict[str, Any] = {
            "n_states": spec.n_states, "complaint_covariates": spec.complaint_covariates,
            "compliment_covariates": spec.compliment_covariates,
            "transition_covariates": spec.transition_covariates,
            "initial_covariates": spec.initial_covariates,
            "sentiment": spec.sentiment or False, "reply_model": spec.reply_model,
            "first_contact_truncation": spec.first_contact,
            "latency_hours": spec.latency_hours, "neutral": spec.neutral,
            "misclassification": spec.fixed_misclassification,
            "reply_process": spec.reply_process,
            "redress": "binary" if spec.redress_decay is None else "stock",
            "redress_decay": spec.redress_decay,
        }
        model = cls(**{**settings, **kwargs})
        target = model.make_spec(spec.brands)
        model._set_fitted(target, ParamLayout(target).from_natural(params.with_spec(target)))
        return model

    @classmethod
    def from_results(cls, results: RelationshipHMMResults, **kwargs: Any) -> RelationshipHMM:
        """Build a fitted model from stored results (e.g. ``hmm.json``)."""
        spec = results.spec
        model = cls(n_states=spec.n_states, **kwargs)
        model.results_ = results
        model._set_fitted(spec, results.theta)
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise AttributeError("this RelationshipHMM is not fitted yet; call fit() or "
                                 "build it with from_params()")

    # ------------------------------------------------------------------ inference
    def _prepare(self, panel: pd.DataFrame) -> PanelArrays:
        self._check_fitted()
        return prepare_panel(panel, self.spec_)

    def score(self, panel: pd.DataFrame) -> float:
        """Log-likelihood of ``panel`` under the fitted parameters (hmmlearn's ``score``).

        With random intercepts: the likelihood integrated over each customer's effect
        (adaptive quadrature with the fit's nodes).
        """
        data = self._prepare(panel)
        kind = self._heterogeneity_kind()
        if kind == "classes":
            return self._latent_classes(data).evaluate(self.theta_, gradient=False).loglik
        if self.theta_.size > self.layout_.n_params:  # random intercepts
            from complaintpanel.hmm.heterogeneity import (
                BivariateRandomIntercepts,
                RandomIntercepts,
            )
            info = self.results_.extra["heterogeneity"]
            integrated = (BivariateRandomIntercepts if len(info.get("effects", ())) == 2
                          else RandomIntercepts)
            return integrated.from_data(self.layout_, data, self.chunk_size,
                                        n_nodes=info["quadrature_nodes"]
                                        ).adapt(self.theta_).loglik
        return evaluate(self.theta_, self.layout_, data.chunks(self.chunk_size),
                        gradient=False).loglik

    def _heterogeneity_kind(self) -> str:
        info = getattr(self, "results_", None)
        if info is None:
            return "none"
        return str((info.extra.get("heterogeneity") or {}).get("kind", "none"))

    def _latent_classes(self, data: PanelArrays) -> Any:
        from complaintpanel.hmm.classes import LatentClasses
        info = self.results_.extra["heterogeneity"]
        return LatentClasses.from_data(self.layout_, data, self.chunk_size,
                                       n_classes=int(info["classes"]),
                                       blocks=tuple(info["class_blocks"]))

    def class_proba(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Each customer's posterior class membership ``P(class c | her data)``.

        Shared by the customer's brand sequences (the class is the customer's).

        Returns
        -------
        DataFrame
            ``customer_id`` and one column ``p_class<c>`` per class (class 0 = smallest δ).
        """
        if self._heterogeneity_kind() != "classes":
            raise ValueError("class_proba needs a fit with heterogeneity='classes'")
        data = self._prepare(panel)
        posterior = self._latent_classes(data).evaluate(self.theta_,
                                                        gradient=False).class_posterior
        # customers in the order of customer_groups (pd.factorize: first appearance)
        customers = pd.factorize(data.sequences["customer_id"].to_numpy())[1]
        frame = pd.DataFrame({"customer_id": customers})
        for c in range(posterior.shape[0]):
            frame[f"p_class{c}"] = posterior[c]
        return frame

    def score_samples(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Log-likelihood of each customer–brand sequence."""
        data = self._prepare(panel)
        ev = evaluate(self.theta_, self.layout_, data.chunks(self.chunk_size), gradient=False)
        return data.sequences.assign(loglike=ev.loglik_seq)

    def _posteriors(self, data: PanelArrays) -> tuple[np.ndarray, np.ndarray]:
        if self.spec_.reply_process:
            logits = self.layout_.reply_logits(self.theta_)
            assert logits is not None  # the layout of a reply-process specification
            return reply_process.state_probabilities(self.model_params_, self.layout_, data,
                                                     self.misclassification_, logits)
        log_initial, cdf, terms = model_arrays(self.model_params_, self.layout_, data,
                                               self.misclassification_)
        fb = core.forward_backward_cumulative(log_initial, cdf, terms.log_density, data.mask)
        return fb.posterior, fb.alpha

    def _cells(self, data: PanelArrays, values: np.ndarray, names: list[str]) -> pd.DataFrame:
        """Panel rows (keys + period) with per-cell values from ``(T, [K,] N)`` arrays."""
        t_idx, n_idx = np.nonzero(data.mask)
        order = np.argsort(data.rows[t_idx, n_idx])
        t_idx, n_idx = t_idx[order], n_idx[order]
        frame = data.frame.loc[:, ["customer_id", "brand", "period"]].reset_index(drop=True)
        if values.ndim == 3:
            for k, name in enumerate(names):
                frame[name] = values[t_idx, k, n_idx]
        else:
            frame[names[0]] = values[t_idx, n_idx]
        return frame

    def predict_proba(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Smoothed state probabilities ``P(s_t = k | all data)`` for every panel row.

        Returns
        -------
        DataFrame
            ``customer_id``, ``brand``, ``period`` and one column ``p_<state>`` per state.
        """
        data = self._prepare(panel)
        posterior, _ = self._posteriors(data)
        return self._cells(data, posterior, [f"p_{s}" for s in self.state_names_])

    def filtered_proba(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Return filtered state probabilities ``P(s_t = k | data up to t)`` for every row."""
        data = self._prepare(panel)
        _, alpha = self._posteriors(data)
        return self._cells(data, alpha, [f"p_{s}" for s in self.state_names_])

    def filtered_last_proba(self, panel: pd.DataFrame,
                            params: Sequence[ModelParams] | None = None) -> pd.DataFrame:
        """Return filtered state probabilities at each customer–brand sequence's last period.

        ``P(s_T = k | data up to T)``, where the model's simulations of the future start.

        Parameters
        ----------
        panel : DataFrame
        params : sequence of ModelParams, optional
            Evaluate at each of these parameter sets (of this model's specification, e.g.
            draws from :meth:`RelationshipHMMResults.draw_model_params`) instead of the
            fitted ones; the panel is prepared once for all of them.

        Returns
        -------
        DataFrame
            One row per sequence, in the order of :meth:`model_frame`'s sequences:
            ``customer_id``, ``brand``, ``period`` (the last one) and ``p_<state>``; with
            ``params``, one block of rows per parameter set, numbered in a first column
            ``draw``.
        """
        data = self._prepare(panel)
        sets = [self.model_params_] if params is None else list(params)
        n = data.n_sequences
        last = data.rows[data.lengths - 1, np.arange(n)]
        keys = data.frame.loc[last, ["customer_id", "brand", "period"]].reset_index(drop=True)
        columns = [f"p_{s}" for s in self.state_names_]
        blocks = []
        for draw, values in enumerate(sets):
            if values.spec != self.spec_:
                raise ValueError("the parameters belong to another specification")
            if self.spec_.reply_process:
                logits = self.layout_.reply_logits(self.theta_)
                assert logits is not None  # the layout of a reply-process specification
                _, alpha = reply_process.state_probabilities(
                    values, self.layout_, data, self.misclassification_, logits)
                end = alpha[data.lengths - 1, :, np.arange(n)]
            else:
                end = last_filtered(values, self.layout_, [data], self.misclassification_)
            block = keys.copy()
            block[columns] = end
            if params is not None:
                block.insert(0, "draw", draw)
            blocks.append(block)
        return pd.concat(blocks, ignore_index=True)

    def model_frame(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Return the panel as the model sees it.

        Sorted by customer, brand and period, with the specification's covariates derived
        (``intervened``, ``redress``, ``peer_voice``, ``unanswered_complaints``,
        ``fast_reply``) and, under first-contact conditioning, leading periods without a
        complaint or a compliment dropped (:func:`~complaintpanel.hmm.data.prepare_panel`).
        """
        return self._prepare(panel).frame

    def decode(self, panel: pd.DataFrame) -> tuple[float, pd.DataFrame]:
        """Most likely state paths (Viterbi).

        Returns
        -------
        log_prob : float
            Joint log-probability of the data and the decoded paths (first-contact conditioned
            as the likelihood).
        states : DataFrame
            ``customer_id``, ``brand``, ``period``, ``state`` (0 = worst).
        """
        if self.spec_.reply_process:
            raise NotImplementedError("Viterbi decoding over the reply process's latent "
                                      "redress and intervention is not implemented; use "
                                      "predict_proba")
        data = self._prepare(panel)
        log_initial, cdf, terms = model_arrays(self.model_params_, self.layout_, data,
                                               self.misclassification_)
        with np.errstate(divide="ignore"):
            log_transition = np.log(probs_from_cdf(cdf))
        log_prob, states = core.viterbi(log_initial, log_transition, terms.log_density,
                                        data.mask)
        total = float(log_prob.sum())
        if self.spec_.first_contact == "joint":
            total -= float(log_joint_contact(log_initial, terms).sum())
        return total, self._cells(data, states, ["state"])

    def predict(self, panel: pd.DataFrame) -> pd.Series:
        """Viterbi state of every panel row (0 = worst)."""
        return self.decode(panel)[1]["state"]

    def sample(self, n_customers: int, n_periods: int = 26, *, n_brands: int = 3,
               reply_probs: tuple[float, ...] | None = None,
               random_state: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Draw a panel from the fitted model (simulator conventions, true states included).

        See :func:`complaintpanel.hmm.sampling.sample_panel`.
        """
        self._check_fitted()
        return sample_panel(self.model_params_, n_customers, n_periods, n_brands=n_brands,
                            reply_probs=reply_probs, random_state=random_state)


def _with_neutral(nat: ModelParams, spec: ModelSpec, neutral: np.ndarray, *,
                  a: np.ndarray | None = None, c: np.ndarray | None = None) -> ModelParams:
    """Naive parameters moved to the corrected specification ``spec`` (neutral rates added)."""
    return ModelParams(
        spec=spec, a=nat.a if a is None else a, c=nat.c if c is None else c,
        beta_c=nat.beta_c, beta_p=nat.beta_p, beta_tr=nat.beta_tr, tau=nat.tau, init=nat.init,
        sent_mean=nat.sent_mean, sent_log_sd=nat.sent_log_sd, reply_brand=nat.reply_brand,
        reply_state=nat.reply_state, neutral=neutral)


# Relative size below which an eigenvalue of the observed information counts as zero.
INFORMATION_RTOL = 1e-10
# A coordinate is flat when an eigenvector with eigenvalue below FLAT_RTOL × the largest lies
# (to FLAT_LOADING of its squared length) on it alone. Measured: coordinates at the edge gave
# 2e-16 and 1.2e-9 (the optimiser stops wherever the gradient vanishes, so how small depends
# on how far out it went); the smallest relative eigenvalue of interior fits is about 3e-4
# (default world, 800- and 1,000-customer worlds), so 1e-6 leaves two decades either side.
FLAT_RTOL = 1e-6
FLAT_LOADING = 0.999


def flat_coordinates(information: np.ndarray) -> list[int]:
    """Coordinates of ``θ`` in which the log-likelihood is flat at the optimum, each alone.

    A coordinate is flat when an eigenvector of the observed information with eigenvalue at
    most ``FLAT_RTOL`` × the largest lies (to ``FLAT_LOADING`` of its squared length) on that
    coordinate. This is what an estimate at the edge of the parameter space looks
    like in the unconstrained vector: a transition probability of 0 puts a threshold's log
    gap far out, where the likelihood no longer changes with it (measured: on about a third
    of the worlds with customer random effects, ``τ[poor, 2]`` ran to 35.8, P(poor → good)
    ≈ 0). A null direction shared by several coordinates (parameters identified only
    together) is not flat in this sense. Left in, such a coordinate gets a Wald variance so
    large that parameter draws (:meth:`~complaintpanel.hmm.results.RelationshipHMMResults.
    draw_theta`, the policies' uncertainty) throw the threshold to either side of the others
    and invent transitions the data rule out.
    """
    information = (information + information.T) / 2
    eigenvalues, eigenvectors = np.linalg.eigh(information)
    cutoff = FLAT_RTOL * max(float(eigenvalues.max()), 1.0)
    flat: list[int] = []
    for value, vector in zip(eigenvalues, eigenvectors.T, strict=True):
        if value > cutoff:
            break
        j = int(np.argmax(vector**2))
        if vector[j] ** 2 >= FLAT_LOADING:
            flat.append(j)
    return sorted(set(flat))


def _invert_information(information: np.ndarray) -> tuple[np.ndarray, bool]:
    """Covariance of ``θ̂`` from the observed information, and whether it was invertible.

    Coordinates in which the likelihood is flat (:func:`flat_coordinates`: an estimate at the
    edge of the parameter space) are held at their estimate: their rows and columns of the
    covariance are exactly 0 and the rest is the inverse of the information without them,
    which is the covariance of the other estimates given the edge. The results report such a
    parameter's standard error as undefined (NaN) and name it
    (:attr:`~complaintpanel.hmm.results.RelationshipHMMResults.held_at_edge`). The
    information still counts as positive definite when what is left is. Otherwise the
    covariance is a pseudo-inverse with the same eigenvalue cut-off, a warning is issued and
    ``False`` is returned.
    """
    information = (information + information.T) / 2
    flat = flat_coordinates(information)
    keep = np.setdiff1d(np.arange(information.shape[0]), flat)
    inner = information[np.ix_(keep, keep)]
    eigenvalues = np.linalg.eigvalsh(inner)
    cutoff = INFORMATION_RTOL * max(float(eigenvalues.max()), 1.0)
    cov = np.zeros_like(information)
    if eigenvalues.min() <= cutoff:
        warnings.warn("the observed information is not positive definite: some parameters "
                      "are (nearly) unidentified; standard errors use a pseudo-inverse",
                      RuntimeWarning, stacklevel=3)
        cov[np.ix_(keep, keep)] = np.linalg.pinv(inner, rcond=INFORMATION_RTOL,
                                                 hermitian=True)
        return cov, False
    cov[np.ix_(keep, keep)] = np.linalg.inv(inner)
    return cov, True


def _cluster_sandwich(theta: np.ndarray, layout: ParamLayout, chunks: list[PanelArrays],
                      data: PanelArrays, bread: np.ndarray) -> np.ndarray:
    """Customer-clustered sandwich ``H⁻¹ (Σ_g s_g s_g') H⁻¹ · G/(G−1)``."""
    scores = evaluate(theta, layout, chunks, scores=True).scores
    assert scores is not None  # asked for: (p, N)
    codes, uniques = pd.factorize(data.sequences["customer_id"].to_numpy())
    clustered = np.zeros((scores.shape[0], len(uniques)))
    np.add.at(clustered.T, codes, scores.T)
    g = len(uniques)
    meat = clustered @ clustered.T * g / max(g - 1, 1)
    return bread @ meat @ bread


def select_n_states(panel: pd.DataFrame, n_states: Sequence[int] = (2, 3, 4),
                    **kwargs: Any) -> pd.DataFrame:
    """Fit several K and compare them by BIC (smaller is better).

    Returns
    -------
    DataFrame
        One row per K: ``loglike``, ``n_params``, ``aic``, ``bic``, ``n_starts_converged``,
        ``best`` (lowest BIC).
    """
    rows = []
    for k in n_states:
        res = RelationshipHMM(n_states=k, **kwargs).fit(panel).results_
        rows.append({"n_states": k, "loglike": res.loglike, "n_params": res.n_params,
                     "aic": res.aic, "bic": res.bic,
                     "n_starts_converged": res.n_starts_converged, "n_starts": res.n_starts})
    table = pd.DataFrame(rows)
    table["best"] = table["bic"] == table["bic"].min()
    return table
