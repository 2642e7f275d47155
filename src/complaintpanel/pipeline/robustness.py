"""Robustness of the main reduced-form results to the choices a researcher makes.

A whole-run driver: it chains the label, panel and estimate stages with one choice varied.
Each variant rebuilds the panel from the exchanges with one setting changed — the period
length, the activity filter, the voice classifier (or its threshold), the treatment
definition — and re-estimates the complaint PPML, the sentiment FE regression and the
design-based effect of answering a complaint on next period's complaints and compliments.
Every cell of a specification is a results object (or a
:class:`~complaintpanel.results.NotEstimated` record), written to ``robustness.json`` by
:func:`complaintpanel.results.write_results`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd

from complaintpanel.config import Config, EstimateConfig, PanelConfig, Period, RobustnessConfig
from complaintpanel.estimate.design import answered_vs_unanswered
from complaintpanel.estimate.fixed_effects import fit_linear_fe, fit_ppml
from complaintpanel.estimate.run import attempt
from complaintpanel.estimate.treatments import TREATMENTS, add_model_columns
from complaintpanel.label import classifier_for, label_exchanges, label_exchanges_with_truth
from complaintpanel.panel import build_panel
from complaintpanel.runtime.progress import track

__all__ = ["Variant", "activity_thresholds", "labelled_variants", "robustness_checks",
           "run_robustness"]


@dataclass(frozen=True)
class Variant:
    """One robustness specification."""

    dimension: str
    label: str
    labels: str = "main"
    period: Period | None = None
    min_tweets: int | None = None
    treatment: str | None = None


def robustness_checks(voiced_by_labels: dict[str, pd.DataFrame], panel_settings: PanelConfig,
                      estimate_settings: EstimateConfig,
                      variants: list[Variant] | None = None,
                      grid: RobustnessConfig | None = None) -> list[dict[str, Any]]:
    """Re-estimate the headline models under each variant.

    Parameters
    ----------
    voiced_by_labels : dict
        Labelled exchanges by labelling name; ``"main"`` is the configured classifier, others
        (e.g. ``"truth"``, ``"rules, threshold 1.5"``) are alternatives.
    panel_settings, estimate_settings : config sections
        The main specification.
    variants : list of Variant, optional
        Defaults to: the main specification; the periods of ``grid``; activity filters that
        bite (:func:`activity_thresholds`); every alternative labelling; every treatment
        definition other than the main one.
    grid : RobustnessConfig, optional
        The ``[robustness]`` settings (default: days and months; ≥ 3 and ≥ 5 tweets).

    Every variant changes one choice of the *configured* main specification
    (``estimate_settings.treatment`` is the main treatment, as in the headline estimates).

    Returns
    -------
    list of dict
        One record per variant: its settings (``dimension``, ``label``, ``labels``,
        ``period``, ``min_tweets``, ``treatment``, ``panel_rows``) and results objects or
        :class:`~complaintpanel.results.NotEstimated` records ``ppml_complaints``,
        ``fe_sentiment`` and — when the variant keeps the main treatment — ``answered`` (the
        AIPW effect on complaints and compliments at lead 0, i.e. in the next period).
    """
    main_treatment = estimate_settings.treatment
    grid = grid or RobustnessConfig()
    panels: dict[tuple[str, str, int], pd.DataFrame] = {}
    if variants is None:
        variants = [Variant("main", "Main specification")]
        variants += [Variant("period", f"Periods: {p}s", period=p) for p in grid.periods
                     if p != panel_settings.period]
        main_panel = build_panel(voiced_by_labels["main"], period=panel_settings.period,
                                 min_tweets=panel_settings.min_tweets,
                                 window_start=panel_settings.window_start,
                                 window_end=panel_settings.window_end)
        panels[("main", panel_settings.period, panel_settings.min_tweets)] = add_model_columns(
            main_panel, estimate_settings.reply_within_h)
        variants += [Variant("activity", label, min_tweets=n)
                     for n, label in activity_thresholds(main_panel, grid.min_tweets)]
        variants += [Variant("classifier", f"Labels: {name}", labels=name)
                     for name in voiced_by_labels if name != "main"]
        variants += [Variant("treatment", f"Treatment: {t}", treatment=t) for t in TREATMENTS
                     if t != main_treatment]
    records = []
    for variant in track(variants, "robustness specifications"):
        period = variant.period or panel_settings.period
        min_tweets = variant.min_tweets or panel_settings.min_tweets
        key = (variant.labels, period, min_tweets)
        if key not in panels:
            panel = build_panel(voiced_by_labels[variant.labels], period=period,
                                min_tweets=min_tweets, window_start=panel_settings.window_start,
                                window_end=panel_settings.window_end)
            panels[key] = add_model_columns(panel, estimate_settings.reply_within_h)
        data = panels[key]
        treatment = variant.treatment or main_treatment
        record: dict[str, Any] = {"dimension": variant.dimension, "label": variant.label,
                                  "labels": variant.labels, "period": period,
                                  "min_tweets": min_tweets, "treatment": treatment,
                                  "panel_rows": len(data)}
        record["ppml_complaints"] = attempt(partial(fit_ppml, data, treatment),
                                            "ppml_complaints")
        record["fe_sentiment"] = attempt(
            partial(fit_linear_fe, data, "sentiment_mean", treatment, wild_bootstrap=False),
            "fe_sentiment_mean")
        if variant.treatment is None:
            # One fit for both outcomes: the propensity score is the same, each term is
            # computed on its own, and the covariance between the two comes with it.
            record["answered"] = attempt(
                partial(answered_vs_unanswered, data, ("complaints", "compliments"), horizon=0),
                "answered_vs_unanswered")
        records.append(record)
    return records


def activity_thresholds(panel: pd.DataFrame, configured: tuple[int, ...]
                        ) -> list[tuple[int, str]]:
    """Activity filters (≥ n tweets per pair) that drop something, with their labels.

    The configured thresholds are kept where they bite (some pair of the main panel has fewer
    tweets). When none does — on the simulated worlds the smallest pair has more tweets than
    the defaults — the quartiles of tweets per pair are used instead (the filter then drops
    about a quarter and a half of the pairs), and the label says so.
    """
    per_pair = panel.groupby(["customer_id", "brand"])["tweets"].sum()
    if per_pair.empty:
        return []
    biting = [n for n in configured if (per_pair < n).any()]
    if biting:
        return [(n, f"Pairs with ≥ {n} tweets ({(per_pair < n).mean():.0%} of pairs "
                    "dropped)") for n in biting]
    out: list[tuple[int, str]] = []
    for q in (0.25, 0.5):
        n = int(per_pair.quantile(q))
        if (per_pair < n).any() and n not in [m for m, _ in out]:
            out.append((n, f"Pairs with ≥ {n} tweets (the {q:.0%} quantile; "
                           f"{(per_pair < n).mean():.0%} of pairs dropped; the configured "
                           f"{', '.join(map(str, configured))} drop none)"))
    return out


def labelled_variants(exchanges: pd.DataFrame, settings: Config,
                      truth_voice: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Label the exchanges with the configured classifier and each alternative.

    Parameters
    ----------
    exchanges : DataFrame
        ``exchanges.parquet`` of the thread stage.
    settings : Config
        The ``[label]`` section picks the main classifier; with the rules classifier, the
        thresholds of ``[robustness]`` are added as alternatives.
    truth_voice : DataFrame, optional
        A simulated world's ``truth/voice.parquet``: the true voice as one more alternative.

    Returns
    -------
    dict
        Labelled exchanges (``voiced`` columns) by labelling name, ``"main"`` first.
    """
    labelled = {"main": label_exchanges(exchanges, classifier_for(settings.label))}
    if settings.label.classifier == "rules":
        for threshold in settings.robustness.thresholds:
            if threshold != settings.label.threshold:
                labelled[f"rules, threshold {threshold:g}"] = label_exchanges(
                    exchanges, classifier_for(settings.label, threshold=threshold))
    if truth_voice is not None:
        labelled["truth"] = label_exchanges_with_truth(exchanges, truth_voice)
    return labelled


def run_robustness(exchanges: pd.DataFrame, settings: Config,
                   truth_voice: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Label, build panels and estimate for every robustness specification.

    See :func:`labelled_variants` and :func:`robustness_checks`.
    """
    labelled = labelled_variants(exchanges, settings, truth_voice)
    return robustness_checks(labelled, settings.panel, settings.estimate,
                             grid=settings.robustness)
