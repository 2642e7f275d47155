"""Stage ``ingest``: raw conversation data → ``tweets.parquet`` (typed, pseudonymised) + rejects.

Reads CSV (plain or gzip), Parquet or conversation JSON through a declarative mapping
(:mod:`complaintpanel.ingest_mapping`), validates every record in DuckDB, and accounts for each
one: it ends in ``tweets.parquet`` or in ``rejects.parquet`` with a machine-readable ``reason`` and
its ``source_row``; ``ingest_report.json`` reconciles ``rows_in == rows_kept + rows_rejected``.

Decisions:

* A record is a CSV record after the normalisation of :mod:`complaintpanel.ingest_sources`
  (lone CR = text, blank lines are not records), or one turn of a JSON conversation
  (:mod:`complaintpanel.ingest_json`).
* Checks and reasons: :mod:`complaintpanel.ingest_validate`. Ids must be plain integers
  (``3`` or ``3.0``); spreadsheet scientific notation (``5.70306E+17``) is rejected, never
  expanded. Timestamps must carry a UTC offset unless the mapping declares one; day-first dates
  (``24-02-2015 11:35``) are rejected, never guessed.
* Duplicate ``tweet_id``: the first record (in file order) is kept; later ones are rejected as
  ``duplicate_tweet_id`` whether or not they are identical.
* Customer ``author_id`` values and every ``@handle`` in text that is not a brand handle are
  replaced by keyed pseudonyms (:mod:`complaintpanel.pseudonymise`) inside DuckDB, before any file
  is written. Brand handles = the mapping's list plus the authors of brand tweets in the file.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from complaintpanel.ingest_mapping import Mapping, builtin_mappings, load_mapping
from complaintpanel.ingest_sources import (
    CR_PLACEHOLDER,
    IngestError,
    check_columns,
    load_source,
    read_header,
    sniff_kind,
)
from complaintpanel.ingest_validate import REJECT_REASONS, derive_parents, validate
from complaintpanel.io import atomic_path, sha256_file, write_json
from complaintpanel.pseudonymise import (
    brand_macro_sql,
    pseudonym_sql_macro,
    pseudonymise_text_query,
    resolve_key,
)

__all__ = ["REJECT_REASONS", "IngestError", "choose_mapping", "ingest", "open_duckdb"]

TWEETS_FILE = "tweets.parquet"
REJECTS_FILE = "rejects.parquet"
REPORT_FILE = "ingest_report.json"


def open_duckdb(work_dir: Path, threads: int | None = None,
                memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection that spills to ``work_dir`` and computes in UTC."""
    con = duckdb.connect(config={"preserve_insertion_order": True})
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET temp_directory = '{work_dir}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


def choose_mapping(path: Path, kind: str, con: duckdb.DuckDBPyConnection) -> Mapping:
    """Pick the first built-in mapping whose columns the file has (``twcs`` first)."""
    candidates = builtin_mappings()
    if kind == "json":
        jsons = [m for m in candidates.values() if m.format == "json_conversations"]
        return jsons[0]
    header = read_header(path, kind, con)
    for mapping in candidates.values():
        if mapping.format == "table" and all(c in header for c in mapping.source_columns):
            return mapping
    check_columns(path, header, candidates["twcs"])  # raises, naming what twcs misses
    raise AssertionError("unreachable")

def _brand_handles(con: duckdb.DuckDBPyConnection, mapping: Mapping) -> list[str]:
    """List brand handles: authors of brand tweets (their spelling wins), then the mapping's."""
    authors = [r[0] for r in con.sql(
        "SELECT DISTINCT aid FROM (SELECT aid, is_customer FROM checked WHERE reason IS NULL "
        "UNION ALL SELECT aid, is_customer FROM parents) WHERE NOT is_customer ORDER BY 1"
    ).fetchall()]
    seen = {a.lower() for a in authors}
    return authors + [h for h in mapping.brand_handles if h.lower() not in seen]


def _build_tweets(con: duckdb.DuckDBPyConnection, mapping: Mapping, key: bytes,
                  brand_handles: list[str], lone_cr: bool = True) -> None:
    """Create ``tweets``: the kept records, typed and pseudonymised (nothing raw survives)."""
    con.execute(pseudonym_sql_macro(key))
    con.execute(brand_macro_sql(brand_handles))
    con.execute("CREATE TABLE brand_spelling (handle_lower VARCHAR, handle VARCHAR)")
    if brand_handles:
        con.executemany("INSERT INTO brand_spelling VALUES (?, ?)",
                        [(h.lower(), h) for h in brand_handles])
    extras = [f'"x_{c}"' for c in mapping.extra_columns]
    keep = ["source_row", "tweet_id_value", "aid", "is_customer", "created_ts", "irt_value",
            "brand", *extras]
    null_extras = "".join(f", NULL AS {c}" for c in extras)
    # Lone CRs travel as a placeholder through DuckDB (see ingest_sources); restore them.
    text = (f"replace(coalesce(text, ''), '{CR_PLACEHOLDER}', chr(13))" if lone_cr
            else "coalesce(text, '')")
    source = (f"(SELECT {', '.join(keep)}, false AS derived, {text} AS raw_text "
              "FROM checked WHERE reason IS NULL "
              "UNION ALL SELECT source_row, tweet_id_value, aid, is_customer, created_ts, NULL, "
              f"NULL{null_extras}, true, '' FROM parents)")
    # Hash each distinct customer handle once (authors and the handle opening a text), then join.
    con.execute("""
        CREATE TABLE handle_keys AS
        SELECT handle, pseudonym(handle) AS pseudonym FROM (
            SELECT DISTINCT lower(aid) AS handle FROM checked WHERE reason IS NULL AND is_customer
            UNION SELECT DISTINCT lower(aid) FROM parents WHERE is_customer)
    """)
    text_query = pseudonymise_text_query(source, "raw_text", [*keep, "derived"],
                                         lookup="handle_keys")
    extra_out = "".join(f', {c} AS "{c[3:-1]}"' for c in extras)
    declared = ", brand AS brand_declared" if "brand" in mapping.columns else ""
    derived = ", derived" if mapping.parent_columns else ""
    con.execute(f"""
        CREATE TABLE tweets AS
        SELECT tweet_id_value AS tweet_id,
               CASE WHEN is_customer THEN k.pseudonym ELSE aid END AS author_key,
               is_customer, created_ts AS created_at, text, irt_value AS in_reply_to,
               source_row{declared}, coalesce(b.handle, t.brand_mention) AS brand_mentioned
               {derived}{extra_out}
        FROM ({text_query}) t
        LEFT JOIN handle_keys k ON k.handle = lower(t.aid)
        LEFT JOIN brand_spelling b ON b.handle_lower = t.brand_mention
        ORDER BY source_row, derived
    """)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return con.sql(sql).fetchall()[0][0]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.sql(f"DESCRIBE {table}").fetchall()}


def _report(con: duckdb.DuckDBPyConnection, rows_in: int) -> dict[str, Any]:
    derived = "derived" if "derived" in _columns(con, "tweets") else "false"
    counts = dict(con.sql(f"""
        SELECT 'rows_kept', count(*) FILTER (NOT {derived}) FROM tweets
        UNION ALL SELECT 'tweets_derived', count(*) FILTER ({derived}) FROM tweets
        UNION ALL SELECT 'rows_rejected', count(*) FROM rejects
        UNION ALL SELECT 'tweets_customer', count(*) FILTER (is_customer) FROM tweets
        UNION ALL SELECT 'tweets_brand', count(*) FILTER (NOT is_customer) FROM tweets
        UNION ALL SELECT 'customers', count(DISTINCT author_key) FILTER (is_customer) FROM tweets
        UNION ALL SELECT 'brand_authors', count(DISTINCT author_key) FILTER (NOT is_customer)
                  FROM tweets
        UNION ALL SELECT 'replies', count(in_reply_to) FROM tweets
        UNION ALL SELECT 'replies_to_missing_parent', count(*) FROM tweets t
                  WHERE in_reply_to IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM tweets p WHERE p.tweet_id = t.in_reply_to)
    """).fetchall())
    by_reason = dict(con.sql(
        "SELECT reason, count(*) FROM rejects GROUP BY reason ORDER BY reason").fetchall())
    first, last = con.sql(
        "SELECT strftime(min(created_at), '%Y-%m-%dT%H:%M:%SZ'), "
        "strftime(max(created_at), '%Y-%m-%dT%H:%M:%SZ') FROM tweets").fetchall()[0]
    return {"rows_in": rows_in, **counts, "rejects_by_reason": by_reason,
            "first_created_at": first, "last_created_at": last}


def ingest(
    raw: str | Path,
    out_dir: str | Path,
    *,
    mapping: str | Path | Mapping | None = None,
    key: bytes | str | None = None,
    key_env: str = "COMPLAINTPANEL_KEY",
    threads: int | None = None,
    memory_limit: str | None = None,
) -> dict[str, Any]:
    """Read one raw file and write ``tweets.parquet``, ``rejects.parquet``, ``ingest_report.json``.

    Parameters
    ----------
    raw : path-like
        CSV (plain or gzip), Parquet or conversation JSON.
    out_dir : path-like
        Output folder (e.g. ``data/interim/NAME``).
    mapping : str, Path or Mapping, optional
        Built-in mapping name, TOML file or :class:`Mapping`; ``None`` picks the first built-in
        mapping whose columns the file has (``twcs`` first; JSON → ``ibm_docpred``).
    key : bytes or str, optional
        Pseudonymisation key; else ``$key_env``; else a key file beside ``out_dir``.
    key_env : str
        Environment variable that may hold the key.
    threads, memory_limit : optional
        DuckDB resources (default: all cores, 80 % of RAM).

    Returns
    -------
    dict
        The ingest report (also written to ``ingest_report.json``).

    Raises
    ------
    IngestError
        When the input is missing, empty, binary, or lacks the mapping's columns. Nothing is
        written in that case.
    """
    started = time.perf_counter()
    raw, out_dir = Path(raw), Path(out_dir)
    kind = sniff_kind(raw)
    # Scratch space (normalised copies, DuckDB spill) beside the output, on the same disk; the
    # output folder itself is created only when the outputs are written.
    out_dir.resolve().parent.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.ingest-",
                                     dir=out_dir.resolve().parent))
    try:
        con = open_duckdb(work_dir, threads, memory_limit)
        if mapping is None:
            chosen = choose_mapping(raw, kind, con)
        elif isinstance(mapping, Mapping):
            chosen = mapping
        else:
            chosen = load_mapping(mapping)
        info = load_source(con, raw, kind, chosen, work_dir)
        rows_in = _scalar(con, "SELECT (SELECT count(*) FROM records) "
                               "+ (SELECT count(*) FROM parse_rejects)")
        if rows_in == 0:
            raise IngestError(f"{raw}: has no records (header only?); nothing to ingest")
        validate(con, chosen)
        parent_stats = derive_parents(con, chosen)
        key_bytes, key_source = resolve_key(out_dir, key_env, key)
        brand_handles = _brand_handles(con, chosen)
        _build_tweets(con, chosen, key_bytes, brand_handles,
                      lone_cr=info.normalisation.get("lone_cr", 1) > 0)
        con.execute("""
            CREATE TABLE rejects AS
            SELECT source_row, reason, detail,
                   CASE WHEN regexp_full_match(trim(tid), '[0-9eE.+-]{1,40}') THEN trim(tid) END
                AS tweet_id_raw
            FROM checked WHERE reason IS NOT NULL
            UNION ALL
            SELECT source_row::BIGINT, reason, detail, NULL FROM parse_rejects
            ORDER BY source_row
        """)
        report = _report(con, rows_in)
        _check_accounting(con, report, raw)
        digest = sha256_file(raw)
        report.update({
            "input": {"path": str(raw), "sha256": digest, "bytes": raw.stat().st_size,
                      "kind": info.kind, "columns": info.header},
            "input_sha256": digest,
            "mapping": chosen.name,
            **({"derived_parents": parent_stats} if parent_stats else {}),
            "normalisation": info.normalisation,
            "brands": len({*brand_handles_in_data(con)}),
            "brands_mentioned": _scalar(con, "SELECT count(DISTINCT brand_mentioned) FROM tweets"),
            "brand_handles_known": len(brand_handles),
            "pseudonymisation": {"method": "HMAC-SHA256(key, lower(handle)), 16 hex digits",
                                 "key_source": key_source.split(":", 1)[0]},
            "record_definition": (
                "JSON: one turn of a conversation" if info.kind == "json" else
                "CSV record (RFC 4180); CRLF = one line end; a CR not followed by LF is text; "
                "blank lines outside quotes are not records"),
            "duckdb": duckdb.__version__,
        })
        _write_outputs(con, out_dir, report, started)
        con.close()
        return report
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def brand_handles_in_data(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Brands taking part in the data: brand authors and declared brands of kept tweets."""
    columns = _columns(con, "tweets")
    sql = "SELECT DISTINCT author_key FROM tweets WHERE NOT is_customer"
    if "brand_declared" in columns:
        sql += " UNION SELECT DISTINCT brand_declared FROM tweets WHERE brand_declared IS NOT NULL"
    return {r[0] for r in con.sql(sql).fetchall()}


def _check_accounting(con: duckdb.DuckDBPyConnection, report: dict[str, Any], raw: Path) -> None:
    """Every record number 1..rows_in appears exactly once in tweets or rejects."""
    derived = "derived" if "derived" in _columns(con, "tweets") else "false"
    n, lo, hi = con.sql(f"""
        SELECT count(DISTINCT source_row), min(source_row), max(source_row)
        FROM (SELECT source_row FROM tweets WHERE NOT {derived}
              UNION ALL SELECT source_row FROM rejects)
    """).fetchall()[0]
    total = report["rows_kept"] + report["rows_rejected"]
    if not (total == report["rows_in"] == n and lo == 1 and hi == report["rows_in"]):
        raise RuntimeError(
            f"{raw}: accounting does not reconcile (rows_in {report['rows_in']}, kept + rejected "
            f"{total}, distinct record numbers {n} in [{lo}, {hi}]); please report this bug")


def _write_outputs(con: duckdb.DuckDBPyConnection, out_dir: Path, report: dict[str, Any],
                   started: float) -> None:
    """Write the three outputs under temporary names and rename them only when all succeeded."""
    with contextlib.ExitStack() as stack:
        for table, name in (("tweets", TWEETS_FILE), ("rejects", REJECTS_FILE)):
            tmp = stack.enter_context(atomic_path(out_dir / name))
            # zstd level 1: about half the CPU of the default level for files a few % larger.
            con.execute(f"COPY {table} TO '{tmp}' "
                        "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)")
        report["seconds"] = round(time.perf_counter() - started, 3)
        report_tmp = stack.enter_context(atomic_path(out_dir / REPORT_FILE))
        write_json(report, report_tmp)
