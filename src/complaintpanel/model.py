"""The structural model of the customer–brand relationship (DESIGN.md §4).

This module holds the parameters and the two building blocks that both the simulator
(:mod:`complaintpanel.simulate`) and the estimator (:mod:`complaintpanel.hmm`) use, so the
world we simulate and the model we fit are the same model by construction:

* **emissions** — in period *t*, a customer in latent state *k* writes
  ``complaints ~ Poisson(exp(a_k + γ·R_t))`` and ``compliments ~ Poisson(exp(c_k))``, where
  ``R_t`` is the redress history (a complaint of hers was answered before *t*). γ > 0 is the
  squeaky-wheel effect;
* **transitions** — an ordered logit,
  ``P(s_{t+1} ≤ k | s_t = j) = logistic(τ_jk − δ·I_t − η·peer_t − κ·U_t)``, where ``I_t`` says the
  brand answered a complaint in *t* (δ > 0 is the relationship effect), ``peer_t`` is the net voice
  of the brand's other customers and ``U_t`` an optional count of unanswered complaints.

States are numbered ``0 .. K-1`` from the worst relationship ("poor") to the best ("good"), so a
larger index means a better relationship and higher thresholds mean worse next states.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = [
    "STATE_NAMES",
    "RelationshipParams",
    "add_hmm_covariates",
    "default_params",
    "peer_voice_counts",
    "transition_matrices",
]

STATE_NAMES: tuple[str, ...] = ("poor", "fair", "good")


@dataclass(frozen=True)
class RelationshipParams:
    """Parameters of the relationship hidden Markov model.

    Parameters
    ----------
    complaint_log_rate : tuple of float
        ``a_k``, log of the weekly complaint rate in state *k* (no redress history), length K.
    compliment_log_rate : tuple of float
        ``c_k``, log of the weekly compliment rate in state *k*, length K.
    gamma : float
        Squeaky-wheel effect: shift of the complaint log-rate once a complaint has been answered.
    delta : float
        Relationship effect: shift of the latent index when the brand answers a complaint.
    eta : float
        Effect of peer voice (net compliments of the brand's other customers) on the latent index.
    kappa : float
        Effect of each unanswered complaint on the latent index (0 switches it off).
    thresholds : tuple of tuple of float
        ``τ_jk``, a K × (K−1) array: row *j* (current state) holds increasing cut points.
    initial_probs : tuple of float
        ``π``, distribution of the state at first contact, length K.
    """

    complaint_log_rate: tuple[float, ...]
    compliment_log_rate: tuple[float, ...]
    gamma: float
    delta: float
    eta: float
    thresholds: tuple[tuple[float, ...], ...]
    initial_probs: tuple[float, ...]
    kappa: float = 0.0

    def __post_init__(self) -> None:
        k = self.n_states
        if len(self.compliment_log_rate) != k or len(self.initial_probs) != k:
            raise ValueError("complaint, compliment and initial vectors must all have length K")
        tau = np.asarray(self.thresholds, dtype=float)
        if tau.shape != (k, k - 1):
            raise ValueError(f"thresholds must be K × (K-1) = {k} × {k - 1}, got {tau.shape}")
        if np.any(np.diff(tau, axis=1) <= 0):
            raise ValueError("thresholds must increase within each row (ordered logit)")
        if not np.isclose(sum(self.initial_probs), 1.0) or min(self.initial_probs) < 0:
            raise ValueError("initial_probs must be a probability vector")

    @property
    def n_states(self) -> int:
        """Number of latent states K."""
        return len(self.complaint_log_rate)

    @property
    def tau(self) -> np.ndarray:
        """Thresholds as a K × (K−1) array."""
        return np.asarray(self.thresholds, dtype=float)

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON representation (lists, not tuples)."""
        return {key: _listify(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> RelationshipParams:
        """Inverse of :meth:`to_dict`."""
        return cls(
            complaint_log_rate=tuple(values["complaint_log_rate"]),  # type: ignore[arg-type]
            compliment_log_rate=tuple(values["compliment_log_rate"]),  # type: ignore[arg-type]
            gamma=float(values["gamma"]),  # type: ignore[arg-type]
            delta=float(values["delta"]),  # type: ignore[arg-type]
            eta=float(values["eta"]),  # type: ignore[arg-type]
            kappa=float(values.get("kappa", 0.0)),  # type: ignore[arg-type]
            thresholds=tuple(tuple(row) for row in values["thresholds"]),  # type: ignore[union-attr]
            initial_probs=tuple(values["initial_probs"]),  # type: ignore[arg-type]
        )


def _listify(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_listify(v) for v in value]
    return value


def default_params() -> RelationshipParams:
    """Return the calibration of DESIGN.md §5, known to identify the model well.

    K = 3; complaint log-rates (0, −1, −2.5); compliment log-rates (−3, −1.8, −0.7); γ = 0.4;
    δ = 1.2; first thresholds (1.5, −1.5, −3.5) by current state, second = first + (2.5, 2.5, 2.0);
    initial shares (0.4, 0.4, 0.2). Peer voice enters with η = 0.5 (DESIGN.md leaves it open).
    """
    first = np.array([1.5, -1.5, -3.5])
    second = first + np.array([2.5, 2.5, 2.0])
    return RelationshipParams(
        complaint_log_rate=(0.0, -1.0, -2.5),
        compliment_log_rate=(-3.0, -1.8, -0.7),
        gamma=0.4,
        delta=1.2,
        eta=0.5,
        thresholds=tuple((float(f), float(s)) for f, s in zip(first, second, strict=True)),
        initial_probs=(0.4, 0.4, 0.2),
    )


def transition_matrices(tau: np.ndarray, shift: np.ndarray | float) -> np.ndarray:
    """Ordered-logit transition matrices for a batch of latent-index shifts.

    Parameters
    ----------
    tau : ndarray, shape (K, K-1)
        Row-specific increasing thresholds ``τ_jk``.
    shift : ndarray or float
        ``δ·I + η·peer + κ·U`` for each observation; any shape ``S``.

    Returns
    -------
    ndarray, shape ``S + (K, K)``
        ``P[..., j, k] = P(s' = k | s = j)``; rows sum to one.
    """
    shift = np.asarray(shift, dtype=float)
    # cumulative P(s' <= k | s = j), with P(s' <= K-1) = 1 appended
    cumulative = expit(tau - shift[..., None, None])
    ones = np.ones((*cumulative.shape[:-1], 1))
    zeros = np.zeros_like(ones)
    return np.diff(np.concatenate([zeros, cumulative, ones], axis=-1), axis=-1)



def add_hmm_covariates(panel: pd.DataFrame) -> pd.DataFrame:
    """Derive the structural model's covariates from panel columns.

    The same definitions are used by the simulator (which draws the world from them) and by the
    estimator (which conditions on them), so the two can never disagree.

    Parameters
    ----------
    panel : DataFrame
        One row per customer × brand × period with at least ``customer_id``, ``brand``,
        ``period``, ``answered_complaints``, ``peer_complaints`` and ``peer_compliments``.

    Returns
    -------
    DataFrame
        A copy sorted by customer, brand and period with three added columns:

        ``intervened``
            1 if the brand answered at least one of the customer's complaints in the period (I_t).
        ``redress``
            1 if a complaint of the customer was answered in an earlier period (R_t).
        ``peer_voice``
            Net voice of the brand's other customers in the period: (compliments − complaints)
            per other customer in the panel for that brand and period (0 when there is none).
    """
    required = {"customer_id", "brand", "period", "answered_complaints",
                "peer_complaints", "peer_compliments"}
    missing = sorted(required - set(panel.columns))
    if missing:
        raise KeyError(f"panel lacks column(s) {missing} needed for the structural model")
    out = panel.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)
    out["intervened"] = (out["answered_complaints"] > 0).astype("int8")
    # redress = answered in a strictly earlier period: running max of the lagged indicator
    shifted = out.groupby(["customer_id", "brand"], sort=False)["intervened"].shift(1)
    out["redress"] = (
        shifted.fillna(0).groupby([out["customer_id"], out["brand"]], sort=False).cummax()
    ).astype("int8")
    others = out.groupby(["brand", "period"], sort=False)["customer_id"].transform("size") - 1
    net = out["peer_compliments"] - out["peer_complaints"]
    out["peer_voice"] = np.where(others > 0, net / others.clip(lower=1), 0.0)
    return out


def peer_voice_counts(brand: np.ndarray, complaints: np.ndarray, compliments: np.ndarray,
                      n_brands: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peer complaints, peer compliments and peer voice of each active customer in one period.

    The same definition as :func:`add_hmm_covariates`, computed from arrays by the simulators:
    totals of the brand's customers minus the customer's own, and net voice per other customer.

    Parameters
    ----------
    brand : ndarray of int
        Brand index of each active customer.
    complaints, compliments : ndarray
        Her counts in the period.
    n_brands : int

    Returns
    -------
    peer_complaints, peer_compliments, peer_voice : ndarray
    """
    total_c = np.bincount(brand, weights=complaints, minlength=n_brands)
    total_p = np.bincount(brand, weights=compliments, minlength=n_brands)
    others = np.bincount(brand, minlength=n_brands)[brand] - 1
    peer_c = total_c[brand] - complaints
    peer_p = total_p[brand] - compliments
    voice = np.where(others > 0, (peer_p - peer_c) / np.maximum(others, 1), 0.0)
    return peer_c, peer_p, voice
