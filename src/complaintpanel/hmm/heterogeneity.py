"""Customers differ: a normal random intercept in the complaint rate (DESIGN.md §4.2, issue 16).

Customer *i* carries a random effect ``u_i ~ Normal(0, 1)`` that shifts the complaint
log-rate of every state and period by ``σ·u_i``:
``complaints ~ Poisson(exp(a_k + σ·u_i + γ·R_t + …))``. Without it, persistent loudness
masquerades as the squeaky wheel: loud customers are answered sooner, so redress and a high
complaint rate go together across customers even at a given relationship state.

The customer's likelihood integrates the effect out,

    L_i = ∫ Π_{s ∈ i} L_s(θ; σu) φ(u) du ≈ Σ_q w_q Π_{s ∈ i} L_s(θ_q),

by Gauss–Hermite quadrature for the weight ``φ`` (:func:`numpy.polynomial.hermite_e.hermegauss`,
nodes ``z_q``, weights normalised to sum to one), where ``s`` runs over the customer's
customer–brand sequences. For node *q* the model is the homogeneous one with the complaint
log-rates shifted by ``σ·z_q``; in the unconstrained vector that is ``θ_q = θ + σ z_q e_0``
(``a_0`` is the first element of ``θ``'s ``a`` block and the others are log gaps,
:class:`~complaintpanel.hmm.parametrisation.ParamLayout`). So the forward pass runs once per
node through :func:`complaintpanel.hmm.likelihood.evaluate`, and the gradient follows from
the homogeneous per-sequence scores:

    ∂ log L_i / ∂θ = Σ_q π_iq ∇ log L_i(θ_q),
    ∂ log L_i / ∂σ = Σ_q π_iq z_q ∂ log L_i(θ_q) / ∂θ_{a_0},

with ``π_iq = w_q L_i(θ_q) / L_i`` the posterior of node *q* for customer *i* (the
derivative of ``log L_i(θ_q)`` w.r.t. ``θ_{a_0}`` is the sum of its derivatives w.r.t. all
complaint log-rates). The validation sample of the misclassification layer, when there is
one, does not depend on the customer and is added once.

σ enters the optimiser's vector unconstrained, as its last element: the likelihood is even
in σ (the normal and the nodes are symmetric), so σ̂ may come out negative and is reported
as ``|σ̂|`` (the standard error is the same). Keeping σ = 0 inside the parameter space lets
homogeneous panels give σ̂ ≈ 0 without an optimiser stuck at a bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import minimize
from scipy.special import logsumexp

from complaintpanel.hmm.data import PanelArrays
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.results import RelationshipHMMResults, StartReport

__all__ = [
    "HETEROGENEITY",
    "SIGMA_NAME",
    "RandomInterceptEvaluation",
    "customer_groups",
    "evaluate_random_intercepts",
    "fit_random_intercepts",
    "heterogeneity_table",
    "quadrature",
]

HETEROGENEITY = ("none", "random_intercepts")
SIGMA_NAME = "sigma[complaint]"  # reported name of the random intercept's standard deviation
SIGMA_START = 0.5  # start of σ from the homogeneous optimum (the likelihood is flat at σ = 0)


def quadrature(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for a standard normal (probabilists' Hermite).

    Parameters
    ----------
    n_nodes : int
        Number of nodes (exact for polynomials of degree up to ``2·n_nodes − 1``).

    Returns
    -------
    nodes, weights : ndarray, shape (n_nodes,)
        ``Σ_q w_q f(z_q) ≈ E f(Z)``, ``Z ~ Normal(0, 1)``; the weights sum to one.
    """
    if n_nodes < 1:
        raise ValueError("quadrature_nodes must be at least 1")
    nodes, weights = hermegauss(n_nodes)
    return nodes, weights / weights.sum()


def customer_groups(data: PanelArrays) -> tuple[np.ndarray, int]:
    """Index of each sequence's customer (random effects are per customer, not per sequence).

    Returns
    -------
    codes : ndarray of int, shape (N,)
    n_customers : int
    """
    codes, uniques = pd.factorize(data.sequences["customer_id"].to_numpy())
    return codes.astype(np.int64), len(uniques)


def _sum_by_group(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the last axis of ``values`` by group: (..., N) → (..., G)."""
    flat = values.reshape(-1, values.shape[-1])
    out = np.stack([np.bincount(codes, weights=row, minlength=n_groups) for row in flat])
    return out.reshape(values.shape[:-1] + (n_groups,))


@dataclass(frozen=True)
class RandomInterceptEvaluation:
    """Log-likelihood (and gradient) of the random-intercept model at one parameter vector.

    Attributes
    ----------
    loglik : float
        Total log-likelihood (validation sample included, when there is one).
    loglik_customer : ndarray, shape (G,)
        Per-customer log-likelihood ``log L_i``.
    grad : ndarray or None, shape (p + 1,)
        Gradient w.r.t. ``(θ, σ)``.
    scores : ndarray or None, shape (p + 1, G)
        Per-customer gradients (panel part only).
    node_posterior : ndarray, shape (Q, G)
        ``π_iq``, each customer's posterior over the quadrature nodes.
    """

    loglik: float
    loglik_customer: np.ndarray
    grad: np.ndarray | None
    scores: np.ndarray | None
    node_posterior: np.ndarray

    def gradient(self) -> np.ndarray:
        """Return the gradient, which must have been asked for."""
        if self.grad is None:
            raise ValueError("this evaluation was made without the gradient")
        return self.grad


def evaluate_random_intercepts(theta: np.ndarray, layout: ParamLayout,
                               chunks: list[PanelArrays], codes: np.ndarray, n_groups: int,
                               n_nodes: int = 9, *, gradient: bool = True,
                               scores: bool = False) -> RandomInterceptEvaluation:
    """Log-likelihood of the random-intercept model at ``(θ, σ)`` by Gauss–Hermite quadrature.

    Parameters
    ----------
    theta : ndarray, shape (p + 1,)
        The homogeneous model's unconstrained vector (:class:`ParamLayout`) followed by σ.
    layout : ParamLayout
        Layout of the homogeneous part.
    chunks : list of PanelArrays
        The panel in blocks of sequences, in the order of ``codes``.
    codes : ndarray of int, shape (N,)
        Customer index of each sequence (:func:`customer_groups`).
    n_groups : int
        Number of customers G.
    n_nodes : int
        Quadrature nodes Q.
    gradient, scores : bool
        Also compute the gradient; also return per-customer gradients.

    Returns
    -------
    RandomInterceptEvaluation
    """
    theta = np.asarray(theta, dtype=float)
    p = layout.n_params
    if theta.size != p + 1:
        raise ValueError(f"expected {p + 1} parameters (θ and σ), got {theta.size}")
    base, sigma = theta[:p], float(theta[p])
    a0 = layout.slices["a"].start
    nodes, weights = quadrature(n_nodes)
    need_grad = gradient or scores
    log_joint = np.empty((n_nodes, n_groups))
    node_scores = np.empty((n_nodes, p, n_groups)) if need_grad else None
    validation_loglik = 0.0
    validation_grad = np.zeros(p)
    for q, z in enumerate(nodes):
        shifted = base.copy()
        shifted[a0] += sigma * z
        ev = evaluate(shifted, layout, chunks, gradient=False, scores=need_grad)
        log_joint[q] = _sum_by_group(ev.loglik_seq, codes, n_groups)
        if q == 0:  # the validation sample's part is the same at every node
            validation_loglik = ev.loglik - float(ev.loglik_seq.sum())
        if node_scores is not None:
            assert ev.scores is not None and ev.grad is not None  # asked for
            node_scores[q] = _sum_by_group(ev.scores, codes, n_groups)
            if q == 0:
                validation_grad = ev.grad - ev.scores.sum(axis=1)
    log_joint += np.log(weights)[:, None]
    loglik_customer = logsumexp(log_joint, axis=0)
    posterior = np.exp(log_joint - loglik_customer[None, :])
    total = float(loglik_customer.sum()) + validation_loglik
    if node_scores is None:
        return RandomInterceptEvaluation(total, loglik_customer, None, None, posterior)
    per_customer = np.empty((p + 1, n_groups))
    per_customer[:p] = np.einsum("qg,qpg->pg", posterior, node_scores)
    per_customer[p] = np.einsum("qg,q,qg->g", posterior, nodes, node_scores[:, a0])
    grad = per_customer.sum(axis=1)
    grad[:p] += validation_grad
    return RandomInterceptEvaluation(total, loglik_customer, grad,
                                     per_customer if scores else None, posterior)


# ---------------------------------------------------------------------------------- fitting
def _optimise(theta0: np.ndarray, layout: ParamLayout, chunks: list[PanelArrays],
              codes: np.ndarray, n_groups: int, n_nodes: int, nobs: int, *,
              max_iter: int, gtol: float) -> tuple[np.ndarray, StartReport]:
    """L-BFGS-B on the negative mean log-likelihood (as the homogeneous optimiser)."""
    started = time.perf_counter()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ev = evaluate_random_intercepts(theta, layout, chunks, codes, n_groups, n_nodes)
        grad = ev.gradient()
        if not np.isfinite(ev.loglik) or not np.all(np.isfinite(grad)):
            return 1e10, np.zeros_like(theta)
        return -ev.loglik / nobs, -grad / nobs

    bounds = layout.bounds() + [(-5.0, 5.0)]
    result = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-14,
                               "gtol": gtol})
    small_gradient = float(np.max(np.abs(result.jac))) < 100 * gtol
    report = StartReport(loglike=-float(result.fun) * nobs,
                         converged=bool(result.success or small_gradient),
                         n_iter=int(result.nit), n_eval=int(result.nfev),
                         message=str(result.message), seconds=time.perf_counter() - started)
    return np.asarray(result.x), report


def _observed_information(theta: np.ndarray, layout: ParamLayout, chunks: list[PanelArrays],
                          codes: np.ndarray, n_groups: int, n_nodes: int,
                          step: float = 1e-4) -> np.ndarray:
    """``−∂²ℓ/∂θ∂θ'`` by central differences of the analytic gradient."""
    p = theta.size
    hessian = np.empty((p, p))
    for i in range(p):
        h = step * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        hessian[:, i] = (
            evaluate_random_intercepts(up, layout, chunks, codes, n_groups, n_nodes).gradient()
            - evaluate_random_intercepts(down, layout, chunks, codes, n_groups,
                                         n_nodes).gradient()) / (2 * h)
    return -(hessian + hessian.T) / 2


def start_from_homogeneous(theta: np.ndarray, layout: ParamLayout,
                           sigma: float = SIGMA_START) -> np.ndarray:
    """Start vector ``(θ, σ)`` from the homogeneous optimum.

    The complaint log-rates move down by ``σ²/2`` so that the mean rate over customers,
    ``exp(a + σ²/2)``, stays where the homogeneous fit put it.
    """
    start = np.append(np.asarray(theta, dtype=float)[:layout.n_params], sigma)
    start[layout.slices["a"].start] -= sigma**2 / 2
    return start


def fit_random_intercepts(homogeneous: RelationshipHMMResults, data: PanelArrays,
                          chunks: list[PanelArrays], *, n_nodes: int = 9,
                          max_iter: int = 2000, gtol: float = 1e-7,
                          sigma_start: float = SIGMA_START) -> RelationshipHMMResults:
    """Fit the random-intercept model from a homogeneous fit's optimum.

    One L-BFGS-B run from :func:`start_from_homogeneous` (the homogeneous search's several
    starts have already located the state structure); standard errors from the observed
    information of ``(θ, σ)``.

    Parameters
    ----------
    homogeneous : RelationshipHMMResults
        The homogeneous fit on the same panel (its optimum is the start; its log-likelihood
        and BIC are recorded beside the new ones).
    data : PanelArrays
    chunks : list of PanelArrays
        ``data`` in blocks, in order.
    n_nodes : int
        Gauss–Hermite nodes.
    max_iter, gtol : see :class:`~complaintpanel.hmm.RelationshipHMM`.
    sigma_start : float
        Start value of σ.

    Returns
    -------
    RelationshipHMMResults
        With σ among ``params`` (``sigma[complaint]``) and
        ``extra["heterogeneity"]`` = the kind, the nodes and the homogeneous fit's summary.
    """
    from complaintpanel.hmm.estimator import _invert_information

    started = time.perf_counter()
    layout = ParamLayout(homogeneous.spec)
    codes, n_groups = customer_groups(data)
    theta0 = start_from_homogeneous(homogeneous.theta, layout, sigma_start)
    theta, report = _optimise(theta0, layout, chunks, codes, n_groups, n_nodes, data.nobs,
                              max_iter=max_iter, gtol=gtol)
    information = _observed_information(theta, layout, chunks, codes, n_groups, n_nodes)
    cov_theta, hessian_ok = _invert_information(information)
    extra = dict(homogeneous.extra)
    extra["heterogeneity"] = {
        "kind": "random_intercepts",
        "quadrature_nodes": n_nodes,
        "integrated_over": "customers",
        "homogeneous": {
            "loglike": homogeneous.loglike, "n_params": homogeneous.n_params,
            "bic": homogeneous.bic, "aic": homogeneous.aic,
            "params": {k: float(v) for k, v in homogeneous.params.items()},
            "bse": {k: float(v) for k, v in homogeneous.bse.items()},
            "fit_seconds": homogeneous.fit_seconds,
        },
        "random_intercepts_seconds": time.perf_counter() - started,
    }
    results = RelationshipHMMResults(
        spec=homogeneous.spec, theta=theta, cov_theta=cov_theta, loglike=report.loglike,
        nobs=homogeneous.nobs, n_sequences=homogeneous.n_sequences,
        n_customers=homogeneous.n_customers, starts=[report], cov_type="oim",
        optimum_tol=homogeneous.optimum_tol,
        fit_seconds=homogeneous.fit_seconds + time.perf_counter() - started,
        dropped_rows=homogeneous.dropped_rows, hessian_ok=hessian_ok, extra=extra)
    results.extra["heterogeneity"]["bic_selects"] = (
        "random_intercepts" if results.bic < homogeneous.bic else "none")
    return results


def heterogeneity_table(results: RelationshipHMMResults) -> pd.DataFrame:
    """Compare the homogeneous and the random-intercept fit by BIC (smaller is better).

    Parameters
    ----------
    results : RelationshipHMMResults
        A random-intercept fit (it carries the homogeneous fit's summary).

    Returns
    -------
    DataFrame
        One row per heterogeneity: ``loglike``, ``n_params``, ``aic``, ``bic``, ``best``.
    """
    info: dict[str, Any] | None = results.extra.get("heterogeneity")
    if info is None:
        raise ValueError("these results have no heterogeneity (fit with "
                         "heterogeneity='random_intercepts')")
    homogeneous = info["homogeneous"]
    table = pd.DataFrame([
        {"heterogeneity": "none", "loglike": homogeneous["loglike"],
         "n_params": homogeneous["n_params"], "aic": homogeneous["aic"],
         "bic": homogeneous["bic"]},
        {"heterogeneity": info["kind"], "loglike": results.loglike,
         "n_params": results.n_params, "aic": results.aic, "bic": results.bic},
    ])
    table["best"] = table["bic"] == table["bic"].min()
    return table
