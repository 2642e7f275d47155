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

**Encoding (one policy for the whole file).** A CSV is UTF-8 text. A record holding bytes that
are not UTF-8 is rejected as ``invalid_encoding``, and one holding a NUL byte as ``nul_byte``,
wherever in the file it is: the first 64 KB are not special. A file is refused as a whole only
when it is not UTF-8 text at all, judged on its first 64 KB: UTF-16 or UTF-32 (a byte-order mark,
or ASCII interleaved with NUL bytes) is named with the command that converts it (``iconv -f
UTF-16 -t UTF-8``); a known binary format (ZIP, gzip inside gzip, PDF, images …) is named; and
other content is refused as binary when more than a tenth of those bytes are NUL bytes,
control characters or invalid UTF-8. Parquet strings get the same ``nul_byte`` rule; a JSON file
is one document and is refused whole when it is not valid UTF-8 JSON.

**Column names** match the mapping's in any case and with surrounding spaces ignored
(``TWEET_ID`` is ``tweet_id``); two columns a mapping needs that differ only in case (or are
equal) are ambiguous, an error naming both.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import gzip
import io
import mmap
import re
import zlib
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
    "check_parquet",
    "check_text",
    "gzip_errors",
    "has_columns",
    "load_source",
    "normalise_csv_bytes",
    "read_header",
    "resolve_columns",
    "sniff_kind",
]

# A lone CR inside a field travels through DuckDB as this private-use character (U+E000).
CR_PLACEHOLDER = "\ue000"
_PH = CR_PLACEHOLDER.encode()
_LONE_CR = re.compile(rb"\r(?!\n)")
_CHUNK = 1 << 24
_MAX_LINE = 8_000_000
_SAMPLE = 1 << 16  # bytes looked at to decide whether a file is text at all
# Byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one).
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32", "LE"), (b"\x00\x00\xfe\xff", "UTF-32", "BE"),
         (b"\xff\xfe", "UTF-16", "LE"), (b"\xfe\xff", "UTF-16", "BE"))
# Formats that are surely not conversation text, by their first bytes.
_MAGIC = ((b"PK\x03\x04", "a ZIP archive (or .xlsx workbook)"),
          (b"\xd0\xcf\x11\xe0", "an old Office document (.xls)"),
          (b"\x1f\x8b", "gzip-compressed twice"), (b"BZh", "a bzip2 archive"),
          (b"\xfd7zXZ\x00", "an xz archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
          (b"\x28\xb5\x2f\xfd", "a Zstandard archive"), (b"%PDF", "a PDF document"),
          (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"SQLite format 3\x00", "an SQLite database"))
# Control characters that text may hold (tab, LF, VT, FF, CR); other C0 bytes count as binary.
_TEXT_CONTROLS = frozenset(b"\t\n\x0b\x0c\r")

# DuckDB's reject error types → our machine-readable reasons.
_PARSE_REASONS = {
    "MISSING COLUMNS": "too_few_fields",
    "TOO MANY COLUMNS": "too_many_fields",
    "UNQUOTED VALUE": "bad_quoting",
    "INVALID ENCODING": "invalid_encoding",
    "INVALID UNICODE": "invalid_encoding",
    "LINE SIZE OVER MAXIMUM": "record_too_long",
}
# DuckDB error messages that cannot quote a record, so that they may be kept as a reject's detail.
_SAFE_MESSAGES = ("Expected Number of Columns: % Found: %",
                  "Maximum line size of % bytes exceeded.%")


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
    """Return ``"csv"``, ``"csv.gz"``, ``"parquet"`` or ``"json"``; raise :class:`IngestError`.

    Raises
    ------
    IngestError
        When the file is missing, empty, unreadable, not text (see the module docstring), a
        truncated or corrupt gzip file, or named ``.parquet`` without being a Parquet file.
    """
    if not path.exists():
        raise IngestError("no such file", file=path)
    if path.is_dir():
        raise IngestError("is a folder; give one CSV, Parquet or JSON file", file=path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            sample = handle.read(_SAMPLE)
    except OSError as error:
        raise IngestError(f"cannot be read ({error.strerror or error})", file=path) from None
    if size == 0:
        raise IngestError("is empty (0 bytes); expected conversation data", file=path)
    if sample[:4] == b"PAR1":
        check_parquet(path)
        return "parquet"
    if path.suffix.lower() == ".parquet":
        raise IngestError("is named .parquet but is not a Parquet file (it does not start with "
                          "the Parquet magic bytes PAR1); rename it if it is CSV or JSON",
                          file=path)
    if sample[:2] == b"\x1f\x8b":
        with gzip_errors(path), gzip.open(path, "rb") as handle:
            sample = handle.read(_SAMPLE)
        check_text(path, sample, compressed=True)
        return "csv.gz"
    check_text(path, sample)
    if sample.lstrip()[:1] in (b"[", b"{"):
        return "json"
    return "csv"


def check_parquet(path: Path) -> None:
    """Raise :class:`IngestError` unless ``path`` is a readable Parquet file (its footer)."""
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except Exception as error:  # pyarrow raises several types for bad files
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise IngestError(f"is not a valid Parquet file, or is truncated ({first[:200]})",
                          file=path) from None


@contextlib.contextmanager
def gzip_errors(path: Path) -> Iterator[None]:
    """Turn the errors of reading a damaged gzip file into one :class:`IngestError`."""
    try:
        yield
    except EOFError:
        raise IngestError("is a truncated gzip file: the compressed data end before the gzip "
                          "stream does (an interrupted download or copy?); fetch it again",
                          file=path) from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise IngestError(f"is a corrupt gzip file ({error}); fetch it again",
                          file=path) from None


def _interleaved_nuls(sample: bytes) -> tuple[str, str] | None:
    """UTF-16/32 without a byte-order mark: ASCII text with NULs at fixed positions."""
    head = sample[:4096]
    if len(head) < 8:
        return None
    for width, name in ((4, "UTF-32"), (2, "UTF-16")):
        usable = len(head) - len(head) % width
        units = [head[i:i + width] for i in range(0, usable, width)]
        for order, text_at in (("LE", 0), ("BE", width - 1)):
            plain = sum(1 for u in units if u[text_at] != 0
                        and all(b == 0 for k, b in enumerate(u) if k != text_at))
            if plain >= 0.9 * len(units):
                return name, order
    return None


def check_text(path: Path, sample: bytes, compressed: bool = False) -> None:
    """Refuse a file whose first bytes (``sample``) are not UTF-8 text at all.

    Single bad bytes are left to the reader, which rejects their records (the module
    docstring states the policy); this refuses UTF-16/32, known binary formats and content of
    which more than a tenth is NUL bytes, control characters or invalid UTF-8.
    """
    what = "the decompressed content" if compressed else "it"
    encoding = next(((name, order) for bom, name, order in _BOMS if sample.startswith(bom)),
                    None) or _interleaved_nuls(sample)
    if encoding is not None:
        name, order = encoding
        raise IngestError(
            f"is {name} text ({name}-{order}), not UTF-8; convert it first, e.g. "
            f"iconv -f {name} -t UTF-8 '{path.name}' > converted.csv", file=path)
    for magic, kind in _MAGIC:
        if sample.startswith(magic):
            raise IngestError(f"{what} is {kind}, not UTF-8 text; expected CSV, Parquet or "
                              "JSON", file=path)
    controls = sum(1 for b in sample if b < 0x20 and b not in _TEXT_CONTROLS)
    decoded = sample.decode("utf-8", errors="replace")
    invalid = decoded.count("\ufffd") - sample.count("\ufffd".encode())
    bad = controls + invalid
    if bad * 10 > len(sample):
        raise IngestError(
            f"binary content: {bad:,} of the first {len(sample):,} bytes are NUL bytes, control "
            "characters or not UTF-8 (not UTF-8 text); expected CSV, Parquet or JSON",
            file=path)


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
        ``crlf`` and ``lone_cr`` counts, ``placeholder_in_input`` and ``nul_bytes``.
    """
    stats = {"crlf": 0, "lone_cr": 0, "placeholder_in_input": 0, "nul_bytes": 0}
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
    if b"\0" in data:
        stats["nul_bytes"] = stats.get("nul_bytes", 0) + data.count(b"\0")
    if b"\r" not in data:
        return data
    # The lone CRs are found first (a chunk never ends with a CR: see normalise_csv_bytes);
    # between them every CR is the first half of a CRLF and is deleted, a one-byte deletion
    # that is several times faster than replacing the two-byte CRLF.
    lone = [m.start() for m in _LONE_CR.finditer(data)]
    if not lone:
        joined = data.replace(b"\r", b"")
    else:
        pieces, start = [], 0
        for at in lone:
            pieces.append(data[start:at].replace(b"\r", b""))
            start = at + 1
        pieces.append(data[start:].replace(b"\r", b""))
        joined = _PH.join(pieces)
    stats["lone_cr"] += len(lone)
    stats["crlf"] += len(data) + (len(_PH) - 1) * len(lone) - len(joined)
    return joined


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


def _scan_plain(path: Path) -> tuple[bool, bool]:
    """Whether a plain CSV holds CRs or the reserved placeholder, and whether it holds NULs.

    A memchr-speed scan that stops at the first chunk needing normalisation: the normalised
    copy then counts the NUL bytes itself (``has_nul`` is only complete when it returns
    ``needs_normalising = False``).
    """
    has_nul = False
    with path.open("rb") as handle:
        for chunk in _chunks(handle):
            if b"\r" in chunk or (b"\xee" in chunk and _PH in chunk):
                return True, has_nul
            has_nul = has_nul or b"\0" in chunk
    return False, has_nul


def _normalised_copy(path: Path, kind: str, work_dir: Path) -> tuple[Path, dict[str, int]]:
    """Write the normalised bytes of ``path`` (plain or gzip) into ``work_dir``."""
    target = work_dir / "normalised.csv"
    opener = gzip.open if kind == "csv.gz" else open
    with gzip_errors(path), opener(path, "rb") as handle, target.open("wb") as out:
        stats = normalise_csv_bytes(_chunks(handle), out)
    return target, stats | {"normalised_copy": 1}


def _prepare_csv(path: Path, kind: str, work_dir: Path) -> tuple[Path, dict[str, int]]:
    """Return a file DuckDB can read with LF records, normalising into ``work_dir`` if needed.

    Files without CRs are read in place: DuckDB already skips blank lines, which only matter for
    the numbering of rejected records (see :func:`_load_csv`). ``nul_bytes`` in the returned
    counts is positive when the file holds NUL bytes.
    """
    if kind == "csv":
        needs_normalising, has_nul = _scan_plain(path)
        if not needs_normalising:
            return path, {"normalised_copy": 0, "crlf": 0, "lone_cr": 0,
                          "nul_bytes": int(has_nul)}
    return _normalised_copy(path, kind, work_dir)


# ---------------------------------------------------------------------------------------------
# Headers and mapping checks
# ---------------------------------------------------------------------------------------------
def read_header(path: Path, kind: str, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Column names of a CSV (first record) or Parquet file; JSON has none (empty list)."""
    if kind == "parquet":
        try:
            rows = con.sql(f"DESCRIBE SELECT * FROM read_parquet({_quote(path)})").fetchall()
        except duckdb.Error as error:
            raise IngestError(f"is not a readable Parquet file ({_first_line(error)})",
                              file=path) from None
        return [r[0] for r in rows]
    if kind == "json":
        return []
    opener = gzip.open if kind == "csv.gz" else open
    with gzip_errors(path), opener(path, "rb") as handle:
        head = handle.read(1 << 20)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    # As in the records, CRLF ends the line and a lone CR is text (it then matches no name).
    first_line = text.replace("\r\n", "\n").split("\n", 1)[0].replace("\r", CR_PLACEHOLDER)
    try:
        names = next(csv.reader([first_line]), [])
    except csv.Error as error:
        raise IngestError(f"cannot read the header line as CSV ({error})", file=path) from None
    return [name.strip() for name in names]


def _first_line(error: BaseException) -> str:
    """Return an error message's first line, at most 200 characters (never a whole record)."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]


def _fold(name: str) -> str:
    return name.strip().casefold()


def has_columns(header: list[str], mapping: Mapping) -> bool:
    """Whether ``header`` names every source column of ``mapping`` (in any case)."""
    folded = {_fold(h) for h in header}
    return all(_fold(c) in folded for c in mapping.source_columns)


def resolve_columns(path: Path, header: list[str], mapping: Mapping) -> dict[str, int]:
    """Position in ``header`` of each source column of ``mapping``, matched in any case.

    Raises
    ------
    IngestError
        Naming the file and the columns the mapping misses, or two columns that differ only
        in case (or not at all) where the mapping needs one.
    """
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        positions.setdefault(_fold(name), []).append(index)
    missing = [c for c in mapping.source_columns if _fold(c) not in positions]
    if missing and any(CR_PLACEHOLDER in name for name in header):
        raise IngestError(
            "the header line holds a carriage return not followed by a line feed, which is "
            "text, not a line end (a file with old Mac CR line ends?); convert its line ends to "
            "LF or CRLF, e.g. tr '\\r' '\\n'", file=path)
    if missing:
        shown = ", ".join(repr(h) for h in header[:12]) + (" …" if len(header) > 12 else "")
        raise IngestError(
            f"not {mapping.name} data: missing column(s) {', '.join(missing)} "
            f"(found: {shown or 'no header'}); pass --mapping for another layout", file=path)
    for column in mapping.source_columns:
        found = positions[_fold(column)]
        if len(found) > 1:
            named = " and ".join(f"{header[i]!r} (column {i + 1})" for i in found)
            raise IngestError(f"column {column!r} is ambiguous: {named} differ only in case; "
                              "rename one of them", file=path)
    return {c: positions[_fold(c)][0] for c in mapping.source_columns}


def check_columns(path: Path, header: list[str], mapping: Mapping) -> None:
    """Raise :class:`IngestError` naming the file and the columns the mapping misses."""
    resolve_columns(path, header, mapping)


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
    if mapping.response_list and mapping.response_list in column_of:
        parts.append(f'CAST({column_of[mapping.response_list]} AS VARCHAR) AS "responses"')
    return ", ".join(parts)


def _with_response_list(header: list[str], mapping: Mapping,
                        positions: dict[str, int]) -> dict[str, int]:
    """Add the position of the mapping's optional response-list column, if the file has it."""
    if not mapping.response_list or mapping.response_list in positions:
        return positions
    found = [i for i, name in enumerate(header) if _fold(name) == _fold(mapping.response_list)]
    return {**positions, mapping.response_list: found[0]} if len(found) == 1 else positions


def load_source(
    con: duckdb.DuckDBPyConnection, path: Path, kind: str, mapping: Mapping, work_dir: Path
) -> SourceInfo:
    """Create the ``records`` and ``parse_rejects`` tables from one raw file.

    Records holding a NUL byte in any field move to ``parse_rejects`` (reason ``nul_byte``).

    Raises
    ------
    IngestError
        When the file lacks the mapping's columns, is not of the mapping's format, or cannot be
        read (a damaged gzip or Parquet file).
    """
    if mapping.format == "json_conversations":
        if kind != "json":
            raise IngestError(f"mapping {mapping.name} reads JSON conversations, but the file "
                              f"is {kind}", file=path)
        info = SourceInfo(kind="json", header=[], normalisation=load_json(con, path, mapping))
        _reject_nul_records(con)
        return info
    if kind == "json":
        raise IngestError("is JSON; pass a JSON mapping (e.g. --mapping ibm_docpred)", file=path)
    header = read_header(path, kind, con)
    positions = _with_response_list(header, mapping, resolve_columns(path, header, mapping))
    if kind == "parquet":
        try:
            info = _load_parquet(con, path, mapping, header, positions)
        except duckdb.Error as error:
            raise IngestError(f"cannot read the Parquet file ({_first_line(error)})",
                              file=path) from None
        _reject_nul_records(con)
        return info
    info = _load_csv(con, path, kind, mapping, header, positions, work_dir)
    if info.normalisation.pop("nul_bytes", 0):
        _reject_nul_records(con)
    return info


def _reject_nul_records(con: duckdb.DuckDBPyConnection) -> int:
    """Move records with a NUL byte in any field from ``records`` to ``parse_rejects``."""
    fields = [r[0] for r in con.sql("DESCRIBE records").fetchall() if r[0] != "source_row"]
    has_nul = {f: f'coalesce(contains("{f}", chr(0)), false)' for f in fields}
    condition = " OR ".join(has_nul.values())
    if con.sql(f"SELECT count(*) FROM records WHERE {condition}").fetchall()[0][0] == 0:
        return 0
    # The detail names the fields (never their content); extra columns carry an "x_" prefix.
    named = ", ".join(f"CASE WHEN {test} THEN '{f.removeprefix('x_')}' END"
                      for f, test in has_nul.items())
    con.execute(f"""
        INSERT INTO parse_rejects
        SELECT source_row, 'nul_byte', 'NUL byte in ' || concat_ws(', ', {named})
        FROM records WHERE {condition}
    """)
    kind = con.sql("SELECT table_type FROM information_schema.tables "
                   "WHERE table_name = 'records'").fetchall()[0][0]
    con.execute(f"CREATE TABLE records_without_nul AS SELECT * FROM records "
                f"WHERE NOT ({condition}) ORDER BY source_row")
    con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} records")
    con.execute("ALTER TABLE records_without_nul RENAME TO records")
    return con.sql("SELECT count(*) FROM parse_rejects WHERE reason = 'nul_byte'").fetchall()[0][0]


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
    # A record's first error is the one of its lowest column; errors of the whole record (line
    # too long) have no column and come first.
    reason_case = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _PARSE_REASONS.items())
    safe = " OR ".join(f"error_message LIKE '{m}'" for m in _SAFE_MESSAGES)
    con.execute(f"""
        CREATE TABLE parse_rejects AS
        SELECT (line - 1)::BIGINT AS source_row,
               arg_min(CASE error_type::VARCHAR {reason_case} ELSE 'unparseable_record' END,
                       coalesce(column_idx, -1)) AS reason,
               -- Keep only messages that cannot quote the record (no customer data in rejects).
               arg_min(CASE WHEN {safe} THEN error_message ELSE error_type::VARCHAR END,
                       coalesce(column_idx, -1)) AS detail
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
              header: list[str], positions: dict[str, int], work_dir: Path) -> SourceInfo:
    readable, stats = _prepare_csv(path, kind, work_dir)
    if stats.get("placeholder_in_input"):
        raise IngestError("contains U+E000, which the reader reserves for lone CRs", file=path)
    names = [f"c{i}" for i in range(len(header))]
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
    select = _target_select(mapping, {c: f"r.{names[i]}" for c, i in positions.items()})
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
                  header: list[str], positions: dict[str, int]) -> SourceInfo:
    types = dict(con.sql(f"DESCRIBE SELECT * FROM read_parquet({_quote(path)})")
                 .fetchall()[i][:2] for i in range(len(header)))
    column_of = {}
    for column, index in positions.items():
        name = header[index]
        ident = '"' + name.replace('"', '""') + '"'
        # Typed timestamps become ISO text with an explicit offset; naive ones are taken as UTC
        # (the Parquet convention for timestamps without isAdjustedToUTC is ambiguous).
        if types[name].startswith("TIMESTAMP"):
            ident = f"strftime({ident}::TIMESTAMPTZ, '%Y-%m-%dT%H:%M:%S.%f+00:00')"
        column_of[column] = ident
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
