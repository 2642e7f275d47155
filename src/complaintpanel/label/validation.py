"""The validation sample: draw it, code it, read it back (DESIGN.md §4.1).

A classifier's labels are corrected through the misclassification matrix ``M``, estimated from
a random sample of customer tweets that a person codes by hand
(:mod:`complaintpanel.model.measurement`). This module holds the pure functions of that
workflow; :mod:`complaintpanel.commands.validation` reads and writes the files.

**Population.** The customer tweets of ``voiced.parquet`` — every tweet the estimates count.

**Design.** Stratified by the classifier's label ℓ: ``n_ℓ`` tweets drawn without replacement
from the ``N_ℓ`` labelled ℓ. The default allocation is *equal* (``n/3`` per label, a stratum
smaller than its share given whole and the rest spread over the others): a proportional sample
codes few tweets of the rarest label, leaving its column of ``M`` — what those tweets really
are — the least precise, while every column enters every corrected estimate through ``M⁻ᵀ``.
``proportional`` (``n_ℓ ∝ N_ℓ``) is available. Whatever the allocation, the estimates weight
each stratum by its census ``N_ℓ`` (weights ``N_ℓ / n_ℓ``, recorded).

**Files.** The coding sheet (CSV: ``tweet_id``, ``text``, an empty ``voice``) and its design
record (``validation_design.json``: allocation, seed, ``N_ℓ``, ``n_ℓ``, weights, and each sampled
tweet's raw id, pseudonym and predicted label) live in the interim folder only: the sheet holds
text, and the design record ties raw ids to pseudonyms. The rows of the sheet are shuffled and
it does not show the predicted label, so coders are not anchored by it.

**Accepted codes.** ``complaint``, ``compliment``, ``neutral`` in any letter case, with any
surrounding white space (``" Complaint "``, ``"NEUTRAL"``). Anything else, an empty code, a
duplicate tweet, or a tweet that is not in the sample is an error naming the file and row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from complaintpanel.errors import PipelineError
from complaintpanel.model.measurement import VOICES, ValidationCounts

__all__ = [
    "ALLOCATIONS",
    "DESIGN_FILE",
    "SHEET_COLUMNS",
    "ValidationDesign",
    "allocate",
    "coding_sheet",
    "draw_validation_sample",
    "load_validation_counts",
    "oracle_code",
    "parse_voice",
    "read_coded_sheet",
    "read_design",
    "validation_counts",
]

Allocation = Literal["equal", "proportional"]
ALLOCATIONS: tuple[str, ...] = ("equal", "proportional")
SHEET_COLUMNS: tuple[str, ...] = ("tweet_id", "text", "voice")
DESIGN_FILE = "validation_design.json"  # beside the sheet, in the interim folder


def allocate(population: np.ndarray, n: int, allocation: str = "equal") -> np.ndarray:
    """Sample size of each stratum.

    Parameters
    ----------
    population : ndarray of int, shape (L,)
        ``N_ℓ``.
    n : int
        Total sample size (capped at the population's size).
    allocation : {"equal", "proportional"}

    Returns
    -------
    ndarray of int, shape (L,)
        ``n_ℓ ≤ N_ℓ``, summing to ``min(n, N)``; every non-empty stratum gets at least one.
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"unknown allocation {allocation!r}; choose from {ALLOCATIONS}")
    census = np.asarray(population, dtype=np.int64)
    total = int(min(n, census.sum()))
    sizes = np.zeros_like(census)
    if allocation == "proportional":
        raw = total * census / max(int(census.sum()), 1)
        sizes = np.minimum(np.maximum(np.floor(raw).astype(np.int64), census > 0), census)
        # hand out what flooring left by the largest remainders
        for ell in np.argsort(-(raw - np.floor(raw)), kind="stable"):
            if sizes.sum() >= total:
                break
            if sizes[ell] < census[ell]:
                sizes[ell] += 1
    else:
        # Equal shares; a stratum smaller than its share is taken whole and the remainder
        # goes to the others, round by round.
        open_ = census > 0
        while sizes.sum() < total and open_.any():
            left = total - int(sizes.sum())
            share = max(left // int(open_.sum()), 1)
            for ell in np.flatnonzero(open_):
                take = min(share, int(census[ell] - sizes[ell]), total - int(sizes.sum()))
                sizes[ell] += take
            open_ = sizes < census
    while sizes.sum() > total:  # only possible when n < number of strata
        sizes[np.argmax(sizes)] -= 1
    return sizes


@dataclass(frozen=True)
class ValidationDesign:
    """A drawn validation sample and its design.

    Attributes
    ----------
    sample : DataFrame
        One row per sampled tweet in coding order (shuffled): ``tweet_key`` (the pseudonym of
        ``voiced.parquet``), ``predicted`` (the classifier's label) and, once joined to the
        interim data, ``tweet_id`` (the raw id shown to coders).
    population : ndarray of int, shape (L,)
        ``N_ℓ``, labels in :data:`~complaintpanel.model.measurement.VOICES` order.
    allocated : ndarray of int, shape (L,)
        ``n_ℓ``.
    allocation : str
    seed : int
    """

    sample: pd.DataFrame
    population: np.ndarray
    allocated: np.ndarray
    allocation: str
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the design record; it names raw ids: keep it in the interim folder)."""
        population = np.asarray(self.population)
        allocated = np.asarray(self.allocated)
        weights = [float(population[i] / allocated[i]) if allocated[i] else None
                   for i in range(len(VOICES))]
        tweets = self.sample.astype({c: str for c in self.sample.columns}).to_dict("records")
        return {
            "population": "customer tweets of voiced.parquet",
            "labels": list(VOICES), "allocation": self.allocation, "seed": self.seed,
            "population_by_label": population.astype(int).tolist(),
            "sampled_by_label": allocated.astype(int).tolist(),
            "weights_by_label": weights, "n": int(allocated.sum()),
            **self.extra, "tweets": tweets,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ValidationDesign:
        """Inverse of :meth:`to_dict`."""
        sample = pd.DataFrame.from_records(values["tweets"]).astype(str)
        known = {"population", "labels", "allocation", "seed", "population_by_label",
                 "sampled_by_label", "weights_by_label", "n", "tweets"}
        return cls(sample=sample, population=np.asarray(values["population_by_label"]),
                   allocated=np.asarray(values["sampled_by_label"]),
                   allocation=str(values["allocation"]), seed=int(values["seed"]),
                   extra={k: v for k, v in values.items() if k not in known})


def label_census(voiced: pd.DataFrame) -> np.ndarray:
    """``N_ℓ``: customer tweets of ``voiced`` per label, in VOICES order."""
    unknown = sorted(set(voiced["voice"].astype(str)) - set(VOICES))
    if unknown:
        raise ValueError(f"voiced has labels outside {VOICES}: {unknown}")
    return voiced["voice"].value_counts().reindex(list(VOICES), fill_value=0).to_numpy()


def draw_validation_sample(voiced: pd.DataFrame, n: int = 1000, seed: int = 0,
                           allocation: str = "equal") -> ValidationDesign:
    """Draw a stratified random sample of the customer tweets of ``voiced``.

    Parameters
    ----------
    voiced : DataFrame
        ``voiced.parquet`` (columns ``tweet_id``, ``voice``): one row per customer tweet.
    n : int
        Tweets to code.
    seed : int
        The same voiced table, ``n``, seed and allocation give the same sample.
    allocation : {"equal", "proportional"}

    Returns
    -------
    ValidationDesign
        ``sample`` has ``tweet_key`` (voiced's ``tweet_id``) and ``predicted``, shuffled.
    """
    if voiced["tweet_id"].duplicated().any():
        raise ValueError("voiced has duplicate tweet ids")
    population = label_census(voiced)
    sizes = allocate(population, n, allocation)
    rng = np.random.default_rng(seed)
    # Sort first, so the draw does not depend on the row order of the file.
    ordered = voiced[["tweet_id", "voice"]].astype(str).sort_values("tweet_id")
    parts = []
    for ell, label in enumerate(VOICES):
        ids = ordered.loc[ordered["voice"] == label, "tweet_id"].to_numpy()
        parts.append(pd.DataFrame({"tweet_key": rng.choice(ids, size=int(sizes[ell]),
                                                            replace=False),
                                   "predicted": label}))
    sample = pd.concat(parts, ignore_index=True)
    sample = sample.iloc[rng.permutation(len(sample))].reset_index(drop=True)
    return ValidationDesign(sample=sample, population=population, allocated=sizes,
                            allocation=allocation, seed=seed)


def coding_sheet(design: ValidationDesign, texts: pd.DataFrame) -> pd.DataFrame:
    """Build the sheet a person codes: ``tweet_id``, ``text`` and an empty ``voice``, shuffled.

    Parameters
    ----------
    design : ValidationDesign
        Its ``sample`` must carry the raw ``tweet_id`` beside ``tweet_key``.
    texts : DataFrame
        ``tweet_id`` (raw) and ``text`` (the interim exchanges).
    """
    lookup = texts.astype({"tweet_id": str}).drop_duplicates("tweet_id").set_index("tweet_id")
    ids = design.sample["tweet_id"].astype(str)
    missing = ids[~ids.isin(lookup.index)]
    if len(missing):
        raise ValueError(f"{len(missing)} sampled tweet(s) have no text, e.g. {missing.iloc[0]}")
    return pd.DataFrame({"tweet_id": ids.to_numpy(),
                         "text": lookup.loc[ids, "text"].to_numpy(), "voice": ""})


def oracle_code(sheet: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Fill the sheet's ``voice`` with the simulator's true voice (an oracle coder).

    Parameters
    ----------
    sheet : DataFrame
        A coding sheet (raw ``tweet_id``).
    truth : DataFrame
        The simulator's ``truth/voice.parquet`` (``tweet_id``, ``voice``).
    """
    true_voice = truth.astype({"tweet_id": str}).set_index("tweet_id")["voice"]
    coded = sheet.copy()
    coded["tweet_id"] = coded["tweet_id"].astype(str)
    missing = ~coded["tweet_id"].isin(true_voice.index)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} tweet(s) of the sheet are not in the truth, "
                         f"e.g. {coded.loc[missing, 'tweet_id'].iloc[0]}")
    coded["voice"] = true_voice.loc[coded["tweet_id"]].to_numpy()
    return coded


def parse_voice(value: object) -> str | None:
    """Return a coded voice in canonical spelling, or ``None`` if it is not one of the three.

    Letter case and surrounding white space are ignored.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    return text if text in VOICES else None


def read_coded_sheet(path: Path, design: ValidationDesign | None = None) -> pd.DataFrame:
    """Read and check a coded sheet; return ``tweet_id`` (str) and canonical ``voice``.

    Parameters
    ----------
    path : Path
        The coded CSV.
    design : ValidationDesign, optional
        When given, every coded tweet must be in the sample (by raw id or pseudonym).

    Raises
    ------
    PipelineError
        Naming the file and the row (1-based data row, the header not counted) of the first
        problem: a missing column, an empty or unknown code, a duplicate or unknown tweet.
    """
    if not path.is_file():
        raise PipelineError("does not exist", file=path)
    try:
        sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise PipelineError(f"is not a readable CSV coding sheet ({error})", file=path) from None
    absent = [c for c in ("tweet_id", "voice") if c not in sheet.columns]
    if absent:
        raise PipelineError(f"has no column(s) {absent}; a coded sheet has "
                            f"{list(SHEET_COLUMNS)}", file=path)
    if sheet.empty:
        raise PipelineError("has no coded tweet", file=path)
    known: set[str] = set()
    if design is not None:
        known = set(design.sample["tweet_key"].astype(str))
        if "tweet_id" in design.sample:
            known |= set(design.sample["tweet_id"].astype(str))
    seen: dict[str, int] = {}
    voices = []
    for i, (tweet, code) in enumerate(zip(sheet["tweet_id"], sheet["voice"], strict=True)):
        row = i + 1
        tweet = str(tweet).strip()
        if not tweet:
            raise PipelineError("empty tweet_id", file=path, row=row)
        if tweet in seen:
            raise PipelineError(f"duplicate tweet_id {tweet} (first on row {seen[tweet]})",
                                file=path, row=row)
        seen[tweet] = row
        if design is not None and tweet not in known:
            raise PipelineError(f"tweet_id {tweet} is not in the validation sample",
                                file=path, row=row)
        if not str(code).strip():
            raise PipelineError(f"tweet_id {tweet} has no code: fill `voice` with one of "
                                f"{', '.join(VOICES)}", file=path, row=row)
        voice = parse_voice(code)
        if voice is None:
            raise PipelineError(f"unknown voice {str(code)!r} for tweet_id {tweet}: use one "
                                f"of {', '.join(VOICES)} (any case)", file=path, row=row)
        voices.append(voice)
    return pd.DataFrame({"tweet_id": list(seen), "voice": voices})


def read_design(path: Path) -> ValidationDesign:
    """Read a design record (``validation_design.json``)."""
    if not path.is_file():
        raise PipelineError("does not exist: the validation sample's design record is written "
                            "beside the coding sheet by `complaintpanel validation-sample`",
                            file=path)
    return ValidationDesign.from_dict(json.loads(path.read_text(encoding="utf-8")))


def validation_counts(coded: pd.DataFrame, design: ValidationDesign,
                      population: np.ndarray | None = None) -> ValidationCounts:
    """Count ``n[v, ℓ]`` in a coded sample joined to its predicted labels.

    Parameters
    ----------
    coded : DataFrame
        ``tweet_id`` (raw id or pseudonym) and canonical ``voice``.
    design : ValidationDesign
    population : ndarray, optional
        ``N_ℓ`` (default: the design's).
    """
    sample = design.sample.astype(str)
    predicted = dict(zip(sample["tweet_key"], sample["predicted"], strict=True))
    if "tweet_id" in sample:
        predicted.update(zip(sample["tweet_id"], sample["predicted"], strict=True))
    labels = coded["tweet_id"].astype(str).map(predicted)
    if labels.isna().any():
        raise ValueError(f"{int(labels.isna().sum())} coded tweet(s) are not in the sample")
    index = {voice: i for i, voice in enumerate(VOICES)}
    counts = np.zeros((len(VOICES), len(VOICES)), dtype=np.int64)
    np.add.at(counts, (coded["voice"].map(index).to_numpy(), labels.map(index).to_numpy()), 1)
    return ValidationCounts(counts=counts, population=np.asarray(
        design.population if population is None else population, dtype=np.int64))


def load_validation_counts(coded_sheet: Path, voiced: Path | pd.DataFrame,
                           design: Path | None = None) -> ValidationCounts:
    """Read a coded validation sheet and return the counts ``M`` is estimated from.

    Parameters
    ----------
    coded_sheet : Path
        The coded CSV (``tweet_id``, ``voice``; ``text`` may stay). Ids are the raw ids the
        sheet was drawn with, or the pseudonyms of ``voiced.parquet``.
    voiced : Path or DataFrame
        ``voiced.parquet`` (keyed pseudonyms): the census ``N_ℓ`` of its customer tweets, and
        the check that each sampled tweet is still there with the label it was sampled under.
    design : Path, optional
        The design record; default ``validation_design.json`` beside ``coded_sheet`` (the
        coded sheet holds text and so stays in the interim folder beside it).

    Returns
    -------
    ValidationCounts

    Raises
    ------
    PipelineError
        A bad coded sheet (see :func:`read_coded_sheet`), or a sample that no longer matches
        ``voiced`` (relabelled or another dataset).
    """
    design_path = design or coded_sheet.parent / DESIGN_FILE
    drawn = read_design(design_path)
    coded = read_coded_sheet(coded_sheet, drawn)
    table = pd.read_parquet(voiced, columns=["tweet_id", "voice"]) if isinstance(
        voiced, Path) else voiced[["tweet_id", "voice"]]
    source = voiced if isinstance(voiced, Path) else None
    labels = table.astype(str).set_index("tweet_id")["voice"]
    sample = drawn.sample.astype(str)
    absent = ~sample["tweet_key"].isin(labels.index)
    if absent.any():
        raise PipelineError(f"{int(absent.sum())} tweet(s) of the validation sample are not in "
                            "the voiced table (another dataset, or another key?)",
                            file=source or design_path)
    changed = labels.loc[sample["tweet_key"]].to_numpy() != sample["predicted"].to_numpy()
    if changed.any():
        raise PipelineError(f"{int(changed.sum())} sampled tweet(s) now carry another label: "
                            "the tweets were relabelled after the sample was drawn; draw a "
                            "new sample", file=source or design_path)
    return validation_counts(coded, drawn, label_census(table.astype(str)))
