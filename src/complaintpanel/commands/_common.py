"""Pieces every command shares: the ``--config`` option and the one-line stage summary."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import resource
import sys
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from complaintpanel.config import Config, load_config
from complaintpanel.errors import PipelineError

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings file (TOML); defaults to built-in settings.",
                 exists=True, dir_okay=False),
]

EngineOption = Annotated[
    str | None,
    typer.Option("--engine", help="Where the stage runs: duckdb or spark (default: config "
                                  "[engine] name, else duckdb). The outputs are the same."),
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option("--spark-master", help="Spark master, e.g. local[2] (default: config [engine] "
                                        "spark_master, else the spark-submit session or "
                                        "local[*])."),
]

# When set (the Makefile sets it), every stage records its wall time and peak memory in this
# folder; `complaintpanel manifest` gathers them. Kept out of the results files so that those
# stay byte-identical between runs.
TIMINGS_ENV = "COMPLAINTPANEL_TIMINGS"


def load(config: Path | None) -> Config:
    """Load the settings file, or the defaults when none is given."""
    return load_config(config)


Section = TypeVar("Section")


def overridden(section: Section, **options: Any) -> Section:
    """Return a config section with the command-line options that were given (not None).

    The config file is every setting's home; an option on the command line overrides it for
    one run.
    """
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return dataclasses.replace(section, **given)  # type: ignore[type-var]
    except ValueError as error:  # the section's own check of the overridden setting
        raise PipelineError(f"command-line option: {error}") from error


def echo_summary(stage: str, what: str, seconds: float) -> None:
    """Print the one-line summary every stage ends with: ``stage: what (1.2 s)``.

    Also records the stage's wall time and peak memory when ``COMPLAINTPANEL_TIMINGS`` is set.
    """
    typer.echo(f"{stage}: {what} ({seconds:.1f} s)")
    folder = os.environ.get(TIMINGS_ENV)
    if folder:
        command = " ".join(sys.argv[1:])
        tag = hashlib.sha256(command.encode()).hexdigest()[:8]
        peak_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                       resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        record = {"stage": stage, "command": f"complaintpanel {command}",
                  "seconds": round(seconds, 2), "peak_rss_mb": round(peak_kib / 1024, 1)}
        path = Path(folder) / f"{stage}-{tag}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def labels_beside_truth(labelled: Any, truth: Path, interim: Path, config: Path | None) -> Any:
    """Join labelled tweets to the simulator's true voice through the interim folder's key.

    The labels carry keyed pseudonyms of the tweet ids; the truth's raw ids are hashed with the
    key of ``interim``. Every labelled tweet must find its true voice (else another world or
    another key was given: a PipelineError naming ``truth``).

    Returns
    -------
    DataFrame
        ``labelled``'s columns with ``voice`` split into ``voice_label`` and ``voice_true``.
    """
    import pandas as pd

    from complaintpanel.label.stage import interim_key, tweet_pseudonyms

    true_voice = pd.read_parquet(truth, columns=["tweet_id", "voice"])
    true_voice["tweet_id"] = tweet_pseudonyms(
        true_voice["tweet_id"], interim_key(interim, load(config).ingest.key_env)).to_numpy()
    merged = labelled.merge(true_voice, on="tweet_id", suffixes=("_label", "_true"),
                            validate="one_to_one")
    if len(merged) != len(labelled):
        raise PipelineError(f"{len(labelled) - len(merged):,} of {len(labelled):,} labelled "
                            "tweets have no true voice (another world, or another key?)",
                            file=truth)
    return merged
