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
* Several inputs are one archive (:func:`_load_archive`, ``docs/ingest.md``): each file is read
  and validated with its own mapping, record numbers run on across the files, and a tweet kept
  in two files is kept from the first; the later record is ``duplicate_across_files`` when
  identical, ``duplicate_conflicting`` (naming both files) when not. The report accounts for
  each file and for the union.
* Real-export quirks (:mod:`complaintpanel.ingest.quirks`): mojibake is repaired (ftfy) and
  counted; a damaged response-id list is flagged per row (``response_list_issue``) and never
  used; an input of brand tweets only gets the customer each reply addresses inferred.
* Customer ``author_id`` values and every ``@handle`` in text that is not a brand handle are
  replaced by keyed pseudonyms (:mod:`complaintpanel.ingest.pseudonymise`) inside the engine,
  before any file is written (on DuckDB the texts with a mention after their start are
  rewritten in this process's Python, :func:`_mention_texts`). Brand handles = the mapping's
  list plus the authors of brand tweets in the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from complaintpanel.config import IngestConfig
from complaintpanel.ingest.dates import bounds_us, created_at_outliers, utc_text
from complaintpanel.ingest.mapping import Mapping, builtin_mappings, load_mapping
from complaintpanel.ingest.pseudonymise import (
    is_brand_sql,
    key_file_for,
    pseudonym_sql,
    pseudonymise_text_query,
    pseudonymise_texts,
    resolve_key,
)
from complaintpanel.ingest.quirks import repair_mojibake
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

__all__ = ["REJECT_REASONS", "IngestError", "choose_mapping", "ingest", "input_files",
           "open_duckdb"]

TWEETS_FILE = "tweets.parquet"
_NO_CHECKPOINT = "1TB"  # checkpoint_threshold of the ingest's DuckDB database
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
                  brand_handles: list[str], lone_cr: bool = True,
                  mojibake_fixes: bool = False) -> None:
    """Create ``tweets``: the kept records, typed and pseudonymised (nothing raw survives).

    With ``mojibake_fixes`` the repaired texts of table ``mojibake_fixes``
    (:func:`complaintpanel.ingest.quirks.repair_mojibake` with ``defer=True``) replace the
    records' texts here, in the one pass that reads them.
    """
    engine.register("brand_spelling", pa.table({
        "handle_lower": pa.array([h.lower() for h in brand_handles], pa.string()),
        "handle": pa.array(brand_handles, pa.string())}))
    extras = [f'"x_{c}"' for c in mapping.extra_columns]
    # Columns only some inputs have: the input file of a record (several inputs) and the flag
    # of a damaged response list; parents (derived tweets) have no response list.
    present = engine.columns("checked")
    carried = [c for c in _CARRIED if c in present]
    keep = ["source_row", "tweet_id_value", "aid", "is_customer", "created_ts", "irt_value",
            "brand", *extras, *carried]
    null_extras = "".join(f", CAST(NULL AS VARCHAR) AS {c}" for c in extras)
    null_extras += "".join(f", {_CARRIED[c]} AS {c}" for c in carried)
    # Lone CRs travel as a placeholder through the CSV reader (see ingest_sources); restore them.
    text = (f"replace(coalesce(text, ''), '{CR_PLACEHOLDER}', chr(13))" if lone_cr
            else "coalesce(text, '')")
    records = "checked"
    if mojibake_fixes:
        repaired = ", ".join("coalesce(f.fixed_text, c.text) AS text" if c == "text"
                             else f'c."{c}"' for c in present)
        records = (f"(SELECT {repaired} FROM checked c "
                   "LEFT JOIN mojibake_fixes f ON f.fix_row = c.source_row)")
    source = (f"(SELECT {', '.join(keep)}, false AS derived, {text} AS raw_text "
              f"FROM {records} WHERE reason IS NULL "
              "UNION ALL SELECT source_row, tweet_id_value, aid, is_customer, created_ts, "
              f"CAST(NULL AS BIGINT), CAST(NULL AS VARCHAR){null_extras}, true, '' FROM parents)")
    # Hash each distinct customer handle once (authors and the handle opening a text), then join.
    engine.create_table("handle_keys", f"""
        SELECT handle, {pseudonym_sql("handle", key)} AS pseudonym FROM (
            SELECT DISTINCT lower(aid) AS handle FROM checked WHERE reason IS NULL AND is_customer
            UNION SELECT DISTINCT lower(aid) FROM parents WHERE is_customer)
    """)
    rewritten = None
    if isinstance(engine, DuckDBEngine):
        rewritten = _mention_texts(engine, key, brand_handles, lone_cr, mojibake_fixes)
    text_query = pseudonymise_text_query(source, "raw_text", [*keep, "derived"], key,
                                         brand_handles, lookup="handle_keys",
                                         rewritten=rewritten)
    extra_out = "".join(f', t.{c} AS "{c[3:-1]}"' for c in extras)
    declared = ", t.brand AS brand_declared" if "brand" in mapping.columns else ""
    derived = ", t.derived" if mapping.parent_columns else ""
    carried_out = "".join(f", t.{c}" for c in carried)
    engine.create_table("tweets", f"""
        SELECT t.tweet_id_value AS tweet_id,
               CASE WHEN t.is_customer THEN k.pseudonym ELSE t.aid END AS author_key,
               t.is_customer, t.created_ts AS created_at, t.text, t.irt_value AS in_reply_to,
               t.source_row{declared}, coalesce(b.handle, t.brand_mention) AS brand_mentioned
               {derived}{extra_out}{carried_out}
        FROM ({text_query}) t
        LEFT JOIN handle_keys k ON k.handle = lower(t.aid)
        LEFT JOIN brand_spelling b ON b.handle_lower = t.brand_mention
    """)
    if rewritten:
        engine.drop(rewritten)


def _mention_texts(engine: DuckDBEngine, key: bytes, brand_handles: list[str], lone_cr: bool,
                   mojibake_fixes: bool) -> str:
    """Create ``mention_texts``: the kept texts with an ``@`` after their start, pseudonymised.

    These few texts (6 % of the real excerpts) are rewritten in Python
    (:func:`complaintpanel.ingest.pseudonymise.pseudonymise_texts`, each distinct handle hashed
    once) instead of by the SQL split into mentions, which costs about three times the rest of
    the text rewriting. The texts are the ones the SQL would see: mojibake repaired, lone CRs
    restored; a repaired text is looked at whatever its original looked like.

    Returns
    -------
    str
        The table's name, for :func:`pseudonymise_text_query` (``rewritten``).
    """
    # The texts as the SQL would see them (mojibake repaired, lone CRs restored), chosen in SQL.
    text = "coalesce(f.fixed_text, c.text)" if mojibake_fixes else "c.text"
    if lone_cr:
        text = f"replace({text}, '{CR_PLACEHOLDER}', chr(13))"
    repaired = ("LEFT JOIN mojibake_fixes f ON f.fix_row = c.source_row" if mojibake_fixes
                else "")
    found = engine.con.sql(f"""
        SELECT source_row, text FROM (
            SELECT c.source_row, {text} AS text FROM checked c {repaired}
            WHERE c.reason IS NULL AND c.text IS NOT NULL)
        WHERE contains(text, '@') AND NOT (starts_with(text, '@') AND text NOT LIKE '@%@%')
    """).to_arrow_table()
    rows = found.column("source_row").to_pylist()
    originals = found.column("text").to_pylist()
    rewritten, mentioned = pseudonymise_texts(originals, key, brand_handles)
    engine.register("mention_texts", pa.table({
        "pre_row": pa.array(rows, pa.int64()), "pre_text": pa.array(rewritten, pa.string()),
        "pre_brand": pa.array(mentioned, pa.string())}))
    return "mention_texts"


# Columns of ``checked`` carried into ``tweets`` when present, with their value for parents.
_CARRIED = {"source_file": "source_file", "file_row": "file_row",
            "response_list_issue": "CAST(NULL AS VARCHAR)"}


def _scalar(engine: Engine, sql: str) -> Any:
    return engine.rows(sql)[0][0]


def _report(engine: Engine, rows_in: int) -> dict[str, Any]:
    """Count the report's figures: one aggregate pass over ``tweets``, one anti join, rejects."""
    derived = "derived" if "derived" in engine.columns("tweets") else "false"
    (kept, derived_n, customer, brand, customers, brand_authors, replies, first,
     last), = engine.rows(f"""
        SELECT count(*) FILTER (WHERE NOT {derived}), count(*) FILTER (WHERE {derived}),
               count(*) FILTER (WHERE is_customer), count(*) FILTER (WHERE NOT is_customer),
               count(DISTINCT author_key) FILTER (WHERE is_customer),
               count(DISTINCT author_key) FILTER (WHERE NOT is_customer),
               count(in_reply_to), epoch_us(min(created_at)), epoch_us(max(created_at))
        FROM tweets
    """)
    missing_parent = _scalar(engine, """
        SELECT count(*) FROM tweets t
        WHERE in_reply_to IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM tweets p WHERE p.tweet_id = t.in_reply_to)
    """)
    by_reason = dict(engine.rows(
        "SELECT reason, count(*) FROM rejects GROUP BY reason ORDER BY reason"))
    counts = {"rows_kept": kept, "tweets_derived": derived_n,
              "rows_rejected": sum(by_reason.values()), "tweets_customer": customer,
              "tweets_brand": brand, "customers": customers, "brand_authors": brand_authors,
              "replies": replies, "replies_to_missing_parent": missing_parent}
    return {"rows_in": rows_in, **counts, "rejects_by_reason": by_reason,
            "first_created_at": utc_text(first), "last_created_at": utc_text(last)}


def ingest(
    raw: str | Path | Sequence[str | Path],
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
    raw : path-like or sequence of path-like
        CSV (plain or gzip), Parquet or conversation JSON; a folder stands for its files of
        those kinds (in name order). Several inputs are read as one archive
        (:func:`_load_archive`): each with its own mapping, record numbers running on across
        them, duplicates across files removed (identical) or quarantined (conflicting), and
        the report accounting for each file and for the union (``docs/ingest.md``).
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
    files = input_files(raw)
    kinds = [sniff_kind(path) for path in files]
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
    # The inputs' digests are computed beside the work (hashlib releases the GIL).
    hashing = ThreadPoolExecutor(max_workers=1)
    digests = [hashing.submit(sha256_file, path) for path in files]
    try:
        # The raw file is split into numbered string records by DuckDB's CSV reader, whatever
        # the engine (see complaintpanel.runtime.engines); the engine does everything after that.
        con = open_duckdb(work_dir, threads, memory_limit)
        # No automatic checkpoint of this private in-memory database: the first UPDATE after
        # millions of rows were loaded (duplicates, validate()) would otherwise compress every
        # table, about 23 CPU seconds on 2.8M records, for nothing (it is never persisted).
        con.execute(f"SET checkpoint_threshold = '{_NO_CHECKPOINT}'")
        mappings = []
        for path, kind in zip(files, kinds, strict=True):
            if mapping is None:
                mappings.append(choose_mapping(path, kind, con))
            elif isinstance(mapping, Mapping):
                mappings.append(mapping)
            else:
                mappings.append(load_mapping(mapping))
        stage: Engine
        if len(files) == 1:
            raw_path, chosen = files[0], mappings[0]
            info = load_source(con, raw_path, kinds[0], chosen, work_dir)
            if engine == "duckdb":
                stage = DuckDBEngine(con)
            else:
                stage = open_engine(engine, spark_master=spark_master)
                _hand_over(con, stage, ("records", "parse_rejects"), work_dir)
            rows_in = _scalar(stage, "SELECT (SELECT count(*) FROM records) "
                                     "+ (SELECT count(*) FROM parse_rejects)")
            if rows_in == 0:
                raise IngestError("has no records (header only?); nothing to ingest",
                                  file=raw_path)
            validate(stage, chosen, (low_us, high_us))
            parent_stats = derive_parents(stage, chosen)
            repaired = repair_mojibake(stage, defer=True)
            lone_cr = info.normalisation.get("lone_cr", 1) > 0
            per_file: list[dict[str, Any]] = [{"info": info, "mapping": chosen,
                                               "rows_in": rows_in, "mojibake_repaired": repaired,
                                               "derived_parents": parent_stats}]
        else:
            stage = (DuckDBEngine(con) if engine == "duckdb"
                     else open_engine(engine, spark_master=spark_master))
            per_file = _load_archive(con, stage, files, kinds, mappings, work_dir,
                                     (low_us, high_us))
            rows_in = sum(f["rows_in"] for f in per_file)
            chosen = _merged_mapping(mappings)
            parent_stats = {}
            lone_cr = any(f["info"].normalisation.get("lone_cr", 1) > 0 for f in per_file)
            raw_path = files[0]
        key_bytes, key_source = resolve_key(out_dir, key_env, key)
        brand_handles = _brand_handles(stage, chosen)
        deferred = len(files) == 1 and per_file[0]["mojibake_repaired"] > 0
        _build_tweets(stage, chosen, key_bytes, brand_handles, lone_cr=lone_cr,
                      mojibake_fixes=deferred)
        if deferred:
            stage.drop("mojibake_fixes")
        brand_only = [i for i in range(1, len(per_file) + 1)
                      if _is_brand_only(stage, i if len(files) > 1 else None)]
        if brand_only:
            _infer_customers(stage, brand_handles)
        several = ", source_file, file_row" if len(files) > 1 else ""
        stage.create_table("rejects", f"""
            SELECT source_row, reason, detail,
                   CASE WHEN regexp_full_match(trim(tid), '[0-9eE.+-]{{1,40}}') THEN trim(tid) END
                AS tweet_id_raw{several}
            FROM checked WHERE reason IS NOT NULL
            UNION ALL
            SELECT CAST(source_row AS BIGINT), reason, detail, CAST(NULL AS VARCHAR){several}
            FROM parse_rejects
        """)
        report = _report(stage, rows_in)
        _check_accounting(stage, report, raw_path)
        report["created_at_bounds"] = bounds
        report["created_at_outliers"] = created_at_outliers(stage, outlier_gap_days)
        listed_authors = sorted({h for m in mappings for h in m.brand_authors})
        if listed_authors:
            listed = ", ".join("'" + h.lower().replace("'", "''") + "'" for h in listed_authors)
            report["brand_authors_listed"] = _scalar(
                stage, f"SELECT count(*) FROM tweets WHERE lower(author_key) IN ({listed})")
        inputs = []
        for path, entry, digest_of in zip(files, per_file, digests, strict=True):
            digest = digest_of.result()
            inputs.append({"path": str(path), "sha256": digest, "bytes": path.stat().st_size,
                           "kind": entry["info"].kind, "columns": entry["info"].header,
                           "mapping": entry["mapping"].name,
                           "normalisation": entry["info"].normalisation})
        quirks = _quirk_report(stage, per_file, brand_only, len(files) > 1)
        report.update({
            "input": {k: v for k, v in inputs[0].items() if k not in ("mapping", "normalisation")},
            "input_sha256": inputs[0]["sha256"],
            "mapping": chosen.name,
            **({"derived_parents": parent_stats} if parent_stats else {}),
            "normalisation": (per_file[0]["info"].normalisation if len(files) == 1
                              else _summed([f["info"].normalisation for f in per_file])),
            **quirks,
            "brands": len({*brand_handles_in_data(stage)}),
            "brands_mentioned": _scalar(stage,
                                        "SELECT count(DISTINCT brand_mentioned) FROM tweets"),
            "brand_handles_known": len(brand_handles),
            "pseudonymisation": {"method": "HMAC-SHA256(key, lower(handle)), 16 hex digits",
                                 "key_source": key_source.split(":", 1)[0]},
            "record_definition": (
                "JSON: one turn of a conversation" if per_file[0]["info"].kind == "json" else
                "CSV record (RFC 4180); CRLF = one line end; a CR not followed by LF is text; "
                "blank lines outside quotes are not records"),
            "engine": engine_description(stage),
        })
        if len(files) > 1:
            report["files"] = _file_accounting(stage, inputs, per_file)
            report["input_sha256"] = _archive_digest(inputs)
        _write_outputs(stage, out_dir, report, started)
        if not isinstance(stage, DuckDBEngine):  # the DuckDB engine is `con`, closed below
            stage.close()
        con.close()
        return report
    finally:
        hashing.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(work_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Several inputs as one archive
# ---------------------------------------------------------------------------------------------
_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet", ".json", ".tsv")


def input_files(raw: str | Path | Sequence[str | Path]) -> list[Path]:
    """Expand the raw input(s) to a list of files: a file, several files, or folders.

    A folder stands for its CSV (plain or gzip), Parquet and JSON files, in name order (hidden
    files are skipped). The same file named twice is an error.

    Raises
    ------
    IngestError
        When an input is a URL, a folder holds no such file, or a file is given twice.
    """
    items = [raw] if isinstance(raw, str | Path) else list(raw)
    if not items:
        raise IngestError("no input file given")
    files: list[Path] = []
    for item in items:
        if is_url(item):
            raise IngestError("the raw file is read where the pipeline runs (its records are "
                              "numbered in one pass); copy it to a local or mounted disk first",
                              file=str(item))
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file()
                           and not p.name.startswith(".") and p.name.lower().endswith(_SUFFIXES))
            if not found:
                raise IngestError("is a folder without CSV, Parquet or JSON files", file=path)
            files.extend(found)
        else:
            files.append(path)
    seen: dict[Path, Path] = {}
    for path in files:
        resolved = path.resolve()
        if resolved in seen:
            raise IngestError(f"is given twice (also as {seen[resolved]}); name each input once",
                              file=path)
        seen[resolved] = path
    return files


def _file_labels(files: list[Path]) -> list[str]:
    """Names of the inputs in reasons: the file name, or the path where names repeat."""
    names = [p.name for p in files]
    return [p.name if names.count(p.name) == 1 else str(p) for p in files]


def _merged_mapping(mappings: list[Mapping]) -> Mapping:
    """One mapping describing the union: extras, brand lists and parents of all inputs."""
    first = mappings[0]
    if len({m.name for m in mappings}) == 1:
        return first
    names = "+".join(dict.fromkeys(m.name for m in mappings))
    columns = dict(first.columns)
    if any("brand" in m.columns for m in mappings):
        columns.setdefault("brand", "brand")
    return replace(
        first, name=names,
        columns=columns,
        extra_columns=tuple(dict.fromkeys(c for m in mappings for c in m.extra_columns)),
        brand_handles=tuple(dict.fromkeys(h for m in mappings for h in m.brand_handles)),
        brand_authors=tuple(dict.fromkeys(h for m in mappings for h in m.brand_authors)),
        parent_columns=next((m.parent_columns for m in mappings if m.parent_columns), {}),
    )


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    kind = con.sql("SELECT table_type FROM information_schema.tables "
                   f"WHERE table_name = '{name}'").fetchall()
    if kind:
        con.execute(f"DROP {'VIEW' if kind[0][0] == 'VIEW' else 'TABLE'} {name}")


def _hand_over(con: duckdb.DuckDBPyConnection, stage: Engine, tables: tuple[str, ...],
               folder: Path) -> None:
    """Copy DuckDB's ``tables`` to the stage engine (Spark) through Parquet files in ``folder``.

    The raw files are split into records by DuckDB whatever the engine; the engine takes over
    from there. The Parquet files must outlive the run's queries (Spark reads them lazily).
    """
    for table in tables:
        staged = folder / f"{table}.parquet"
        con.execute(f"COPY {table} TO '{staged}' (FORMAT parquet)")
        stage.load_parquet(table, staged)


def _load_archive(con: duckdb.DuckDBPyConnection, stage: Engine, files: list[Path],
                  kinds: list[str], mappings: list[Mapping], work_dir: Path,
                  bounds: tuple[int, int]) -> list[dict[str, Any]]:
    """Read and validate each input with its mapping, then unite them as one archive.

    Record numbers (``source_row``) run on across the files in the order given (file 2's
    first record follows file 1's last), so every record of the archive has one number;
    ``source_file`` (1-based) and ``file_row`` say where it came from. Each file is validated on
    its own (its duplicates, its parents, its mojibake), then the union's duplicates across
    files are resolved (:func:`_cross_file_duplicates`). Each file is split into records by
    DuckDB; on another engine (Spark) its records go over to that engine, which does the rest.
    """
    per_file: list[dict[str, Any]] = []
    offset = 0
    extras = list(dict.fromkeys(c for m in mappings for c in m.extra_columns))
    for index, (path, kind, mapping) in enumerate(zip(files, kinds, mappings, strict=True), 1):
        scratch = work_dir / f"input-{index}"
        scratch.mkdir()
        info = load_source(con, path, kind, mapping, scratch)
        rows_in = con.sql("SELECT (SELECT count(*) FROM records) "
                          "+ (SELECT count(*) FROM parse_rejects)").fetchall()[0][0]
        if rows_in == 0:
            raise IngestError("has no records (header only?); nothing to ingest", file=path)
        where = (f"source_row + {offset} AS source_row, {index} AS source_file, "
                 "source_row AS file_row")
        con.execute(f"CREATE TABLE records_numbered AS SELECT {where}, * EXCLUDE (source_row) "
                    "FROM records")
        con.execute(f"CREATE TABLE parse_rejects_{index} AS SELECT CAST(source_row AS BIGINT) "
                    f"+ {offset} AS source_row, reason, detail, {index} AS source_file, "
                    "CAST(source_row AS BIGINT) AS file_row FROM parse_rejects")
        _drop_relation(con, "records")
        for table in ("csv_rows", "parse_rejects", "reject_gaps", "csv_errors", "csv_scans"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("ALTER TABLE records_numbered RENAME TO records")
        if not isinstance(stage, DuckDBEngine):
            _hand_over(con, stage, ("records", f"parse_rejects_{index}"), scratch)
            for table in ("records", f"parse_rejects_{index}"):
                con.execute(f"DROP TABLE {table}")
        validate(stage, mapping, bounds)
        parent_stats = derive_parents(stage, mapping)
        repaired = repair_mojibake(stage)
        columns = stage.columns("checked")
        kept = ["source_row", "source_file", "file_row", "tid", "aid", "brand", "text",
                "tweet_id_value", "is_customer", "created_ts", "irt_value", "reason", "detail"]
        select = [f'"{c}"' for c in kept]
        select += [f'"x_{c}"' if f"x_{c}" in columns else f'CAST(NULL AS VARCHAR) AS "x_{c}"'
                   for c in extras]
        select.append("response_list_issue" if "response_list_issue" in columns
                      else "CAST(NULL AS VARCHAR) AS response_list_issue")
        # validate() keeps source_file and file_row only through `records`: join them back.
        stage.create_table(f"checked_{index}", f"""
            SELECT {", ".join(select)} FROM (
                SELECT c.*, r.source_file, r.file_row FROM checked c
                JOIN (SELECT source_row AS r_row, source_file, file_row FROM records) r
                  ON r.r_row = c.source_row)
        """)
        stage.create_table(f"parents_{index}", f"""
            SELECT p.source_row, p.tweet_id_value, p.aid, p.is_customer, p.created_ts,
                   {index} AS source_file, p.source_row - {offset} AS file_row
            FROM parents p
        """)
        for table in ("checked", "parents", "records"):
            stage.drop(table)
        per_file.append({"info": info, "mapping": mapping, "rows_in": rows_in,
                         "first_row": offset + 1, "mojibake_repaired": repaired,
                         "derived_parents": parent_stats})
        offset += rows_in
    union = " UNION ALL ".join(f"SELECT * FROM checked_{i}" for i in range(1, len(files) + 1))
    stage.create_table("checked", union)
    stage.create_table("parse_rejects", " UNION ALL ".join(
        f"SELECT * FROM parse_rejects_{i}" for i in range(1, len(files) + 1)))
    # A parent described by several files is added once (first record wins), and not at all
    # when the archive holds the tweet itself.
    stage.create_table("parents", f"""
        SELECT source_row, tweet_id_value, aid, is_customer, created_ts, source_file, file_row
        FROM (SELECT *, row_number() OVER (PARTITION BY tweet_id_value ORDER BY source_row) AS nth
              FROM ({" UNION ALL ".join(f"SELECT * FROM parents_{i}"
                                         for i in range(1, len(files) + 1))}) p
              WHERE NOT EXISTS (SELECT 1 FROM checked c WHERE c.reason IS NULL
                                AND c.tweet_id_value = p.tweet_id_value))
        WHERE nth = 1
    """)
    for i in range(1, len(files) + 1):
        for table in (f"checked_{i}", f"parents_{i}", f"parse_rejects_{i}"):
            stage.drop(table)
    _cross_file_duplicates(stage, _file_labels(files))
    return per_file


# Fields compared to tell an exact duplicate from a conflicting one (text only when both
# records have one: reply-pairs layouts carry none).
_COMPARED = (("lower(c.aid) IS DISTINCT FROM lower(f.aid)", "author_id"),
             ("c.is_customer IS DISTINCT FROM f.is_customer", "inbound"),
             ("c.created_ts IS DISTINCT FROM f.created_ts", "created_at"),
             ("c.irt_value IS DISTINCT FROM f.irt_value", "in_reply_to"),
             ("c.text <> '' AND f.text <> '' AND c.text IS DISTINCT FROM f.text", "text"))


def _cross_file_duplicates(engine: Engine, labels: list[str]) -> None:
    """Resolve records of one ``tweet_id`` kept in several files of the archive.

    The first record (in archive order) is kept. A later one that agrees on every field (author,
    inbound, created_at, reply link, and text where both have one; texts after mojibake repair)
    is removed as ``duplicate_across_files``; one that differs is quarantined as
    ``duplicate_conflicting``, its detail naming both files, both record numbers and the fields
    that differ (never their values).
    """
    if not engine.rows("SELECT count(*) FROM (SELECT tweet_id_value FROM checked "
                       "WHERE reason IS NULL GROUP BY 1 HAVING count(*) > 1)")[0][0]:
        return
    engine.register("file_labels", pa.table({
        "label_file": pa.array(range(1, len(labels) + 1), pa.int64()),
        "label": pa.array(labels, pa.string())}))
    differing = ", ".join(f"CASE WHEN {cond} THEN '{name}' END" for cond, name in _COMPARED)
    engine.create_table("cross_duplicates", f"""
        SELECT c.source_row AS dup_row, concat_ws(', ', {differing}) AS differs,
               'record ' || CAST(c.file_row AS VARCHAR) || ' of ' || lc.label AS this_record,
               'record ' || CAST(f.file_row AS VARCHAR) || ' of ' || lf.label AS first_record
        FROM checked c
        JOIN (SELECT tweet_id_value, min(source_row) AS first_row FROM checked
              WHERE reason IS NULL GROUP BY 1 HAVING count(*) > 1) d
          ON d.tweet_id_value = c.tweet_id_value AND c.source_row <> d.first_row
        JOIN checked f ON f.source_row = d.first_row
        JOIN file_labels lc ON lc.label_file = c.source_file
        JOIN file_labels lf ON lf.label_file = f.source_file
        WHERE c.reason IS NULL
    """)
    columns = [c for c in engine.columns("checked") if c not in ("reason", "detail")]
    engine.create_table("checked_deduplicated", f"""
        SELECT {", ".join(f'c."{name}"' for name in columns)},
               CASE WHEN d.dup_row IS NULL THEN c.reason
                    WHEN d.differs = '' THEN 'duplicate_across_files'
                    ELSE 'duplicate_conflicting' END AS reason,
               CASE WHEN d.dup_row IS NULL THEN c.detail
                    WHEN d.differs = '' THEN d.this_record || ' repeats ' || d.first_record
                         || ' (kept there)'
                    ELSE d.this_record || ' and ' || d.first_record || ' (kept) share the '
                         || 'tweet_id but differ in ' || d.differs END AS detail
        FROM checked c LEFT JOIN cross_duplicates d ON d.dup_row = c.source_row
    """)
    engine.drop("checked")
    engine.rename("checked_deduplicated", "checked")
    engine.drop("cross_duplicates")
    engine.drop("file_labels")


def _summed(dicts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + int(v)
    return total


def _archive_digest(inputs: list[dict[str, Any]]) -> str:
    """SHA-256 over the inputs' digests in order: one fingerprint for the whole archive."""
    return hashlib.sha256("\n".join(f["sha256"] for f in inputs).encode()).hexdigest()


def _file_accounting(engine: Engine, inputs: list[dict[str, Any]],
                     per_file: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each input's own accounting (rows in = kept + rejected), checked; raises on a mismatch."""
    derived = "derived" if "derived" in engine.columns("tweets") else "false"
    kept = dict(engine.rows(f"SELECT source_file, count(*) FROM tweets WHERE NOT {derived} "
                            "GROUP BY 1"))
    rejected: dict[int, dict[str, int]] = {}
    for source_file, reason, n in engine.rows(
            "SELECT source_file, reason, count(*) FROM rejects GROUP BY 1, 2 ORDER BY 1, 2"):
        rejected.setdefault(source_file, {})[reason] = n
    accounts = []
    for i, (described, entry) in enumerate(zip(inputs, per_file, strict=True), 1):
        by_reason = rejected.get(i, {})
        account = {**described, "source_file": i, "first_source_row": entry["first_row"],
                   "rows_in": entry["rows_in"], "rows_kept": kept.get(i, 0),
                   "rows_rejected": sum(by_reason.values()), "rejects_by_reason": by_reason,
                   "mojibake_repaired": entry["mojibake_repaired"]}
        if entry["derived_parents"]:
            account["derived_parents"] = entry["derived_parents"]
        if account["rows_kept"] + account["rows_rejected"] != account["rows_in"]:
            raise RuntimeError(f"{described['path']}: accounting does not reconcile (rows_in "
                               f"{account['rows_in']}, kept {account['rows_kept']} + rejected "
                               f"{account['rows_rejected']}); please report this bug")
        accounts.append(account)
    return accounts


# ---------------------------------------------------------------------------------------------
# Quirks of real exports: response lists, mojibake, brand-only files
# ---------------------------------------------------------------------------------------------
def _is_brand_only(engine: Engine, source_file: int | None) -> bool:
    """Whether an input (``source_file``; ``None``: the only one) has brand tweets only.

    Customer tweets a reply-pairs layout derives from its records count as the input's: such
    an input knows its customers.
    """
    where = "true" if source_file is None else f"source_file = {source_file}"
    brand, customer = engine.rows(
        f"SELECT count(*) FILTER (WHERE NOT is_customer), count(*) FILTER (WHERE is_customer) "
        f"FROM tweets WHERE {where}")[0]
    return brand > 0 and customer == 0


def _infer_customers(engine: Engine, brand_handles: list[str]) -> None:
    """Add ``addressed_customer`` (and its source) to the brand tweets of ``tweets``.

    The customer a brand tweet answers: the author of its parent tweet when the archive holds
    that customer tweet (``parent``), else the ``@handle`` its text opens with when that is not
    a brand (``opening_handle``; already pseudonymised, so it is the customer's key), else
    unknown (NULL).
    """
    lead = "regexp_extract(t.text, '^@(\\w+)', 1)"
    opening = f"CASE WHEN {lead} <> '' AND NOT {is_brand_sql(lead, brand_handles)} THEN {lead} END"
    engine.create_table("tweets_inferred", f"""
        SELECT t.*,
               CASE WHEN t.is_customer THEN NULL
                    WHEN p.is_customer THEN p.author_key ELSE {opening} END AS addressed_customer,
               CASE WHEN t.is_customer THEN NULL WHEN p.is_customer THEN 'parent'
                    WHEN {opening} IS NOT NULL THEN 'opening_handle' END
                   AS addressed_customer_source
        FROM tweets t
        LEFT JOIN (SELECT tweet_id, author_key, is_customer FROM tweets) p
          ON p.tweet_id = t.in_reply_to
    """)
    engine.drop("tweets")
    engine.rename("tweets_inferred", "tweets")


def _quirk_report(engine: Engine, per_file: list[dict[str, Any]], brand_only: list[int],
                  several: bool) -> dict[str, Any]:
    """Count the repaired and flagged quirks (mojibake, response lists, brand-only files)."""
    report: dict[str, Any] = {
        "mojibake_repaired": sum(f["mojibake_repaired"] for f in per_file),
        "mojibake_method": "ftfy.fix_encoding (encoding repair only), on texts matching "
                           "complaintpanel.ingest.quirks.MOJIBAKE_HINT",
    }
    columns = engine.columns("tweets")
    if "response_list_issue" in columns:
        by_issue = dict(engine.rows(
            "SELECT response_list_issue, count(*) FROM tweets WHERE response_list_issue "
            "IS NOT NULL GROUP BY 1 ORDER BY 1"))
        report["response_lists_flagged"] = {
            "rows": sum(by_issue.values()), "by_issue": by_issue,
            "use": "never used: reply links come from the parent column (in_reply_to); the "
                   "tweets.parquet column response_list_issue flags each row"}
    if several:
        report["duplicates_across_files"] = _scalar(
            engine, "SELECT count(*) FROM rejects WHERE reason = 'duplicate_across_files'")
        report["duplicates_conflicting"] = _scalar(
            engine, "SELECT count(*) FROM rejects WHERE reason = 'duplicate_conflicting'")
    if brand_only:
        where = "NOT is_customer" + (
            f" AND source_file IN ({', '.join(map(str, brand_only))})" if several else "")
        if "derived" in columns:
            where += " AND NOT derived"
        counts = engine.rows(f"""
            SELECT count(*), count(*) FILTER (WHERE addressed_customer_source = 'parent'),
                   count(*) FILTER (WHERE addressed_customer_source = 'opening_handle'),
                   count(*) FILTER (WHERE addressed_customer IS NULL),
                   count(DISTINCT addressed_customer)
            FROM tweets WHERE {where}
        """)[0]
        report["brand_only_inputs"] = {
            "source_files": brand_only if several else [1],
            "brand_tweets": counts[0], "customer_from_parent": counts[1],
            "customer_from_opening_handle": counts[2], "customer_unknown": counts[3],
            "customers_inferred": counts[4],
            "rule": "the customer a brand tweet answers: its parent tweet's author when the "
                    "archive holds that customer tweet, else the @handle the reply opens with "
                    "(not a brand handle), else unknown; tweets.parquet addressed_customer"}
    return report


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
