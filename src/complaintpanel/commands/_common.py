"""Pieces every command shares: the ``--config`` option and the one-line stage summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.config import Config, load_config

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings file (TOML); defaults to built-in settings.",
                 exists=True, dir_okay=False),
]


def load(config: Path | None) -> Config:
    """Load the settings file, or the defaults when none is given."""
    return load_config(config)


def echo_summary(stage: str, what: str, seconds: float) -> None:
    """Print the one-line summary every stage ends with: ``stage: what (1.2 s)``."""
    typer.echo(f"{stage}: {what} ({seconds:.1f} s)")
