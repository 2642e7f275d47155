"""Parameters of the relationship model: one type for the simulator, estimator and truth."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from complaintpanel.model.spec import ModelSpec, state_names

__all__ = ["NEUTRAL_LOG_RATE", "ModelParams", "default_params", "transition_matrices"]

NEUTRAL_LOG_RATE = float(np.log(0.25))  # neutral questions per customer-week, every state

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
        if spec.neutral and self.neutral is None:
            raise ValueError("a specification with the neutral emission needs neutral log-rates")

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
    def reported_terms(self) -> pd.DataFrame:
        """Every parameter as reported, with the columns that describe it.

        Returns
        -------
        DataFrame
            Indexed by the reported name (``a[poor]``, ``gamma``, ``tau[fair,2]``, …, see
            :meth:`reported`), with ``value`` and the describing columns ``block`` (``a``,
            ``c``, ``coefficient``, ``tau``, ``pi``, ``init``, ``m``, ``sigma``, ``rho``,
            ``psi``), ``equation`` (``complaints``, ``compliments``, ``transition`` for
            coefficients), ``covariate``, ``state`` (state name), ``cut`` (threshold number)
            and ``brand`` — what tables and figures select by, instead of parsing names.
        """
        spec = self.spec
        names_s = state_names(spec.n_states)
        coefficient_names = spec.coefficient_names()
        rows: list[dict[str, Any]] = []

        def add(name: str, value: float, block: str, **describe: Any) -> None:
            rows.append({"name": name, "value": float(value), "block": block, **describe})

        for k, s in enumerate(names_s):
            add(f"a[{s}]", self.a[k], "a", state=s)
        for k, s in enumerate(names_s):
            add(f"c[{s}]", self.c[k], "c", state=s)
        if spec.neutral:
            assert self.neutral is not None  # checked in __post_init__
            for k, s in enumerate(names_s):
                add(f"n[{s}]", self.neutral[k], "n", state=s)
        for block, equation, columns in (
                ("beta_c", "complaints", spec.complaint_covariates),
                ("beta_p", "compliments", spec.compliment_covariates),
                ("beta_tr", "transition", spec.transition_covariates)):
            for name, column, value in zip(coefficient_names[block], columns,
                                           getattr(self, block), strict=True):
                add(name, value, "coefficient", equation=equation, covariate=column)
        for j, s in enumerate(names_s):
            for m in range(spec.n_states - 1):
                add(f"tau[{s},{m + 1}]", self.tau[j, m], "tau", state=s, cut=m + 1)
        if spec.initial_covariates:
            for k, s in enumerate(names_s[1:]):
                for v, col in enumerate(("const", *spec.initial_covariates)):
                    add(f"init[{s},{col}]", self.init[k, v], "init", state=s, covariate=col)
        else:
            for s, value in zip(names_s, self.initial_probs, strict=True):
                add(f"pi[{s}]", value, "pi", state=s)
        if spec.sentiment:
            for k, s in enumerate(names_s):
                add(f"m[{s}]", self.sent_mean[k], "m", state=s)
            for k, s in enumerate(names_s):
                add(f"sigma[{s}]", np.exp(self.sent_log_sd[k]), "sigma", state=s)
        if spec.reply_model:
            for i, b in enumerate(spec.brands):
                add(f"rho[{b}]", self.reply_brand[i], "rho", brand=b)
            for k, s in enumerate(names_s[1:]):
                add(f"psi[{s}]", self.reply_state[k], "psi", state=s)
        table_columns = ["value", "block", "equation", "covariate", "state", "cut", "brand"]
        table = pd.DataFrame(rows).set_index("name").reindex(columns=table_columns)
        table.index.name = None
        table["cut"] = table["cut"].astype("Int64")
        return table

    def reported(self) -> pd.Series:
        """List the parameters under the names the estimator reports them by (``hmm.json``).

        ``a[poor]``, ``c[…]``, ``gamma``, ``delta``, ``eta`` (or ``beta_c[col]``, …),
        ``tau[state,m]``, ``pi[state]`` (initial logits ``init[state,col]`` with initial
        covariates), ``m[state]`` and ``sigma[state]`` with sentiment, ``rho[brand]`` and
        ``psi[state]`` with the reply model — so truth and estimates line up by name. The
        columns describing each are in :meth:`reported_terms`.
        """
        return self.reported_terms()["value"].rename("params").astype(float)

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
    return _ordered_logit(expit(tau - shift[..., None, None]))


def transition_rows(tau: np.ndarray, state: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Return each observation's row of its transition matrix, at its current state.

    Equals ``transition_matrices(tau, shift)[arange(n), state]`` (the same numbers) without
    building the other K − 1 rows: what a simulation step needs.

    Parameters
    ----------
    tau : ndarray, shape (K, K-1)
    state : ndarray of int, shape (n,)
    shift : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (n, K)
        ``P[i, k] = P(s' = k | s = state[i])``.
    """
    shift = np.asarray(shift, dtype=float)
    return _ordered_logit(expit(tau[state] - shift[:, None]))


def _ordered_logit(cumulative: np.ndarray) -> np.ndarray:
    """Category probabilities from cumulative ones (the last category's 1 implied)."""
    out = np.empty((*cumulative.shape[:-1], cumulative.shape[-1] + 1))
    out[..., 0] = cumulative[..., 0]
    np.subtract(cumulative[..., 1:], cumulative[..., :-1], out=out[..., 1:-1])
    np.subtract(1.0, cumulative[..., -1], out=out[..., -1])
    return out
