"""The customer × brand × period panel (DESIGN.md §2.2), aggregated by DuckDB.

A customer–brand pair enters the panel in the period of its first contact and stays until the
end of the observation window: silent periods are rows with zero counts and a missing
sentiment, so "complains less" can be told apart from "left the data".

The columns, their units and how each is computed are defined once, in :data:`PANEL_COLUMNS`;
the pandera schema that validates the panel and the codebook ``data/CODEBOOK.md`` are both
generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa

from complaintpanel.runtime.engines import Engine, open_engine

__all__ = [
    "PANEL_COLUMNS",
    "PanelColumn",
    "build_panel",
    "codebook_markdown",
    "panel_report",
    "panel_schema",
]

Period = Literal["day", "week", "month"]


@dataclass(frozen=True)
class PanelColumn:
    """One column of the panel: its name, type, unit and definition."""

    name: str
    dtype: str
    unit: str
    description: str
    nullable: bool = False


PANEL_COLUMNS: tuple[PanelColumn, ...] = (
    PanelColumn("customer_id", "string", "pseudonym",
                "Keyed hash of the customer's author id (never the raw handle)."),
    PanelColumn("brand", "string", "handle", "The brand's care account handle."),
    PanelColumn("period", "int64", "periods",
                "Index of the period since the start of the observation window (0 = first)."),
    PanelColumn("period_start", "datetime64[ns, UTC]", "UTC timestamp",
                "Start of the period (weeks start on Monday 00:00 UTC; months on the 1st)."),
    PanelColumn("tweets", "int64", "tweets",
                "Customer tweets to the brand in the period (all voices)."),
    PanelColumn("complaints", "int64", "tweets", "Tweets labelled complaint."),
    PanelColumn("compliments", "int64", "tweets", "Tweets labelled compliment."),
    PanelColumn("neutral", "int64", "tweets", "Tweets labelled neutral."),
    PanelColumn("sentiment_mean", "float64", "[-1, 1]",
                "Mean sentiment score of the period's tweets; missing when silent.",
                nullable=True),
    PanelColumn("replied", "int8", "0/1",
                "1 if the brand answered at least one of the customer's tweets in the period."),
    PanelColumn("replies", "int64", "tweets",
                "Number of the customer's tweets in the period that the brand answered directly."),
    PanelColumn("answered_complaints", "int64", "tweets",
                "Complaints in the period that the brand answered directly (intervention)."),
    PanelColumn("unanswered_complaints", "int64", "tweets",
                "Complaints in the period that no brand tweet answered directly."),
    PanelColumn("answered_neutral", "int64", "tweets",
                "Tweets labelled neutral in the period that the brand answered directly."),
    PanelColumn("answered_compliments", "int64", "tweets",
                "Tweets labelled compliment in the period that the brand answered directly."),
    PanelColumn("reply_latency_h", "float64", "hours",
                "Median latency of the first direct reply, over the answered tweets of the "
                "period; missing when none was answered.", nullable=True),
    PanelColumn("fastest_reply_h", "float64", "hours",
                "Shortest first-reply latency in the period (defines 'replied within H hours'); "
                "missing when none was answered.", nullable=True),
    PanelColumn("replies_before", "int64", "tweets",
                "Cumulative number of answered tweets of this customer–brand pair in strictly "
                "earlier periods."),
    PanelColumn("first_reply_period", "Int64", "periods",
                "First period in which the brand answered the customer; missing if never.",
                nullable=True),
    PanelColumn("event_time", "Int64", "periods",
                "period − first_reply_period (negative before the first reply); missing if "
                "never answered.", nullable=True),
    PanelColumn("peer_complaints", "int64", "tweets",
                "Complaints by the brand's other customers in the same period."),
    PanelColumn("peer_compliments", "int64", "tweets",
                "Compliments by the brand's other customers in the same period."),
    PanelColumn("negative", "int64", "tweets",
                "Tweets with a negative sentiment score (< 0), whatever their voice label."),
    PanelColumn("positive", "int64", "tweets",
                "Tweets with a positive sentiment score (> 0), whatever their voice label."),
)


def panel_schema() -> pa.DataFrameSchema:
    """Pandera schema of the panel, generated from :data:`PANEL_COLUMNS`."""
    checks = {
        "sentiment_mean": [pa.Check.in_range(-1.0, 1.0)],
        "replied": [pa.Check.isin([0, 1])],
        "period": [pa.Check.ge(0)],
    }
    counts = {"tweets", "complaints", "compliments", "neutral", "replies", "answered_complaints",
              "unanswered_complaints", "answered_neutral", "answered_compliments",
              "replies_before", "peer_complaints", "peer_compliments", "negative", "positive"}
    columns = {}
    for column in PANEL_COLUMNS:
        column_checks = list(checks.get(column.name, []))
        if column.name in counts:
            column_checks.append(pa.Check.ge(0))
        if column.name in {"reply_latency_h", "fastest_reply_h"}:
            column_checks.append(pa.Check.ge(0))
        columns[column.name] = pa.Column(column.dtype, checks=column_checks,
                                         nullable=column.nullable, coerce=True)
    return pa.DataFrameSchema(
        columns,
        checks=[
            pa.Check(lambda df: df["complaints"] + df["compliments"] + df["neutral"]
                     == df["tweets"], error="voices must add up to tweets"),
            pa.Check(lambda df: df["answered_complaints"] + df["unanswered_complaints"]
                     == df["complaints"], error="answered + unanswered must equal complaints"),
            pa.Check(lambda df: df["replies"] <= df["tweets"], error="replies exceed tweets"),
            pa.Check(lambda df: df["negative"] + df["positive"] <= df["tweets"],
                     error="more signed tweets than tweets"),
            pa.Check(lambda df: df["answered_complaints"] + df["answered_neutral"]
                     + df["answered_compliments"] == df["replies"],
                     error="answered tweets by label must add up to replies"),
            pa.Check(lambda df: (df["answered_neutral"] <= df["neutral"])
                     & (df["answered_compliments"] <= df["compliments"]),
                     error="more answered tweets of a label than tweets with it"),
        ],
        unique=["customer_id", "brand", "period"],
        strict=True,
        ordered=True,
    )


def codebook_markdown() -> str:
    """Return the panel codebook (``data/CODEBOOK.md``) generated from the column list."""
    lines = [
        "# Codebook: `panel.parquet`",
        "",
        "Generated by `complaintpanel codebook` from `complaintpanel.panel.PANEL_COLUMNS`;",
        "do not edit by hand (a test checks that this file matches the code).",
        "",
        "One row per customer × brand × period, from the pair's first contact to the end of the",
        "observation window. Periods are days, ISO weeks (Monday start) or calendar months in",
        "UTC (`[panel] period` in `analysis/config.toml`). Customer tweets whose brand could not",
        "be determined are left out of the panel and counted in `panel_report.json`.",
        "",
        "| column | type | unit | missing allowed | definition |",
        "|---|---|---|---|---|",
    ]
    for c in PANEL_COLUMNS:
        lines.append(f"| `{c.name}` | {c.dtype} | {c.unit} | {'yes' if c.nullable else 'no'} "
                     f"| {c.description} |")
    return "\n".join(lines) + "\n"


# The panel's SQL (DuckDB dialect; run unchanged in meaning on Spark by
# complaintpanel.runtime.engines).
# Step 1: the customer tweets in the window, with the start of their period.
_PANEL_TWEETS_SQL = """
SELECT customer_id, brand, voice, sentiment, brand_replied, reply_latency_h,
       date_trunc('{unit}', created_at) AS period_start
FROM voiced
WHERE brand IS NOT NULL AND brand <> 'unknown' {window}
"""

# Step 2, after the table `periods` (period, period_start) of the window is made in Python.
_PANEL_SQL = """
WITH cells AS (
    SELECT customer_id, brand, period_start,
           count(*) AS tweets,
           count(*) FILTER (WHERE voice = 'complaint') AS complaints,
           count(*) FILTER (WHERE voice = 'compliment') AS compliments,
           count(*) FILTER (WHERE voice = 'neutral') AS neutral,
           -- rounded: a parallel sum can change the last bit between runs
           round(avg(sentiment), 12) AS sentiment_mean,
           count(*) FILTER (WHERE sentiment < 0) AS negative,
           count(*) FILTER (WHERE sentiment > 0) AS positive,
           count(*) FILTER (WHERE brand_replied) AS replies,
           count(*) FILTER (WHERE brand_replied AND voice = 'complaint') AS answered_complaints,
           count(*) FILTER (WHERE brand_replied AND voice = 'neutral') AS answered_neutral,
           count(*) FILTER (WHERE brand_replied AND voice = 'compliment') AS answered_compliments,
           median(reply_latency_h) FILTER (WHERE brand_replied) AS reply_latency_h,
           min(reply_latency_h) FILTER (WHERE brand_replied) AS fastest_reply_h
    FROM panel_tweets
    GROUP BY customer_id, brand, period_start
),
indexed AS (
    SELECT c.*, p.period FROM cells c JOIN periods p ON p.period_start = c.period_start
),
pairs AS (
    SELECT customer_id, brand, min(period) AS first_period FROM indexed
    GROUP BY customer_id, brand
),
filled AS (
    SELECT g.customer_id, g.brand, p.period, p.period_start,
           coalesce(c.tweets, 0) AS tweets,
           coalesce(c.complaints, 0) AS complaints,
           coalesce(c.compliments, 0) AS compliments,
           coalesce(c.neutral, 0) AS neutral,
           c.sentiment_mean,
           coalesce(c.negative, 0) AS negative,
           coalesce(c.positive, 0) AS positive,
           coalesce(c.replies, 0) AS replies,
           coalesce(c.answered_complaints, 0) AS answered_complaints,
           coalesce(c.answered_neutral, 0) AS answered_neutral,
           coalesce(c.answered_compliments, 0) AS answered_compliments,
           c.reply_latency_h,
           c.fastest_reply_h
    FROM pairs g
    JOIN periods p ON p.period >= g.first_period
    LEFT JOIN indexed c
           ON c.customer_id = g.customer_id AND c.brand = g.brand AND c.period = p.period
),
with_history AS (
    SELECT *,
           CAST(replies > 0 AS TINYINT) AS replied,
           complaints - answered_complaints AS unanswered_complaints,
           coalesce(sum(replies) OVER (PARTITION BY customer_id, brand ORDER BY period
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS replies_before,
           min(CASE WHEN replies > 0 THEN period END)
               OVER (PARTITION BY customer_id, brand) AS first_reply_period,
           sum(complaints) OVER (PARTITION BY brand, period) - complaints AS peer_complaints,
           sum(compliments) OVER (PARTITION BY brand, period) - compliments AS peer_compliments,
           sum(tweets) OVER (PARTITION BY customer_id, brand) AS pair_tweets
    FROM filled
)
SELECT customer_id, brand, period, period_start, tweets, complaints, compliments, neutral,
       sentiment_mean, replied, replies, answered_complaints, unanswered_complaints,
       answered_neutral, answered_compliments, reply_latency_h, fastest_reply_h, replies_before,
       first_reply_period,
       period - first_reply_period AS event_time, peer_complaints, peer_compliments,
       negative, positive
FROM with_history
WHERE pair_tweets >= {min_tweets}
ORDER BY customer_id, brand, period
"""

_FREQUENCY = {"day": "D", "week": "7D", "month": "MS"}


def _utc_literal(moment: str) -> str:
    """Return a SQL timestamp literal for an ISO date or date-time, read as UTC."""
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return f"CAST('{stamp.strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00' AS TIMESTAMPTZ)"


def _window_sql(window_start: str | None, window_end: str | None) -> str:
    condition = ""
    if window_start is not None:
        condition += f" AND created_at >= {_utc_literal(window_start)}"
    if window_end is not None:
        condition += f" AND created_at < {_utc_literal(window_end)}"
    return condition


def _stage_voiced(voiced: pd.DataFrame | str | Path, engine: str | Engine) -> Engine:
    """Open ``engine`` (a name) if needed and make ``voiced`` available in it as ``voiced``."""
    stage = open_engine(engine) if isinstance(engine, str) else engine
    if isinstance(voiced, str | Path):
        stage.load_parquet("voiced", voiced, view=True)
    else:
        stage.register("voiced", voiced)
    return stage


def build_panel(voiced: pd.DataFrame | str | Path, period: Period = "week",
                min_tweets: int = 1, window_start: str | None = None,
                window_end: str | None = None, *, engine: str | Engine = "duckdb",
                ) -> pd.DataFrame:
    """Aggregate labelled customer tweets into the customer × brand × period panel.

    Parameters
    ----------
    voiced : DataFrame or path
        Labelled exchanges (``voiced.parquet``): one row per customer tweet with at least
        ``customer_id``, ``brand``, ``created_at`` (UTC), ``voice``, ``sentiment``,
        ``brand_replied`` and ``reply_latency_h``.
    period : {"day", "week", "month"}
        Length of a period. Weeks start on Monday (ISO), all in UTC.
    min_tweets : int
        Keep only customer–brand pairs with at least this many tweets in the window (an
        activity filter for robustness checks; 1 keeps every pair).
    window_start, window_end : str, optional
        Observation window (ISO dates, UTC; end exclusive). By default the window runs from
        the first to the last period with a customer tweet. Real excerpts of TWCS contain a
        few tweets years older than the rest (ancestors of long reply chains); a window keeps
        them from stretching every customer's history.
    engine : {"duckdb", "spark"} or Engine
        Where the aggregation runs (:mod:`complaintpanel.runtime.engines`); the panel is the same.

    Returns
    -------
    DataFrame
        The panel, validated by :func:`panel_schema`. Peer columns are computed before the
        activity filter, so they count every other customer of the brand.
    """
    if period not in ("day", "week", "month"):
        raise ValueError(f"period must be day, week or month, not {period!r}")
    stage = _stage_voiced(voiced, engine)
    stage.create_table("panel_tweets", _PANEL_TWEETS_SQL.format(
        unit=period, window=_window_sql(window_start, window_end)))
    first, last = stage.rows("SELECT epoch_us(min(period_start)), epoch_us(max(period_start)) "
                             "FROM panel_tweets")[0]
    starts = (pd.date_range(pd.Timestamp(first, unit="us", tz="UTC"),
                            pd.Timestamp(last, unit="us", tz="UTC"), freq=_FREQUENCY[period])
              if first is not None else pd.DatetimeIndex([], tz="UTC"))
    stage.register("periods", pd.DataFrame({
        "period": np.arange(len(starts), dtype="int64"),
        "period_start": starts.as_unit("us")}))
    panel = stage.to_pandas(_PANEL_SQL.format(min_tweets=int(min_tweets)))
    _release(stage, opened=isinstance(engine, str), tables=("panel_tweets", "periods", "voiced"))
    return panel_schema().validate(panel)


def _release(stage: Engine, opened: bool, tables: tuple[str, ...]) -> None:
    for name in tables:
        stage.drop(name)
    if opened:
        stage.close()


def _tweet_counts(engine: Engine, window_start: str | None,
                  window_end: str | None) -> tuple[int, int, int]:
    """Count customer tweets: all, with unknown brand, with known brand outside the window."""
    unknown = "brand IS NULL OR brand = 'unknown'"
    inside = f"true{_window_sql(window_start, window_end)}"
    return engine.rows(f"""
        SELECT count(*), count(*) FILTER (WHERE {unknown}),
               count(*) FILTER (WHERE NOT ({unknown}) AND NOT ({inside}))
        FROM voiced
    """)[0]


def panel_report(voiced: pd.DataFrame | str | Path, panel: pd.DataFrame,
                 window_start: str | None = None, window_end: str | None = None, *,
                 engine: str | Engine = "duckdb") -> dict[str, int | str | None]:
    """Accounting from customer tweets to panel rows, for ``panel_report.json``.

    Every customer tweet is either in the panel or counted under one reason:
    ``customer_tweets_in == tweets_in_panel + tweets_unknown_brand + tweets_outside_window
    + tweets_dropped_by_activity_filter``.
    """
    stage = _stage_voiced(voiced, engine)
    total, unknown, outside = _tweet_counts(stage, window_start, window_end)
    _release(stage, opened=isinstance(engine, str), tables=("voiced",))
    in_panel = int(panel["tweets"].sum())
    return {
        "customer_tweets_in": total,
        "tweets_unknown_brand": unknown,
        "tweets_outside_window": outside,
        "tweets_in_panel": in_panel,
        "tweets_dropped_by_activity_filter": total - unknown - outside - in_panel,
        "window_start": window_start,
        "window_end": window_end,
        "rows": len(panel),
        "customer_brand_pairs": int(panel[["customer_id", "brand"]].drop_duplicates().shape[0]),
        "customers": int(panel["customer_id"].nunique()),
        "brands": int(panel["brand"].nunique()),
        "periods": int(panel["period"].max()) + 1 if len(panel) else 0,
    }
