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

**Answered status.** Each sampled tweet's ``answered`` status (whether a brand replied to it
directly: ``brand_replied`` of ``voiced.parquet``) is recorded in the design record and, for
sheets drawn before it was, looked up from ``voiced.parquet`` by pseudonym. With it the codes
estimate ``w[ℓ, a] = P(true complaint | label ℓ, answered a)`` (:class:`CodedTweets`), which the
reduced form uses to control for the true voice of the answered week
(:func:`complaintpanel.estimate.measurement.corrected_design_voice_control`). Brands answer few
tweets labelled neutral or compliment, so a label-stratified sample codes few of them; the
design can instead be stratified by label × answered (``strata="label_answered"``, six strata),
weights ``N_s / n_s`` recorded per stratum; ``M`` is then estimated post-stratified (each
label's answered and unanswered strata weighted by their census).

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
    "ANSWERED",
    "DESIGN_FILE",
    "SHEET_COLUMNS",
    "STRATA",
    "CodedTweets",
    "ValidationDesign",
    "allocate",
    "coding_sheet",
    "draw_validation_sample",
    "load_coded_tweets",
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
STRATA: tuple[str, ...] = ("label", "label_answered")
ANSWERED: tuple[bool, ...] = (False, True)  # column order of the arrays over answered status


def stratum_name(label: str, answered: bool | None) -> str:
    """Stratum key: the label, or ``label|answered`` / ``label|unanswered``."""
    if answered is None:
        return label
    return f"{label}|{'answered' if answered else 'unanswered'}"


def _as_bool(values: pd.Series) -> pd.Series:
    """Answered flags read back from JSON or CSV (bools, 0/1 or 'True'/'False')."""
    if values.dtype == bool:
        return values
    mapped = values.astype(str).str.strip().str.lower().map(
        {"true": True, "1": True, "false": False, "0": False})
    if mapped.isna().any():
        raise ValueError(f"unreadable answered flag {values[mapped.isna()].iloc[0]!r}")
    return mapped.astype(bool)


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
                           allocation: str = "equal", strata: str = "label") -> ValidationDesign:
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
        Over the strata.
    strata : {"label", "label_answered"}
        Stratify by the predicted label (three strata), or by label × answered (six; needs
        ``brand_replied``): answered tweets labelled neutral or compliment are rare, and
        ``w[ℓ, answered]`` is estimated from them.

    Returns
    -------
    ValidationDesign
        ``sample`` has ``tweet_key`` (voiced's ``tweet_id``), ``predicted``, ``answered``
        (when ``voiced`` has ``brand_replied``) and ``stratum``, shuffled.
    """
    if voiced["tweet_id"].duplicated().any():
        raise ValueError("voiced has duplicate tweet ids")
    if strata not in STRATA:
        raise ValueError(f"unknown strata {strata!r}; choose from {STRATA}")
    population = label_census(voiced)
    if strata == "label_answered":
        if "brand_replied" not in voiced:
            raise ValueError("stratifying by answered status needs voiced's brand_replied")
        return _draw_label_answered(voiced, n, seed, allocation, population)
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
    sample["stratum"] = sample["predicted"]
    if "brand_replied" in voiced:
        replied = voiced.astype({"tweet_id": str}).set_index("tweet_id")["brand_replied"]
        sample["answered"] = replied.loc[sample["tweet_key"]].astype(bool).to_numpy()
    return ValidationDesign(sample=sample, population=population, allocated=sizes,
                            allocation=allocation, seed=seed, extra={"strata": "label"})


def _draw_label_answered(voiced: pd.DataFrame, n: int, seed: int, allocation: str,
                         population: np.ndarray) -> ValidationDesign:
    """Draw stratified by label × answered (six strata), the allocation over the six."""
    rng = np.random.default_rng(seed)
    ordered = voiced[["tweet_id", "voice", "brand_replied"]].astype(
        {"tweet_id": str, "voice": str}).sort_values("tweet_id")
    ordered["brand_replied"] = ordered["brand_replied"].astype(bool)
    cells = [(label, answered) for label in VOICES for answered in ANSWERED]
    members = [ordered.loc[(ordered["voice"] == label) & (ordered["brand_replied"] == answered),
                           "tweet_id"].to_numpy() for label, answered in cells]
    census = np.array([len(ids) for ids in members], dtype=np.int64)
    cell_sizes = allocate(census, n, allocation)
    parts = [pd.DataFrame({"tweet_key": rng.choice(ids, size=int(size), replace=False),
                           "predicted": label, "answered": answered,
                           "stratum": stratum_name(label, answered)})
             for (label, answered), ids, size in zip(cells, members, cell_sizes, strict=True)]
    sample = pd.concat(parts, ignore_index=True)
    sample = sample.iloc[rng.permutation(len(sample))].reset_index(drop=True)
    names = [stratum_name(label, answered) for label, answered in cells]
    extra: dict[str, Any] = {
        "strata": "label_answered",
        "population_by_stratum": dict(zip(names, census.tolist(), strict=True)),
        "sampled_by_stratum": dict(zip(names, cell_sizes.tolist(), strict=True)),
        "weights_by_stratum": {name: float(big / small) if small else None
                               for name, big, small in zip(names, census, cell_sizes,
                                                           strict=True)}}
    sizes = cell_sizes.reshape(len(VOICES), len(ANSWERED)).sum(axis=1)
    return ValidationDesign(sample=sample, population=population, allocated=sizes,
                            allocation=allocation, seed=seed, extra=extra)


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

    A design stratified by label × answered is post-stratified by label
    (:meth:`CodedTweets.validation_counts`; fractional counts), with the census of its design
    record (``population`` is then ignored).
    """
    if design.extra.get("strata") == "label_answered":
        return _design_coded_tweets(coded, design).validation_counts()
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


@dataclass(frozen=True)
class CodedTweets:
    """The coded validation tweets with their label and answered status, and the census.

    What the true-voice control of the reduced form needs: ``w[ℓ, a] = P(true complaint |
    label ℓ, answered a)`` and, from the same codes, ``M``; :meth:`resample` redraws the
    sample within its strata (a bootstrap of the validation sample).

    Attributes
    ----------
    tweets : DataFrame
        One row per coded tweet: ``predicted`` (label), ``answered`` (bool), ``voice`` (the
        code) and ``stratum`` (the sampling stratum); from :func:`coded_tweets` also
        ``tweet_key`` and, where voiced has them, ``customer_id``, ``brand`` and ``created_at``
        (the tweet's place in the panel).
    stratum_population : Series
        ``N_s`` by stratum (the census the stratum was drawn from).
    cell_population : ndarray of int, shape (V, 2)
        ``N[ℓ, a]``: tweets of the population labelled ℓ, unanswered (column 0) or answered
        (column 1).
    """

    tweets: pd.DataFrame
    stratum_population: pd.Series
    cell_population: np.ndarray

    @property
    def strata(self) -> str:
        """``label`` or ``label_answered``."""
        return "label_answered" if "|" in str(self.stratum_population.index[0]) else "label"

    def complaint_probability(self) -> tuple[np.ndarray, np.ndarray]:
        """``ŵ[ℓ, a]``: share of true complaints among the coded tweets of label ℓ, answered a.

        Within a label stratum the tweets of one answered status are a simple random sample of
        that cell (a domain), and under label × answered stratification each cell is a stratum:
        either way the cell's share estimates ``w[ℓ, a]`` without weights, with binomial
        variance ``w (1 − w) / n[ℓ, a]`` (conditional on the cell's size), independent across
        cells. A cell without a coded tweet takes its label's pooled share (weighted by the
        census of the two cells), with that share's variance; one empty in the population
        too takes it with no consequence (no tweet of the panel is in it).

        Returns
        -------
        w : ndarray, shape (V, 2)
            Labels in VOICES order on rows; unanswered, answered on columns.
        se : ndarray, shape (V, 2)
            Binomial standard errors.
        """
        w = np.zeros((len(VOICES), len(ANSWERED)))
        se = np.zeros_like(w)
        complaint = self.tweets["voice"].to_numpy() == VOICES[0]
        predicted = self.tweets["predicted"].to_numpy()
        answered = self.tweets["answered"].to_numpy(dtype=bool)
        for ell, label in enumerate(VOICES):
            shares, sizes = [], []
            for status in ANSWERED:
                cell = (predicted == label) & (answered == status)
                sizes.append(int(cell.sum()))
                shares.append(float(complaint[cell].mean()) if cell.any() else np.nan)
            census = np.asarray(self.cell_population[ell], dtype=float)
            known = [a for a in range(len(ANSWERED)) if sizes[a]]
            if not known:
                raise ValueError(f"no coded tweet labelled {label}: w cannot be estimated")
            weight = census[known] / census[known].sum() if census[known].sum() else \
                np.full(len(known), 1 / len(known))
            pooled = float(np.dot(weight, np.asarray(shares)[known]))
            pooled_var = float(np.sum(weight**2 * np.asarray(
                [shares[a] * (1 - shares[a]) / sizes[a] for a in known])))
            for a in range(len(ANSWERED)):
                if sizes[a]:
                    w[ell, a] = shares[a]
                    se[ell, a] = np.sqrt(shares[a] * (1 - shares[a]) / sizes[a])
                else:
                    w[ell, a], se[ell, a] = pooled, np.sqrt(pooled_var)
        return w, se

    def validation_counts(self) -> ValidationCounts:
        """Return the counts ``M`` is estimated from, post-stratified by label when needed.

        Stratified by label, these are the plain counts ``n[v, ℓ]``. Stratified by label ×
        answered, the answered tweets are over-represented within a label, so each label's
        column holds ``n_ℓ · q̂[v | ℓ]`` with ``q̂[v | ℓ] = Σ_a (N[ℓ, a] / N_ℓ) q̂[v | ℓ, a]``
        (fractional counts): the point estimate of ``M`` is right; its delta-method variance
        treats the column as a simple random sample of ``n_ℓ`` (an approximation: the
        bootstrap of :meth:`resample` does not need it).
        """
        index = {voice: i for i, voice in enumerate(VOICES)}
        true = self.tweets["voice"].map(index).to_numpy()
        label = self.tweets["predicted"].map(index).to_numpy()
        population = np.asarray(self.cell_population).sum(axis=1)
        if self.strata == "label":
            counts = np.zeros((len(VOICES), len(VOICES)), dtype=np.int64)
            np.add.at(counts, (true, label), 1)
            return ValidationCounts(counts=counts, population=population)
        answered = self.tweets["answered"].to_numpy(dtype=bool)
        counts_f = np.zeros((len(VOICES), len(VOICES)))
        for ell in range(len(VOICES)):
            n_label = int((label == ell).sum())
            for a, status in enumerate(ANSWERED):
                cell = (label == ell) & (answered == status)
                if not cell.any() or population[ell] == 0:
                    continue
                share = self.cell_population[ell, a] / population[ell]
                q = np.bincount(true[cell], minlength=len(VOICES)) / cell.sum()
                counts_f[:, ell] += n_label * share * q
        return ValidationCounts(counts=counts_f, population=population)

    def resample(self, rng: np.random.Generator) -> CodedTweets:
        """Redraw the coded tweets with replacement within each stratum (same sizes)."""
        strata = self.tweets["stratum"].to_numpy()
        at = np.concatenate([rng.choice(np.flatnonzero(strata == s), size=int((strata == s)
                                                                              .sum()))
                             for s in pd.unique(strata)])
        return CodedTweets(self.tweets.iloc[at].reset_index(drop=True),
                           self.stratum_population, self.cell_population)


def cell_census(voiced: pd.DataFrame) -> np.ndarray:
    """``N[ℓ, a]``: customer tweets of ``voiced`` per label (rows) and answered status."""
    replied = voiced["brand_replied"].astype(bool)
    return np.array([[int(((voiced["voice"] == label) & (replied == status)).sum())
                      for status in ANSWERED] for label in VOICES], dtype=np.int64)


def coded_tweets(coded: pd.DataFrame, design: ValidationDesign,
                 voiced: pd.DataFrame) -> CodedTweets:
    """Join a coded sample to its labels and answered status.

    Parameters
    ----------
    coded : DataFrame
        ``tweet_id`` (raw id or pseudonym) and canonical ``voice``.
    design : ValidationDesign
        The design record. Sheets drawn before the answered status was recorded (no
        ``answered`` column) still work: it is looked up from ``voiced``.
    voiced : DataFrame
        ``voiced.parquet`` (``tweet_id`` = pseudonym, ``voice``, ``brand_replied``): the
        answered status and the census ``N[ℓ, a]``.
    """
    sample = design.sample.astype(str)
    key_of = dict(zip(sample["tweet_key"], sample["tweet_key"], strict=True))
    if "tweet_id" in sample:
        key_of.update(zip(sample["tweet_id"], sample["tweet_key"], strict=True))
    keys = coded["tweet_id"].astype(str).map(key_of)
    if keys.isna().any():
        raise ValueError(f"{int(keys.isna().sum())} coded tweet(s) are not in the sample")
    table = voiced.astype({"tweet_id": str}).set_index("tweet_id")
    rows = sample.set_index("tweet_key").loc[keys.to_numpy()]
    replied = table["brand_replied"].astype(bool).reindex(keys.to_numpy())
    if replied.isna().any():
        raise ValueError(f"{int(replied.isna().sum())} coded tweet(s) are not in voiced")
    answered = replied.to_numpy(dtype=bool)
    if "answered" in rows:
        recorded = _as_bool(rows["answered"]).to_numpy()
        if (recorded != answered).any():
            raise ValueError(f"{int((recorded != answered).sum())} sampled tweet(s) changed "
                             "answered status since the sample was drawn")
    strata = str(design.extra.get("strata", "label"))
    stratum = [stratum_name(label, bool(a) if strata == "label_answered" else None)
               for label, a in zip(rows["predicted"], answered, strict=True)]
    tweets = pd.DataFrame({"predicted": rows["predicted"].to_numpy(), "answered": answered,
                           "voice": coded["voice"].astype(str).to_numpy(), "stratum": stratum,
                           "tweet_key": keys.to_numpy()})
    # Where each tweet sits in the panel (its customer, brand and time), for the outcome link
    # of the true-voice correction.
    for column in ("customer_id", "brand", "created_at"):
        if column in table:
            tweets[column] = table[column].reindex(keys.to_numpy()).to_numpy()
    census = cell_census(table.reset_index())
    if strata == "label_answered":
        population = pd.Series(design.extra["population_by_stratum"], dtype="int64")
    else:
        population = pd.Series(census.sum(axis=1), index=list(VOICES))
    return CodedTweets(tweets=tweets, stratum_population=population, cell_population=census)


def load_coded_tweets(coded_sheet: Path, voiced: Path | pd.DataFrame,
                      design: Path | None = None) -> CodedTweets:
    """Read a coded validation sheet with each tweet's answered status.

    The checks are those of :func:`load_validation_counts`; the answered status comes from the
    design record or, for older sheets, from ``voiced``'s ``brand_replied``.
    """
    load_validation_counts(coded_sheet, voiced, design)  # the same checks
    drawn = read_design(design or coded_sheet.parent / DESIGN_FILE)
    coded = read_coded_sheet(coded_sheet, drawn)
    table = pd.read_parquet(voiced, columns=["tweet_id", "customer_id", "brand", "created_at",
                                             "voice", "brand_replied"]) \
        if isinstance(voiced, Path) else voiced
    return coded_tweets(coded, drawn, table)


def _design_coded_tweets(coded: pd.DataFrame, design: ValidationDesign) -> CodedTweets:
    """:class:`CodedTweets` from a label × answered design record alone (its census)."""
    census = design.extra["population_by_stratum"]
    cells = np.array([[int(census[stratum_name(label, status)]) for status in ANSWERED]
                      for label in VOICES], dtype=np.int64)
    sample = design.sample.astype(str)
    lookup = sample.set_index("tweet_key")
    if "tweet_id" in sample:
        lookup = pd.concat([lookup, sample.set_index("tweet_id")])
        lookup = lookup[~lookup.index.duplicated()]
    ids = coded["tweet_id"].astype(str)
    if not ids.isin(lookup.index).all():
        raise ValueError(f"{int((~ids.isin(lookup.index)).sum())} coded tweet(s) are not in "
                         "the sample")
    rows = lookup.loc[ids.to_numpy()]
    tweets = pd.DataFrame({"predicted": rows["predicted"].to_numpy(),
                           "answered": _as_bool(rows["answered"]).to_numpy(),
                           "voice": coded["voice"].astype(str).to_numpy(),
                           "stratum": rows["stratum"].to_numpy()})
    return CodedTweets(tweets, pd.Series(census, dtype="int64"), cells)
