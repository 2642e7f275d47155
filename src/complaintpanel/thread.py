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

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from complaintpanel.errors import PipelineError
from complaintpanel.runtime.engines import Engine, engine_description, open_engine
from complaintpanel.runtime.inputs import require_rows
from complaintpanel.runtime.io import (
    is_url,
    join_location,
    stage_outputs,
    verified_input,
    write_json,
)

__all__ = ["STANDARD_TWEET_COLUMNS", "conversation_roots", "thread"]

EXCHANGES_FILE = "exchanges.parquet"
BRAND_REPLIES_FILE = "brand_replies.parquet"
REPORT_FILE = "thread_report.json"
STANDARD_TWEET_COLUMNS = ("tweet_id", "author_key", "is_customer", "created_at", "text",
                          "in_reply_to", "source_row", "brand_declared", "brand_mentioned")


def conversation_roots(engine: Engine, tweets: str = "tweets") -> dict[str, int]:
    """Create tables ``links`` and ``roots`` by pointer jumping over the replies in the file.

    ``links(tweet_id, parent, parent_is_customer, parent_author, parent_created_at)`` holds the
    tweets whose parent is in the file; ``roots(tweet_id, conversation_id, cyclic)`` their
    conversation roots. Every other tweet is the root of its own conversation.

    Parameters
    ----------
    engine : Engine
        Engine holding ``tweets`` (``tweet_id``, ``in_reply_to``, ``is_customer``,
        ``author_key``, ``created_at``).
    tweets : str
        Name of the tweets relation.

    Returns
    -------
    dict
        ``rounds`` (pointer-jumping rounds run) and ``cyclic_tweets``.
    """
    engine.create_table("links", f"""
        SELECT t.tweet_id, p.tweet_id AS parent, p.is_customer AS parent_is_customer,
               p.author_key AS parent_author, p.created_at AS parent_created_at
        FROM {tweets} t JOIN {tweets} p ON p.tweet_id = t.in_reply_to
    """)
    # p = current pointer (first the parent); m = smallest id seen along the path, which names
    # the root of a cyclic conversation once the path has wrapped around the cycle.
    engine.create_table("ptr", "SELECT tweet_id AS id, parent AS p, "
                        "least(tweet_id, parent) AS m FROM links")
    n = engine.rows("SELECT count(*) FROM ptr")[0][0]
    # Without cycles the loop stops when no pointer moves (the pointer of every linked tweet is
    # a root, i.e. not in `ptr`); with cycles 2**rounds ≥ 2n steps lets m cover every cycle.
    max_rounds = max(1, math.ceil(math.log2(max(n, 1))) + 2)
    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 (rounds is reported)
        engine.create_table("ptr_next", """
            SELECT a.id, coalesce(b.p, a.p) AS p, least(a.m, coalesce(b.m, a.m)) AS m,
                   coalesce(b.p <> a.p, false) AS moved
            FROM ptr a LEFT JOIN ptr b ON b.id = a.p
        """)
        moved = engine.rows("SELECT count(*) FILTER (WHERE moved) FROM ptr_next")[0][0]
        engine.rename("ptr_next", "ptr")
        if moved == 0:
            break
    # A pointer that ends on a linked tweet (one with a parent in the file) is caught in a cycle.
    engine.create_table("roots", """
        SELECT a.id AS tweet_id, CASE WHEN b.id IS NOT NULL THEN a.m ELSE a.p END
               AS conversation_id, b.id IS NOT NULL AS cyclic
        FROM ptr a LEFT JOIN ptr b ON b.id = a.p
    """)
    engine.drop("ptr")
    cyclic = engine.rows("SELECT count(*) FILTER (WHERE cyclic) FROM roots")[0][0]
    return {"rounds": rounds, "cyclic_tweets": cyclic}


def _build(engine: Engine) -> None:
    """Create ``exchanges`` (without text) and ``brand_replies`` from ``tweets`` and ``roots``."""
    names = set(engine.columns("tweets"))
    declared = "t.brand_declared" if "brand_declared" in names else "CAST(NULL AS VARCHAR)"
    mentioned = "t.brand_mentioned" if "brand_mentioned" in names else "CAST(NULL AS VARCHAR)"
    engine.create_table("threaded", f"""
        SELECT t.tweet_id, t.author_key, t.is_customer, t.created_at, t.in_reply_to,
               coalesce(r.conversation_id, t.tweet_id) AS conversation_id,
               l.parent_is_customer, l.parent_author, l.parent_created_at,
               {declared} AS brand_declared, {mentioned} AS brand_mentioned
        FROM tweets t LEFT JOIN links l USING (tweet_id) LEFT JOIN roots r USING (tweet_id)
    """)
    # Direct brand replies to customer tweets: count and first reply (earliest, then lowest id).
    engine.create_table("direct_replies", """
        SELECT tweet_id, replies, reply_brand, first_reply_at FROM (
            SELECT in_reply_to AS tweet_id, count(*) OVER (PARTITION BY in_reply_to) AS replies,
                   author_key AS reply_brand, created_at AS first_reply_at,
                   row_number() OVER (PARTITION BY in_reply_to ORDER BY created_at, tweet_id)
                       AS nth
            FROM threaded WHERE NOT is_customer AND parent_is_customer
        ) WHERE nth = 1
    """)
    # The brand with most tweets in a conversation, ties to the earliest, then the smallest.
    engine.create_table("conversation_brand", """
        SELECT conversation_id, author_key AS brand FROM (
            SELECT conversation_id, author_key,
                   row_number() OVER (PARTITION BY conversation_id
                                      ORDER BY n DESC, first_at, author_key) AS nth
            FROM (SELECT conversation_id, author_key, count(*) AS n, min(created_at) AS first_at
                  FROM threaded WHERE NOT is_customer GROUP BY conversation_id, author_key)
        ) WHERE nth = 1
    """)
    engine.create_table("exchanges", """
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
               (epoch_us(d.first_reply_at) - epoch_us(h.created_at)) / 3.6e9
                   AS reply_latency_h,
               CAST(coalesce(d.replies, 0) AS INTEGER) AS replies
        FROM threaded h
        LEFT JOIN direct_replies d ON d.tweet_id = h.tweet_id
        LEFT JOIN conversation_brand c ON c.conversation_id = h.conversation_id
        WHERE h.is_customer
    """)
    engine.create_table("brand_replies", """
        SELECT tweet_id, author_key AS brand, created_at,
               CASE WHEN parent_is_customer THEN in_reply_to END AS answers_tweet_id,
               CASE WHEN parent_is_customer THEN parent_author END AS customer_id,
               CASE WHEN parent_is_customer
                    THEN (epoch_us(created_at) - epoch_us(parent_created_at)) / 3.6e9
               END AS latency_h,
               conversation_id, in_reply_to
        FROM threaded WHERE NOT is_customer
    """)


def _report(engine: Engine, stats: dict[str, int]) -> dict[str, Any]:
    row = engine.rows("""
        SELECT (SELECT count(*) FROM threaded),
               (SELECT count(*) FROM exchanges),
               (SELECT count(*) FROM brand_replies),
               (SELECT count(DISTINCT conversation_id) FROM threaded),
               (SELECT count(*) FROM threaded WHERE in_reply_to IS NOT NULL
                                                AND parent_author IS NULL),
               (SELECT count(*) FILTER (WHERE brand_replied) FROM exchanges),
               (SELECT median(reply_latency_h) FROM exchanges),
               (SELECT count(*) FILTER (WHERE reply_latency_h < 0) FROM exchanges),
               (SELECT count(answers_tweet_id) FROM brand_replies),
               (SELECT count(DISTINCT brand) FILTER (WHERE brand <> 'unknown') FROM exchanges)
    """)[0]
    sources = dict(engine.rows("SELECT brand_source, count(*) FROM exchanges "
                               "GROUP BY brand_source ORDER BY brand_source"))
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
           threads: int | None = None, engine: str = "duckdb",
           spark_master: str | None = None) -> dict[str, Any]:
    """Thread the tweets of ``in_dir`` into exchanges and brand replies.

    Parameters
    ----------
    in_dir : path-like or str
        Folder with ``tweets.parquet`` (the output of ``ingest``); with ``engine="spark"`` also
        a URL such as ``s3a://bucket/interim/NAME``.
    out_dir : path-like or str, optional
        Where to write; defaults to ``in_dir``. A URL needs ``engine="spark"``. A local folder
        receives the three outputs as one set (:func:`complaintpanel.runtime.io.stage_outputs`).
    threads : int, optional
        DuckDB threads (default: all cores).
    engine : {"duckdb", "spark"}
        Where the threading runs (:mod:`complaintpanel.runtime.engines`); the outputs are the same.
    spark_master : str, optional
        Spark master for ``engine="spark"`` (e.g. ``local[2]``).

    Returns
    -------
    dict
        The thread report (also written to ``thread_report.json``).

    Raises
    ------
    PipelineError
        When ``tweets.parquet`` is missing, left incomplete by an interrupted ingest, has no
        rows or no customer tweet, or the output folder is busy or not a folder.
    """
    started = time.perf_counter()
    if (is_url(in_dir) or (out_dir is not None and is_url(out_dir))) and engine != "spark":
        raise PipelineError("URLs (object storage) need engine='spark'", file=in_dir)
    in_dir = in_dir if is_url(in_dir) else Path(in_dir)
    out_dir = in_dir if out_dir is None else out_dir if is_url(out_dir) else Path(out_dir)
    source = join_location(in_dir, "tweets.parquet")
    if not is_url(source):
        if not Path(source).exists():
            raise PipelineError("not found; run `complaintpanel ingest` first", file=source)
        verified_input(source)
        require_rows(source)
    if isinstance(out_dir, Path):
        # Old versions kept their scratch space in `.thread-*` folders here.
        with stage_outputs("thread", out_dir, stale=(".thread-*",)) as outputs:
            work = outputs.folder() / ".work"
            work.mkdir()
            return _thread(source, work, outputs.path, started, threads, engine, spark_master)
    with tempfile.TemporaryDirectory(prefix=".thread-") as scratch:
        remote = out_dir
        return _thread(source, Path(scratch), lambda name: join_location(remote, name), started,
                       threads, engine, spark_master)


def _thread(source: str | Path, work: Path, target: Callable[[str], str | Path],
            started: float, threads: int | None, engine: str,
            spark_master: str | None) -> dict[str, Any]:
    """Run the threading in ``work`` and write each output to ``target(name)``."""
    stage = open_engine(engine, work_dir=work, threads=threads, spark_master=spark_master)
    try:
        # Work on the narrow columns; text and extra columns join back only when writing.
        stage.load_parquet("tweet_file", source, view=True)
        present = stage.columns("tweet_file")
        wanted = [c for c in STANDARD_TWEET_COLUMNS if c not in ("text", "source_row")]
        stage.load_parquet("tweets", source, columns=[c for c in wanted if c in present])
        n_tweets, n_customer = stage.rows(
            "SELECT count(*), count(*) FILTER (WHERE is_customer) FROM tweets")[0]
        if n_tweets == 0:
            require_rows(source, 0)
        if n_customer == 0:
            raise PipelineError(f"has {n_tweets:,} tweets but no customer tweet (every one is "
                                "by a brand); there is nothing to thread", file=source)
        stats = conversation_roots(stage)
        _build(stage)
        report = _report(stage, stats)
        report["engine"] = engine_description(stage)
        extras = "".join(f', t."{c}"' for c in present if c not in STANDARD_TWEET_COLUMNS)
        queries = {
            EXCHANGES_FILE: f"""
                SELECT e.*, t.text{extras}
                FROM exchanges e JOIN tweet_file t USING (tweet_id)
                ORDER BY e.created_at, e.tweet_id""",
            BRAND_REPLIES_FILE: "SELECT * FROM brand_replies ORDER BY created_at, tweet_id",
        }
        # Locally every file goes to the stage's scratch folder and is committed as a set; on
        # object storage Spark's commit protocol makes each folder appear whole.
        for name, query in queries.items():
            stage.write_parquet(query, target(name))
        report["seconds"] = round(time.perf_counter() - started, 3)
        write_json(report, target(REPORT_FILE))
    finally:
        stage.close()
    return report
