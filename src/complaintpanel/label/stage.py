"""The ``label`` stage (DESIGN.md §2.2): exchanges → voiced.

Pure functions: they take the exchanges table and a classifier (or the simulator's truth) and
return the voiced table — the exchanges without ``text``, plus ``voice``, ``sentiment``, the
voice probabilities ``p_complaint``, ``p_compliment``, ``p_neutral`` (NaN for classifiers that
give none), ``classifier`` and ``classifier_version`` (docs/CONTRACTS.md). Reading and writing
files is the command layer's job (:mod:`complaintpanel.commands.label`).

**No tweet id leaves the interim folder.** A real tweet id (or a conversation id, or a reply
link, which are tweet ids too) is public: one join with the raw file gives back the customer's
screen name. Before ``voiced.parquet`` is written, :func:`pseudonymise_tweet_ids` replaces them
by keyed pseudonyms, :func:`tweet_pseudonym` (``"t"`` + 16 hex digits of HMAC-SHA256 under the
customers' key of :mod:`complaintpanel.ingest.pseudonymise`, of ``"tweet:<id>"`` so that a tweet
and a customer whose handle is the same digits get unrelated pseudonyms). They stay consistent
across tables (a conversation id equals the tweet id of its root), and whoever holds the key and
the interim folder can join back: ``label-validity`` hashes the simulator's true labels, a
coding sheet of sampled tweets kept in the interim folder joins the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from complaintpanel.config import LabelConfig
from complaintpanel.errors import PipelineError
from complaintpanel.ingest.pseudonymise import (
    key_file_for,
    pseudonym,
    pseudonym_sql,
    resolve_key,
)
from complaintpanel.label.base import VOICES, VoiceClassifier, check_prediction, get_classifier
from complaintpanel.label.truth import truth_labels

__all__ = [
    "PROBABILITY_COLUMNS",
    "PUBLISHED_EXCHANGE_COLUMNS",
    "TWEET_ID_COLUMNS",
    "VOICED_COLUMNS",
    "classifier_for",
    "interim_key",
    "label_exchanges",
    "label_exchanges_with_truth",
    "label_summary",
    "pseudonymise_tweet_ids",
    "publishable_voiced",
    "read_exchanges",
    "tweet_pseudonym",
    "tweet_pseudonyms",
]

# Columns of the exchanges that hold tweet ids (the tweet, its conversation's root, its parent).
TWEET_ID_COLUMNS: tuple[str, ...] = ("tweet_id", "conversation_id", "in_reply_to")

# Columns the stage adds to the exchanges (after removing ``text``).
VOICED_COLUMNS: tuple[str, ...] = ("voice", "sentiment", "p_complaint", "p_compliment",
                                   "p_neutral", "classifier", "classifier_version")

# Per-tweet probability of each voice, in VOICES order. The head classifier ("head") writes its
# calibrated probabilities; the simulator's truth writes 1 for the true voice and 0 otherwise;
# classifiers without probabilities (the rules, whose score is a lexicon sum and not a
# probability, and "trained", an uncalibrated SVM) write NaN.
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"p_{voice}" for voice in VOICES)

# The exchanges' columns that voiced.parquet publishes (beside VOICED_COLUMNS). Anything else a
# mapping carried through from the raw file (e.g. the airline data's human labels with their
# confidences) stays in the interim folder: such columns, like exact timestamps, single out
# tweets and so re-identify customers through a join with the public raw file.
PUBLISHED_EXCHANGE_COLUMNS: tuple[str, ...] = (
    "tweet_id", "customer_id", "brand", "brand_source", "created_at", "conversation_id",
    "in_reply_to", "brand_replied", "reply_latency_h", "replies")


def classifier_for(config: LabelConfig, **overrides: Any) -> VoiceClassifier:
    """Build the classifier a ``[label]`` config section names.

    Parameters
    ----------
    config : LabelConfig
    **overrides
        Replace ``classifier``, ``model_path`` or ``threshold`` (e.g. from the command line);
        ``None`` values are ignored.

    Returns
    -------
    VoiceClassifier
    """
    settings = {"classifier": config.classifier, "model_path": config.model_path,
                "threshold": config.threshold}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(settings) - {"classifier", "model_path", "threshold"})
    if unknown:
        raise TypeError(f"unknown label setting(s) {unknown}")
    name = str(settings["classifier"])
    # Each classifier gets only the settings that apply to it, so the config can hold a
    # threshold and a model path at once.
    if name == "rules":
        return get_classifier(name, threshold=settings["threshold"])
    if name in ("trained", "head"):
        return get_classifier(name, model_path=settings["model_path"])
    return get_classifier(name)


def _voiced(exchanges: pd.DataFrame, voice: np.ndarray, sentiment: np.ndarray, name: str,
            version: str, proba: np.ndarray | None = None) -> pd.DataFrame:
    check_prediction(voice, sentiment, len(exchanges))
    if proba is None:
        proba = np.full((len(exchanges), len(VOICES)), np.nan)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != (len(exchanges), len(VOICES)):
        raise ValueError(f"classifier returned probabilities of shape {proba.shape}; want "
                         f"({len(exchanges)}, {len(VOICES)})")
    voiced = exchanges.drop(columns=["text"], errors="ignore").reset_index(drop=True)
    voiced["voice"] = pd.array(np.asarray(voice, dtype=object), dtype="str")
    voiced["sentiment"] = np.asarray(sentiment, dtype=np.float64)
    for k, column in enumerate(PROBABILITY_COLUMNS):
        voiced[column] = proba[:, k]
    voiced["classifier"] = pd.array([name] * len(voiced), dtype="str")
    voiced["classifier_version"] = pd.array([version] * len(voiced), dtype="str")
    return voiced


def label_exchanges(exchanges: pd.DataFrame, classifier: VoiceClassifier) -> pd.DataFrame:
    """Label every customer tweet with a classifier.

    Parameters
    ----------
    exchanges : DataFrame
        One row per customer tweet, with at least ``tweet_id`` and ``text``.
    classifier : VoiceClassifier

    Returns
    -------
    DataFrame
        ``exchanges`` in the same row order without ``text``, plus :data:`VOICED_COLUMNS`.
    """
    if "text" not in exchanges.columns:
        raise ValueError("exchanges have no 'text' column (labelling needs the interim table)")
    texts = exchanges["text"].to_numpy(dtype=object)
    with_proba = getattr(classifier, "predict_with_proba", None)
    if with_proba is not None:
        voice, sentiment, proba = with_proba(texts)
    else:
        voice, sentiment = classifier.predict(texts)
        proba = None
    return _voiced(exchanges, voice, sentiment, classifier.name, classifier.version, proba)


def label_exchanges_with_truth(exchanges: pd.DataFrame, truth: pd.DataFrame,
                               version: str = "truth") -> pd.DataFrame:
    """Label every customer tweet with the simulator's true voice (classifier ``"truth"``).

    Parameters
    ----------
    exchanges : DataFrame
        One row per customer tweet, with at least ``tweet_id``.
    truth : DataFrame
        ``tweet_id``, ``voice`` (the simulator's ``truth/voice.parquet``).
    version : str
        Recorded as ``classifier_version`` (the command uses a hash of the truth file).

    Returns
    -------
    DataFrame
        As :func:`label_exchanges`. A tweet without truth is an error, never dropped.
    """
    voice, sentiment = truth_labels(exchanges["tweet_id"], truth)
    one_hot = (np.asarray(voice, dtype=object)[:, None]
               == np.asarray(VOICES, dtype=object)[None, :]).astype(np.float64)
    return _voiced(exchanges, voice, sentiment, "truth", version, one_hot)


def label_summary(voiced: pd.DataFrame) -> dict[str, Any]:
    """Summarise counts and shares of each voice, mean sentiment and the classifier (JSON)."""
    n = len(voiced)
    counts = voiced["voice"].value_counts().reindex(list(VOICES), fill_value=0)
    return {
        "tweets": n,
        "voice_counts": {v: int(counts[v]) for v in VOICES},
        "voice_shares": {v: (float(counts[v]) / n if n else 0.0) for v in VOICES},
        "sentiment_mean": float(voiced["sentiment"].mean()) if n else None,
        "classifier": str(voiced["classifier"].iloc[0]) if n else None,
        "classifier_version": str(voiced["classifier_version"].iloc[0]) if n else None,
    }


def read_exchanges(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``exchanges.parquet`` with its tweet-id columns exact.

    pandas turns an integer column with missing values (``in_reply_to``) into float64, which
    cannot hold an 18-digit tweet id; the id columns are read as nullable ``Int64`` instead.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    DataFrame
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    frame = table.to_pandas()
    exact = {pa.int64(): pd.Int64Dtype()}.get
    for column in TWEET_ID_COLUMNS:
        if column in frame.columns and pa.types.is_integer(table.schema.field(column).type):
            frame[column] = table.select([column]).to_pandas(types_mapper=exact)[column]
    return frame


def tweet_pseudonym(tweet_id: int, key: bytes) -> str:
    """Keyed pseudonym of one tweet id (``"t"`` + 16 hex digits).

    Parameters
    ----------
    tweet_id : int
    key : bytes
        The pseudonymisation key of the customers (:func:`interim_key`).

    Returns
    -------
    str
    """
    return "t" + pseudonym(f"tweet:{int(tweet_id)}", key)[1:]


def _hash_sorted(unique: np.ndarray, key: bytes) -> np.ndarray:
    """Pseudonyms of sorted distinct ids, hashed in DuckDB (the SQL of the customer keys)."""
    import duckdb
    import pyarrow as pa

    if len(unique) == 0:
        return np.array([], dtype=object)
    # tweet_pseudonym in SQL: the customers' HMAC (pseudonym_sql, what ingest hashes with) of
    # "tweet:<id>", with "t" in place of the customers' "c".
    digest = pseudonym_sql("'tweet:' || CAST(id AS VARCHAR)", key)
    with duckdb.connect() as con:
        con.register("ids", pa.table({"id": pa.array(unique, pa.int64())}))
        rows = con.execute(f"SELECT 't' || substr({digest}, 2) FROM ids ORDER BY id").fetchnumpy()
    return np.asarray(next(iter(rows.values())), dtype=object)


def _exact_ids(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return the missing mask and the int64 values of the present ids of ``series``."""
    missing = series.isna().to_numpy()
    present = series[~missing]
    if pd.api.types.is_float_dtype(present.dtype):
        values = present.to_numpy(dtype=np.float64)
        if not (np.all(values == np.round(values)) and np.all(np.abs(values) < 2.0**53)):
            raise ValueError("tweet ids stored as floating point have lost digits; read them "
                             "as integers (complaintpanel.label.stage.read_exchanges)")
    return missing, present.to_numpy(dtype=np.int64)


def _pseudonymised(columns: list[pd.Series], key: bytes) -> list[pd.Series]:
    """Pseudonymise several id columns, hashing each distinct id once."""
    parts = [_exact_ids(series.reset_index(drop=True)) for series in columns]
    unique = np.unique(np.concatenate([values for _, values in parts]) if parts
                       else np.array([], dtype=np.int64))
    hashed = _hash_sorted(unique, key)
    out = []
    for series, (missing, values) in zip(columns, parts, strict=True):
        names = np.full(len(series), None, dtype=object)
        names[~missing] = hashed[np.searchsorted(unique, values)] if len(values) else []
        out.append(pd.Series(pd.array(names, dtype="str"), index=series.index,
                             name=series.name))
    return out


def tweet_pseudonyms(ids: pd.Series | np.ndarray | list[Any], key: bytes) -> pd.Series:
    """Keyed pseudonyms of many tweet ids (:func:`tweet_pseudonym`); missing ids stay missing.

    Parameters
    ----------
    ids : array-like of int
        Integer or nullable-integer ids. Floating-point ids are refused unless every one is a
        whole number below 2**53 (beyond that a float has already lost digits).
    key : bytes

    Returns
    -------
    Series
        Strings (pandas ``str`` dtype), in the order of ``ids``.
    """
    return _pseudonymised([pd.Series(ids)], key)[0]


def pseudonymise_tweet_ids(voiced: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Replace the tweet-id columns by their keyed pseudonyms (what ``voiced.parquet`` holds).

    Parameters
    ----------
    voiced : DataFrame
        Output of :func:`label_exchanges` (or any table with :data:`TWEET_ID_COLUMNS`), its ids
        read exactly (:func:`read_exchanges`).
    key : bytes

    Returns
    -------
    DataFrame
        A copy; every column of :data:`TWEET_ID_COLUMNS` it has is pseudonymised, in place.
    """
    published = voiced.copy()
    columns = [c for c in TWEET_ID_COLUMNS if c in published.columns]
    for column, hashed in zip(columns, _pseudonymised([published[c] for c in columns], key),
                              strict=True):
        published[column] = hashed
    return published


def interim_key(interim: str | os.PathLike[str], key_env: str = "COMPLAINTPANEL_KEY") -> bytes:
    """Return the pseudonymisation key that ingest used for the interim folder ``interim``.

    The key comes from ``$key_env`` or from the key file beside the folder, as for ingest
    (:func:`complaintpanel.ingest.pseudonymise.resolve_key`). When the folder's
    ``ingest_report.json`` says where ingest's key came from and that source is missing now,
    this is an error rather than a new key: pseudonyms under another key would no longer join.

    Parameters
    ----------
    interim : path-like
        The interim folder (``data/interim/NAME``).
    key_env : str
        Environment variable that may hold the key.

    Returns
    -------
    bytes

    Raises
    ------
    PipelineError
        When ingest's key cannot be found.
    """
    folder = Path(interim)
    report = folder / "ingest_report.json"
    source = None
    if report.exists():
        import json

        try:
            source = (json.loads(report.read_text()).get("pseudonymisation") or {}).get(
                "key_source")
        except (OSError, ValueError):
            source = None
    if os.environ.get(key_env) is None:
        if source in ("env", "argument"):
            where = f"${key_env}" if source == "env" else "an explicit key"
            raise PipelineError(f"ingest pseudonymised these data with {where}; set ${key_env} "
                                "to that key (another key would give pseudonyms that do not "
                                "join)", file=folder)
        if source == "file" and not key_file_for(folder).exists():
            raise PipelineError(f"the key file that ingest used ({key_file_for(folder)}) is "
                                "gone; restore it or set $" + key_env, file=folder)
    return resolve_key(folder, key_env)[0]


def publishable_voiced(voiced: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Return the labelled exchanges as ``voiced.parquet`` publishes them outside interim.

    Three steps, each closing a join back to the public raw file: tweet ids, conversation ids
    and reply links become keyed pseudonyms (:func:`pseudonymise_tweet_ids`); ``created_at``
    keeps the UTC day only (the time of day together with the brand singles out almost every
    tweet of a public file; the panel's days, weeks and months and the reply latencies, which
    the thread stage measured to the second, need no more); and only
    :data:`PUBLISHED_EXCHANGE_COLUMNS` and :data:`VOICED_COLUMNS` are kept.

    Parameters
    ----------
    voiced : DataFrame
        Output of :func:`label_exchanges` (ids read exactly, :func:`read_exchanges`).
    key : bytes
        The customers' pseudonymisation key (:func:`interim_key`).

    Returns
    -------
    DataFrame
    """
    keep = [c for c in (*PUBLISHED_EXCHANGE_COLUMNS, *VOICED_COLUMNS) if c in voiced.columns]
    published = pseudonymise_tweet_ids(voiced.loc[:, keep], key)
    if "created_at" in published.columns:
        published["created_at"] = published["created_at"].dt.floor("D")
    return published
