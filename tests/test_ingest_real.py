"""Ingest and thread every real excerpt in ../shared/data/real: counts, known answers, privacy.

Counts are cross-checked against Python's ``csv`` module (and ``json``) reading the same bytes
under the same record definition: CRLF is one line end, a CR not followed by LF is text, and a
blank line is not a record.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.errors import PipelineError
from complaintpanel.ingest import ingest
from complaintpanel.ingest.mapping import load_mapping
from complaintpanel.ingest.pseudonymise import pseudonym
from complaintpanel.thread import thread

pytestmark = pytest.mark.real_data
KEY = b"test-key-not-secret"

# file → (mapping detected, rows_in, rows_kept, rejects_by_reason)
EXPECTED = {
    "twcs-head-5k/twcs.csv": ("twcs", 5000, 5000, {}),
    "twcs-kaggle-sample/sample.csv": ("twcs", 93, 93, {}),
    "twcs-spotifycares-followups/support_requests.csv": ("twcs", 15096, 15096, {}),
    "twcs-reply-pairs-head/response_pairs_sample.csv": ("twcs_pairs", 44488, 44488, {}),
    "airline-sentiment-2015/Tweets.csv": ("airline", 14640, 14485, {"duplicate_tweet_id": 155}),
    "airline-sentiment-2015-excel-mangled/Tweets.csv": (
        "airline", 14640, 0, {"tweet_id_scientific_notation": 14640}),
    "ibm-twitter-docpred/dev.json": ("ibm_docpred", 1211, 1205, {"duplicate_tweet_id": 6}),
    "ibm-twitter-docpred/test.json": ("ibm_docpred", 1139, 1138, {"duplicate_tweet_id": 1}),
}


def csv_records(path: Path) -> list[list[str]]:
    """Records under the package's definition, read by Python's csv module (header included)."""
    data = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", "\ue000".encode())
    rows = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    return [row for row in rows if row]


def json_turns(path: Path) -> int:
    return sum(len(c["dialogContent"]) + 1 for c in json.loads(path.read_text()))


def customer_handles(path: Path) -> set[str]:
    """Every customer handle in the input, lower-cased, read independently of the package."""
    if path.suffix == ".json":
        handles = set()
        for conversation in json.loads(path.read_text()):
            for turn in conversation["dialogContent"]:
                handles.update(turn[k] for k in ("client", "client1") if k in turn)
        return {h.lower() for h in handles}
    records = csv_records(path)
    header = records[0]
    if "customer_id" in header:
        col = header.index("customer_id")
        return {r[col].lower() for r in records[1:]}
    if "inbound" in header:
        author, inbound = header.index("author_id"), header.index("inbound")
        return {r[author].lower() for r in records[1:] if len(r) == len(header)
                and r[inbound].lower() in ("true", "1")}
    name = header.index("name")
    return {r[name].lower() for r in records[1:]}


@pytest.fixture(scope="module")
def ingested(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Ingest and thread every real file once (keyed), into data/interim-like folders."""
    root = tmp_path_factory.mktemp("data") / "interim"
    out = {}
    for relative in EXPECTED:
        folder = root / relative.replace("/", "__")
        report = ingest(real_data / relative, folder, key=KEY)
        if report["rows_kept"]:
            thread(folder)
        else:  # nothing to thread: a clear refusal, not an empty table
            with pytest.raises(PipelineError, match="has 0 rows"):
                thread(folder)
        out[relative] = folder
    return out


@pytest.mark.parametrize("relative", list(EXPECTED))
def test_counts_and_accounting(relative: str, real_data: Path, ingested: dict[str, Path]) -> None:
    mapping, rows_in, kept, reasons = EXPECTED[relative]
    report = json.loads((ingested[relative] / "ingest_report.json").read_text())
    path = real_data / relative
    independent = json_turns(path) if path.suffix == ".json" else len(csv_records(path)) - 1
    assert independent == rows_in
    assert report["mapping"] == mapping
    assert report["rows_in"] == rows_in
    assert report["rows_kept"] == kept
    assert report["rejects_by_reason"] == reasons
    assert report["rows_in"] == report["rows_kept"] + report["rows_rejected"]
    assert report["input_sha256"] == report["input"]["sha256"]
    tweets = pd.read_parquet(ingested[relative] / "tweets.parquet")
    rejects = pd.read_parquet(ingested[relative] / "rejects.parquet")
    primary = tweets[~tweets["derived"]] if "derived" in tweets else tweets
    rows = sorted([*primary["source_row"], *rejects["source_row"]])
    assert rows == list(range(1, rows_in + 1))
    assert rejects["reason"].notna().all()
    assert tweets["tweet_id"].is_unique


def _output_strings(folder: Path) -> tuple[set[str], list[str]]:
    """All string values (lower-cased) and all texts in every output file of ``folder``."""
    values: set[str] = set()
    texts: list[str] = []
    for file in sorted(folder.iterdir()):
        if file.suffix == ".parquet":
            frame = pd.read_parquet(file)
            for column in frame.columns:
                if pd.api.types.is_string_dtype(frame[column]):
                    strings = frame[column].dropna().astype(str)
                    values.update(strings.str.lower())
                    texts.extend(strings)
        else:
            texts.append(file.read_text())
    return values, texts


@pytest.mark.parametrize("relative", list(EXPECTED))
def test_no_customer_handle_in_any_output(relative: str, real_data: Path,
                                          ingested: dict[str, Path]) -> None:
    folder = ingested[relative]
    report = json.loads((folder / "ingest_report.json").read_text())
    # A handle on the brand list is a brand even where it writes as a customer (the airline data
    # has tweets by @JetBlue and @SouthwestAir themselves); brand handles are kept by design.
    # Brand main accounts listed as authors (IBM: TMobile, Chase …) are brands too.
    listed = load_mapping(report["mapping"])
    brands = {b.lower() for b in (*listed.brand_handles, *listed.brand_authors)}
    handles = customer_handles(real_data / relative) - brands
    assert len(handles) >= 29  # the smallest file (the Kaggle sample) has 29 customers
    threaded = {"exchanges.parquet"} if report["rows_kept"] else set()
    assert {p.name for p in folder.iterdir()} >= {"tweets.parquet", "rejects.parquet",
                                                  "ingest_report.json", *threaded}
    values, texts = _output_strings(folder)
    assert not handles & values, sorted(handles & values)[:5]
    leaked = {m.lower() for text in texts for m in re.findall(r"@(\w+)", text)} & handles
    assert not leaked, sorted(leaked)[:5]


def test_brand_handles_intact(ingested: dict[str, Path]) -> None:
    con = duckdb.connect()
    head = ingested["twcs-head-5k/twcs.csv"] / "tweets.parquet"
    brands = {r[0] for r in con.sql(
        f"SELECT DISTINCT author_key FROM '{head}' WHERE NOT is_customer").fetchall()}
    assert len(brands) == 76 and {"sprintcare", "AmazonHelp", "AppleSupport"} <= brands
    assert con.sql(f"SELECT text FROM '{head}' WHERE tweet_id = 2").fetchall() == [
        ("@sprintcare and how do you propose we do that",)]
    spotify = ingested["twcs-spotifycares-followups/support_requests.csv"] / "tweets.parquet"
    n = con.sql(f"SELECT count(*) FROM '{spotify}' WHERE text LIKE '%@SpotifyCares%'").fetchall()
    assert n[0][0] > 14000
    ibm = ingested["ibm-twitter-docpred/dev.json"] / "tweets.parquet"
    first = con.sql(f"SELECT text FROM '{ibm}' WHERE tweet_id = 1245403438755852288").fetchall()
    assert first[0][0].startswith("@TeamYouTube Hello dear youtube officers")
    assert "<email>" in first[0][0] and "gmail" not in first[0][0]


def test_known_answers_twcs_head(ingested: dict[str, Path]) -> None:
    folder = ingested["twcs-head-5k/twcs.csv"]
    replies = pd.read_parquet(folder / "brand_replies.parquet").set_index("tweet_id")
    # Tweet 1 is sprintcare's reply to tweet 3 (22:08:27 → 22:10:47, 140 s).
    assert replies.loc[1, "brand"] == "sprintcare"
    assert replies.loc[1, "answers_tweet_id"] == 3
    assert replies.loc[1, "latency_h"] == pytest.approx(140 / 3600)
    exchanges = pd.read_parquet(folder / "exchanges.parquet").set_index("tweet_id")
    assert exchanges.loc[3, "brand_replied"] and exchanges.loc[3, "brand"] == "sprintcare"
    assert exchanges.loc[3, "reply_latency_h"] == pytest.approx(140 / 3600)
    assert exchanges.loc[3, "customer_id"] == replies.loc[1, "customer_id"]
    # Tweets 1..8 form one conversation rooted at customer tweet 8.
    assert set(exchanges.loc[[2, 3, 5, 8], "conversation_id"]) == {8}
    report = json.loads((folder / "thread_report.json").read_text())
    assert report["brand_tweets_answering_customer"] == 2188
    assert report["negative_latencies"] == 0
    assert report["unknown_brand"] == 0
    ingest_report = json.loads((folder / "ingest_report.json").read_text())
    assert ingest_report["customers"] == 1443  # 1,442 + the author of the record with lone CRs
    assert ingest_report["brands"] == 76
    assert ingest_report["normalisation"]["lone_cr"] == 2
    # Ancestor tweets years before the excerpt: kept, reported, a panel window suggested.
    outliers = ingest_report["created_at_outliers"]
    assert (outliers["bulk_from"], outliers["bulk_to"]) == ("2017-10-08", "2017-11-26")
    assert outliers["before"] == 5 and outliers["after"] == 0
    assert outliers["earliest"] == "2011-08-29"
    assert outliers["suggested_window_start"] == "2017-09-06"
    assert ingest_report["first_created_at"] == "2011-08-29T03:20:05Z"
    # The record with lone CRs inside unquoted text keeps them as text.
    text = pd.read_parquet(folder / "tweets.parquet").set_index("tweet_id").loc[3399, "text"]
    assert "\r\r" in text


def test_outliers_of_the_head_recounted_independently(real_data: Path) -> None:
    """The customer tweets before the suggested window start, counted with the csv module."""
    records = csv_records(real_data / "twcs-head-5k/twcs.csv")
    fmt = "%a %b %d %H:%M:%S %z %Y"
    days = sorted(pd.to_datetime(r[4], format=fmt).date() for r in records[1:]
                  if r[3] == "True")
    assert sum(d < pd.Timestamp("2017-09-06").date() for d in days) == 5
    assert days[0] == pd.Timestamp("2011-08-29").date()
    # The bulk: the days of the 1st and 99th percentile customer tweets; the gap to the window
    # start is the bulk's span (49 days, more than the 30-day minimum).
    first, last = days[int(np.ceil(0.01 * len(days))) - 1], days[int(np.ceil(0.99 * len(days))) - 1]
    assert (str(first), str(last)) == ("2017-10-08", "2017-11-26")
    assert min(d for d in days if (first - d).days <= (last - first).days + 1) == (
        pd.Timestamp("2017-09-06").date())


def test_head_matches_independent_reply_pairs(real_data: Path,
                                              ingested: dict[str, Path]) -> None:
    """All 2,188 reply pairs of the derived file whose tweets are in the head agree exactly."""
    pairs = pd.read_csv(real_data / "twcs-reply-pairs-head/response_pairs_sample.csv")
    replies = pd.read_parquet(ingested["twcs-head-5k/twcs.csv"] / "brand_replies.parquet")
    merged = pairs.merge(replies, left_on="reply_tweet_id", right_on="tweet_id")
    merged = merged[merged["answers_tweet_id"].notna()]
    assert len(merged) == 2188
    assert (merged["answers_tweet_id"] == merged["customer_tweet_id"]).all()
    assert (merged["brand"] == merged["agent_id"]).all()
    assert merged["latency_h"].mul(3600).round().eq(merged["response_time_seconds"]).all()


def test_known_answers_kaggle_sample(real_data: Path, ingested: dict[str, Path]) -> None:
    folder = ingested["twcs-kaggle-sample/sample.csv"]
    replies = pd.read_parquet(folder / "brand_replies.parquet").set_index("tweet_id")
    assert len(replies) == 44 and replies["answers_tweet_id"].notna().sum() == 42
    # 119238: ChaseSupport answers 119239 (13:00:09 → 13:25:49).
    assert replies.loc[119238, "answers_tweet_id"] == 119239
    assert replies.loc[119238, "latency_h"] == pytest.approx(1540 / 3600)
    # Median latency recomputed from the raw file with the csv module alone.
    records = csv_records(real_data / "twcs-kaggle-sample/sample.csv")
    by_id = {r[0]: r for r in records[1:]}
    fmt = "%a %b %d %H:%M:%S %z %Y"
    latencies = [
        (pd.to_datetime(r[3], format=fmt) - pd.to_datetime(by_id[r[6]][3], format=fmt))
        .total_seconds() / 3600
        for r in records[1:] if r[2] == "False" and r[6] in by_id and by_id[r[6]][2] == "True"]
    assert len(latencies) == 42
    assert replies["latency_h"].median() == pytest.approx(pd.Series(latencies).median())


def test_airline_layout(real_data: Path, ingested: dict[str, Path]) -> None:
    folder = ingested["airline-sentiment-2015/Tweets.csv"]
    exchanges = pd.read_parquet(folder / "exchanges.parquet")
    records = csv_records(real_data / "airline-sentiment-2015/Tweets.csv")
    first_seen: dict[str, str] = {}
    for row in records[1:]:
        first_seen.setdefault(row[0], row[5])  # tweet_id → airline of its first record
    assert exchanges["brand"].value_counts().to_dict() == pd.Series(
        list(first_seen.values())).value_counts().to_dict()
    assert (exchanges["brand_source"] == "declared").all()
    assert {"airline_sentiment", "negativereason"} <= set(exchanges.columns)
    assert exchanges["created_at"].min() == pd.Timestamp("2015-02-17 07:36:05", tz="UTC")


def test_mangled_airline_rejects_name_every_problem(ingested: dict[str, Path]) -> None:
    rejects = pd.read_parquet(
        ingested["airline-sentiment-2015-excel-mangled/Tweets.csv"] / "rejects.parquet")
    assert len(rejects) == 14640
    assert rejects["detail"].str.contains("created_at_unparseable").all()
    assert rejects["tweet_id_raw"].iloc[0] == "5.70306E+17"


def test_ibm_threads(ingested: dict[str, Path]) -> None:
    report = json.loads((ingested["ibm-twitter-docpred/test.json"] / "thread_report.json")
                        .read_text())
    # Every agent turn (553, the final ones included) answers the customer turn before it; so do
    # the two tweets of the Windows account; the openings of hulu, DropboxBusiness and Photoshop
    # (brand main accounts, see IBM_BRAND_ACCOUNTS) answer nobody.
    assert report["brand_tweets"] == 553 + 5
    assert report["brand_tweets_answering_customer"] == 553 + 2
    assert report["unknown_brand"] == 0 and report["negative_latencies"] == 0


def test_pairs_layout_derives_customer_tweets(ingested: dict[str, Path]) -> None:
    folder = ingested["twcs-reply-pairs-head/response_pairs_sample.csv"]
    report = json.loads((folder / "ingest_report.json").read_text())
    assert report["tweets_derived"] == 42119 and report["customers"] == 25949
    thread_report = json.loads((folder / "thread_report.json").read_text())
    assert thread_report["brand_tweets_answering_customer"] == 44488


def test_cli_acceptance(real_data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["ingest", str(real_data / "twcs-head-5k/twcs.csv"), "--out", str(tmp_path / "i")],
        env={"COMPLAINTPANEL_KEY": "cli-test-key-not-secret"})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ingest: 5,000 rows in, 5,000 kept, 0 rejected")
    result = CliRunner().invoke(app, ["thread", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "i" / "exchanges.parquet").exists()
    assert not (tmp_path / "pseudonymisation.key").exists()  # the key came from the environment


def test_ibm_reply_links_point_to_the_right_tweets(real_data: Path,
                                                   ingested: dict[str, Path]) -> None:
    """Every reply link of the IBM dev file is exact, read back as int64 (issue 13).

    Twitter ids need 63 bits; through a double, 61 of the links of the 622 customer tweets
    pointed to the wrong tweet (994706065450242050 became …048). Links are rebuilt here with
    the json module: each turn answers the turn before it; a repeated id keeps its first record.
    """
    expected: dict[int, int | None] = {}
    for conversation in json.loads((real_data / "ibm-twitter-docpred/dev.json").read_text()):
        previous = None
        for turn in [*conversation["dialogContent"], conversation["agentURL"]]:
            expected.setdefault(int(turn["tweet_ID"]), previous)
            previous = int(turn["tweet_ID"])
    folder = ingested["ibm-twitter-docpred/dev.json"]
    tweets = pq.read_table(folder / "tweets.parquet")
    exchanges = pq.read_table(folder / "exchanges.parquet")
    for table in (tweets, exchanges):
        assert table.schema.field("tweet_id").type == pa.int64()
        assert table.schema.field("in_reply_to").type == pa.int64()
    assert exchanges.schema.field("conversation_id").type == pa.int64()
    links = dict(zip(tweets["tweet_id"].to_pylist(), tweets["in_reply_to"].to_pylist(),
                     strict=True))
    assert links == expected and len(links) == 1205
    customer = dict(zip(exchanges["tweet_id"].to_pylist(), exchanges["in_reply_to"].to_pylist(),
                        strict=True))
    # 622 customer tweets, less the 7 by brand main accounts (IBM_BRAND_ACCOUNTS).
    assert len(customer) == 615 and all(customer[t] == expected[t] for t in customer)
    assert sum(v is not None for v in customer.values()) == 99  # the 7 opened conversations
    assert 994706065450242050 in customer.values()
    assert {v for v in customer.values() if v is not None} <= set(links)


# Brand main accounts that write `client` turns of the IBM data (measured on dev + test: the
# opening broadcast of T-Mobile, Amazon India's Prime Video, Chase … and Windows answering a
# customer inside a MicrosoftHelps conversation); executives (NevilleRay, MikeSievert) and
# celebrities stay customers.
IBM_BRAND_ACCOUNTS = {"TMobile", "PrimeVideoIN", "amazon", "Chase", "GoDaddy", "hulu",
                      "DropboxBusiness", "Photoshop", "Windows"}


def test_ibm_brand_main_accounts_are_brands(real_data: Path, ingested: dict[str, Path]) -> None:
    found = set()
    for relative in ("ibm-twitter-docpred/dev.json", "ibm-twitter-docpred/test.json"):
        tweets = pd.read_parquet(ingested[relative] / "tweets.parquet")
        brands = tweets[~tweets["is_customer"]]
        present = IBM_BRAND_ACCOUNTS & set(brands["author_key"])
        found |= present
        pseudonyms = {pseudonym(h, KEY) for h in IBM_BRAND_ACCOUNTS}
        assert not pseudonyms & set(tweets["author_key"])
        assert not any(f"@{p}" in text for p in pseudonyms for text in tweets["text"])
        report = json.loads((ingested[relative] / "ingest_report.json").read_text())
        assert report["brand_authors_listed"] == int(brands["author_key"].isin(present).sum())
    assert found == IBM_BRAND_ACCOUNTS
    assert set(load_mapping("ibm_docpred").brand_authors) == IBM_BRAND_ACCOUNTS
