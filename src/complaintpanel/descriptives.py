"""Descriptive statistics of a conversation dataset (Table 1 and the activity figures).

The first slice of the pipeline: weekly counts of customer tweets and brand replies, computed by
DuckDB straight from a raw file in the TWCS schema (out-of-core, so the full 2.8M-tweet TWCS
file works too).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

__all__ = ["activity_summary", "weekly_activity"]

# TWCS's own timestamp format, e.g. "Tue Oct 31 22:10:47 +0000 2017".
_TWCS_TIME = "%a %b %d %H:%M:%S %z %Y"


def weekly_activity(raw_csv: str | Path) -> pd.DataFrame:
    """Count customer tweets and brand replies per ISO week (Monday start, UTC).

    Parameters
    ----------
    raw_csv : str or Path
        A file in the TWCS schema (``tweet_id, author_id, inbound, created_at, text,
        response_tweet_id, in_response_to_tweet_id``).

    Returns
    -------
    DataFrame
        Columns ``week_start`` (date), ``customer_tweets``, ``brand_replies``,
        ``active_customers``, sorted by week, from the first to the last week with a customer
        tweet (replies sent after the last customer week would show as a spurious empty week).
    """
    query = f"""
        WITH tweets AS (
            SELECT author_id,
                   lower(CAST(inbound AS VARCHAR)) IN ('true', '1') AS is_customer,
                   strptime(created_at, '{_TWCS_TIME}') AS created_at,
                   in_response_to_tweet_id IS NOT NULL AS is_reply
            FROM read_csv(?, header = true, all_varchar = true)
        ), weekly AS (
            SELECT CAST(date_trunc('week', timezone('UTC', created_at)) AS DATE) AS week_start,
                   count(*) FILTER (WHERE is_customer) AS customer_tweets,
                   count(*) FILTER (WHERE NOT is_customer AND is_reply) AS brand_replies,
                   count(DISTINCT author_id) FILTER (WHERE is_customer) AS active_customers
            FROM tweets
            GROUP BY week_start
        )
        SELECT * FROM weekly
        WHERE week_start BETWEEN (SELECT min(week_start) FROM weekly WHERE customer_tweets > 0)
                             AND (SELECT max(week_start) FROM weekly WHERE customer_tweets > 0)
        ORDER BY week_start
    """
    with duckdb.connect() as con:
        weekly = con.execute(query, [str(raw_csv)]).df()
    for column in ("customer_tweets", "brand_replies", "active_customers"):
        weekly[column] = weekly[column].astype("int64")
    weekly["week_start"] = pd.to_datetime(weekly["week_start"])
    return weekly


def activity_summary(weekly: pd.DataFrame) -> dict[str, float | int | str]:
    """Headline numbers of the weekly activity table (for the paper and the README)."""
    customer_tweets = int(weekly["customer_tweets"].sum())
    brand_replies = int(weekly["brand_replies"].sum())
    return {
        "weeks": len(weekly),
        "first_week": weekly["week_start"].min().date().isoformat(),
        "last_week": weekly["week_start"].max().date().isoformat(),
        "customer_tweets": customer_tweets,
        "brand_replies": brand_replies,
        "replies_per_customer_tweet": round(brand_replies / customer_tweets, 4)
        if customer_tweets else float("nan"),
        "mean_weekly_active_customers": round(float(weekly["active_customers"].mean()), 1),
    }
