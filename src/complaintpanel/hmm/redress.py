"""A decaying redress stock with its decay ρ estimated jointly or by profile likelihood (issue 16).

With ``RelationshipHMM(redress="stock")`` the complaint log-rate carries ``γ·R_it`` with the
decaying stock ``R_it = Σ_{s<t} ρ^{t−1−s} I_is`` of the customer's earlier answered periods
(DESIGN.md §4.2; built from the panel for a given ρ by :func:`complaintpanel.hmm.data.
prepare_panel`). For a fixed ρ the stock is an ordinary real-valued covariate: the likelihood,
its analytic gradient and the observed information need nothing new.

When ρ is estimated (``redress_decay="auto"`` or ``None``) it is by default a parameter of the
optimiser beside θ (:class:`JointDecay`, ``redress_decay_method="joint"``): the stock ``R_t(ρ)``
and its derivative ``D_t = ∂R_t/∂ρ`` are recomputed at every evaluation from the answered
history (``R_{t+1} = ρ R_t + I_t``, ``D_{t+1} = R_t + ρ D_t``,
:func:`complaintpanel.hmm.data.answered_history`). ρ enters only the complaint log-rate, as
``γ R_t(ρ)``, so ``∂ℓ/∂ρ = γ Σ_t D_t ∂ℓ/∂log λ_t``: the score of a complaint covariate ``D_t``
whose coefficient is held at 0, times γ. The likelihood's own code gives it exactly
(Fisher's identity, first-contact terms and the misclassification layer included) when ``D``
is added as one more complaint covariate at coefficient 0, which leaves the likelihood
unchanged bit for bit. ρ is bounded to ``[RHO_MIN, 1]`` (L-BFGS-B), and its standard error —
with those of γ, δ and the rest — comes from the observed information of the joint vector
``(θ, ρ)`` (central differences of the joint analytic gradient), so the other standard errors
carry ρ's uncertainty. The 95% interval of ρ is then Wald's, ``ρ̂ ± 1.96 SE``.

With ``redress_decay_method="profile"`` ρ is *profiled* instead: for each ρ the
other parameters are maximised from the optimum at the nearest ρ already visited (chord
Newton steps with the inverse information of the profile's first fit, :func:`chord_newton`;
L-BFGS-B when they do not converge),
``ℓ_p(ρ) = max_θ ℓ(θ, ρ)``, and ρ̂ maximises ``ℓ_p`` by a bounded scalar search
(:func:`scipy.optimize.minimize_scalar`, ``method="bounded"``) over ``[RHO_MIN, 1]`` (ρ = 1 is
also evaluated, since a bounded Brent search never evaluates its end points). The 95%
interval is the profile-likelihood interval ``{ρ : 2(ℓ_p(ρ̂) − ℓ_p(ρ)) ≤ 3.84}`` (χ²₁), its
ends found by Brent's root finder; an end that reaches the search range is reported as
censored. The other parameters' standard errors come from the observed information at ρ̂
and are **conditional on ρ̂** (they do not carry ρ's uncertainty); ρ counts as a parameter
in AIC and BIC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize, minimize_scalar

from complaintpanel.hmm.data import PanelArrays, answered_history, prepare_panel
from complaintpanel.hmm.likelihood import Evaluation, evaluate, information_from_gradient
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.model import ModelSpec

__all__ = ["DERIVATIVE_COVARIATE", "LR_CUT_95", "RHO_MIN", "DecayProfile", "JointDecay",
           "chord_newton", "profile_decay"]

RHO_MIN = 0.01  # lower end of the search (ρ → 0 leaves only last period's answer)
LR_CUT_95 = 3.841458820694124  # χ²₁ 0.95 quantile
RHO_TOL = 5e-3  # tolerance on ρ of the search and of the interval's ends
# Name of the stock's derivative in ρ as an extra complaint covariate (coefficient held at 0)
DERIVATIVE_COVARIATE = "d_redress_d_decay"


@dataclass
class DecayProfile:
    """The profile log-likelihood of the redress decay ρ, evaluated where it was needed.

    Attributes
    ----------
    values : dict of float to (float, ndarray)
        ``ρ → (ℓ_p(ρ), θ̂(ρ))`` at every evaluated ρ.
    rho_hat : float
        The maximiser.
    conf_int : tuple of float
        The 95% profile-likelihood interval.
    censored : tuple of bool
        Whether each end is the end of the search range (the interval reaches it).
    """

    values: dict[float, tuple[float, np.ndarray]] = field(default_factory=dict)
    rho_hat: float = float("nan")
    conf_int: tuple[float, float] = (float("nan"), float("nan"))
    censored: tuple[bool, bool] = (False, False)

    @property
    def loglike(self) -> float:
        """``ℓ_p(ρ̂)``."""
        return self.values[self.rho_hat][0]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary (the evaluated profile sorted by ρ)."""
        return {
            "kind": "stock", "decay": self.rho_hat, "estimated": True,
            "method": "profile likelihood (bounded scalar search over rho in "
                      f"[{RHO_MIN}, 1]; other parameters refitted at each rho)",
            "conf_int_95": list(self.conf_int), "conf_int_censored": list(self.censored),
            "lr_cut": LR_CUT_95,
            "profile": [[rho, self.values[rho][0]] for rho in sorted(self.values)],
            "note": "standard errors of the other parameters are conditional on rho-hat",
        }


def chord_newton(theta: np.ndarray, layout: ParamLayout, data: PanelArrays,
                 inverse_information: np.ndarray, *, chunk_size: int = 4096,
                 max_steps: int = 25, tol: float = 1e-2) -> tuple[np.ndarray, float, bool]:
    """Re-maximise the log-likelihood from a nearby optimum by chord Newton steps.

    Between neighbouring ρ the optimum moves a little and the curvature hardly at all, so
    Newton steps with one fixed inverse information (the one at the profile's start) converge
    in a few gradient evaluations, where a fresh L-BFGS-B would rebuild its curvature from
    scratch. Each step is halved until the log-likelihood does not fall, and kept inside the
    layout's bounds. The default ``tol`` on the Newton decrement (about twice the distance
    to the maximum) puts each profile value within ~0.005 of the maximised log-likelihood —
    far below the 1.92 of the interval's cut; the reported fit at ρ̂ is then run to the full
    tolerance by L-BFGS-B.

    Returns
    -------
    theta : ndarray
    loglike : float
    converged : bool
        The Newton decrement ``g' H⁻¹ g`` fell below ``tol`` (otherwise the caller polishes).
    """
    bounds = np.array([(-np.inf if lo is None else lo, np.inf if hi is None else hi)
                       for lo, hi in layout.bounds()])
    chunks = data.chunks(chunk_size)
    theta = np.asarray(theta, dtype=float).copy()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ev = evaluate(theta, layout, chunks)
        for _ in range(max_steps):
            grad = ev.gradient()
            step = inverse_information @ grad
            if not np.all(np.isfinite(step)):
                return theta, ev.loglik, False
            if float(grad @ step) < tol:
                return theta, ev.loglik, True
            length = 1.0
            while length > 1e-3:
                trial = np.clip(theta + length * step, bounds[:, 0], bounds[:, 1])
                ev_trial = evaluate(trial, layout, chunks)
                if np.isfinite(ev_trial.loglik) and ev_trial.loglik >= ev.loglik - 1e-9:
                    break
                length /= 2
            else:
                return theta, ev.loglik, False
            theta, ev = trial, ev_trial
    return theta, ev.loglik, False


def profile_decay(panel: pd.DataFrame, spec: ModelSpec, theta0: np.ndarray, rho0: float,
                  loglike0: float,
                  optimise: Callable[[np.ndarray, ParamLayout, Any], tuple[np.ndarray, float]],
                  *, tol: float = RHO_TOL) -> DecayProfile:
    """Profile the log-likelihood over the redress decay ρ.

    Parameters
    ----------
    panel : DataFrame
        The panel (the stock is rebuilt from it for every ρ).
    spec : ModelSpec
        The specification (its ``redress_decay`` is replaced by each ρ).
    theta0 : ndarray
        Optimum at ``rho0`` (the first warm start).
    rho0, loglike0 : float
        Where the profile starts and its log-likelihood there.
    optimise : callable
        ``(theta_start, layout, data) → (theta_hat, loglike)`` for one specification.
    tol : float
        Tolerance on ρ of the search and of the interval's ends.

    Returns
    -------
    DecayProfile
    """
    profile = DecayProfile()
    profile.values[float(rho0)] = (float(loglike0), np.asarray(theta0, dtype=float))

    def loglike(rho: float) -> float:
        rho = float(rho)
        if rho in profile.values:
            return profile.values[rho][0]
        nearest = min(profile.values, key=lambda r: abs(r - rho))
        rho_spec = dataclasses.replace(spec, redress_decay=rho)
        layout = ParamLayout(rho_spec)
        theta, value = optimise(profile.values[nearest][1], layout,
                                prepare_panel(panel, rho_spec))
        profile.values[rho] = (float(value), theta)
        return float(value)

    found = minimize_scalar(lambda r: -loglike(r), bounds=(RHO_MIN, 1.0), method="bounded",
                            options={"xatol": tol})
    loglike(1.0)
    rho_hat = max(profile.values, key=lambda r: profile.values[r][0])
    if not np.isfinite(found.fun):  # pragma: no cover - the search always returns a number
        raise RuntimeError("the profile search over the redress decay failed")
    profile.rho_hat = rho_hat
    cut = profile.values[rho_hat][0] - LR_CUT_95 / 2

    def end(low: float, high: float) -> tuple[float, bool]:
        edge = low if high == rho_hat else high
        if loglike(edge) >= cut:
            return edge, True
        return float(brentq(lambda r: loglike(r) - cut, low, high, xtol=tol)), False

    lower, lower_censored = (rho_hat, True) if rho_hat <= RHO_MIN else end(RHO_MIN, rho_hat)
    upper, upper_censored = (1.0, True) if rho_hat >= 1.0 else end(rho_hat, 1.0)
    profile.conf_int = (lower, upper)
    profile.censored = (lower_censored, upper_censored)
    return profile


@dataclass(frozen=True)
class _StockPiece:
    """One block of sequences with what its stock is rebuilt from."""

    data: PanelArrays
    intervened: np.ndarray  # (T, N)
    prior_sequence: np.ndarray
    prior_exponent: np.ndarray
    prior_weight: np.ndarray


class JointDecay:
    """Log-likelihood and analytic gradient of ``(θ, ρ)``: the redress decay inside θ.

    Parameters
    ----------
    layout : ParamLayout
        Layout of a stock specification (``redress_decay`` set to any ρ; the value is not
        used) with ``redress`` among the complaint covariates only.
    data : PanelArrays
        The panel prepared with that specification.
    panel : DataFrame
        The panel itself (the answered periods that first contact dropped).
    chunk_size : int
        Sequences per block of the likelihood.

    Notes
    -----
    The joint vector is ``θ`` of ``layout`` followed by ρ itself (bounded to
    ``[RHO_MIN, 1]`` by :meth:`bounds`; the likelihood is smooth in ρ across 1, so central
    differences at the bound are defined).
    """

    def __init__(self, layout: ParamLayout, data: PanelArrays, panel: pd.DataFrame, *,
                 chunk_size: int = 4096) -> None:
        spec = layout.spec
        if spec.redress_decay is None or "redress" not in spec.complaint_covariates:
            raise ValueError("the joint decay needs a stock specification with `redress` "
                             "among the complaint covariates")
        if "redress" in (*spec.compliment_covariates, *spec.transition_covariates,
                         *spec.initial_covariates):
            raise NotImplementedError("ρ in θ is implemented for `redress` in the complaint "
                                      "rate only")
        self.layout = layout
        self.index = spec.complaint_covariates.index("redress")
        augmented = dataclasses.replace(
            spec, complaint_covariates=(*spec.complaint_covariates, DERIVATIVE_COVARIATE))
        self.augmented_layout = ParamLayout(augmented)
        # position of the derivative's coefficient in the augmented θ (after β_c)
        self.position = layout.slices["beta_c"].stop
        self.gamma_position = layout.slices["beta_c"].start + self.index
        self.n_params = layout.n_params + 1
        self.nobs = data.nobs
        self.sequences = data.sequences
        intervened, seq, exponent, weight = answered_history(panel, spec, data)
        self.pieces: list[_StockPiece] = []
        n = data.n_sequences
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            chunk = data if (start, stop) == (0, n) else data.take(np.arange(start, stop))
            keep = (seq >= start) & (seq < stop)
            self.pieces.append(_StockPiece(
                data=chunk, intervened=intervened[:chunk.n_periods, start:stop],
                prior_sequence=seq[keep] - start, prior_exponent=exponent[keep],
                prior_weight=weight[keep]))

    @staticmethod
    def stock(piece: _StockPiece, rho: float) -> tuple[np.ndarray, np.ndarray]:
        """Return the stock ``R_t(ρ)`` and its derivative ``D_t = ∂R_t/∂ρ`` of one block, (T, N).

        ``R_{t+1} = ρ R_t + I_t`` and ``D_{t+1} = R_t + ρ D_t`` from the inherited stock
        ``R_0 = Σ ρ^e I`` (``D_0 = Σ e ρ^{e−1} I``); 0 in padding.
        """
        mask = piece.data.mask
        n_periods, n = mask.shape
        stock = np.zeros((n_periods, n))
        derivative = np.zeros((n_periods, n))
        if piece.prior_weight.size:
            e, w = piece.prior_exponent, piece.prior_weight
            np.add.at(stock[0], piece.prior_sequence, w * rho ** e)
            np.add.at(derivative[0], piece.prior_sequence,
                      np.where(e > 0, w * e * rho ** np.maximum(e - 1, 0), 0.0))
        for t in range(n_periods - 1):
            derivative[t + 1] = stock[t] + rho * derivative[t]
            stock[t + 1] = rho * stock[t] + piece.intervened[t]
        return stock * mask, derivative * mask

    def chunks(self, rho: float, *, derivative: bool = True) -> list[PanelArrays]:
        """Return the blocks with the stock at ρ as ``redress`` (and ``D`` as a last covariate)."""
        out = []
        for piece in self.pieces:
            stock, d_stock = self.stock(piece, rho)
            x = piece.data.x_complaint.copy()
            x[self.index] = stock
            if derivative:
                x = np.concatenate([x, d_stock[None]], axis=0)
            out.append(dataclasses.replace(piece.data, x_complaint=x))
        return out

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Box bounds of the joint vector: the layout's, then ``[RHO_MIN, 1]`` for ρ."""
        return [*self.layout.bounds(), (RHO_MIN, 1.0)]

    def evaluate(self, theta_joint: np.ndarray, *, gradient: bool = True,
                 scores: bool = False) -> Evaluation:
        """Log-likelihood (and gradient, per-sequence scores) at ``(θ, ρ)``.

        Parameters
        ----------
        theta_joint : ndarray, shape (p + 1,)
            θ of :attr:`layout`, then ρ.
        gradient, scores : bool
            As :func:`complaintpanel.hmm.likelihood.evaluate`; gradients have ``p + 1``
            entries, ρ's last.

        Returns
        -------
        Evaluation
        """
        theta_joint = np.asarray(theta_joint, dtype=float)
        theta, rho = theta_joint[:-1], float(theta_joint[-1])
        if not (gradient or scores):
            return evaluate(theta, self.layout, self.chunks(rho, derivative=False),
                            gradient=False)
        augmented = np.insert(theta, self.position, 0.0)
        ev = evaluate(augmented, self.augmented_layout, self.chunks(rho), gradient=gradient,
                      scores=scores)
        gamma = theta[self.gamma_position]

        def joint(values: np.ndarray | None) -> np.ndarray | None:
            if values is None:
                return None
            rest = np.delete(values, self.position, axis=0)
            return np.concatenate([rest, gamma * values[self.position][None]], axis=0)

        return Evaluation(ev.loglik, ev.loglik_seq, joint(ev.grad), joint(ev.scores))

    def information(self, theta_joint: np.ndarray, step: float = 1e-4) -> np.ndarray:
        """Observed information of ``(θ, ρ)`` by central differences of the joint gradient."""
        return information_from_gradient(lambda t: self.evaluate(t).gradient(),
                                         np.asarray(theta_joint, dtype=float), step)

    def maximise(self, theta_joint: np.ndarray, *, max_iter: int = 2000, gtol: float = 1e-7
                 ) -> tuple[np.ndarray, float, bool, int]:
        """Maximise over ``(θ, ρ)`` from ``theta_joint`` with L-BFGS-B.

        The objective is the negative mean log-likelihood per customer-period, as in
        :func:`complaintpanel.hmm.estimator.optimise`.

        Returns
        -------
        theta_joint : ndarray
        loglike : float
        converged : bool
        n_iter : int
        """
        nobs = self.nobs

        def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ev = self.evaluate(x)
            grad = ev.gradient()
            if not np.isfinite(ev.loglik) or not np.all(np.isfinite(grad)):
                return 1e10, np.zeros_like(x)
            return -ev.loglik / nobs, -grad / nobs

        result = minimize(objective, np.asarray(theta_joint, dtype=float), jac=True,
                          method="L-BFGS-B", bounds=self.bounds(),
                          options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-14,
                                   "gtol": gtol})
        small_gradient = float(np.max(np.abs(result.jac))) < 100 * gtol
        return (np.asarray(result.x), -float(result.fun) * nobs,
                bool(result.success or small_gradient), int(result.nit))
