"""Loud on bad input: every stage refuses empty inputs, and every error is one line.

A spreadsheet-mangled airline file (every tweet id in scientific notation) is rejected row by
row by ingest; every later stage must then stop with one line naming the file and the reason
counts, exit status 2, no traceback — instead of writing empty outputs with status 0 and ending,
stages later, in ``ValueError: cannot convert float NaN to integer``. Bugs are one line with
status 1; ``--debug`` shows their traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from complaintpanel.cli import app

ENV = {"COMPLAINTPANEL_KEY": "cli-errors-test-key-0123"}
HEADER = ("tweet_id,airline_sentiment,airline_sentiment_confidence,negativereason,"
          "negativereason_confidence,airline,airline_sentiment_gold,name,negativereason_gold,"
          "retweet_count,text,tweet_coord,tweet_created,tweet_location,user_timezone")
REASON = "ingest rejected all 14 records (tweet_id_scientific_notation: 14)"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


def assert_one_line_error(result: Result, stage: str, *fragments: str, status: int = 2) -> None:
    assert result.exit_code == status, result.output
    text = result.output.strip()
    assert "Traceback" not in result.output
    assert "\n" not in text, text
    assert text.startswith(f"{stage}: error: "), text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


@pytest.fixture
def rejected(tmp_path: Path) -> Path:
    """The interim folder of an airline file whose 14 tweet ids a spreadsheet mangled."""
    rows = [f"5.70{i:03d}E+17,negative,1,Late Flight,0.7,United,,user{i},,0,"
            f"@united my flight {i} is late,,2015-02-24 11:{i:02d}:00 -0800,,"
            for i in range(14)]
    raw = tmp_path / "Tweets.csv"
    raw.write_text("\n".join([HEADER, *rows]) + "\n")
    interim = tmp_path / "interim" / "air"
    result = invoke("ingest", raw, "--out", interim, "--mapping", "airline")
    assert result.exit_code == 0, result.output
    assert "14 rows in, 0 kept, 14 rejected" in result.output
    return interim


def _empty_downstream(interim: Path) -> Path:
    """Zero-row exchanges, voiced and panel with their reports, as the stages used to write."""
    processed = interim.parent.parent / "processed" / "air"
    processed.mkdir(parents=True)
    ids = pd.Series([], dtype="int64")
    exchanges = pd.DataFrame({"tweet_id": ids, "customer_id": pd.Series([], dtype=str),
                              "brand": pd.Series([], dtype=str), "text": pd.Series([], dtype=str),
                              "created_at": pd.Series([], dtype="datetime64[us, UTC]")})
    exchanges.to_parquet(interim / "exchanges.parquet")
    (interim / "thread_report.json").write_text(json.dumps(
        {"tweets": 0, "customer_tweets": 0, "brand_tweets": 0}))
    exchanges.drop(columns="text").assign(voice=pd.Series([], dtype=str)).to_parquet(
        processed / "voiced.parquet")
    (processed / "label_report.json").write_text(json.dumps(
        {"input": str(interim / "exchanges.parquet"), "tweets": 0}))
    from complaintpanel.panel import PANEL_COLUMNS

    pd.DataFrame({c.name: pd.Series([], dtype="float64") for c in PANEL_COLUMNS}).to_parquet(
        processed / "panel.parquet")
    (processed / "panel_report.json").write_text(json.dumps(
        {"customer_tweets_in": 0, "rows": 0, "period": "week"}))
    return processed


def test_every_stage_refuses_an_input_with_no_rows_and_says_why(rejected: Path) -> None:
    tweets = rejected / "tweets.parquet"
    assert_one_line_error(invoke("thread", rejected), "thread",
                          f"{tweets}: has 0 rows: {REASON}")
    results = rejected.parent.parent / "results"
    assert_one_line_error(invoke("describe", rejected, "--out", results), "describe",
                          f"{tweets}: has 0 rows: {REASON}")
    processed = _empty_downstream(rejected)
    exchanges = rejected / "exchanges.parquet"
    chained = f"tweets.parquet has 0 rows: {REASON}"
    for args in (["label", rejected, "--out", processed],
                 ["robustness", rejected, "--out", results]):
        assert_one_line_error(invoke(*args), str(args[0]), f"{exchanges}: has 0 rows: {chained}")
    voiced = processed / "voiced.parquet"
    for args in (["panel", processed],
                 ["label-validity", voiced, voiced, "--out", results]):
        assert_one_line_error(invoke(*args), str(args[0]),
                              f"{voiced}: has 0 rows: exchanges.parquet has 0 rows: {chained}")
    panel = processed / "panel.parquet"
    for args in (["estimate", processed, "--out", results],
                 ["hmm", processed, "--out", results],
                 ["policy", processed, "--out", results]):
        assert_one_line_error(invoke(*args), str(args[0]), f"{panel}: has 0 rows: ", REASON)
    # Nothing was written by the refused stages.
    assert not results.exists()
    assert sorted(p.name for p in processed.iterdir()) == [
        "label_report.json", "panel.parquet", "panel_report.json", "voiced.parquet"]


def test_the_installed_command_prints_one_line_and_exits_2(rejected: Path) -> None:
    env = {**os.environ, **ENV}
    done = subprocess.run([sys.executable, "-m", "complaintpanel.cli", "thread", str(rejected)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"thread: error: {rejected / 'tweets.parquet'}: has 0 rows: {REASON}\n"


def test_thread_refuses_tweets_without_a_customer(tmp_path: Path) -> None:
    pd.DataFrame({
        "tweet_id": np.array([1, 2], dtype="int64"), "author_key": ["BrandA", "BrandA"],
        "is_customer": [False, False],
        "created_at": pd.to_datetime(["2017-10-02", "2017-10-03"], utc=True),
        "text": ["hello", "there"], "in_reply_to": pd.array([None, 1], dtype="Int64"),
        "source_row": np.array([1, 2], dtype="int64"),
    }).to_parquet(tmp_path / "tweets.parquet")
    assert_one_line_error(invoke("thread", tmp_path), "thread",
                          "tweets.parquet: has 2 tweets but no customer tweet")


def test_panel_refuses_labels_with_no_usable_tweet(tmp_path: Path) -> None:
    voiced = pd.DataFrame({
        "customer_id": ["c1", "c2", "c3"], "brand": ["unknown"] * 3,
        "created_at": pd.to_datetime(["2017-10-02", "2017-10-03", "2017-10-04"], utc=True),
        "voice": ["complaint"] * 3, "sentiment": [-0.5] * 3, "brand_replied": [False] * 3,
        "reply_latency_h": [np.nan] * 3})
    voiced.to_parquet(tmp_path / "voiced.parquet")
    assert_one_line_error(invoke("panel", tmp_path), "panel",
                          "voiced.parquet: none of its 3 customer tweets is usable for the "
                          "panel (unknown brand: 3)")
    assert not (tmp_path / "panel.parquet").exists()


def test_an_output_path_that_is_a_file_is_a_clear_error(rejected: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    raw = tmp_path / "Tweets.csv"
    assert_one_line_error(invoke("ingest", raw, "--out", taken, "--mapping", "airline"),
                          "ingest", f"{taken}: is an existing file, not a folder")
    assert_one_line_error(invoke("ingest", raw, "--out", taken / "sub", "--mapping", "airline"),
                          "ingest", f"{taken / 'sub'}: cannot create the output folder")
    pd.DataFrame({"tweet_id": [1]}).to_parquet(tmp_path / "exchanges.parquet")
    assert_one_line_error(invoke("label", tmp_path, "--out", taken), "label",
                          f"{taken}: is an existing file, not a folder")
    assert taken.read_text() == "not a folder"


def test_a_bug_is_one_line_and_debug_shows_its_traceback(
        rejected: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import complaintpanel.report.descriptives as descriptives

    def broken(*args: object) -> None:
        raise ZeroDivisionError("deliberately broken")

    monkeypatch.setattr(descriptives, "weekly_activity", broken)
    tweets = pd.DataFrame({
        "tweet_id": np.array([1], dtype="int64"), "author_key": ["c1"], "is_customer": [True],
        "created_at": pd.to_datetime(["2017-10-02"], utc=True), "in_reply_to": [None]})
    folder = rejected.parent / "other"
    folder.mkdir()
    tweets.to_parquet(folder / "tweets.parquet")
    out = rejected.parent / "results"
    result = invoke("describe", folder, "--out", out)
    assert_one_line_error(result, "describe",
                          "internal error (ZeroDivisionError: deliberately broken); this is a "
                          "bug, run with --debug for the traceback", status=1)
    debug = invoke("--debug", "describe", folder, "--out", out)
    assert debug.exit_code == 1
    assert isinstance(debug.exception, ZeroDivisionError)
    assert not out.exists()  # the failed run left nothing behind


def test_typer_usage_errors_keep_typer_s_format() -> None:
    result = invoke("estimate")
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_descriptives_of_an_empty_panel() -> None:
    # The cause of "ValueError: cannot convert float NaN to integer" at the end of `estimate`.
    from complaintpanel.estimate.run import panel_descriptives
    from complaintpanel.panel import PANEL_COLUMNS

    empty = pd.DataFrame({c.name: pd.Series([], dtype="float64") for c in PANEL_COLUMNS})
    described = panel_descriptives(empty)
    assert described["periods"] == 0
    assert described["panel_rows"] == described["customers"] == 0


SEPARATED = """
import pandas as pd
from complaintpanel.estimate.fixed_effects import fit_ppml
from complaintpanel.estimate.treatments import add_model_columns
from complaintpanel.panel import build_panel
from complaintpanel.results import NotIdentifiedError

rows = []
for customer in ("c1", "c2", "c3"):
    for when, voice, replied in (("2017-10-02", "complaint", True),
                                 ("2017-10-16", "compliment", True),
                                 ("2017-10-23", "neutral", False)):
        rows.append({"customer_id": customer, "brand": "B",
                     "created_at": pd.Timestamp(when, tz="UTC"), "voice": voice,
                     "sentiment": 0.0, "brand_replied": replied,
                     "reply_latency_h": 1.0 if replied else None})
data = add_model_columns(build_panel(pd.DataFrame(rows)))
try:
    fit_ppml(data, "replied")
except NotIdentifiedError as error:
    print("not identified:", error)
"""


def test_ppml_on_a_sample_that_separation_empties_is_not_identified() -> None:
    # Complaints only in each pair's first period (which has no lagged treatment): PPML sets
    # every pair aside, and pyfixest's demeaning of the empty rest used to abort the process
    # (a Rust panic: `estimate` and `robustness` died on the IBM excerpt by month). In a
    # subprocess, so that the old behaviour fails this test instead of killing pytest.
    done = subprocess.run([sys.executable, "-c", SEPARATED], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "not identified: treatment 'replied' never varies within a customer–brand pair once" \
        in done.stdout
