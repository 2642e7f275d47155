"""``complaintpanel simulate``: write the embedded default world (or any other) to a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import ConfigOption, echo_summary, load, overridden


def simulate(
    out: Annotated[Path, typer.Option(help="Folder for twcs.csv and truth/.")] = Path(
        "data/raw/simulated"),
    customers: Annotated[int | None, typer.Option(help="Number of customers.")] = None,
    brands: Annotated[int | None, typer.Option(help="Number of brands (1–10).")] = None,
    weeks: Annotated[int | None, typer.Option(help="Length of the window in weeks.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed → same bytes).")] = None,
    endogenous_replies: Annotated[
        bool | None,
        typer.Option("--endogenous-replies/--exogenous-replies",
                     help="Let the answer probability depend on the latent state."),
    ] = None,
    awareness_effect: Annotated[float | None, typer.Option(
        help="Rival mechanism: a brand's answers in t raise its other customers' complaint "
             "log-rate in t+1 by this × the share of its customers it answered (0 = off).")] = None,
    truth_effects: Annotated[
        bool, typer.Option(help="Also write truth/answer_effects.json (true answering effects).")
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Draw a world from the structural model and write it as raw TWCS data plus the truth."""
    from complaintpanel.simulate import timed_simulation

    spec = overridden(load(config).simulate, customers=customers, brands=brands, weeks=weeks,
                      seed=seed, endogenous_replies=endogenous_replies,
                      awareness_effect=awareness_effect)
    world, seconds = timed_simulation(spec, out, truth_effects=truth_effects)
    echo_summary(
        "simulate",
        f"{len(world.tweets):,} tweets ({int(world.tweets['inbound'].sum()):,} from "
        f"{spec.customers:,} customers) over {spec.weeks} weeks, seed {spec.seed} → {out}",
        seconds,
    )


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app``."""
    app.command()(simulate)
