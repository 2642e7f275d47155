"""Treatment definitions and the model columns derived from the panel.

The paper's treatment is "the brand replied to the customer in the previous period". The
robustness checks vary what counts as a reply (DESIGN.md §3): any reply, a reply within H hours,
a reply to a complaint, or the cumulative number of replies so far.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["TREATMENTS", "add_model_columns"]

TREATMENTS: dict[str, str] = {
    "replied": "the brand answered at least one of the customer's tweets in t−1",
    "replied_within": "the brand answered a tweet of the customer's in t−1 within H hours",
    "answered_complaint": "the brand answered at least one of the customer's complaints in t−1",
    "replies_cumulative": "number of the customer's tweets the brand answered before t",
}


def add_model_columns(panel: pd.DataFrame, reply_within_h: float = 24.0) -> pd.DataFrame:
    """Add identifiers, lagged treatments and outcomes used by the reduced-form models.

    Parameters
    ----------
    panel : DataFrame
        The panel (``panel.parquet``).
    reply_within_h : float
        H of the "replied within H hours" treatment.

    Returns
    -------
    DataFrame
        A copy sorted by pair and period with ``pair_id``, ``brand_period``,
        ``treat_<name>`` for each entry of :data:`TREATMENTS` (missing in a pair's first
        period, which has no t−1), ``compliment_share`` (compliments / tweets, missing when
        silent), ``answered_before`` (a complaint was answered in an earlier period) and
        ``complaints_lag``.
    """
    out = panel.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)
    out["pair_id"] = out["customer_id"].astype(str) + "|" + out["brand"].astype(str)
    out["brand_period"] = out["brand"].astype(str) + "|" + out["period"].astype(str)
    by_pair = out.groupby("pair_id", sort=False)
    first = by_pair.cumcount() == 0

    def lagged(series: pd.Series) -> pd.Series:
        return series.groupby(out["pair_id"], sort=False).shift(1).where(~first)

    out["treat_replied"] = lagged(out["replied"].astype(float))
    within = (out["fastest_reply_h"] <= reply_within_h).astype(float)
    out["treat_replied_within"] = lagged(within)
    out["treat_answered_complaint"] = lagged((out["answered_complaints"] > 0).astype(float))
    out["treat_replies_cumulative"] = out["replies_before"].astype(float).where(~first)
    out["complaints_lag"] = lagged(out["complaints"].astype(float))
    answered = (out["answered_complaints"] > 0).astype(int)
    out["answered_before"] = (answered.groupby(out["pair_id"], sort=False).cumsum()
                              - answered).gt(0).astype(int)
    tweets = out["tweets"].where(out["tweets"] > 0)
    out["compliment_share"] = out["compliments"] / tweets
    return out
