"""``complaintpanel ingest`` and ``complaintpanel thread``: raw data → tweets → exchanges."""

from __future__ import annotations

import contextlib
import importlib.util
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
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import (
    clean_stale,
    glob_escape,
    is_url,
    output_folder,
    remove_if_empty,
    stage_lock,
)


def builtin_mapping_names() -> list[str]:
    """List the built-in mappings' names, as ``ingest.mapping.builtin_mappings`` keys them.

    ``twcs`` comes first. They are read from their folder without importing the ingest stage's
    libraries (the CLI starts without them).
    """
    spec = importlib.util.find_spec("complaintpanel.ingest")
    folders = list(spec.submodule_search_locations or []) if spec else []
    names = sorted(p.stem for folder in folders for p in (Path(folder) / "mappings").glob("*.toml"))
    return sorted(names, key=lambda name: name != "twcs")


def ingest_command(
    raw: Annotated[list[Path], typer.Argument(
        help="Raw file(s): CSV (plain or .gz), Parquet or JSON, or folders of them. Several "
             "inputs are read as one archive, each with its own mapping; tweets found in two "
             "files are kept once.")],
    out: Annotated[Path, typer.Option(help="Output folder, e.g. data/interim/NAME.")],
    mapping: Annotated[
        str | None,
        typer.Option(help=f"Built-in mapping ({', '.join(builtin_mapping_names())}) or a TOML "
                          "file; default: the mapping of the config's ingest section, else "
                          "detected from the columns (in any case)."),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="DuckDB threads (default: all).")] = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    config: ConfigOption = None,
) -> None:
    """Validate, type and pseudonymise raw tweets; each record is kept or rejected with a reason."""
    from complaintpanel.ingest import ingest
    from complaintpanel.ingest.dates import outlier_warning
    from complaintpanel.runtime.engines import EngineError

    loaded = load(config)
    settings = loaded.ingest
    started = time.perf_counter()
    with contextlib.ExitStack() as held:
        if not is_url(out):
            # One ingest per output folder at a time; ingest() commits its outputs as a set
            # under this lock (stage_outputs). Its scratch folders sit beside the output folder
            # (`.NAME.ingest-*`): those of a killed run are removed here, under the lock.
            if output_folder(out):  # made here: removed again if ingest writes nothing
                held.callback(remove_if_empty, out)
            held.enter_context(stage_lock(out, "ingest"))
            clean_stale(out.resolve().parent, [f".{glob_escape(out.name)}.ingest-*"])
        try:
            report = ingest(raw[0] if len(raw) == 1 else raw, out,
                            mapping=mapping or settings.mapping,
                            key_env=settings.key_env, threads=threads,
                            engine=engine or loaded.engine.name,
                            spark_master=spark_master or loaded.engine.spark_master,
                            created_at_min=settings.created_at_min,
                            created_at_max=settings.created_at_max,
                            outlier_gap_days=settings.outlier_gap_days)
        except EngineError as error:
            raise PipelineError(str(error)) from None
    files = report.get("files", [])
    echo_summary(
        "ingest",
        f"{report['rows_in']:,} rows in, {report['rows_kept']:,} kept, "
        f"{report['rows_rejected']:,} rejected"
        + (f" from {len(files)} files ({report['duplicates_across_files']:,} duplicates "
           f"across files removed, {report['duplicates_conflicting']:,} conflicting)"
           if files else "") + f" → {out}",
        time.perf_counter() - started,
    )
    if report.get("mojibake_repaired"):
        typer.echo(f"ingest: {report['mojibake_repaired']:,} texts with mojibake repaired (ftfy)")
    flagged = report.get("response_lists_flagged", {}).get("rows", 0)
    if flagged:
        typer.echo(f"ingest: {flagged:,} response-id lists damaged by a spreadsheet, flagged "
                   "and not used (reply links come from the parent column)")
    inferred = report.get("brand_only_inputs")
    if inferred:
        typer.echo(f"ingest: brand-only input(s): the customer of {inferred['brand_tweets']:,} "
                   f"brand tweets is known from the parent for "
                   f"{inferred['customer_from_parent']:,}, from the opening @handle for "
                   f"{inferred['customer_from_opening_handle']:,}, unknown for "
                   f"{inferred['customer_unknown']:,}")
    for line in outlier_warning(report.get("created_at_outliers")):
        typer.echo(f"ingest: {line}")


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
    except EngineError as error:
        raise PipelineError(str(error)) from None
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
