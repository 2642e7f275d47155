"""Command-line interface: ``complaintpanel <stage> ...``.

Each stage registers its commands from its own module (``register(app)``), so this file only
lists them; the logic lives in the stage modules' pure functions.
"""

from __future__ import annotations

import importlib
import warnings

import typer

from complaintpanel import __version__

# pandera imports pyspark.pandas whenever PySpark (the optional Spark engine) is installed, and
# PySpark 4.3 then warns that it predates pandas 3. The package exchanges data with Spark only
# through Arrow (checked by tests/test_engines.py), so the warning is noise in every stage's log.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                        category=FutureWarning)

app = typer.Typer(
    name="complaintpanel",
    help="Customer voice and firm intervention on Twitter: from raw conversations to the paper.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)



def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"complaintpanel {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Run the pipeline from raw customer-care conversations to the paper."""


# One entry per stage module that defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "complaintpanel.commands.simulate",
    "complaintpanel.commands.ingest",
    "complaintpanel.commands.report",
    "complaintpanel.commands.panel",
    "complaintpanel.commands.estimate",
    "complaintpanel.commands.pipeline",
    "complaintpanel.commands.hmm",
    "complaintpanel.commands.label",
)


def _register_all() -> None:
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)


_register_all()

if __name__ == "__main__":  # pragma: no cover
    app()
