"""The human-labelled tweet sets the voice head is trained and validated on.

Each reader returns a frame with ``text``, ``voice`` (one of :data:`~complaintpanel.label.base.
VOICES`) and ``set``. Sentiment labels map to voices as negative → complaint, positive →
compliment, neutral → neutral. The files are read in place from the shared data folder (never
copied into the repository); provenance and licences are in :data:`LABELLED_SETS`, taken from
``../shared/data/labelled/README.md`` and ``../shared/data/real/airline-sentiment-2015/
PROVENANCE.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "IRONY_SET",
    "LABELLED_SETS",
    "read_airline",
    "read_irony",
    "read_labelled_sets",
    "read_sanders",
    "read_tweeteval",
]

_SENTIMENT = {"negative": "complaint", "positive": "compliment", "neutral": "neutral"}
_TWEETEVAL = {"0": "complaint", "1": "neutral", "2": "compliment"}

LABELLED_SETS: dict[str, dict[str, Any]] = {
    "airline": {
        "path": "airline-sentiment-2015/Tweets.csv",
        "source": ("Twitter US Airline Sentiment (CrowdFlower / Kaggle), via github.com/eidehua/"
                   "Real-Time-SciVi @ 715234a; 14,640 tweets, duplicated tweet ids dropped"),
        "licence": "CC BY-NC-SA 4.0",
        "labels": "airline_sentiment: negative/neutral/positive (crowd workers)",
    },
    "tweeteval": {
        "path": "tweeteval/sentiment",
        "source": ("TweetEval sentiment (SemEval-2017 Task 4A), github.com/cardiffnlp/tweeteval @ "
                   "4fbd22c, val 2,000 + test 12,284 (no train split available)"),
        "licence": ("released without any restrictions; restrictions of the source task and "
                    "Twitter's terms apply"),
        "labels": "0 negative, 1 neutral, 2 positive",
    },
    "sanders": {
        "path": "sanders-twitter-2011/full-corpus.csv",
        "source": ("Sanders Analytics corpus, github.com/zfz/twitter_corpus @ 09afbfb; 5,113 "
                   "tweets on apple/google/microsoft/twitter, 'irrelevant' dropped"),
        "licence": "none stated in the source repository",
        "labels": "Sentiment: positive/negative/neutral",
    },
}

IRONY_SET: dict[str, str] = {
    "path": "tweeteval/irony",
    "source": "TweetEval irony (SemEval-2018 Task 3), github.com/cardiffnlp/tweeteval @ 4fbd22c",
    "licence": LABELLED_SETS["tweeteval"]["licence"],
    "labels": "0 non_irony, 1 irony",
}


def read_airline(real: Path) -> pd.DataFrame:
    """Read the airline tweets (``REAL/airline-sentiment-2015``), one row per tweet id."""
    raw = pd.read_csv(real / LABELLED_SETS["airline"]["path"],
                      usecols=["tweet_id", "text", "airline_sentiment"])
    raw = raw.drop_duplicates("tweet_id")
    return pd.DataFrame({"text": raw["text"].fillna("").astype(str).to_numpy(),
                         "voice": raw["airline_sentiment"].map(_SENTIMENT).to_numpy(),
                         "set": "airline"})


def read_tweeteval(labelled: Path) -> pd.DataFrame:
    """Read TweetEval sentiment, validation and test splits (``LABELLED/tweeteval/sentiment``)."""
    folder = labelled / LABELLED_SETS["tweeteval"]["path"]
    parts = []
    for split in ("val", "test"):
        texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()
        if len(texts) != len(labels):
            raise ValueError(f"tweeteval {split}: {len(texts)} texts but {len(labels)} labels")
        parts.append(pd.DataFrame({"text": texts, "voice": [_TWEETEVAL[v] for v in labels]}))
    return pd.concat(parts, ignore_index=True).assign(set="tweeteval")


def read_sanders(labelled: Path) -> pd.DataFrame:
    """Read the Sanders corpus without the tweets labelled ``irrelevant``."""
    raw = pd.read_csv(labelled / LABELLED_SETS["sanders"]["path"])
    raw = raw[raw["Sentiment"] != "irrelevant"]
    return pd.DataFrame({"text": raw["TweetText"].fillna("").astype(str).to_numpy(),
                         "voice": raw["Sentiment"].map(_SENTIMENT).to_numpy(),
                         "set": "sanders"})


def read_irony(labelled: Path) -> pd.DataFrame:
    """Read TweetEval irony (train, val and test): ``text``, ``ironic`` (bool), ``split``."""
    folder = labelled / IRONY_SET["path"]
    parts = []
    for split in ("train", "val", "test"):
        texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()
        parts.append(pd.DataFrame({"text": texts, "ironic": [v == "1" for v in labels],
                                   "split": split}))
    return pd.concat(parts, ignore_index=True)


def read_labelled_sets(labelled: Path, real: Path) -> pd.DataFrame:
    """All three voice-labelled sets pooled (``text``, ``voice``, ``set``).

    Parameters
    ----------
    labelled : Path
        The shared folder of labelled sets (``../shared/data/labelled``).
    real : Path
        The shared folder of real data holding the airline tweets (``../shared/data/real``).
    """
    pooled = pd.concat([read_airline(real), read_tweeteval(labelled), read_sanders(labelled)],
                       ignore_index=True)
    if pooled["voice"].isna().any():
        raise ValueError("a labelled set has labels outside negative/neutral/positive")
    return pooled
