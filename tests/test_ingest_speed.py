"""Shortcuts taken for speed must not change a result: each is checked against the slow way.

* The mojibake pre-filter (:data:`complaintpanel.ingest.quirks.MOJIBAKE_HINT`, run by DuckDB's
  regular expressions, after the pure-ASCII skip) must select every text of the real excerpts
  that the repair would change: a text it misses would keep its mojibake.
* The line-end normalisation (lone CRs found first, the CRs of CRLFs deleted) must give the
  bytes and counts of the plain two-step replacement, however the stream is cut into chunks.
* Repairing each distinct text once gives each text its own repair.
* The DuckDB-only shortcuts (later copies of a tweet id marked by an UPDATE, texts with a
  mention after their start rewritten in Python, mojibake repaired per distinct text) give the
  outputs of the shared SQL that Spark runs.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import ftfy
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import complaintpanel.ingest.quirks as quirks_module
import complaintpanel.ingest.stage as stage_module
import complaintpanel.ingest.validate as validate_module
from complaintpanel.ingest import ingest
from complaintpanel.ingest.quirks import MOJIBAKE_HINT, repair_texts
from complaintpanel.ingest.sources import CR_PLACEHOLDER, normalise_csv_bytes

EXCERPTS = (
    "twcs-head-5k/twcs.csv",
    "twcs-kaggle-sample/sample.csv",
    "twcs-spotifycares-followups/support_requests.csv",
    "twcs-reply-pairs-head/response_pairs_sample.csv",
    "airline-sentiment-2015/Tweets.csv",
    "twcs-brand-exports-excel/AirAsiaSupport.csv",
    "twcs-brand-exports-excel/AskRBC.csv",
    "twcs-brand-exports-excel/NikeSupport.csv",
    "twcs-brand-exports-excel/SpotifyCares.csv",
    "twcs-brand-exports-excel/Walmart.csv",
)
TEXT_COLUMNS = ("text", "customer_text", "response_text")


def _texts(path: Path) -> list[str]:
    """Texts of a real excerpt under the package's record definition (lone CRs are text)."""
    data = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", CR_PLACEHOLDER.encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8").removeprefix("\ufeff"),
                                       newline="")))
    header = [h.strip() for h in rows[0]]
    columns = [header.index(c) for c in TEXT_COLUMNS if c in header]
    return [row[i].replace(CR_PLACEHOLDER, "\r") for row in rows[1:]
            if len(row) == len(header) for i in columns]


@pytest.mark.real_data
def test_mojibake_hint_selects_every_text_the_repair_changes(real_data: Path) -> None:
    texts = list(dict.fromkeys(t for e in EXCERPTS for t in _texts(real_data / e)))
    assert len(texts) == 52_228  # distinct texts of the excerpts
    con = duckdb.connect()
    con.register("texts", pa.table({"text": pa.array(texts, pa.string())}))
    # The filter exactly as repair_mojibake runs it on DuckDB.
    selected = {r[0] for r in con.sql(
        "SELECT text FROM texts WHERE strlen(text) > length(text) "
        f"AND regexp_matches(text, '{MOJIBAKE_HINT}')").fetchall()}
    non_ascii = [t for t in texts if not t.isascii()]
    changed = {t for t, fixed in zip(non_ascii, repair_texts(non_ascii), strict=True)
               if fixed != t}
    by_ftfy = {t for t in non_ascii if ftfy.fix_encoding(t) != t}
    # Known answers: ftfy declines one text the round trip repairs (HÃ¥kon, see repair_texts).
    assert (len(changed), len(by_ftfy)) == (2_975, 2_974)
    assert changed <= selected
    assert by_ftfy <= selected


def test_repair_texts_each_distinct_text_once() -> None:
    once = "we’re".encode().decode("cp1252")
    mixed = "Café " + "— open".encode().decode("cp1252")
    assert repair_texts([once, mixed, once, "x", mixed]) == [
        "we’re", "Café — open", "we’re", "x", "Café — open"]


def _reference(data: bytes) -> tuple[bytes, dict[str, int]]:
    """The plain way: CRLF → LF, then every CR left → the placeholder."""
    joined = data.replace(b"\r\n", b"\n")
    placeholder = CR_PLACEHOLDER.encode()
    return joined.replace(b"\r", placeholder), {
        "crlf": len(data) - len(joined), "lone_cr": joined.count(b"\r")}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b'"', b",", b"\r\r", b"\n\r"]),
                max_size=60),
       st.lists(st.integers(1, 7), min_size=1, max_size=8))
def test_normalisation_matches_the_plain_replacement(pieces: list[bytes],
                                                     cuts: list[int]) -> None:
    data = b"".join(pieces)
    chunks, start, k = [], 0, 0
    while start < len(data):  # cut the stream anywhere, CRLFs included
        chunks.append(data[start:start + cuts[k % len(cuts)]])
        start += cuts[k % len(cuts)]
        k += 1
    out = io.BytesIO()
    stats = normalise_csv_bytes(iter(chunks), out)
    expected, counts = _reference(data)
    assert out.getvalue() == expected
    assert {k: stats[k] for k in counts} == counts


# ---------------------------------------------------------------------------------------------
# A real-quirk fixture: the TWCS-layout excerpts written as one spreadsheet-style file
# ---------------------------------------------------------------------------------------------
QUIRK_EXCERPTS = (  # the excerpts of benchmarks/bench_ingest.py's real-quirks file, in its order
    "twcs-head-5k/twcs.csv",
    "twcs-spotifycares-followups/support_requests.csv",
    "twcs-kaggle-sample/sample.csv",
    "twcs-brand-exports-excel/AirAsiaSupport.csv",
    "twcs-brand-exports-excel/AskRBC.csv",
    "twcs-brand-exports-excel/NikeSupport.csv",
    "twcs-brand-exports-excel/SpotifyCares.csv",
    "twcs-brand-exports-excel/Walmart.csv",
)
TWCS_COLUMNS = ("tweet_id", "author_id", "inbound", "created_at", "text", "response_tweet_id",
                "in_response_to_tweet_id")


def _records(path: Path) -> list[list[str]]:
    """TWCS fields of a real excerpt's records (lone CRs restored), read with the csv module."""
    data = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", CR_PLACEHOLDER.encode())
    rows = [r for r in csv.reader(io.StringIO(data.decode("utf-8").removeprefix("\ufeff"),
                                              newline="")) if r]
    header = [h.strip() for h in rows[0]]
    at = [header.index(c) for c in TWCS_COLUMNS]
    return [[row[i].replace(CR_PLACEHOLDER, "\r") for i in at] for row in rows[1:]]


def _field(value: str) -> str:
    """Quoted only where RFC 4180 needs it: lone CRs stay unquoted, as in the excerpts."""
    if "," in value or '"' in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


@pytest.fixture(scope="module")
def quirk_file(real_data: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, list[list[str]]]:
    """The excerpts as one file: BOM, CRLF, quoted newlines, lone CRs, mojibake, mangled
    response lists, and tweets present in two excerpts (later copies are duplicates)."""
    records = [r for e in QUIRK_EXCERPTS for r in _records(real_data / e)]
    path = tmp_path_factory.mktemp("quirks") / "twcs.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeff" + ",".join(TWCS_COLUMNS) + "\r\n")
        out.write("".join(",".join(map(_field, r)) + "\r\n" for r in records))
    return path, records


def _outputs(out: Path) -> tuple[pa.Table, pa.Table, dict]:
    import json

    import pyarrow.parquet as pq

    report = json.loads((out / "ingest_report.json").read_text())
    report.pop("seconds")
    return (pq.read_table(out / "tweets.parquet"), pq.read_table(out / "rejects.parquet"),
            report)


@pytest.mark.real_data
def test_real_quirk_file_duplicates_recounted_with_csv(
        quirk_file: tuple[Path, list[list[str]]], tmp_path: Path) -> None:
    """Tweets in two excerpts: each later copy rejected, naming the first, as csv counts."""
    from complaintpanel.ingest import ingest

    path, records = quirk_file
    first: dict[str, int] = {}
    expected = {}  # later copy's record number → the first record's, counted with csv
    for number, record in enumerate(records, 1):
        if record[0] in first:
            expected[number] = first[record[0]]
        first.setdefault(record[0], number)
    assert expected
    ingest(path, tmp_path / "out", key=b"test-key-0123456789abcdef")
    tweets, rejects, report = _outputs(tmp_path / "out")
    assert report["rows_in"] == len(records)
    assert report["rows_kept"] == tweets.num_rows == len(records) - len(expected)
    assert report["rejects_by_reason"] == {"duplicate_tweet_id": len(expected)}
    assert {r["source_row"]: r["detail"] for r in rejects.to_pylist()} == {
        n: f"first kept at record {k}" for n, k in expected.items()}


def test_nul_byte_after_the_first_crlf_chunk_is_rejected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CR scan stops at the first chunk with a CR; the normalised copy still finds NULs."""
    from complaintpanel.ingest import ingest, sources

    monkeypatch.setattr(sources, "_CHUNK", 64)  # the NUL lies chunks after the first CR
    rows = [f"{i},{100 + i},True,Tue Oct 31 22:10:47 +0000 2017,hello number {i},," for i in
            range(1, 40)]
    rows[30] = rows[30].replace("hello", "hel\0lo")
    path = tmp_path / "twcs.csv"
    path.write_bytes(("tweet_id,author_id,inbound,created_at,text,response_tweet_id,"
                      "in_response_to_tweet_id\r\n" + "\r\n".join(rows) + "\r\n").encode())
    report = ingest(path, tmp_path / "out", key=b"test-key-0123456789abcdef")
    assert report["rejects_by_reason"] == {"nul_byte": 1}
    assert report["rows_kept"] == 38
    assert report["normalisation"]["crlf"] == 40


def _round_trip_every_time(text: str) -> str | None:
    """The round trip repeated until it fails or changes nothing (no shortcut)."""
    import ftfy.bad_codecs  # noqa: F401  (registers sloppy-windows-1252)

    fixed, current = None, text
    while True:
        try:
            again = current.encode("sloppy-windows-1252").decode("utf-8")
        except UnicodeError:
            return fixed
        if again == current:
            return fixed
        fixed = current = again


_ALPHABET = st.sampled_from(["a", " ", "@", "’", "é", "ü", "—", "€", "™", "\u0081", "\u009d",
                             "\u00a0", "\u00c3", "\u00e2", "\u00f0", "\u00bf", "😀", "日"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=12).map("".join), st.integers(0, 3))
def test_round_trip_stops_early_only_where_nothing_changes(text: str, layers: int) -> None:
    """Stopping once a repaired text lacks MOJIBAKE_HINT gives the result of trying again."""
    import ftfy.bad_codecs  # noqa: F401

    from complaintpanel.ingest.quirks import _round_trip

    for _ in range(layers):  # mojibake of mojibake of ...
        try:
            text = text.encode("utf-8").decode("sloppy-windows-1252")
        except UnicodeError:
            break
    assert _round_trip(text) == _round_trip_every_time(text)


class _NotAnEngine:
    """Stands for DuckDBEngine in isinstance tests, so that the shared (Spark) path runs."""


def _output_rows(out: Path) -> tuple[list[dict], list[dict], dict]:
    import json

    tweets = pq.read_table(out / "tweets.parquet").to_pylist()
    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    report = json.loads((out / "ingest_report.json").read_text())
    for key in ("seconds", "engine"):
        report.pop(key, None)
    return tweets, rejects, report


def _ingest_both_ways(inputs: list[Path], tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> tuple[tuple, tuple]:
    key = b"0123456789abcdef-speed-test"
    ingest(inputs if len(inputs) > 1 else inputs[0], tmp_path / "fast", key=key)
    with monkeypatch.context() as patched:
        patched.setattr(validate_module, "DuckDBEngine", _NotAnEngine)
        patched.setattr(quirks_module, "DuckDBEngine", _NotAnEngine)
        patched.setattr(stage_module, "_mention_texts", lambda *args: None)
        ingest(inputs if len(inputs) > 1 else inputs[0], tmp_path / "shared", key=key)
    return _output_rows(tmp_path / "fast"), _output_rows(tmp_path / "shared")


def test_duckdb_shortcuts_give_the_shared_sql_outputs(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Duplicate ids (kept first, later ones rejected), mojibake (twice the same text),
    # mentions after the start (brand, customer, address, e-mail) and lone CRs.
    rows = [
        ("1", "cust_a", "True", "Tue Oct 31 22:10:47 +0000 2017",
         "@AcmeHelp my order\rcc @cust_b and @Other_1, mail jo.x@mail.example.com", "", ""),
        ("2", "AcmeHelp", "False", "Tue Oct 31 22:20:47 +0000 2017",
         "@cust_a sorry, itâ€™s late; ask @cust_b or team@acme", "", "1"),
        ("1", "cust_a", "True", "Tue Oct 31 22:30:47 +0000 2017", "dup of 1", "", ""),
        ("3", "cust_b", "True", "Tue Oct 31 22:40:47 +0000 2017", "itâ€™s @AcmeHelp", "", ""),
        ("4", "AcmeHelp", "False", "Tue Oct 31 22:50:47 +0000 2017",
         "@cust_b itâ€™s @cust_a's too @AcmeHelp", "", "3"),
        ("2", "AcmeHelp", "False", "Tue Oct 31 23:00:47 +0000 2017", "another dup", "", "1"),
    ]
    raw = tmp_path / "twcs.csv"
    with raw.open("w", encoding="utf-8", newline="") as handle:
        handle.write("tweet_id,author_id,inbound,created_at,text,response_tweet_id,"
                     "in_response_to_tweet_id\r\n")
        for row in rows:
            handle.write(",".join('"' + v.replace('"', '""') + '"' if "," in v else v
                                  for v in row) + "\r\n")
    fast, shared = _ingest_both_ways([raw], tmp_path, monkeypatch)
    assert fast == shared
    tweets, rejects, report = fast
    assert report["rejects_by_reason"] == {"duplicate_tweet_id": 2}
    assert [r["source_row"] for r in rejects] == [3, 6]
    assert report["mojibake_repaired"] == 3
    assert all("cust_" not in t["text"] for t in tweets)


@pytest.mark.real_data
def test_duckdb_shortcuts_on_real_archives(real_data: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = [real_data / "twcs-brand-exports-excel/SpotifyCares.csv",
              real_data / "twcs-spotifycares-followups/support_requests.csv"]
    fast, shared = _ingest_both_ways(inputs, tmp_path / "two-sided", monkeypatch)
    assert fast == shared
    fast, shared = _ingest_both_ways([real_data / "twcs-head-5k/twcs.csv"],
                                     tmp_path / "head", monkeypatch)
    assert fast == shared
