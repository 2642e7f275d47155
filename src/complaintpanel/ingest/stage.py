"""Stage ``ingest``: raw conversation data → ``tweets.parquet`` (typed, pseudonymised) + rejects.

Reads CSV (plain or gzip), Parquet or conversation JSON through a declarative mapping
(:mod:`complaintpanel.ingest.mapping`), validates every record in DuckDB, and accounts for each
one: it ends in ``tweets.parquet`` or in ``rejects.parquet`` with a machine-readable ``reason`` and
its ``source_row``; ``ingest_report.json`` reconciles ``rows_in == rows_kept + rows_rejected``.

Decisions:

* A record is a CSV record after the normalisation of :mod:`complaintpanel.ingest.sources`
  (lone CR = text, blank lines are not records), or one turn of a JSON conversation
  (:mod:`complaintpanel.ingest.json_records`).
* Checks and reasons: :mod:`complaintpanel.ingest.validate`. Ids must be plain integers
  (``3`` or ``3.0``) that fit 64 bits, and stay BIGINT in every output (Twitter ids need all 63
  bits; a double would move ``994706065450242050`` to ``…048``); spreadsheet scientific notation
  (``5.70306E+17``) is rejected, never expanded. Timestamps must carry a UTC offset unless the
  mapping declares one; day-first dates (``24-02-2015 11:35``) are rejected, never guessed; times
  outside the plausible bounds are rejected and far outliers reported
  (:mod:`complaintpanel.ingest.dates`).
* Encoding: one policy for the whole file (:mod:`complaintpanel.ingest.sources`): a record with
  invalid UTF-8 or a NUL byte is rejected, wherever it is; a file that is not UTF-8 text at all
  (UTF-16/32, binary) is refused whole with the fix.
* Unusable inputs (missing, empty, binary, a damaged gzip or Parquet file, a malformed mapping,
  an output path that is a file) raise :class:`IngestError` or
  :class:`~complaintpanel.ingest.mapping.MappingError`, both
  :class:`~complaintpanel.errors.PipelineError`: one line naming the file, nothing written.
* Duplicate ``tweet_id``: the first record (in file order) is kept; later ones are rejected as
  ``duplicate_tweet_id`` whether or not they are identical.
* Customer ``author_id`` values and every ``@handle`` in text that is not a brand handle are
  replaced by keyed pseudonyms (:mod:`complaintpanel.ingest.pseudonymise`) inside DuckDB,
  before any file is written. Brand handles = the mapping's list plus the authors of brand
  tweets in the file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from complaintpanel.config import IngestConfig
from complaintpanel.ingest.dates import bounds_us, created_at_outliers, utc_text
from complaintpanel.ingest.mapping import Mapping, builtin_mappings, load_mapping
from complaintpanel.ingest.pseudonymise import (
    key_file_for,
    pseudonym_sql,
    pseudonymise_text_query,
    resolve_key,
)
from complaintpanel.ingest.sources import (
    CR_PLACEHOLDER,
    IngestError,
    check_columns,
    has_columns,
    load_source,
    read_header,
    sniff_kind,
)
from complaintpanel.ingest.validate import REJECT_REASONS, derive_parents, validate
from complaintpanel.runtime.engines import (
    DuckDBEngine,
    Engine,
    engine_description,
    open_duckdb,
    open_engine,
)
from complaintpanel.runtime.io import (
    is_url,
    join_location,
    sha256_file,
    stage_outputs,
    write_json,
)

__all__ = ["REJECT_REASONS", "IngestError", "choose_mapping", "ingest", "open_duckdb"]

TWEETS_FILE = "tweets.parquet"
REJECTS_FILE = "rejects.parquet"
REPORT_FILE = "ingest_report.json"


def choose_mapping(path: Path, kind: str, con: duckdb.DuckDBPyConnection) -> Mapping:
    """Pick the first built-in mapping whose columns the file has, in any case (``twcs`` first)."""
    candidates = builtin_mappings()
    if kind == "json":
        jsons = [m for m in candidates.values() if m.format == "json_conversations"]
        return jsons[0]
    header = read_header(path, kind, con)
    for mapping in candidates.values():
        if mapping.format == "table" and has_columns(header, mapping):
            return mapping
    check_columns(path, header, candidates["twcs"])  # raises, naming what twcs misses
    raise AssertionError("unreachable")

def _brand_handles(engine: Engine, mapping: Mapping) -> list[str]:
    """List brand handles: authors of brand tweets (their spelling wins), then the mapping's."""
    authors = [r[0] for r in engine.rows(
        "SELECT DISTINCT aid FROM (SELECT aid, is_customer FROM checked WHERE reason IS NULL "
        "UNION ALL SELECT aid, is_customer FROM parents) WHERE NOT is_customer ORDER BY aid"
    )]
    seen = {a.lower() for a in authors}
    listed = dict.fromkeys([*mapping.brand_handles, *mapping.brand_authors])
    return authors + [h for h in listed if h.lower() not in seen]


def _build_tweets(engine: Engine, mapping: Mapping, key: bytes,
                  brand_handles: list[str], lone_cr: bool = True) -> None:
    """Create ``tweets``: the kept records, typed and pseudonymised (nothing raw survives)."""
    engine.register("brand_spelling", pa.table({
        "handle_lower": pa.array([h.lower() for h in brand_handles], pa.string()),
        "handle": pa.array(brand_handles, pa.string())}))
    extras = [f'"x_{c}"' for c in mapping.extra_columns]
    keep = ["source_row", "tweet_id_value", "aid", "is_customer", "created_ts", "irt_value",
            "brand", *extras]
    null_extras = "".join(f", CAST(NULL AS VARCHAR) AS {c}" for c in extras)
    # Lone CRs travel as a placeholder through the CSV reader (see ingest_sources); restore them.
    text = (f"replace(coalesce(text, ''), '{CR_PLACEHOLDER}', chr(13))" if lone_cr
            else "coalesce(text, '')")
    source = (f"(SELECT {', '.join(keep)}, false AS derived, {text} AS raw_text "
              "FROM checked WHERE reason IS NULL "
              "UNION ALL SELECT source_row, tweet_id_value, aid, is_customer, created_ts, "
              f"CAST(NULL AS BIGINT), CAST(NULL AS VARCHAR){null_extras}, true, '' FROM parents)")
    # Hash each distinct customer handle once (authors and the handle opening a text), then join.
    engine.create_table("handle_keys", f"""
        SELECT handle, {pseudonym_sql("handle", key)} AS pseudonym FROM (
            SELECT DISTINCT lower(aid) AS handle FROM checked WHERE reason IS NULL AND is_customer
            UNION SELECT DISTINCT lower(aid) FROM parents WHERE is_customer)
    """)
    text_query = pseudonymise_text_query(source, "raw_text", [*keep, "derived"], key,
                                         brand_handles, lookup="handle_keys")
    extra_out = "".join(f', t.{c} AS "{c[3:-1]}"' for c in extras)
    declared = ", t.brand AS brand_declared" if "brand" in mapping.columns else ""
    derived = ", t.derived" if mapping.parent_columns else ""
    engine.create_table("tweets", f"""
        SELECT t.tweet_id_value AS tweet_id,
               CASE WHEN t.is_customer THEN k.pseudonym ELSE t.aid END AS author_key,
               t.is_customer, t.created_ts AS created_at, t.text, t.irt_value AS in_reply_to,
               t.source_row{declared}, coalesce(b.handle, t.brand_mention) AS brand_mentioned
               {derived}{extra_out}
        FROM ({text_query}) t
        LEFT JOIN handle_keys k ON k.handle = lower(t.aid)
        LEFT JOIN brand_spelling b ON b.handle_lower = t.brand_mention
    """)


def _scalar(engine: Engine, sql: str) -> Any:
    return engine.rows(sql)[0][0]


def _report(engine: Engine, rows_in: int) -> dict[str, Any]:
    derived = "derived" if "derived" in engine.columns("tweets") else "false"
    counts = dict(engine.rows(f"""
        SELECT 'rows_kept', count(*) FILTER (WHERE NOT {derived}) FROM tweets
        UNION ALL SELECT 'tweets_derived', count(*) FILTER (WHERE {derived}) FROM tweets
        UNION ALL SELECT 'rows_rejected', count(*) FROM rejects
        UNION ALL SELECT 'tweets_customer', count(*) FILTER (WHERE is_customer) FROM tweets
        UNION ALL SELECT 'tweets_brand', count(*) FILTER (WHERE NOT is_customer) FROM tweets
        UNION ALL SELECT 'customers', count(DISTINCT author_key) FILTER (WHERE is_customer)
                  FROM tweets
        UNION ALL SELECT 'brand_authors', count(DISTINCT author_key) FILTER (WHERE NOT is_customer)
                  FROM tweets
        UNION ALL SELECT 'replies', count(in_reply_to) FROM tweets
        UNION ALL SELECT 'replies_to_missing_parent', count(*) FROM tweets t
                  WHERE in_reply_to IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM tweets p WHERE p.tweet_id = t.in_reply_to)
    """))
    by_reason = dict(engine.rows(
        "SELECT reason, count(*) FROM rejects GROUP BY reason ORDER BY reason"))
    first, last = engine.rows(
        "SELECT epoch_us(min(created_at)), epoch_us(max(created_at)) FROM tweets")[0]
    return {"rows_in": rows_in, **counts, "rejects_by_reason": by_reason,
            "first_created_at": utc_text(first), "last_created_at": utc_text(last)}


def ingest(
    raw: str | Path,
    out_dir: str | Path,
    *,
    mapping: str | Path | Mapping | None = None,
    key: bytes | str | None = None,
    key_env: str = "COMPLAINTPANEL_KEY",
    threads: int | None = None,
    memory_limit: str | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    created_at_min: str = IngestConfig.created_at_min,
    created_at_max: str | None = IngestConfig.created_at_max,
    outlier_gap_days: float = IngestConfig.outlier_gap_days,
) -> dict[str, Any]:
    """Read one raw file and write ``tweets.parquet``, ``rejects.parquet``, ``ingest_report.json``.

    Parameters
    ----------
    raw : path-like
        CSV (plain or gzip), Parquet or conversation JSON.
    out_dir : path-like or str
        Output folder (e.g. ``data/interim/NAME``); with ``engine="spark"`` also a URL such as
        ``s3a://bucket/interim/NAME`` (the key must then come from ``key`` or ``$key_env``).
    mapping : str, Path or Mapping, optional
        Built-in mapping name, TOML file or :class:`Mapping`; ``None`` picks the first built-in
        mapping whose columns the file has (``twcs`` first; JSON → ``ibm_docpred``).
    key : bytes or str, optional
        Pseudonymisation key; else ``$key_env``; else a key file beside ``out_dir``.
    key_env : str
        Environment variable that may hold the key.
    threads, memory_limit : optional
        DuckDB resources (default: all cores, 80 % of RAM).
    engine : {"duckdb", "spark"}
        Where validation, pseudonymisation and accounting run
        (:mod:`complaintpanel.runtime.engines`); the outputs are the same on both.
    spark_master : str, optional
        Spark master for ``engine="spark"`` (e.g. ``local[2]``); default: the running session's,
        else ``local[*]``.
    created_at_min, created_at_max : str, optional
        Plausible creation times (ISO 8601; ``[ingest]`` settings of the same names): records
        outside are rejected as ``created_at_out_of_range``; ``created_at_max = None`` is the
        time of the run plus one day.
    outlier_gap_days : float
        How far from the bulk of the customer tweets a kept tweet is reported as an outlier
        (:func:`complaintpanel.ingest.dates.created_at_outliers`).

    Returns
    -------
    dict
        The ingest report (also written to ``ingest_report.json``).

    Raises
    ------
    IngestError
        When the input is missing, empty, not text, a damaged gzip or Parquet file, or lacks
        the mapping's columns, or the output path is a file. Nothing is written in that case.
    MappingError
        When the mapping is unknown or malformed.
    PseudonymisationKeyError
        When the key is too short or its file cannot be read or created.
    """
    started = time.perf_counter()
    low_us, high_us, bounds = bounds_us(created_at_min, created_at_max)
    if is_url(raw):
        raise IngestError("the raw file is read where the pipeline runs (its records are "
                          "numbered in one pass); copy it to a local or mounted disk first",
                          file=str(raw))
    raw = Path(raw)
    kind = sniff_kind(raw)
    if is_url(out_dir):
        if engine != "spark":
            raise IngestError("URLs (object storage) need engine='spark'", file=str(out_dir))
        if key is None and not os.environ.get(key_env):
            raise IngestError(f"writing to object storage needs the pseudonymisation key in "
                              f"${key_env} (a key file is made only beside local folders)",
                              file=str(out_dir))
        scratch_parent = Path(tempfile.gettempdir())
        name = str(out_dir).rstrip("/").rsplit("/", 1)[-1]
    else:
        out_dir = Path(out_dir)
        # Scratch space (normalised copies, DuckDB spill) beside the output, on the same disk;
        # the output folder itself is created only when the outputs are written.
        scratch_parent = out_dir.resolve().parent
        for folder in (out_dir, *out_dir.resolve().parents):
            if folder.exists() and not folder.is_dir():
                raise IngestError(f"the output folder is not a folder: {folder} is a file",
                                  file=out_dir)
        try:
            scratch_parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise IngestError(f"cannot create the output's parent folder "
                              f"({error.strerror or error})", file=scratch_parent) from None
        name = out_dir.name
    if key is not None or key_env in os.environ or (
            isinstance(out_dir, Path) and key_file_for(out_dir).exists()):
        resolve_key(out_dir, key_env, key)  # a short key stops the run before any work
    work_dir = Path(tempfile.mkdtemp(prefix=f".{name}.ingest-", dir=scratch_parent))
    try:
        # The raw file is split into numbered string records by DuckDB's CSV reader, whatever
        # the engine (see complaintpanel.runtime.engines); the engine does everything after that.
        con = open_duckdb(work_dir, threads, memory_limit)
        if mapping is None:
            chosen = choose_mapping(raw, kind, con)
        elif isinstance(mapping, Mapping):
            chosen = mapping
        else:
            chosen = load_mapping(mapping)
        info = load_source(con, raw, kind, chosen, work_dir)
        stage: Engine
        if engine == "duckdb":
            stage = DuckDBEngine(con)
        else:
            stage = open_engine(engine, spark_master=spark_master)
            for table in ("records", "parse_rejects"):
                staged = work_dir / f"{table}.parquet"
                con.execute(f"COPY {table} TO '{staged}' (FORMAT parquet)")
                stage.load_parquet(table, staged)
        rows_in = _scalar(stage, "SELECT (SELECT count(*) FROM records) "
                                 "+ (SELECT count(*) FROM parse_rejects)")
        if rows_in == 0:
            raise IngestError("has no records (header only?); nothing to ingest", file=raw)
        validate(stage, chosen, (low_us, high_us))
        parent_stats = derive_parents(stage, chosen)
        key_bytes, key_source = resolve_key(out_dir, key_env, key)
        brand_handles = _brand_handles(stage, chosen)
        _build_tweets(stage, chosen, key_bytes, brand_handles,
                      lone_cr=info.normalisation.get("lone_cr", 1) > 0)
        stage.create_table("rejects", """
            SELECT source_row, reason, detail,
                   CASE WHEN regexp_full_match(trim(tid), '[0-9eE.+-]{1,40}') THEN trim(tid) END
                AS tweet_id_raw
            FROM checked WHERE reason IS NOT NULL
            UNION ALL
            SELECT CAST(source_row AS BIGINT), reason, detail, CAST(NULL AS VARCHAR)
            FROM parse_rejects
        """)
        report = _report(stage, rows_in)
        _check_accounting(stage, report, raw)
        report["created_at_bounds"] = bounds
        report["created_at_outliers"] = created_at_outliers(stage, outlier_gap_days)
        if chosen.brand_authors:
            listed = ", ".join("'" + h.lower().replace("'", "''") + "'"
                               for h in chosen.brand_authors)
            report["brand_authors_listed"] = _scalar(
                stage, f"SELECT count(*) FROM tweets WHERE lower(author_key) IN ({listed})")
        digest = sha256_file(raw)
        report.update({
            "input": {"path": str(raw), "sha256": digest, "bytes": raw.stat().st_size,
                      "kind": info.kind, "columns": info.header},
            "input_sha256": digest,
            "mapping": chosen.name,
            **({"derived_parents": parent_stats} if parent_stats else {}),
            "normalisation": info.normalisation,
            "brands": len({*brand_handles_in_data(stage)}),
            "brands_mentioned": _scalar(stage,
                                        "SELECT count(DISTINCT brand_mentioned) FROM tweets"),
            "brand_handles_known": len(brand_handles),
            "pseudonymisation": {"method": "HMAC-SHA256(key, lower(handle)), 16 hex digits",
                                 "key_source": key_source.split(":", 1)[0]},
            "record_definition": (
                "JSON: one turn of a conversation" if info.kind == "json" else
                "CSV record (RFC 4180); CRLF = one line end; a CR not followed by LF is text; "
                "blank lines outside quotes are not records"),
            "engine": engine_description(stage),
        })
        _write_outputs(stage, out_dir, report, started)
        if not isinstance(stage, DuckDBEngine):  # the DuckDB engine is `con`, closed below
            stage.close()
        con.close()
        return report
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def brand_handles_in_data(engine: Engine) -> set[str]:
    """Brands taking part in the data: brand authors and declared brands of kept tweets."""
    sql = "SELECT DISTINCT author_key FROM tweets WHERE NOT is_customer"
    if "brand_declared" in engine.columns("tweets"):
        sql += " UNION SELECT DISTINCT brand_declared FROM tweets WHERE brand_declared IS NOT NULL"
    return {r[0] for r in engine.rows(sql)}


def _check_accounting(engine: Engine, report: dict[str, Any], raw: Path) -> None:
    """Check that each record number 1..rows_in is once in tweets or rejects, with a reason.

    A failure is a bug of the reader, never of the input: it raises ``RuntimeError``.
    """
    derived = "derived" if "derived" in engine.columns("tweets") else "false"
    n, lo, hi = engine.rows(f"""
        SELECT count(DISTINCT source_row), min(source_row), max(source_row)
        FROM (SELECT source_row FROM tweets WHERE NOT {derived}
              UNION ALL SELECT source_row FROM rejects)
    """)[0]
    total = report["rows_kept"] + report["rows_rejected"]
    unknown = sorted(str(r) for r in report["rejects_by_reason"] if r not in REJECT_REASONS)
    if not (total == report["rows_in"] == n and lo == 1 and hi == report["rows_in"]) or unknown:
        raise RuntimeError(
            f"{raw}: accounting does not reconcile (rows_in {report['rows_in']}, kept + rejected "
            f"{total}, distinct record numbers {n} in [{lo}, {hi}], reasons not known: "
            f"{unknown}); please report this bug")


def _write_outputs(engine: Engine, out_dir: Path | str, report: dict[str, Any],
                   started: float) -> None:
    """Write the three outputs and commit them as one set (``runtime.io.stage_outputs``).

    Locally a reader never sees tweets of one input beside the report of another: the files are
    written to the stage's scratch folder and renamed into place under a completion record that
    readers check. On object storage Spark's commit protocol makes each folder appear whole.
    """
    derived = ", derived" if "derived" in engine.columns("tweets") else ""
    queries = {TWEETS_FILE: f"SELECT * FROM tweets ORDER BY source_row{derived}",
               REJECTS_FILE: "SELECT * FROM rejects ORDER BY source_row"}
    if not isinstance(out_dir, Path):  # object storage: Spark commits each folder whole
        for name, query in queries.items():
            engine.write_parquet(query, join_location(out_dir, name))
        report["seconds"] = round(time.perf_counter() - started, 3)
        write_json(report, join_location(out_dir, REPORT_FILE))
        return
    with stage_outputs("ingest", out_dir) as outputs:
        for name, query in queries.items():
            engine.write_parquet(query, outputs.path(name))
        report["seconds"] = round(time.perf_counter() - started, 3)
        write_json(report, outputs.path(REPORT_FILE))
