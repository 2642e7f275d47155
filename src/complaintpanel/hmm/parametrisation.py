"""Model specification and the map between natural and unconstrained parameters.

The optimiser works on an unconstrained vector ``θ``; the likelihood works on *natural*
parameters (rates, coefficients, thresholds, initial logits). Two blocks need a transform:

* complaint log-rates ``a`` are **strictly decreasing** in the state index
  (``a_0 = θ_0``, ``a_k = a_{k-1} − exp(θ_k)``): state 0 complains most ("poor"), state K−1
  least ("good"). This fixes the labels (no label switching) and ties the ordered-logit
  direction to relationship quality, so δ > 0 means "moves the relationship up";
* each row of the thresholds ``τ_j·`` is **strictly increasing** (first cut free, then
  log-increments), as an ordered logit requires.

Everything else is identity. Gradients with respect to natural parameters are mapped to ``θ``
by the chain rule (:meth:`ParamLayout.gradient_to_theta`), so the analytic gradient of the
likelihood carries over exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy.special import logsumexp

from complaintpanel.model import STATE_NAMES

__all__ = [
    "COEFFICIENT_NAMES",
    "FirstContact",
    "IdentificationError",
    "ModelSpec",
    "NaturalParams",
    "ParamLayout",
    "state_names",
]

FirstContact = Literal["state", "joint", "none"]

# Readable names of the coefficients the paper's argument is about (DESIGN.md §4).
COEFFICIENT_NAMES: dict[str, str] = {
    "redress": "gamma",  # squeaky wheel, complaint emission
    "intervened": "delta",  # relationship effect, transitions
    "peer_voice": "eta",  # peer voice, transitions
    "unanswered_complaints": "kappa",  # unanswered complaints, transitions
    "fast_reply": "delta_fast",  # extra shift of a reply within the latency cut-off
}


class IdentificationError(ValueError):
    """The panel cannot identify the specification (e.g. no variation in intervention)."""


def state_names(n_states: int) -> tuple[str, ...]:
    """Names of the latent states from worst to best relationship."""
    if n_states == len(STATE_NAMES):
        return STATE_NAMES
    if n_states == 2:
        return ("poor", "good")
    return tuple(f"s{k}" for k in range(n_states))


@dataclass(frozen=True)
class ModelSpec:
    """What the relationship HMM contains (not its parameter values).

    Parameters
    ----------
    n_states : int
        Number of ordered latent states K (≥ 2).
    complaint_covariates, compliment_covariates : tuple of str
        Panel columns entering the complaint / compliment log-rates linearly. The default
        complaint covariate ``redress`` gives the squeaky-wheel coefficient γ.
    transition_covariates : tuple of str
        Columns of period *t* that shift the ordered-logit index for the move *t → t+1*
        (``intervened`` → δ, ``peer_voice`` → η, ``unanswered_complaints`` → κ,
        ``fast_reply`` → δ_fast).
    initial_covariates : tuple of str
        Customer-level columns (taken at first contact) of a multinomial logit for the initial
        state; empty means a single initial distribution π.
    sentiment : str or None
        Column of a Gaussian sentiment emission ``Normal(m_k, σ_k)`` (missing values are
        skipped); ``None`` switches it off.
    reply_model : bool
        Model the brand's replies as an emission: ``answered ~ Binomial(complaints,
        logistic(ρ_brand + ψ_k))``. Needed when replies depend on the latent state
        (endogenous replies); harmless (ψ ≈ 0) when they do not.
    first_contact : {"state", "joint", "none"}
        How the first period is conditioned on first contact (complaints + compliments ≥ 1):
        ``"state"`` — emissions zero-truncated given the state, the state itself drawn from π
        (what :mod:`complaintpanel.simulate` does); ``"joint"`` — state and emissions
        conditioned together, i.e. the forward probability divided by
        ``Σ_k π_k P(C+P ≥ 1 | k)``; ``"none"`` — no conditioning (the first period is an
        ordinary period).
    latency_hours : float or None
        Cut-off of ``fast_reply`` (a complaint answered within this many hours), when used.
    brands : tuple of str
        Brand labels of the reply model (filled in from the data at fit time).
    """

    n_states: int = 3
    complaint_covariates: tuple[str, ...] = ("redress",)
    compliment_covariates: tuple[str, ...] = ()
    transition_covariates: tuple[str, ...] = ("intervened", "peer_voice")
    initial_covariates: tuple[str, ...] = ()
    sentiment: str | None = None
    reply_model: bool = False
    first_contact: FirstContact = "state"
    latency_hours: float | None = None
    brands: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.n_states < 2:
            raise ValueError("the relationship HMM needs at least 2 states")
        if self.first_contact not in ("state", "joint", "none"):
            raise ValueError("first_contact must be 'state', 'joint' or 'none'")
        if "fast_reply" in self.transition_covariates and self.latency_hours is None:
            raise ValueError("fast_reply needs latency_hours (the cut-off in hours)")

    def with_brands(self, brands: tuple[str, ...]) -> ModelSpec:
        """Copy with the reply model's brand labels set."""
        return replace(self, brands=tuple(brands))

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON representation."""
        return {
            "n_states": self.n_states,
            "complaint_covariates": list(self.complaint_covariates),
            "compliment_covariates": list(self.compliment_covariates),
            "transition_covariates": list(self.transition_covariates),
            "initial_covariates": list(self.initial_covariates),
            "sentiment": self.sentiment,
            "reply_model": self.reply_model,
            "first_contact": self.first_contact,
            "latency_hours": self.latency_hours,
            "brands": list(self.brands),
        }

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> ModelSpec:
        """Inverse of :meth:`to_dict`."""
        tuples = ("complaint_covariates", "compliment_covariates", "transition_covariates",
                  "initial_covariates", "brands")
        kwargs = {key: tuple(value) if key in tuples else value  # type: ignore[arg-type]
                  for key, value in values.items()}
        return cls(**kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NaturalParams:
    """Parameters on their natural scale (what the likelihood uses).

    Attributes
    ----------
    a, c : ndarray, shape (K,)
        Complaint and compliment log-rates by state (``a`` strictly decreasing).
    beta_c, beta_p, beta_tr : ndarray
        Coefficients of the complaint, compliment and transition covariates.
    tau : ndarray, shape (K, K-1)
        Ordered-logit thresholds, row = current state, increasing along the row.
    init : ndarray, shape (K-1, 1 + n_initial_covariates)
        Initial-state logits of states 1..K−1 against state 0 (intercept first).
    sent_mean, sent_log_sd : ndarray, shape (K,)
        Sentiment emission mean and log standard deviation by state (empty when off).
    reply_brand : ndarray, shape (B,)
        Reply-model logit intercept per brand (empty when off).
    reply_state : ndarray, shape (K-1,)
        Reply-model logit shift of states 1..K−1 against state 0 (empty when off).
    """

    a: np.ndarray
    c: np.ndarray
    beta_c: np.ndarray
    beta_p: np.ndarray
    beta_tr: np.ndarray
    tau: np.ndarray
    init: np.ndarray
    sent_mean: np.ndarray
    sent_log_sd: np.ndarray
    reply_brand: np.ndarray
    reply_state: np.ndarray


_BLOCKS = ("a", "c", "beta_c", "beta_p", "beta_tr", "tau", "init", "sent_mean", "sent_log_sd",
           "reply_brand", "reply_state")


class ParamLayout:
    """Where each parameter block sits in ``θ`` and how it maps to natural parameters.

    Natural and unconstrained vectors share one layout (same blocks, same sizes, same order);
    only ``a`` and ``tau`` differ by a transform.

    Parameters
    ----------
    spec : ModelSpec
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        k = spec.n_states
        sizes = {
            "a": k,
            "c": k,
            "beta_c": len(spec.complaint_covariates),
            "beta_p": len(spec.compliment_covariates),
            "beta_tr": len(spec.transition_covariates),
            "tau": k * (k - 1),
            "init": (k - 1) * (1 + len(spec.initial_covariates)),
            "sent_mean": k if spec.sentiment else 0,
            "sent_log_sd": k if spec.sentiment else 0,
            "reply_brand": len(spec.brands) if spec.reply_model else 0,
            "reply_state": k - 1 if spec.reply_model else 0,
        }
        if spec.reply_model and not spec.brands:
            raise ValueError("the reply model needs the brand labels (ModelSpec.with_brands)")
        self.slices: dict[str, slice] = {}
        start = 0
        for name in _BLOCKS:
            self.slices[name] = slice(start, start + sizes[name])
            start += sizes[name]
        self.n_params = start

    # ---------------------------------------------------------------- θ ↔ natural
    def to_natural(self, theta: np.ndarray) -> NaturalParams:
        """Natural parameters from the unconstrained vector ``θ``."""
        theta = np.asarray(theta, dtype=float)
        k = self.spec.n_states
        blocks = {name: theta[s].copy() for name, s in self.slices.items()}
        raw_a = blocks["a"]
        blocks["a"] = raw_a[0] - np.concatenate([[0.0], np.cumsum(np.exp(raw_a[1:]))])
        raw_tau = blocks["tau"].reshape(k, k - 1)
        tau = raw_tau[:, :1] + np.concatenate(
            [np.zeros((k, 1)), np.cumsum(np.exp(raw_tau[:, 1:]), axis=1)], axis=1)
        blocks["tau"] = tau
        blocks["init"] = blocks["init"].reshape(k - 1, 1 + len(self.spec.initial_covariates))
        return NaturalParams(**blocks)

    def from_natural(self, nat: NaturalParams) -> np.ndarray:
        """Unconstrained vector ``θ`` from natural parameters (inverse of :meth:`to_natural`)."""
        theta = np.empty(self.n_params)
        a = np.asarray(nat.a, dtype=float)
        steps = -np.diff(a)
        tau = np.asarray(nat.tau, dtype=float)
        gaps = np.diff(tau, axis=1)
        if np.any(steps <= 0):
            raise ValueError("complaint log-rates must be strictly decreasing in the state")
        if np.any(gaps <= 0):
            raise ValueError("thresholds must increase along each row")
        theta[self.slices["a"]] = np.concatenate([[a[0]], np.log(steps)])
        theta[self.slices["tau"]] = np.concatenate([tau[:, :1], np.log(gaps)], axis=1).ravel()
        for name in _BLOCKS:
            if name not in ("a", "tau"):
                theta[self.slices[name]] = np.asarray(getattr(nat, name), dtype=float).ravel()
        return theta

    def natural_vector(self, nat: NaturalParams) -> np.ndarray:
        """Natural parameters flattened in block order."""
        return np.concatenate([np.asarray(getattr(nat, name), dtype=float).ravel()
                               for name in _BLOCKS])

    def gradient_to_theta(self, theta: np.ndarray, grad_nat: np.ndarray) -> np.ndarray:
        """Chain rule: gradient w.r.t. natural parameters → gradient w.r.t. ``θ``.

        Parameters
        ----------
        theta : ndarray, shape (p,)
        grad_nat : ndarray, shape (p,) or (p, n)
            Gradient (or per-sequence gradients in columns) w.r.t. the natural vector.
        """
        k = self.spec.n_states
        out = np.array(grad_nat, dtype=float, copy=True)
        sa = self.slices["a"]
        ga = grad_nat[sa]
        # a_k = θ_0 − Σ_{m≤k} exp(θ_m): ∂/∂θ_0 = Σ_k g_k, ∂/∂θ_m = −exp(θ_m) Σ_{k≥m} g_k
        tail = np.cumsum(ga[::-1], axis=0)[::-1]
        scale_a = np.exp(theta[sa][1:])
        out[sa] = np.concatenate(
            [tail[:1], -(scale_a.reshape((-1,) + (1,) * (ga.ndim - 1)) * tail[1:])], axis=0)
        st = self.slices["tau"]
        gt = grad_nat[st].reshape((k, k - 1, *grad_nat.shape[1:]))
        tail_t = np.cumsum(gt[:, ::-1], axis=1)[:, ::-1]
        scale_t = np.exp(theta[st].reshape(k, k - 1)[:, 1:])
        scale_t = scale_t.reshape(scale_t.shape + (1,) * (gt.ndim - 2))
        out[st] = np.concatenate([tail_t[:, :1], scale_t * tail_t[:, 1:]],
                                 axis=1).reshape((-1, *grad_nat.shape[1:]))
        return out

    # ---------------------------------------------------------------- names and reporting
    def reported(self, theta: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Names and values of the parameters as reported (natural scale).

        Initial logits are reported as the probabilities π_k when there are no initial
        covariates, and the sentiment log standard deviations as σ_k.
        """
        nat = self.to_natural(theta)
        spec = self.spec
        names_s = state_names(spec.n_states)
        names: list[str] = []
        values: list[float] = []

        def add(name: str, value: float) -> None:
            names.append(name)
            values.append(float(value))

        for k, s in enumerate(names_s):
            add(f"a[{s}]", nat.a[k])
        for k, s in enumerate(names_s):
            add(f"c[{s}]", nat.c[k])
        for col, value in zip(spec.complaint_covariates, nat.beta_c, strict=True):
            add(COEFFICIENT_NAMES.get(col, f"beta_c[{col}]"), value)
        for col, value in zip(spec.compliment_covariates, nat.beta_p, strict=True):
            add(f"beta_p[{col}]", value)
        for col, value in zip(spec.transition_covariates, nat.beta_tr, strict=True):
            add(COEFFICIENT_NAMES.get(col, f"beta_tr[{col}]"), value)
        for j, s in enumerate(names_s):
            for m in range(spec.n_states - 1):
                add(f"tau[{s},{m + 1}]", nat.tau[j, m])
        if spec.initial_covariates:
            for k, s in enumerate(names_s[1:]):
                for v, col in enumerate(("const", *spec.initial_covariates)):
                    add(f"init[{s},{col}]", nat.init[k, v])
        else:
            logits = np.concatenate([[0.0], nat.init[:, 0]])
            pi = np.exp(logits - logsumexp(logits))
            for k, s in enumerate(names_s):
                add(f"pi[{s}]", pi[k])
        if spec.sentiment:
            for k, s in enumerate(names_s):
                add(f"m[{s}]", nat.sent_mean[k])
            for k, s in enumerate(names_s):
                add(f"sigma[{s}]", np.exp(nat.sent_log_sd[k]))
        if spec.reply_model:
            for b, brand in enumerate(spec.brands):
                add(f"rho[{brand}]", nat.reply_brand[b])
            for k, s in enumerate(names_s[1:]):
                add(f"psi[{s}]", nat.reply_state[k])
        return names, np.asarray(values)

    def reported_jacobian(self, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
        """Return ∂(reported values)/∂θ by central differences (a smooth, cheap map)."""
        _, base = self.reported(theta)
        jac = np.empty((base.size, self.n_params))
        for i in range(self.n_params):
            up, down = theta.copy(), theta.copy()
            up[i] += step
            down[i] -= step
            jac[:, i] = (self.reported(up)[1] - self.reported(down)[1]) / (2 * step)
        return jac

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Loose box bounds on ``θ`` that keep random starts away from overflow."""
        k = self.spec.n_states
        bounds: list[tuple[float | None, float | None]] = [(-30.0, 30.0)] * self.n_params
        sa = self.slices["a"]
        for i in range(sa.start + 1, sa.stop):
            bounds[i] = (-12.0, 4.0)  # log gap between adjacent complaint log-rates
        st = self.slices["tau"]
        for j in range(k):
            for m in range(1, k - 1):
                bounds[st.start + j * (k - 1) + m] = (-12.0, 4.0)  # log gap between cuts
        for name in ("beta_c", "beta_p", "beta_tr", "init", "reply_brand", "reply_state"):
            s = self.slices[name]
            for i in range(s.start, s.stop):
                bounds[i] = (-20.0, 20.0)
        s = self.slices["sent_log_sd"]
        for i in range(s.start, s.stop):
            bounds[i] = (-12.0, 6.0)
        return bounds
