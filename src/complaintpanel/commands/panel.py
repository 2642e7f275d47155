"""``complaintpanel panel`` and ``codebook``: the customer × brand × period panel."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from complaintpanel.commands._common import (
    ConfigOption,
    EngineOption,
    SparkMasterOption,
    echo_summary,
    load,
    overridden,
)
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import (
    atomic_path,
    stage_outputs,
    verified_input,
    write_json,
    write_parquet,
)


def panel(
    directory: Annotated[Path, typer.Argument(help="Folder holding voiced.parquet.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: DIRECTORY).")] = None,
    period: Annotated[Literal["day", "week", "month"] | None,
                      typer.Option(help="Period length (default from config: week).")] = None,
    min_tweets: Annotated[int | None, typer.Option(help="Activity filter per pair.")] = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    config: ConfigOption = None,
) -> None:
    """Build panel.parquet (and panel_report.json) from labelled exchanges."""
    from complaintpanel.panel import build_panel, panel_report
    from complaintpanel.runtime.engines import EngineError, open_engine
    from complaintpanel.runtime.inputs import require_rows

    loaded = load(config)
    settings = overridden(loaded.panel, period=period, min_tweets=min_tweets)
    source = directory / "voiced.parquet"
    if not source.exists():
        raise PipelineError("does not exist; run `complaintpanel label` first", file=source)
    out = out or directory
    started = time.perf_counter()
    with stage_outputs("panel", out) as outputs:
        require_rows(verified_input(source))
        try:
            stage = open_engine(engine or loaded.engine.name,
                                spark_master=spark_master or loaded.engine.spark_master)
        except EngineError as error:
            raise PipelineError(str(error)) from None
        try:
            built = build_panel(source, period=settings.period, min_tweets=settings.min_tweets,
                                window_start=settings.window_start,
                                window_end=settings.window_end, engine=stage)
            report = panel_report(source, built, settings.window_start, settings.window_end,
                                  engine=stage)
        finally:
            stage.close()
        report["period"] = settings.period
        report["min_tweets"] = settings.min_tweets
        if report["rows"] == 0:
            lost = {"unknown brand": report["tweets_unknown_brand"],
                    "outside the window": report["tweets_outside_window"],
                    "dropped by the activity filter": report["tweets_dropped_by_activity_filter"]}
            counts = ", ".join(f"{why}: {n:,}" for why, n in lost.items() if n)
            raise PipelineError(f"none of its {report['customer_tweets_in']:,} customer tweets "
                                f"is usable for the panel ({counts})", file=source)
        write_parquet(built, outputs.path("panel.parquet"))
        write_json(report, outputs.path("panel_report.json"))
    echo_summary("panel", f"{report['rows']:,} rows ({report['customer_brand_pairs']:,} "
                 f"customer–brand pairs × {report['periods']} {settings.period}s) → {out}",
                 time.perf_counter() - started)


def codebook(
    out: Annotated[Path, typer.Option(help="Codebook file to write.")] = Path("data/CODEBOOK.md"),
) -> None:
    """Write the panel codebook, generated from the column definitions in the code."""
    from complaintpanel.panel import codebook_markdown

    with atomic_path(out) as tmp:
        tmp.write_text(codebook_markdown(), encoding="utf-8")
    typer.echo(f"codebook: {out}")


def register(app: typer.Typer) -> None:
    """Add ``panel`` and ``codebook`` to ``app``."""
    app.command()(panel)
    app.command()(codebook)
