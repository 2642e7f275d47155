"""Stage ``thread``: ``tweets.parquet`` → ``exchanges.parquet`` + ``brand_replies.parquet``.

For every tweet the conversation root is found by pointer jumping (each round replaces a tweet's
pointer by its pointer's pointer, so a chain of length L needs about log2(L) set-wise rounds in
DuckDB, never a Python loop per tweet). A reply whose parent is not in the file starts its own
conversation (excerpts cut threads). Reply cycles, which real data should not have, are broken
deterministically: a cyclic conversation is rooted at the smallest tweet id on its cycle.

The brand of a customer tweet is, in this order (``brand_source``): the brand that answered it
directly (``reply``); the brand whose tweet it answers (``parent``); the brand with most tweets in
its conversation, ties to the earliest (``conversation``); the brand the input declares for the
record (``declared``, e.g. the airline column); the first brand handle addressed in its text
(``mention``); else ``"unknown"``.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from complaintpanel.io import atomic_path, write_json

__all__ = ["STANDARD_TWEET_COLUMNS", "conversation_roots", "thread"]

EXCHANGES_FILE = "exchanges.parquet"
BRAND_REPLIES_FILE = "brand_replies.parquet"
REPORT_FILE = "thread_report.json"
STANDARD_TWEET_COLUMNS = ("tweet_id", "author_key", "is_customer", "created_at", "text",
                          "in_reply_to", "source_row", "brand_declared", "brand_mentioned")


def conversation_roots(con: duckdb.DuckDBPyConnection, tweets: str = "tweets") -> dict[str, int]:
    """Create tables ``links`` and ``roots`` by pointer jumping over the replies in the file.

    ``links(tweet_id, parent, parent_is_customer, parent_author, parent_created_at)`` holds the
    tweets whose parent is in the file; ``roots(tweet_id, conversation_id, cyclic)`` their
    conversation roots. Every other tweet is the root of its own conversation.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding ``tweets`` (``tweet_id``, ``in_reply_to``, ``is_customer``,
        ``author_key``, ``created_at``).
    tweets : str
        Name of the tweets relation.

    Returns
    -------
    dict
        ``rounds`` (pointer-jumping rounds run) and ``cyclic_tweets``.
    """
    con.execute(f"""
        CREATE OR REPLACE TABLE links AS
        SELECT t.tweet_id, p.tweet_id AS parent, p.is_customer AS parent_is_customer,
               p.author_key AS parent_author, p.created_at AS parent_created_at
        FROM {tweets} t JOIN {tweets} p ON p.tweet_id = t.in_reply_to
    """)
    # p = current pointer (first the parent); m = smallest id seen along the path, which names
    # the root of a cyclic conversation once the path has wrapped around the cycle.
    con.execute("CREATE OR REPLACE TABLE ptr AS "
                "SELECT tweet_id AS id, parent AS p, least(tweet_id, parent) AS m FROM links")
    n = con.sql("SELECT count(*) FROM ptr").fetchall()[0][0]
    # Without cycles the loop stops when no pointer moves (the pointer of every linked tweet is
    # a root, i.e. not in `ptr`); with cycles 2**rounds ≥ 2n steps lets m cover every cycle.
    max_rounds = max(1, math.ceil(math.log2(max(n, 1))) + 2)
    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 (rounds is reported)
        con.execute("""
            CREATE OR REPLACE TABLE ptr_next AS
            SELECT a.id, coalesce(b.p, a.p) AS p, least(a.m, coalesce(b.m, a.m)) AS m,
                   coalesce(b.p <> a.p, false) AS moved
            FROM ptr a LEFT JOIN ptr b ON b.id = a.p
        """)
        moved = con.sql("SELECT count(*) FILTER (moved) FROM ptr_next").fetchall()[0][0]
        con.execute("CREATE OR REPLACE TABLE ptr AS SELECT id, p, m FROM ptr_next")
        if moved == 0:
            break
    con.execute("DROP TABLE ptr_next")
    # A pointer that ends on a linked tweet (one with a parent in the file) is caught in a cycle.
    con.execute("""
        CREATE OR REPLACE TABLE roots AS
        SELECT a.id AS tweet_id, CASE WHEN b.id IS NOT NULL THEN a.m ELSE a.p END
               AS conversation_id, b.id IS NOT NULL AS cyclic
        FROM ptr a LEFT JOIN ptr b ON b.id = a.p
    """)
    con.execute("DROP TABLE ptr")
    cyclic = con.sql("SELECT count(*) FILTER (cyclic) FROM roots").fetchall()[0][0]
    return {"rounds": rounds, "cyclic_tweets": cyclic}


def _extra_columns(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    names = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM read_parquet('{source}')").fetchall()]
    return [c for c in names if c not in STANDARD_TWEET_COLUMNS]


def _build(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``exchanges`` (without text) and ``brand_replies`` from ``tweets`` and ``roots``."""
    names = {r[0] for r in con.sql("DESCRIBE tweets").fetchall()}
    declared = "t.brand_declared" if "brand_declared" in names else "NULL::VARCHAR"
    mentioned = "t.brand_mentioned" if "brand_mentioned" in names else "NULL::VARCHAR"
    con.execute(f"""
        CREATE TABLE threaded AS
        SELECT t.tweet_id, t.author_key, t.is_customer, t.created_at, t.in_reply_to,
               coalesce(r.conversation_id, t.tweet_id) AS conversation_id,
               l.parent_is_customer, l.parent_author, l.parent_created_at,
               {declared} AS brand_declared, {mentioned} AS brand_mentioned
        FROM tweets t LEFT JOIN links l USING (tweet_id) LEFT JOIN roots r USING (tweet_id)
    """)
    # Direct brand replies to customer tweets: count and first reply (earliest, then lowest id).
    con.execute("""
        CREATE TABLE direct_replies AS
        SELECT in_reply_to AS tweet_id, count(*) AS replies,
               arg_min(author_key, (created_at, tweet_id)) AS reply_brand,
               min(created_at) AS first_reply_at
        FROM threaded WHERE NOT is_customer AND parent_is_customer
        GROUP BY in_reply_to
    """)
    con.execute("""
        CREATE TABLE conversation_brand AS
        SELECT conversation_id, arg_min(author_key, (-n, first_at, author_key)) AS brand
        FROM (SELECT conversation_id, author_key, count(*) AS n, min(created_at) AS first_at
              FROM threaded WHERE NOT is_customer GROUP BY ALL)
        GROUP BY conversation_id
    """)
    con.execute("""
        CREATE TABLE exchanges AS
        SELECT h.tweet_id, h.author_key AS customer_id,
               coalesce(d.reply_brand, CASE WHEN NOT h.parent_is_customer THEN h.parent_author END,
                        c.brand, h.brand_declared, h.brand_mentioned, 'unknown') AS brand,
               CASE WHEN d.reply_brand IS NOT NULL THEN 'reply'
                    WHEN NOT h.parent_is_customer THEN 'parent'
                    WHEN c.brand IS NOT NULL THEN 'conversation'
                    WHEN h.brand_declared IS NOT NULL THEN 'declared'
                    WHEN h.brand_mentioned IS NOT NULL THEN 'mention'
                    ELSE 'unknown' END AS brand_source,
               h.created_at, h.conversation_id, h.in_reply_to,
               d.tweet_id IS NOT NULL AS brand_replied,
               epoch(d.first_reply_at - h.created_at) / 3600.0 AS reply_latency_h,
               coalesce(d.replies, 0)::INTEGER AS replies
        FROM threaded h
        LEFT JOIN direct_replies d ON d.tweet_id = h.tweet_id
        LEFT JOIN conversation_brand c ON c.conversation_id = h.conversation_id
        WHERE h.is_customer
    """)
    con.execute("""
        CREATE TABLE brand_replies AS
        SELECT tweet_id, author_key AS brand, created_at,
               CASE WHEN parent_is_customer THEN in_reply_to END AS answers_tweet_id,
               CASE WHEN parent_is_customer THEN parent_author END AS customer_id,
               CASE WHEN parent_is_customer
                    THEN epoch(created_at - parent_created_at) / 3600.0 END AS latency_h,
               conversation_id, in_reply_to
        FROM threaded WHERE NOT is_customer
    """)


def _report(con: duckdb.DuckDBPyConnection, stats: dict[str, int]) -> dict[str, Any]:
    row = con.sql("""
        SELECT (SELECT count(*) FROM threaded),
               (SELECT count(*) FROM exchanges),
               (SELECT count(*) FROM brand_replies),
               (SELECT count(DISTINCT conversation_id) FROM threaded),
               (SELECT count(*) FROM threaded WHERE in_reply_to IS NOT NULL
                                                AND parent_author IS NULL),
               (SELECT count(*) FILTER (brand_replied) FROM exchanges),
               (SELECT median(reply_latency_h) FROM exchanges),
               (SELECT count(*) FILTER (reply_latency_h < 0) FROM exchanges),
               (SELECT count(answers_tweet_id) FROM brand_replies),
               (SELECT count(DISTINCT brand) FILTER (brand <> 'unknown') FROM exchanges)
    """).fetchall()[0]
    sources = dict(con.sql("SELECT brand_source, count(*) FROM exchanges GROUP BY 1 ORDER BY 1")
                   .fetchall())
    return {
        "tweets": row[0], "customer_tweets": row[1], "brand_tweets": row[2],
        "conversations": row[3], "replies_to_missing_parent": row[4],
        "customer_tweets_replied": row[5],
        "median_reply_latency_h": None if row[6] is None else round(row[6], 6),
        "negative_latencies": row[7], "brand_tweets_answering_customer": row[8],
        "brands": row[9], "brand_source": sources, "unknown_brand": sources.get("unknown", 0),
        "pointer_jumping_rounds": stats["rounds"], "cyclic_tweets": stats["cyclic_tweets"],
    }


def thread(in_dir: str | Path, out_dir: str | Path | None = None, *,
           threads: int | None = None) -> dict[str, Any]:
    """Thread the tweets of ``in_dir`` into exchanges and brand replies.

    Parameters
    ----------
    in_dir : path-like
        Folder with ``tweets.parquet`` (the output of ``ingest``).
    out_dir : path-like, optional
        Where to write; defaults to ``in_dir``.
    threads : int, optional
        DuckDB threads (default: all cores).

    Returns
    -------
    dict
        The thread report (also written to ``thread_report.json``).
    """
    started = time.perf_counter()
    in_dir = Path(in_dir)
    out_dir = Path(out_dir) if out_dir is not None else in_dir
    source = in_dir / "tweets.parquet"
    if not source.exists():
        raise FileNotFoundError(f"{source}: not found; run `complaintpanel ingest` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".thread-", dir=out_dir) as work:
        con = duckdb.connect(config={"preserve_insertion_order": True})
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET temp_directory = '{work}'")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        # Work on the narrow columns; text and extra columns join back only when writing.
        wanted = [c for c in STANDARD_TWEET_COLUMNS if c not in ("text", "source_row")]
        present = {r[0] for r in con.sql(
            f"DESCRIBE SELECT * FROM read_parquet('{source}')").fetchall()}
        columns = ", ".join(c for c in wanted if c in present)
        con.execute(f"CREATE TABLE tweets AS SELECT {columns} FROM read_parquet('{source}')")
        stats = conversation_roots(con)
        _build(con)
        report = _report(con, stats)
        extras = "".join(f', t."{c}"' for c in _extra_columns(con, str(source)))
        queries = {
            EXCHANGES_FILE: f"""
                SELECT e.*, t.text{extras}
                FROM exchanges e JOIN read_parquet('{source}') t USING (tweet_id)
                ORDER BY e.created_at, e.tweet_id""",
            BRAND_REPLIES_FILE: "SELECT * FROM brand_replies ORDER BY created_at, tweet_id",
        }
        with contextlib.ExitStack() as stack:
            for name, query in queries.items():
                tmp = stack.enter_context(atomic_path(out_dir / name))
                con.execute(f"COPY ({query}) TO '{tmp}' "
                            "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)")
            report["seconds"] = round(time.perf_counter() - started, 3)
            write_json(report, stack.enter_context(atomic_path(out_dir / REPORT_FILE)))
        con.close()
    return report
