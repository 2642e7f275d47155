"""Command-line interface: ``complaintpanel <stage> ...``.

Each stage registers its commands from its own module (``register(app)``), so this file only
lists them; the logic lives in the stage modules' pure functions.

Errors are one line on stderr, never a traceback, unless ``complaintpanel --debug …``:

* a :class:`~complaintpanel.errors.PipelineError` (a problem with the input, the settings or
  the output folder that the user can fix) prints ``stage: error: FILE[, row N]: problem`` and
  exits with status 2, as do operating-system errors that name a file (no permission, disk
  full, a folder where a file should be);
* typer's own errors (an unknown option, a missing argument) are printed as typer prints them,
  with status 2;
* anything else is a bug: one line naming the exception, ``run with --debug for the
  traceback``, and status 1.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from complaintpanel import __version__
from complaintpanel.errors import PipelineError

if TYPE_CHECKING:  # typer's bundled click, the type TyperGroup.invoke is declared with
    from typer._click.core import Context

# pandera imports pyspark.pandas whenever PySpark (the optional Spark engine) is installed, and
# PySpark 4.3 then warns that it predates pandas 3. The package exchanges data with Spark only
# through Arrow (checked by tests/test_engines.py), so the warning is noise in every stage's log.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                        category=FutureWarning)

# Exit statuses: 2 for errors the user can fix (as click uses for usage errors), 1 for bugs.
USER_ERROR = 2
BUG = 1


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _StageGroup(TyperGroup):
    """The command group that turns every error of a stage into one line (see the module)."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):
            raise  # typer's own errors and exits, printed as typer prints them
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            stage = ctx.invoked_subcommand or ctx.info_name or "complaintpanel"
            if isinstance(error, PipelineError):
                message, status = error.one_line(), USER_ERROR
            elif isinstance(error, OSError) and error.filename is not None:
                message = f"{error.filename}: {error.strerror or error}"
                status = USER_ERROR
            else:
                message = (f"internal error ({type(error).__name__}: {error}); this is a bug, "
                           "run with --debug for the traceback")
                status = BUG
            typer.echo(f"{stage}: error: {_one_line(message)}", err=True)
            ctx.exit(status)


app = typer.Typer(
    name="complaintpanel",
    cls=_StageGroup,
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
    debug: bool = typer.Option(False, "--debug",
                               help="Show the full traceback of any error."),
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
    "complaintpanel.commands.validation",
)


def _register_all() -> None:
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)


_register_all()

if __name__ == "__main__":  # pragma: no cover
    app()
