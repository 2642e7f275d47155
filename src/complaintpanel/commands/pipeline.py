"""``complaintpanel robustness``: whole-run drivers that chain label → panel → estimate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import ConfigOption, echo_summary, load
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import stage_outputs, verified_input


def robustness(
    directory: Annotated[Path, typer.Argument(help="Interim folder holding exchanges.parquet.")],
    out: Annotated[Path | None, typer.Option(
        help="Results folder for robustness.json (default results/NAME, NAME = the input "
             "folder's name).")] = None,
    tables: Annotated[Path | None, typer.Option(
        help="Folder for the Markdown + LaTeX table (default: OUT/tables).")] = None,
    truth: Annotated[Path | None, typer.Option(
        help="Simulator truth/voice.parquet: add the true labels as a classifier variant.",
        exists=True, dir_okay=False)] = None,
    config: ConfigOption = None,
) -> None:
    """Re-estimate the main models across periods, filters, classifiers and treatments."""
    import pandas as pd

    from complaintpanel.pipeline.robustness import run_robustness
    from complaintpanel.report.estimate_tables import write_robustness_table
    from complaintpanel.results import write_results
    from complaintpanel.runtime.inputs import require_rows

    settings = load(config)
    source = directory / "exchanges.parquet"
    if not source.exists():
        raise PipelineError("does not exist; run `complaintpanel thread` first", file=source)
    out = out or Path("results") / directory.name
    started = time.perf_counter()
    with stage_outputs("robustness", out) as outputs:
        require_rows(verified_input(source))
        truth_voice = pd.read_parquet(truth) if truth is not None else None
        try:
            records = run_robustness(pd.read_parquet(source), settings, truth_voice)
        except ValueError as error:  # e.g. a truth file of another world
            if truth is None:
                raise
            raise PipelineError(str(error), file=truth) from None
        write_results({"specifications": records}, outputs.path("robustness.json"))
        write_robustness_table(records, outputs.folder(tables or out / "tables"))
    echo_summary("robustness", f"{len(records)} specifications → {out / 'robustness.json'}",
                 time.perf_counter() - started)


def register(app: typer.Typer) -> None:
    """Add ``robustness`` to ``app``."""
    app.command()(robustness)
