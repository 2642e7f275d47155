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

With ``effects=("complaint", "compliment")`` the intercept is bivariate,
:class:`BivariateRandomIntercepts`: correlated shifts of the complaint and compliment log-rates,
Cholesky-parametrised ``(l11, l21, l22)``, integrated on a product grid of adaptive
Gauss–Hermite nodes and reported as both standard deviations and the correlation
(:func:`bivariate_reported`).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import minimize
from scipy.special import logsumexp

from complaintpanel.hmm.data import PanelArrays
from complaintpanel.hmm.likelihood import (
    evaluate,
    filtered_last_states,
    information_from_gradient,
)
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.results import RelationshipHMMResults, StartReport

__all__ = [
    "BIVARIATE_NAMES",
    "CANDIDATES",
    "DEFAULT_CANDIDATES",
    "EFFECTS",
    "HETEROGENEITY",
    "SIGMA_NAME",
    "BivariateRandomIntercepts",
    "RandomInterceptEvaluation",
    "RandomIntercepts",
    "bivariate_reported",
    "check_effects",
    "cholesky_factor",
    "customer_groups",
    "evaluate_random_intercepts",
    "fit_random_intercepts",
    "heterogeneity_table",
    "maximise",
    "observed_information",
    "polish",
    "quadrature",
    "quadrature_grid",
    "select_heterogeneity",
    "start_from_homogeneous",
    "start_from_homogeneous_bivariate",
]

HETEROGENEITY = ("none", "random_intercepts", "classes")
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


def _sequence_ranges(chunks: list[PanelArrays], codes: np.ndarray) -> list[tuple[int, int]]:
    """Each chunk's ``(first, end)`` sequence positions; ``codes`` must cover them all."""
    bounds = np.cumsum([0] + [chunk.n_sequences for chunk in chunks])
    if bounds[-1] != codes.size:
        raise ValueError("codes must have one entry per sequence of the chunks")
    return [(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]


def _sum_by_group(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the last axis of ``values`` by group: (..., N) → (..., G)."""
    flat = values.reshape(-1, values.shape[-1])
    out = np.stack([np.bincount(codes, weights=row, minlength=n_groups) for row in flat])
    return out.reshape((*values.shape[:-1], n_groups))


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
    effect_mean, effect_sd : ndarray, shape (G,)
        Posterior mean and standard deviation of each customer's ``u_i`` (by the quadrature).
    """

    loglik: float
    loglik_customer: np.ndarray
    grad: np.ndarray | None
    scores: np.ndarray | None
    node_posterior: np.ndarray
    effect_mean: np.ndarray
    effect_sd: np.ndarray

    def gradient(self) -> np.ndarray:
        """Return the gradient, which must have been asked for."""
        if self.grad is None:
            raise ValueError("this evaluation was made without the gradient")
        return self.grad


class RandomIntercepts:
    """The random-intercept likelihood of one panel, with (adaptive) Gauss–Hermite quadrature.

    Plain Gauss–Hermite puts node *q* at ``u = z_q`` for everyone. A customer followed for
    many weeks pins her ``u_i`` down to a narrow posterior that falls between the nodes
    (with 26 weeks and 9 nodes the customer's likelihood can be off by tens of percent), so
    by default the nodes are *adaptive* (Liu & Pierce 1994; Rabe-Hesketh, Skrondal & Pickles
    2005, as in lme4's ``nAGQ`` and gllamm): customer *i*'s nodes are ``u_iq = μ_i + s_i z_q``
    with ``μ_i, s_i`` her posterior mean and standard deviation of ``u``, and weights
    ``w_q s_i φ(u_iq) / φ(z_q)``. ``μ, s`` are held fixed within an evaluation (so the
    gradient is exact for the approximation used) and updated by :meth:`adapt`, which
    iterates posterior moments at given parameters. With ``μ = 0, s = 1`` (the start, and
    ``adaptive=False``) this is plain Gauss–Hermite.

    Per-customer shifts do not fit one ``θ`` for everyone, so the shift enters as an offset:
    an extra complaint covariate, constant over a sequence, with coefficient fixed at 1 (its
    derivative w.r.t. the offset equals the derivative w.r.t. ``θ_{a_0}``, a common shift of
    all complaint log-rates).

    Parameters
    ----------
    layout : ParamLayout
        Layout of the homogeneous model.
    chunks : list of PanelArrays
        The panel in blocks of sequences (in order).
    codes : ndarray of int, shape (N,)
        Customer of each sequence (:func:`customer_groups`).
    n_groups : int
    n_nodes : int
        Gauss–Hermite nodes Q.
    adaptive : bool
        Adapt the nodes to each customer's posterior (:meth:`adapt`).
    """

    OFFSET = "customer_effect"  # the offset's name in the augmented specification

    def __init__(self, layout: ParamLayout, chunks: list[PanelArrays], codes: np.ndarray,
                 n_groups: int, n_nodes: int = 9, adaptive: bool = True) -> None:
        self.layout = layout
        self.codes = np.asarray(codes, dtype=np.int64)
        self.n_groups = int(n_groups)
        self.n_nodes = int(n_nodes)
        self.adaptive = adaptive
        self.nodes, self.weights = quadrature(n_nodes)
        spec = layout.spec
        self._spec = dataclasses.replace(
            spec, complaint_covariates=(*spec.complaint_covariates, self.OFFSET))
        self._layout = ParamLayout(self._spec)
        self._offset_index = self._layout.slices["beta_c"].stop - 1
        self._chunks = [dataclasses.replace(
            chunk, x_complaint=np.concatenate(
                [chunk.x_complaint, np.zeros((1, *chunk.mask.shape))]))
            for chunk in chunks]
        self._ranges = _sequence_ranges(chunks, self.codes)
        self.mean = np.zeros(self.n_groups)
        self.sd = np.ones(self.n_groups)

    @classmethod
    def from_data(cls, layout: ParamLayout, data: PanelArrays, chunk_size: int = 4096,
                  **kwargs: Any) -> RandomIntercepts:
        """Build from a prepared panel (customers from its ``sequences``)."""
        codes, n_groups = customer_groups(data)
        return cls(layout, data.chunks(chunk_size), codes, n_groups, **kwargs)

    @property
    def n_params(self) -> int:
        """Length of ``(θ, σ)``."""
        return self.layout.n_params + 1

    def _augmented(self, theta: np.ndarray) -> np.ndarray:
        return np.insert(theta, self._offset_index, 1.0)

    def _set_offsets(self, shift: np.ndarray) -> None:
        """Write each sequence's complaint log-rate shift (by customer) into the offset row."""
        per_sequence = shift[self.codes]
        for chunk, (lo, hi) in zip(self._chunks, self._ranges, strict=True):
            chunk.x_complaint[-1] = per_sequence[None, lo:hi] * chunk.mask

    def evaluate(self, theta: np.ndarray, *, gradient: bool = True,
                 scores: bool = False) -> RandomInterceptEvaluation:
        """Log-likelihood (and gradient) at ``(θ, σ)`` with the current node placement.

        Parameters
        ----------
        theta : ndarray, shape (p + 1,)
            The homogeneous model's unconstrained vector followed by σ.
        gradient, scores : bool
            Also compute the gradient; also return per-customer gradients.

        Returns
        -------
        RandomInterceptEvaluation
        """
        theta = np.asarray(theta, dtype=float)
        p = self.layout.n_params
        if theta.size != p + 1:
            raise ValueError(f"expected {p + 1} parameters (θ and σ), got {theta.size}")
        sigma = float(theta[p])
        augmented = self._augmented(theta[:p])
        a0 = self.layout.slices["a"].start
        need_grad = gradient or scores
        n_q, n_g = self.n_nodes, self.n_groups
        # customer i's nodes u_iq = μ_i + s_i z_q and log weights log(w_q s_i φ(u_iq)/φ(z_q))
        u = self.mean[None, :] + self.sd[None, :] * self.nodes[:, None]
        log_joint = (np.log(self.weights)[:, None] + np.log(self.sd)[None, :]
                     + (self.nodes[:, None] ** 2 - u**2) / 2)
        node_scores = np.empty((n_q, p, n_g)) if need_grad else None
        validation_loglik = 0.0
        validation_grad = np.zeros(p)
        keep = np.r_[0:self._offset_index, self._offset_index + 1:p + 1]
        for q in range(n_q):
            self._set_offsets(sigma * u[q])
            ev = evaluate(augmented, self._layout, self._chunks, gradient=False,
                          scores=need_grad)
            log_joint[q] += _sum_by_group(ev.loglik_seq, self.codes, n_g)
            if q == 0:  # the validation sample's part is the same at every node
                validation_loglik = ev.loglik - float(ev.loglik_seq.sum())
            if node_scores is not None:
                assert ev.scores is not None and ev.grad is not None  # asked for
                node_scores[q] = _sum_by_group(ev.scores[keep], self.codes, n_g)
                if q == 0:
                    validation_grad = (ev.grad - ev.scores.sum(axis=1))[keep]
        loglik_customer = logsumexp(log_joint, axis=0)
        posterior = np.exp(log_joint - loglik_customer[None, :])
        mean = (posterior * u).sum(axis=0)
        sd = np.sqrt(np.maximum((posterior * u**2).sum(axis=0) - mean**2, 0.0))
        total = float(loglik_customer.sum()) + validation_loglik
        if node_scores is None:
            return RandomInterceptEvaluation(total, loglik_customer, None, None, posterior,
                                             mean, sd)
        per_customer = np.empty((p + 1, n_g))
        per_customer[:p] = np.einsum("qg,qpg->pg", posterior, node_scores)
        per_customer[p] = np.einsum("qg,qg,qg->g", posterior, u, node_scores[:, a0])
        grad = per_customer.sum(axis=1)
        grad[:p] += validation_grad
        return RandomInterceptEvaluation(total, loglik_customer, grad,
                                         per_customer if scores else None, posterior, mean, sd)

    def adapt(self, theta: np.ndarray, max_iter: int = 20, tol: float = 1e-4
              ) -> RandomInterceptEvaluation:
        """Move each customer's nodes to her posterior of ``u`` at ``(θ, σ)``.

        Iterates ``μ_i, s_i ←`` the quadrature's posterior mean and standard deviation until
        they move less than ``tol`` (no-op when ``adaptive=False``).

        Returns
        -------
        RandomInterceptEvaluation
            The last evaluation (log-likelihood only), at the final placement.
        """
        ev = self.evaluate(theta, gradient=False)
        if not self.adaptive:
            return ev
        for _ in range(max_iter):
            sd = np.maximum(ev.effect_sd, 1e-3)
            change = max(float(np.max(np.abs(ev.effect_mean - self.mean))),
                         float(np.max(np.abs(np.log(sd / self.sd)))))
            self.mean, self.sd = ev.effect_mean, sd
            ev = self.evaluate(theta, gradient=False)
            if change < tol:
                break
        return ev

    def filtered_last(self, theta: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """End-state probabilities of every sequence given each of its customer's effects.

        Parameters
        ----------
        theta : ndarray, shape (p,)
            The homogeneous model's unconstrained vector.
        shifts : ndarray, shape (Q, G)
            Complaint log-rate shift of each customer at each of her nodes (``σ u_iq``).

        Returns
        -------
        ndarray, shape (Q, N, K)
            ``P(s_T = k | data, shift_q)`` of each sequence (chunks' order).
        """
        augmented = self._augmented(np.asarray(theta, dtype=float))
        out = []
        for shift in np.asarray(shifts, dtype=float):
            self._set_offsets(shift)
            out.append(filtered_last_states(augmented, self._layout, self._chunks))
        return np.stack(out)

    def reset(self) -> None:
        """Back to plain Gauss–Hermite (``μ = 0, s = 1``)."""
        self.mean = np.zeros(self.n_groups)
        self.sd = np.ones(self.n_groups)


# ------------------------------------------------------------------- bivariate intercepts
EFFECTS = ("complaint", "compliment")  # log-rates that can carry a customer random intercept
BIVARIATE_NAMES = ("sigma[complaint]", "sigma[compliment]", "corr[complaint,compliment]")
CHOLESKY_START = (SIGMA_START, 0.0, SIGMA_START)  # (l11, l21, l22) from the homogeneous optimum


def check_effects(effects: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate the log-rates with a random intercept: ``("complaint",)`` or both."""
    effects = tuple(effects)
    if effects not in (("complaint",), EFFECTS):
        raise ValueError("random_intercepts must be ['complaint'] or ['complaint', "
                         f"'compliment'], not {list(effects)}")
    return effects


def cholesky_factor(chol: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` from ``(l11, l21, l22)``; the effects are ``b = L z``."""
    l11, l21, l22 = (float(v) for v in chol)
    return np.array([[l11, 0.0], [l21, l22]])


def bivariate_reported(chol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(σ_c, σ_p, ρ)`` from the Cholesky elements, and their Jacobian (delta method).

    ``Σ = L L'``: ``σ_c = |l11|``, ``σ_p = √(l21² + l22²)``, ``ρ = sign(l11)·l21 / σ_p``. The
    likelihood is unchanged by flipping the sign of a column of ``L`` (``z_k → −z_k``), so the
    signs of ``l11`` and ``l22`` are not identified and the reported values do not depend on
    them.

    Parameters
    ----------
    chol : ndarray, shape (3,)
        ``(l11, l21, l22)``.

    Returns
    -------
    values : ndarray, shape (3,)
    jacobian : ndarray, shape (3, 3)
        ``∂(σ_c, σ_p, ρ) / ∂(l11, l21, l22)``.
    """
    l11, l21, l22 = (float(v) for v in chol)
    sign = -1.0 if l11 < 0 else 1.0
    sd_p = float(np.hypot(l21, l22))
    values = np.array([abs(l11), sd_p, sign * l21 / sd_p if sd_p > 0 else 0.0])
    jacobian = np.zeros((3, 3))
    jacobian[0, 0] = sign
    if sd_p > 0:
        jacobian[1, 1:] = (l21 / sd_p, l22 / sd_p)
        jacobian[2, 1:] = (sign * l22**2 / sd_p**3, -sign * l21 * l22 / sd_p**3)
    return values, jacobian


def quadrature_grid(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Product Gauss–Hermite grid for a standard bivariate normal.

    Returns
    -------
    nodes : ndarray, shape (n_nodes², 2)
    weights : ndarray, shape (n_nodes²,)
        ``Σ_q w_q f(z_q) ≈ E f(Z)``, ``Z ~ Normal(0, I₂)``; the weights sum to one.
    """
    z, w = quadrature(n_nodes)
    first, second = np.meshgrid(z, z, indexing="ij")
    nodes = np.column_stack([first.ravel(), second.ravel()])
    weights = np.outer(w, w).ravel()
    return nodes, weights


class BivariateRandomIntercepts:
    """Correlated random intercepts in the complaint and compliment log-rates (issue 16).

    Customer *i* carries ``b_i = L z_i``, ``z_i ~ Normal(0, I₂)``, ``L`` lower triangular
    with elements ``(l11, l21, l22)`` (the last three entries of the optimiser's vector):
    the complaint log-rates of every state and period shift by ``b_i1 = l11 z_i1`` and the
    compliment log-rates by ``b_i2 = l21 z_i1 + l22 z_i2``, so ``Var b = Σ = L L'``. The
    customer's likelihood is integrated over ``z`` by a product Gauss–Hermite grid
    (:func:`quadrature_grid`, ``n_nodes²`` forward passes), adapted to each customer's
    posterior as in :class:`RandomIntercepts`: her nodes are ``v_iq = μ_i + C_i z_q`` with
    ``μ_i`` her posterior mean of ``z`` and ``C_i`` the Cholesky factor of its posterior
    covariance, weights ``w_q |det C_i| φ₂(v_iq) / φ₂(z_q)``. The posterior of ``z`` is in
    general correlated (the compliment data inform ``l21 z_1 + l22 z_2``), hence the full
    factor rather than per-axis scales.

    Both shifts enter as offsets (an extra complaint and an extra compliment covariate with
    coefficient fixed at 1). The gradient follows from the homogeneous per-customer scores at
    each node: with ``g_c = ∂ log L_i(θ_q)/∂θ_{a_0}`` (a common shift of the complaint
    log-rates) and ``g_p = Σ_k ∂ log L_i(θ_q)/∂c_k`` (of the compliment log-rates),

        ∂ log L_i/∂l11 = Σ_q π_iq v_iq1 g_c,  ∂/∂l21 = Σ_q π_iq v_iq1 g_p,
        ∂/∂l22 = Σ_q π_iq v_iq2 g_p.

    Parameters
    ----------
    layout : ParamLayout
        Layout of the homogeneous model.
    chunks : list of PanelArrays
        The panel in blocks of sequences (in order).
    codes : ndarray of int, shape (N,)
        Customer of each sequence (:func:`customer_groups`).
    n_groups : int
    n_nodes : int
        Gauss–Hermite nodes per dimension (``n_nodes²`` in all).
    adaptive : bool
        Adapt the nodes to each customer's posterior (:meth:`adapt`).
    """

    OFFSET = RandomIntercepts.OFFSET
    N_EXTRA = 3

    def __init__(self, layout: ParamLayout, chunks: list[PanelArrays], codes: np.ndarray,
                 n_groups: int, n_nodes: int = 7, adaptive: bool = True) -> None:
        self.layout = layout
        self.codes = np.asarray(codes, dtype=np.int64)
        self.n_groups = int(n_groups)
        self.n_nodes = int(n_nodes)
        self.adaptive = adaptive
        self.nodes, self.weights = quadrature_grid(n_nodes)
        spec = layout.spec
        self._spec = dataclasses.replace(
            spec, complaint_covariates=(*spec.complaint_covariates, self.OFFSET),
            compliment_covariates=(*spec.compliment_covariates, self.OFFSET))
        self._layout = ParamLayout(self._spec)
        self._offsets = (self._layout.slices["beta_c"].stop - 1,
                         self._layout.slices["beta_p"].stop - 1)
        # where the two fixed coefficients go in θ (np.insert positions in the short vector)
        self._insert_at = [layout.slices["beta_c"].stop, layout.slices["beta_p"].stop]
        zeros = [np.zeros((1, *chunk.mask.shape)) for chunk in chunks]
        self._chunks = [dataclasses.replace(
            chunk, x_complaint=np.concatenate([chunk.x_complaint, zero]),
            x_compliment=np.concatenate([chunk.x_compliment, zero.copy()]))
            for chunk, zero in zip(chunks, zeros, strict=True)]
        self._ranges = _sequence_ranges(chunks, self.codes)
        self.reset()

    @classmethod
    def from_data(cls, layout: ParamLayout, data: PanelArrays, chunk_size: int = 4096,
                  **kwargs: Any) -> BivariateRandomIntercepts:
        """Build from a prepared panel (customers from its ``sequences``)."""
        codes, n_groups = customer_groups(data)
        return cls(layout, data.chunks(chunk_size), codes, n_groups, **kwargs)

    @property
    def n_params(self) -> int:
        """Length of ``(θ, l11, l21, l22)``."""
        return self.layout.n_params + self.N_EXTRA

    def reset(self) -> None:
        """Back to plain Gauss–Hermite (``μ = 0, C = I``)."""
        self.mean = np.zeros((self.n_groups, 2))
        self.chol = np.broadcast_to(np.eye(2), (self.n_groups, 2, 2)).copy()

    def filtered_last(self, theta: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """End-state probabilities of every sequence given each of its customer's effects.

        Parameters
        ----------
        theta : ndarray, shape (p,)
            The homogeneous model's unconstrained vector.
        shifts : ndarray, shape (Q, G, 2)
            Complaint and compliment log-rate shifts ``b = L v_iq`` of each customer at each
            of her nodes.

        Returns
        -------
        ndarray, shape (Q, N, K)
            ``P(s_T = k | data, b_q)`` of each sequence (chunks' order).
        """
        augmented = np.insert(np.asarray(theta, dtype=float), self._insert_at, 1.0)
        out = []
        for shift in np.asarray(shifts, dtype=float):
            self._set_offsets(shift[:, 0], shift[:, 1])
            out.append(filtered_last_states(augmented, self._layout, self._chunks))
        return np.stack(out)

    def _set_offsets(self, shift_c: np.ndarray, shift_p: np.ndarray) -> None:
        """Write each sequence's complaint and compliment log-rate shifts (by customer)."""
        per_c, per_p = shift_c[self.codes], shift_p[self.codes]
        for chunk, (lo, hi) in zip(self._chunks, self._ranges, strict=True):
            chunk.x_complaint[-1] = per_c[None, lo:hi] * chunk.mask
            chunk.x_compliment[-1] = per_p[None, lo:hi] * chunk.mask

    def node_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Each customer's nodes ``v_iq`` (Q, G, 2) and log weights (Q, G)."""
        v = self.mean[None, :, :] + np.einsum("gde,qe->qgd", self.chol, self.nodes)
        log_det = np.log(np.abs(self.chol[:, 0, 0] * self.chol[:, 1, 1]))
        log_weight = (np.log(self.weights)[:, None] + log_det[None, :]
                      + ((self.nodes**2).sum(axis=1)[:, None] - (v**2).sum(axis=2)) / 2)
        return v, log_weight

    def evaluate(self, theta: np.ndarray, *, gradient: bool = True,
                 scores: bool = False) -> RandomInterceptEvaluation:
        """Log-likelihood (and gradient) at ``(θ, l11, l21, l22)`` with the current nodes.

        Returns
        -------
        RandomInterceptEvaluation
            ``node_posterior`` has shape (Q, G); ``effect_mean`` (G, 2) is each customer's
            posterior mean of ``z`` and ``effect_sd`` (G, 2, 2) its posterior covariance.
        """
        theta = np.asarray(theta, dtype=float)
        p = self.layout.n_params
        if theta.size != p + self.N_EXTRA:
            raise ValueError(f"expected {p + self.N_EXTRA} parameters (θ, l11, l21, l22), "
                             f"got {theta.size}")
        l11, l21, l22 = theta[p:]
        augmented = np.insert(theta[:p], self._insert_at, 1.0)
        a0 = self.layout.slices["a"].start
        c_block = self.layout.slices["c"]
        need_grad = gradient or scores
        n_q, n_g = self.nodes.shape[0], self.n_groups
        v, log_joint = self.node_positions()
        shift_c = l11 * v[..., 0]
        shift_p = l21 * v[..., 0] + l22 * v[..., 1]
        node_scores = np.empty((n_q, p, n_g)) if need_grad else None
        validation_loglik = 0.0
        validation_grad = np.zeros(p)
        keep = np.delete(np.arange(self._layout.n_params), self._offsets)
        for q in range(n_q):
            self._set_offsets(shift_c[q], shift_p[q])
            ev = evaluate(augmented, self._layout, self._chunks, gradient=False,
                          scores=need_grad)
            log_joint[q] += _sum_by_group(ev.loglik_seq, self.codes, n_g)
            if q == 0:
                validation_loglik = ev.loglik - float(ev.loglik_seq.sum())
            if node_scores is not None:
                assert ev.scores is not None and ev.grad is not None  # asked for
                node_scores[q] = _sum_by_group(ev.scores[keep], self.codes, n_g)
                if q == 0:
                    validation_grad = (ev.grad - ev.scores.sum(axis=1))[keep]
        loglik_customer = logsumexp(log_joint, axis=0)
        posterior = np.exp(log_joint - loglik_customer[None, :])
        mean = np.einsum("qg,qgd->gd", posterior, v)
        centred = v - mean[None]
        cov = np.einsum("qg,qgd,qge->gde", posterior, centred, centred)
        total = float(loglik_customer.sum()) + validation_loglik
        if node_scores is None:
            return RandomInterceptEvaluation(total, loglik_customer, None, None, posterior,
                                             mean, cov)
        g_c = node_scores[:, a0]
        g_p = node_scores[:, c_block].sum(axis=1)
        per_customer = np.empty((p + self.N_EXTRA, n_g))
        per_customer[:p] = np.einsum("qg,qpg->pg", posterior, node_scores)
        per_customer[p] = np.einsum("qg,qg,qg->g", posterior, v[..., 0], g_c)
        per_customer[p + 1] = np.einsum("qg,qg,qg->g", posterior, v[..., 0], g_p)
        per_customer[p + 2] = np.einsum("qg,qg,qg->g", posterior, v[..., 1], g_p)
        grad = per_customer.sum(axis=1)
        grad[:p] += validation_grad
        return RandomInterceptEvaluation(total, loglik_customer, grad,
                                         per_customer if scores else None, posterior, mean,
                                         cov)

    def adapt(self, theta: np.ndarray, max_iter: int = 20, tol: float = 1e-4
              ) -> RandomInterceptEvaluation:
        """Move each customer's nodes to her posterior of ``z`` at ``θ``.

        Iterates ``μ_i, C_i ←`` the quadrature's posterior mean and the Cholesky factor of its
        covariance (eigenvalues floored at 1e-6, i.e. a standard deviation of 1e-3, as in
        the univariate case) until they move less than ``tol`` (no-op when
        ``adaptive=False``).
        """
        ev = self.evaluate(theta, gradient=False)
        if not self.adaptive:
            return ev
        for _ in range(max_iter):
            values, vectors = np.linalg.eigh(ev.effect_sd)
            floored = np.einsum("gij,gj,gkj->gik", vectors, np.maximum(values, 1e-6), vectors)
            chol = np.linalg.cholesky(floored)
            change = max(float(np.max(np.abs(ev.effect_mean - self.mean))),
                         float(np.max(np.abs(chol - self.chol))))
            self.mean, self.chol = ev.effect_mean, chol
            ev = self.evaluate(theta, gradient=False)
            if change < tol:
                break
        return ev


# the two integrated likelihoods share the fitting functions below
Integrated = RandomIntercepts | BivariateRandomIntercepts


def evaluate_random_intercepts(theta: np.ndarray, layout: ParamLayout,
                               chunks: list[PanelArrays], codes: np.ndarray, n_groups: int,
                               n_nodes: int = 9, *, gradient: bool = True,
                               scores: bool = False) -> RandomInterceptEvaluation:
    """Log-likelihood of the random-intercept model by plain Gauss–Hermite quadrature.

    A one-off evaluation (nodes at ``u = z_q`` for every customer); see
    :class:`RandomIntercepts` for the adaptive quadrature the fit uses.

    Parameters
    ----------
    theta : ndarray, shape (p + 1,)
        The homogeneous model's unconstrained vector followed by σ.
    layout : ParamLayout
    chunks : list of PanelArrays
    codes : ndarray of int, shape (N,)
    n_groups : int
    n_nodes : int
    gradient, scores : bool

    Returns
    -------
    RandomInterceptEvaluation
    """
    model = RandomIntercepts(layout, chunks, codes, n_groups, n_nodes, adaptive=False)
    return model.evaluate(theta, gradient=gradient, scores=scores)


# ---------------------------------------------------------------------------------- fitting
def _objective(model: Integrated, nobs: int
               ) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Negative mean log-likelihood and its gradient at fixed node placement."""

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ev = model.evaluate(theta)
        grad = ev.gradient()
        if not np.isfinite(ev.loglik) or not np.all(np.isfinite(grad)):
            return 1e10, np.zeros_like(theta)
        return -ev.loglik / nobs, -grad / nobs

    return objective


def _bounds(model: Integrated) -> list[tuple[float | None, float | None]]:
    return [*model.layout.bounds(),
            *[(-5.0, 5.0)] * (model.n_params - model.layout.n_params)]


def _optimise(theta0: np.ndarray, model: Integrated, nobs: int, *,
              max_iter: int, gtol: float) -> tuple[np.ndarray, StartReport]:
    """L-BFGS-B on the negative mean log-likelihood at fixed node placement."""
    started = time.perf_counter()
    result = minimize(_objective(model, nobs), theta0, jac=True, method="L-BFGS-B",
                      bounds=_bounds(model),
                      options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-14,
                               "gtol": gtol})
    small_gradient = float(np.max(np.abs(result.jac))) < 100 * gtol
    report = StartReport(loglike=-float(result.fun) * nobs,
                         converged=bool(result.success or small_gradient),
                         n_iter=int(result.nit), n_eval=int(result.nfev),
                         message=str(result.message), seconds=time.perf_counter() - started)
    return np.asarray(result.x), report


def polish(theta0: np.ndarray, model: Integrated, nobs: int, *, max_iter: int = 2000,
           gtol: float = 1e-7) -> tuple[np.ndarray, StartReport]:
    """BFGS at fixed node placement, its inverse Hessian started at the inverse OPG.

    As :func:`complaintpanel.hmm.estimator.polish` for the homogeneous model: the outer
    product of the per-customer scores at ``theta0`` (one evaluation with scores, plus the
    validation sample's information when there is one), eigenvalues floored, estimates the
    information near an optimum, so BFGS does not spend its iterations learning the curvature
    as L-BFGS-B does (on the default world :func:`maximise` took 47 iterations in three runs
    against L-BFGS-B's 126). When BFGS does not converge or leaves the box of bounds, L-BFGS-B
    (:func:`_optimise`) finishes from the better of its end point and ``theta0``, so the
    result is never worse than L-BFGS-B's.
    """
    from complaintpanel.hmm.estimator import preconditioned_bfgs, validation_information

    started = time.perf_counter()
    p = model.layout.n_params
    objective = _objective(model, nobs)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        at_start = model.evaluate(theta0, scores=True)
    scores = at_start.scores
    if scores is None or not np.all(np.isfinite(scores)):
        return _optimise(theta0, model, nobs, max_iter=max_iter, gtol=gtol)
    information = scores @ scores.T
    information[:p, :p] += validation_information(model.layout, np.asarray(theta0)[:p])
    information /= nobs
    return preconditioned_bfgs(
        objective, theta0, information, _bounds(model),
        lambda start: _optimise(start, model, nobs, max_iter=max_iter, gtol=gtol),
        nobs=nobs, label="BFGS preconditioned by the OPG", started=started,
        max_iter=max_iter, gtol=gtol)


OPTIMISERS = ("polish", "lbfgsb")


def maximise(theta0: np.ndarray, model: Integrated, nobs: int, *, max_iter: int = 2000,
             gtol: float = 1e-7, max_rounds: int = 6, tol: float = 1e-2,
             round_gtol: float = 1e-4, optimiser: str = "polish"
             ) -> tuple[np.ndarray, StartReport, int]:
    """Maximise the likelihood, re-adapting the nodes between optimiser runs.

    Adapt at the start; then optimise at fixed nodes and re-adapt at that optimum, until
    re-adapting moves the log-likelihood by less than ``tol``; a last run at the final nodes
    polishes to ``gtol``. The reported optimum is then one of the likelihood with nodes
    fitted to its own posteriors (to ``tol``).

    Parameters
    ----------
    theta0 : ndarray
        Start ``(θ, σ)``.
    model : RandomIntercepts
        Its node placement is updated in place (it ends adapted near the optimum).
    nobs : int
        Customer-periods (the objective is the mean log-likelihood).
    max_iter, gtol : int, float
        Of each optimiser run.
    max_rounds : int
        Optimiser runs at most (the last at the final nodes).
    tol : float
        Log-likelihood change on re-adapting below which the nodes count as adapted.
    round_gtol : float
        Gradient tolerance of the runs before the last (``"lbfgsb"`` only).
    optimiser : {"polish", "lbfgsb"}
        ``"polish"`` (default): OPG-preconditioned BFGS (:func:`polish`) to ``gtol`` in every
        run. ``"lbfgsb"``: L-BFGS-B to ``round_gtol`` in the runs before the last (the
        earlier path, about 3× slower on the default world, same optimum).

    Returns
    -------
    theta : ndarray
    report : StartReport
        Of the last optimiser run (iterations and evaluations summed over runs).
    rounds : int
        Optimiser runs.
    """
    if optimiser not in OPTIMISERS:
        raise ValueError(f"optimiser must be one of {OPTIMISERS}, not {optimiser!r}")
    started = time.perf_counter()
    model.adapt(theta0)
    theta = np.asarray(theta0, dtype=float)
    n_iter = n_eval = rounds = 0
    if optimiser == "polish":
        def run(start: np.ndarray, tolerance: float) -> tuple[np.ndarray, StartReport]:
            return polish(start, model, nobs, max_iter=max_iter, gtol=gtol)
    else:
        def run(start: np.ndarray, tolerance: float) -> tuple[np.ndarray, StartReport]:
            return _optimise(start, model, nobs, max_iter=max_iter, gtol=tolerance)
    adapted = not model.adaptive
    if model.adaptive:
        for _ in range(max_rounds - 1):
            theta, report = run(theta, max(gtol, round_gtol))
            n_iter, n_eval, rounds = n_iter + report.n_iter, n_eval + report.n_eval, rounds + 1
            if abs(model.adapt(theta).loglik - report.loglike) < tol:
                adapted = True
                break
    theta, report = run(theta, gtol)
    n_iter, n_eval, rounds = n_iter + report.n_iter, n_eval + report.n_eval, rounds + 1
    report = StartReport(loglike=report.loglike, converged=report.converged, n_iter=n_iter,
                         n_eval=n_eval, message=report.message + (
                             "" if adapted else f"; nodes still moved the log-likelihood by "
                             f"more than {tol} after {max_rounds - 1} rounds"),
                         seconds=time.perf_counter() - started)
    return theta, report, rounds


def observed_information(theta: np.ndarray, model: Integrated, step: float = 1e-4,
                         scheme: str = "central") -> np.ndarray:
    """``−∂²ℓ/∂θ∂θ'`` by finite differences of the analytic gradient (nodes fixed).

    See :func:`complaintpanel.hmm.likelihood.information_from_gradient` (``scheme`` is
    ``"central"`` or ``"forward"``).
    """
    return information_from_gradient(lambda t: model.evaluate(t).gradient(), theta, step,
                                     scheme)


def start_from_homogeneous_bivariate(theta: np.ndarray, layout: ParamLayout,
                                     chol: tuple[float, float, float] = CHOLESKY_START
                                     ) -> np.ndarray:
    """Start vector ``(θ, l11, l21, l22)`` from the homogeneous optimum.

    As :func:`start_from_homogeneous`, the complaint log-rates move down by ``σ_c²/2`` and
    the compliment log-rates by ``σ_p²/2``, keeping the mean rates over customers.
    """
    start = np.append(np.asarray(theta, dtype=float)[:layout.n_params], chol)
    values, _ = bivariate_reported(np.asarray(chol, dtype=float))
    start[layout.slices["a"].start] -= values[0] ** 2 / 2
    start[layout.slices["c"]] -= values[1] ** 2 / 2
    return start


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
                          sigma_start: float = SIGMA_START, adaptive: bool = True,
                          optimiser: str = "polish", information: str = "forward",
                          effects: tuple[str, ...] = ("complaint",)
                          ) -> RelationshipHMMResults:
    """Fit the random-intercept model from a homogeneous fit's optimum.

    One start, :func:`start_from_homogeneous` (the homogeneous search's several starts have
    already located the state structure), maximised by :func:`maximise`; standard errors
    from the observed information of ``(θ, σ)``.

    Parameters
    ----------
    homogeneous : RelationshipHMMResults
        The homogeneous fit on the same panel (its optimum is the start; its log-likelihood
        and BIC are recorded beside the new ones).
    data : PanelArrays
    chunks : list of PanelArrays
        ``data`` in blocks, in order.
    n_nodes : int
        Gauss–Hermite nodes (per dimension with two effects: ``n_nodes²`` in all).
    max_iter, gtol : see :class:`~complaintpanel.hmm.RelationshipHMM`.
    sigma_start : float
        Start value of σ (of ``l11`` and ``l22``, with ``l21 = 0``, with two effects).
    adaptive : bool
        Adaptive Gauss–Hermite quadrature (:class:`RandomIntercepts`).
    optimiser : {"polish", "lbfgsb"}
        See :func:`maximise`; both reach the same optimum, ``"polish"`` in about a third of
        the evaluations.
    information : {"forward", "central"}
        Finite differences of the analytic gradient for the observed information:
        ``"forward"`` (default; ``p + 2`` gradients, step 1e-6) or ``"central"``
        (``2(p + 1)`` gradients, step 1e-4).
    effects : tuple of str
        ``("complaint",)`` (default): :class:`RandomIntercepts`; ``("complaint",
        "compliment")``: :class:`BivariateRandomIntercepts`, whose Cholesky elements
        ``(l11, l21, l22)`` end ``theta`` and are reported as ``sigma[complaint]``,
        ``sigma[compliment]`` and ``corr[complaint,compliment]`` (delta-method SEs).

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
    effects = check_effects(effects)
    model: Integrated
    if effects == EFFECTS:
        model = BivariateRandomIntercepts(layout, chunks, codes, n_groups, n_nodes,
                                          adaptive=adaptive)
        theta0 = start_from_homogeneous_bivariate(homogeneous.theta, layout,
                                                  (sigma_start, 0.0, sigma_start))
    else:
        model = RandomIntercepts(layout, chunks, codes, n_groups, n_nodes, adaptive=adaptive)
        theta0 = start_from_homogeneous(homogeneous.theta, layout, sigma_start)
    if information not in ("forward", "central"):
        raise ValueError(f"information must be 'forward' or 'central', not {information!r}")
    theta, report, rounds = maximise(theta0, model, data.nobs, max_iter=max_iter, gtol=gtol,
                                     optimiser=optimiser)
    step = 1e-6 if information == "forward" else 1e-4
    cov_theta, hessian_ok = _invert_information(
        observed_information(theta, model, step, information))
    extra = dict(homogeneous.extra)
    extra["heterogeneity"] = {
        "kind": "random_intercepts",
        "quadrature_nodes": n_nodes,
        "adaptive": adaptive,
        "adaptation_rounds": rounds,
        "optimiser": optimiser,
        "information": information,
        "n_iter": report.n_iter,
        "n_eval": report.n_eval,
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
    if effects == EFFECTS:  # the univariate record stays as it was
        extra["heterogeneity"]["effects"] = list(effects)
        extra["heterogeneity"]["quadrature_points"] = n_nodes**2
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


CANDIDATES = ("none", "random_intercepts", "bivariate_intercepts", "classes")
# Compared by default: the bivariate candidate costs about five univariate fits (49 nodes).
DEFAULT_CANDIDATES = ("none", "random_intercepts", "classes")


def select_heterogeneity(panel: pd.DataFrame,
                         candidates: tuple[str, ...] = DEFAULT_CANDIDATES, *, classes: int = 2,
                         **kwargs: Any) -> pd.DataFrame:
    """Fit the homogeneous, random-intercept and class models and compare them by BIC.

    The homogeneous model is fitted once (with its ``n_starts`` starts) and its optimum
    starts the others (:func:`fit_random_intercepts`,
    :func:`complaintpanel.hmm.classes.fit_classes`), all on the same panel, so the BICs are
    comparable.

    Parameters
    ----------
    panel : DataFrame
        As for :meth:`RelationshipHMM.fit <complaintpanel.hmm.RelationshipHMM.fit>`.
    candidates : tuple of str
        From :data:`CANDIDATES`: ``"none"``, ``"random_intercepts"`` (complaint log-rate),
        ``"bivariate_intercepts"`` (correlated complaint and compliment intercepts; not
        compared by default: it costs about five univariate fits), ``"classes"``.
    classes : int
        Number of classes of the ``"classes"`` candidate.
    **kwargs
        Other :class:`~complaintpanel.hmm.RelationshipHMM` settings (``quadrature_nodes``,
        ``bivariate_nodes``, ``class_blocks``, ``class_starts`` are used by their
        candidate).

    Returns
    -------
    DataFrame
        One row per candidate: ``heterogeneity``, ``description``, ``loglike``, ``n_params``,
        ``aic``, ``bic``, ``gamma``, ``delta``, ``best`` (lowest BIC). The fitted results are
        in ``table.attrs["results"]`` by candidate.
    """
    from complaintpanel.hmm.classes import fit_classes
    from complaintpanel.hmm.data import prepare_panel
    from complaintpanel.hmm.estimator import RelationshipHMM

    unknown = sorted(set(candidates) - set(CANDIDATES))
    if unknown:
        raise ValueError(f"unknown heterogeneity candidate(s) {unknown}; known: {CANDIDATES}")
    settings = {**kwargs, "heterogeneity": "none"}
    model = RelationshipHMM(**settings).fit(panel)
    homogeneous = model.results_
    data = prepare_panel(panel, model.spec_)
    chunks = data.chunks(model.chunk_size)
    fits: dict[str, RelationshipHMMResults] = {}
    descriptions: dict[str, str] = {}
    for candidate in candidates:
        if candidate == "none":
            fits[candidate] = homogeneous
            descriptions[candidate] = "homogeneous"
        elif candidate == "random_intercepts":
            nodes = int(kwargs.get("quadrature_nodes", 9))
            fits[candidate] = fit_random_intercepts(homogeneous, data, chunks, n_nodes=nodes,
                                                    max_iter=model.max_iter, gtol=model.gtol)
            descriptions[candidate] = (f"normal random intercept in the complaint log-rate "
                                       f"({nodes} adaptive Gauss-Hermite nodes)")
        elif candidate == "bivariate_intercepts":
            nodes = int(kwargs.get("bivariate_nodes", 7))
            fits[candidate] = fit_random_intercepts(homogeneous, data, chunks, n_nodes=nodes,
                                                    max_iter=model.max_iter, gtol=model.gtol,
                                                    effects=EFFECTS)
            descriptions[candidate] = (f"correlated normal random intercepts in the complaint "
                                       f"and compliment log-rates ({nodes}x{nodes} adaptive "
                                       f"Gauss-Hermite nodes)")
        else:
            blocks = tuple(kwargs.get("class_blocks", ("delta",)))
            starts = int(kwargs.get("class_starts", 2))
            fits[candidate] = fit_classes(
                homogeneous, data, chunks, n_classes=classes, blocks=blocks,
                max_iter=model.max_iter, gtol=model.gtol,
                spreads=tuple(float(k) for k in range(1, max(1, starts) + 1)))
            descriptions[candidate] = f"{classes} latent classes in {', '.join(blocks)}"
    table = pd.DataFrame([
        {"heterogeneity": name, "description": descriptions[name], "loglike": res.loglike,
         "n_params": res.n_params, "aic": res.aic, "bic": res.bic,
         "gamma": float(res.params.get("gamma", np.nan)),
         "delta": float(res.params.get("delta", np.nan))}
        for name, res in fits.items()])
    table["best"] = table["bic"] == table["bic"].min()
    table.attrs["results"] = fits
    return table
