"""Ingest on small hand-written inputs: every quirk in the issue, errors, formats, mappings."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.ingest import IngestError, ingest
from complaintpanel.ingest.pseudonymise import pseudonym

KEY = b"test-key-not-secret"
HEADER = ",tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
TW = "Tue Oct 31 22:10:47 +0000 2017"

# (record text, expected reason or None) — one CSV record each; record numbers are 1-based.
QUIRKS = [
    (f'0,1,sprintcare,False,{TW},"@115712 Hi, can we help?","2,3",3.0\n', None),
    ("1,3,115712,True,Tue Oct 31 22:08:27 +0000 2017,@sprintcare my phone is dead,1,\n", None),
    ('2,4,115712,TRUE,2017-10-31T23:00:00+01:00,"two\nlines, and a ""quote""",,1\n', None),
    ("3,5,sprintcare,FALSE,2017-10-31 22:30:00 -0000,@115712 ok\rthanks,,4.0\n", None),
    (f"4,6,115713,1,{TW},@sprintcare reply to a tweet not in the file,,999\n", None),
    (f"5,7,sprintcare,0,{TW},@115713 hello,,6\n", None),
    (f"6,5.70306E+17,115714,True,{TW},sci id,,\n", "tweet_id_scientific_notation"),
    ("7,8,115714,True,24-02-2015 11:35,day-first date,,\n", "created_at_unparseable"),
    ("8,9,115714,True,2017-10-31 22:08:27,no offset,,\n", "created_at_no_timezone"),
    (f"9,10,115714,maybe,{TW},bad flag,,\n", "inbound_invalid"),
    (f"10,1,115714,True,{TW},duplicate of tweet 1,,\n", "duplicate_tweet_id"),
    (f"11,11,115714,True,{TW},reply id mangled,,1.23E+05\n", "in_reply_to_scientific_notation"),
    ("12,12,115714,True\n", "too_few_fields"),
    (f"13,13,115714,True,{TW},x,,,extra\n", "too_many_fields"),
    (f"14,,115714,True,{TW},no id,,\n", "tweet_id_missing"),
    (f"15,14,,True,{TW},no author,,\n", "author_id_missing"),
    (f"16,15,115714,True,{TW},self reply,,15\n", "in_reply_to_self"),
    (f'17,16,115714,True,{TW},bad "quote" ok,,\n', None),
    (f"18,17,115714,True,{TW},@SpotifyCares mail me at someone@example.com,,\n", None),
]


def write_quirks(path: Path, newline: str = "\n") -> Path:
    body = HEADER + "".join(text for text, _ in QUIRKS)
    path.write_bytes(body.replace("\n", newline).encode() if newline != "\n" else body.encode())
    return path


def expected_reasons() -> dict[int, str]:
    return {i: reason for i, (_, reason) in enumerate(QUIRKS, start=1) if reason}


def test_quirks_each_record_accounted_with_reason(tmp_path: Path) -> None:
    report = ingest(write_quirks(tmp_path / "raw.csv"), tmp_path / "out", key=KEY)
    assert report["rows_in"] == len(QUIRKS)
    rejects = pd.read_parquet(tmp_path / "out" / "rejects.parquet")
    assert dict(zip(rejects["source_row"], rejects["reason"], strict=True)) == expected_reasons()
    tweets = pd.read_parquet(tmp_path / "out" / "tweets.parquet").set_index("tweet_id")
    assert report["rows_kept"] == len(tweets) == len(QUIRKS) - len(expected_reasons())
    assert report["replies_to_missing_parent"] == 1  # tweet 6 answers 999
    assert tweets.loc[1, "in_reply_to"] == 3 and pd.isna(tweets.loc[3, "in_reply_to"])
    assert tweets.loc[4, "text"] == 'two\nlines, and a "quote"'
    assert tweets.loc[5, "text"] == f"@{pseudonym('115712', KEY)} ok\rthanks"
    assert tweets.loc[4, "created_at"] == pd.Timestamp("2017-10-31 22:00:00", tz="UTC")
    assert tweets.loc[5, "created_at"] == pd.Timestamp("2017-10-31 22:30:00", tz="UTC")
    assert tweets.loc[1, "text"] == f"@{pseudonym('115712', KEY)} Hi, can we help?"
    assert tweets.loc[3, "author_key"] == pseudonym("115712", KEY)
    assert tweets.loc[1, "author_key"] == "sprintcare"
    assert list(tweets["is_customer"].loc[[3, 4, 5, 6, 7]]) == [True, True, False, True, False]
    assert tweets.loc[17, "text"] == "@SpotifyCares mail me at <email>"
    assert tweets.loc[17, "brand_mentioned"] == "SpotifyCares"
    assert tweets.loc[16, "text"] == 'bad "quote" ok'
    assert tweets.loc[3, "source_row"] == 2 and tweets.loc[17, "source_row"] == 19
    duplicate = rejects.set_index("source_row").loc[11]
    assert duplicate["detail"] == "first kept at record 1"


def test_crlf_gzip_and_parquet_give_the_same_tweets(tmp_path: Path) -> None:
    plain = ingest(write_quirks(tmp_path / "raw.csv"), tmp_path / "a", key=KEY)
    crlf = ingest(write_quirks(tmp_path / "crlf.csv", "\r\n"), tmp_path / "b", key=KEY)
    gz = tmp_path / "raw.csv.gz"
    gz.write_bytes(gzip.compress((tmp_path / "raw.csv").read_bytes()))
    zipped = ingest(gz, tmp_path / "c", key=KEY)
    a = pd.read_parquet(tmp_path / "a" / "tweets.parquet")
    for other, report in (("b", crlf), ("c", zipped)):
        assert report["rows_in"] == plain["rows_in"]
        assert report["rejects_by_reason"] == plain["rejects_by_reason"]
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / other / "tweets.parquet"), a)
    # Parquet in the TWCS schema with typed columns (ids as int, times as timestamps).
    frame = pd.DataFrame({
        "tweet_id": [1, 2], "author_id": ["sprintcare", "115712"], "inbound": [False, True],
        "created_at": pd.to_datetime(["2017-10-31 22:10:47", "2017-10-31 22:08:27"], utc=True),
        "text": ["@115712 hi", "@sprintcare help"], "response_tweet_id": ["", "1"],
        "in_response_to_tweet_id": [2.0, None]})
    frame.to_parquet(tmp_path / "raw.parquet")
    report = ingest(tmp_path / "raw.parquet", tmp_path / "d", key=KEY)
    tweets = pd.read_parquet(tmp_path / "d" / "tweets.parquet")
    assert report["rows_kept"] == 2 and list(tweets["in_reply_to"].astype("Int64")) == [2, pd.NA]
    assert tweets["created_at"].iloc[0] == pd.Timestamp("2017-10-31 22:10:47", tz="UTC")


@pytest.mark.parametrize("with_cr", [False, True])
def test_blank_lines_are_not_records(tmp_path: Path, with_cr: bool) -> None:
    raw = tmp_path / "raw.csv"
    second = QUIRKS[1][0].replace("@sprintcare my phone is dead", '"a\n\nb"')
    bad = "12,12,115714,True\n"  # a reject after blank lines: its record number must be exact
    text = HEADER + QUIRKS[0][0] + "\n\n" + second + "\n" + bad + QUIRKS[2][0]
    raw.write_text(text.replace("\n", "\r\n") if with_cr else text)
    report = ingest(raw, tmp_path / "out", key=KEY)
    assert report["rows_in"] == 4 and report["rows_kept"] == 3
    assert report["normalisation"]["blank_lines_dropped"] == 3
    rejects = pd.read_parquet(tmp_path / "out" / "rejects.parquet")
    assert list(rejects["source_row"]) == [3] and list(rejects["reason"]) == ["too_few_fields"]
    tweets = pd.read_parquet(tmp_path / "out" / "tweets.parquet")
    assert list(tweets["source_row"]) == [1, 2, 4]
    assert tweets["text"].iloc[1] == "a\n\nb"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"\x00\x01\x02binary\x00", "binary"),
    (b"PK\x03\x04\xff\xfe\xfa\xfb not text at all" * 10, "not UTF-8"),
    (b"a,b,c\n1,2,3\n", "missing column(s) tweet_id, author_id, inbound, created_at, text"),
    (HEADER.encode(), "no records"),
    (b'[{"x": 1}]', "JSON"),
])
def test_unusable_input_stops_with_one_clear_message(tmp_path: Path, content: bytes,
                                                     message: str) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_bytes(content)
    out = tmp_path / "interim" / "name"
    with pytest.raises(IngestError, match=r"raw\.csv") as error:
        ingest(raw, out, key=KEY, mapping="twcs" if content.startswith(b"[") else None)
    assert message in str(error.value)
    assert not out.exists()  # nothing half-written
    scratch = tmp_path / "interim"
    assert not scratch.exists() or list(scratch.iterdir()) == []  # no scratch left behind


def test_cli_error_exit_code(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(app, ["ingest", str(raw), "--out", str(tmp_path / "out")],
                                env={"COMPLAINTPANEL_KEY": "test-key-not-secret"})
    assert result.exit_code == 2
    assert "raw.csv" in result.output and "missing column(s)" in result.output
    assert not (tmp_path / "out").exists()


def test_custom_toml_mapping(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text("""
name = "firm_export"
format = "table"
assume_timezone = "+00:00"
[columns]
tweet_id = "id"
author_id = "user"
inbound = "from_customer"
created_at = "time"
text = "body"
in_reply_to = "parent"
[extra]
columns = ["channel"]
[brands]
handles = ["AcmeHelp"]
""")
    raw = tmp_path / "export.csv"
    raw.write_text("id,user,from_customer,time,body,parent,channel,secret\n"
                   "1,Jane_Doe,yes,2020-01-01 10:00:00,@AcmeHelp broken again,,web,x\n"
                   "2,AcmeHelp,no,2020-01-01 10:30:00,@jane_doe sorry!,1,web,y\n")
    report = ingest(raw, tmp_path / "out", key=KEY, mapping=tmp_path / "mine.toml")
    assert report["mapping"] == "firm_export" and report["rows_kept"] == 2
    tweets = pd.read_parquet(tmp_path / "out" / "tweets.parquet")
    jane = pseudonym("Jane_Doe", KEY)
    assert list(tweets["text"]) == ["@AcmeHelp broken again", f"@{jane} sorry!"]
    assert list(tweets["channel"]) == ["web", "web"] and "secret" not in tweets


def test_same_key_same_output_and_key_file_beside_data(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTPANEL_KEY", raising=False)
    raw = write_quirks(tmp_path / "raw.csv")
    first = ingest(raw, tmp_path / "interim" / "a")
    ingest(raw, tmp_path / "interim" / "b")
    key_file = tmp_path / "interim" / "pseudonymisation.key"
    assert key_file.exists() and oct(key_file.stat().st_mode)[-3:] == "600"
    assert first["pseudonymisation"]["key_source"] == "file"
    a = pd.read_parquet(tmp_path / "interim" / "a" / "tweets.parquet")
    b = pd.read_parquet(tmp_path / "interim" / "b" / "tweets.parquet")
    pd.testing.assert_frame_equal(a, b)
    key = key_file.read_text().strip().encode()
    assert pseudonym("115712", key) in set(a["author_key"])
    monkeypatch.setenv("COMPLAINTPANEL_KEY", "other-key-not-secret")
    third = ingest(raw, tmp_path / "interim" / "c")
    c = pd.read_parquet(tmp_path / "interim" / "c" / "tweets.parquet")
    assert third["pseudonymisation"]["key_source"] == "env"
    assert pseudonym("115712", b"other-key-not-secret") in set(c["author_key"])
    assert not set(a["author_key"]) & set(c[c["is_customer"]]["author_key"])


def test_json_conversation_mapping(tmp_path: Path) -> None:
    conversations = [
        {"dialogHeader": {"company": "AcmeHelp"},
         "dialogContent": [
             {"client": "JaneDoe", "datetime": "2020-04-01T17:31:32.000Z",
              "message": "@AcmeHelp my order is lost, cc @BobSmith",
              "tweet_ID": "1245403438755852288"},
             {"agent": "AcmeHelp", "datetime": "2020-04-01T17:40:00.000Z",
              "message": "@JaneDoe we are on it", "tweet_ID": "1245405571228614656"}],
         "agentURL": {"tweet_ID": "1245425308704149506", "url_utterance": "@janedoe see this"}},
        "not a conversation",
    ]
    raw = tmp_path / "conv.json"
    raw.write_text(json.dumps(conversations))
    report = ingest(raw, tmp_path / "out", key=KEY)
    assert report["mapping"] == "ibm_docpred"
    assert report["rows_in"] == 4 and report["rejects_by_reason"] == {"malformed_conversation": 1}
    tweets = pd.read_parquet(tmp_path / "out" / "tweets.parquet")
    jane = pseudonym("janedoe", KEY)
    assert list(tweets["author_key"]) == [jane, "AcmeHelp", "AcmeHelp"]
    assert list(tweets["in_reply_to"].astype("Int64")) == [pd.NA, 1245403438755852288,
                                                           1245405571228614656]
    assert tweets["text"].iloc[0] == f"@AcmeHelp my order is lost, cc @{pseudonym('BobSmith', KEY)}"
    assert tweets["text"].iloc[2] == f"@{jane} see this"
    # The final turn has no timestamp field: its time comes from the snowflake id.
    assert tweets["created_at"].iloc[2] == pd.Timestamp("2020-04-01 18:58:27", tz="UTC")


def test_outputs_follow_the_contract(tmp_path: Path) -> None:
    ingest(write_quirks(tmp_path / "raw.csv"), tmp_path / "out", key=KEY)
    con = duckdb.connect()
    types = dict(con.sql(f"DESCRIBE SELECT * FROM '{tmp_path / 'out' / 'tweets.parquet'}'")
                 .fetchall()[i][:2] for i in range(7))
    assert types == {"tweet_id": "BIGINT", "author_key": "VARCHAR", "is_customer": "BOOLEAN",
                     "created_at": "TIMESTAMP WITH TIME ZONE", "text": "VARCHAR",
                     "in_reply_to": "BIGINT", "source_row": "BIGINT"}
    rejects = dict(con.sql(f"DESCRIBE SELECT * FROM '{tmp_path / 'out' / 'rejects.parquet'}'")
                   .fetchall()[i][:2] for i in range(4))
    assert rejects == {"source_row": "BIGINT", "reason": "VARCHAR", "detail": "VARCHAR",
                       "tweet_id_raw": "VARCHAR"}
    report = json.loads((tmp_path / "out" / "ingest_report.json").read_text())
    for key in ("rows_in", "rows_kept", "rows_rejected", "rejects_by_reason", "customers",
                "brands", "tweets_customer", "tweets_brand", "replies_to_missing_parent",
                "first_created_at", "last_created_at", "input_sha256"):
        assert key in report
    assert report["first_created_at"] == "2017-10-31T22:00:00Z"
