"""Figures: one function per figure, each saved as PDF (for the paper) and PNG (for the README).

Figures never show customer identifiers or tweet text; they show aggregates only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # no screen; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from complaintpanel.report.periods import period_words
from complaintpanel.runtime.io import atomic_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from complaintpanel.hmm.results import RelationshipHMMResults
    from complaintpanel.label.evaluate import LabelReport
    from complaintpanel.results import EstimationResults

__all__ = [
    "fig_activity_by_brand",
    "fig_design_effects",
    "fig_event_study",
    "fig_hmm_effects",
    "fig_hmm_states",
    "fig_hmm_transitions",
    "fig_label_validity",
    "fig_parameter_recovery",
    "fig_policies",
    "fig_reply_latency",
    "fig_weekly_activity",
    "outcome_label",
    "save_figure",
]

# Fixed metadata so that PDFs and PNGs are byte-identical across runs.
_PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}
_PNG_METADATA = {"Software": None}


def _theme() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


def save_figure(fig: plt.Figure, stem: str | Path) -> list[Path]:
    """Save ``fig`` as ``stem.pdf`` and ``stem.png`` (200 dpi), atomically, and close it."""
    stem = Path(stem)
    written = []
    formats: tuple[tuple[str, dict[str, None], dict[str, Any]], ...] = (
        (".pdf", _PDF_METADATA, {}), (".png", _PNG_METADATA, {"dpi": 200}))
    for suffix, metadata, extra in formats:
        path = stem.with_suffix(suffix)
        # TrueType (Type 42) fonts embedded, not matplotlib's default Type 3 bitmaps-as-glyphs:
        # journals reject Type 3 fonts, and the paper embeds these PDFs as they are
        with atomic_path(path) as tmp, matplotlib.rc_context({"pdf.fonttype": 42,
                                                              "ps.fonttype": 42}):
            fig.savefig(tmp, format=suffix[1:], bbox_inches="tight", metadata=metadata, **extra)
        written.append(path)
    plt.close(fig)
    return written


def fig_weekly_activity(weekly: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Weekly customer tweets and brand replies over the observation window.

    Parameters
    ----------
    weekly : DataFrame
        Output of :func:`complaintpanel.report.descriptives.weekly_activity`.
    stem : str or Path
        Output path without suffix.
    """
    _theme()
    long = weekly.melt(id_vars="week_start", value_vars=["customer_tweets", "brand_replies"],
                       var_name="series", value_name="tweets")
    long["series"] = long["series"].map({"customer_tweets": "Customer tweets",
                                         "brand_replies": "Brand replies"})
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    sns.lineplot(data=long, x="week_start", y="tweets", hue="series", style="series",
                 markers=True, dashes=False, ax=ax)
    ax.set(xlabel="Week (Monday start, UTC)", ylabel="Tweets per week")
    ax.legend(title=None, frameon=False)
    fig.autofmt_xdate()
    return save_figure(fig, stem)


def fig_activity_by_brand(panel: pd.DataFrame, stem: str | Path, period: str | None = None
                          ) -> list[Path]:
    """Tweets, complaints and the reply rate per period, by brand (from the panel).

    Parameters
    ----------
    panel : DataFrame
        ``panel.parquet``.
    stem : str or Path
        Output path without suffix.
    period : {"day", "week", "month"}, optional
        The panel's period (``panel_report.json``), named on the x axis.
    """
    _theme()
    by = (panel.groupby(["brand", "period_start"])
          .agg(tweets=("tweets", "sum"), complaints=("complaints", "sum"),
               replies=("replies", "sum"))
          .reset_index())
    by["reply_rate"] = by["replies"] / by["tweets"].where(by["tweets"] > 0)
    panels = (("tweets", "Customer tweets"), ("complaints", "Complaints"),
              ("reply_rate", "Share of tweets answered"))
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharex=True)
    for ax, (column, label) in zip(axes, panels, strict=True):
        sns.lineplot(data=by, x="period_start", y=column, hue="brand", ax=ax,
                     legend=ax is axes[-1])
        ax.set(xlabel=f"{period_words(period).title} start", ylabel=label)
        ax.tick_params(axis="x", labelrotation=45)
    axes[-1].set_ylim(0, 1)
    axes[-1].legend(title="Brand", frameon=False, fontsize="small", loc="lower right")
    fig.tight_layout()
    return save_figure(fig, stem)


def fig_reply_latency(voiced: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Distribution of first-reply latency by brand (log scale)."""
    _theme()
    answered = voiced[voiced["brand_replied"] & voiced["reply_latency_h"].notna()]
    answered = answered[answered["brand"] != "unknown"]
    order = (answered.groupby("brand")["reply_latency_h"].median().sort_values().index
             .tolist())
    top = order[:20]  # real data can have >100 brands; show the 20 fastest by median
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(top) + 1.2))
    sns.boxplot(data=answered[answered["brand"].isin(top)], y="brand", x="reply_latency_h",
                order=top, log_scale=True, showfliers=False, color="#9ecae1", ax=ax)
    ax.set(xlabel="Hours from customer tweet to first brand reply (log scale)", ylabel=None)
    return save_figure(fig, stem)


def outcome_label(outcome: str, period: str | None = None) -> str:
    """Axis label of an event-study outcome, naming the panel's period."""
    noun = period_words(period).noun
    return {"complaints": f"Complaints per customer-{noun}",
            "sentiment_mean": f"Mean sentiment of the {noun}'s tweets"}.get(outcome, outcome)


def fig_event_study(studies: Mapping[str, EstimationResults], stem: str | Path, ylabel: str,
                    period: str | None = None) -> list[Path]:
    """Event-study coefficients around the first reply, every estimator on one sample.

    Parameters
    ----------
    studies : dict of str to results
        Output of :func:`complaintpanel.estimate.event_study`: one results object per
        estimator, whose term table has ``event_time`` (a fixed reference period is drawn at
        its value 0 without an interval) and, when computed, the sup-t band (``band_lower``,
        ``band_upper``, drawn as a thin line beyond the pointwise 95% interval). The
        imputation-based pre-trend test in ``info`` is drawn as hollow leads, its joint
        p-value in the legend.
    stem : str or Path
    ylabel : str
        Outcome label for the y axis (see :func:`outcome_label`).
    period : {"day", "week", "month"}, optional
        The panel's period, named on the x axis.
    """
    _theme()
    labels = {"did2s": "Imputation (BJS / Gardner)", "twfe": "Naive TWFE",
              "poisson": "Poisson ETWFE (log scale)"}
    markers = {"did2s": "o", "twfe": "s", "poisson": "D"}
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    offsets = {"did2s": -0.15, "twfe": 0.0, "poisson": 0.15}
    test = None
    for estimator, result in studies.items():
        rows = result.term_estimates().sort_values("event_time")
        # a fixed (reference) term has no interval: a bar of length 0
        lower = (rows["estimate"] - rows["ci_lower"]).fillna(0.0)
        upper = (rows["ci_upper"] - rows["estimate"]).fillna(0.0)
        x = rows["event_time"].astype(int) + offsets.get(estimator, 0)
        bars = ax.errorbar(x, rows["estimate"], yerr=[lower, upper],
                           fmt=markers.get(estimator, "o"), capsize=2,
                           label=labels.get(estimator, estimator))
        if "band_lower" in rows:
            ax.vlines(x, rows["band_lower"], rows["band_upper"], linewidth=0.6,
                      color=bars[0].get_color())
        test = getattr(result, "info", {}).get("pretrend_test", test)
    if test and test.get("leads"):
        leads = pd.DataFrame(test["leads"])
        ax.errorbar(leads["event_time"] - 0.15, leads["estimate"], yerr=1.96 * leads["se"],
                    fmt="o", mfc="white", capsize=2, color="grey",
                    label=f"Pre-trend test, untreated rows (joint p = {test['pvalue']:.3f})")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.set(xlabel=f"{period_words(period).title_plural} since the brand's first reply "
                  "(thin lines: sup-t 95% bands)", ylabel=ylabel)
    ax.legend(frameon=False, loc="upper left", fontsize="x-small")
    return save_figure(fig, stem)


def fig_design_effects(design: EstimationResults, stem: str | Path,
                       period: str | None = None, truth: pd.DataFrame | None = None
                       ) -> list[Path]:
    """Effect of answering a complaint on later complaints and compliments, with 95% CIs.

    Parameters
    ----------
    design : results
        Output of :func:`complaintpanel.estimate.answered_vs_unanswered`: terms selected by
        the ``outcome`` and ``lead`` columns of its term table.
    stem : str or Path
    period : {"day", "week", "month"}, optional
        The panel's period, named on the x axis.
    truth : DataFrame, optional
        Columns ``outcome``, ``lead``, ``truth``: the simulated world's true effects, drawn
        as crosses.
    """
    _theme()
    words = period_words(period)
    terms = design.term_estimates()
    terms = terms[~terms["fixed"]][["outcome", "lead", "estimate", "ci_lower", "ci_upper"]]
    if truth is not None:
        terms = terms.merge(truth[["outcome", "lead", "truth"]], on=["outcome", "lead"],
                            how="left")
    outcomes = list(dict.fromkeys(terms["outcome"]))
    fig, axes = plt.subplots(1, len(outcomes), figsize=(3.8 * len(outcomes), 3.4),
                             sharey=False)
    axes = [axes] if len(outcomes) == 1 else list(axes)
    for ax, outcome in zip(axes, outcomes, strict=True):
        rows = terms[terms["outcome"] == outcome]
        ax.errorbar(rows["lead"], rows["estimate"], yerr=[rows["estimate"] - rows["ci_lower"],
                                                          rows["ci_upper"] - rows["estimate"]],
                    fmt="o", capsize=3, label="Estimate (AIPW, 95% CI)")
        if "truth" in rows and rows["truth"].notna().any():
            ax.scatter(rows["lead"], rows["truth"], marker="x", color="black", zorder=3,
                       label="Truth (simulated world)")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set(xlabel=f"{words.title_plural} after the answered {words.noun} (t+lead)",
               ylabel=f"Change in {outcome} per customer", xticks=sorted(rows["lead"]))
    if "truth" in terms and terms["truth"].notna().any():
        axes[0].legend(frameon=False, fontsize="small")
    fig.suptitle("Effect of answering a complaint (AIPW estimate, 95% CI)", fontsize="medium")
    fig.tight_layout()
    return save_figure(fig, stem)


def fig_hmm_states(hmm: RelationshipHMMResults, stem: str | Path, period: str | None = None
                   ) -> list[Path]:
    """State-dependent complaint and compliment rates per period (no redress), with 95% CIs.

    Parameters
    ----------
    hmm : RelationshipHMMResults
        A fit of the structural model (``complaintpanel hmm``).
    stem : str or Path
    period : {"day", "week", "month"}, optional
        The period of the panel the model was fitted on, named on the y axis ("period" when
        unknown).
    """
    _theme()
    rows = []
    for block, voice in (("a", "Complaints"), ("c", "Compliments")):
        rates = hmm.select(block=block)
        rows.append(pd.DataFrame({"state": rates["state"], "voice": voice,
                                  "rate": np.exp(rates["estimate"]),
                                  "lower": np.exp(rates["ci_lower"]),
                                  "upper": np.exp(rates["ci_upper"])}))
    frame = pd.concat(rows, ignore_index=True)
    names = list(dict.fromkeys(frame["state"]))
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    width = 0.38
    x = np.arange(len(names))
    for i, (voice, part) in enumerate(frame.groupby("voice", sort=False)):
        ax.bar(x + (i - 0.5) * width, part["rate"], width, label=voice,
               yerr=[part["rate"] - part["lower"], part["upper"] - part["rate"]], capsize=3)
    ax.set(xticks=x, xticklabels=[n.capitalize() for n in names],
           xlabel="Latent relationship state",
           ylabel=f"Expected tweets per customer-{period_words(period).noun}")
    ax.legend(frameon=False)
    return save_figure(fig, stem)


def fig_hmm_transitions(hmm: RelationshipHMMResults, stem: str | Path) -> list[Path]:
    """Transition matrices without and with the brand answering a complaint.

    Parameters
    ----------
    hmm : RelationshipHMMResults
    stem : str or Path
    """
    _theme()
    matrices = hmm.transition_matrices()
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.3))
    for ax, (key, title) in zip(axes, (("no_intervention", "Complaint not answered"),
                                       ("intervention", "Complaint answered")), strict=True):
        matrix = matrices[key]
        names = [str(n).capitalize() for n in matrix.index]
        sns.heatmap(matrix.to_numpy(), annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1,
                    cbar=False, xticklabels=names, yticklabels=names, ax=ax)
        ax.set(title=title, xlabel="State next period", ylabel="State this period")
    fig.tight_layout()
    return save_figure(fig, stem)


# The coefficients of the paper's argument, by the covariate they multiply (DESIGN.md §4).
_EFFECT_LABELS: dict[str, str] = {
    "intervened": "Relationship effect δ\n(answer → better state)",
    "redress": "Squeaky-wheel effect γ\n(redress → more complaints)",
    "peer_voice": "Peer voice η\n(peers' net voice → better state)",
}


def fig_hmm_effects(hmm: RelationshipHMMResults, stem: str | Path) -> list[Path]:
    """Plot the two effects of a reply (δ relationship, γ squeaky wheel) and peer voice η.

    Parameters
    ----------
    hmm : RelationshipHMMResults
    stem : str or Path
    """
    _theme()
    coefficients = hmm.select(block="coefficient").set_index("covariate")
    shown = [c for c in _EFFECT_LABELS if c in coefficients.index]
    fig, ax = plt.subplots(figsize=(5.8, 2.6))
    for i, covariate in enumerate(shown):
        row = coefficients.loc[covariate]
        estimate = row["estimate"]
        ax.errorbar(estimate, i, xerr=[[estimate - row["ci_lower"]],
                                       [row["ci_upper"] - estimate]],
                    fmt="o", capsize=4, color="C0")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(yticks=range(len(shown)), yticklabels=[_EFFECT_LABELS[c] for c in shown],
           xlabel="Estimate with 95% confidence interval")
    ax.invert_yaxis()
    return save_figure(fig, stem)


_ARM_NAMES = {"none": "Answer none", "observed": "As observed", "all": "Answer all",
              "fast": "Answer within H hours", "random": "Random, budget",
              "targeted": "Targeted, budget"}
_CONTRAST_NAMES = {"all_minus_none": "All − none", "observed_minus_none": "Observed − none",
                   "all_minus_observed": "All − observed", "fast_minus_all": "Fast − all",
                   "targeted_minus_random": "Targeted − random",
                   "all_learning_on_minus_off": "All, own squeaky wheel",
                   "observed_learning_on_minus_off": "Observed, own squeaky wheel"}


def fig_policies(policy: dict, stem: str | Path) -> list[Path]:
    """Counterfactual reply policies: paths by arm for each population, and the contrasts.

    Left: expected complaints and share in the best state per period, by arm (learning on;
    "answer all" with learning off for its own redress dashed), with 95% confidence bands,
    for the observed customers (top) and a new cohort (bottom). Right: contrasts in
    complaints per customer over the horizon with 95% confidence intervals.
    """
    _theme()
    periods = pd.DataFrame(policy["periods"])
    contrasts = pd.DataFrame(policy.get("contrasts", []))
    populations = [p for p in ("observed", "cohort") if p in set(periods["population"])]
    titles = {"observed": "Observed customers", "cohort": "New cohort"}
    handles: list = []
    names: list = []
    fig = plt.figure(figsize=(11.0, 3.0 * len(populations) + 0.6))
    grid = fig.add_gridspec(len(populations), 3, width_ratios=(1, 1, 1.1))
    for row, population in enumerate(populations):
        part = periods[periods["population"] == population]
        for col, (metric, label) in enumerate((("complaints", "Complaints per customer"),
                                               ("share_best", "Share in the best state"))):
            ax = fig.add_subplot(grid[row, col])
            rows = part[part["metric"] == metric]
            for i, (arm, group) in enumerate(rows.groupby("arm", sort=False)):
                for learning, style in (("on", "-"), ("off", "--")):
                    line = group[group["learning"] == learning]
                    if line.empty or (learning == "off" and arm != "all"):
                        continue
                    name = _ARM_NAMES.get(str(arm), str(arm)) + (
                        ", no own squeaky wheel" if learning == "off" else "")
                    ax.plot(line["period"], line["estimate"], style, color=f"C{i}", label=name)
                    ax.fill_between(line["period"], line["lower"], line["upper"],
                                    color=f"C{i}", alpha=0.12)
            ax.set(xlabel="Periods ahead", ylabel=label, title=titles[population])
            if row == 0 and col == 0:
                handles, names = ax.get_legend_handles_labels()
    if not contrasts.empty:
        ax = fig.add_subplot(grid[:, 2])
        shown = contrasts[(contrasts["metric"] == "complaints")
                          & contrasts["contrast"].isin(list(_CONTRAST_NAMES))]
        names_shown = [c for c in _CONTRAST_NAMES if c in set(shown["contrast"])]
        for j, population in enumerate(populations):
            part = shown[shown["population"] == population].set_index("contrast")
            y = np.array([names_shown.index(c) for c in part.index]) + (j - 0.5) * 0.25
            ax.errorbar(part["estimate"], y, xerr=[part["estimate"] - part["lower"],
                                                   part["upper"] - part["estimate"]],
                        fmt="o", capsize=3, color=f"C{j + 7}", markersize=4,
                        label=titles[population])
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set(yticks=range(len(names_shown)),
               yticklabels=[_CONTRAST_NAMES[c] for c in names_shown],
               xlabel="Complaints per customer over the horizon",
               title="Contrasts, 95% CI")
        ax.invert_yaxis()
        ax.legend(frameon=False, fontsize="x-small")
    if populations:
        fig.legend(handles, names, loc="lower center", ncol=4, frameon=False,
                   fontsize="small")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return save_figure(fig, stem)


def fig_parameter_recovery(truth: pd.Series, fits: Mapping[str, EstimationResults],
                           stem: str | Path) -> list[Path]:
    """Plot estimates minus the simulated world's true parameters, with 95% intervals.

    Parameters
    ----------
    truth : Series
        True values by parameter name
        (:meth:`complaintpanel.model.ModelParams.reported`: the names the fits report).
    fits : dict
        Labelling name (e.g. "true labels", "classifier labels") → fitted results.
    stem : str or Path
    """
    _theme()
    estimates = {name: fit.term_estimates() for name, fit in fits.items()}
    terms = [t for t in truth.index if all(t in table.index for table in estimates.values())]
    fig, ax = plt.subplots(figsize=(6.0, 0.28 * len(terms) + 1.4))
    offsets = {name: (i - (len(fits) - 1) / 2) * 0.25 for i, name in enumerate(fits)}
    true = truth.loc[terms].to_numpy()
    for name, table in estimates.items():
        rows = table.loc[terms]
        error = rows["estimate"].to_numpy() - true
        y = np.arange(len(terms)) + offsets[name]
        ax.errorbar(error, y, xerr=[rows["estimate"] - rows["ci_lower"],
                                    rows["ci_upper"] - rows["estimate"]],
                    fmt="o", capsize=2, label=name, markersize=4)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(yticks=range(len(terms)), yticklabels=terms,
           xlabel="Estimate − truth (95% interval)")
    ax.invert_yaxis()
    ax.legend(frameon=False, fontsize="small")
    return save_figure(fig, stem)


def fig_label_validity(report: LabelReport, stem: str | Path, title: str = "") -> list[Path]:
    """Confusion matrix of a classifier against reference labels (shares, counts annotated).

    Parameters
    ----------
    report : LabelReport
        Agreement of classifier labels with human (or simulated true) labels.
    stem : str or Path
        Output path without suffix; ``.pdf`` and ``.png`` are written.
    title : str
        Figure title (e.g. classifier and dataset).

    Returns
    -------
    list of Path
        The PDF and PNG files.
    """
    _theme()
    counts = report.confusion
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    annotations = np.array([[f"{shares[i, j]:.0%}\n({counts[i, j]:,})" for j in range(len(
        report.labels))] for i in range(len(report.labels))])
    fig, ax = plt.subplots(figsize=(5.4, 4.0))
    sns.heatmap(shares, annot=annotations, fmt="", cmap="Blues", vmin=0, vmax=1,
                xticklabels=report.labels, yticklabels=report.labels, cbar_kws={
                    "label": "share of reference label"}, ax=ax)
    ax.tick_params(axis="y", rotation=0)
    ax.set_xlabel("Classifier label")
    ax.set_ylabel("Reference label")
    subtitle = f"macro-F1 {report.macro_f1:.2f}, accuracy {report.accuracy:.2f}, n = {report.n:,}"
    ax.set_title(f"{title}\n{subtitle}" if title else subtitle, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, stem)
