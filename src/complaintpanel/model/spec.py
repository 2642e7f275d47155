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
    neutral : bool
        Model the period's neutral tweets as a third emission, ``neutral ~ Poisson(exp(n_k))``
        (needed by the misclassification layer: a neutral tweet may be labelled a complaint).
    validation_counts, validation_population : tuple or None
        A coded validation sample (:class:`complaintpanel.model.measurement.ValidationCounts`:
        ``n[v, ℓ]`` as a 3 × 3 tuple and the label census ``N_ℓ``). When given, the observed
        label counts are Poisson with rates ``Mᵀ Λ`` (DESIGN.md §4.1) and ``M`` is estimated
        jointly with the HMM (its q-logits are parameters; the sample's multinomial
        log-likelihood is added). Needs ``neutral``.
    fixed_misclassification : tuple or None
        A known ``M`` (3 × 3 tuple, rows = true voice) used as fixed instead of estimated.
    reply_process : bool
        Model the brand's replies to every tweet (:mod:`complaintpanel.hmm.reply_process`):
        each tweet of true voice ``v`` is answered with probability ``p[v, brand]``, so the
        label × answered counts are independent Poisson, and intervention and redress become
        latent (``intervened`` = a *true* complaint answered). Needs ``neutral`` and brands.
    redress_decay : float or None
        ``None`` (default): the redress history ``redress`` is binary and permanent (a
        complaint was answered in an earlier period). A decay ``ρ`` in (0, 1]: ``redress`` is
        the decaying stock ``R_t = Σ_{s<t} ρ^{t−1−s} I_s`` of earlier answered periods
        (DESIGN.md §4.2), i.e. ``R_{t+1} = ρ R_t + I_t``.
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
    neutral: bool = False
    validation_counts: tuple[tuple[int, ...], ...] | None = None
    validation_population: tuple[int, ...] | None = None
    fixed_misclassification: tuple[tuple[float, ...], ...] | None = None
    reply_process: bool = False
    redress_decay: float | None = None

    def __post_init__(self) -> None:
        if self.redress_decay is not None and not 0 < self.redress_decay <= 1:
            raise ValueError(f"redress_decay must lie in (0, 1], not {self.redress_decay!r}")
        if self.redress_decay is not None and self.reply_process:
            raise ValueError("the decaying redress stock is not available with the reply "
                             "process (its redress is latent and binary)")
        if self.reply_process and not self.neutral:
            raise ValueError("the reply process needs the neutral emission (neutral=True)")
        if (self.validation_counts is None) != (self.validation_population is None):
            raise ValueError("a validation sample needs both its counts and its population")
        if self.misclassified and not self.neutral:
            raise ValueError("the misclassification layer needs the neutral emission "
                             "(neutral=True)")
        if self.validation_counts is not None and self.fixed_misclassification is not None:
            raise ValueError("give a validation sample or a fixed misclassification matrix, "
                             "not both")
        if self.neutral and self.first_contact == "joint":
            raise ValueError("the neutral emission supports first_contact 'state' or 'none'")
        if self.n_states < 2:
            raise ValueError("the relationship HMM needs at least 2 states")
        if self.first_contact not in ("state", "joint", "none"):
            raise ValueError("first_contact must be 'state', 'joint' or 'none'")
        if "fast_reply" in self.transition_covariates and self.latency_hours is None:
            raise ValueError("fast_reply needs latency_hours (the cut-off in hours)")

    @property
    def misclassified(self) -> bool:
        """Observed labels are modelled as misclassified true voice (``ω = Mᵀ Λ``)."""
        return self.validation_counts is not None or self.fixed_misclassification is not None

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
        out: dict[str, object] = {
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
        # Written only when used, so specifications without them keep their JSON unchanged.
        if self.neutral:
            out["neutral"] = True
        if self.validation_counts is not None:
            out["validation_counts"] = [list(row) for row in self.validation_counts]
            out["validation_population"] = list(self.validation_population or ())
        if self.fixed_misclassification is not None:
            out["fixed_misclassification"] = [list(r) for r in self.fixed_misclassification]
        if self.reply_process:
            out["reply_process"] = True
        if self.redress_decay is not None:
            out["redress_decay"] = float(self.redress_decay)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> ModelSpec:
        """Inverse of :meth:`to_dict`."""
        tuples = ("complaint_covariates", "compliment_covariates", "transition_covariates",
                  "initial_covariates", "brands")
        kwargs = {key: tuple(value) if key in tuples else value  # type: ignore[arg-type]
                  for key, value in values.items()}
        for key in ("validation_counts", "fixed_misclassification"):
            if kwargs.get(key) is not None:
                rows: list[list[object]] = kwargs[key]  # type: ignore[assignment]
                kwargs[key] = tuple(tuple(row) for row in rows)
        if kwargs.get("validation_population") is not None:
            kwargs["validation_population"] = tuple(
                kwargs["validation_population"])  # type: ignore[arg-type]
        return cls(**kwargs)  # type: ignore[arg-type]
