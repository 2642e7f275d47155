"""Readers that load one raw file into DuckDB as string records numbered in file order.

Every reader creates two tables in the given DuckDB connection:

``records``
    ``source_row`` (1-based record number) and one VARCHAR column per target field of the mapping
    (``tweet_id``, ``author_id``, ``inbound``, ``created_at``, ``text``, ``in_reply_to``, ``brand``)
    plus the mapping's extra columns, untouched.
``parse_rejects``
    ``source_row``, ``reason``, ``detail`` for records that could not be split into fields.

**What a record is (CSV).** RFC 4180 records with three decisions, applied before DuckDB parses
the file: CRLF is one line end; a carriage return *not* followed by a line feed is text, not a line
end (pandas writes lone CRs unquoted, see ``twcs-head-5k``); a blank line outside quotes is not a
record. Files without CRs are read in place; others are normalised into a temporary copy (lone
CRs travel as a private-use character and are restored in text). Quotes follow DuckDB: a quote
opens a quoted field only at the start of a field (spaces allowed before it), elsewhere it is a
literal character. Python's ``csv`` module (``skipinitialspace=True``) reading the same
normalised bytes sees exactly the same records, which the tests check on real and random files.
Blank lines only matter for numbering rejected records, so they are looked for (and dropped)
only when a file has rejects: DuckDB skips them but counts them in its line numbers.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from complaintpanel.ingest.json_records import load_json
from complaintpanel.ingest.mapping import OPTIONAL_FIELDS, REQUIRED_FIELDS, IngestError, Mapping

__all__ = [
    "CR_PLACEHOLDER",
    "IngestError",
    "SourceInfo",
    "blank_line_offsets",
    "check_columns",
    "load_source",
    "normalise_csv_bytes",
    "read_header",
    "sniff_kind",
]

# A lone CR inside a field travels through DuckDB as this private-use character (U+E000).
CR_PLACEHOLDER = "\ue000"
_PH = CR_PLACEHOLDER.encode()
_CHUNK = 1 << 24
_MAX_LINE = 8_000_000

# DuckDB's reject error types → our machine-readable reasons.
_PARSE_REASONS = {
    "MISSING COLUMNS": "too_few_fields",
    "TOO MANY COLUMNS": "too_many_fields",
    "UNQUOTED VALUE": "bad_quoting",
    "INVALID ENCODING": "invalid_encoding",
    "INVALID UNICODE": "invalid_encoding",
    "LINE SIZE OVER MAXIMUM": "record_too_long",
}


@dataclass
class SourceInfo:
    """What a reader found: layout, header and how the bytes were normalised."""

    kind: str
    header: list[str]
    normalisation: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Sniffing and normalisation
# ---------------------------------------------------------------------------------------------
def sniff_kind(path: Path) -> str:
    """Return ``"csv"``, ``"csv.gz"``, ``"parquet"`` or ``"json"``; raise :class:`IngestError`."""
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    if path.is_dir():
        raise IngestError(f"{path}: is a folder; give one CSV, Parquet or JSON file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: is empty (0 bytes); expected conversation data")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head == b"PAR1":
        return "parquet"
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as handle:
            sample = handle.read(1 << 16)
        _check_text(path, sample)
        return "csv.gz"
    with path.open("rb") as handle:
        sample = handle.read(1 << 16)
    _check_text(path, sample)
    if sample.lstrip()[:1] in (b"[", b"{"):
        return "json"
    return "csv"


def _check_text(path: Path, sample: bytes) -> None:
    if b"\0" in sample:
        raise IngestError(f"{path}: binary content (NUL bytes); expected CSV, Parquet or JSON")
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # not merely a character cut at the sample's end
            raise IngestError(
                f"{path}: not UTF-8 text (byte {error.start}); expected CSV, Parquet or JSON"
            ) from None


def _chunks(handle: BinaryIO | gzip.GzipFile | io.BufferedReader) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk


def normalise_csv_bytes(chunks: Iterator[bytes], out: BinaryIO | None) -> dict[str, int]:
    """Apply the line-end rules to a byte stream; write the result to ``out`` if given.

    CRLF becomes LF and a lone CR (one not followed by LF, also at the end of the file) becomes
    :data:`CR_PLACEHOLDER`. Blank lines are handled separately (:func:`blank_line_offsets`).

    Returns
    -------
    dict
        ``crlf`` and ``lone_cr`` counts, and ``placeholder_in_input``.
    """
    stats = {"crlf": 0, "lone_cr": 0, "placeholder_in_input": 0}
    carry = b""
    for raw in chunks:
        data = carry + raw
        carry = b""
        if data.endswith(b"\r"):  # might be the first half of CRLF: decide with the next chunk
            carry, data = b"\r", data[:-1]
        data = _normalise_chunk(data, stats)
        if out is not None:
            out.write(data)
    if carry:  # a CR at the very end of the file is not followed by LF: text, like any lone CR
        stats["lone_cr"] += 1
        if out is not None:
            out.write(_PH)
    return stats


def _normalise_chunk(data: bytes, stats: dict[str, int]) -> bytes:
    if b"\xee" in data and _PH in data:
        stats["placeholder_in_input"] += data.count(_PH)
    if b"\r" not in data:
        return data
    crlf = data.count(b"\r\n")
    stats["crlf"] += crlf
    stats["lone_cr"] += data.count(b"\r") - crlf
    return data.replace(b"\r\n", b"\n").replace(b"\r", _PH)


def _quoted_spans(data: Any) -> list[tuple[int, int]]:
    """(open, close) offsets of quoted fields, by DuckDB's rules.

    A quote opens a quoted field only at the start of a field (after a delimiter, a line end or
    the file start, spaces allowed in between); elsewhere it is a literal character. Inside, a
    doubled quote is an escaped quote; the next single quote closes the field.
    """
    spans: list[tuple[int, int]] = []
    i = data.find(b'"')
    while i >= 0:
        j = i - 1
        while j >= 0 and data[j] == 0x20:
            j -= 1
        if j >= 0 and data[j] not in (0x2C, 0x0A):
            i = data.find(b'"', i + 1)  # a literal quote inside an unquoted field
            continue
        k = i + 1
        while (k := data.find(b'"', k)) >= 0 and data[k + 1:k + 2] == b'"':
            k += 2
        if k < 0:  # unterminated: the field runs to the end of the file
            spans.append((i, len(data)))
            break
        spans.append((i, k))
        i = data.find(b'"', k + 1)
    return spans


def blank_line_offsets(data: Any) -> list[int]:
    """Offsets of the LFs that end blank lines outside quoted fields (bytes or mmap)."""
    candidates = [0] if data[:1] == b"\n" else []
    start = 0
    while (i := data.find(b"\n\n", start)) >= 0:
        candidates.append(i + 1)
        start = i + 1
    if not candidates:
        return []
    spans = _quoted_spans(data)
    opens = [a for a, _ in spans]
    blank = []
    for offset in candidates:
        k = bisect.bisect_right(opens, offset) - 1
        if k < 0 or spans[k][1] < offset:
            blank.append(offset)
    return blank


def _drop_blank_lines(path: Path, work_dir: Path) -> tuple[Path, int]:
    """Copy ``path`` without its blank lines (if it has any); return the file and their count."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        offsets = blank_line_offsets(data)
        if not offsets:
            return path, 0
        target = work_dir / f"no-blank-lines-{path.name}"
        with target.open("wb") as out:
            previous = 0
            for offset in offsets:
                out.write(data[previous:offset])
                previous = offset + 1
            out.write(data[previous:])
    return target, len(offsets)


def _needs_normalising(path: Path) -> bool:
    """Whether a plain CSV contains CRs or the reserved placeholder (a memchr-speed scan)."""
    with path.open("rb") as handle:
        for chunk in _chunks(handle):
            if b"\r" in chunk or (b"\xee" in chunk and _PH in chunk):
                return True
    return False


def _normalised_copy(path: Path, kind: str, work_dir: Path) -> tuple[Path, dict[str, int]]:
    """Write the normalised bytes of ``path`` (plain or gzip) into ``work_dir``."""
    target = work_dir / "normalised.csv"
    opener = gzip.open if kind == "csv.gz" else open
    with opener(path, "rb") as handle, target.open("wb") as out:
        stats = normalise_csv_bytes(_chunks(handle), out)
    return target, stats | {"normalised_copy": 1}


def _prepare_csv(path: Path, kind: str, work_dir: Path) -> tuple[Path, dict[str, int]]:
    """Return a file DuckDB can read with LF records, normalising into ``work_dir`` if needed.

    Files without CRs are read in place: DuckDB already skips blank lines, which only matter for
    the numbering of rejected records (see :func:`_load_csv`).
    """
    if kind == "csv" and not _needs_normalising(path):
        return path, {"normalised_copy": 0, "crlf": 0, "lone_cr": 0}
    return _normalised_copy(path, kind, work_dir)


# ---------------------------------------------------------------------------------------------
# Headers and mapping checks
# ---------------------------------------------------------------------------------------------
def read_header(path: Path, kind: str, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Column names of a CSV (first record) or Parquet file; JSON has none (empty list)."""
    if kind == "parquet":
        rows = con.sql(f"DESCRIBE SELECT * FROM read_parquet({_quote(path)})").fetchall()
        return [r[0] for r in rows]
    if kind == "json":
        return []
    opener = gzip.open if kind == "csv.gz" else open
    with opener(path, "rb") as handle:
        head = handle.read(1 << 20)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first_line = text.replace("\r\n", "\n").split("\n", 1)[0]
    names = next(csv.reader(io.StringIO(first_line)), [])
    return [name.strip() for name in names]


def check_columns(path: Path, header: list[str], mapping: Mapping) -> None:
    """Raise :class:`IngestError` naming the file and the columns the mapping misses."""
    missing = [c for c in mapping.source_columns if c not in header]
    if missing:
        shown = ", ".join(repr(h) for h in header[:12]) + (" …" if len(header) > 12 else "")
        raise IngestError(
            f"{path}: not {mapping.name} data: missing column(s) {', '.join(missing)} "
            f"(found: {shown or 'no header'}); pass --mapping for another layout"
        )


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def _quote(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _target_select(mapping: Mapping, column_of: dict[str, str]) -> str:
    """SELECT list mapping source columns (via ``column_of``) to target fields as VARCHAR."""
    parts = []
    for target in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS):
        if target in mapping.columns:
            parts.append(f'CAST({column_of[mapping.columns[target]]} AS VARCHAR) AS "{target}"')
        elif target in mapping.constants:
            parts.append(f'{_quote(str(mapping.constants[target]).lower())} AS "{target}"')
        elif target == "text":
            parts.append("'' AS text")
        else:
            parts.append(f'NULL::VARCHAR AS "{target}"')
    for target in REQUIRED_FIELDS:
        if target in mapping.parent_columns:
            src = column_of[mapping.parent_columns[target]]
            parts.append(f'CAST({src} AS VARCHAR) AS "p_{target}"')
        elif target in mapping.parent_constants:
            parts.append(f'{_quote(str(mapping.parent_constants[target]).lower())} AS "p_{target}"')
    for extra in mapping.extra_columns:
        parts.append(f'CAST({column_of[extra]} AS VARCHAR) AS "x_{extra}"')
    return ", ".join(parts)


def load_source(
    con: duckdb.DuckDBPyConnection, path: Path, kind: str, mapping: Mapping, work_dir: Path
) -> SourceInfo:
    """Create the ``records`` and ``parse_rejects`` tables from one raw file.

    Raises
    ------
    IngestError
        When the file lacks the mapping's columns or is not of the mapping's format.
    """
    if mapping.format == "json_conversations":
        if kind != "json":
            raise IngestError(f"{path}: mapping {mapping.name} reads JSON conversations, "
                              f"but the file is {kind}")
        return SourceInfo(kind="json", header=[], normalisation=load_json(con, path, mapping))
    if kind == "json":
        raise IngestError(f"{path}: is JSON; pass a JSON mapping (e.g. --mapping ibm_docpred)")
    header = read_header(path, kind, con)
    check_columns(path, header, mapping)
    if kind == "parquet":
        return _load_parquet(con, path, mapping, header)
    return _load_csv(con, path, kind, mapping, header, work_dir)


def _read_csv(con: duckdb.DuckDBPyConnection, readable: Path, names: list[str]) -> int:
    """Create ``csv_rows`` and ``parse_rejects`` from a normalised CSV; return the reject count."""
    con.execute("DROP TABLE IF EXISTS csv_rows; DROP TABLE IF EXISTS parse_rejects; "
                "DROP TABLE IF EXISTS csv_errors; DROP TABLE IF EXISTS csv_scans")
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    con.execute(
        "CREATE TABLE csv_rows AS SELECT * FROM read_csv("
        f"{_quote(readable)}, header = true, auto_detect = false, columns = {columns}, "
        "delim = ',', quote = '\"', escape = '\"', new_line = '\\n', strict_mode = true, "
        f"store_rejects = true, rejects_table = 'csv_errors', rejects_scan = 'csv_scans', "
        f"max_line_size = {_MAX_LINE}, encoding = 'utf-8')"
    )
    # DuckDB's `line` counts records (header = 1) once blank lines are gone: record = line − 1.
    reason_case = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _PARSE_REASONS.items())
    con.execute(f"""
        CREATE TABLE parse_rejects AS
        SELECT (line - 1)::BIGINT AS source_row,
               arg_min(CASE error_type::VARCHAR {reason_case} ELSE 'unparseable_record' END,
                       column_idx) AS reason,
               -- Keep only messages that cannot quote the record (no customer data in rejects).
               arg_min(CASE WHEN error_message LIKE 'Expected Number of Columns: % Found: %'
                            THEN error_message ELSE error_type::VARCHAR END, column_idx) AS detail
        FROM csv_errors GROUP BY line
    """)
    return con.sql("SELECT count(*) FROM parse_rejects").fetchall()[0][0]


def _clamp_reject_numbers(con: duckdb.DuckDBPyConnection, rejected: int) -> int:
    """Keep reject numbers within 1..records when DuckDB saw blank lines we did not find.

    That can only happen in files whose quoting is malformed *and* that have blank lines; the
    numbers stay in file order and every record still gets exactly one number, but the rejects
    after such a blank line are then numbered approximately. Returns how many were moved.
    """
    kept = con.sql("SELECT count(*) FROM csv_rows").fetchall()[0][0]
    records = kept + rejected
    moved = con.sql(f"""
        SELECT count(*) FROM (SELECT source_row, row_number() OVER (ORDER BY source_row) AS j
                              FROM parse_rejects)
        WHERE source_row > {records} - {rejected} + j
    """).fetchall()[0][0]
    if moved:
        con.execute(f"""
            UPDATE parse_rejects SET source_row = least(p.source_row, {records} - {rejected} + j)
            FROM (SELECT source_row, row_number() OVER (ORDER BY source_row) AS j
                  FROM parse_rejects) AS p
            WHERE parse_rejects.source_row = p.source_row
        """)
    return moved


def _load_csv(con: duckdb.DuckDBPyConnection, path: Path, kind: str, mapping: Mapping,
              header: list[str], work_dir: Path) -> SourceInfo:
    readable, stats = _prepare_csv(path, kind, work_dir)
    if stats.get("placeholder_in_input"):
        raise IngestError(f"{path}: contains U+E000, which the reader reserves for lone CRs")
    names = [f"c{i}" for i in range(len(header))]
    column_of: dict[str, str] = {}
    for name, internal in zip(header, names, strict=True):
        column_of.setdefault(name, internal)
    rejected = _read_csv(con, readable, names)
    stats["blank_lines_dropped"] = 0
    if rejected:
        # DuckDB numbers lines counting the blank lines it skips (they are not records): drop
        # them and read again, so that the line number of a reject is its record number.
        readable, stats["blank_lines_dropped"] = _drop_blank_lines(readable, work_dir)
        if stats["blank_lines_dropped"]:
            rejected = _read_csv(con, readable, names)
        stats["record_numbers_clamped"] = _clamp_reject_numbers(con, rejected)
    # Kept rows keep file order (rowid); their record numbers are the numbers no reject took.
    select = _target_select(mapping, {k: f"r.{v}" for k, v in column_of.items()})
    if rejected == 0:
        # The common case: a view, so the rows are not copied once more.
        con.execute(f"CREATE VIEW records AS SELECT r.rowid + 1 AS source_row, {select} "
                    "FROM csv_rows r")
    else:
        con.execute("""
            CREATE TABLE reject_gaps AS
            SELECT gap, max(rank) AS rejects_up_to
            FROM (SELECT source_row - row_number() OVER (ORDER BY source_row) AS gap,
                         row_number() OVER (ORDER BY source_row) AS rank FROM parse_rejects)
            GROUP BY gap
        """)
        con.execute(f"""
            CREATE TABLE records AS
            SELECT r.rowid + 1 + coalesce(g.rejects_up_to, 0) AS source_row, {select}
            FROM csv_rows r ASOF LEFT JOIN reject_gaps g ON r.rowid + 1 > g.gap
        """)
        con.execute("DROP TABLE csv_rows")
    return SourceInfo(kind=kind, header=header,
                      normalisation={k: v for k, v in stats.items() if k != "placeholder_in_input"})


def _load_parquet(con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping,
                  header: list[str]) -> SourceInfo:
    types = dict(con.sql(f"DESCRIBE SELECT * FROM read_parquet({_quote(path)})")
                 .fetchall()[i][:2] for i in range(len(header)))
    column_of = {}
    for name in header:
        ident = '"' + name.replace('"', '""') + '"'
        # Typed timestamps become ISO text with an explicit offset; naive ones are taken as UTC
        # (the Parquet convention for timestamps without isAdjustedToUTC is ambiguous).
        if types[name].startswith("TIMESTAMP"):
            ident = f"strftime({ident}::TIMESTAMPTZ, '%Y-%m-%dT%H:%M:%S.%f+00:00')"
        column_of[name] = ident
    con.execute(f"CREATE TABLE pq_rows AS SELECT * FROM read_parquet({_quote(path)})")
    con.execute(f"""
        CREATE TABLE records AS SELECT rowid + 1 AS source_row, {_target_select(mapping, column_of)}
        FROM pq_rows
    """)
    con.execute("DROP TABLE pq_rows")
    _empty_parse_rejects(con)
    return SourceInfo(kind="parquet", header=header)


def _empty_parse_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE parse_rejects (source_row BIGINT, reason VARCHAR, detail VARCHAR)")
