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
    "TRUTH_LABEL",
    "TRUTH_STYLE",
    "answer_effects_truth",
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
    "readable_parameter",
    "save_figure",
]

# Fixed metadata so that PDFs and PNGs are byte-identical across runs.
_PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}
_PNG_METADATA = {"Software": None}


# Text sizes (pt) at the figure's own size. The paper places each figure at about its drawn
# width (report/figure_sizes.py measures the printed sizes: every text ≥ 8 pt at print size).
_TEXT_PT = {"font.size": 9.0, "axes.labelsize": 9.0, "axes.titlesize": 9.0,
            "xtick.labelsize": 8.5, "ytick.labelsize": 8.5, "legend.fontsize": 8.5,
            "legend.title_fontsize": 8.5, "figure.titlesize": 9.5}
# The truth of a simulated world is drawn the same way on every figure: black, dashed.
TRUTH_STYLE: dict[str, Any] = {"color": "black", "linestyle": "--", "linewidth": 1.0}
TRUTH_LABEL = "Truth (simulated world)"


def _theme() -> None:
    sns.set_theme(context="paper", style="whitegrid", rc=_TEXT_PT)


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
    fig, axes = plt.subplots(1, 3, figsize=(6.5, 2.7), sharex=True)
    for ax, (column, label) in zip(axes, panels, strict=True):
        sns.lineplot(data=by, x="period_start", y=column, hue="brand", ax=ax,
                     legend=ax is axes[-1])
        ax.set(xlabel=f"{period_words(period).title} start", ylabel=None, title=label)
        ax.tick_params(axis="x", labelrotation=45)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    axes[-1].set_ylim(0, 1)
    handles, names = axes[-1].get_legend_handles_labels()
    axes[-1].get_legend().remove()
    top = 12  # real data can have many brands: the legend names the first ones
    fig.legend(handles[:top], names[:top], title="Brand", frameon=False, loc="upper center",
               bbox_to_anchor=(0.5, 0.0), ncol=min(len(names[:top]), 3))
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
        Outcome label for the y axis (see :func:`outcome_label`); the axis says that the
        coefficients are differences from the reference event time (the fixed term, −1).
    period : {"day", "week", "month"}, optional
        The panel's period, named on the x axis.
    """
    _theme()
    labels = {"did2s": "Imputation (BJS / Gardner)", "twfe": "Naive TWFE",
              "poisson": "Poisson ETWFE (log rate ratio)"}
    markers = {"did2s": "o", "twfe": "s", "poisson": "D"}
    colours = {"did2s": "C0", "twfe": "C2", "poisson": "C1"}  # the same in every panel
    fig, ax = plt.subplots(figsize=(3.0, 3.0))
    reference = -1
    offsets = {"did2s": -0.15, "twfe": 0.0, "poisson": 0.15}
    test = None
    for estimator, result in studies.items():
        rows = result.term_estimates().sort_values("event_time")
        fixed = rows[rows["fixed"].astype(bool)]
        if len(fixed):
            reference = int(fixed["event_time"].iloc[0])
        # a fixed (reference) term has no interval: a bar of length 0
        lower = (rows["estimate"] - rows["ci_lower"]).fillna(0.0)
        upper = (rows["ci_upper"] - rows["estimate"]).fillna(0.0)
        x = rows["event_time"].astype(int) + offsets.get(estimator, 0)
        bars = ax.errorbar(x, rows["estimate"], yerr=[lower, upper],
                           fmt=markers.get(estimator, "o"), capsize=2,
                           color=colours.get(estimator), label=labels.get(estimator, estimator))
        if "band_lower" in rows:
            ax.vlines(x, rows["band_lower"], rows["band_upper"], linewidth=0.6,
                      color=bars[0].get_color())
        test = getattr(result, "info", {}).get("pretrend_test", test)
    if test and test.get("leads"):
        leads = pd.DataFrame(test["leads"])
        ax.errorbar(leads["event_time"] - 0.15, leads["estimate"], yerr=1.96 * leads["se"],
                    fmt="o", mfc="white", capsize=2, color="grey",
                    label=f"Pre-trend leads, untreated rows\n(joint p = {test['pvalue']:.3f})")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="grey", linewidth=0.8, linestyle="--")
    words = period_words(period)
    ax.set(xlabel=f"{words.title_plural} since the brand's first reply",
           ylabel=f"{ylabel}:\ndifference from {words.noun} "
                  + f"{reference:+d}".replace("-", "−"))
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.45, -0.2), ncol=1)
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
        Columns ``outcome``, ``lead``, ``truth``: the simulated world's true effects (see
        :func:`answer_effects_truth`), drawn as a dashed black line with crosses.
    """
    _theme()
    words = period_words(period)
    terms = design.term_estimates()
    terms = terms[~terms["fixed"]][["outcome", "lead", "estimate", "ci_lower", "ci_upper"]]
    if truth is not None:
        terms = terms.merge(truth[["outcome", "lead", "truth"]], on=["outcome", "lead"],
                            how="left")
    outcomes = list(dict.fromkeys(terms["outcome"]))
    fig, axes = plt.subplots(1, len(outcomes), figsize=(2.85 * len(outcomes), 2.8),
                             sharey=False)
    axes = [axes] if len(outcomes) == 1 else list(axes)
    for ax, outcome in zip(axes, outcomes, strict=True):
        rows = terms[terms["outcome"] == outcome]
        ax.errorbar(rows["lead"], rows["estimate"], yerr=[rows["estimate"] - rows["ci_lower"],
                                                          rows["ci_upper"] - rows["estimate"]],
                    fmt="o", capsize=3, label="Estimate (AIPW, 95% CI)")
        if "truth" in rows and rows["truth"].notna().any():
            ax.plot(rows["lead"], rows["truth"], marker="x", zorder=3, label=TRUTH_LABEL,
                    **TRUTH_STYLE)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set(xlabel=f"{words.title_plural} after the answer (t + lead)",
               ylabel=f"Change in {outcome} per customer", xticks=sorted(rows["lead"]))
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, frameon=False, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=len(names))
    fig.tight_layout()
    return save_figure(fig, stem)


def answer_effects_truth(answer_effects: Mapping[str, Any]) -> pd.DataFrame:
    """Return the simulated world's true effects of answering as (outcome, lead, truth) rows.

    Parameters
    ----------
    answer_effects : mapping
        ``truth/answer_effects.json`` of a simulated world: ``effects`` with ``lead``,
        ``effect_complaints`` and ``effect_compliments``.
    """
    rows = [{"outcome": outcome, "lead": int(effect["lead"]),
             "truth": float(effect[f"effect_{outcome}"])}
            for effect in answer_effects["effects"] for outcome in ("complaints", "compliments")
            if f"effect_{outcome}" in effect]
    return pd.DataFrame(rows, columns=["outcome", "lead", "truth"])


def fig_hmm_states(hmm: RelationshipHMMResults, stem: str | Path, period: str | None = None,
                   truth: pd.DataFrame | None = None) -> list[Path]:
    """State-dependent complaint and compliment rates per period (no redress), with 95% CIs.

    Parameters
    ----------
    hmm : RelationshipHMMResults
        A fit of the structural model (``complaintpanel hmm``).
    stem : str or Path
    period : {"day", "week", "month"}, optional
        The period of the panel the model was fitted on, named on the y axis ("period" when
        unknown).
    truth : DataFrame, optional
        The simulated world's parameters (:meth:`complaintpanel.model.ModelParams.
        reported_terms`: ``block``, ``state``, ``value``): the true rates are drawn as dashed
        black marks across the bars.
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
    fig, ax = plt.subplots(figsize=(3.9, 2.9))
    width = 0.38
    x = np.arange(len(names))
    truth_drawn = False
    for i, (voice, part) in enumerate(frame.groupby("voice", sort=False)):
        ax.bar(x + (i - 0.5) * width, part["rate"], width, label=voice,
               yerr=[part["rate"] - part["lower"], part["upper"] - part["rate"]], capsize=3)
        if truth is not None:
            block = "a" if voice == "Complaints" else "c"
            true = truth[truth["block"] == block].set_index("state")["value"]
            for k, state in enumerate(part["state"]):
                if state in true.index:
                    centre = x[k] + (i - 0.5) * width
                    ax.hlines(np.exp(true[state]), centre - width / 2, centre + width / 2,
                              zorder=3, label="_" if truth_drawn else TRUTH_LABEL,
                              **TRUTH_STYLE)
                    truth_drawn = True
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
    fig, axes = plt.subplots(1, 2, figsize=(5.7, 2.7))
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
                   "all_learning_on_minus_off": "All: own squeaky wheel",
                   "observed_learning_on_minus_off": "Observed: own squeaky wheel",
                   "random_learning_on_minus_off": "Random: own squeaky wheel",
                   "targeted_learning_on_minus_off": "Targeted: own squeaky wheel"}


def fig_policies(policy: dict, stem: str | Path, truth: dict | None = None) -> list[Path]:
    """Counterfactual reply policies: paths by arm for each population, and the contrasts.

    Top rows: expected complaints and share in the best state per period, by arm (learning
    on; "answer all" with learning off for its own redress dashed), with 95% confidence
    bands, for the observed customers and a new cohort. Bottom: contrasts in complaints per
    customer over the horizon with 95% confidence intervals. With a ``truth``
    (``policy_truth.json`` of a simulated world: ``periods`` and ``contrasts`` at the true
    parameters, in the same layout; or a ``truth`` entry of ``policy``) the truth is drawn as
    dashed black lines and crosses; without one (or one whose ``status`` is not
    ``computed``) nothing is overlaid.
    """
    _theme()
    periods = pd.DataFrame(policy["periods"])
    contrasts = pd.DataFrame(policy.get("contrasts", []))
    truth = truth if truth is not None else (policy.get("truth") or {})
    if truth.get("status", "computed") != "computed":
        truth = {}
    true_periods = pd.DataFrame(truth.get("periods", []))
    true_contrasts = pd.DataFrame(truth.get("contrasts", []))
    populations = [p for p in ("observed", "cohort") if p in set(periods["population"])]
    titles = {"observed": "Observed customers", "cohort": "New cohort"}
    handles: list = []
    names: list = []
    paths_height = 2.0 * len(populations) + 0.7
    contrasts_height = 0.0 if contrasts.empty else 2.9
    fig = plt.figure(figsize=(6.5, paths_height + contrasts_height), layout="constrained")
    if contrasts.empty:
        top, bottom = fig, None
    else:
        parts: Any = fig.subfigures(2, 1, height_ratios=(paths_height, contrasts_height))
        top, bottom = parts[0], parts[1]
    grid = top.add_gridspec(max(len(populations), 1), 2)
    arms = list(dict.fromkeys(periods["arm"]))
    for row, population in enumerate(populations):
        part = periods[periods["population"] == population]
        for col, (metric, label) in enumerate((("complaints", "Complaints per customer"),
                                               ("share_best", "Share in the best state"))):
            ax = top.add_subplot(grid[row, col])
            rows = part[part["metric"] == metric]
            for arm, group in rows.groupby("arm", sort=False):
                colour = f"C{arms.index(arm)}"
                for learning, style in (("on", "-"), ("off", ":")):
                    line = group[group["learning"] == learning]
                    if line.empty or (learning == "off" and arm != "all"):
                        continue
                    name = _ARM_NAMES.get(str(arm), str(arm)) + (
                        ", no own squeaky wheel" if learning == "off" else "")
                    ax.plot(line["period"], line["estimate"], style, color=colour, label=name)
                    ax.fill_between(line["period"], line["lower"], line["upper"],
                                    color=colour, alpha=0.12)
            if not true_periods.empty:
                true_rows = true_periods[(true_periods["population"] == population)
                                         & (true_periods["metric"] == metric)
                                         & (true_periods.get("learning", "on") == "on")]
                for i, (_, line) in enumerate(true_rows.groupby("arm", sort=False)):
                    ax.plot(line["period"], line["estimate"], label=None if i else TRUTH_LABEL,
                            **TRUTH_STYLE)
            ax.set(xlabel="Periods ahead" if row == len(populations) - 1 else None,
                   ylabel=label, title=titles[population])
            if row == 0 and col == 0:
                handles, names = ax.get_legend_handles_labels()
    if populations:
        top.legend(handles, names, loc="outside upper center", ncol=3, frameon=False)
    if bottom is not None:
        ax = bottom.add_subplot()
        shown = contrasts[(contrasts["metric"] == "complaints")
                          & contrasts["contrast"].isin(list(_CONTRAST_NAMES))]
        names_shown = [c for c in _CONTRAST_NAMES if c in set(shown["contrast"])]
        truth_labelled = False
        for j, population in enumerate(populations):
            part = shown[shown["population"] == population].set_index("contrast")
            y = np.array([names_shown.index(c) for c in part.index]) + (j - 0.5) * 0.3
            ax.errorbar(part["estimate"], y, xerr=[part["estimate"] - part["lower"],
                                                   part["upper"] - part["estimate"]],
                        fmt="o", capsize=3, color=f"C{j + 7}", markersize=4,
                        label=titles[population])
            if not true_contrasts.empty:
                true = true_contrasts[(true_contrasts["metric"] == "complaints")
                                      & (true_contrasts["population"] == population)
                                      ].set_index("contrast")
                true = true[true.index.isin(names_shown)]
                y_true = np.array([names_shown.index(c) for c in true.index]) + (j - 0.5) * 0.3
                ax.scatter(true["estimate"], y_true, marker="x", color="black", zorder=3,
                           label=None if truth_labelled else TRUTH_LABEL)
                truth_labelled = True
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set(yticks=range(len(names_shown)),
               yticklabels=[_CONTRAST_NAMES[c] for c in names_shown],
               xlabel="Contrast in complaints per customer over the horizon (95% CI)")
        ax.invert_yaxis()
        ax.legend(frameon=False, loc="lower left")
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
    first = next(iter(estimates.values()))
    fig, ax = plt.subplots(figsize=(4.5, 0.22 * len(terms) + 1.3))
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
    ax.set(yticks=range(len(terms)),
           yticklabels=[readable_parameter(first.loc[t]) for t in terms],
           xlabel="Estimate − truth (95% interval)")
    ax.invert_yaxis()
    ax.legend(frameon=False)
    return save_figure(fig, stem)


_SHORT_COEFFICIENTS = {"redress": "γ squeaky wheel", "intervened": "δ relationship",
                       "peer_voice": "η peer voice"}
_SHORT_BLOCKS = {"a": "complaint rate", "c": "compliment rate", "n": "neutral rate",
                 "pi": "π"}


def readable_parameter(row: pd.Series) -> str:
    """Return a short readable name of a structural parameter from its term-table row.

    Uses the describing columns (``block``, ``state``, ``cut``, ``covariate``), e.g.
    "complaint rate, poor", "τ fair, cut 2", "γ squeaky wheel"; falls back to the name.
    """
    block = row.get("block")
    if block == "coefficient":
        return _SHORT_COEFFICIENTS.get(str(row.get("covariate")), str(row.name))
    if block == "tau":
        return f"τ {row['state']}, cut {int(row['cut'])}"
    if block in _SHORT_BLOCKS and isinstance(row.get("state"), str):
        return f"{_SHORT_BLOCKS[block]}, {row['state']}"
    return str(row.name)


def fig_label_validity(report: LabelReport, stem: str | Path, title: str = "",
                       reference: str = "Reference label") -> list[Path]:
    """Confusion matrix of a classifier against reference labels (shares, counts annotated).

    Parameters
    ----------
    report : LabelReport
        Agreement of classifier labels with human (or simulated true) labels.
    stem : str or Path
        Output path without suffix; ``.pdf`` and ``.png`` are written.
    title : str
        Figure title (e.g. classifier and dataset).
    reference : str
        What the rows are: "Human label" for human-coded data, "Simulated true voice" for a
        simulated world's truth.

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
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    sns.heatmap(shares, annot=annotations, fmt="", cmap="Blues", vmin=0, vmax=1,
                xticklabels=report.labels, yticklabels=report.labels, cbar_kws={
                    "label": f"share of the row ({reference.lower()})"}, ax=ax)
    ax.tick_params(axis="y", rotation=0)
    ax.set_xlabel("Classifier label")
    ax.set_ylabel(reference)
    subtitle = f"macro-F1 {report.macro_f1:.2f}, accuracy {report.accuracy:.2f}, n = {report.n:,}"
    ax.set_title(f"{title}\n{subtitle}" if title else subtitle)
    fig.tight_layout()
    return save_figure(fig, stem)
