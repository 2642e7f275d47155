"""A stage's input with no usable rows is an error that says why, from the upstream reports.

Every stage that reads a table refuses one with zero rows (:func:`require_rows`): running on
nothing would write empty outputs with exit status 0 and end, stages later, in an error that no
longer names the cause. The message follows the chain of reports back to where the rows were
lost, e.g. ``data/interim/x/tweets.parquet: has 0 rows: ingest rejected all 14,640 records
(tweet_id_scientific_notation: 14,640)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from complaintpanel.errors import PipelineError

__all__ = ["no_rows_reason", "parquet_rows", "require_rows"]


def parquet_rows(path: str | os.PathLike[str]) -> int:
    """Count the rows of a Parquet file from its footer (the data are not read)."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _report(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{reason}: {int(n):,}" for reason, n in
                     sorted(counts.items(), key=lambda item: (-int(item[1]), item[0])))


def _ingest_reason(folder: Path) -> str | None:
    report = _report(folder / "ingest_report.json")
    if report is None:
        return None
    rows_in = int(report.get("rows_in") or 0)
    rejected = int(report.get("rows_rejected") or 0)
    by_reason = report.get("rejects_by_reason") or {}
    if rows_in and rejected == rows_in:
        return f"ingest rejected all {rows_in:,} records ({_counts(by_reason)})"
    if rows_in == 0:
        return "the raw file has no records"
    return (f"ingest kept {int(report.get('rows_kept') or 0):,} of {rows_in:,} records "
            f"(rejected: {_counts(by_reason) or 'none'})")


def _thread_reason(folder: Path) -> str | None:
    report = _report(folder / "thread_report.json")
    if report is None:
        return None
    tweets = int(report.get("tweets") or 0)
    if tweets == 0:
        upstream = _ingest_reason(folder)
        return "tweets.parquet has 0 rows" + (f": {upstream}" if upstream else "")
    return (f"thread found no customer tweet among {tweets:,} tweets "
            f"({int(report.get('brand_tweets') or 0):,} by brands)")


def _panel_reason(folder: Path) -> str | None:
    report = _report(folder / "panel_report.json")
    if report is None:
        return None
    total = int(report.get("customer_tweets_in") or 0)
    if total == 0:
        upstream = no_rows_reason(folder / "voiced.parquet")
        return "voiced.parquet has no customer tweet" + (f": {upstream}" if upstream else "")
    lost = {"unknown brand": report.get("tweets_unknown_brand") or 0,
            "outside the window": report.get("tweets_outside_window") or 0,
            "dropped by the activity filter": report.get("tweets_dropped_by_activity_filter")
            or 0}
    return (f"the panel stage kept none of {total:,} customer tweets "
            f"({_counts({k: v for k, v in lost.items() if v})})")


def no_rows_reason(path: str | os.PathLike[str]) -> str | None:
    """Explain, from the reports beside it and upstream, why a stage's table has no rows.

    Parameters
    ----------
    path : path-like
        ``tweets.parquet``, ``exchanges.parquet``, ``voiced.parquet`` or ``panel.parquet``.

    Returns
    -------
    str or None
        The reason with its counts, or None when no report tells.
    """
    path = Path(path)
    folder = path.parent
    if path.name == "tweets.parquet":
        return _ingest_reason(folder)
    if path.name == "exchanges.parquet":
        return _thread_reason(folder)
    if path.name == "voiced.parquet":
        report = _report(folder / "label_report.json")
        source = (report or {}).get("input")
        if source:
            upstream = no_rows_reason(source)
            return "exchanges.parquet has 0 rows" + (f": {upstream}" if upstream else "")
        return None
    if path.name == "panel.parquet":
        return _panel_reason(folder)
    return None


def require_rows(path: str | os.PathLike[str], rows: int | None = None) -> int:
    """Refuse an input table with no rows, saying why (:func:`no_rows_reason`).

    Parameters
    ----------
    path : path-like
        The input table.
    rows : int, optional
        Its number of rows, when already known (else read from the Parquet footer).

    Returns
    -------
    int
        The number of rows (> 0).

    Raises
    ------
    PipelineError
        ``FILE: has 0 rows: reason``.
    """
    count = parquet_rows(path) if rows is None else int(rows)
    if count == 0:
        reason = no_rows_reason(path)
        raise PipelineError("has 0 rows" + (f": {reason}" if reason else ""), file=path)
    return count
