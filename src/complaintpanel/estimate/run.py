"""Run every reduced-form estimate on one panel and collect plain-JSON results.

A model the data cannot identify (no variation, too few observations) is recorded with its
reason instead of failing the whole run, so that small real excerpts report what could and
could not be estimated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from complaintpanel.config import EstimateConfig
from complaintpanel.estimate.design import answered_vs_unanswered
from complaintpanel.estimate.event_study import event_study
from complaintpanel.estimate.fixed_effects import fit_linear_fe, fit_panelols, fit_ppml
from complaintpanel.estimate.results import ESTIMATION_FAILURES, EffectResults, failure_record
from complaintpanel.estimate.treatments import TREATMENTS, add_model_columns

__all__ = ["panel_descriptives", "run_estimates"]


def _attempt(fit: Callable[[], EffectResults | pd.DataFrame]) -> dict[str, Any]:
    try:
        result = fit()
    except ESTIMATION_FAILURES as error:
        return failure_record(error)
    if isinstance(result, pd.DataFrame):
        return {"status": "estimated", "rows": result.to_dict(orient="records")}
    return result.to_dict()


def panel_descriptives(panel: pd.DataFrame) -> dict[str, Any]:
    """Table 1: size of the panel and how brands answered.

    Latency quantiles are over pair-periods with a reply (the panel's median first-reply
    latency of the period).
    """
    tweets = int(panel["tweets"].sum())
    latency = panel["reply_latency_h"].dropna()
    per_brand = (panel.groupby("brand")
                 .agg(customers=("customer_id", "nunique"), tweets=("tweets", "sum"),
                      complaints=("complaints", "sum"), replies=("replies", "sum"),
                      median_latency_h=("reply_latency_h", "median"))
                 .reset_index())
    per_brand["reply_rate"] = per_brand["replies"] / per_brand["tweets"].where(
        per_brand["tweets"] > 0)
    return {
        "customers": int(panel["customer_id"].nunique()),
        "brands": int(panel["brand"].nunique()),
        "periods": int(panel["period"].max()) + 1,
        "customer_brand_pairs": int(panel[["customer_id", "brand"]].drop_duplicates().shape[0]),
        "panel_rows": len(panel),
        "customer_tweets": tweets,
        "complaint_share": float(panel["complaints"].sum() / tweets) if tweets else None,
        "compliment_share": float(panel["compliments"].sum() / tweets) if tweets else None,
        "reply_rate": float(panel["replies"].sum() / tweets) if tweets else None,
        "complaint_reply_rate": float(panel["answered_complaints"].sum()
                                      / max(int(panel["complaints"].sum()), 1)),
        "share_periods_silent": float((panel["tweets"] == 0).mean()),
        "share_periods_replied": float(panel["replied"].mean()),
        "latency_h_median": float(latency.median()) if len(latency) else None,
        "latency_h_p25": float(latency.quantile(0.25)) if len(latency) else None,
        "latency_h_p90": float(latency.quantile(0.90)) if len(latency) else None,
        "ever_answered_pairs_share": float(
            panel.groupby(["customer_id", "brand"])["first_reply_period"].first().notna().mean()),
        "by_brand": per_brand.to_dict(orient="records"),
    }


def run_estimates(panel: pd.DataFrame, settings: EstimateConfig | None = None,
                  with_event_studies: bool = True) -> dict[str, Any]:
    """Every reduced-form model of DESIGN.md §3 on ``panel``, as plain JSON.

    Parameters
    ----------
    panel : DataFrame
        ``panel.parquet``.
    settings : EstimateConfig, optional
        Main treatment, the H of "reply within H hours", and the design horizon.
    with_event_studies : bool
        The event studies are the slowest part; robustness runs can skip them.

    Returns
    -------
    dict
        ``descriptives``, ``ppml_complaints`` / ``fe_sentiment`` / ``fe_compliment_share``
        (one entry per treatment definition), ``panelols_sentiment`` (cross-check),
        ``design`` (answered vs unanswered) and ``event_study`` (per outcome).
    """
    settings = settings or EstimateConfig()
    data = add_model_columns(panel, reply_within_h=settings.reply_within_h)
    results: dict[str, Any] = {
        "settings": {"main_treatment": settings.treatment,
                     "reply_within_h": settings.reply_within_h, "horizon": settings.horizon,
                     "treatments": TREATMENTS},
        "descriptives": panel_descriptives(panel),
    }
    results["ppml_complaints"] = {t: _attempt(lambda t=t: fit_ppml(data, t)) for t in TREATMENTS}
    for outcome in ("sentiment_mean", "compliment_share"):
        results[f"fe_{outcome}"] = {
            t: _attempt(lambda t=t, o=outcome: fit_linear_fe(data, o, t)) for t in TREATMENTS}
    results["panelols_sentiment_mean"] = _attempt(
        lambda: fit_panelols(data, "sentiment_mean", settings.treatment))
    results["design"] = _attempt(lambda: answered_vs_unanswered(data, horizon=settings.horizon))
    if with_event_studies:
        results["event_study"] = {
            outcome: _attempt(lambda o=outcome: event_study(data, o))
            for outcome in ("complaints", "sentiment_mean")}
    return results
