"""The Spark engine gives the same tables and the same accounting as DuckDB, row for row.

Both engines run the same stage SQL (DuckDB's dialect; SQLGlot translates it for Spark), so these
tests are the proof that the translation keeps the meaning: on the default simulated world and
on every real excerpt, ``tweets``, ``rejects``, ``exchanges``, ``brand_replies`` and the panel
from Spark (local mode, 2 cores) equal DuckDB's after sorting, floating columns to 1e-9, and
the ingest, thread and panel reports are identical apart from timings and the engine's name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from complaintpanel.config import LabelConfig, SimulateConfig
from complaintpanel.ingest import ingest
from complaintpanel.label.stage import classifier_for, label_exchanges
from complaintpanel.panel import build_panel, panel_report
from complaintpanel.runtime.engines import (
    EngineError,
    SparkEngine,
    check_java,
    open_engine,
    spark_session,
    to_spark_sql,
)
from complaintpanel.simulate import simulate_world, write_world
from complaintpanel.thread import thread

pytestmark = pytest.mark.spark

KEY = b"equivalence-test-key"
# Sort keys that make every row of a table unique.
TABLE_KEYS = {
    "tweets": ["source_row", "tweet_id"],
    "rejects": ["source_row"],
    "exchanges": ["tweet_id"],
    "brand_replies": ["tweet_id"],
}
REAL = {
    "twcs-head-5k/twcs.csv": "twcs",
    "twcs-kaggle-sample/sample.csv": "twcs",
    "twcs-spotifycares-followups/support_requests.csv": "twcs",
    "twcs-reply-pairs-head/response_pairs_sample.csv": "twcs_pairs",
    "airline-sentiment-2015/Tweets.csv": "airline",
    "airline-sentiment-2015-excel-mangled/Tweets.csv": "airline",
    "ibm-twitter-docpred/dev.json": "ibm_docpred",
    "ibm-twitter-docpred/test.json": "ibm_docpred",
}
VOLATILE = {"seconds", "engine"}  # timings and which engine ran: the only allowed differences


# ---------------------------------------------------------------------------------------------
# Translation (no Spark needed)
# ---------------------------------------------------------------------------------------------
def test_translation_of_functions_sqlglot_leaves_alone() -> None:
    spark_sql = to_spark_sql(
        "SELECT regexp_full_match(x, 'a|b'), list_extract(l, 2), epoch_us(t), "
        "try_strptime(s, '%b %d %H:%M:%S %z %Y'), string_split_regex(x, '@') FROM z")
    assert "RLIKE '^(?:a|b)\\\\z'" in spark_sql  # whole string, no match before a final newline
    assert "TRY_ELEMENT_AT(l, 2)" in spark_sql  # 1-based on both sides
    assert "UNIX_MICROS(t)" in spark_sql
    assert "TRY_TO_TIMESTAMP(s, 'MMM d H:m:s Z yyyy')" in spark_sql
    assert "SPLIT(x, '@')" in spark_sql


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    with pytest.raises(EngineError, match="needs Java 17 or newer"):
        check_java()


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(EngineError, match="unknown engine 'polars'"):
        open_engine("polars")


# ---------------------------------------------------------------------------------------------
# Equivalence
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spark() -> Any:
    """A local Spark session with 2 cores; Java missing is a failure with the reason."""
    try:
        check_java()
    except EngineError as error:
        pytest.fail(f"the Spark equivalence tests need Java: {error}")
    # The small inputs run many short queries, for which the JVM's quick compiler alone is about
    # 10% faster; it changes no result.
    quick_jit = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}
    return spark_session("local[2]", conf=quick_jit)


def run_both(raw: Path, mapping: str | None, out: Path, spark: Any) -> dict[str, Path]:
    folders = {}
    for engine in ("duckdb", "spark"):
        folder = out / engine / raw.stem
        report = ingest(raw, folder, mapping=mapping, key=KEY, engine=engine)
        if report["rows_kept"]:  # thread refuses a file with no tweets (a PipelineError)
            thread(folder, engine=engine)
        folders[engine] = folder
    return folders


def assert_same_table(duck: pd.DataFrame, spark: pd.DataFrame, keys: list[str]) -> None:
    assert list(spark.columns) == list(duck.columns)
    assert dict(spark.dtypes) == dict(duck.dtypes)
    assert len(spark) == len(duck)
    keys = [k for k in keys if k in duck.columns]
    pd.testing.assert_frame_equal(
        spark.sort_values(keys).reset_index(drop=True),
        duck.sort_values(keys).reset_index(drop=True),
        check_exact=False, rtol=0, atol=1e-9)


def assert_same_outputs(folders: dict[str, Path]) -> None:
    for table, keys in TABLE_KEYS.items():
        if not (folders["duckdb"] / f"{table}.parquet").exists():  # not threaded: no tweets
            assert not (folders["spark"] / f"{table}.parquet").exists()
            continue
        assert_same_table(pd.read_parquet(folders["duckdb"] / f"{table}.parquet"),
                          pd.read_parquet(folders["spark"] / f"{table}.parquet"), keys)
    for report in ("ingest_report.json", "thread_report.json"):
        if not (folders["duckdb"] / report).exists():
            assert not (folders["spark"] / report).exists()
            continue
        duck, spark = (json.loads((folders[e] / report).read_text()) for e in folders)
        assert spark["engine"]["name"] == "spark"
        assert ({k: v for k, v in spark.items() if k not in VOLATILE}
                == {k: v for k, v in duck.items() if k not in VOLATILE}), report


def assert_same_panel(voiced: Path, spark: Any, **settings: Any) -> pd.DataFrame:
    engine = SparkEngine(spark)
    duck_panel = build_panel(voiced, **settings)
    spark_panel = build_panel(voiced, engine=engine, **settings)
    assert_same_table(duck_panel, spark_panel, ["customer_id", "brand", "period"])
    windows = {k: v for k, v in settings.items() if k.startswith("window")}
    assert (panel_report(voiced, spark_panel, engine=engine, **windows)
            == panel_report(voiced, duck_panel, **windows))
    return duck_panel


def label(folder: Path) -> Path:
    exchanges = pd.read_parquet(folder / "exchanges.parquet")
    voiced = label_exchanges(exchanges, classifier_for(LabelConfig()))
    path = folder / "voiced.parquet"
    voiced.to_parquet(path)
    return path


@pytest.mark.slow
def test_default_world_is_identical_on_both_engines(tmp_path: Path, spark: Any) -> None:
    world = simulate_world(SimulateConfig())
    raw = write_world(world, tmp_path / "raw", truth_effects=False)["twcs"]
    folders = run_both(raw, None, tmp_path, spark)
    assert_same_outputs(folders)
    report = json.loads((folders["spark"] / "ingest_report.json").read_text())
    assert report["rows_in"] == report["rows_kept"] + report["rows_rejected"] > 10_000
    voiced = label(folders["duckdb"])
    for period in ("week", "month"):
        panel = assert_same_panel(voiced, spark, period=period)
        assert panel["tweets"].sum() > 10_000


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("relative", list(REAL))
def test_real_excerpt_is_identical_on_both_engines(relative: str, real_data: Path,
                                                    tmp_path: Path, spark: Any) -> None:
    folders = run_both(real_data / relative, REAL[relative], tmp_path, spark)
    assert_same_outputs(folders)
    if not (folders["duckdb"] / "exchanges.parquet").exists():
        return  # every record rejected (the Excel-mangled airline file): no panel to compare
    voiced = label(folders["duckdb"])
    # TWCS excerpts hold a few tweets years older than the rest: a window, as the docs advise.
    window = ({"window_start": "2017-10-01"} if REAL[relative].startswith("twcs") else {})
    assert_same_panel(voiced, spark, period="week", **window)


def edge_value_file(path: Path) -> Path:
    """Ids near 2**63 with reply links between them, times at and beyond the plausible bounds,
    a NUL byte and an invalid UTF-8 byte, a brand author the layout calls a customer."""
    big = 2**63 - 1
    header = b"tweet_id,author_id,inbound,created_at,text,in_response_to_tweet_id\n"
    rows = [
        f"{big - 7},custA,True,2017-10-31T10:00:00Z,@AcmeHelp help,",
        f"{big - 6},AcmeHelp,False,2017-10-31T10:05:00Z,@custA sure,{big - 7}",
        # A second mention after a line break: the text is not one opening handle.
        f'{big - 5},custA,True,2017-10-31T10:06:00+02:00,"@AcmeHelp thanks\n@custB too",'
        f"{big - 6}.0",
        f"{big},AcmeHelp,False,2017-10-31T10:07:00Z,@custA welcome,{big - 5}",
        f"{big - 4},custB,True,Thu Jan 01 00:00:00 +0000 1970,epoch default,",
        f"{big - 3},custB,True,2099-01-01T00:00:00Z,typo,",
        f"{big - 2},custB,True,0001-01-01T00:00:00Z,year one,",
        f"{big - 1},custB,True,2006-03-21T00:00:00Z,the first day,",
        "2,custC,True,2011-08-29T03:20:05Z,an ancestor years before the rest,",
        f"{2**63},custC,True,2017-10-31T11:00:00Z,too large,",
    ]
    data = header + "\n".join(rows).encode() + b"\n"
    data += b"3,custD,True,2017-10-31T12:00:00Z,a NUL \x00 byte,\n"
    data += b"4,custD,True,2017-10-31T12:00:00Z,an invalid \xff byte,\n"
    data += "".join(f"{10 + i},custE,True,2017-10-{1 + i % 28:02d}T09:00:00Z,bulk,\n"
                    for i in range(300)).encode()
    path.write_bytes(data)
    return path


@pytest.mark.slow
def test_edge_values_are_identical_on_both_engines(tmp_path: Path, spark: Any) -> None:
    folders = run_both(edge_value_file(tmp_path / "edge.csv"), "twcs", tmp_path, spark)
    assert_same_outputs(folders)
    report = json.loads((folders["spark"] / "ingest_report.json").read_text())
    assert report["rejects_by_reason"] == {"created_at_out_of_range": 3, "invalid_encoding": 1,
                                           "nul_byte": 1, "tweet_id_invalid": 1}
    assert report["created_at_outliers"]["before"] == 2  # 2006 and 2011
    import pyarrow.parquet as pq

    for engine in folders:
        tweets = pq.read_table(folders[engine] / "tweets.parquet").to_pydict()
        links = dict(zip(tweets["tweet_id"], tweets["in_reply_to"], strict=True))
        assert links[2**63 - 1] == 2**63 - 6 and links[2**63 - 7] == 2**63 - 8


@pytest.mark.slow
def test_cli_runs_the_data_stages_on_spark(tmp_path: Path, real_data: Path, spark: Any) -> None:
    from typer.testing import CliRunner

    from complaintpanel.cli import app

    runner = CliRunner()
    folder = tmp_path / "kaggle"
    env = {**os.environ, "COMPLAINTPANEL_KEY": "cli-key-not-secret"}
    raw = real_data / "twcs-kaggle-sample/sample.csv"
    for args in (["ingest", str(raw), "--out", str(folder), "--engine", "spark"],
                 ["thread", str(folder), "--engine", "spark"]):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    label(folder)
    result = runner.invoke(app, ["panel", str(folder), "--engine", "spark"], env=env)
    assert result.exit_code == 0, result.output
    for name in ("ingest_report.json", "thread_report.json"):
        assert json.loads((folder / name).read_text())["engine"]["name"] == "spark"
    report = json.loads((folder / "panel_report.json").read_text())
    assert report["customer_tweets_in"] == (
        report["tweets_in_panel"] + report["tweets_unknown_brand"]
        + report["tweets_outside_window"] + report["tweets_dropped_by_activity_filter"])


@pytest.mark.slow
def test_spark_reads_and_writes_urls(tmp_path: Path, real_data: Path, spark: Any) -> None:
    """Object-storage paths take the URL code path (here file:// URLs, as s3a:// would)."""
    raw = real_data / "twcs-kaggle-sample/sample.csv"
    local = tmp_path / "local"
    ingest(raw, local, key=KEY)
    thread(local)
    url = f"file://{tmp_path}/bucket/interim"
    with pytest.raises(Exception, match="need engine='spark'"):
        ingest(raw, url, key=KEY)
    ingest(raw, url, key=KEY, engine="spark")
    thread(url, engine="spark")
    assert_same_outputs({"duckdb": local, "spark": tmp_path / "bucket" / "interim"})


def test_object_storage_output_needs_the_key_from_the_environment(
        tmp_path: Path, real_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from complaintpanel.ingest import IngestError

    monkeypatch.delenv("COMPLAINTPANEL_KEY", raising=False)
    with pytest.raises(IngestError, match=r"pseudonymisation key in \$COMPLAINTPANEL_KEY"):
        ingest(real_data / "twcs-kaggle-sample/sample.csv", "s3a://bucket/interim/x",
               engine="spark")
    with pytest.raises(IngestError, match="copy it to a local or mounted disk"):
        ingest("s3a://bucket/raw/twcs.csv", tmp_path / "x", key=KEY)
