"""What the relationship model contains: its specification, state and coefficient names."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["COEFFICIENT_NAMES", "STATE_NAMES", "FirstContact", "ModelSpec", "state_names"]

STATE_NAMES: tuple[str, ...] = ("poor", "fair", "good")
FirstContact = Literal["state", "joint", "none"]

# Readable names of the coefficients the paper's argument is about (DESIGN.md §4), by the
# block they belong to: `redress` is γ in the complaint rate only, the others are transition
# shifts, so the same column in another block keeps a generic name and names never collide.
_COMPLAINT_NAMES: dict[str, str] = {"redress": "gamma"}  # squeaky wheel
_TRANSITION_NAMES: dict[str, str] = {
    "intervened": "delta",  # relationship effect
    "peer_voice": "eta",  # peer voice
    "unanswered_complaints": "kappa",  # unanswered complaints
    "fast_reply": "delta_fast",  # extra shift of a reply within the latency cut-off
}
COEFFICIENT_NAMES: dict[str, str] = {**_COMPLAINT_NAMES, **_TRANSITION_NAMES}


def state_names(n_states: int) -> tuple[str, ...]:
    """Names of the latent states from worst to best relationship."""
    if n_states == len(STATE_NAMES):
        return STATE_NAMES
    if n_states == 2:
        return ("poor", "good")
    return tuple(f"s{k}" for k in range(n_states))





@dataclass(frozen=True)
class ModelSpec:
    """What the relationship model contains (not its parameter values).

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
        (what the simulator does); ``"joint"`` — state and emissions conditioned together,
        i.e. the forward probability divided by ``Σ_k π_k P(C+P ≥ 1 | k)``; ``"none"`` — no
        conditioning (the first period is an ordinary period).
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
        return dataclasses.replace(self, brands=tuple(brands))

    def coefficient_names(self) -> dict[str, list[str]]:
        """Return the reported name of each covariate coefficient by block (``gamma``, …)."""
        return {
            "beta_c": [_COMPLAINT_NAMES.get(col, f"beta_c[{col}]")
                       for col in self.complaint_covariates],
            "beta_p": [f"beta_p[{col}]" for col in self.compliment_covariates],
            "beta_tr": [_TRANSITION_NAMES.get(col, f"beta_tr[{col}]")
                        for col in self.transition_covariates],
        }

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
    def from_dict(cls, values: Mapping[str, object]) -> ModelSpec:
        """Inverse of :meth:`to_dict`."""
        tuples = ("complaint_covariates", "compliment_covariates", "transition_covariates",
                  "initial_covariates", "brands")
        kwargs = {key: tuple(value) if key in tuples else value  # type: ignore[arg-type]
                  for key, value in values.items()}
        return cls(**kwargs)  # type: ignore[arg-type]
