"""From a customer × brand × period panel to padded arrays for the forward–backward core.

One *sequence* is one customer–brand pair; periods must be consecutive from the first to the
last row of each sequence. Arrays are laid out time-major with the customer axis last,
``(T, N)`` or ``(T, K, N)``, so that the forward recursion runs a short loop over periods while
every operation inside it is a contiguous vector operation over customers. Sequences shorter
than ``T`` are padded at the end and masked.

First contact
-------------
The panel of a customer starts at her first contact with the brand, and the likelihood
conditions the first period on ``complaints + compliments ≥ 1`` (see :class:`ModelSpec`).
A real panel may start with a period of neutral tweets only; such leading periods carry no
voice, so with conditioning switched on they are dropped (their replies still count in the
redress history, which is derived before dropping — binary or, with
``ModelSpec.redress_decay``, the decaying stock for that ρ) and the sequence starts at the first
period with a complaint or a compliment. The number of dropped rows is reported.

Under the misclassification layer (``ModelSpec.misclassified``) the observed labels are not
the true voice: the simulator's (and the model's) first contact is the first period with a
*true* complaint or compliment, which is the first period with any tweet (nothing precedes
it), whatever its labels. There only leading periods without any tweet are dropped, and the
likelihood conditions the first period on "true complaints + compliments ≥ 1"
(:mod:`complaintpanel.hmm.emissions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln

from complaintpanel.hmm.parametrisation import IdentificationError
from complaintpanel.model import ModelSpec, add_hmm_covariates, redress_stock

__all__ = ["PanelArrays", "answered_history", "prepare_panel"]

_DERIVED = ("intervened", "redress", "peer_voice")
KEYS = ["customer_id", "brand"]


@dataclass(frozen=True)
class PanelArrays:
    """Padded, masked arrays of one panel (``T`` periods × ``N`` sequences).

    Attributes
    ----------
    complaints, compliments : ndarray, shape (T, N)
        Counts (0 in padding).
    neutral : ndarray, shape (T, N)
        Neutral tweets (zeros unless the specification models them).
    mask : ndarray of bool, shape (T, N)
        True where the sequence has a period.
    log_factorial : ndarray, shape (T, N)
        ``log C! + log P!`` (``+ log N!`` with the neutral emission): the constant of the
        Poisson densities.
    x_complaint, x_compliment, x_transition : ndarray, shape (p, T, N)
        Covariates; ``x_transition[:, t]`` drives the move ``t → t+1``.
    x_initial : ndarray, shape (p0, N)
        Initial-state covariates at first contact.
    sentiment, sentiment_obs : ndarray, shape (T, N)
        Sentiment values (0 where missing) and the indicator that one is observed.
    answered : ndarray, shape (T, N)
        Answered complaints (reply model).
    log_binom : ndarray, shape (T, N)
        ``log binom(complaints, answered)``.
    brand_code : ndarray of int, shape (N,)
        Index of the sequence's brand in ``brands``.
    lengths : ndarray of int, shape (N,)
    sequences : DataFrame
        One row per sequence: ``customer_id``, ``brand``, ``first_period``, ``n_periods``.
    rows : ndarray of int, shape (T, N)
        Row of :attr:`frame` at each cell (−1 in padding).
    frame : DataFrame
        The prepared panel (sorted, covariates added, leading silent rows dropped).
    brands : tuple of str
    dropped_rows : int
        Leading rows without voice dropped for first-contact conditioning.
    answered_by_label : ndarray or None, shape (3, T, N)
        Answered tweets by label (complaint, compliment, neutral), for the reply process
        (``ModelSpec.reply_process``); ``None`` otherwise.
    """

    complaints: np.ndarray
    compliments: np.ndarray
    neutral: np.ndarray
    mask: np.ndarray
    log_factorial: np.ndarray
    x_complaint: np.ndarray
    x_compliment: np.ndarray
    x_transition: np.ndarray
    x_initial: np.ndarray
    sentiment: np.ndarray
    sentiment_obs: np.ndarray
    answered: np.ndarray
    log_binom: np.ndarray
    brand_code: np.ndarray
    lengths: np.ndarray
    sequences: pd.DataFrame
    rows: np.ndarray
    frame: pd.DataFrame
    brands: tuple[str, ...]
    dropped_rows: int
    answered_by_label: np.ndarray | None = None

    @property
    def n_sequences(self) -> int:
        """Number of customer–brand sequences N."""
        return int(self.lengths.size)

    @property
    def n_periods(self) -> int:
        """Padded length T."""
        return int(self.mask.shape[0])

    @property
    def nobs(self) -> int:
        """Number of customer–brand periods."""
        return int(self.lengths.sum())

    def take(self, index: np.ndarray) -> PanelArrays:
        """Sub-panel of the sequences ``index`` (repeats allowed, for the bootstrap)."""
        index = np.asarray(index)
        t_max = int(self.lengths[index].max())

        def cut(values: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(values[..., :t_max, index])

        return PanelArrays(
            complaints=cut(self.complaints), compliments=cut(self.compliments),
            neutral=cut(self.neutral), mask=cut(self.mask), log_factorial=cut(self.log_factorial),
            x_complaint=cut(self.x_complaint), x_compliment=cut(self.x_compliment),
            x_transition=cut(self.x_transition),
            x_initial=np.ascontiguousarray(self.x_initial[:, index]),
            sentiment=cut(self.sentiment), sentiment_obs=cut(self.sentiment_obs),
            answered=cut(self.answered), log_binom=cut(self.log_binom),
            brand_code=self.brand_code[index], lengths=self.lengths[index],
            sequences=self.sequences.iloc[index].reset_index(drop=True),
            rows=cut(self.rows), frame=self.frame, brands=self.brands,
            dropped_rows=self.dropped_rows,
            answered_by_label=(None if self.answered_by_label is None
                               else cut(self.answered_by_label)),
        )

    def chunks(self, size: int) -> list[PanelArrays]:
        """Split into contiguous blocks of at most ``size`` sequences (bounded memory)."""
        n = self.n_sequences
        if n <= size:
            return [self]
        return [self.take(np.arange(start, min(start + size, n)))
                for start in range(0, n, size)]


def _derive_covariates(panel: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    needed = set(spec.complaint_covariates) | set(spec.compliment_covariates) | set(
        spec.transition_covariates)
    missing_derived = [c for c in _DERIVED if c in needed and c not in panel.columns]
    if missing_derived or (spec.reply_model and "intervened" not in panel.columns):
        frame = add_hmm_covariates(panel)
    else:
        frame = panel.sort_values([*KEYS, "period"]).reset_index(drop=True)
    if spec.redress_decay is not None and "redress" in needed:
        # The decaying stock (ModelSpec.redress_decay) is built here for the specification's
        # ρ from the full answered history, replacing any binary `redress` the panel carries.
        if "intervened" not in frame.columns:
            frame = add_hmm_covariates(frame)
        frame["redress"] = redress_stock(frame, spec.redress_decay)
    if "unanswered_complaints" in needed and "unanswered_complaints" not in frame.columns:
        if "answered_complaints" not in frame.columns:
            raise KeyError("unanswered complaints need `unanswered_complaints` or "
                           "`answered_complaints`")
        frame["unanswered_complaints"] = frame["complaints"] - frame["answered_complaints"]
    if "fast_reply" in needed:
        if "reply_latency_h" not in frame.columns:
            raise KeyError("fast_reply needs the panel column `reply_latency_h`")
        if spec.latency_hours is None:
            raise ValueError("fast_reply needs latency_hours (the cut-off in hours)")
        latency = frame["reply_latency_h"].astype(float)
        frame["fast_reply"] = ((frame["intervened"] > 0)
                               & (latency <= float(spec.latency_hours))).astype("int8")
    return frame


def _check_columns(frame: pd.DataFrame, spec: ModelSpec) -> None:
    wanted = ["customer_id", "brand", "period", "complaints", "compliments",
              *spec.complaint_covariates, *spec.compliment_covariates,
              *spec.transition_covariates, *spec.initial_covariates]
    if spec.sentiment:
        wanted.append(spec.sentiment)
    if spec.reply_model:
        wanted.append("answered_complaints")
    if spec.neutral:
        wanted.append("neutral")
    if spec.reply_process:
        wanted += ["answered_complaints", "answered_compliments", "answered_neutral"]
    missing = sorted(set(wanted) - set(frame.columns))
    if missing:
        raise KeyError(f"panel lacks column(s) {missing} needed by the relationship HMM")


def prepare_panel(panel: pd.DataFrame, spec: ModelSpec) -> PanelArrays:
    """Turn a panel into padded arrays for the relationship HMM.

    Parameters
    ----------
    panel : DataFrame
        One row per customer × brand × period with ``customer_id``, ``brand``, ``period``,
        ``complaints``, ``compliments`` and the covariates of ``spec``. Covariates
        ``intervened``, ``redress`` and ``peer_voice`` are derived with
        :func:`complaintpanel.model.add_hmm_covariates` when absent (then
        ``answered_complaints``, ``peer_complaints`` and ``peer_compliments`` are needed).
    spec : ModelSpec

    Returns
    -------
    PanelArrays

    Raises
    ------
    KeyError
        A needed column is missing.
    ValueError
        Negative or non-integer counts, duplicated or non-consecutive periods, or no usable
        sequence.
    """
    frame = _derive_covariates(panel, spec)
    _check_columns(frame, spec)
    for col in ("complaints", "compliments", *(("neutral",) if spec.neutral else ())):
        values = frame[col].to_numpy(dtype=float)
        if np.any(~np.isfinite(values)) or np.any(values < 0) or np.any(values % 1 != 0):
            raise ValueError(f"`{col}` must hold non-negative integer counts")
    group = frame.groupby(KEYS, sort=False)
    step = group["period"].diff()
    if (step.dropna() != 1).any():
        bad = frame.loc[step.notna() & (step != 1), [*KEYS, "period"]].head(3)
        raise ValueError("periods must be consecutive and unique within each customer–brand "
                         f"sequence (the panel has a row for every period); e.g.\n{bad}")

    dropped = 0
    if spec.first_contact != "none":
        voiced = (frame["complaints"] + frame["compliments"]) > 0
        if spec.misclassified:
            # the labels may hide a true complaint or compliment: any tweet is first contact
            voiced = voiced | (frame["neutral"] > 0)
        started = voiced.astype(int).groupby([frame[k] for k in KEYS], sort=False).cummax() > 0
        dropped = int((~started).sum())
        frame = frame.loc[started.to_numpy()].reset_index(drop=True)
    if frame.empty:
        raise IdentificationError("no sequence has a complaint or a compliment; nothing to model")

    seq_id = frame.groupby(KEYS, sort=False).ngroup().to_numpy()
    position = frame.groupby(KEYS, sort=False).cumcount().to_numpy()
    n = int(seq_id.max()) + 1
    lengths = np.bincount(seq_id, minlength=n)
    t_max = int(lengths.max())

    def padded(values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full((t_max, n), fill, dtype=float)
        out[position, seq_id] = values
        return out

    def stack(columns: tuple[str, ...]) -> np.ndarray:
        if not columns:
            return np.zeros((0, t_max, n))
        return np.stack([padded(frame[col].to_numpy(dtype=float)) for col in columns])

    mask = np.zeros((t_max, n), dtype=bool)
    mask[position, seq_id] = True
    complaints = padded(frame["complaints"].to_numpy(dtype=float))
    compliments = padded(frame["compliments"].to_numpy(dtype=float))
    neutral = (padded(frame["neutral"].to_numpy(dtype=float)) if spec.neutral
               else np.zeros((t_max, n)))
    log_factorial = gammaln(complaints + 1) + gammaln(compliments + 1) + gammaln(neutral + 1)
    rows = np.full((t_max, n), -1, dtype=np.int64)
    rows[position, seq_id] = np.arange(len(frame))

    first_rows = frame.loc[position == 0]
    sequences = pd.DataFrame({
        "customer_id": first_rows["customer_id"].to_numpy(),
        "brand": first_rows["brand"].to_numpy(),
        "first_period": first_rows["period"].to_numpy(),
        "n_periods": lengths[seq_id[position == 0]],
    })
    x_initial = (np.stack([first_rows[col].to_numpy(dtype=float)
                           for col in spec.initial_covariates])
                 if spec.initial_covariates else np.zeros((0, n)))
    if np.any(~np.isfinite(x_initial)):
        raise ValueError("initial covariates must be finite")
    for name, cols in (("complaint", spec.complaint_covariates),
                       ("compliment", spec.compliment_covariates),
                       ("transition", spec.transition_covariates)):
        for col in cols:
            if not np.all(np.isfinite(frame[col].to_numpy(dtype=float))):
                raise ValueError(f"{name} covariate `{col}` has missing or infinite values")

    if spec.sentiment:
        raw = frame[spec.sentiment].to_numpy(dtype=float)
        observed = np.isfinite(raw)
        sentiment = padded(np.where(observed, raw, 0.0))
        sentiment_obs = padded(observed.astype(float))
    else:
        sentiment = sentiment_obs = np.zeros((t_max, n))

    # The reply model's brand intercepts follow the fitted labels when scoring new panels.
    brand_labels = spec.brands or tuple(sorted(map(str, frame["brand"].unique())))
    brand_index = {b: i for i, b in enumerate(brand_labels)}
    unknown = sorted(set(map(str, sequences["brand"])) - set(brand_labels))
    if unknown and (spec.reply_model or spec.reply_process):
        raise ValueError(f"brand(s) {unknown} were not in the data the reply model was fitted on")
    brand_code = np.array([brand_index.get(str(b), -1) for b in sequences["brand"]],
                          dtype=np.int64)
    if spec.reply_model:
        answered = padded(frame["answered_complaints"].to_numpy(dtype=float))
        if np.any(answered > complaints) or np.any(answered < 0):
            raise ValueError("answered_complaints must lie between 0 and complaints")
        log_binom = (gammaln(complaints + 1) - gammaln(answered + 1)
                     - gammaln(complaints - answered + 1))
    else:
        answered = log_binom = np.zeros((t_max, n))

    answered_by_label = None
    if spec.reply_process:
        answered_by_label = np.stack([
            padded(frame[col].to_numpy(dtype=float)) for col in
            ("answered_complaints", "answered_compliments", "answered_neutral")])
        labelled = np.stack([complaints, compliments, neutral])
        if np.any(answered_by_label < 0) or np.any(answered_by_label > labelled):
            raise ValueError("answered tweets of a label must lie between 0 and the tweets "
                             "with that label")
    return PanelArrays(
        complaints=complaints, compliments=compliments, neutral=neutral, mask=mask,
        log_factorial=log_factorial,
        x_complaint=stack(spec.complaint_covariates),
        x_compliment=stack(spec.compliment_covariates),
        x_transition=stack(spec.transition_covariates),
        x_initial=x_initial, sentiment=sentiment, sentiment_obs=sentiment_obs,
        answered=answered, log_binom=log_binom, brand_code=brand_code, lengths=lengths,
        sequences=sequences, rows=rows, frame=frame, brands=brand_labels,
        dropped_rows=dropped, answered_by_label=answered_by_label,
    )


def answered_history(panel: pd.DataFrame, spec: ModelSpec, data: PanelArrays
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return what the decaying redress stock of a prepared panel is built from, for any ρ.

    The stock ``R_t(ρ) = Σ_{s<t} ρ^{t−1−s} I_s`` (:func:`complaintpanel.model.redress_stock`)
    of the prepared sequences is ``R_{t+1} = ρ R_t + I_t`` along each sequence's periods,
    started at the stock its first kept period inherits from leading periods that first
    contact dropped (``Σ_s ρ^{e_s} I_s`` with ``e_s`` = first period − 1 − s). With these the
    stock and its derivative in ρ are recomputed for every ρ without preparing the panel again
    (:class:`complaintpanel.hmm.redress.JointDecay`).

    Parameters
    ----------
    panel : DataFrame
        The panel ``data`` was prepared from.
    spec : ModelSpec
        The specification it was prepared with (a stock: ``redress_decay`` set).
    data : PanelArrays
        ``prepare_panel(panel, spec)``.

    Returns
    -------
    intervened : ndarray, shape (T, N)
        ``I_t`` of the kept periods (0 in padding).
    prior_sequence, prior_exponent : ndarray of int
        Sequence and exponent ``e_s`` of every answered period before a sequence's first
        kept period.
    prior_weight : ndarray
        Its ``I_s``.
    """
    intervened = np.zeros(data.mask.shape)
    answered = data.frame["intervened"].to_numpy(dtype=float)
    intervened[data.mask] = answered[data.rows[data.mask]]
    full = _derive_covariates(panel, spec)
    starts = data.sequences[["customer_id", "brand", "first_period"]].assign(
        _sequence=np.arange(data.n_sequences))
    before = full.loc[full["intervened"].to_numpy(dtype=float) != 0,
                      [*KEYS, "period", "intervened"]].merge(starts, on=KEYS, how="inner")
    before = before.loc[before["period"] < before["first_period"]]
    return (intervened, before["_sequence"].to_numpy(dtype=np.int64),
            (before["first_period"] - 1 - before["period"]).to_numpy(dtype=np.int64),
            before["intervened"].to_numpy(dtype=float))
