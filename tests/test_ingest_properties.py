"""Property-based tests: random files with randomly corrupted records never crash the reader, and
every record is accounted for with exactly the reason a reference implementation predicts."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from complaintpanel.ingest import REJECT_REASONS, ingest

TW = "Tue Oct 31 22:10:47 +0000 2017"
COLUMNS = ["tweet_id", "author_id", "inbound", "created_at", "text", "response_tweet_id",
           "in_response_to_tweet_id"]
# Corruption → expected reason (None: the record is valid).
KINDS = {
    "valid": None, "valid_iso": None, "valid_flags": None,
    "sci_id": "tweet_id_scientific_notation", "empty_id": "tweet_id_missing",
    "word_id": "tweet_id_invalid", "no_author": "author_id_missing",
    "bad_flag": "inbound_invalid", "day_first": "created_at_unparseable",
    "no_tz": "created_at_no_timezone", "irt_sci": "in_reply_to_scientific_notation",
    "irt_word": "in_reply_to_invalid", "too_few": "too_few_fields",
    "too_many": "too_many_fields", "duplicate": None,
}
texts = st.text(alphabet=st.sampled_from(list("ab ,\"'\n\r;é😀#")), max_size=30)
# (kind, text, flag, a blank line follows the record)
rows = st.lists(st.tuples(st.sampled_from(sorted(KINDS)), texts, st.booleans(),
                          st.integers(0, 9).map(lambda d: d == 0)),
                min_size=1, max_size=40)


def build(specs: list[tuple[str, str, bool, bool]], index_column: bool, crlf: bool
          ) -> tuple[bytes, list[str | None], dict[int, str]]:
    """Write a TWCS-like CSV; return its bytes, expected reasons and expected kept texts."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(([""] if index_column else []) + COLUMNS)
    reasons: list[str | None] = []
    kept_text: dict[int, str] = {}
    seen: set[str] = set()
    for n, (kind, text, flag, blank_after) in enumerate(specs):
        tweet_id = str(1000 + n)
        if kind == "duplicate" and seen:
            tweet_id = sorted(seen)[n % len(seen)]
        fields = {"tweet_id": tweet_id, "author_id": f"{500 + n % 7}", "inbound": "True",
                  "created_at": TW, "text": text, "response_tweet_id": "1,2" if flag else "",
                  "in_response_to_tweet_id": "1000.0" if flag and n else ""}
        fields.update({
            "valid_iso": {"created_at": "2017-10-31 22:10:47+00:00"},
            "valid_flags": {"inbound": "FALSE" if flag else "1", "author_id": "AcmeHelp"},
            "sci_id": {"tweet_id": "5.70306E+17"}, "empty_id": {"tweet_id": ""},
            "word_id": {"tweet_id": "abc"}, "no_author": {"author_id": ""},
            "bad_flag": {"inbound": "maybe"}, "day_first": {"created_at": "24-02-2015 11:35"},
            "no_tz": {"created_at": "2017-10-31 22:10:47"},
            "irt_sci": {"in_response_to_tweet_id": "1.0E+3"},
            "irt_word": {"in_response_to_tweet_id": "n/a"},
        }.get(kind, {}))
        values = [fields[c] for c in COLUMNS]
        if kind == "too_few":
            values = values[:3]
        elif kind == "too_many":
            values = [*values, "extra"]
        if index_column:
            values = [str(n), *values]
        writer.writerow(values)
        if blank_after:
            out.write("\n")  # a blank line is not a record
        reason = KINDS[kind]
        if reason is None and fields["in_response_to_tweet_id"] == f"{tweet_id}.0":
            reason = "in_reply_to_self"  # value checks come before the duplicate check
        if reason is None and kind == "duplicate" and tweet_id in seen:
            reason = "duplicate_tweet_id"
        if reason is None:
            seen.add(tweet_id)
            # The file's line ends become CRLF when crlf is set, text included; CRLF reads as LF.
            written = text.replace("\n", "\r\n") if crlf else text
            kept_text[int(tweet_id)] = written.replace("\r\n", "\n")
        reasons.append(reason)
    data = out.getvalue()
    if crlf:
        data = data.replace("\n", "\r\n")
    return data.encode(), reasons, kept_text


def python_csv_records(data: bytes) -> int:
    """Record count by the csv module under the package's record definition (header excluded).

    ``skipinitialspace``: like DuckDB, a field whose first non-blank character is a quote is a
    quoted field (only malformed files have such fields; writers quote fields with quotes).
    """
    normalised = data.replace(b"\r\n", b"\n").replace(b"\r", "\ue000".encode()).decode()
    rows = csv.reader(io.StringIO(normalised, newline=""), skipinitialspace=True)
    return sum(1 for row in rows if row) - 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=rows, index_column=st.booleans(), crlf=st.booleans())
def test_random_corruption_exact_accounting(specs: list[tuple[str, str, bool, bool]],
                                            index_column: bool, crlf: bool) -> None:
    data, reasons, kept_text = build(specs, index_column, crlf)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.csv"
        raw.write_bytes(data)
        report = ingest(raw, Path(tmp) / "out", key=b"test-key-not-secret", mapping="twcs")
        tweets = pd.read_parquet(Path(tmp) / "out" / "tweets.parquet")
        rejects = pd.read_parquet(Path(tmp) / "out" / "rejects.parquet")
    assert report["rows_in"] == len(specs) == python_csv_records(data)
    assert report["rows_in"] == report["rows_kept"] + report["rows_rejected"]
    expected = {n: r for n, r in enumerate(reasons, start=1) if r is not None}
    assert dict(zip(rejects["source_row"], rejects["reason"], strict=True)) == expected
    assert dict(zip(tweets["tweet_id"], tweets["text"], strict=True)) == kept_text
    assert sorted(tweets["source_row"]) == [n for n, r in enumerate(reasons, 1) if r is None]


@settings(max_examples=30, deadline=None)
@given(garbage=st.binary(min_size=1, max_size=300))
def test_garbage_after_a_valid_header_never_crashes(garbage: bytes) -> None:
    header = ",".join(COLUMNS).encode() + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.csv"
        raw.write_bytes(header + garbage)
        try:
            report = ingest(raw, Path(tmp) / "out", key=b"test-key-not-secret", mapping="twcs")
        except Exception as error:  # only the documented, clear refusal is allowed
            assert type(error).__name__ == "IngestError", repr(error)
            assert "raw.csv" in str(error)
            return
        assert report["rows_in"] == report["rows_kept"] + report["rows_rejected"]


@settings(max_examples=40, deadline=None)
@given(body=st.text(alphabet=st.sampled_from(list('a1,"\n\r ')), min_size=1, max_size=200))
def test_csv_like_noise_never_crashes_and_reconciles(body: str) -> None:
    """Noise with commas, quotes, LFs, CRs and spaces: exact accounting, never a crash.

    Without quotes the record count equals the csv module's. With malformed quoting the records
    are DuckDB's (its parser and Python's recover differently from, e.g., ``"" "``).
    """
    data = (",".join(COLUMNS) + "\n" + body).encode()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.csv"
        raw.write_bytes(data)
        try:
            report = ingest(raw, Path(tmp) / "out", key=b"test-key-not-secret", mapping="twcs")
        except Exception as error:
            assert type(error).__name__ == "IngestError", repr(error)
            assert "no records" in str(error)
            return
        rejects = pd.read_parquet(Path(tmp) / "out" / "rejects.parquet")
        tweets = pd.read_parquet(Path(tmp) / "out" / "tweets.parquet")
    assert report["rows_in"] == report["rows_kept"] + report["rows_rejected"]
    assert set(rejects["reason"]) <= set(REJECT_REASONS)
    rows = sorted([*tweets["source_row"], *rejects["source_row"]])
    assert rows == list(range(1, report["rows_in"] + 1))
    if '"' not in body:
        assert report["rows_in"] == python_csv_records(data)
