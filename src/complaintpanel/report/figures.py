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

__all__ = ["fig_weekly_activity", "save_figure"]

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
