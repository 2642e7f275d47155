"""Event studies around a customer's first reply from the brand (staggered adoption).

Two estimators side by side:

* ``did2s`` — Gardner's (2022) two-stage difference-in-differences (pyfixest ``did2s``): pair
  and period effects are estimated on not-yet-answered observations only, then the
  residualised outcome is regressed on event-time indicators; robust to effects that differ
  across cohorts (Borusyak, Jaravel & Spiess 2024 give the same estimator). Pairs answered at
  their very first contact have no unanswered period, so their pair effect cannot be
  estimated and they are left out (the count is reported);
* ``twfe`` — the naive two-way fixed-effects event study, which mixes cohorts with weights that
  can be negative when effects are heterogeneous (Sun & Abraham 2021).

Event times beyond ±window are binned into the end bins; never-answered pairs sit in the
reference bin (−1). Standard errors are clustered by customer. pyfixest's saturated
Sun–Abraham estimator was tried first and rejected: on this unbalanced panel (pairs enter at
first contact) its cohort-share aggregation returned standard errors in the hundreds for the
post-period coefficients, and it took minutes on the default world.

The leads (event time < 0) show the pre-period pattern. Here, unlike a textbook policy
adoption, the "treatment" (a reply) follows a complaint, which follows a worsening
relationship, and event time 0 contains the complaint that was answered; pre-trends and a
spike at 0 are expected and are reported, not hidden.

Each estimator returns its own results object (they use different samples and have no joint
covariance); the reference bin is a row of the term table marked ``fixed`` at 0, not a
parameter.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyfixest as pf

from complaintpanel.estimate.samples import informative_rows
from complaintpanel.results import EffectResults, NotIdentifiedError

__all__ = ["EVENT_STUDY_ESTIMATORS", "event_study"]

# Estimator key → how it is described in results and tables.
EVENT_STUDY_ESTIMATORS: dict[str, str] = {
    "did2s": "pyfixest.did2s (Gardner two-stage DiD)",
    "twfe": "pyfixest.feols (naive TWFE event study)",
}
REFERENCE = -1  # event time of the reference bin, normalised to 0


def event_study(data: pd.DataFrame, outcome: str = "complaints", window: int = 4,
                estimators: tuple[str, ...] = ("did2s", "twfe")) -> dict[str, EffectResults]:
    """Event-study coefficients of ``outcome`` around the first reply.

    Parameters
    ----------
    data : DataFrame
        The panel (with ``pair_id`` from :func:`~complaintpanel.estimate.add_model_columns`).
    outcome : str
        Outcome column (``complaints``, ``sentiment_mean``, …).
    window : int
        Event times −window … +window are reported; the ends are binned.
    estimators : tuple of str
        Any of ``"did2s"`` and ``"twfe"``.

    Returns
    -------
    dict of str to EffectResults
        One results object per estimator (keys as in ``estimators``): they differ in sample
        and observations, and their estimates have no joint covariance, so each has its own
        ``nobs`` and covariance matrix over its event times. Terms are the event times
        −window … window except the reference −1; the term table (columns ``outcome``,
        ``estimator``, ``event_time``) also lists −1 as a ``fixed`` term with value 0 — the
        normalisation, not an estimate. Standard errors clustered by customer, t inference
        with pyfixest's degrees of freedom.
    """
    unknown = sorted(set(estimators) - set(EVENT_STUDY_ESTIMATORS))
    if unknown:
        raise ValueError(f"unknown event-study estimator(s) {unknown}; "
                         f"choose from {sorted(EVENT_STUDY_ESTIMATORS)}")
    sample = data.dropna(subset=[outcome]).copy()
    if sample["first_reply_period"].notna().sum() == 0:
        raise NotIdentifiedError("no customer was ever answered: no event to study")
    sample["t"] = sample["period"].astype(int) + 1
    sample["g"] = sample["first_reply_period"].fillna(-1).astype(int) + 1  # 0 = never
    rel = (sample["t"] - sample["g"]).where(sample["g"] > 0)
    sample["event_bin"] = rel.clip(-window - 1, window + 1).fillna(REFERENCE).astype(int)
    sample["is_treated"] = ((sample["g"] > 0) & (sample["t"] >= sample["g"])).astype(int)
    fits = {"did2s": _did2s, "twfe": _twfe}
    return {name: fits[name](sample, outcome, window) for name in estimators}


def _results(fit: object, estimator: str, outcome: str, window: int, sample: pd.DataFrame,
             nobs: int) -> EffectResults:
    """Results over event times −window … window from a pyfixest fit of ``i(event_bin)``."""
    coefs = fit.coef()  # type: ignore[attr-defined]
    # pyfixest names the coefficients of i(event_bin, ref=-1) "event_bin::<k>"; look them up
    # by event time rather than reading event times out of the names. An event time no pair
    # reaches has no coefficient and is left out.
    event_times = [k for k in range(-window, window + 1)
                   if k != REFERENCE and f"event_bin::{k}" in coefs.index]
    position = [list(coefs.index).index(f"event_bin::{k}") for k in event_times]
    names = [f"event_time={k}" for k in event_times]
    vcov = fit._vcov[np.ix_(position, position)]  # type: ignore[attr-defined]
    se = fit.se()  # type: ignore[attr-defined]
    rows = {f"event_time={k}": {"outcome": outcome, "estimator": estimator, "event_time": k,
                                "fixed": k == REFERENCE,
                                "fixed_value": 0.0 if k == REFERENCE else np.nan}
            for k in sorted([*event_times, REFERENCE])}
    return EffectResults(
        model=f"event_study_{outcome}", estimator=EVENT_STUDY_ESTIMATORS[estimator],
        params=pd.Series([float(coefs[f"event_bin::{k}"]) for k in event_times],
                         index=names, dtype=float),
        bse=pd.Series([float(se[f"event_bin::{k}"]) for k in event_times], index=names,
                      dtype=float),
        cov=pd.DataFrame(vcov, index=names, columns=names), nobs=nobs,
        terms=pd.DataFrame.from_dict(rows, orient="index"),
        n_clusters=int(sample["customer_id"].nunique()),
        dof=float(fit._df_t),  # type: ignore[attr-defined]
        cov_type="CRV1 clustered by customer",
        info={"window": window, "reference_event_time": REFERENCE,
              "binned": f"event times beyond ±{window} are binned into the end bins"},
    )


def _did2s(sample: pd.DataFrame, outcome: str, window: int) -> EffectResults:
    entry = sample.groupby("pair_id")["t"].transform("min")
    untreated = sample["is_treated"] == 0
    # A pair effect is estimable only from at least two unanswered periods (one would be a
    # singleton, which pyfixest drops and its did2s variance then cannot align).
    n_untreated = untreated.groupby(sample["pair_id"]).transform("sum")
    usable = sample[~((sample["g"] > 0) & (sample["g"] <= entry)) & (n_untreated >= 2)]
    if usable["is_treated"].nunique() < 2:
        raise NotIdentifiedError("did2s: no pair has both unanswered and answered periods")
    # The first stage learns pair and period effects from unanswered observations; answered
    # ones are imputed from them, so some must share a pair and a period with what it keeps.
    first_stage = informative_rows(usable[usable["is_treated"] == 0], ("pair_id", "t"), outcome)
    treated = usable[usable["is_treated"] == 1]
    imputable = (treated["pair_id"].isin(first_stage["pair_id"])
                 & treated["t"].isin(first_stage["t"]))
    if first_stage.empty or not imputable.any():
        raise NotIdentifiedError(
            "did2s: no answered observation shares a pair and a period with the unanswered "
            f"observations that inform the first stage ({len(first_stage):,} of "
            f"{int((usable['is_treated'] == 0).sum()):,} remain once singletons are set aside)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.did2s(usable, yname=outcome, first_stage="~ 0 | pair_id + t",
                       second_stage="~ i(event_bin, ref=-1)", treatment="is_treated",
                       cluster="customer_id")
    return _results(fit, "did2s", outcome, window, usable, len(usable))


def _twfe(sample: pd.DataFrame, outcome: str, window: int) -> EffectResults:
    kept = informative_rows(sample, ("pair_id", "t"), outcome)
    if kept.empty or kept.groupby("pair_id")["event_bin"].nunique().max() < 2:
        raise NotIdentifiedError("twfe: no pair moves between event times once the "
                                 "observations alone in their pair or period are set aside")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.feols(f"{outcome} ~ i(event_bin, ref=-1) | pair_id + t", data=sample,
                       vcov={"CRV1": "customer_id"})
    return _results(fit, "twfe", outcome, window, sample, int(fit._N))
