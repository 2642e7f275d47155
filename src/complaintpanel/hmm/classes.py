"""Customers differ: a finite mixture of latent customer classes (DESIGN.md §4.2, issue 16).

Customer *i* belongs to one of ``C`` classes with probabilities ``s_c`` (the class shares,
``s = softmax(0, η_1, …, η_{C−1})``). Chosen parameter blocks are class-specific, the rest
shared: ``"delta"`` (the relationship effect δ, the coefficient of ``intervened`` in the
transitions) and ``"a"`` (the level of the complaint log-rates: class *c* has its own
``θ_{a_0}``, so all complaint log-rates of the class move together and the gaps between
states are shared). The customer's likelihood mixes over the classes,

    L_i = Σ_c s_c Π_{s ∈ i} L_s(θ_c),

where ``s`` runs over the customer's customer–brand sequences (one class per customer, as
the random intercept of :mod:`complaintpanel.hmm.heterogeneity` is one effect per customer)
and ``θ_c`` is the homogeneous model's unconstrained vector with the class's own values in
the class-specific coordinates. Each class is one forward–backward pass of the homogeneous
model (:func:`complaintpanel.hmm.likelihood.evaluate`), and the gradient is exact:

    ∂ log L_i / ∂θ_j      = Σ_c π_ic ∂ log L_i(θ_c) / ∂θ_j   (shared coordinates),
    ∂ log L_i / ∂θ_{j,c}  = π_ic ∂ log L_i(θ_c) / ∂θ_j       (class-specific coordinate j),
    ∂ log L_i / ∂η_c      = π_ic − s_c,

with ``π_ic = s_c L_i(θ_c) / L_i`` the posterior probability of class *c* for customer *i*.

Parameter vector (the optimiser's): the homogeneous ``θ`` (holding class 0's values in the
class-specific coordinates), then for each class block the values of classes ``1 … C−1``,
then the share logits ``η_1 … η_{C−1}``. Labels: after the fit the classes are ordered by δ
(class 0 has the smallest), or by the complaint level when δ is not class-specific.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from complaintpanel.hmm.data import PanelArrays
from complaintpanel.hmm.heterogeneity import _sum_by_group, customer_groups
from complaintpanel.hmm.likelihood import (
    evaluate,
    filtered_last_states,
    information_from_gradient,
)
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.results import RelationshipHMMResults, StartReport

__all__ = [
    "CLASS_BLOCKS",
    "ClassEvaluation",
    "LatentClasses",
    "class_names",
    "fit_classes",
    "order_classes",
]

CLASS_BLOCKS = ("delta", "a")  # blocks that may be class-specific
START_SPREAD = {"delta": 0.7, "a": 0.5}  # start: class values spread ± this around the optimum


def class_names(blocks: tuple[str, ...], n_classes: int) -> list[str]:
    """Return the reported names of the class parameters after the homogeneous ones.

    ``delta[class1] … delta[classC−1]`` (class 0's δ is ``delta``), likewise ``a[class c]``
    (class c's complaint log-rate of the worst state; class 0's is ``a[<worst>]``), then
    ``share[class0] … share[classC−1]``.
    """
    names = [f"{block}[class{c}]" for block in blocks for c in range(1, n_classes)]
    return names + [f"share[class{c}]" for c in range(n_classes)]


@dataclass(frozen=True)
class ClassEvaluation:
    """Log-likelihood (and gradient) of the class mixture at one parameter vector.

    Attributes
    ----------
    loglik : float
        Total log-likelihood (validation sample included, when there is one).
    loglik_customer : ndarray, shape (G,)
    grad : ndarray or None, shape (P,)
    class_posterior : ndarray, shape (C, G)
        ``π_ic``, each customer's posterior over the classes.
    """

    loglik: float
    loglik_customer: np.ndarray
    grad: np.ndarray | None
    class_posterior: np.ndarray

    def gradient(self) -> np.ndarray:
        """Return the gradient, which must have been asked for."""
        if self.grad is None:
            raise ValueError("this evaluation was made without the gradient")
        return self.grad


class LatentClasses:
    """The finite-mixture likelihood of one panel (classes per customer).

    Parameters
    ----------
    layout : ParamLayout
        Layout of the homogeneous model.
    chunks : list of PanelArrays
        The panel in blocks of sequences (in order).
    codes : ndarray of int, shape (N,)
        Customer of each sequence (:func:`~complaintpanel.hmm.heterogeneity.customer_groups`).
    n_groups : int
    n_classes : int
        ``C`` ≥ 1.
    blocks : tuple of str
        Class-specific blocks, from :data:`CLASS_BLOCKS`.
    """

    def __init__(self, layout: ParamLayout, chunks: list[PanelArrays], codes: np.ndarray,
                 n_groups: int, n_classes: int = 2, blocks: tuple[str, ...] = ("delta",)
                 ) -> None:
        unknown = sorted(set(blocks) - set(CLASS_BLOCKS))
        if unknown or not blocks or len(set(blocks)) != len(blocks):
            raise ValueError(f"class_blocks must be distinct entries of {CLASS_BLOCKS}, not "
                             f"{blocks!r}")
        if n_classes < 1:
            raise ValueError("classes must be at least 1")
        self.layout = layout
        self.chunks = chunks
        self.codes = np.asarray(codes, dtype=np.int64)
        self.n_groups = int(n_groups)
        self.n_classes = int(n_classes)
        self.blocks = tuple(blocks)
        self.index = {block: _coordinate(layout, block) for block in self.blocks}
        if sum(chunk.n_sequences for chunk in chunks) != self.codes.size:
            raise ValueError("codes must have one entry per sequence of the chunks")

    @classmethod
    def from_data(cls, layout: ParamLayout, data: PanelArrays, chunk_size: int = 4096,
                  **kwargs: Any) -> LatentClasses:
        """Build from a prepared panel (customers from its ``sequences``)."""
        codes, n_groups = customer_groups(data)
        return cls(layout, data.chunks(chunk_size), codes, n_groups, **kwargs)

    @property
    def n_params(self) -> int:
        """Length of the mixture's vector."""
        return self.layout.n_params + (self.n_classes - 1) * (len(self.blocks) + 1)

    # ------------------------------------------------------------------ the vector
    def split(self, theta: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Per-class homogeneous vectors ``θ_c`` and the class shares ``s``."""
        theta = np.asarray(theta, dtype=float)
        if theta.size != self.n_params:
            raise ValueError(f"expected {self.n_params} parameters, got {theta.size}")
        p, c1 = self.layout.n_params, self.n_classes - 1
        base = theta[:p]
        thetas = [base.copy() for _ in range(self.n_classes)]
        for b, block in enumerate(self.blocks):
            values = theta[p + b * c1: p + (b + 1) * c1]
            for c in range(1, self.n_classes):
                thetas[c][self.index[block]] = values[c - 1]
        logits = np.concatenate([[0.0], theta[p + len(self.blocks) * c1:]])
        return thetas, softmax(logits)

    def class_values(self, theta: np.ndarray, block: str) -> np.ndarray:
        """Each class's value of a class-specific coordinate (θ scale: δ, or ``a_0``)."""
        thetas, _ = self.split(theta)
        return np.array([t[self.index[block]] for t in thetas])

    def filtered_last(self, theta: np.ndarray) -> np.ndarray:
        """End-state probabilities of every sequence under each class's parameters.

        Returns
        -------
        ndarray, shape (C, N, K)
            ``P(s_T = k | data, class c)`` of each sequence (chunks' order).
        """
        thetas, _ = self.split(theta)
        return np.stack([filtered_last_states(theta_c, self.layout, self.chunks)
                         for theta_c in thetas])

    # ------------------------------------------------------------------ likelihood
    def evaluate(self, theta: np.ndarray, *, gradient: bool = True) -> ClassEvaluation:
        """Log-likelihood (and gradient) at the mixture's vector ``theta``.

        Returns
        -------
        ClassEvaluation
        """
        thetas, shares = self.split(theta)
        p, c1, n_g = self.layout.n_params, self.n_classes - 1, self.n_groups
        with np.errstate(divide="ignore"):
            log_joint = np.repeat(np.log(shares)[:, None], n_g, axis=1)
        class_scores = np.empty((self.n_classes, p, n_g)) if gradient else None
        validation_loglik = 0.0
        validation_grad = np.zeros(p)
        for c, theta_c in enumerate(thetas):
            ev = evaluate(theta_c, self.layout, self.chunks, gradient=False, scores=gradient)
            log_joint[c] += _sum_by_group(ev.loglik_seq, self.codes, n_g)
            if c == 0:  # the validation sample does not depend on the class
                validation_loglik = ev.loglik - float(ev.loglik_seq.sum())
            if class_scores is not None:
                assert ev.scores is not None and ev.grad is not None  # asked for
                class_scores[c] = _sum_by_group(ev.scores, self.codes, n_g)
                if c == 0:
                    validation_grad = ev.grad - ev.scores.sum(axis=1)
        loglik_customer = logsumexp(log_joint, axis=0)
        posterior = np.exp(log_joint - loglik_customer[None, :])
        total = float(loglik_customer.sum()) + validation_loglik
        if class_scores is None:
            return ClassEvaluation(total, loglik_customer, None, posterior)
        grad = np.empty(self.n_params)
        weighted = np.einsum("cg,cpg->cp", posterior, class_scores)  # Σ_i π_ic s_ic
        grad[:p] = weighted.sum(axis=0) + validation_grad
        for b, block in enumerate(self.blocks):
            j = self.index[block]
            grad[j] = weighted[0, j] + validation_grad[j]
            grad[p + b * c1: p + (b + 1) * c1] = weighted[1:, j]
        grad[p + len(self.blocks) * c1:] = (posterior[1:] - shares[1:, None]).sum(axis=1)
        return ClassEvaluation(total, loglik_customer, grad, posterior)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Box bounds of the mixture's vector for L-BFGS-B."""
        base = self.layout.bounds()
        extra: list[tuple[float | None, float | None]] = []
        for block in self.blocks:
            extra += [base[self.index[block]]] * (self.n_classes - 1)
        return base + extra + [(-10.0, 10.0)] * (self.n_classes - 1)

    def start(self, theta: np.ndarray, spread: float = 1.0) -> np.ndarray:
        """Start vector from the homogeneous optimum: class values spread, equal shares."""
        theta = np.asarray(theta, dtype=float)[:self.layout.n_params].copy()
        extra = []
        for block in self.blocks:
            j = self.index[block]
            width = spread * START_SPREAD[block]
            values = theta[j] + (np.linspace(-width, width, self.n_classes)
                                 if self.n_classes > 1 else np.zeros(1))
            theta[j] = values[0]
            extra.append(values[1:])
        return np.concatenate([theta, *extra, np.zeros(self.n_classes - 1)])


def _coordinate(layout: ParamLayout, block: str) -> int:
    """Index in ``θ`` of a class-specific block's coordinate."""
    spec = layout.spec
    if block == "delta":
        if "intervened" not in spec.transition_covariates:
            raise ValueError("class-specific delta needs 'intervened' among the transition "
                             "covariates")
        return layout.slices["beta_tr"].start + spec.transition_covariates.index("intervened")
    return layout.slices["a"].start  # "a": the level of the complaint log-rates


def order_classes(theta: np.ndarray, model: LatentClasses) -> np.ndarray:
    """Relabel the classes so that δ increases with the class index (label switching).

    By the complaint level ``a_0`` when δ is not class-specific. The likelihood is unchanged.
    """
    thetas, shares = model.split(theta)
    key = model.blocks[0] if "delta" not in model.blocks else "delta"
    values = model.class_values(theta, key)
    order = np.argsort(values, kind="stable")
    p, c1 = model.layout.n_params, model.n_classes - 1
    out = np.asarray(theta, dtype=float).copy()
    out[:p] = thetas[order[0]]
    for b, block in enumerate(model.blocks):
        j = model.index[block]
        out[p + b * c1: p + (b + 1) * c1] = [thetas[c][j] for c in order[1:]]
    log_shares = np.log(np.maximum(shares[order], 1e-300))
    out[p + len(model.blocks) * c1:] = log_shares[1:] - log_shares[0]
    return out


# ---------------------------------------------------------------------------------- fitting
def _optimise(theta0: np.ndarray, model: LatentClasses, nobs: int, *, max_iter: int,
              gtol: float) -> tuple[np.ndarray, StartReport]:
    started = time.perf_counter()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ev = model.evaluate(theta)
        grad = ev.gradient()
        if not np.isfinite(ev.loglik) or not np.all(np.isfinite(grad)):
            return 1e10, np.zeros_like(theta)
        return -ev.loglik / nobs, -grad / nobs

    result = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=model.bounds(),
                      options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-14,
                               "gtol": gtol})
    small_gradient = float(np.max(np.abs(result.jac))) < 100 * gtol
    report = StartReport(loglike=-float(result.fun) * nobs,
                         converged=bool(result.success or small_gradient),
                         n_iter=int(result.nit), n_eval=int(result.nfev),
                         message=str(result.message), seconds=time.perf_counter() - started)
    return np.asarray(result.x), report


def fit_classes(homogeneous: RelationshipHMMResults, data: PanelArrays,
                chunks: list[PanelArrays], *, n_classes: int = 2,
                blocks: tuple[str, ...] = ("delta",), max_iter: int = 2000,
                gtol: float = 1e-7, spreads: tuple[float, ...] = (1.0, 2.0)
                ) -> RelationshipHMMResults:
    """Fit the class mixture from a homogeneous fit's optimum.

    One start per entry of ``spreads`` (:meth:`LatentClasses.start`: the class values spread
    by ``spread ×`` :data:`START_SPREAD` around the homogeneous optimum, equal shares); the
    best is kept, its classes ordered by δ (:func:`order_classes`), and standard errors come
    from the observed information of the whole vector
    (:func:`~complaintpanel.hmm.likelihood.information_from_gradient`).

    Parameters
    ----------
    homogeneous : RelationshipHMMResults
        The homogeneous fit on the same panel.
    data : PanelArrays
    chunks : list of PanelArrays
    n_classes : int
    blocks : tuple of str
        Class-specific blocks (:data:`CLASS_BLOCKS`).
    max_iter, gtol : see :class:`~complaintpanel.hmm.RelationshipHMM`.
    spreads : tuple of float
        Starts.

    Returns
    -------
    RelationshipHMMResults
        With the class values and shares among ``params`` (:func:`class_names`) and
        ``extra["heterogeneity"]`` = the kind, the classes, the blocks, the mean posterior
        class probabilities and the homogeneous fit's summary.
    """
    from complaintpanel.hmm.estimator import _invert_information

    started = time.perf_counter()
    layout = ParamLayout(homogeneous.spec)
    codes, n_groups = customer_groups(data)
    model = LatentClasses(layout, chunks, codes, n_groups, n_classes, tuple(blocks))
    outcomes = [_optimise(model.start(homogeneous.theta, spread), model, data.nobs,
                          max_iter=max_iter, gtol=gtol)
                for spread in (spreads if n_classes > 1 else (1.0,))]
    best = int(np.argmax([report.loglike for _, report in outcomes]))
    theta = order_classes(outcomes[best][0], model)
    information = information_from_gradient(lambda t: model.evaluate(t).gradient(), theta)
    cov_theta, hessian_ok = _invert_information(information)
    posterior = model.evaluate(theta, gradient=False).class_posterior
    extra = dict(homogeneous.extra)
    extra["heterogeneity"] = {
        "kind": "classes",
        "classes": n_classes,
        "class_blocks": list(blocks),
        "integrated_over": "customers",
        "mean_posterior": posterior.mean(axis=1).tolist(),
        # how sharply customers are classified: mean of each customer's largest posterior
        "mean_max_posterior": float(posterior.max(axis=0).mean()),
        "homogeneous": {
            "loglike": homogeneous.loglike, "n_params": homogeneous.n_params,
            "bic": homogeneous.bic, "aic": homogeneous.aic,
            "params": {k: float(v) for k, v in homogeneous.params.items()},
            "bse": {k: float(v) for k, v in homogeneous.bse.items()},
            "fit_seconds": homogeneous.fit_seconds,
        },
        "start_loglikes": [report.loglike for _, report in outcomes],
        "classes_seconds": time.perf_counter() - started,
    }
    report = outcomes[best][1]
    results = RelationshipHMMResults(
        spec=homogeneous.spec, theta=theta, cov_theta=cov_theta, loglike=report.loglike,
        nobs=homogeneous.nobs, n_sequences=homogeneous.n_sequences,
        n_customers=homogeneous.n_customers, starts=[r for _, r in outcomes], cov_type="oim",
        optimum_tol=homogeneous.optimum_tol,
        fit_seconds=homogeneous.fit_seconds + time.perf_counter() - started,
        dropped_rows=homogeneous.dropped_rows, hessian_ok=hessian_ok, extra=extra)
    results.extra["heterogeneity"]["bic_selects"] = (
        "classes" if results.bic < homogeneous.bic else "none")
    return results
