"""A decaying redress stock with its decay estimated by profile likelihood (issue 16).

With ``RelationshipHMM(redress="stock")`` the complaint log-rate carries ``γ·R_it`` with the
decaying stock ``R_it = Σ_{s<t} ρ^{t−1−s} I_is`` of the customer's earlier answered periods
(DESIGN.md §4.2; built from the panel for a given ρ by :func:`complaintpanel.hmm.data.
prepare_panel`). For a fixed ρ the stock is an ordinary real-valued covariate: the likelihood,
its analytic gradient and the observed information need nothing new.

When ρ is estimated (``redress_decay="auto"`` or ``None``) it is *profiled*: for each ρ the
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
from scipy.optimize import brentq, minimize_scalar

from complaintpanel.hmm.data import PanelArrays, prepare_panel
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.model import ModelSpec

__all__ = ["LR_CUT_95", "RHO_MIN", "DecayProfile", "chord_newton", "profile_decay"]

RHO_MIN = 0.01  # lower end of the search (ρ → 0 leaves only last period's answer)
LR_CUT_95 = 3.841458820694124  # χ²₁ 0.95 quantile
RHO_TOL = 5e-3  # tolerance on ρ of the search and of the interval's ends


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
