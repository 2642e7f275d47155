"""Plausible creation times: hard bounds, outliers reported, ISO text with 4-digit years.

Two checks with different consequences:

* **Hard bounds** (``[ingest] created_at_min`` / ``created_at_max``): a time before Twitter
  opened (2006-03-21) or after the time of the run plus one day cannot be a tweet's, so the
  record is rejected as ``created_at_out_of_range`` (a 1970 epoch default, a 2099 typo).
* **Outliers** within the bounds are plausible, so they are kept and reported: the bulk of the
  customer tweets is the span of days from their 1st to their 99th percentile; a tweet more than
  ``outlier_gap_days`` (or the bulk's own span, if longer) before or after it is an outlier —
  typically the ancestor tweets of a thread, years older than the excerpt. The panel spans every
  period from the first to the last customer tweet, so the report suggests ``[panel]
  window_start`` / ``window_end`` values that leave the outliers out; the command prints them
  as a warning.

Times are compared as microseconds since 1970-01-01 UTC, as both engines compute them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from complaintpanel.config import parse_utc_instant
from complaintpanel.runtime.engines import Engine

__all__ = [
    "DAY_US",
    "EPOCH",
    "bounds_us",
    "created_at_outliers",
    "outlier_warning",
    "utc_date",
    "utc_text",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
RUN_SLACK = timedelta(days=1)
RUN_MAX_TEXT = "the time of the run plus one day"


def _epoch_us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def bounds_us(created_at_min: str, created_at_max: str | None,
              now: datetime | None = None) -> tuple[int, int, dict[str, str]]:
    """Return the bounds in epoch microseconds and their description for the report.

    Parameters
    ----------
    created_at_min, created_at_max : str
        ISO 8601 dates or date-times (UTC unless an offset is given); ``created_at_max = None``
        means the time of the run (``now``) plus one day.
    now : datetime, optional
        The time of the run (default: the current time).
    """
    low = parse_utc_instant(created_at_min, "created_at_min")
    if created_at_max is None:
        high = (now or datetime.now(UTC)) + RUN_SLACK
        described = RUN_MAX_TEXT
    else:
        high = parse_utc_instant(created_at_max, "created_at_max")
        described = utc_text(_epoch_us(high)) or ""
    return _epoch_us(low), _epoch_us(high), {"min": utc_text(_epoch_us(low)) or "",
                                             "max": described}


def utc_text(epoch_us: int | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` (always four digits of year) for microseconds since 1970 UTC."""
    if epoch_us is None:
        return None
    moment = EPOCH + timedelta(microseconds=epoch_us)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def utc_date(day: int) -> str:
    """``YYYY-MM-DD`` of a day number (days since 1970-01-01)."""
    return (utc_text(day * DAY_US) or "")[:10]


def created_at_outliers(engine: Engine, gap_days: float) -> dict[str, Any]:
    """Find customer tweets far before or after the bulk of ``tweets`` (see the module docstring).

    Returns
    -------
    dict
        ``basis``, ``rule``, ``bulk_from``, ``bulk_to`` (dates), ``before`` and ``after``
        (counts), ``earliest`` and ``latest`` (the outlying extremes, or None) and
        ``suggested_window_start`` / ``suggested_window_end`` (``[panel]`` values that leave
        the outliers out; ``window_end`` is exclusive), None when not needed.
    """
    # A histogram by day is small whatever the data, and makes the rule exact on both engines.
    days = sorted(engine.rows(f"""
        SELECT CAST(floor(epoch_us(created_at) / {DAY_US}) AS BIGINT) AS day, count(*) AS n
        FROM tweets WHERE is_customer GROUP BY 1
    """))
    section: dict[str, Any] = {
        "basis": "customer tweets",
        "rule": (f"more than max({gap_days:g} days, the bulk's span) before or after the bulk "
                 "(the days from the 1st to the 99th percentile)"),
        "bulk_from": None, "bulk_to": None, "before": 0, "after": 0, "earliest": None,
        "latest": None, "suggested_window_start": None, "suggested_window_end": None}
    total = sum(n for _, n in days)
    if total == 0:
        return section
    first = _day_of_rank(days, math.ceil(0.01 * total))
    last = _day_of_rank(days, math.ceil(0.99 * total))
    gap = max(gap_days, last - first + 1)
    early = [(d, n) for d, n in days if d < first - gap]
    late = [(d, n) for d, n in days if d > last + gap]
    inside = [d for d, _ in days if first - gap <= d <= last + gap]
    section.update({
        "bulk_from": utc_date(first), "bulk_to": utc_date(last),
        "before": sum(n for _, n in early), "after": sum(n for _, n in late),
        "earliest": utc_date(early[0][0]) if early else None,
        "latest": utc_date(late[-1][0]) if late else None,
        "suggested_window_start": utc_date(inside[0]) if early else None,
        "suggested_window_end": utc_date(inside[-1] + 1) if late else None,
    })
    return section


def _day_of_rank(days: list[tuple[int, int]], rank: int) -> int:
    """Return the day of the ``rank``-th tweet (1-based) in time order."""
    seen = 0
    for day, count in days:
        seen += count
        if seen >= rank:
            return day
    return days[-1][0]


def outlier_warning(section: dict[str, Any] | None) -> list[str]:
    """Warning lines (without the ``ingest:`` prefix) for the outliers of a report, if any."""
    if not section:
        return []
    bulk = f"{section['bulk_from']} to {section['bulk_to']}"
    lines = []
    if section.get("before"):
        lines.append(
            f"warning: {section['before']:,} tweets lie far before the bulk of the customer "
            f"tweets ({bulk}), the earliest on {section['earliest']}; the panel would span every "
            f"period from there: set [panel] window_start = "
            f"\"{section['suggested_window_start']}\" in the config to leave them out")
    if section.get("after"):
        lines.append(
            f"warning: {section['after']:,} tweets lie far after the bulk of the customer "
            f"tweets ({bulk}), the latest on {section['latest']}; set [panel] window_end = "
            f"\"{section['suggested_window_end']}\" in the config to leave them out")
    return lines
