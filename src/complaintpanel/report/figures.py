"""Figures: one function per figure, each saved as PDF (for the paper) and PNG (for the README).

Figures never show customer identifiers or tweet text; they show aggregates only.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen; must precede pyplot

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from complaintpanel.io import atomic_path

__all__ = [
    "fig_activity_by_brand",
    "fig_design_effects",
    "fig_event_study",
    "fig_reply_latency",
    "fig_weekly_activity",
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
    for suffix, metadata, extra in ((".pdf", _PDF_METADATA, {}),
                                    (".png", _PNG_METADATA, {"dpi": 200})):
        path = stem.with_suffix(suffix)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], bbox_inches="tight", metadata=metadata, **extra)
        written.append(path)
    plt.close(fig)
    return written


def fig_weekly_activity(weekly: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Weekly customer tweets and brand replies over the observation window.

    Parameters
    ----------
    weekly : DataFrame
        Output of :func:`complaintpanel.descriptives.weekly_activity`.
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


def fig_activity_by_brand(panel: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Tweets, complaints and the reply rate per period, by brand (from the panel).

    Parameters
    ----------
    panel : DataFrame
        ``panel.parquet``.
    stem : str or Path
        Output path without suffix.
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
        ax.set(xlabel="Period start", ylabel=label)
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


def fig_event_study(frame: pd.DataFrame, stem: str | Path, ylabel: str) -> list[Path]:
    """Event-study coefficients around the first reply: robust estimator beside naive TWFE.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`complaintpanel.estimate.event_study` (both estimators).
    stem : str or Path
    ylabel : str
        Outcome label for the y axis.
    """
    _theme()
    labels = {"did2s": "Two-stage DiD (Gardner)", "twfe": "Naive TWFE"}
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    offsets = {"did2s": -0.12, "twfe": 0.12}
    for estimator, rows in frame.groupby("estimator"):
        x = rows["event_time"] + offsets.get(estimator, 0)
        ax.errorbar(x, rows["estimate"], yerr=[rows["estimate"] - rows["ci_lower"],
                                               rows["ci_upper"] - rows["estimate"]],
                    fmt="o" if estimator == "did2s" else "s", capsize=2,
                    label=labels.get(estimator, estimator))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.set(xlabel="Periods since the brand's first reply (−1 = reference)", ylabel=ylabel)
    ax.legend(frameon=False)
    return save_figure(fig, stem)


def fig_design_effects(terms: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Effect of answering a complaint on later complaints and compliments, with 95% CIs.

    Parameters
    ----------
    terms : DataFrame
        Columns ``outcome``, ``lead``, ``estimate``, ``ci_lower``, ``ci_upper`` and optionally
        ``truth`` (the simulated world's true effect, drawn as crosses).
    stem : str or Path
    """
    _theme()
    outcomes = list(dict.fromkeys(terms["outcome"]))
    fig, axes = plt.subplots(1, len(outcomes), figsize=(3.3 * len(outcomes), 3.2),
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
        ax.set(xlabel="Weeks after the answered week (t+lead)",
               ylabel=f"Change in {outcome} per customer", xticks=sorted(rows["lead"]))
    axes[0].legend(frameon=False, fontsize="small")
    fig.tight_layout()
    return save_figure(fig, stem)
