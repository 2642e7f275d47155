"""``complaintpanel ingest`` and ``complaintpanel thread``: raw data → tweets → exchanges."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import (
    ConfigOption,
    EngineOption,
    SparkMasterOption,
    echo_summary,
    load,
)


def ingest_command(
    raw: Annotated[Path, typer.Argument(help="Raw file: CSV (plain or .gz), Parquet or JSON.")],
    out: Annotated[Path, typer.Option(help="Output folder, e.g. data/interim/NAME.")],
    mapping: Annotated[
        str | None,
        typer.Option(help="Built-in mapping (twcs, airline, ibm_docpred) or a TOML file; "
                          "default: config [ingest] mapping, else detected from the columns."),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="DuckDB threads (default: all).")] = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    config: ConfigOption = None,
) -> None:
    """Validate, type and pseudonymise raw tweets; each record is kept or rejected with a reason."""
    from complaintpanel.ingest import IngestError, ingest
    from complaintpanel.ingest.mapping import MappingError
    from complaintpanel.runtime.engines import EngineError

    loaded = load(config)
    settings = loaded.ingest
    started = time.perf_counter()
    try:
        report = ingest(raw, out, mapping=mapping or settings.mapping, key_env=settings.key_env,
                        threads=threads, engine=engine or loaded.engine.name,
                        spark_master=spark_master or loaded.engine.spark_master)
    except (IngestError, MappingError, EngineError) as error:
        typer.echo(f"ingest: error: {error}", err=True)
        raise typer.Exit(code=2) from None
    echo_summary(
        "ingest",
        f"{report['rows_in']:,} rows in, {report['rows_kept']:,} kept, "
        f"{report['rows_rejected']:,} rejected → {out}",
        time.perf_counter() - started,
    )


def thread_command(
    folder: Annotated[Path, typer.Argument(help="Folder with tweets.parquet (ingest output).")],
    threads: Annotated[int | None, typer.Option(help="DuckDB threads (default: all).")] = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    config: ConfigOption = None,
) -> None:
    """Find conversation roots, brands, direct brand replies and reply latencies."""
    from complaintpanel.runtime.engines import EngineError
    from complaintpanel.thread import thread

    settings = load(config).engine
    started = time.perf_counter()
    try:
        report = thread(folder, threads=threads, engine=engine or settings.name,
                        spark_master=spark_master or settings.spark_master)
    except (FileNotFoundError, EngineError) as error:
        typer.echo(f"thread: error: {error}", err=True)
        raise typer.Exit(code=2) from None
    echo_summary(
        "thread",
        f"{report['customer_tweets']:,} customer tweets in {report['conversations']:,} "
        f"conversations, {report['customer_tweets_replied']:,} answered by a brand, "
        f"{report['unknown_brand']:,} with unknown brand → {folder}",
        time.perf_counter() - started,
    )


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` and ``thread`` commands to ``app``."""
    app.command("ingest")(ingest_command)
    app.command("thread")(thread_command)
