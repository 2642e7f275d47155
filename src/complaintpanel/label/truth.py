"""The simulator's true voice in place of a classifier (classifier name ``"truth"``).

On a simulated world, ``complaintpanel label DIR --truth WORLD/truth/voice.parquet`` labels
every customer tweet with the voice the simulator drew, so that estimators can be tested apart
from measurement error; comparing with a run that uses a classifier shows what the measurement
error costs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["TRUTH_SENTIMENT", "truth_labels"]

# The simulator draws voices, not sentiment scores: a complaint is the most negative voice and a
# compliment the most positive. Used only when the truth file has no ``sentiment`` column.
TRUTH_SENTIMENT: dict[str, float] = {"complaint": -1.0, "compliment": 1.0, "neutral": 0.0}


def truth_labels(tweet_ids: pd.Series | np.ndarray,
                 truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Look up the true voice (and sentiment) of each tweet.

    Parameters
    ----------
    tweet_ids : array-like of int
        Customer tweets to label.
    truth : DataFrame
        ``tweet_id``, ``voice`` and optionally ``sentiment`` (the simulator's
        ``truth/voice.parquet``).

    Returns
    -------
    voice : ndarray of str
    sentiment : ndarray of float64
        From ``truth["sentiment"]`` when present, else :data:`TRUTH_SENTIMENT`.

    Raises
    ------
    ValueError
        If any tweet has no truth (naming how many), or the truth repeats a tweet id.
    """
    missing_cols = {"tweet_id", "voice"} - set(truth.columns)
    if missing_cols:
        raise ValueError(f"truth has no column(s) {sorted(missing_cols)}")
    if truth["tweet_id"].duplicated().any():
        raise ValueError(f"truth repeats {int(truth['tweet_id'].duplicated().sum())} tweet id(s)")
    indexed = truth.set_index("tweet_id")
    ids = pd.Index(np.asarray(tweet_ids).astype(np.int64))
    position = indexed.index.get_indexer(ids)
    n_missing = int((position < 0).sum())
    if n_missing:
        example = ids[position < 0][:3].tolist()
        raise ValueError(f"{n_missing:,} of {len(ids):,} customer tweets have no true voice "
                         f"(e.g. tweet_id {example}); is this the right world?")
    voice = indexed["voice"].to_numpy(dtype=object)[position]
    if "sentiment" in indexed.columns:
        sentiment = indexed["sentiment"].to_numpy(dtype=np.float64)[position]
    else:
        sentiment = np.array([TRUTH_SENTIMENT[v] for v in voice], dtype=np.float64)
    return voice, sentiment
