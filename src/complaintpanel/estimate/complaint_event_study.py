"""A complaint-anchored Poisson event study: answered vs unanswered complainers.

The first-reply event study (:mod:`.event_study`) compares answered pairs with pairs not yet
answered. A first reply follows a complaint, i.e. a bad spell, so that comparison's parallel
trends fail by construction (an Ashenfelter dip) even when brands answer at random given a
complaint. This estimator anchors event time on the complaint instead, so that both arms have
had the same bad spell.

**Anchor and arms.** Each customer–brand pair's *anchoring complaint* is its first period with
a complaint (period ``a``; pairs without a complaint, or whose first complaint is in the
panel's last period, are not in the study). The pair is *answered* (treated) when the brand
answered a complaint of period ``a`` (``answered_complaints > 0``), *unanswered* (control)
otherwise. Event time is ``k = period − a``; the study uses ``k = 1 … window``.

**Estimand (intent-to-treat of answering the anchoring complaint).** At event time ``k``, the
log ratio of expected complaints among the answered anchors with the anchoring complaint
answered to the same anchors' expected complaints had it been withheld,
``log E[Y_k(1) | D = 1] − log E[Y_k(0) | D = 1]`` (an effect on the treated, per anchor period
``a``, then averaged over ``a`` with weights = answered anchors at ``k``). Later replies follow
the brand's policy in *both* arms: controls are not censored at a later reply, and an answered
anchor's later replies are part of the effect. This is the total effect of one answer, the
estimand of the design-based estimate (:mod:`.design`) restricted to first complaints and put
on the log scale. Its truth in a simulated world is
:func:`complaintpanel.simulate.truth_effects.world_anchor_effects`.

**Identification.** Anchors are grouped in strata of brand × anchor period × complaints in
``a`` (capped at :data:`COUNT_CAP`) × answered before ``a``: the controls of the design-based
estimate's propensity. If, within a stratum, whether the brand answers does not depend on how
the relationship is going (true in the simulator's exogenous world: each complaint is answered
with the brand's probability), answered and unanswered anchors of one stratum have the same
untreated complaint path, so "parallel trends" hold by design. The model (pyfixest ``fepois``)
is

    log E[Y_{ik}] = μ_{s(i), k} + Σ_{a, k} β_{a,k} · answered_i · 1{a_i = a, k}

with one fixed effect per stratum × event time (which nests brand × calendar period: a stratum
has one anchor period) and one coefficient per anchor cohort × event time, so that effects may
differ by cohort (Wooldridge's 2023 ETWFE logic). The coefficient of event time ``k`` is the
average of the ``β_{a,k}`` weighted by the answered rows of each cohort that inform them (rows
in a stratum × event time with a control row and a complaint), with the covariance of that
linear combination; standard errors are clustered by customer.

**Why no pair fixed effects.** A pair's complaints before its anchor are zero *by construction*
(it is its first complaint) and its anchor count is fixed by its stratum, so neither carries
information about the pair's level: a pair effect would be learnt from the post-anchor rows
alone and absorb the comparison. The stratum effects play the role of pair effects (anchors of
one stratum are alike at the anchor). For the same reason event time 0 is not reported: its
count is the stratum's, and the answer comes after the complaint. Nor is there a pre-period to
test on the outcome; :func:`complaint_event_study` reports instead a placebo on the period
before the anchor (compliments and neutral tweets in ``a − 1`` … ``a − window``, which the
anchor does not constrain), same model.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyfixest as pf
from scipy import stats

from complaintpanel.estimate.samples import informative_rows
from complaintpanel.results import EffectResults, NotIdentifiedError

__all__ = ["COUNT_CAP", "ESTIMATOR", "anchor_sample", "complaint_event_study",
           "informed_answered_rows"]

ESTIMATOR = "pyfixest.fepois, answered × anchor cohort × event time, complaint-anchored"
COUNT_CAP = 20  # anchor complaint counts above this share one stratum (as the design's cells)
STRATUM_FE = "stratum_k"
PLACEBO_OUTCOMES = ("compliments", "neutral")


def anchor_sample(data: pd.DataFrame, window: int, *, lo: int = 1,
                  hi: int | None = None) -> pd.DataFrame:
    """Rows of anchored pairs at event times ``lo … hi`` (default ``1 … window``).

    Parameters
    ----------
    data : DataFrame
        The panel with model columns (``pair_id``, ``customer_id``, ``brand``, ``period``,
        ``complaints``, ``answered_complaints``, ``answered_before``).
    window : int
        Last event time.
    lo, hi : int
        Event-time range kept (negative for the placebo's pre-anchor rows).

    Returns
    -------
    DataFrame
        Columns of ``data`` plus ``anchor_period``, ``event_time``, ``answered`` (0/1),
        ``stratum`` and ``stratum_k`` (stratum × event time).
    """
    hi = window if hi is None else hi
    frame = data.sort_values(["pair_id", "period"])
    complained = frame[frame["complaints"] > 0]
    # the first row with a complaint (not groupby.first(), which takes each column's first
    # non-missing value and could mix rows)
    anchors = complained.drop_duplicates("pair_id").set_index("pair_id")
    last_period = int(frame["period"].max())
    anchors = anchors[anchors["period"] < last_period]
    if anchors.empty:
        raise NotIdentifiedError("no pair complained before the panel's last period")
    answered = (anchors["answered_complaints"] > 0).astype(int)
    anchor = pd.DataFrame({
        "anchor_period": anchors["period"].astype(int),
        "answered": answered,
        "stratum": (anchors["brand"].astype(str) + "|" + anchors["period"].astype(str) + "|"
                    + anchors["complaints"].clip(upper=COUNT_CAP).astype(str) + "|"
                    + (anchors["answered_before"] > 0).astype(int).astype(str))})
    sample = frame.merge(anchor, left_on="pair_id", right_index=True, how="inner")
    sample["event_time"] = sample["period"].astype(int) - sample["anchor_period"]
    sample = sample[(sample["event_time"] >= lo) & (sample["event_time"] <= hi)].copy()
    sample[STRATUM_FE] = sample["stratum"] + "#" + sample["event_time"].astype(str)
    return sample


def _informative(sample: pd.DataFrame, outcome: str) -> tuple[pd.DataFrame, int]:
    """Rows that inform β (with ``cell``), and the number of answered rows set aside.

    Strata × event times without both arms are dropped (their effects fit them exactly), and
    so are the answered rows of cohort × event-time cells whose β has no finite MLE (see
    below), and singleton / all-zero strata, until nothing changes.
    """
    data = sample.copy()
    treated = data["answered"] == 1
    data["cell"] = np.where(treated, data["anchor_period"].astype(str) + "_"
                            + data["event_time"].astype(str), "control")
    set_aside = 0
    # A cohort × event-time cell with no count among its answered rows has β = −∞, one whose
    # strata have no count among their unanswered rows β = +∞ (no MLE): its answered rows are
    # set aside and counted, until no such cell is left.
    while True:
        # a stratum × event time without both arms (or without a count) says nothing about β
        treated = data["answered"] == 1
        by_stratum = treated.groupby(data[STRATUM_FE])
        data = data[by_stratum.transform("any") & ~by_stratum.transform("all")]
        treated = data["answered"] == 1
        cohort_k = data["anchor_period"].astype(str) + "_" + data["event_time"].astype(str)
        treated_sum = data[outcome].where(treated, 0.0).groupby(cohort_k).transform("sum")
        control_sum = data[outcome].where(~treated, 0.0).groupby(cohort_k).transform("sum")
        separated = treated & ((treated_sum == 0) | (control_sum == 0))
        kept = informative_rows(data[~separated], (STRATUM_FE,), outcome, poisson=True)
        set_aside += int(separated.sum())
        if len(kept) == len(data):
            return kept, set_aside
        data = kept


def informed_answered_rows(data: pd.DataFrame, outcome: str = "complaints", window: int = 4
                           ) -> pd.DataFrame:
    """Return the answered rows behind :func:`complaint_event_study`'s path (its population).

    Returns
    -------
    DataFrame
        ``customer_id``, ``anchor_period``, ``event_time`` of the answered rows that inform
        the coefficients (their count per cohort × event time is the path's weight), their
        ``stratum`` and ``controls``, the unanswered rows of the same stratum × event time
        that inform the fit (with the answered rows of the stratum they set the stratum's
        weight inside its cohort's coefficient;
        :func:`complaintpanel.simulate.truth_effects.anchor_effects`).
    """
    kept, _ = _informative(anchor_sample(data, window), outcome)
    controls = (kept["answered"] == 0).groupby(kept[STRATUM_FE]).transform("sum")
    kept = kept.assign(controls=controls.astype(int))
    return kept.loc[kept["answered"] == 1, ["customer_id", "anchor_period", "event_time",
                                            "stratum", "controls"]].reset_index(drop=True)


def _fit(sample: pd.DataFrame, outcome: str, times: list[int]
         ) -> tuple[list[int], np.ndarray, np.ndarray, dict[str, Any]]:
    """Cohort × event-time Poisson; the treated-weighted path over ``times`` and its covariance."""
    values = sample[outcome].to_numpy(dtype=float)
    if (values < 0).any() or not np.allclose(values, np.round(values)):
        raise ValueError(f"complaint-anchored event study: {outcome} is not a count")
    kept, separated = _informative(sample, outcome)
    if kept.empty or kept["answered"].nunique() < 2:
        raise NotIdentifiedError("complaint-anchored event study: no stratum has both answered "
                                 "and unanswered anchors with a later complaint")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.fepois(f"{outcome} ~ i(cell, ref='control') | {STRATUM_FE}", data=kept,
                        vcov={"CRV1": "customer_id"}, iwls_tol=1e-10,
                        demeaner=pf.MapDemeaner(fixef_tol=1e-10))
    coefs = fit.coef()
    names = list(coefs.index)
    informed = kept[kept["answered"] == 1]
    used = informed.groupby("cell").size()
    used = used[[f"cell::{c}" in names for c in used.index]]
    time_of = informed.groupby("cell")["event_time"].first().reindex(used.index)
    cohort_of = informed.groupby("cell")["anchor_period"].first().reindex(used.index)
    reported = [k for k in times if (time_of == k).any()]
    weights = np.zeros((len(reported), len(names)))
    cohort_weights: dict[str, dict[str, int]] = {}
    for i, k in enumerate(reported):
        cells = used[time_of == k]
        cohort_weights[str(k)] = {str(int(cohort_of[c])): int(n) for c, n in cells.items()}
        for cell, n in cells.items():
            weights[i, names.index(f"cell::{cell}")] = n / cells.sum()
    params = weights @ coefs.to_numpy(dtype=float)
    cov = weights @ fit._vcov @ weights.T
    return reported, params, cov, {
        "nobs_informative": int(fit._N), "set_aside_zero_cells": separated,
        "cohort_weights": cohort_weights, "dof": float(fit._df_t),
        "n_clusters": int(kept["customer_id"].nunique())}


def _placebo(data: pd.DataFrame, window: int) -> dict[str, Any]:
    """Joint Wald test of answered × pre-anchor event time on compliments and neutral tweets."""
    description = ("placebo: compliments and neutral tweets in a−1 … a−K (unconstrained by the "
                   "anchor) on the same model; joint Wald χ², CRV1 by customer")
    sample = anchor_sample(data, window, lo=-window, hi=-1)
    out: dict[str, Any] = {"description": description}
    for outcome in PLACEBO_OUTCOMES:
        if outcome not in sample:
            continue
        try:
            times, b, cov, _ = _fit(sample, outcome, list(range(-window, 0)))
        except (NotIdentifiedError, ValueError) as error:
            out[outcome] = {"note": str(error)}
            continue
        wald = float(b @ np.linalg.pinv(cov) @ b)
        out[outcome] = {"leads": [{"event_time": k, "estimate": float(e),
                                   "se": float(np.sqrt(cov[j, j]))}
                                  for j, (k, e) in enumerate(zip(times, b, strict=True))],
                        "wald": wald, "df": len(times),
                        "pvalue": float(stats.chi2.sf(wald, len(times)))}
    return out


def complaint_event_study(data: pd.DataFrame, outcome: str = "complaints", window: int = 4,
                          placebo: bool = True) -> EffectResults:
    """Complaint-anchored Poisson event study of ``outcome`` (see the module).

    Parameters
    ----------
    data : DataFrame
        The panel with model columns (:func:`~complaintpanel.estimate.add_model_columns`).
    outcome : str
        A count column (``complaints``, ``compliments``, …).
    window : int
        Event times ``1 … window`` after the anchoring complaint are reported.
    placebo : bool
        Also run the pre-anchor placebo test (``info["placebo_test"]``: not under
        ``pretrend_test``, which holds the first-reply estimators' BJS test).

    Returns
    -------
    EffectResults
        Terms ``event_time=k`` (log rate ratios, k = 1 … window), CRV1 by customer; ``info``
        has the estimand, the strata, ``cohort_weights`` (answered rows per anchor cohort behind
        each event time, the truth's weights) and the placebo test (``placebo_test``).
    """
    sample = anchor_sample(data, window)
    times, params, cov, extra = _fit(sample, outcome, list(range(1, window + 1)))
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if not times or not (np.isfinite(params).all() and (se > 0).all()):
        raise NotIdentifiedError("complaint-anchored event study: no event-time coefficient "
                                 "with a standard error")
    names = [f"event_time={k}" for k in times]
    terms = pd.DataFrame({"outcome": outcome, "estimator": "poisson_complaint",
                          "event_time": times, "fixed": False}, index=names)
    anchors = sample.drop_duplicates("pair_id")
    info: dict[str, Any] = {
        "window": window,
        "estimand": "log E[Y_k(answered)] − log E[Y_k(withheld)] over answered anchoring "
                    "complaints (ITT of answering the pair's first complaint; later replies "
                    "follow the brand's policy in both arms), averaged over anchor cohorts "
                    "with weights = answered rows at k",
        "treatment": "the brand answered the pair's first complaint (anchor period a)",
        "sample": "pairs with a complaint before the last period; rows a+1 … a+window",
        "fixed_effects": "stratum (brand × anchor period × anchor complaints × answered "
                         "before) × event time",
        "anchors": len(anchors), "anchors_answered": int(anchors["answered"].sum()),
        "nobs_informative": extra["nobs_informative"],
        "set_aside_zero_cells": extra["set_aside_zero_cells"],
        "cohort_weights": extra["cohort_weights"], "inference": "normal"}
    if placebo:
        info["placebo_test"] = _placebo(data, window)
    return EffectResults(
        model=f"event_study_{outcome}", estimator=ESTIMATOR,
        params=pd.Series(params, index=names, dtype=float),
        bse=pd.Series(se, index=names, dtype=float),
        cov=pd.DataFrame(cov, index=names, columns=names), nobs=len(sample), terms=terms,
        n_clusters=extra["n_clusters"], dof=extra["dof"],
        cov_type="CRV1 clustered by customer", info=info)
