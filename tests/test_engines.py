"""The Spark engine gives the same tables and the same accounting as DuckDB, row for row.

Both engines run the same stage SQL (DuckDB's dialect; SQLGlot translates it for Spark), so these
tests are the proof that the translation keeps the meaning: on the default simulated world and
on every real excerpt, ``tweets``, ``rejects``, ``exchanges``, ``brand_replies`` and the panel
from Spark (local mode, 2 cores) equal DuckDB's after sorting, floating columns to 1e-9, and
the ingest, thread and panel reports are identical apart from timings and the engine's name.

Cost: a Spark run pays ~0.3 s per query whatever its rows (an ingest and a thread make ~40), so the
real excerpts run as one input per layout (:data:`GROUPS`): the files of a layout are joined,
every record unchanged (:func:`joined_input`), and each file's records are checked to reach the
compared tables (:func:`assert_every_file_counts`). The CLI and the URL path are the Spark side of
two of these comparisons rather than runs of their own.
"""

from __future__ import annotations

import json
import re
import shutil
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
# The real excerpts as one Spark run per layout: the files of a group are joined into one input
# (joined_input), in this order (a tweet in two files is kept from the first). Every REAL file is in
# exactly one group (test_every_real_excerpt_is_in_one_group).
GROUPS = {
    "twcs": ["twcs-kaggle-sample/sample.csv", "twcs-head-5k/twcs.csv",
             "twcs-spotifycares-followups/support_requests.csv"],
    "twcs_pairs": ["twcs-reply-pairs-head/response_pairs_sample.csv"],
    "airline": ["airline-sentiment-2015/Tweets.csv",
                "airline-sentiment-2015-excel-mangled/Tweets.csv"],
    "ibm_docpred": ["ibm-twitter-docpred/dev.json", "ibm-twitter-docpred/test.json"],
}
# Files every record of which is rejected (spreadsheet ids such as 5.70306E+17): their records
# reach `rejects`, compared row for row, and none reaches `tweets`.
ALL_REJECTED = {"airline-sentiment-2015-excel-mangled/Tweets.csv"}
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


# The default world's translation on a smaller world: 800 customers × 3 brands over the same
# 26 weeks, 28,308 records (the default 4,000 customers give five times as many and prove no
# more; the Spark side's cost is mostly per query). The > 10,000 checks below hold for it.
WORLD = SimulateConfig(customers=800)
EDGE_RECORDS = 313  # records of edge_value_file, ahead of the world's in its run


@pytest.fixture(scope="module")
def world_run(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> dict[str, Path]:
    """The default world with the edge values ahead of it, ingested and threaded by both engines.

    One Spark run for both (each run pays the per-query cost once); the edge records are the
    first :data:`EDGE_RECORDS` (their ids win where the world's repeat them).
    """
    out = tmp_path_factory.mktemp("world")
    raw = write_world(simulate_world(WORLD), out / "raw", truth_effects=False)["twcs"]
    joined = joined_input([edge_value_file(out / "edge.csv"), raw], out / "world.csv")
    return run_both(joined, None, out, spark)


@pytest.mark.slow
def test_default_world_is_identical_on_both_engines(world_run: dict[str, Path],
                                                    spark: Any) -> None:
    folders = world_run
    assert_same_outputs(folders)
    report = json.loads((folders["spark"] / "ingest_report.json").read_text())
    assert report["rows_in"] == report["rows_kept"] + report["rows_rejected"] > 10_000
    voiced = label(folders["duckdb"])
    for period in ("week", "month"):
        panel = assert_same_panel(voiced, spark, period=period)
        assert panel["tweets"].sum() > 10_000


def csv_records(data: bytes) -> list[bytes]:
    """Split CSV bytes into records, each with its line end: a LF outside quotes ends one."""
    records, start, quoted = [], 0, False
    for match in re.finditer(rb'["\n]', data):
        if match.group() == b'"':
            quoted = not quoted
        elif not quoted:
            records.append(data[start:match.end()])
            start = match.end()
    assert not quoted and start == len(data), "a CSV excerpt ends inside quotes or mid-line"
    return records


def joined_input(paths: list[Path], out: Path) -> Path:
    """Join excerpts of one layout into one input, every record's bytes unchanged.

    CSV: the excerpts' headers end with the same columns (the TWCS excerpts differ only in
    leading index columns, which the mapping ignores); the longest heads the file and each
    record of the others gets empty leading fields to match; blank lines are kept as they are
    (they are not records).
    JSON conversation lists: one list of all the conversations. One file: itself.
    """
    if len(paths) == 1:
        return paths[0]
    if paths[0].suffix == ".json":
        lists = [p.read_bytes().strip() for p in paths]
        assert all(b.startswith(b"[") and b.endswith(b"]") for b in lists)
        out.write_bytes(b"[" + b",\n".join(b[1:-1].strip() for b in lists) + b"]\n")
        return out
    files = [csv_records(p.read_bytes()) for p in paths]
    headers = [records[0].rstrip(b"\r\n").split(b",") for records in files]
    widest, layout = max(headers, key=len), min(headers, key=len)
    parts = [b",".join(widest) + b"\n"]
    for header, records in zip(headers, files, strict=True):
        assert header[len(header) - len(layout):] == layout, "the excerpts share their layout"
        missing = len(widest) - len(header)
        parts += [r if not r.strip(b"\r\n") else b"," * missing + r for r in records[1:]]
    out.write_bytes(b"".join(parts))
    return out


def assert_every_file_counts(paths: list[Path], relatives: list[str], mapping: str,
                             folder: Path, out: Path) -> None:
    """Each file's records reach the compared tables as when the files are one archive.

    The DuckDB archive ingest of the same files (record numbers running on across them, as in
    the joined input) gives each file's first record, records in and records kept; the joined
    run must hold the same records, and as many of each file's in ``tweets`` (a tweet in two
    files is kept from the first either way).
    """
    joined = json.loads((folder / "ingest_report.json").read_text())
    if len(paths) == 1:
        accounts = [{"first_source_row": 1, "rows_in": joined["rows_in"],
                     "rows_kept": joined["rows_kept"]}]
    else:
        archive = ingest(paths, out, mapping=mapping, key=KEY)
        assert joined["rows_in"] == archive["rows_in"]
        accounts = archive["files"]
    tweets = pd.read_parquet(folder / "tweets.parquet")
    if "derived" in tweets.columns:
        tweets = tweets[~tweets["derived"]]
    rejects = pd.read_parquet(folder / "rejects.parquet")
    for relative, account in zip(relatives, accounts, strict=True):
        first, rows_in = account["first_source_row"], account["rows_in"]
        kept = tweets["source_row"].between(first, first + rows_in - 1).sum()
        rejected = rejects["source_row"].between(first, first + rows_in - 1).sum()
        assert kept + rejected == rows_in, relative
        assert kept == account["rows_kept"], relative
        if relative in ALL_REJECTED:
            assert kept == 0, relative
        else:  # most of the file's records are in the compared tweets, not a handful
            assert kept >= 0.9 * rows_in, (relative, kept, rows_in)


def test_every_real_excerpt_is_in_one_group() -> None:
    grouped = [relative for files in GROUPS.values() for relative in files]
    assert sorted(grouped) == sorted(REAL)
    assert all(REAL[relative] == mapping for mapping, files in GROUPS.items()
               for relative in files)
    assert ALL_REJECTED <= set(REAL)


def test_joined_csv_keeps_every_record(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_bytes(b'tweet_id,text\r\n1,"two\nlines"\r\n\r\n2,"a ""quote"" and\rCR"\r\n')
    b = tmp_path / "b.csv"
    b.write_bytes(b',tweet_id,text\n0,3,plain\n1,4,"x,y"\n')
    joined = joined_input([a, b], tmp_path / "ab.csv")
    assert joined.read_bytes() == (b',tweet_id,text\n,1,"two\nlines"\r\n\r\n'
                                   b',2,"a ""quote"" and\rCR"\r\n0,3,plain\n1,4,"x,y"\n')


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("mapping", ["twcs_pairs", "airline", "ibm_docpred"])
def test_real_excerpts_are_identical_on_both_engines(mapping: str, real_data: Path,
                                                     tmp_path: Path, spark: Any) -> None:
    """Each layout's excerpts, joined, on both engines; the airline files' Spark run writes to a
    ``file://`` URL, the code path of object storage (``s3a://``)."""
    paths = [real_data / relative for relative in GROUPS[mapping]]
    raw = joined_input(paths, tmp_path / f"joined{paths[0].suffix}")
    if mapping == "airline":
        duck = tmp_path / "duckdb"
        ingest(raw, duck, mapping=mapping, key=KEY)
        thread(duck)
        url = f"file://{tmp_path}/bucket/interim"
        with pytest.raises(Exception, match="need engine='spark'"):
            ingest(raw, url, mapping=mapping, key=KEY)
        ingest(raw, url, mapping=mapping, key=KEY, engine="spark")
        thread(url, engine="spark")
        folders = {"duckdb": duck, "spark": tmp_path / "bucket" / "interim"}
    else:
        folders = run_both(raw, mapping, tmp_path, spark)
    assert_same_outputs(folders)
    assert_every_file_counts(paths, GROUPS[mapping], mapping, folders["spark"],
                             tmp_path / "archive")
    voiced = label(folders["duckdb"])
    # TWCS excerpts hold a few tweets years older than the rest: a window, as the docs advise.
    window = {"window_start": "2017-10-01"} if mapping.startswith("twcs") else {}
    assert_same_panel(voiced, spark, period="week", **window)


@pytest.mark.slow
@pytest.mark.real_data
def test_twcs_excerpts_are_identical_through_the_cli_on_spark(
        tmp_path: Path, real_data: Path, spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TWCS excerpts, joined: DuckDB through the API, Spark through the CLI's data stages."""
    from typer.testing import CliRunner

    from complaintpanel.cli import app

    monkeypatch.setenv("COMPLAINTPANEL_KEY", KEY.decode())  # both engines: the key from $ENV
    paths = [real_data / relative for relative in GROUPS["twcs"]]
    raw = joined_input(paths, tmp_path / "joined.csv")
    folders = {"duckdb": tmp_path / "duckdb", "spark": tmp_path / "spark"}
    ingest(raw, folders["duckdb"], mapping="twcs")
    thread(folders["duckdb"])
    config = tmp_path / "config.toml"
    config.write_text('[panel]\nwindow_start = "2017-10-01"\n')
    runner = CliRunner()
    spark_folder = str(folders["spark"])
    for args in (["ingest", str(raw), "--out", spark_folder, "--mapping", "twcs"],
                 ["thread", spark_folder]):
        result = runner.invoke(app, [*args, "--engine", "spark"])
        assert result.exit_code == 0, result.output
    assert_same_outputs(folders)
    assert_every_file_counts(paths, GROUPS["twcs"], "twcs", folders["spark"],
                             tmp_path / "archive")
    voiced = label(folders["duckdb"])
    shutil.copy(voiced, folders["spark"] / voiced.name)
    for engine, folder in folders.items():  # the panel through the CLI on both engines
        result = runner.invoke(app, ["panel", str(folder), "--engine", engine,
                                     "--config", str(config)])
        assert result.exit_code == 0, result.output
    assert_same_table(pd.read_parquet(folders["duckdb"] / "panel.parquet"),
                      pd.read_parquet(folders["spark"] / "panel.parquet"),
                      ["customer_id", "brand", "period"])
    duck, report = (json.loads((folders[e] / "panel_report.json").read_text()) for e in folders)
    assert ({k: v for k, v in report.items() if k not in VOLATILE}
            == {k: v for k, v in duck.items() if k not in VOLATILE})
    assert report["window_start"] == "2017-10-01" and report["tweets_outside_window"] > 0
    assert report["customer_tweets_in"] == (
        report["tweets_in_panel"] + report["tweets_unknown_brand"]
        + report["tweets_outside_window"] + report["tweets_dropped_by_activity_filter"])


FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
# An archive of several exports: two hand-written files with an exact and a conflicting
# duplicate across them (tests/test_ingest_archive.py), then a real brand-side export saved
# through a spreadsheet (BOM, CRLF, TRUE/FALSE, cp1252 mojibake, mangled response lists, a
# brand-only file whose customers are inferred).
ARCHIVE = ("brand_a.csv", "brand_b.csv", "twcs-brand-exports-excel/AskRBC.csv")


@pytest.mark.slow
@pytest.mark.real_data
def test_several_exports_are_one_archive_on_both_engines(tmp_path: Path, real_data: Path,
                                                         spark: Any) -> None:
    """Several inputs read as one archive give the same tables and reports on Spark."""
    paths = [FIXTURES / name if "/" not in name else real_data / name for name in ARCHIVE]
    folders, reports = {}, {}
    for engine in ("duckdb", "spark"):
        folders[engine] = tmp_path / engine
        reports[engine] = ingest(paths, folders[engine], key=KEY, engine=engine)
    assert_same_outputs(folders)  # the ingest's tables and report (threading is the same code
    # on one input or several, compared above on the real excerpts)
    report = reports["spark"]
    assert report["rows_in"] == report["rows_kept"] + report["rows_rejected"]
    assert [f["rows_in"] for f in report["files"]] == [f["rows_in"] for f in
                                                       reports["duckdb"]["files"]]
    # what the archive exists to exercise happened on Spark too
    assert set(report["rejects_by_reason"]) >= {"duplicate_across_files",
                                                "duplicate_conflicting"}
    assert report["mojibake_repaired"] > 0
    assert report["response_lists_flagged"]["rows"] > 0
    assert report["brand_only_inputs"]["source_files"] == [3]


def edge_value_file(path: Path) -> Path:
    """Ids near 2**63 with reply links between them, times at and beyond the plausible bounds,
    a NUL byte and an invalid UTF-8 byte, a brand author the layout calls a customer; in the
    simulator's layout (an empty response list), :data:`EDGE_RECORDS` records."""
    big = 2**63 - 1
    header = (b"tweet_id,author_id,inbound,created_at,text,response_tweet_id,"
              b"in_response_to_tweet_id\n")
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
    rows = ["{},,{}".format(*row.rsplit(",", 1)) for row in rows]  # the empty response list
    data = header + "\n".join(rows).encode() + b"\n"
    data += b"3,custD,True,2017-10-31T12:00:00Z,a NUL \x00 byte,,\n"
    data += b"4,custD,True,2017-10-31T12:00:00Z,an invalid \xff byte,,\n"
    # A line end after an id: a whole-string match must not match before a final newline.
    data += b'"5\n",custD,True,2017-10-31T12:00:00Z,an id with a line end,,\n'
    data += "".join(f"{10 + i},custE,True,2017-10-{1 + i % 28:02d}T09:00:00Z,bulk,,\n"
                    for i in range(300)).encode()
    path.write_bytes(data)
    return path


@pytest.mark.slow
def test_edge_values_are_identical_on_both_engines(world_run: dict[str, Path]) -> None:
    folders = world_run
    assert_same_outputs(folders)
    report = json.loads((folders["spark"] / "ingest_report.json").read_text())
    assert report["created_at_outliers"]["before"] == 2  # 2006 and 2011
    import pyarrow.parquet as pq

    for engine in folders:
        tweets = pq.read_table(folders[engine] / "tweets.parquet").to_pydict()
        rejects = pd.read_parquet(folders[engine] / "rejects.parquet")
        edge = rejects[rejects["source_row"] <= EDGE_RECORDS]
        assert edge["reason"].value_counts().to_dict() == {
            "created_at_out_of_range": 3, "invalid_encoding": 1, "nul_byte": 1,
            "tweet_id_invalid": 2}
        kept = sum(row <= EDGE_RECORDS for row in tweets["source_row"])
        assert kept + len(edge) == EDGE_RECORDS  # the edge records are the first ones
        links = dict(zip(tweets["tweet_id"], tweets["in_reply_to"], strict=True))
        assert links[2**63 - 1] == 2**63 - 6 and links[2**63 - 7] == 2**63 - 8


def test_object_storage_output_needs_the_key_from_the_environment(
        tmp_path: Path, real_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from complaintpanel.ingest import IngestError

    monkeypatch.delenv("COMPLAINTPANEL_KEY", raising=False)
    with pytest.raises(IngestError, match=r"pseudonymisation key in \$COMPLAINTPANEL_KEY"):
        ingest(real_data / "twcs-kaggle-sample/sample.csv", "s3a://bucket/interim/x",
               engine="spark")
    with pytest.raises(IngestError, match="copy it to a local or mounted disk"):
        ingest("s3a://bucket/raw/twcs.csv", tmp_path / "x", key=KEY)
