"""The structural model of the customer–brand relationship (DESIGN.md §4), in one place.

The simulator (:mod:`complaintpanel.simulate`), the estimator's sampler and policy simulation
(:mod:`complaintpanel.hmm`) and the simulated truth of the answering effects all draw from the
model through one function, :func:`step`, with one parameter type, :class:`ModelParams`. A
change to the model is therefore one edit here, and the world we simulate and the model we fit
cannot silently disagree.

The model, for customer *i* of a brand in period *t* and latent state *k*:

* **voice** — ``complaints ~ Poisson(exp(a_k + γ·R_t))``, ``compliments ~ Poisson(exp(c_k))``,
  ``neutral ~ Poisson(exp(n_k))`` (simulated, not estimated yet), optionally a sentiment
  ``Normal(m_k, σ_k)``. ``R_t`` is the redress history (a complaint of hers was answered before
  *t*); γ > 0 is the squeaky-wheel effect;
* **answers** — the brand answers complaints by an answer rule (:class:`AnswerByLogit`, …);
* **transitions** — an ordered logit,
  ``P(s_{t+1} ≤ k | s_t = j) = logistic(τ_jk − δ·I_t − η·peer_t − κ·U_t − δ_fast·F_t)``, where
  ``I_t`` says the brand answered a complaint in *t* (δ > 0 is the relationship effect),
  ``peer_t`` is the net voice of the brand's other customers, ``U_t`` the unanswered complaints
  and ``F_t`` a fast reply; the covariates present are those of :class:`ModelSpec`;
* **first contact** — the state at a customer's first period is drawn from π, and that period
  is conditioned on ``complaints + compliments ≥ 1`` (``ModelSpec.first_contact``).

States are numbered ``0 .. K-1`` from the worst relationship ("poor") to the best ("good"), so a
larger index means a better relationship and higher thresholds mean worse next states.

Randomness goes through a :class:`Draws` object: :class:`GeneratorDraws` takes draws from numpy
generators in a fixed order (the simulator's single sequential generator, or one stream per
purpose for common random numbers), :class:`UniformDraws` turns given uniforms into draws by
inverse CDF (two arms of an experiment sharing the same uniforms).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

__all__ = [
    "COEFFICIENT_NAMES",
    "ENTERING",
    "NEUTRAL_LOG_RATE",
    "STATE_NAMES",
    "AnswerAll",
    "AnswerAtRate",
    "AnswerByLogit",
    "AnswerNone",
    "AnswerRule",
    "Answers",
    "Customers",
    "Draws",
    "FirstContact",
    "GeneratorDraws",
    "Histories",
    "ModelParams",
    "ModelSpec",
    "Period",
    "UniformDraws",
    "add_hmm_covariates",
    "categorical",
    "default_params",
    "emission_rates",
    "peer_voice_counts",
    "simulate_histories",
    "state_names",
    "step",
    "transition_matrices",
    "update_redress",
]

STATE_NAMES: tuple[str, ...] = ("poor", "fair", "good")
NEUTRAL_LOG_RATE = float(np.log(0.25))  # neutral questions per customer-week, every state
ENTERING = -1  # previous state of a customer whose first contact is this period
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

# The covariates step() produces each period: the redress history for the emissions, and the
# period's answers and peer voice for the next transition.
EMISSION_COVARIATES = frozenset({"redress"})
TRANSITION_COVARIATES = frozenset(_TRANSITION_NAMES)


def state_names(n_states: int) -> tuple[str, ...]:
    """Names of the latent states from worst to best relationship."""
    if n_states == len(STATE_NAMES):
        return STATE_NAMES
    if n_states == 2:
        return ("poor", "good")
    return tuple(f"s{k}" for k in range(n_states))


# --------------------------------------------------------------------------------------------
# Specification and parameters
# --------------------------------------------------------------------------------------------


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


# Named values of the core specification: argument of ModelParams.core and .replace → the
# covariate whose coefficient it is.
_NAMED_COEFFICIENTS: dict[str, tuple[str, str]] = {
    "gamma": ("beta_c", "redress"),
    "delta": ("beta_tr", "intervened"),
    "eta": ("beta_tr", "peer_voice"),
    "kappa": ("beta_tr", "unanswered_complaints"),
    "delta_fast": ("beta_tr", "fast_reply"),
}
_BLOCK_COVARIATES = {"beta_c": "complaint_covariates", "beta_p": "compliment_covariates",
                     "beta_tr": "transition_covariates"}


@dataclass(frozen=True, eq=False)
class ModelParams:
    """Parameters of the relationship model on their natural scale, with their specification.

    One type serves the simulator (which draws from it), the estimator (whose likelihood
    evaluates it and whose results are reported as one) and the truth files. Build the core
    specification from named values with :meth:`core` (or :func:`default_params`); the
    estimator builds it from its unconstrained vector
    (:meth:`complaintpanel.hmm.parametrisation.ParamLayout.to_natural`).

    Attributes
    ----------
    spec : ModelSpec
        What the blocks below mean (covariate names, K, first-contact conditioning).
    a, c : ndarray, shape (K,)
        Complaint and compliment log-rates by state (the estimator keeps ``a`` strictly
        decreasing: state 0 complains most).
    beta_c, beta_p, beta_tr : ndarray
        Coefficients of ``spec``'s complaint, compliment and transition covariates, in order.
    tau : ndarray, shape (K, K-1)
        Ordered-logit thresholds, row = current state, increasing along the row.
    init : ndarray, shape (K-1, 1 + n_initial_covariates)
        Initial-state logits of states 1..K−1 against state 0 (intercept first).
    sent_mean, sent_log_sd : ndarray, shape (K,)
        Sentiment emission mean and log standard deviation by state (empty when off).
    reply_brand : ndarray, shape (B,)
        Reply-model logit intercept per brand of ``spec.brands`` (empty when off).
    reply_state : ndarray, shape (K-1,)
        Reply-model logit shift of states 1..K−1 against state 0 (empty when off).
    neutral : ndarray of shape (K,) or None
        Log-rate of neutral tweets by state. The simulator draws them; the estimator does not
        model them (yet), so its parameters carry ``None`` and no neutral tweets are drawn.
    """

    spec: ModelSpec
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
    neutral: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Shapes only: the estimator builds one of these per likelihood evaluation, and values
        # (ordering, finiteness) are the parametrisation's business.
        spec, k = self.spec, self.spec.n_states
        sizes = {"a": k, "c": k, "beta_c": len(spec.complaint_covariates),
                 "beta_p": len(spec.compliment_covariates),
                 "beta_tr": len(spec.transition_covariates),
                 "sent_mean": k if spec.sentiment else 0,
                 "sent_log_sd": k if spec.sentiment else 0,
                 "reply_brand": len(spec.brands) if spec.reply_model else 0,
                 "reply_state": k - 1 if spec.reply_model else 0}
        for name, size in sizes.items():
            if np.size(getattr(self, name)) != size:
                raise ValueError(f"`{name}` must have {size} values for this specification, "
                                 f"got {np.size(getattr(self, name))}")
        if np.shape(self.tau) != (k, k - 1):
            raise ValueError(f"thresholds must be K × (K-1) = {k} × {k - 1}, "
                             f"got {np.shape(self.tau)}")
        if np.shape(self.init) != (k - 1, 1 + len(spec.initial_covariates)):
            raise ValueError("initial logits must be (K-1) × (1 + initial covariates)")
        if self.neutral is not None and np.size(self.neutral) != k:
            raise ValueError(f"neutral log-rates must have K = {k} values")

    # ------------------------------------------------------------------ named values
    @property
    def n_states(self) -> int:
        """Number of latent states K."""
        return self.spec.n_states

    def coefficient(self, block: str, column: str) -> float:
        """Coefficient of ``column`` in ``block`` (``beta_c``, ``beta_p``, ``beta_tr``).

        Returns 0 when the specification leaves the covariate out: the model is then the same
        as with a zero coefficient.
        """
        columns = getattr(self.spec, _BLOCK_COVARIATES[block])
        if column not in columns:
            return 0.0
        return float(getattr(self, block)[columns.index(column)])

    @property
    def gamma(self) -> float:
        """Squeaky-wheel effect: coefficient of ``redress`` in the complaint log-rate."""
        return self.coefficient("beta_c", "redress")

    @property
    def delta(self) -> float:
        """Relationship effect: coefficient of ``intervened`` in the transitions."""
        return self.coefficient("beta_tr", "intervened")

    @property
    def eta(self) -> float:
        """Effect of ``peer_voice`` on the transitions."""
        return self.coefficient("beta_tr", "peer_voice")

    @property
    def kappa(self) -> float:
        """Effect of each of the period's ``unanswered_complaints`` on the transitions."""
        return self.coefficient("beta_tr", "unanswered_complaints")

    @property
    def delta_fast(self) -> float:
        """Extra effect of a ``fast_reply`` on the transitions."""
        return self.coefficient("beta_tr", "fast_reply")

    @property
    def initial_probs(self) -> np.ndarray:
        """``π``, the distribution of the state at first contact (no initial covariates)."""
        if self.spec.initial_covariates:
            raise ValueError("with initial covariates π differs by customer; see `init`")
        logits = np.concatenate([[0.0], self.init[:, 0]])
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def transition_shift(self, covariates: Mapping[str, np.ndarray | float],
                         shape: tuple[int, ...] = ()) -> np.ndarray:
        """Latent-index shift ``δ·I + η·peer + κ·U + δ_fast·F`` of the specification.

        Parameters
        ----------
        covariates : mapping
            Value (array or scalar) of every transition covariate of ``spec`` by column name.
        shape : tuple of int
            Shape of the result when the covariates do not give it (e.g. there are none).

        Returns
        -------
        ndarray
            ``Σ_col β_col · x_col`` in the order of ``spec.transition_covariates``.
        """
        missing = [col for col in self.spec.transition_covariates if col not in covariates]
        if missing:
            raise KeyError(f"transition covariate(s) {missing} have no value")
        out = np.zeros(np.broadcast_shapes(shape, *(np.shape(covariates[col])
                                                    for col in self.spec.transition_covariates)))
        for col, coef in zip(self.spec.transition_covariates, self.beta_tr, strict=True):
            out = out + coef * np.asarray(covariates[col], dtype=float)
        return out

    # ------------------------------------------------------------------ construction
    @classmethod
    def core(cls, *, complaint_log_rate: tuple[float, ...] | np.ndarray,
             compliment_log_rate: tuple[float, ...] | np.ndarray,
             thresholds: tuple[tuple[float, ...], ...] | np.ndarray,
             initial_probs: tuple[float, ...] | np.ndarray,
             gamma: float = 0.0, delta: float = 0.0, eta: float = 0.0, kappa: float = 0.0,
             delta_fast: float = 0.0,
             neutral_log_rate: float | tuple[float, ...] | np.ndarray | None = NEUTRAL_LOG_RATE,
             spec: ModelSpec | None = None) -> ModelParams:
        """Build the parameters of the core specification from named values.

        Parameters
        ----------
        complaint_log_rate, compliment_log_rate : sequence of float
            ``a_k`` and ``c_k``, length K.
        thresholds : sequence of sequences of float
            ``τ_jk``, K × (K−1), increasing along each row.
        initial_probs : sequence of float
            ``π``, positive, summing to one.
        gamma, delta, eta, kappa, delta_fast : float
            Coefficients of ``redress`` (complaints) and of ``intervened``, ``peer_voice``,
            ``unanswered_complaints``, ``fast_reply`` (transitions).
        neutral_log_rate : float, sequence of float or None
            Neutral log-rate, one for every state or one per state; ``None`` for none.
        spec : ModelSpec, optional
            Default: K states, ``redress`` in the complaint rate, ``intervened`` and
            ``peer_voice`` (and ``unanswered_complaints`` when κ ≠ 0) in the transitions.

        Raises
        ------
        ValueError
            Inconsistent lengths, thresholds not increasing, π not a positive probability
            vector, a non-zero coefficient whose covariate ``spec`` lacks, or a ``spec`` with
            more than the core covariates (no sentiment, reply model or initial covariates).
        """
        a = np.array(complaint_log_rate, dtype=float)
        k = a.size
        if spec is None:
            transition = ("intervened", "peer_voice") + (
                ("unanswered_complaints",) if kappa else ())
            spec = ModelSpec(n_states=k, transition_covariates=transition)
        named = {"gamma": gamma, "delta": delta, "eta": eta, "kappa": kappa,
                 "delta_fast": delta_fast}
        core_columns = {column for _, column in _NAMED_COEFFICIENTS.values()}
        extra = ((set(spec.complaint_covariates) - {"redress"})
                 | (set(spec.transition_covariates) - core_columns)
                 | set(spec.compliment_covariates) | set(spec.initial_covariates))
        if extra or spec.sentiment or spec.reply_model:
            raise ValueError("named values describe the core specification only "
                             f"(unsupported here: {sorted(extra) or 'sentiment/reply model'})")
        tau = np.array(thresholds, dtype=float)
        pi = np.array(initial_probs, dtype=float)
        if spec.n_states != k or np.size(compliment_log_rate) != k or pi.size != k:
            raise ValueError("complaint, compliment and initial vectors must all have length K")
        if tau.shape != (k, k - 1):
            raise ValueError(f"thresholds must be K × (K-1) = {k} × {k - 1}, got {tau.shape}")
        if np.any(np.diff(tau, axis=1) <= 0):
            raise ValueError("thresholds must increase within each row (ordered logit)")
        if not np.isclose(pi.sum(), 1.0) or np.any(pi <= 0):
            raise ValueError("initial_probs must be a positive probability vector (they are "
                             "stored as logits)")
        blocks = {"beta_c": np.zeros(len(spec.complaint_covariates)),
                  "beta_tr": np.zeros(len(spec.transition_covariates))}
        params = cls(spec=spec, a=a, c=np.array(compliment_log_rate, dtype=float),
                     tau=tau, init=np.log(pi[1:] / pi[0])[:, None], beta_p=np.zeros(0),
                     sent_mean=np.zeros(0), sent_log_sd=np.zeros(0),
                     reply_brand=np.zeros(0), reply_state=np.zeros(0),
                     neutral=_neutral_vector(neutral_log_rate, k), **blocks)
        return params.replace(**named)

    def replace(self, **changes: Any) -> ModelParams:
        """Copy with some values changed.

        Parameters
        ----------
        **changes
            Named values (``gamma``, ``delta``, ``eta``, ``kappa``, ``delta_fast``,
            ``initial_probs``, ``neutral_log_rate``) and/or fields (``a``, ``tau``, ``spec``,
            …). Setting a coefficient whose covariate the specification lacks to a non-zero
            value is an error (to zero, a no-op).
        """
        named = {key: changes.pop(key) for key in list(changes)
                 if key in (*_NAMED_COEFFICIENTS, "initial_probs", "neutral_log_rate")}
        out = dataclasses.replace(self, **changes) if changes else self
        updates: dict[str, Any] = {}
        for name, value in named.items():
            if name == "initial_probs":
                pi = np.asarray(value, dtype=float)
                if pi.size != out.n_states or not np.isclose(pi.sum(), 1.0) or np.any(pi <= 0):
                    raise ValueError("initial_probs must be a positive probability vector")
                updates["init"] = np.log(pi[1:] / pi[0])[:, None]
            elif name == "neutral_log_rate":
                updates["neutral"] = _neutral_vector(value, out.n_states)
            else:
                block, column = _NAMED_COEFFICIENTS[name]
                columns = getattr(out.spec, _BLOCK_COVARIATES[block])
                if column in columns:
                    values = np.array(updates.get(block, getattr(out, block)), dtype=float)
                    values[columns.index(column)] = float(value)
                    updates[block] = values
                elif value:
                    raise ValueError(f"`{name}` = {value} needs `{column}` among the "
                                     f"{_BLOCK_COVARIATES[block].replace('_', ' ')}")
        return dataclasses.replace(out, **updates) if updates else out

    def with_spec(self, spec: ModelSpec) -> ModelParams:
        """Return the same model under another specification (covariates matched by name).

        Coefficients of covariates new to ``spec`` are zero; dropping a covariate is allowed
        only when its coefficient is zero. Sentiment and reply-model blocks are kept when
        ``spec`` has them and dropped (they do not move the state) when it does not.

        Raises
        ------
        ValueError
            A non-zero coefficient would be dropped, ``spec`` needs a block these parameters
            do not have, or the initial covariates or K differ.
        """
        if spec == self.spec:
            return self
        if spec.n_states != self.n_states or spec.initial_covariates != (
                self.spec.initial_covariates):
            raise ValueError("another specification must keep K and the initial covariates")
        blocks: dict[str, np.ndarray] = {}
        for block, attribute in _BLOCK_COVARIATES.items():
            old = dict(zip(getattr(self.spec, attribute), getattr(self, block), strict=True))
            new = getattr(spec, attribute)
            dropped = {col: value for col, value in old.items() if col not in new and value}
            if dropped:
                raise ValueError(f"the specification drops covariate(s) with non-zero "
                                 f"coefficients: {dropped}")
            blocks[block] = np.array([old.get(col, 0.0) for col in new], dtype=float)
        optional = (("sentiment", bool(spec.sentiment), bool(self.spec.sentiment),
                     ("sent_mean", "sent_log_sd")),
                    ("reply model", spec.reply_model, self.spec.reply_model,
                     ("reply_brand", "reply_state")))
        for what, wanted, present, names in optional:
            if wanted and not present:
                raise ValueError(f"these parameters have no {what} block")
            for name in names:
                blocks[name] = getattr(self, name) if wanted else np.zeros(0)
        if spec.reply_model and spec.brands != self.spec.brands:
            raise ValueError("the reply model's brands differ")
        return dataclasses.replace(self, spec=spec, **blocks)

    # ------------------------------------------------------------------ listing and JSON
    def reported(self) -> pd.Series:
        """List the parameters under the names the estimator reports them by (``hmm.json``).

        ``a[poor]``, ``c[…]``, ``gamma``, ``delta``, ``eta`` (or ``beta_c[col]``, …),
        ``tau[state,m]``, ``pi[state]`` (initial logits ``init[state,col]`` with initial
        covariates), ``m[state]`` and ``sigma[state]`` with sentiment, ``rho[brand]`` and
        ``psi[state]`` with the reply model — so truth and estimates line up by name.
        """
        spec = self.spec
        names_s = state_names(spec.n_states)
        coefficient_names = spec.coefficient_names()
        items: list[tuple[str, float]] = []
        items += [(f"a[{s}]", self.a[k]) for k, s in enumerate(names_s)]
        items += [(f"c[{s}]", self.c[k]) for k, s in enumerate(names_s)]
        for block in ("beta_c", "beta_p", "beta_tr"):
            items += list(zip(coefficient_names[block], getattr(self, block), strict=True))
        items += [(f"tau[{s},{m + 1}]", self.tau[j, m]) for j, s in enumerate(names_s)
                  for m in range(spec.n_states - 1)]
        if spec.initial_covariates:
            items += [(f"init[{s},{col}]", self.init[k, v])
                      for k, s in enumerate(names_s[1:])
                      for v, col in enumerate(("const", *spec.initial_covariates))]
        else:
            items += list(zip((f"pi[{s}]" for s in names_s), self.initial_probs, strict=True))
        if spec.sentiment:
            items += [(f"m[{s}]", self.sent_mean[k]) for k, s in enumerate(names_s)]
            items += [(f"sigma[{s}]", np.exp(self.sent_log_sd[k]))
                      for k, s in enumerate(names_s)]
        if spec.reply_model:
            items += [(f"rho[{b}]", self.reply_brand[i]) for i, b in enumerate(spec.brands)]
            items += [(f"psi[{s}]", self.reply_state[k]) for k, s in enumerate(names_s[1:])]
        return pd.Series([float(v) for _, v in items], index=[n for n, _ in items],
                         name="params", dtype=float)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON: the specification, then every block under a readable name.

        Coefficients appear under their reported names (``gamma``, ``delta``, ``eta``,
        ``beta_p[col]``, …), π as ``initial_probs`` (or ``initial_logits`` with initial
        covariates); see docs/CONTRACTS.md (``truth/params.json``).
        """
        spec = self.spec
        out: dict[str, object] = {
            "spec": spec.to_dict(),
            "complaint_log_rate": self.a.tolist(),
            "compliment_log_rate": self.c.tolist(),
            "neutral_log_rate": None if self.neutral is None else self.neutral.tolist(),
        }
        for block, names in spec.coefficient_names().items():
            out.update(zip(names, map(float, getattr(self, block)), strict=True))
        out["thresholds"] = self.tau.tolist()
        if spec.initial_covariates:
            out["initial_logits"] = self.init.tolist()
        else:
            out["initial_probs"] = self.initial_probs.tolist()
        if spec.sentiment:
            out["sentiment_mean"] = self.sent_mean.tolist()
            out["sentiment_log_sd"] = self.sent_log_sd.tolist()
        if spec.reply_model:
            out["reply_brand_logit"] = dict(zip(spec.brands, self.reply_brand.tolist(),
                                                strict=True))
            out["reply_state_shift"] = self.reply_state.tolist()
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> ModelParams:
        """Inverse of :meth:`to_dict`."""
        spec = ModelSpec.from_dict(values["spec"])  # type: ignore[arg-type]
        k = spec.n_states

        def array(key: str) -> np.ndarray:
            return np.asarray(values[key], dtype=float)

        blocks = {block: np.array([values[name] for name in names], dtype=float)
                  for block, names in spec.coefficient_names().items()}
        if spec.initial_covariates:
            init = array("initial_logits").reshape(k - 1, -1)
        else:
            pi = array("initial_probs")
            init = np.log(pi[1:] / pi[0])[:, None]
        neutral = values.get("neutral_log_rate")
        return cls(
            spec=spec, a=array("complaint_log_rate"), c=array("compliment_log_rate"),
            tau=array("thresholds").reshape(k, k - 1), init=init,
            sent_mean=array("sentiment_mean") if spec.sentiment else np.zeros(0),
            sent_log_sd=array("sentiment_log_sd") if spec.sentiment else np.zeros(0),
            reply_brand=(np.array([values["reply_brand_logit"][b]  # type: ignore[index]
                                   for b in spec.brands], dtype=float)
                         if spec.reply_model else np.zeros(0)),
            reply_state=array("reply_state_shift") if spec.reply_model else np.zeros(0),
            neutral=None if neutral is None else np.asarray(neutral, dtype=float), **blocks)


def _neutral_vector(value: float | tuple[float, ...] | np.ndarray | None, k: int
                    ) -> np.ndarray | None:
    if value is None:
        return None
    return np.broadcast_to(np.asarray(value, dtype=float), (k,)).copy()


def default_params() -> ModelParams:
    """Return the calibration of DESIGN.md §5, known to identify the model well.

    K = 3; complaint log-rates (0, −1, −2.5); compliment log-rates (−3, −1.8, −0.7); γ = 0.4;
    δ = 1.2; first thresholds (1.5, −1.5, −3.5) by current state, second = first + (2.5, 2.5, 2.0);
    initial shares (0.4, 0.4, 0.2). Peer voice enters with η = 0.5 (DESIGN.md leaves it open);
    neutral questions arrive at 0.25 a week in every state.
    """
    first = np.array([1.5, -1.5, -3.5])
    second = first + np.array([2.5, 2.5, 2.0])
    return ModelParams.core(
        complaint_log_rate=(0.0, -1.0, -2.5),
        compliment_log_rate=(-3.0, -1.8, -0.7),
        gamma=0.4,
        delta=1.2,
        eta=0.5,
        thresholds=tuple((float(f), float(s)) for f, s in zip(first, second, strict=True)),
        initial_probs=(0.4, 0.4, 0.2),
        neutral_log_rate=NEUTRAL_LOG_RATE,
    )


def transition_matrices(tau: np.ndarray, shift: np.ndarray | float) -> np.ndarray:
    """Ordered-logit transition matrices for a batch of latent-index shifts.

    Parameters
    ----------
    tau : ndarray, shape (K, K-1)
        Row-specific increasing thresholds ``τ_jk``.
    shift : ndarray or float
        ``δ·I + η·peer + κ·U`` for each observation (:meth:`ModelParams.transition_shift`);
        any shape ``S``.

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


# --------------------------------------------------------------------------------------------
# Randomness
# --------------------------------------------------------------------------------------------


class Draws(Protocol):
    """Where :func:`step` gets its random numbers, by purpose.

    Purposes: ``"initial"`` (state at first contact), ``"transition"``, ``"complaints"``,
    ``"compliments"``, ``"neutral"``, ``"fast"`` (which answers are fast), ``"answer"``,
    ``"sentiment"``. Within one step they are asked for in that order (``"fast"`` before
    ``"answer"``), first-contact redraws repeating ``"initial"``/``"complaints"``/
    ``"compliments"``.
    """

    def uniform(self, purpose: str, size: int) -> np.ndarray:
        """Draw ``size`` uniforms on [0, 1)."""
        ...

    def poisson(self, purpose: str, rate: np.ndarray) -> np.ndarray:
        """Draw one Poisson count per rate."""
        ...

    def binomial(self, purpose: str, n: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Draw one binomial count per (n, p)."""
        ...

    def normal(self, purpose: str, size: int) -> np.ndarray:
        """Draw ``size`` standard normal values."""
        ...


class GeneratorDraws:
    """Draws from numpy generators, in the order asked.

    Parameters
    ----------
    source : Generator or mapping of str to Generator
        One generator for every purpose (the simulator's single sequential stream), or one
        per purpose (common random numbers: arms that consume one purpose differently still
        see the same numbers for every other purpose).
    """

    def __init__(self, source: np.random.Generator | Mapping[str, np.random.Generator]
                 ) -> None:
        self._source = source

    def _rng(self, purpose: str) -> np.random.Generator:
        if isinstance(self._source, np.random.Generator):
            return self._source
        try:
            return self._source[purpose]
        except KeyError:
            raise KeyError(f"no random stream for purpose {purpose!r}") from None

    def uniform(self, purpose: str, size: int) -> np.ndarray:
        """Draw ``size`` uniforms from the purpose's generator."""
        return self._rng(purpose).random(size)

    def poisson(self, purpose: str, rate: np.ndarray) -> np.ndarray:
        """Poisson counts from the purpose's generator."""
        return self._rng(purpose).poisson(rate)

    def binomial(self, purpose: str, n: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Binomial counts from the purpose's generator."""
        return self._rng(purpose).binomial(n, p)

    def normal(self, purpose: str, size: int) -> np.ndarray:
        """Draw standard normal values from the purpose's generator."""
        return self._rng(purpose).standard_normal(size)


class UniformDraws:
    """Draws by inverse CDF from given uniforms, one array per purpose (common random numbers).

    Each purpose's uniforms serve one request (one per unit), so two arms given the same
    uniforms draw the same counts wherever their rates agree and monotonically related counts
    where they do not. A first-contact redraw would need fresh uniforms and is an error.

    Conventions: Poisson counts are ``min{k : F(k) ≥ u}`` (small u, small count); a binomial
    count is the number of ``k ≥ 1`` with ``u < P(X ≥ k)``, so a single trial succeeds when
    ``u < p``, as ``rng.random() < p`` does; normal values are ``Φ⁻¹(u)``.

    Parameters
    ----------
    uniforms : mapping of str to ndarray
        Uniforms on (0, 1) by purpose.
    """

    def __init__(self, uniforms: Mapping[str, np.ndarray]) -> None:
        self._uniforms = dict(uniforms)
        self._used: set[str] = set()

    def uniform(self, purpose: str, size: int) -> np.ndarray:
        """Return the purpose's uniforms (exactly ``size`` of them)."""
        if purpose in self._used:
            raise ValueError(f"the uniforms for {purpose!r} were already used in this step")
        if purpose not in self._uniforms:
            raise KeyError(f"no uniforms for purpose {purpose!r}")
        u = np.asarray(self._uniforms[purpose])
        if u.shape != (size,):
            raise ValueError(f"{purpose!r} needs {size} uniforms, got shape {u.shape}")
        self._used.add(purpose)
        return u

    def poisson(self, purpose: str, rate: np.ndarray) -> np.ndarray:
        """Poisson counts by inverse CDF."""
        rate = np.asarray(rate, dtype=float)
        return _poisson_inverse(self.uniform(purpose, rate.size), rate)

    def binomial(self, purpose: str, n: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Binomial counts by inverse survival function (success when ``u < p``)."""
        n = np.asarray(n, dtype=np.int64)
        return _binomial_inverse(self.uniform(purpose, n.size), n,
                                 np.broadcast_to(np.asarray(p, dtype=float), n.shape))

    def normal(self, purpose: str, size: int) -> np.ndarray:
        """Return standard normal values ``Φ⁻¹(u)``."""
        return ndtri(self.uniform(purpose, size))


def _poisson_inverse(u: np.ndarray, rate: np.ndarray, max_count: int = 60) -> np.ndarray:
    """Poisson draws by inverse CDF from given uniforms."""
    # A cap keeps the loop finite where the CDF rounds to just below u; it lies far in the
    # tail of every rate this model produces (and grows with the largest rate).
    top = float(rate.max()) if rate.size else 0.0
    max_count = max(max_count, int(top + 20 * np.sqrt(top) + 20))
    pmf = np.exp(-rate)
    cdf = pmf.copy()
    count = np.zeros(u.shape, dtype=np.int64)
    for j in range(1, max_count + 1):
        below = u > cdf
        if not below.any():
            break
        count += below
        pmf = pmf * rate / j
        cdf = cdf + pmf
    return count


def _binomial_inverse(u: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Binomial draws from given uniforms: the number of k ≥ 1 with ``u < P(X ≥ k)``."""
    count = np.zeros(n.shape, dtype=np.int64)
    certain = p >= 1.0
    count[certain] = n[certain]
    q = 1.0 - p
    pmf = q ** n  # P(X = 0)
    tail = 1.0 - pmf  # P(X ≥ 1): a trial succeeds when u < p
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(certain, 0.0, p / q)
    k = 1
    while True:
        hit = ~certain & (k <= n) & (u < tail)
        if not hit.any():
            return count
        count += hit
        pmf = pmf * (n - k + 1) / k * odds  # P(X = k)
        tail = tail - pmf  # P(X ≥ k + 1)
        k += 1


def categorical(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """One category per row of an (n, K) probability array, by inverse CDF of ``u``."""
    return (u[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)


# --------------------------------------------------------------------------------------------
# Answer rules: how many of a period's complaints the brand answers, and which fast
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answers:
    """The brand's answers in one period.

    Attributes
    ----------
    answered : ndarray of int
        Answered complaints per customer.
    fast : ndarray of int8
        1 when the customer's complaints were answered within the latency cut-off.
    """

    answered: np.ndarray
    fast: np.ndarray


class AnswerRule(Protocol):
    """How a brand answers complaints: a callable of the period's voice and states."""

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Answers to ``complaints`` of customers in ``state`` of ``brand`` (indices)."""
        ...


def _fast(intervened: np.ndarray, u_fast: np.ndarray | None, share: np.ndarray | None,
          brand: np.ndarray) -> np.ndarray:
    if u_fast is None or share is None:
        return np.zeros(intervened.shape, dtype=np.int8)
    return (intervened & (u_fast < share[brand])).astype(np.int8)


def _fast_uniforms(draws: Draws, size: int, share: np.ndarray | None) -> np.ndarray | None:
    # Drawn before the answers whenever the rule can answer fast, used or not, so the answers
    # of rules with and without fast replies come from the same position of the stream.
    return None if share is None else draws.uniform("fast", size)


@dataclass(frozen=True)
class AnswerByLogit:
    """Each complaint answered with probability ``logistic(brand_logit[b] + state_shift[s])``.

    The simulator's brands (``--endogenous-replies``: a state shift) and the estimator's reply
    model (ρ_brand, ψ_state) are both this rule.

    Parameters
    ----------
    brand_logit : ndarray, shape (B,)
    state_shift : ndarray of shape (K,), optional
        Added by current state; ``None`` for answers that ignore the state.
    fast_share : ndarray of shape (B,), optional
        Share of a brand's replies that are fast; ``None`` when speed is not modelled.
    """

    brand_logit: np.ndarray
    state_shift: np.ndarray | None = None
    fast_share: np.ndarray | None = None

    @classmethod
    def from_params(cls, params: ModelParams, fast_share: np.ndarray | None = None
                    ) -> AnswerByLogit:
        """Build the rule of the fitted reply model of ``params`` (``spec.reply_model``)."""
        if not params.spec.reply_model:
            raise ValueError("these parameters have no reply model")
        return cls(brand_logit=params.reply_brand,
                   state_shift=np.concatenate([[0.0], params.reply_state]),
                   fast_share=fast_share)

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Draw the answers (see :class:`AnswerRule`)."""
        u_fast = _fast_uniforms(draws, complaints.size, self.fast_share)
        index = self.brand_logit[brand]
        if self.state_shift is not None:
            index = index + self.state_shift[state]
        answered = draws.binomial("answer", complaints, expit(index))
        return Answers(answered, _fast(answered > 0, u_fast, self.fast_share, brand))


@dataclass(frozen=True)
class AnswerAtRate:
    """Each complaint answered with its brand's probability (e.g. the observed answer rate).

    Parameters
    ----------
    rate : ndarray, shape (B,)
    fast_share : ndarray of shape (B,), optional
    """

    rate: np.ndarray
    fast_share: np.ndarray | None = None

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Draw the answers (see :class:`AnswerRule`)."""
        u_fast = _fast_uniforms(draws, complaints.size, self.fast_share)
        answered = draws.binomial("answer", complaints, self.rate[brand])
        return Answers(answered, _fast(answered > 0, u_fast, self.fast_share, brand))


@dataclass(frozen=True)
class AnswerAll:
    """Every complaint answered; fast with the brand's share, or always (``all_fast``)."""

    fast_share: np.ndarray | None = None
    all_fast: bool = False

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Answer everything (see :class:`AnswerRule`)."""
        intervened = complaints > 0
        if self.all_fast:
            return Answers(complaints.copy(), intervened.astype(np.int8))
        u_fast = _fast_uniforms(draws, complaints.size, self.fast_share)
        return Answers(complaints.copy(), _fast(intervened, u_fast, self.fast_share, brand))


@dataclass(frozen=True)
class AnswerNone:
    """No complaint is answered."""

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Answer nothing (see :class:`AnswerRule`)."""
        return Answers(np.zeros(complaints.shape, dtype=np.int64),
                       np.zeros(complaints.shape, dtype=np.int8))


# --------------------------------------------------------------------------------------------
# One period of the model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customers:
    """The customers of one period and what each carries in from the previous one.

    Attributes
    ----------
    brand : ndarray of int
        Brand index.
    state : ndarray of int
        State in the previous period; :data:`ENTERING` for a first contact in this period.
    shift : ndarray of float
        The previous period's transition shift (:meth:`ModelParams.transition_shift`);
        ignored for entering customers.
    redress : ndarray of float
        Redress history ``R_t`` before this period (:func:`update_redress`).
    """

    brand: np.ndarray
    state: np.ndarray
    shift: np.ndarray
    redress: np.ndarray

    @classmethod
    def arriving(cls, brand: np.ndarray) -> Customers:
        """Build customers at their first contact (no history)."""
        brand = np.asarray(brand)
        return cls(brand=brand, state=np.full(brand.size, ENTERING, dtype=np.int64),
                   shift=np.zeros(brand.size), redress=np.zeros(brand.size))


@dataclass(frozen=True)
class Period:
    """What one period of the model produced, per customer.

    Attributes
    ----------
    state : ndarray of int
    complaints, compliments : ndarray of int
    neutral : ndarray of int or None
        ``None`` when the parameters carry no neutral rates.
    sentiment : ndarray of float or None
        Mean sentiment (NaN when silent) when the specification has a sentiment emission.
    answered : ndarray of int
        Answered complaints.
    fast, intervened : ndarray of int8
        A fast reply, any answered complaint (``I_t``).
    unanswered : ndarray of int
        ``complaints − answered`` (``U_t``).
    redress : ndarray of float
        Redress history used in this period's complaint rate (``R_t``).
    peer_complaints, peer_compliments : ndarray or None
        Totals of the brand's other customers (``None`` when peer voice was supplied).
    peer_voice : ndarray of float
        Net voice per other customer of the brand (or the supplied value).
    rate_complaints, rate_compliments : ndarray of float
        Expected counts given state and history, ``exp(a_s + γR)`` and ``exp(c_s)``.
    """

    state: np.ndarray
    complaints: np.ndarray
    compliments: np.ndarray
    neutral: np.ndarray | None
    sentiment: np.ndarray | None
    answered: np.ndarray
    fast: np.ndarray
    intervened: np.ndarray
    unanswered: np.ndarray
    redress: np.ndarray
    peer_complaints: np.ndarray | None
    peer_compliments: np.ndarray | None
    peer_voice: np.ndarray
    rate_complaints: np.ndarray
    rate_compliments: np.ndarray

    def transition_covariates(self) -> dict[str, np.ndarray]:
        """Return the covariates of the move to the next period, by column name."""
        return {"intervened": self.intervened, "peer_voice": self.peer_voice,
                "unanswered_complaints": self.unanswered, "fast_reply": self.fast}


def update_redress(redress: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Redress history of the next period: a complaint has been answered in this one or before.

    Parameters
    ----------
    redress : ndarray
        ``R_t``.
    answered : ndarray
        Complaints answered in period *t*.

    Returns
    -------
    ndarray of float
        ``R_{t+1} = max(R_t, 1{answered_t > 0})`` (DESIGN.md §4; a decaying stock
        ``Σ ρ^{t−1−s} answered_s`` would replace this line).
    """
    return np.maximum(redress, (np.asarray(answered) > 0).astype(float))


def _emission_covariates(customers: Customers) -> dict[str, np.ndarray]:
    # What the voice of period t may depend on beyond the state: the history before t.
    return {"redress": customers.redress}


def _linear(coefficients: np.ndarray, columns: tuple[str, ...],
            covariates: Mapping[str, np.ndarray], size: int) -> np.ndarray:
    unknown = sorted(set(columns) - set(covariates))
    if unknown:
        raise ValueError(f"the model's step cannot produce emission covariate(s) {unknown}")
    out = np.zeros(size)
    for col, coef in zip(columns, coefficients, strict=True):
        out = out + coef * covariates[col]
    return out


def emission_rates(params: ModelParams, state: np.ndarray, customers: Customers
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Compute expected complaints and compliments given state and customers' history.

    Returns
    -------
    rate_complaints, rate_compliments : ndarray
        ``exp(a_s + x_c'β_c)`` and ``exp(c_s + x_p'β_p)``.
    """
    spec = params.spec
    covariates = _emission_covariates(customers)
    size = state.size
    log_c = params.a[state] + _linear(params.beta_c, spec.complaint_covariates, covariates, size)
    log_p = params.c[state] + _linear(params.beta_p, spec.compliment_covariates, covariates,
                                      size)
    return np.exp(log_c), np.exp(log_p)


def _initial_states(params: ModelParams, draws: Draws, size: int) -> np.ndarray:
    if params.spec.initial_covariates:
        raise ValueError("step() cannot draw initial states that depend on covariates")
    probs = np.broadcast_to(params.initial_probs, (size, params.n_states))
    return categorical(draws.uniform("initial", size), probs)


def step(params: ModelParams, customers: Customers, rule: AnswerRule, draws: Draws, *,
         peer_voice: np.ndarray | None = None, first_contact: FirstContact | None = None
         ) -> tuple[Period, Customers]:
    """One period of the structural model for a batch of customers.

    In order: the state (from π at first contact, else the ordered-logit transition with the
    *previous* period's shift); complaints and compliments with the redress history carried
    in; first-contact conditioning; neutral tweets; the brand's answers (``rule``); sentiment;
    peer voice; then the covariates of the move to the next period, its shift, and the
    redress history of the next period (which includes this period's answers).

    Parameters
    ----------
    params : ModelParams
    customers : Customers
        Brand, previous state (or :data:`ENTERING`), previous shift and redress history.
    rule : AnswerRule
        How the brand answers complaints (:class:`AnswerByLogit`, :class:`AnswerAtRate`,
        :class:`AnswerAll`, :class:`AnswerNone`).
    draws : Draws
        Random numbers (:class:`GeneratorDraws` or :class:`UniformDraws`).
    peer_voice : ndarray, optional
        Peer voice of each customer in this period; by default computed from these customers'
        voice, the customers of each brand being each other's peers.
    first_contact : {"state", "joint", "none"}, optional
        Conditioning of an entering customer's first period; default ``params.spec``'s.
        ``"state"``: redraw the voice until complaints + compliments ≥ 1; ``"joint"``: redraw
        the state too.

    Returns
    -------
    period : Period
        What happened in this period.
    carry : Customers
        What the customers carry into the next period.
    """
    spec = params.spec
    first_contact = spec.first_contact if first_contact is None else first_contact
    size = customers.brand.size
    entering = customers.state == ENTERING
    state = np.empty(size, dtype=np.int64)
    if entering.any():
        state[entering] = _initial_states(params, draws, int(entering.sum()))
    moving = ~entering
    if moving.any():
        rows = transition_matrices(params.tau, customers.shift[moving])[
            np.arange(int(moving.sum())), customers.state[moving]]
        state[moving] = categorical(draws.uniform("transition", rows.shape[0]), rows)

    rate_c, rate_p = emission_rates(params, state, customers)
    complaints = draws.poisson("complaints", rate_c)
    compliments = draws.poisson("compliments", rate_p)
    if first_contact != "none":
        # First contact is the first period with a complaint or a compliment: redraw a silent
        # one (for the same state, or with the state under "joint"); the likelihood conditions
        # on exactly this (hmm.emissions / hmm.likelihood).
        silent = entering & (complaints + compliments == 0)
        while silent.any():
            if first_contact == "joint":
                state[silent] = _initial_states(params, draws, int(silent.sum()))
                rate_c, rate_p = emission_rates(params, state, customers)
            complaints[silent] = draws.poisson("complaints", rate_c[silent])
            compliments[silent] = draws.poisson("compliments", rate_p[silent])
            silent = entering & (complaints + compliments == 0)
    neutral = (None if params.neutral is None
               else draws.poisson("neutral", np.exp(params.neutral[state])))

    answers = rule(complaints, state, customers.brand, draws)
    answered = np.asarray(answers.answered)
    sentiment = None
    if spec.sentiment:
        voiced = complaints + compliments > 0
        drawn = (params.sent_mean[state]
                 + np.exp(params.sent_log_sd[state]) * draws.normal("sentiment", size))
        sentiment = np.where(voiced, drawn, np.nan)

    peer_c = peer_p = None
    if peer_voice is None:
        n_brands = int(customers.brand.max()) + 1 if size else 0
        peer_c, peer_p, voice = peer_voice_counts(customers.brand, complaints, compliments,
                                                  n_brands)
    else:
        voice = np.asarray(peer_voice, dtype=float)
    period = Period(
        state=state, complaints=complaints, compliments=compliments, neutral=neutral,
        sentiment=sentiment, answered=answered, fast=np.asarray(answers.fast),
        intervened=(answered > 0).astype(np.int8), unanswered=complaints - answered,
        redress=customers.redress, peer_complaints=peer_c, peer_compliments=peer_p,
        peer_voice=voice, rate_complaints=rate_c, rate_compliments=rate_p)
    carry = Customers(brand=customers.brand, state=state,
                      shift=params.transition_shift(_transition_inputs(spec, period), (size,)),
                      redress=update_redress(customers.redress, answered))
    return period, carry


def _transition_inputs(spec: ModelSpec, period: Period) -> dict[str, np.ndarray]:
    produced = period.transition_covariates()
    unknown = sorted(set(spec.transition_covariates) - set(produced))
    if unknown:
        raise ValueError(f"the model's step cannot produce transition covariate(s) {unknown}")
    return {col: produced[col] for col in spec.transition_covariates}


@dataclass(frozen=True)
class Histories:
    """Customer × period arrays of a simulated panel (state −1 before a customer arrives).

    Attributes
    ----------
    state : ndarray of int8
    complaints, compliments, answered, peer_complaints, peer_compliments : ndarray of int32
    neutral : ndarray of int32 or None
    sentiment : ndarray of float or None
    fast, intervened : ndarray of int8
    redress, peer_voice : ndarray of float
    """

    state: np.ndarray
    complaints: np.ndarray
    compliments: np.ndarray
    neutral: np.ndarray | None
    sentiment: np.ndarray | None
    answered: np.ndarray
    fast: np.ndarray
    intervened: np.ndarray
    redress: np.ndarray
    peer_complaints: np.ndarray
    peer_compliments: np.ndarray
    peer_voice: np.ndarray


def simulate_histories(params: ModelParams, arrival: np.ndarray, brand: np.ndarray,
                       n_periods: int, rule: AnswerRule, draws: Draws) -> Histories:
    """Run :func:`step` over periods for customers who arrive and then stay to the end.

    Each period the customers who have arrived (``arrival ≤ t``, in index order) take one
    step together; they are each other's peers within a brand.

    Parameters
    ----------
    params : ModelParams
    arrival : ndarray of int
        First period (first contact) of each customer.
    brand : ndarray of int
        Brand index of each customer.
    n_periods : int
    rule : AnswerRule
    draws : Draws

    Returns
    -------
    Histories
    """
    n = arrival.size
    shape = (n, n_periods)
    state = np.full(shape, -1, dtype=np.int8)
    counts = {name: np.zeros(shape, dtype=np.int32) for name in
              ("complaints", "compliments", "answered", "peer_complaints", "peer_compliments")}
    neutral = None if params.neutral is None else np.zeros(shape, dtype=np.int32)
    sentiment = np.full(shape, np.nan) if params.spec.sentiment else None
    flags = {name: np.zeros(shape, dtype=np.int8) for name in ("fast", "intervened")}
    redress = np.zeros(shape)
    peer_voice = np.zeros(shape)
    carry = Customers(brand=np.asarray(brand), state=np.full(n, ENTERING, dtype=np.int64),
                      shift=np.zeros(n), redress=np.zeros(n))
    for t in range(n_periods):
        active = arrival <= t
        now = Customers(brand=carry.brand[active], state=carry.state[active],
                        shift=carry.shift[active], redress=carry.redress[active])
        period, after = step(params, now, rule, draws)
        state[active, t] = period.state
        for name in counts:
            counts[name][active, t] = getattr(period, name)
        for name in flags:
            flags[name][active, t] = getattr(period, name)
        if neutral is not None and period.neutral is not None:
            neutral[active, t] = period.neutral
        if sentiment is not None and period.sentiment is not None:
            sentiment[active, t] = period.sentiment
        redress[active, t] = period.redress
        peer_voice[active, t] = period.peer_voice
        for name in ("state", "shift", "redress"):
            getattr(carry, name)[active] = getattr(after, name)
    return Histories(state=state, neutral=neutral, sentiment=sentiment, redress=redress,
                     peer_voice=peer_voice, **counts, **flags)


# --------------------------------------------------------------------------------------------
# Covariates from panel columns
# --------------------------------------------------------------------------------------------


def add_hmm_covariates(panel: pd.DataFrame) -> pd.DataFrame:
    """Derive the structural model's covariates from panel columns.

    The same definitions as :func:`step` (which draws the world from them), applied to a
    panel by the estimator (which conditions on them), so the two can never disagree.

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
    # (the panel form of update_redress)
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

    The same definition as :func:`add_hmm_covariates`, computed from arrays by :func:`step`:
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
