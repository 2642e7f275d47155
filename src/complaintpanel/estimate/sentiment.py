"""The effect of answering a complaint on later sentiment (issue 21, item 5).

The design of :mod:`.design` compares answered with unanswered complaints of ``t−1``. Its count
outcomes (complaints, compliments) are defined whether or not the customer tweets again; the
*mean sentiment* of period ``t+h`` is not: it exists only when the customer tweets in ``t+h``,
and tweeting is itself affected by the answer (the squeaky wheel complains more after being
answered). Comparing the mean sentiment of those who tweet in each arm compares different
customers. Lee (2009) bounds the effect for the customers who would tweet in ``t+h`` whatever
the brand did (the *always-tweeters*):

**Assumption (monotonicity).** Answering moves every customer's tweeting in ``t+h`` in the
same direction (for no one does an answer make her tweet while for another it stops her). The
direction is read off the data: the arm with the higher tweeting share holds all always-
tweeters plus the extra tweeters the answer (or its absence) made; trimming that arm's
sentiment distribution by the extra share from above (below) gives the lower (upper) bound.

**Without monotonicity.** :func:`defier_bounds` lets a share ``κ`` of the customer-periods
(the *defiers*) tweet only in the arm with the lower tweeting share: the always-tweeters are
then a share ``p_low − κ``, the high arm is trimmed to ``(p_low − κ)/p_high`` of its tweeters and
the low arm to ``(p_low − κ)/p_low``, each from either end, and the bounds combine the worst
cases (``κ = 0``: Lee). They widen with ``κ``; the *breakdown* ``κ`` is the smallest at which
they include 0 (docs/design.md has the derivation).

**Weighting.** The design's comparison is valid only given its controls, so the bounds are
computed on the *propensity-weighted* arms: every customer-period weighs ``1/ê`` when
answered and ``1/(1−ê)`` when not (normalised within arm, Hájek), with the design's own
logit propensity ``ê`` and overlap cut (:func:`~.design.design_sample`). The tweeting shares,
the trimming share and the trimmed means are all weighted (the trimmed share is removed as
*weight mass*, with a fractional weight at the cut, so ties — frequent when sentiment takes a
few values — are handled exactly). This is Lee's estimator with the weighted empirical
distributions in place of the plain ones; the AIPW outcome models are not used (they model
means, not the quantiles trimming needs).

**Inference.** A bootstrap over customers (the design's cluster) with the propensity held at
its estimate gives the standard errors of the two bounds; the 95% interval for the effect is
Imbens & Manski (2004): ``[L − c·σ_L, U + c·σ_U]`` with ``c`` solving
``Φ(c + (U − L)/max(σ_L, σ_U)) − Φ(−c) = 0.95``, which covers the true effect (not the whole
identified set) with probability 0.95.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from complaintpanel.estimate.design import OVERLAP, design_sample
from complaintpanel.results import NotIdentifiedError

__all__ = ["LeeBoundsResults", "breakdown_defier_share", "defier_bounds", "imbens_manski_interval",
           "lee_bounds", "sentiment_lee_bounds"]

BOOTSTRAP_DRAWS = 200
# Default grid of defier shares κ for the bounds without monotonicity ([estimate]
# sentiment_defier_shares): the simulator's worlds have 2–4% (benchmarks/bench_sentiment.py).
DEFIER_SHARES: tuple[float, ...] = (0.0, 0.01, 0.02, 0.03, 0.05, 0.1)


def _trimmed_means(values: np.ndarray, weights: np.ndarray, keep: float | np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means of the lowest and of the highest ``keep`` share of the weight mass.

    ``values`` (n,) and ``weights`` (n,) or (replicates, n); the share ``keep`` may be a scalar
    or one per replicate. The unit at the cut contributes the fraction of its weight that
    completes the share.
    """
    order = np.argsort(values, kind="stable")
    y = values[order]
    w = np.atleast_2d(weights)[:, order]
    share = np.atleast_1d(np.asarray(keep, dtype=float))[:, None]
    out = []
    for ascending in (True, False):
        yy, ww = (y, w) if ascending else (y[::-1], w[:, ::-1])
        target = share * ww.sum(axis=1, keepdims=True)
        before = np.cumsum(ww, axis=1) - ww
        taken = np.clip(target - before, 0.0, ww)
        out.append((taken * yy).sum(axis=1) / taken.sum(axis=1))
    return out[0], out[1]


def _bound_inputs(sentiment: np.ndarray, tweeted: np.ndarray, treated: np.ndarray,
                  weights: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """Coerce the bounds' inputs; weights as (replicates, n), and whether they were 1-D."""
    sentiment = np.asarray(sentiment, dtype=float)
    w = np.ones(sentiment.size) if weights is None else np.asarray(weights, dtype=float)
    return (sentiment, np.asarray(tweeted, dtype=bool), np.asarray(treated, dtype=bool),
            np.atleast_2d(w), w.ndim == 1)


def _tweeting_shares(w: np.ndarray, tweeted: np.ndarray, treated: np.ndarray
                     ) -> dict[int, np.ndarray]:
    """Weighted share of each arm (1 answered, 0 not) that tweeted, per replicate."""
    return {arm: (w[:, mask & tweeted].sum(axis=1) / w[:, mask].sum(axis=1))
            for arm, mask in ((1, treated), (0, ~treated))}


def lee_bounds(sentiment: np.ndarray, tweeted: np.ndarray, treated: np.ndarray,
               weights: np.ndarray | None = None) -> dict[str, Any]:
    """Lee (2009) bounds on the effect of treatment on an outcome observed only when selected.

    Parameters
    ----------
    sentiment : ndarray of float
        The outcome (any value where ``tweeted`` is false; it is not read there).
    tweeted : ndarray of bool
        Whether the outcome is observed (the customer tweeted).
    treated : ndarray of bool
    weights : ndarray, optional
        Weight of each unit, shape (n,) or (replicates, n) for many weightings at once
        (e.g. inverse-propensity weights times bootstrap multiplicities); default 1.

    Returns
    -------
    dict
        ``lower``, ``upper`` (bounds on the effect among the always-selected), ``share_treated``
        and ``share_untreated`` (weighted selection shares), ``trimmed_share`` (share of the
        trimmed arm's selected weight removed) and ``trimmed_arm`` (``"answered"`` or
        ``"unanswered"``). Arrays over replicates when ``weights`` is two-dimensional.
    """
    sentiment, tweeted, treated, w, squeeze = _bound_inputs(sentiment, tweeted, treated,
                                                            weights)
    share = _tweeting_shares(w, tweeted, treated)
    trim_treated = share[1] >= share[0]
    higher = np.where(trim_treated, share[1], share[0])
    lower_share = np.where(trim_treated, share[0], share[1])
    trimmed = np.where(higher > 0, (higher - lower_share) / np.where(higher > 0, higher, 1.0), 0.0)
    keep = 1.0 - trimmed
    arms = {}
    for arm, mask in ((1, treated), (0, ~treated)):
        rows = mask & tweeted
        y, ww = sentiment[rows], w[:, rows]
        low, high = _trimmed_means(y, ww, keep)
        full = (ww * y).sum(axis=1) / ww.sum(axis=1)
        arms[arm] = (low, high, full)
    low1, high1, mean1 = arms[1]
    low0, high0, mean0 = arms[0]
    lower = np.where(trim_treated, low1 - mean0, mean1 - high0)
    upper = np.where(trim_treated, high1 - mean0, mean1 - low0)
    out: dict[str, Any] = {
        "lower": lower, "upper": upper, "share_treated": share[1], "share_untreated": share[0],
        "trimmed_share": trimmed,
        "trimmed_arm": np.where(trim_treated, "answered", "unanswered"),
    }
    if squeeze:
        out = {k: (str(v[0]) if k == "trimmed_arm" else float(v[0])) for k, v in out.items()}
    return out


# a share of nothing (every tweeter a defier) is trimmed to the support's end by a tiny share
_TINY = 1e-12


def _defier_keeps(share_treated: np.ndarray, share_untreated: np.ndarray, defier_share: float
                  ) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """Return the direction, the capped ``κ`` and the kept fraction of each arm's tweeters."""
    treated_high = share_treated >= share_untreated
    higher = np.where(treated_high, share_treated, share_untreated)
    lower_share = np.where(treated_high, share_untreated, share_treated)
    kappa = np.maximum(np.minimum(float(defier_share),
                                  np.minimum(lower_share, 1.0 - higher)), 0.0)
    # the high arm: Lee's trimmed share plus the defiers' share (the same expression as
    # lee_bounds at κ = 0, so the two agree to the last bit)
    trimmed_high = np.where(higher > 0, (higher - lower_share + kappa)
                            / np.where(higher > 0, higher, 1.0), 0.0)
    keep_high = 1.0 - trimmed_high
    keep_low = np.where(lower_share > 0, 1.0 - kappa / np.where(lower_share > 0, lower_share,
                                                                  1.0), 0.0)
    keep = {1: np.where(treated_high, keep_high, keep_low),
            0: np.where(treated_high, keep_low, keep_high)}
    return treated_high, kappa, keep


def _defier_combine(treated_high: np.ndarray, kappa: np.ndarray, keep: dict[int, np.ndarray],
                    means: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]
                    ) -> dict[str, Any]:
    """Bounds from each arm's (lowest-kept mean, highest-kept mean, full mean)."""
    ends = {}
    for arm, (low, high, full) in means.items():
        # the low arm untrimmed (κ = 0) takes its plain mean, as lee_bounds does
        untrimmed = (keep[arm] >= 1.0) & (treated_high if arm == 0 else ~treated_high)
        ends[arm] = (np.where(untrimmed, full, low), np.where(untrimmed, full, high))
    return {"lower": ends[1][0] - ends[0][1], "upper": ends[1][1] - ends[0][0],
            "defier_share": kappa, "kept_answered": keep[1], "kept_unanswered": keep[0],
            "trimmed_arm": np.where(treated_high, "answered", "unanswered")}


class _SortedArm:
    """One arm's tweeters sorted once, for trimmed means at many shares (:func:`_defier_intervals`).

    Cumulative weights and weighted sums in both directions make a trimmed mean a binary
    search per weighting instead of a pass over the units; the result is
    :func:`_trimmed_means`'s up to rounding.
    """

    def __init__(self, values: np.ndarray, weights: np.ndarray) -> None:
        order = np.argsort(values, kind="stable")
        y = values[order]
        w = np.atleast_2d(weights)[:, order]
        self.total = w.sum(axis=1)
        self.full = (w * y).sum(axis=1) / self.total
        self.sorted = {True: y, False: y[::-1]}
        self.weight = {True: np.cumsum(w, axis=1), False: np.cumsum(w[:, ::-1], axis=1)}
        self.sum = {True: np.cumsum(w * y, axis=1), False: np.cumsum((w * y)[:, ::-1], axis=1)}

    def trimmed(self, keep: np.ndarray, ascending: bool) -> np.ndarray:
        """Weighted mean of the lowest (``ascending``) or highest ``keep`` share, per weighting."""
        weight, total_sum, y = self.weight[ascending], self.sum[ascending], self.sorted[ascending]
        target = np.maximum(keep, _TINY) * self.total
        cut = np.array([np.searchsorted(weight[r], target[r]) for r in range(target.size)])
        cut = np.minimum(cut, y.size - 1)
        rows = np.arange(target.size)
        before = np.where(cut > 0, weight[rows, cut - 1], 0.0)
        summed = np.where(cut > 0, total_sum[rows, cut - 1], 0.0)
        return (summed + (target - before) * y[cut]) / target


def defier_bounds(sentiment: np.ndarray, tweeted: np.ndarray, treated: np.ndarray,
                  defier_share: float, weights: np.ndarray | None = None) -> dict[str, Any]:
    """Bounds on the always-tweeters' effect when a share ``κ`` of units may defy monotonicity.

    The direction is read off the data as in :func:`lee_bounds`: the arm with the higher
    (weighted) tweeting share ``p_high`` is the one answering pushes towards. ``κ`` is the share
    *of all units* (customer-periods of the design sample) that would tweet in the arm with the
    lower share ``p_low`` only — the defiers. The always-tweeters are then a share
    ``p_low − κ`` of the units, i.e. a fraction ``(p_low − κ)/p_high`` of the high arm's
    tweeters and ``(p_low − κ)/p_low`` of the low arm's, and each arm is trimmed to that
    fraction from the top and from the bottom, independently (the arms' potential outcomes are
    different variables). The bounds are those at ``min(κ, p_low, 1 − p_high)`` (a larger
    share is not compatible with the tweeting shares) and widen monotonically in ``κ``, so they
    are also the bounds for "at most ``κ`` defiers". ``κ = 0`` gives :func:`lee_bounds`.

    Parameters
    ----------
    sentiment, tweeted, treated, weights
        As :func:`lee_bounds` (``weights`` may be two-dimensional, one row per replicate).
    defier_share : float
        ``κ ≥ 0``, share of the units.

    Returns
    -------
    dict
        ``lower``, ``upper``, ``defier_share`` (the ``κ`` used, after the cap),
        ``kept_answered`` and ``kept_unanswered`` (fraction of each arm's tweeter weight kept),
        ``share_treated``, ``share_untreated``, ``trimmed_arm`` (the high arm). Arrays over
        replicates when ``weights`` is two-dimensional.
    """
    if not defier_share >= 0:
        raise ValueError(f"defier_share must be non-negative, not {defier_share}")
    sentiment, tweeted, treated, w, squeeze = _bound_inputs(sentiment, tweeted, treated,
                                                            weights)
    share = _tweeting_shares(w, tweeted, treated)
    treated_high, kappa, keep = _defier_keeps(share[1], share[0], defier_share)
    means = {}
    for arm, mask in ((1, treated), (0, ~treated)):
        rows = mask & tweeted
        y, ww = sentiment[rows], w[:, rows]
        low, high = _trimmed_means(y, ww, np.maximum(keep[arm], _TINY))
        means[arm] = (low, high, (ww * y).sum(axis=1) / ww.sum(axis=1))
    out = _defier_combine(treated_high, kappa, keep, means)
    out.update(share_treated=share[1], share_untreated=share[0])
    if squeeze:
        out = {k: (str(v[0]) if k == "trimmed_arm" else float(v[0])) for k, v in out.items()}
    return out


def breakdown_defier_share(interval: Callable[[float], tuple[float, float]], cap: float,
                           tol: float = 1e-6) -> float:
    """Smallest defier share ``κ`` at which an interval that widens with ``κ`` includes 0.

    Parameters
    ----------
    interval : callable
        ``κ ↦ (lower, upper)``, non-decreasing width in ``κ`` (lower falls, upper rises).
    cap : float
        The largest ``κ`` compatible with the data (bounds stop widening there).
    tol : float
        Tolerance of the root in ``κ``.

    Returns
    -------
    float
        0 when the interval at ``κ = 0`` includes 0; NaN when it excludes 0 even at ``cap``.
    """
    low, high = interval(0.0)
    if low <= 0.0 <= high:
        return 0.0
    side = 0 if low > 0 else 1  # the end that must reach 0
    sign = 1.0 if side == 0 else -1.0

    def gap(kappa: float) -> float:
        return sign * interval(kappa)[side]

    if gap(cap) > 0:
        return float("nan")
    return float(optimize.brentq(gap, 0.0, cap, xtol=tol))


def imbens_manski_interval(lower: float, upper: float, se_lower: float, se_upper: float,
                           level: float = 0.95) -> tuple[float, float]:
    """Imbens & Manski (2004) confidence interval for a parameter inside ``[lower, upper]``.

    ``c`` solves ``Φ(c + Δ/σ) − Φ(−c) = level`` with ``Δ = upper − lower`` and
    ``σ = max(se_lower, se_upper)``: the two-sided critical value when the bounds coincide,
    tending to the one-sided one as they separate.
    """
    width = max(upper - lower, 0.0)
    sigma = max(se_lower, se_upper)
    if not sigma > 0:
        return float(lower), float(upper)

    def gap(c: float) -> float:
        return float(stats.norm.cdf(c + width / sigma) - stats.norm.cdf(-c) - level)

    c = optimize.brentq(gap, 0.0, 10.0)
    return float(lower - c * se_lower), float(upper + c * se_upper)


@dataclass
class LeeBoundsResults:
    """Lee bounds on the effect of answering on later mean sentiment, one row per lead.

    Attributes
    ----------
    table : DataFrame
        Index ``lead``; columns ``lower``, ``upper``, ``se_lower``, ``se_upper``,
        ``ci_lower``, ``ci_upper`` (Imbens–Manski 95%), ``share_answered`` and
        ``share_unanswered`` (weighted shares who tweet in ``t+lead``), ``trimmed_share``,
        ``trimmed_arm``, ``nobs`` and ``difference_in_means`` (the naive weighted
        comparison of the tweeters); ``breakdown_defier_share`` (the smallest defier share
        ``κ`` at which the bounds include 0; 0 when they do at ``κ = 0``, NaN when not even at
        the largest ``κ`` the tweeting shares allow) and ``breakdown_defier_share_ci`` (the
        same for the Imbens–Manski interval).
    defiers : DataFrame
        The bounds without monotonicity (:func:`defier_bounds`): one row per lead and defier
        share ``κ`` of the grid, columns ``lead``, ``defier_share`` (as asked),
        ``defier_share_used`` (capped by the tweeting shares), ``lower``, ``upper``,
        ``se_lower``, ``se_upper``, ``ci_lower``, ``ci_upper``, ``kept_answered``,
        ``kept_unanswered``.
    info : dict
        Assumptions, weighting and bootstrap settings.
    kept : DataFrame
        Customer-periods ``t−1`` used (``customer_id``, ``brand``, ``period``): the truth of a
        simulated world is computed on them. Not exported.
    """

    table: pd.DataFrame
    defiers: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict[str, Any] = field(default_factory=dict)
    kept: pd.DataFrame | None = None

    def summary(self) -> str:
        """Plain-text table of the bounds and their intervals."""
        shown = self.table[["lower", "upper", "ci_lower", "ci_upper", "share_answered",
                            "share_unanswered", "trimmed_share", "nobs"]]
        header = ["Lee bounds: effect of answering on mean sentiment when the customer tweets",
                  *(f"{k}: {v}" for k, v in self.info.items())]
        text = "\n".join(header) + "\n" + shown.to_string(float_format=lambda v: f"{v:.4f}")
        if not self.defiers.empty:
            grid = self.defiers.set_index(["lead", "defier_share"])[
                ["lower", "upper", "ci_lower", "ci_upper"]]
            text += ("\n\nWithout monotonicity: bounds when a share κ of customer-periods "
                     "defies it\n" + grid.to_string(float_format=lambda v: f"{v:.4f}")
                     + "\n\nBreakdown κ (bounds / 95% CI include 0):\n"
                     + self.table[["breakdown_defier_share", "breakdown_defier_share_ci"]]
                     .to_string(float_format=lambda v: f"{v:.4f}"))
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``info`` and one record per lead."""
        records = []
        for lead, row in self.table.iterrows():
            record: dict[str, Any] = {"lead": int(lead)}
            for column, value in row.items():
                record[str(column)] = (value if isinstance(value, str)
                                       else int(value) if column == "nobs"
                                       else round(float(value), 10))
            records.append(record)
        defiers = [{str(k): (int(v) if k == "lead" else round(float(v), 10))
                    for k, v in row.items()} for row in self.defiers.to_dict("records")]
        return {"model": "lee_bounds_sentiment", "info": self.info, "leads": records,
                "defier_bounds": defiers}


def _defier_intervals(y: np.ndarray, tweeted: np.ndarray, treated: np.ndarray,
                      weights: np.ndarray, replicate_weights: np.ndarray
                      ) -> Callable[..., tuple[float, ...]]:
    """Bounds without monotonicity and their Imbens–Manski interval as a function of ``κ``.

    The function returned maps ``κ`` to ``(lower, upper, ci_lower, ci_upper, κ used,
    se_lower, se_upper, kept answered, kept unanswered)`` of :func:`defier_bounds`, with
    bootstrap SEs from the replicate weights (``bootstrap=False``: the point bounds only, the
    rest NaN). Each arm is sorted once (:class:`_SortedArm`), so the grid and the root-finding
    of the breakdown shares cost a binary search per evaluation and weighting.
    """

    def prepare(w: np.ndarray) -> tuple[dict[int, np.ndarray], dict[int, _SortedArm]]:
        w = np.atleast_2d(w)
        share = {arm: w[:, mask & tweeted].sum(axis=1) / w[:, mask].sum(axis=1)
                 for arm, mask in ((1, treated), (0, ~treated))}
        arms = {arm: _SortedArm(y[mask & tweeted], w[:, mask & tweeted])
                for arm, mask in ((1, treated), (0, ~treated))}
        return share, arms

    prepared = {False: prepare(weights), True: prepare(replicate_weights)}

    def bounds(kappa: float, replicates: bool) -> dict[str, Any]:
        share, arms = prepared[replicates]
        treated_high, used, keep = _defier_keeps(share[1], share[0], kappa)
        means = {arm: (sorted_arm.trimmed(keep[arm], True), sorted_arm.trimmed(keep[arm], False),
                       sorted_arm.full) for arm, sorted_arm in arms.items()}
        return _defier_combine(treated_high, used, keep, means)

    def interval(kappa: float, bootstrap: bool = True) -> tuple[float, ...]:
        point = {k: v[0] for k, v in bounds(kappa, False).items()}
        if not bootstrap:
            return (float(point["lower"]), float(point["upper"]), *([float("nan")] * 7))
        reps = bounds(kappa, True)
        se_low = float(np.nanstd(reps["lower"], ddof=1))
        se_high = float(np.nanstd(reps["upper"], ddof=1))
        ci = imbens_manski_interval(float(point["lower"]), float(point["upper"]), se_low,
                                    se_high)
        return (float(point["lower"]), float(point["upper"]), ci[0], ci[1],
                float(point["defier_share"]), se_low, se_high, float(point["kept_answered"]),
                float(point["kept_unanswered"]))

    return interval


def _ends(interval: Callable[..., tuple[float, ...]], ci: bool, kappa: float
          ) -> tuple[float, float]:
    """Return the bounds (``ci`` false) or the interval (true) of :func:`_defier_intervals`."""
    out = interval(kappa, bootstrap=ci)
    return (out[2], out[3]) if ci else (out[0], out[1])


def sentiment_lee_bounds(data: pd.DataFrame, horizon: int = 4,
                         overlap: tuple[float, float] = OVERLAP,
                         bootstrap_draws: int = BOOTSTRAP_DRAWS, seed: int = 0,
                         outcome: str = "sentiment_mean",
                         defier_shares: Sequence[float] = DEFIER_SHARES) -> LeeBoundsResults:
    """Lee bounds on the effect of answering a complaint in ``t−1`` on mean sentiment in ``t+h``.

    Parameters
    ----------
    data : DataFrame
        Panel with model columns (:func:`~complaintpanel.estimate.add_model_columns`).
    horizon : int
        Last lead: bounds for ``t+0 … t+horizon``.
    overlap : tuple of float
        The design's overlap range for the propensity.
    bootstrap_draws : int
        Bootstrap replications over customers for the bounds' standard errors.
    seed : int
        Seed of the bootstrap.
    outcome : str
        Panel column observed only when the customer tweets (``tweets > 0``).
    defier_shares : sequence of float
        The grid of defier shares ``κ`` (share of the customer-periods whose tweeting in
        ``t+h`` answering moves against the majority direction) for the bounds without
        monotonicity (:func:`defier_bounds`); empty: none (nor the breakdown shares).

    Returns
    -------
    LeeBoundsResults

    Raises
    ------
    NotIdentifiedError
        As :func:`~.design.design_sample`.
    """
    sample = design_sample(data, overlap)
    treated, score = sample.treated, sample.score
    ipw = np.where(treated, 1.0 / score, 1.0 / (1.0 - score))
    customers, _ = pd.factorize(sample.base["customer_id"])
    n_customers = int(customers.max()) + 1
    rng = np.random.default_rng(seed)
    # one multiplicity per customer and replicate, shared by every lead
    multiplicity = rng.multinomial(n_customers, np.full(n_customers, 1.0 / n_customers),
                                   size=bootstrap_draws).astype(float)
    records = []
    defier_rows: list[dict[str, Any]] = []
    for lead in range(horizon + 1):
        tweets = sample.outcome(data, "tweets", lead)
        ok = ~np.isnan(tweets)
        if ok.sum() < 10:
            continue
        tweeted = tweets[ok] > 0
        y = np.nan_to_num(sample.outcome(data, outcome, lead)[ok])
        d, w = treated[ok], ipw[ok]
        arms_observed = all((tweeted & (d == arm)).any() for arm in (True, False))
        if not arms_observed:
            continue
        point = lee_bounds(y, tweeted, d, w)
        replicates = lee_bounds(y, tweeted, d, w * multiplicity[:, customers[ok]])
        se_lower = float(np.nanstd(replicates["lower"], ddof=1))
        se_upper = float(np.nanstd(replicates["upper"], ddof=1))
        ci = imbens_manski_interval(point["lower"], point["upper"], se_lower, se_upper)
        replicate_weights = w * multiplicity[:, customers[ok]]
        breakdown = {"breakdown_defier_share": float("nan"),
                     "breakdown_defier_share_ci": float("nan")}
        if len(defier_shares):
            interval = _defier_intervals(y, tweeted, d, w, replicate_weights)
            cap = float(defier_bounds(y, tweeted, d, 1.0, w)["defier_share"])
            for kappa in defier_shares:
                low, high, ci_low, ci_high, used, se_low, se_high, kept1, kept0 = \
                    interval(float(kappa))
                defier_rows.append({
                    "lead": lead, "defier_share": float(kappa), "defier_share_used": used,
                    "lower": low, "upper": high, "se_lower": se_low, "se_upper": se_high,
                    "ci_lower": ci_low, "ci_upper": ci_high, "kept_answered": kept1,
                    "kept_unanswered": kept0})
            breakdown = {
                "breakdown_defier_share": breakdown_defier_share(
                    partial(_ends, interval, False), cap),
                "breakdown_defier_share_ci": breakdown_defier_share(
                    partial(_ends, interval, True), cap)}
        # the naive comparison of the tweeters (no trimming), for reference
        mean = {arm: float(np.average(y[tweeted & (d == arm)], weights=w[tweeted & (d == arm)]))
                for arm in (True, False)}
        records.append({
            "lead": lead, "lower": point["lower"], "upper": point["upper"],
            "se_lower": se_lower, "se_upper": se_upper, "ci_lower": ci[0], "ci_upper": ci[1],
            "share_answered": point["share_treated"],
            "share_unanswered": point["share_untreated"],
            "trimmed_share": point["trimmed_share"], "trimmed_arm": point["trimmed_arm"],
            "difference_in_means": mean[True] - mean[False], "nobs": int(ok.sum()),
            **breakdown,
        })
    if not records:
        raise NotIdentifiedError("no lead has tweets in both arms after a complaint")
    info = {
        "estimand": "effect of answering a complaint in t−1 on the mean sentiment of t+lead "
                    "among customer-periods that would tweet in t+lead answered or not "
                    "(always-tweeters), with a complaint in t−1 and overlap",
        "assumption": "monotonicity: answering moves every customer's tweeting in t+lead in "
                      "the same direction; trimmed in the arm with the higher weighted "
                      "tweeting share",
        "weighting": "design propensity (logit, brand × complaints, redress, brand × period), "
                     "inverse-probability weights normalised within arm; overlap "
                     f"{list(overlap)}",
        "interval": f"Imbens–Manski 95%, bootstrap over customers ({bootstrap_draws} draws, "
                    "propensity held fixed)",
        "outcome": outcome,
        "without_monotonicity": "defier_bounds: a share κ of the customer-periods (the "
                                "design sample after overlap) may tweet in t+lead only in the "
                                "arm with the lower weighted tweeting share; the always-"
                                "tweeters are a share p_low − κ, both arms trimmed to it; "
                                f"grid κ = {[float(k) for k in defier_shares]}; breakdown κ "
                                "by root-finding",
    }
    result = LeeBoundsResults(table=pd.DataFrame.from_records(records, index="lead"),
                              defiers=pd.DataFrame.from_records(defier_rows), info=info)
    result.kept = sample.base[["customer_id", "brand", "period"]]
    return result
