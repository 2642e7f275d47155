"""Descriptive statistics of a conversation dataset (the activity figure and its numbers).

Weekly counts of customer tweets and brand replies, computed by DuckDB from the ingested
``tweets.parquet`` (out-of-core, so the full 2.8M-tweet TWCS file works too). Reading the
ingested tweets rather than the raw file means every layout the ingest stage reads is
described the same way, with the same validation and the same rejected rows left out.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

__all__ = ["activity_summary", "weekly_activity"]


def weekly_activity(tweets: str | Path) -> pd.DataFrame:
    """Count customer tweets and brand replies per ISO week (Monday start, UTC).

    Parameters
    ----------
    tweets : str or Path
        ``tweets.parquet`` written by the ingest stage (``author_key``, ``is_customer``,
        ``created_at``, ``in_reply_to``).

    Returns
    -------
    DataFrame
        Columns ``week_start`` (date), ``customer_tweets``, ``brand_replies``,
        ``active_customers``, sorted by week, from the first to the last week with a customer
        tweet (replies sent after the last customer week would show as a spurious empty week).
    """
    query = """
        WITH tweets AS (
            SELECT author_key, is_customer, created_at, in_reply_to IS NOT NULL AS is_reply
            FROM read_parquet(?)
        ), weekly AS (
            SELECT CAST(date_trunc('week', timezone('UTC', created_at)) AS DATE) AS week_start,
                   count(*) FILTER (WHERE is_customer) AS customer_tweets,
                   count(*) FILTER (WHERE NOT is_customer AND is_reply) AS brand_replies,
                   count(DISTINCT author_key) FILTER (WHERE is_customer) AS active_customers
            FROM tweets
            GROUP BY week_start
        )
        SELECT * FROM weekly
        WHERE week_start BETWEEN (SELECT min(week_start) FROM weekly WHERE customer_tweets > 0)
                             AND (SELECT max(week_start) FROM weekly WHERE customer_tweets > 0)
        ORDER BY week_start
    """
    with duckdb.connect() as con:
        weekly = con.execute(query, [str(tweets)]).df()
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
