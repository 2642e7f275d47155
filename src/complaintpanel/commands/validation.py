"""``validation-sample`` and ``validation-code-oracle``: the hand-coded validation sample.

Draw a stratified sample of customer tweets into a coding sheet in the interim folder (texts
never leave it), have it coded by a person — or, on a simulated world, by an oracle from the
truth — and pass the coded sheet back to ``estimate``, ``label-validity`` and ``hmm`` with
``--validation`` (:mod:`complaintpanel.label.validation`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from complaintpanel.commands._common import ConfigOption, echo_summary, load, overridden
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import stage_outputs, verified_input, write_json

SHEET_FILE = "validation_sheet.csv"


def _interim_of(voiced: Path, interim: Path | None) -> Path:
    """Return the interim folder ``voiced`` was labelled from (``label_report.json``)."""
    if interim is not None:
        return interim
    report_path = voiced.parent / "label_report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    if not report.get("input"):
        raise PipelineError("has no label_report.json naming the interim folder it was "
                            "labelled from; give it with --interim", file=voiced)
    return Path(report["input"]).parent


def validation_sample(
    directory: Annotated[Path, typer.Argument(help="Folder holding voiced.parquet.")],
    n: Annotated[int | None, typer.Option("--n", help="Tweets to code (default from "
                                                      "config [validation]: 1000).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the draw.")] = None,
    allocation: Annotated[str | None, typer.Option(
        help="equal (n/3 per predicted label) or proportional.")] = None,
    interim: Annotated[Path | None, typer.Option(
        help="Interim folder with exchanges.parquet (texts) and the pseudonymisation key "
             "(default: the input named in DIRECTORY/label_report.json).")] = None,
    strata: Annotated[str, typer.Option(
        help="label (3 strata: the predicted voice) or label_answered (6: predicted voice × "
             "answered by the brand, so that answered neutral tweets and compliments are "
             "coded often enough for the true-voice adjustment).")] = "label",
    config: ConfigOption = None,
) -> None:
    """Draw a stratified validation sample into a coding sheet in the interim folder.

    Writes INTERIM/validation_sheet.csv (tweet_id, text, empty voice; shuffled; no predicted
    label shown) and INTERIM/validation_design.json (allocation, seed, N and n per predicted
    label, weights N/n, and each sampled tweet's id, pseudonym, predicted label and answered
    status; with --strata label_answered also N, n and weights per label × answered stratum).
    """
    import dataclasses

    import pandas as pd

    from complaintpanel.label.stage import interim_key, tweet_pseudonyms
    from complaintpanel.label.validation import (
        DESIGN_FILE,
        coding_sheet,
        draw_validation_sample,
    )

    settings = load(config)
    try:
        design_settings = overridden(settings.validation, n=n, seed=seed, allocation=allocation)
    except ValueError as error:
        raise PipelineError(str(error)) from None
    voiced = directory / "voiced.parquet"
    if not voiced.is_file():
        raise PipelineError("does not exist; run `complaintpanel label` first", file=voiced)
    interim = _interim_of(voiced, interim)
    exchanges = interim / "exchanges.parquet"
    if not exchanges.is_file():
        raise PipelineError("does not exist: the coding sheet needs the tweets' texts",
                            file=exchanges)
    started = time.perf_counter()
    with stage_outputs("validation-sample", interim) as outputs:
        labelled = pd.read_parquet(verified_input(voiced),
                                   columns=["tweet_id", "voice", "brand_replied"])
        try:
            design = draw_validation_sample(labelled, design_settings.n, design_settings.seed,
                                            design_settings.allocation, strata=strata)
        except ValueError as error:
            raise PipelineError(str(error)) from None
        texts = pd.read_parquet(verified_input(exchanges), columns=["tweet_id", "text"])
        texts["tweet_key"] = tweet_pseudonyms(
            texts["tweet_id"], interim_key(interim, settings.ingest.key_env)).to_numpy()
        raw_of = texts.set_index("tweet_key")["tweet_id"]
        missing = ~design.sample["tweet_key"].isin(raw_of.index)
        if missing.any():
            raise PipelineError(f"{int(missing.sum())} sampled tweet(s) of voiced.parquet are "
                                "not in the interim exchanges (another folder, or another "
                                "key?)", file=exchanges)
        sample = design.sample.assign(
            tweet_id=raw_of.loc[design.sample["tweet_key"]].astype(str).to_numpy())
        design = dataclasses.replace(design, sample=sample, extra={
            **design.extra, "voiced": str(voiced), "interim": str(interim)})
        sheet = coding_sheet(design, texts[["tweet_id", "text"]])
        sheet.to_csv(outputs.path(SHEET_FILE), index=False)
        write_json(design.to_dict(), outputs.path(DESIGN_FILE))
    echo_summary("validation-sample",
                 f"{len(sheet):,} tweets ({design.allocation} allocation, n per label "
                 f"{design.allocated.tolist()}) → {interim / SHEET_FILE}",
                 time.perf_counter() - started)


def validation_code_oracle(
    sheet: Annotated[Path, typer.Argument(help="Coding sheet (validation_sheet.csv).")],
    truth: Annotated[Path, typer.Option(help="The simulator's truth/voice.parquet.")],
    out: Annotated[Path | None, typer.Option(
        help="Coded sheet (default: validation_coded.csv beside SHEET, in the interim "
             "folder).")] = None,
) -> None:
    """Code a sheet of a simulated world from the truth (an oracle coder)."""
    import shutil

    import pandas as pd

    from complaintpanel.label.validation import DESIGN_FILE, oracle_code

    for path in (sheet, truth):
        if not path.is_file():
            raise PipelineError("does not exist", file=path)
    out = out or sheet.parent / "validation_coded.csv"
    started = time.perf_counter()
    frame = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    try:
        coded = oracle_code(frame, pd.read_parquet(truth, columns=["tweet_id", "voice"]))
    except ValueError as error:
        raise PipelineError(str(error), file=sheet) from None
    with stage_outputs("validation-code-oracle", out.parent) as outputs:
        coded.to_csv(outputs.path(out.name), index=False)
        design = sheet.parent / DESIGN_FILE
        if out.parent.resolve() != sheet.parent.resolve() and design.is_file():
            shutil.copyfile(design, outputs.path(DESIGN_FILE))
    echo_summary("validation-code-oracle", f"{len(coded):,} tweets coded → {out}",
                 time.perf_counter() - started)


def register(app: typer.Typer) -> None:
    """Add ``validation-sample`` and ``validation-code-oracle`` to ``app``."""
    app.command("validation-sample")(validation_sample)
    app.command("validation-code-oracle")(validation_code_oracle)
