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

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from complaintpanel.estimate.design import OVERLAP, design_sample
from complaintpanel.results import NotIdentifiedError

__all__ = ["LeeBoundsResults", "imbens_manski_interval", "lee_bounds", "sentiment_lee_bounds"]

BOOTSTRAP_DRAWS = 200


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
    sentiment = np.asarray(sentiment, dtype=float)
    tweeted = np.asarray(tweeted, dtype=bool)
    treated = np.asarray(treated, dtype=bool)
    w = np.ones(sentiment.size) if weights is None else np.asarray(weights, dtype=float)
    squeeze = w.ndim == 1
    w = np.atleast_2d(w)
    share = {arm: (w[:, mask & tweeted].sum(axis=1) / w[:, mask].sum(axis=1))
             for arm, mask in ((1, treated), (0, ~treated))}
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
        comparison of the tweeters).
    info : dict
        Assumptions, weighting and bootstrap settings.
    kept : DataFrame
        Customer-periods ``t−1`` used (``customer_id``, ``brand``, ``period``): the truth of a
        simulated world is computed on them. Not exported.
    """

    table: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    kept: pd.DataFrame | None = None

    def summary(self) -> str:
        """Plain-text table of the bounds and their intervals."""
        shown = self.table[["lower", "upper", "ci_lower", "ci_upper", "share_answered",
                            "share_unanswered", "trimmed_share", "nobs"]]
        header = ["Lee bounds: effect of answering on mean sentiment when the customer tweets",
                  *(f"{k}: {v}" for k, v in self.info.items())]
        return "\n".join(header) + "\n" + shown.to_string(float_format=lambda v: f"{v:.4f}")

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
        return {"model": "lee_bounds_sentiment", "info": self.info, "leads": records}


def sentiment_lee_bounds(data: pd.DataFrame, horizon: int = 4,
                         overlap: tuple[float, float] = OVERLAP,
                         bootstrap_draws: int = BOOTSTRAP_DRAWS, seed: int = 0,
                         outcome: str = "sentiment_mean") -> LeeBoundsResults:
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
    }
    result = LeeBoundsResults(table=pd.DataFrame.from_records(records, index="lead"),
                              info=info)
    result.kept = sample.base[["customer_id", "brand", "period"]]
    return result
