"""Run every reduced-form estimate on one panel and collect the results.

A model the data cannot identify (no variation, too few observations) is recorded as a
:class:`~complaintpanel.results.NotEstimated` record with its reason instead of failing the
whole run, so that small real excerpts report what could and could not be estimated. The
collected tree is written to ``estimates.json`` and read back by
:func:`complaintpanel.results.write_results` / :func:`~complaintpanel.results.read_results`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from complaintpanel.config import EstimateConfig
from complaintpanel.estimate.awareness import awareness_test
from complaintpanel.estimate.design import answered_vs_unanswered, design_heterogeneity
from complaintpanel.estimate.event_study import complaint_anchored_event_study, event_study
from complaintpanel.estimate.fixed_effects import fit_linear_fe, fit_panelols, fit_ppml
from complaintpanel.estimate.sensitivity import design_sensitivity
from complaintpanel.estimate.sentiment import (
    DEFIER_SHARES,
    LeeBoundsResults,
    sentiment_lee_bounds,
)
from complaintpanel.estimate.treatments import TREATMENTS, add_model_columns
from complaintpanel.results import ESTIMATION_FAILURES, EffectResults, NotEstimated

if TYPE_CHECKING:
    from complaintpanel.label.validation import CodedTweets
    from complaintpanel.model.measurement import ValidationCounts

__all__ = ["attempt", "misclassification_estimates", "panel_descriptives", "run_estimates",
           "sentiment_estimates", "subset_outcomes"]

Fitted = TypeVar("Fitted")


def attempt(fit: Callable[[], Fitted], model: str = "") -> Fitted | NotEstimated:
    """Run ``fit``; return its results, or a :class:`NotEstimated` record if it cannot be.

    Parameters
    ----------
    fit : callable
        Fits one model (no arguments).
    model : str
        Name recorded with a failure.
    """
    try:
        return fit()
    except ESTIMATION_FAILURES as error:
        return NotEstimated.from_error(error, model)


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
        # max() of an empty panel is NaN, which int() refuses: an empty panel has 0 periods.
        "periods": int(panel["period"].max()) + 1 if len(panel) else 0,
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
                  with_event_studies: bool = True, period: str | None = None,
                  validation: ValidationCounts | None = None,
                  validation_tweets: CodedTweets | None = None) -> dict[str, Any]:
    """Every reduced-form model of DESIGN.md §3 on ``panel``.

    Parameters
    ----------
    panel : DataFrame
        ``panel.parquet``.
    settings : EstimateConfig, optional
        Main treatment, the H of "reply within H hours", and the design horizon.
    with_event_studies : bool
        The event studies are the slowest part; robustness runs can skip them.
    period : {"day", "week", "month"}, optional
        Length of the panel's periods (``panel_report.json``), recorded in ``settings`` so
        that tables and figures name it; ``None`` when unknown.
    validation : ValidationCounts, optional
        A coded validation sample of the classifier's labels: the design-based estimate and
        the event studies are also reported corrected for misclassification
        (:mod:`complaintpanel.estimate.measurement`).
    validation_tweets : CodedTweets, optional
        The same coded sample tweet by tweet, with each tweet's answered status and place in
        the panel (:func:`~complaintpanel.label.validation.load_coded_tweets`): the corrected
        design-based estimate is then also reported adjusted for the true voice of the
        answered week (``misclassification.design_corrected_voice_adjusted``).

    Returns
    -------
    dict
        ``settings`` and ``descriptives`` (plain values); results objects or
        :class:`~complaintpanel.results.NotEstimated` records: ``ppml_complaints`` /
        ``fe_sentiment_mean`` / ``fe_compliment_share`` (one per treatment definition),
        ``panelols_sentiment_mean`` (cross-check), ``design`` (answered vs unanswered),
        ``design_heterogeneity`` (by brand and reply-latency bin, next period),
        ``design_signed_counts`` and ``design_sentiment`` (:func:`sentiment_estimates`),
        ``awareness`` (the brand × period test of the rival mechanism, per outcome group:
        :func:`~complaintpanel.estimate.awareness.awareness_test`),
        ``sensitivity`` (the design estimate under the marginal sensitivity model,
        :meth:`~complaintpanel.estimate.sensitivity.SensitivityResults.to_dict`, plain JSON)
        ``event_study`` (per outcome: one results object per estimator, or one record) and
        ``event_study_complaint_anchored`` (``complaints``: the complaint-anchored Poisson
        event study, :mod:`~complaintpanel.estimate.complaint_event_study`, with its
        pre-anchor placebo test in ``info["placebo_test"]``) —
        all on the classified labels (naive) — and ``misclassification``
        (:func:`misclassification_estimates`).
    """
    settings = settings or EstimateConfig()
    data = add_model_columns(panel, reply_within_h=settings.reply_within_h)
    results: dict[str, Any] = {
        "settings": {"main_treatment": settings.treatment,
                     "reply_within_h": settings.reply_within_h, "horizon": settings.horizon,
                     "period": period, "treatments": TREATMENTS},
        "descriptives": panel_descriptives(panel),
    }
    results["ppml_complaints"] = {
        t: attempt(partial(fit_ppml, data, t), "ppml_complaints") for t in TREATMENTS}
    for outcome in ("sentiment_mean", "compliment_share"):
        results[f"fe_{outcome}"] = {
            t: attempt(partial(fit_linear_fe, data, outcome, t), f"fe_{outcome}")
            for t in TREATMENTS}
    results["panelols_sentiment_mean"] = attempt(
        partial(fit_panelols, data, "sentiment_mean", settings.treatment), "fe_sentiment_mean")
    # With a validation sample the correction needs the design's effects on all three
    # classified counts jointly: fit them once and report the complaint and compliment terms
    # here (the AIPW terms of one outcome do not depend on the others: the subset is exact).
    # The counts of negative and positive tweets (sentiment_estimates) join the same fit.
    design_outcomes = DESIGN_OUTCOMES if validation is not None else DESIGN_OUTCOMES[:2]
    signed = SIGNED_OUTCOMES if set(SIGNED_OUTCOMES) <= set(data.columns) else ()
    design = attempt(partial(answered_vs_unanswered, data,
                             outcomes=(*design_outcomes, *signed),
                             horizon=settings.horizon), "answered_vs_unanswered")
    results["design"] = (subset_outcomes(design, DESIGN_OUTCOMES[:2])
                         if isinstance(design, EffectResults) else design)
    if isinstance(results["design"], EffectResults):
        results["design"].info["labels"] = "classified (naive: not corrected)"
    results["design_heterogeneity"] = design_heterogeneity(data)
    results.update(sentiment_estimates(data, settings.horizon, design=design,
                                       defier_shares=settings.sentiment_defier_shares))
    results["awareness"] = {
        group: attempt(partial(awareness_test, data, group), f"awareness_test[{group}]")
        for group in ("silent", "never_answered")}
    # How strong selection on the unobserved would have to be to overturn the design estimate
    results["sensitivity"] = attempt(
        lambda: design_sensitivity(
            data, horizon=settings.horizon, lambdas=settings.sensitivity_lambdas,
            reps=settings.sensitivity_reps, seed=settings.sensitivity_seed).to_dict(),
        "design_sensitivity")
    if with_event_studies:
        # counts also get the Poisson event study; every estimator shares one sample
        estimators = {"complaints": ("did2s", "twfe", "poisson"),
                      "sentiment_mean": ("did2s", "twfe")}
        results["event_study"] = {
            outcome: attempt(partial(event_study, data, outcome, settings.event_window,
                                     estimators[outcome]), f"event_study_{outcome}")
            for outcome in ("complaints", "sentiment_mean")}
        # The complaint-anchored Poisson event study: answered vs unanswered first
        # complaints, event time from the complaint. Its own sample, fixed effects and
        # placebo test, so it is not one more column of event_study (whose estimators share
        # one sample and the first-reply event time, as its table and figure say).
        results["event_study_complaint_anchored"] = {
            "complaints": attempt(partial(complaint_anchored_event_study, data, "complaints",
                                          settings.event_window),
                                  "event_study_complaint_anchored")}
    naive_event_studies = None
    if with_event_studies and settings.event_window == MAIN_EVENT_WINDOW:
        naive_event_studies = {"complaints": results["event_study"]["complaints"]}
    results["misclassification"] = misclassification_estimates(
        data, validation, settings, with_event_studies, validation_tweets=validation_tweets,
        naive_design=(subset_outcomes(design, design_outcomes)
                      if isinstance(design, EffectResults) else design),
        naive_event_studies=naive_event_studies)
    return results


def sentiment_estimates(data: pd.DataFrame, horizon: int,
                        design: EffectResults | NotEstimated | None = None,
                        defier_shares: Sequence[float] = DEFIER_SHARES) -> dict[str, Any]:
    """Estimate the design's effects on later sentiment (:mod:`complaintpanel.estimate.sentiment`).

    Returns
    -------
    dict
        ``design_signed_counts``: the design-based estimate on the counts of tweets with a
        negative and with a positive sentiment score (panel columns ``negative``, ``positive``;
        under the simulator's oracle labels they equal complaints and compliments, under a
        classifier they differ where the score and the voice threshold disagree);
        ``design_sentiment``: Lee bounds on the effect on mean sentiment among the
        always-tweeters (a plain dict, :meth:`LeeBoundsResults.to_dict`, with the bounds
        without monotonicity at each defier share of ``defier_shares`` under
        ``defier_bounds`` and the breakdown shares in ``leads``), or a
        :class:`~complaintpanel.results.NotEstimated` record.

    Parameters
    ----------
    data : DataFrame
        Panel with model columns.
    horizon : int
    design : EffectResults or NotEstimated, optional
        A design-based fit that includes the signed counts among its outcomes (their terms
        are taken from it: AIPW terms of one outcome do not depend on the others); fitted
        here when not given.
    defier_shares : sequence of float
        Grid of defier shares ``κ`` (``[estimate] sentiment_defier_shares``).
    """
    out: dict[str, Any] = {}
    if set(SIGNED_OUTCOMES) <= set(data.columns):
        if isinstance(design, EffectResults) and set(SIGNED_OUTCOMES) <= set(
                design.terms["outcome"]):
            out["design_signed_counts"] = subset_outcomes(design, SIGNED_OUTCOMES)
        elif isinstance(design, NotEstimated):
            out["design_signed_counts"] = design
        else:
            out["design_signed_counts"] = attempt(partial(
                answered_vs_unanswered, data, outcomes=SIGNED_OUTCOMES, horizon=horizon),
                "answered_vs_unanswered")
    bounds = attempt(partial(sentiment_lee_bounds, data, horizon=horizon,
                             defier_shares=defier_shares),
                     "lee_bounds_sentiment")
    out["design_sentiment"] = bounds.to_dict() if isinstance(bounds, LeeBoundsResults) \
        else bounds
    return out


# Outcomes of the design-based estimate: the main results report the first two; the
# misclassification correction needs all three (VOICES order of complaintpanel.model.measurement).
DESIGN_OUTCOMES: tuple[str, ...] = ("complaints", "compliments", "neutral")
# Counts of tweets with a negative / positive sentiment score (panel columns), fitted with them.
SIGNED_OUTCOMES: tuple[str, ...] = ("negative", "positive")
# Window of the main event studies (event_study's default), so that the naive event study of
# the correction can reuse their did2s fit when the configured window is the same.
MAIN_EVENT_WINDOW = 4


def subset_outcomes(results: EffectResults, outcomes: tuple[str, ...]) -> EffectResults:
    """Keep the terms of ``results`` whose ``outcome`` is in ``outcomes``, with their covariance.

    Parameters
    ----------
    results : EffectResults
        A results object whose term table has an ``outcome`` column (e.g. the design-based
        estimate).
    outcomes : tuple of str

    Returns
    -------
    EffectResults
        Same model, estimates, standard errors and covariance block for the kept terms; the
        ``kept`` attribute (the customer-periods used), if any, is carried over.
    """
    table = results.terms
    keep = table.index[table["outcome"].isin(outcomes)]
    names = [name for name in results.params.index if name in set(keep)]
    out = EffectResults(
        model=results.model, estimator=results.estimator, params=results.params.loc[names],
        bse=results.bse.loc[names], cov=results.cov_params().loc[names, names],
        nobs=results.nobs, terms=table.loc[keep], n_clusters=results.n_clusters,
        dof=results.dof, cov_type=results.cov_type, info=dict(results.info))
    if hasattr(results, "kept"):
        out.kept = results.kept  # type: ignore[attr-defined]
    return out


NAIVE_ONLY = ("naive: no validation sample was given, so the estimates use the classifier's "
              "labels uncorrected (biased when the classifier errs)")


def misclassification_estimates(
    data: pd.DataFrame, validation: ValidationCounts | None, settings: EstimateConfig,
    with_event_studies: bool = True, *,
    validation_tweets: CodedTweets | None = None,
    naive_design: EffectResults | NotEstimated | None = None,
    naive_event_studies: dict[str, dict[str, EffectResults] | NotEstimated] | None = None,
) -> dict[str, Any]:
    """Naive and misclassification-corrected design-based estimates and event studies.

    Parameters
    ----------
    data : DataFrame
        The panel with model columns.
    validation : ValidationCounts or None
        ``None``: only the status is recorded (naive estimates elsewhere in the results).
    settings : EstimateConfig
    with_event_studies : bool
    validation_tweets : CodedTweets, optional
        The coded sample tweet by tweet: adds ``design_corrected_voice_adjusted``
        (:func:`~complaintpanel.estimate.measurement.corrected_design_voice_control`).
    naive_design : EffectResults or NotEstimated, optional
        The design-based estimate on ``data`` with outcomes complaints, compliments and
        neutral and ``settings.horizon`` (as :func:`run_estimates` fits it), reused instead of
        fitted again.
    naive_event_studies : dict, optional
        ``{outcome: event_study(data, outcome, settings.event_window, …)}`` already fitted
        (with ``did2s`` among the estimators); their did2s fits are reused.

    Returns
    -------
    dict
        ``status``; with a validation sample also ``validation`` (its description, M̂ with
        standard errors), ``design_naive`` (effects on the classified complaint, compliment
        and neutral counts, jointly), ``design_corrected`` (on the true counts),
        ``event_study_naive`` and ``event_study_corrected`` (did2s; complaints, compliments);
        with ``validation_tweets`` also ``design_corrected_voice_adjusted``.
    """
    from complaintpanel.estimate.measurement import (
        corrected_design,
        corrected_design_voice_control,
        corrected_event_study,
    )
    from complaintpanel.model.measurement import validation_description

    if validation is None:
        return {"status": NAIVE_ONLY}
    out: dict[str, Any] = {
        "status": "corrected: effects on the true voice counts = M⁻ᵀ × effects on the "
                  "classified counts, M estimated from the validation sample",
        "validation": validation_description(validation),
        "population": "customer-periods selected by the CLASSIFIED labels (a classified "
                      "complaint in t−1, answered or not); outcomes are TRUE counts"}
    naive = naive_design if naive_design is not None else attempt(
        partial(answered_vs_unanswered, data, outcomes=DESIGN_OUTCOMES,
                horizon=settings.horizon), "answered_vs_unanswered")
    out["design_naive"] = naive
    out["design_corrected"] = (naive if isinstance(naive, NotEstimated) else attempt(
        partial(corrected_design, naive, validation), "answered_vs_unanswered_corrected"))
    if validation_tweets is not None:
        out["design_corrected_voice_adjusted"] = attempt(
            partial(corrected_design_voice_control, data, validation_tweets,
                    horizon=settings.horizon), "answered_vs_unanswered_corrected_voice_adjusted")
    if with_event_studies:
        outcomes = ("complaints", "compliments")
        fitted = naive_event_studies or {}
        out["event_study_naive"] = {
            outcome: _did2s_only(fitted[outcome]) if outcome in fitted else attempt(
                partial(event_study, data, outcome, settings.event_window, ("did2s",)),
                f"event_study_{outcome}")
            for outcome in outcomes}
        corrected = attempt(partial(corrected_event_study, data, validation, outcomes,
                                    settings.event_window), "event_study_corrected")
        out["event_study_corrected"] = (
            {outcome: corrected for outcome in outcomes}
            if isinstance(corrected, NotEstimated) else corrected)
    return out


def _did2s_only(fits: dict[str, EffectResults] | NotEstimated
                ) -> dict[str, EffectResults] | NotEstimated:
    """Keep the did2s fit of an event study (a record of failure stays as it is)."""
    return fits if isinstance(fits, NotEstimated) else {"did2s": fits["did2s"]}
