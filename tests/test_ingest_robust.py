"""Ingest is loud on bad input and exact on good input (issue 13).

64-bit ids end to end, plausible creation times, one encoding policy for the whole file, clear
one-line errors for unusable inputs and mappings, and header names in any case.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.config import IngestConfig, load_config, section_digest
from complaintpanel.errors import PipelineError
from complaintpanel.ingest import REJECT_REASONS, IngestError, MappingError, ingest
from complaintpanel.ingest.mapping import builtin_mappings, load_mapping
from complaintpanel.thread import thread

KEY = b"test-key-not-secret"
COLUMNS = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id"
HEADER = COLUMNS + "\n"
TW = "Tue Oct 31 22:10:47 +0000 2017"


def record(tweet_id: int | str, text: str = "hello", created_at: str = TW,
           author: str = "115712", inbound: str = "True", reply: str = "") -> str:
    return f"{tweet_id},{author},{inbound},{created_at},{text},,{reply}\n"


def filler(count: int, start: int = 1000) -> str:
    """``count`` valid customer records of about 90 bytes each."""
    return "".join(record(start + i, f"@AcmeHelp filler record number {i} with some words")
                   for i in range(count))


def read(folder: Path, name: str) -> list[dict[str, object]]:
    """Rows of an output file read with pyarrow (pandas would turn nullable int64 to float)."""
    return pq.read_table(folder / f"{name}.parquet").to_pylist()


def rejects_of(folder: Path) -> dict[int, str]:
    return {r["source_row"]: r["reason"] for r in read(folder, "rejects")}  # type: ignore[misc]


def assert_accounted(report: dict[str, object], folder: Path) -> None:
    rejects = read(folder, "rejects")
    tweets = read(folder, "tweets")
    assert report["rows_in"] == report["rows_kept"] + report["rows_rejected"]
    assert all(r["reason"] in REJECT_REASONS for r in rejects), rejects
    rows = sorted([*(t["source_row"] for t in tweets), *(r["source_row"] for r in rejects)])
    assert rows == list(range(1, int(report["rows_in"]) + 1))  # type: ignore[call-overload]


# ---------------------------------------------------------------------------------------------
# 64-bit ids
# ---------------------------------------------------------------------------------------------
BIG = 9223372036854775000  # near 2**63 - 1 = 9223372036854775807


def big_id_file(path: Path) -> Path:
    rows = [
        record(BIG, "@AcmeHelp help", "2017-10-31T10:00:00Z", "custA"),
        record(BIG + 1, "@custA sure", "2017-10-31T10:05:00Z", "AcmeHelp", "False", f"{BIG}"),
        record(BIG + 2, "@AcmeHelp thanks", "2017-10-31T10:06:00Z", "custA", reply=f"{BIG + 1}.0"),
        record(2**63 - 1, "@custA welcome", "2017-10-31T10:07:00Z", "AcmeHelp", "False",
               f"{BIG + 2}"),
        record(2**63 - 2, "@AcmeHelp hi", "2017-10-31T11:00:00Z", "custB"),
        record(2**63 - 3, "@custB hello", "2017-10-31T11:30:00Z", "AcmeHelp", "False",
               f"{2**63 - 2}"),
        record(2**63, "one more than the largest BIGINT", "2017-10-31T11:00:00Z", "custC"),
    ]
    path.write_text(HEADER + "".join(rows))
    return path


def test_ids_near_2_63_are_exact_through_ingest_and_thread(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    report = ingest(big_id_file(tmp_path / "big.csv"), folder, key=KEY)
    thread(folder)
    assert report["rejects_by_reason"] == {"tweet_id_invalid": 1}  # 2**63 does not fit
    for name, columns in {"tweets": ("tweet_id", "in_reply_to"),
                          "exchanges": ("tweet_id", "conversation_id", "in_reply_to"),
                          "brand_replies": ("tweet_id", "answers_tweet_id", "conversation_id",
                                            "in_reply_to")}.items():
        schema = pq.read_schema(folder / f"{name}.parquet")
        assert {c: schema.field(c).type for c in columns} == dict.fromkeys(columns, pa.int64())
    tweets = {t["tweet_id"]: t["in_reply_to"] for t in read(folder, "tweets")}
    assert tweets == {BIG: None, BIG + 1: BIG, BIG + 2: BIG + 1, 2**63 - 1: BIG + 2,
                      2**63 - 2: None, 2**63 - 3: 2**63 - 2}
    replies = {r["tweet_id"]: (r["answers_tweet_id"], r["conversation_id"])
               for r in read(folder, "brand_replies")}
    assert replies == {BIG + 1: (BIG, BIG), 2**63 - 1: (BIG + 2, BIG),
                       2**63 - 3: (2**63 - 2, 2**63 - 2)}
    exchanges = {e["tweet_id"]: e["conversation_id"] for e in read(folder, "exchanges")}
    assert exchanges == {BIG: BIG, BIG + 2: BIG, 2**63 - 2: 2**63 - 2}


# ---------------------------------------------------------------------------------------------
# Plausible creation times
# ---------------------------------------------------------------------------------------------
def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_creation_times_outside_the_hard_bounds_are_rejected(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    dated = {
        1: (TW, None),
        2: ("Thu Jan 01 00:00:00 +0000 1970", "created_at_out_of_range"),
        3: ("2099-01-01T00:00:00Z", "created_at_out_of_range"),
        4: ("0001-01-01T00:00:00Z", "created_at_out_of_range"),
        5: ("2006-03-20T23:59:59Z", "created_at_out_of_range"),  # the day before Twitter
        6: ("2006-03-21T00:00:00Z", None),
        7: (iso(now + timedelta(hours=2)), None),  # clocks and time zones: a day of slack
        8: (iso(now + timedelta(days=2)), "created_at_out_of_range"),
    }
    raw = tmp_path / "raw.csv"
    raw.write_text(HEADER + "".join(record(n, created_at=c) for n, (c, _) in dated.items()))
    folder = tmp_path / "out"
    report = ingest(raw, folder, key=KEY)
    assert rejects_of(folder) == {n: r for n, (_, r) in dated.items() if r}
    assert_accounted(report, folder)
    assert report["first_created_at"] == "2006-03-21T00:00:00Z"
    assert report["created_at_bounds"] == {"min": "2006-03-21T00:00:00Z",
                                           "max": "the time of the run plus one day"}
    detail = {r["source_row"]: r["detail"] for r in read(folder, "rejects")}
    assert detail[2] == "created_at_out_of_range"


def test_bounds_are_settings_of_the_ingest_section(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text(HEADER + record(1, created_at="2015-06-01T00:00:00Z")
                   + record(2, created_at=TW) + record(3, created_at="2019-01-01T00:00:00Z"))
    config = tmp_path / "config.toml"
    config.write_text('[ingest]\ncreated_at_min = "2017-01-01"\n'
                      'created_at_max = "2018-01-01T00:00:00+00:00"\n')
    settings = load_config(config).ingest
    assert settings.created_at_min == "2017-01-01"
    assert section_digest(load_config(config), "ingest") != section_digest(
        load_config(None), "ingest")  # Make reruns ingest when the bounds change
    result = CliRunner().invoke(app, ["ingest", str(raw), "--out", str(tmp_path / "out"),
                                      "--config", str(config)],
                                env={"COMPLAINTPANEL_KEY": KEY.decode()})
    assert result.exit_code == 0, result.output
    assert rejects_of(tmp_path / "out") == {1: "created_at_out_of_range",
                                            3: "created_at_out_of_range"}
    with pytest.raises(ValueError, match=r"\[ingest\] created_at_min"):
        IngestConfig(created_at_min="01/02/2017")


def test_parent_tweets_outside_the_bounds_are_not_derived(tmp_path: Path) -> None:
    raw = tmp_path / "pairs.csv"
    raw.write_text("customer_tweet_id,customer_id,created_at_customer,reply_tweet_id,agent_id,"
                   "created_at_reply,response_time_seconds\n"
                   f"1,115712,{TW},2,AcmeHelp,{TW},0\n"
                   "3,115713,Thu Jan 01 00:00:00 +0000 1970,4,AcmeHelp,"
                   f"{TW},0\n")
    report = ingest(raw, tmp_path / "out", key=KEY)
    assert report["mapping"] == "twcs_pairs"
    assert report["derived_parents"]["parents_invalid_by_reason"] == {
        "parent_created_at_out_of_range": 1}
    assert report["tweets_derived"] == 1


def test_outliers_within_the_bounds_are_reported_with_a_window(tmp_path: Path) -> None:
    """Three ancestor tweets years before the bulk: reported, kept, a window suggested."""
    bulk = "".join(record(100 + i, created_at=f"2017-10-{1 + i % 28:02d}T{i % 24:02d}:00:00Z")
                   for i in range(300))
    early = (record(1, created_at="2011-08-29T03:20:05Z")
             + record(2, created_at="2016-08-01T10:00:00Z")
             + record(3, created_at="2016-08-02T10:00:00Z"))
    raw = tmp_path / "raw.csv"
    raw.write_text(HEADER + early + bulk)
    result = CliRunner().invoke(app, ["ingest", str(raw), "--out", str(tmp_path / "out")],
                                env={"COMPLAINTPANEL_KEY": KEY.decode()})
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "ingest_report.json").read_text())
    assert report["rows_kept"] == 303  # outliers are kept: they are plausible, just far away
    outliers = report["created_at_outliers"]
    assert outliers["before"] == 3 and outliers["after"] == 0
    assert outliers["bulk_from"] == "2017-10-01" and outliers["bulk_to"] == "2017-10-28"
    assert outliers["suggested_window_start"] == "2017-10-01"
    assert outliers["suggested_window_end"] is None
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("ingest: 303 rows in, 303 kept")
    assert any(line.startswith("ingest: warning: 3 tweets") and "2011-08-29" in line
               and '[panel] window_start = "2017-10-01"' in line for line in lines), lines


def test_no_outliers_in_an_even_spread(tmp_path: Path) -> None:
    rows = "".join(record(100 + i, created_at=f"{2015 + i % 4}-{1 + i % 12:02d}-01T00:00:00Z")
                   for i in range(200))
    raw = tmp_path / "raw.csv"
    raw.write_text(HEADER + rows)
    report = ingest(raw, tmp_path / "out", key=KEY)
    assert report["created_at_outliers"]["before"] == report["created_at_outliers"]["after"] == 0


def test_iso_timestamps_in_the_report_have_four_digit_years(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text(HEADER + record(1, created_at="0001-01-01T00:00:00Z")
                   + record(2, created_at="0999-12-31T23:59:59Z"))
    report = ingest(raw, tmp_path / "out", key=KEY, created_at_min="0001-01-01")
    assert report["first_created_at"] == "0001-01-01T00:00:00Z"
    assert report["last_created_at"] == "0999-12-31T23:59:59Z"


# ---------------------------------------------------------------------------------------------
# One encoding policy for the whole file
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("before", [0, 5, 2000])  # 2,000 records ≈ 180 KB: past the first 64 KB
@pytest.mark.parametrize(("bad", "reason"), [(b"\xff", "invalid_encoding"),
                                             (b"\xc3(", "invalid_encoding"),
                                             (b"\x00", "nul_byte")])
def test_a_bad_byte_rejects_its_record_wherever_it_is(tmp_path: Path, before: int, bad: bytes,
                                                      reason: str, compressed: bool) -> None:
    data = (HEADER + filler(before)).encode() + b"7,115712,True," + TW.encode() + (
        b",text with a bad " + bad + b" byte,,\n") + filler(3, start=5000).encode()
    raw = tmp_path / ("raw.csv.gz" if compressed else "raw.csv")
    raw.write_bytes(gzip.compress(data) if compressed else data)
    folder = tmp_path / "out"
    report = ingest(raw, folder, key=KEY)
    assert rejects_of(folder) == {before + 1: reason}
    assert report["rows_in"] == before + 4
    assert_accounted(report, folder)
    assert not any("\0" in str(t["text"]) for t in read(folder, "tweets"))


@pytest.mark.parametrize(("encoding", "name"), [
    ("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"),
    ("utf-32", "UTF-32"), ("utf-32-le", "UTF-32")])
def test_utf16_and_utf32_are_named_with_the_fix(tmp_path: Path, encoding: str, name: str) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_bytes((HEADER + filler(3)).encode(encoding))
    with pytest.raises(IngestError) as error:
        ingest(raw, tmp_path / "out", key=KEY)
    message = str(error.value)
    assert f"is {name} text" in message and f"iconv -f {name} -t UTF-8" in message, message
    assert "binary" not in message
    assert not (tmp_path / "out").exists()


def test_binary_files_are_still_refused_whole(tmp_path: Path) -> None:
    raw = tmp_path / "image.csv"
    raw.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    with pytest.raises(IngestError, match="binary"):
        ingest(raw, tmp_path / "out", key=KEY)


def test_a_huge_field_is_rejected_with_a_reason(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text(HEADER + filler(2) + record(7, "x" * 9_000_000) + filler(2, start=5000))
    folder = tmp_path / "out"
    report = ingest(raw, folder, key=KEY)
    assert rejects_of(folder) == {3: "record_too_long"}
    assert_accounted(report, folder)


# ---------------------------------------------------------------------------------------------
# Clear errors for unusable inputs and mappings
# ---------------------------------------------------------------------------------------------
def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    mapping = tmp_path / "mine.toml"
    mapping.write_text('name = "mine"\n[columns\ntweet_id = "id"\n')
    with pytest.raises(MappingError) as error:
        load_mapping(mapping)
    assert error.value.file == str(mapping)
    assert "line 2" in error.value.problem and "TOML" in error.value.problem


@pytest.mark.parametrize("name", ["missing.toml", "folder/missing.toml", "folder/"])
def test_a_missing_mapping_file_is_a_mapping_error(tmp_path: Path, name: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(MappingError, match=r"no such mapping file|is a folder") as error:
        load_mapping(tmp_path / name)
    assert "twcs_pairs" in str(error.value)  # lists the built-in mappings


@pytest.mark.parametrize(("toml", "message"), [
    ('[columns]\ntweet_id = 1\nauthor_id = "a"\ninbound = "b"\ncreated_at = "c"\n',
     "columns.tweet_id must be a string"),
    ('columns = "tweet_id"\n', "[columns] must be a table"),
    ('[columns]\ntweet_id = "a"\nauthor_id = "b"\ninbound = "c"\ncreated_at = "d"\n'
     '[brands]\nhandles = "AcmeHelp"\n', "brands.handles must be a list of strings"),
])
def test_a_mapping_with_wrong_types_is_a_mapping_error(tmp_path: Path, toml: str,
                                                       message: str) -> None:
    mapping = tmp_path / "mine.toml"
    mapping.write_text(toml)
    with pytest.raises(MappingError, match=re.escape(message)):
        load_mapping(mapping)


def valid_parquet_bytes() -> bytes:
    sink = io.BytesIO()
    frame = pd.DataFrame({"tweet_id": range(1, 201), "author_id": ["115712"] * 200,
                          "inbound": [True] * 200, "created_at": [TW] * 200,
                          "text": ["hello"] * 200, "in_response_to_tweet_id": [None] * 200})
    frame.to_parquet(sink)
    return sink.getvalue()


@pytest.mark.parametrize(("content", "message"), [
    (b"PAR1" + bytes(range(256)) * 4, "not a valid Parquet file"),
    ("truncated", "not a valid Parquet file"),
    ((HEADER + filler(2)).encode(), "named .parquet but is not a Parquet file"),
])
def test_a_file_named_parquet_that_is_not_parquet(tmp_path: Path, content: bytes | str,
                                                  message: str) -> None:
    raw = tmp_path / "raw.parquet"
    if content == "truncated":
        whole = valid_parquet_bytes()
        content = whole[: len(whole) // 2]
    assert isinstance(content, bytes)
    raw.write_bytes(content)
    with pytest.raises(IngestError, match=re.escape(message)) as error:
        ingest(raw, tmp_path / "out", key=KEY)
    assert error.value.file == str(raw)


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_a_truncated_gzip_file_says_so(tmp_path: Path, cut: float) -> None:
    whole = gzip.compress((HEADER + filler(3000)).encode())
    raw = tmp_path / "raw.csv.gz"
    raw.write_bytes(whole[: int(len(whole) * cut)])
    with pytest.raises(IngestError, match="truncated") as error:
        ingest(raw, tmp_path / "out", key=KEY)
    assert error.value.file == str(raw)
    assert not (tmp_path / "out").exists()


def test_a_corrupt_gzip_file_is_an_ingest_error(tmp_path: Path) -> None:
    whole = bytearray(gzip.compress((HEADER + filler(3000)).encode()))
    whole[len(whole) // 2] ^= 0xFF
    raw = tmp_path / "raw.csv.gz"
    raw.write_bytes(bytes(whole))
    with pytest.raises(IngestError, match="gzip"):
        ingest(raw, tmp_path / "out", key=KEY)


def test_an_output_path_that_is_a_file_is_an_ingest_error(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text(HEADER + filler(2))
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(IngestError, match="not a folder"):
        ingest(raw, tmp_path / "out", key=KEY)


@pytest.mark.parametrize("args", [
    ["--mapping", "{tmp}/bad.toml"], ["--mapping", "{tmp}/missing.toml"]])
def test_cli_prints_mapping_problems_in_one_line(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "bad.toml").write_text("[columns\n")
    raw = tmp_path / "raw.csv"
    raw.write_text(HEADER + filler(2))
    result = CliRunner().invoke(
        app, ["ingest", str(raw), "--out", str(tmp_path / "out"),
              *(a.format(tmp=tmp_path) for a in args)],
        env={"COMPLAINTPANEL_KEY": KEY.decode()})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and ".toml" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


# ---------------------------------------------------------------------------------------------
# Headers in any case; built-in mappings listed in --help
# ---------------------------------------------------------------------------------------------
def test_header_names_match_in_any_case(tmp_path: Path) -> None:
    body = filler(3) + record(9, "@AcmeHelp hi", reply="1000")
    (tmp_path / "lower.csv").write_text(HEADER + body)
    (tmp_path / "upper.csv").write_text(HEADER.upper() + body)
    (tmp_path / "mixed.csv").write_text(" Tweet_ID, Author_Id,INBOUND,Created_At,Text,"
                                        "Response_Tweet_Id,In_Response_To_Tweet_Id\n" + body)
    expected = ingest(tmp_path / "lower.csv", tmp_path / "lower", key=KEY)
    for name in ("upper", "mixed"):
        report = ingest(tmp_path / f"{name}.csv", tmp_path / name, key=KEY)
        assert report["mapping"] == "twcs" and report["rows_kept"] == expected["rows_kept"] == 4
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / name / "tweets.parquet"),
                                      pd.read_parquet(tmp_path / "lower" / "tweets.parquet"))
    frame = pd.read_csv(tmp_path / "lower.csv", dtype=str)
    frame.columns = [c.upper() for c in frame.columns]
    frame.to_parquet(tmp_path / "upper.parquet")
    assert ingest(tmp_path / "upper.parquet", tmp_path / "pq", key=KEY)["rows_kept"] == 4


def test_columns_differing_only_in_case_are_ambiguous(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text(HEADER.strip() + ",TEXT\n" + "".join(
        line.strip() + ",other\n" for line in filler(2).splitlines()))
    with pytest.raises(IngestError) as error:
        ingest(raw, tmp_path / "out", key=KEY, mapping="twcs")
    assert "'text'" in str(error.value) and "'TEXT'" in str(error.value)
    assert "ambiguous" in str(error.value)


def test_help_lists_every_built_in_mapping() -> None:
    result = CliRunner().invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for name in builtin_mappings():
        assert name in text, name
    assert "twcs_pairs" in text


def test_errors_are_pipeline_errors_with_a_file() -> None:
    assert issubclass(IngestError, PipelineError) and issubclass(MappingError, PipelineError)
