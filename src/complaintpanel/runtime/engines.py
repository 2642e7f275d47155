"""Where the data stages run: DuckDB (embedded, the default) or Apache Spark (scale-out).

The set-wise logic of ``ingest``, ``thread`` and ``panel`` is written once, as SQL in DuckDB's
dialect, in the stage modules. :class:`DuckDBEngine` runs each statement as written;
:class:`SparkEngine` translates it with SQLGlot (``read="duckdb", write="spark"``) and runs it on
a Spark session. There is no second hand-written copy of any query that could drift; the
equivalence tests (``tests/test_engines.py``) run both engines on the same inputs and compare
every output row and every accounting number.

SQLGlot translates almost everything; the few DuckDB functions it leaves untranslated are
rewritten by :func:`to_spark_sql` (table :data:`SPARK_FUNCTION_REWRITES`). The stage SQL keeps to
constructs both engines share in meaning: no macros (expressions are built by Python helpers),
no ``UPDATE``/``QUALIFY``/lateral ``range``, ``regexp_full_match`` for anchored matches, lists
indexed with ``list_extract`` (1-based on both sides), times compared as microseconds.

What stays outside the engine: splitting one raw file into numbered records
(:mod:`complaintpanel.ingest.sources`) is a single sequential scan that defines record numbers and
parse rejects; it runs in DuckDB's CSV reader for both engines, and Spark receives the records
as Parquet. Everything after it (validation, deduplication, pseudonymisation, rejects,
accounting, threading, the panel) runs on the chosen engine.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb
import pandas as pd
import pyarrow as pa

__all__ = [
    "ENGINES",
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "SparkEngine",
    "check_java",
    "engine_description",
    "open_engine",
    "spark_session",
    "to_spark_sql",
]

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = ("duckdb", "spark")


class EngineError(RuntimeError):
    """The requested engine cannot run here (missing package, missing Java, bad name)."""


class Engine(Protocol):
    """What a stage needs from an engine: named tables, queries, Parquet in and out."""

    name: str

    def create_table(self, name: str, query: str) -> None:
        """Materialise ``query`` (DuckDB dialect) as table ``name``, replacing any old one."""

    def register(self, name: str, data: pd.DataFrame | pa.Table) -> None:
        """Make an in-memory table available under ``name``."""

    def load_parquet(self, name: str, path: str | Path, columns: list[str] | None = None,
                     view: bool = False) -> None:
        """Make the Parquet file (or folder) at ``path`` available as table ``name``.

        ``view=True`` reads the file each time the table is used instead of loading it.
        """

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """Run ``query`` and return all rows."""

    def to_pandas(self, query: str) -> pd.DataFrame:
        """Run ``query`` and return the result as a DataFrame."""

    def columns(self, relation: str) -> list[str]:
        """Column names of a table or of a parenthesised query."""

    def write_parquet(self, query: str, path: str | Path) -> None:
        """Write the result of ``query`` (in its order) to ``path``."""

    def drop(self, name: str) -> None:
        """Forget table ``name`` (no error if it does not exist)."""

    def rename(self, old: str, new: str) -> None:
        """Give table ``old`` the name ``new``, replacing any table called ``new``."""

    def close(self) -> None:
        """Release what the engine holds for this stage."""


# ---------------------------------------------------------------------------------------------
# DuckDB
# ---------------------------------------------------------------------------------------------
class DuckDBEngine:
    """Run stage SQL as written on an in-process DuckDB connection (UTC, spilling to disk)."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, *,
                 work_dir: str | Path | None = None, threads: int | None = None,
                 memory_limit: str | None = None) -> None:
        self.con = con if con is not None else open_duckdb(work_dir, threads, memory_limit)
        self._views: set[str] = set()

    def create_table(self, name: str, query: str) -> None:  # noqa: D102
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {query}")

    def register(self, name: str, data: pd.DataFrame | pa.Table) -> None:  # noqa: D102
        view = f"_incoming_{uuid.uuid4().hex}"
        self.con.register(view, data)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {view}")
        self.con.unregister(view)

    def load_parquet(self, name: str, path: str | Path,  # noqa: D102
                     columns: list[str] | None = None, view: bool = False) -> None:
        selected = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        source = str(path).replace("'", "''")
        kind = "VIEW" if view else "TABLE"
        self.con.execute(f"CREATE OR REPLACE {kind} {name} AS "
                         f"SELECT {selected} FROM read_parquet('{source}')")
        if view:
            self._views.add(name)

    def rows(self, query: str) -> list[tuple[Any, ...]]:  # noqa: D102
        return self.con.sql(query).fetchall()

    def to_pandas(self, query: str) -> pd.DataFrame:  # noqa: D102
        return self.con.sql(query).df()

    def columns(self, relation: str) -> list[str]:  # noqa: D102
        return [r[0] for r in self.con.sql(f"DESCRIBE {relation}").fetchall()]

    def write_parquet(self, query: str, path: str | Path) -> None:  # noqa: D102
        # zstd level 1: about half the CPU of the default level for files a few % larger.
        self.con.execute(f"COPY ({query}) TO '{path}' "
                         "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)")

    def drop(self, name: str) -> None:  # noqa: D102
        kind = "VIEW" if name in self._views else "TABLE"
        self._views.discard(name)
        self.con.execute(f"DROP {kind} IF EXISTS {name}")

    def rename(self, old: str, new: str) -> None:  # noqa: D102
        self.drop(new)
        self.con.execute(f"ALTER TABLE {old} RENAME TO {new}")

    def close(self) -> None:
        """Close the connection."""
        self.con.close()


def open_duckdb(work_dir: str | Path | None = None, threads: int | None = None,
                memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection that computes in UTC and spills to ``work_dir``."""
    con = duckdb.connect(config={"preserve_insertion_order": True})
    con.execute("SET TimeZone = 'UTC'")
    if work_dir is not None:
        con.execute(f"SET temp_directory = '{work_dir}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


# ---------------------------------------------------------------------------------------------
# SQL translation for Spark
# ---------------------------------------------------------------------------------------------
# DuckDB functions SQLGlot (30.x) passes through untranslated, and their Spark spelling.
SPARK_FUNCTION_REWRITES: dict[str, str] = {
    "EPOCH_US": "UNIX_MICROS",          # microseconds since 1970-01-01 UTC
    "LIST_EXTRACT": "TRY_ELEMENT_AT",   # 1-based on both; NULL when out of range
    "REGEXP_SPLIT_TO_ARRAY": "SPLIT",   # Java regex split, keeping empty pieces (limit -1)
}


def _spark_rewrite(node: Any) -> Any:
    from sqlglot import exp

    if isinstance(node, exp.RegexpFullMatch):
        # Whole-string match. `\z`, not `$`: Java's `$` also matches before a final newline,
        # RE2's (DuckDB's) does not.
        pattern = node.expression
        if not isinstance(pattern, exp.Literal):
            raise EngineError(f"regexp_full_match needs a literal pattern: {node.sql()}")
        return exp.RegexpLike(this=node.this, expression=exp.Literal.string(
            f"^(?:{pattern.name})\\z"))
    if isinstance(node, exp.Anonymous):
        # Renamed in place: sqlglot does not descend into a node that a transform replaced.
        name = node.name.upper()
        if name in SPARK_FUNCTION_REWRITES:
            node.set("this", SPARK_FUNCTION_REWRITES[name])
        elif name == "TRY_STRPTIME":
            fmt = node.expressions[1]
            node.set("this", "TRY_TO_TIMESTAMP")
            fmt.replace(exp.Literal.string(_java_time_format(fmt.name)))
    return node


@functools.cache
def _java_time_format(strptime_format: str) -> str:
    import sqlglot

    spark = sqlglot.transpile(f"SELECT strptime(x, '{strptime_format}')", read="duckdb",
                              write="spark")[0]
    match = re.search(r"TO_TIMESTAMP\(x, '(.*)'\)", spark)
    if match is None:  # pragma: no cover - depends on SQLGlot's output format
        raise EngineError(f"cannot translate time format {strptime_format!r} for Spark: {spark}")
    return match.group(1)


@functools.lru_cache(maxsize=512)
def to_spark_sql(query: str) -> str:
    """Translate one query from DuckDB's dialect to Spark SQL.

    Parameters
    ----------
    query : str
        A ``SELECT`` in DuckDB's dialect, as the stage modules write it.

    Returns
    -------
    str
        The same query in Spark SQL (SQLGlot, plus :data:`SPARK_FUNCTION_REWRITES`).
    """
    try:
        import sqlglot
    except ImportError as error:  # pragma: no cover - only without the [spark] extra
        raise EngineError("the Spark engine needs SQLGlot: pip install 'complaintpanel[spark]'"
                          ) from error
    tree = sqlglot.parse_one(query, read="duckdb")
    return tree.transform(_spark_rewrite).sql(dialect="spark")


# ---------------------------------------------------------------------------------------------
# Spark
# ---------------------------------------------------------------------------------------------
def check_java(minimum: int = 17) -> str:
    """Return the Java version Spark will use; raise :class:`EngineError` if none is usable."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise EngineError(
            f"the Spark engine needs Java {minimum} or newer, and no `java` was found "
            "(install a JDK, e.g. `apt install openjdk-17-jre-headless`, or set JAVA_HOME); "
            "the default engine, duckdb, needs no Java")
    banner = subprocess.run([java, "-version"], capture_output=True, text=True,
                            check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', banner)
    if match is None:
        raise EngineError(f"cannot tell the version of {java}: {banner.strip()[:200]}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_..." is Java 8
        major = int(match.group(2))
    if major < minimum:
        raise EngineError(f"the Spark engine needs Java {minimum} or newer; {java} is Java "
                          f"{major} (set JAVA_HOME to a newer JDK)")
    return banner.splitlines()[0] if banner else str(major)


def spark_session(master: str | None = None, driver_memory: str = "4g",
                  conf: dict[str, str] | None = None) -> Any:
    """Return the active Spark session, or start one (``master`` e.g. ``local[2]``).

    Under ``spark-submit`` the session the cluster manager made is used as is (its master and
    resources win); locally a session is started with UTC time, Parquet timestamps in
    microseconds and no UI. ``conf`` holds further settings for a session started here (JVM
    options, for instance, take effect only then).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise EngineError("the Spark engine needs PySpark: pip install 'complaintpanel[spark]'"
                          ) from error
    active = SparkSession.getActiveSession()
    if active is not None and (master is None or active.sparkContext.master == master):
        _session_settings(active)
        return active
    if active is not None:
        active.stop()
    check_java()
    master = master or "local[*]"
    builder = (SparkSession.builder.master(master).appName("complaintpanel")
               .config("spark.driver.memory", driver_memory)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "8"))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    _session_settings(spark)
    return spark


def _session_settings(spark: Any) -> None:
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")


class SparkEngine:
    """Run stage SQL on Spark: each statement translated by :func:`to_spark_sql`.

    Tables are temporary views over locally checkpointed DataFrames, so that, as in DuckDB, a
    table is computed once when created (the pointer-jumping loop of ``thread`` would otherwise
    grow a query plan with every round).
    """

    name = "spark"

    def __init__(self, spark: Any | None = None, *, master: str | None = None,
                 driver_memory: str = "4g") -> None:
        self.spark = spark if spark is not None else spark_session(master, driver_memory)
        self._tables: dict[str, Any] = {}

    def _sql(self, query: str) -> Any:
        return self.spark.sql(to_spark_sql(query))

    def _publish(self, name: str, frame: Any) -> None:
        frame.createOrReplaceTempView(name)
        self._tables[name] = frame

    def create_table(self, name: str, query: str) -> None:  # noqa: D102
        self._publish(name, self._sql(query).localCheckpoint(eager=True))

    def register(self, name: str, data: pd.DataFrame | pa.Table) -> None:  # noqa: D102
        table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(
            data, preserve_index=False)
        self._publish(name, self.spark.createDataFrame(table).localCheckpoint(eager=True))

    def load_parquet(self, name: str, path: str | Path,  # noqa: D102
                     columns: list[str] | None = None, view: bool = False) -> None:
        frame = self.spark.read.parquet(str(path))
        if columns:
            frame = frame.select(*columns)
        self._publish(name, frame)

    def rows(self, query: str) -> list[tuple[Any, ...]]:  # noqa: D102
        return [tuple(row) for row in self._sql(query).collect()]

    def to_pandas(self, query: str) -> pd.DataFrame:  # noqa: D102
        return self._sql(query).toArrow().to_pandas()

    def columns(self, relation: str) -> list[str]:  # noqa: D102
        if relation in self._tables:
            return list(self._tables[relation].columns)
        return list(self._sql(f"SELECT * FROM {relation} LIMIT 0").columns)

    def write_parquet(self, query: str, path: str | Path) -> None:
        """Write ``query`` as Parquet: one file on a local disk, a folder of parts elsewhere.

        Locally, Spark writes the parts in parallel into a scratch folder and they are then
        joined, in order, into the single file ``path``, a drop-in for DuckDB's output (a sorted
        result is range-partitioned, so part order is row order). On object storage
        (``s3a://``, ``abfss://``, …) ``path`` becomes a folder of parts, which Spark, DuckDB and
        pandas all read.
        """
        frame = self._sql(query)
        target = str(path)
        if "://" in target and not target.startswith("file://"):
            frame.write.mode("overwrite").option("compression", "zstd").parquet(target)
            return
        local = Path(target.removeprefix("file://"))
        local.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".spark-", dir=local.parent) as scratch:
            parts_dir = Path(scratch) / "parts"
            frame.write.mode("overwrite").option("compression", "zstd").parquet(str(parts_dir))
            _join_parquet_parts(sorted(parts_dir.glob("part-*.parquet")), local)

    def drop(self, name: str) -> None:  # noqa: D102
        frame = self._tables.pop(name, None)
        self.spark.catalog.dropTempView(name)
        if frame is not None:
            frame.unpersist()

    def rename(self, old: str, new: str) -> None:  # noqa: D102
        frame = self._tables.pop(old)
        self.spark.catalog.dropTempView(old)
        self.drop(new)
        self._publish(new, frame)

    def close(self) -> None:
        """Forget this engine's tables (the session stays up for the next stage)."""
        for name in list(self._tables):
            self.drop(name)


def _join_parquet_parts(parts: list[Path], target: Path) -> None:
    """Concatenate Parquet part files, in order, into one zstd-compressed file."""
    import pyarrow.parquet as pq

    if not parts:  # pragma: no cover - Spark writes at least one part, even for no rows
        raise EngineError(f"Spark wrote no Parquet parts for {target}")
    schema = pq.read_schema(parts[0])
    with pq.ParquetWriter(target, schema, compression="zstd", compression_level=1) as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=1 << 17):
                writer.write_batch(batch)


def engine_description(engine: Engine) -> dict[str, str]:
    """Name and version of the engine that ran a stage, for its report."""
    if isinstance(engine, SparkEngine):
        return {"name": "spark", "version": engine.spark.version,
                "master": engine.spark.sparkContext.master}
    return {"name": "duckdb", "version": duckdb.__version__}


def open_engine(name: str, *, work_dir: str | Path | None = None, threads: int | None = None,
                memory_limit: str | None = None, spark_master: str | None = None,
                spark_driver_memory: str = "4g") -> DuckDBEngine | SparkEngine:
    """Open the engine called ``name`` (``"duckdb"`` or ``"spark"``)."""
    if name == "duckdb":
        return DuckDBEngine(work_dir=work_dir, threads=threads, memory_limit=memory_limit)
    if name == "spark":
        return SparkEngine(master=spark_master, driver_memory=spark_driver_memory)
    raise EngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
