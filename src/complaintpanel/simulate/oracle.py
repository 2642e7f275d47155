"""Oracle views of a simulated world, for estimator studies.

:func:`voiced_from_truth` gives the labelled exchanges (``voiced.parquet`` columns) of a
simulated world straight from its truth: the brand of each tweet and whether and when a brand
answered it are read from the simulator's own thread links, and the voice is the true voice.
It bypasses ingest, threading and labelling, so that studies over hundreds of worlds measure
the estimators alone; the pipeline itself is tested against the same truth elsewhere.
"""

from __future__ import annotations

import pandas as pd

from complaintpanel.simulate.world import World

__all__ = ["TRUE_SENTIMENT", "voiced_from_truth"]

# Sentiment given the true voice. The simulator draws no sentiment, so the oracle uses fixed
# values per voice: enough to exercise the sentiment models, not a claim about real text.
TRUE_SENTIMENT: dict[str, float] = {"complaint": -0.5, "compliment": 0.6, "neutral": 0.0}


def voiced_from_truth(world: World, voice: pd.Series | None = None) -> pd.DataFrame:
    """One row per customer tweet with its brand, reply flag, latency and true voice.

    Parameters
    ----------
    world : World
        A simulated world.
    voice : Series, optional
        Voice per ``tweet_id`` to use instead of the truth (e.g. a classifier's labels), so
        studies can measure what measurement error costs.

    Returns
    -------
    DataFrame
        Columns of ``voiced.parquet``: ``tweet_id``, ``customer_id`` (the raw simulated id),
        ``brand``, ``created_at``, ``voice``, ``sentiment``, ``brand_replied``,
        ``reply_latency_h``, ``classifier``, ``classifier_version``.
    """
    tweets = world.tweets
    customer = tweets[tweets["inbound"]].set_index("tweet_id")
    brand_tweets = tweets[~tweets["inbound"] & tweets["in_response_to_tweet_id"].notna()]
    first_reply = (brand_tweets.assign(parent=brand_tweets["in_response_to_tweet_id"]
                                       .astype("int64"))
                   .groupby("parent")["created_at"].min())
    truth = world.voice.set_index("tweet_id")
    labels = truth["voice"] if voice is None else voice
    out = pd.DataFrame({
        "tweet_id": customer.index.to_numpy(),
        "customer_id": customer["author_id"].to_numpy(),
        "brand": truth.loc[customer.index, "brand"].to_numpy(),
        "created_at": customer["created_at"].to_numpy(),
        "voice": labels.loc[customer.index].to_numpy(),
    })
    reply_at = out["tweet_id"].map(first_reply)
    out["brand_replied"] = reply_at.notna()
    out["reply_latency_h"] = (reply_at - out["created_at"]).dt.total_seconds() / 3600
    out["sentiment"] = out["voice"].map(TRUE_SENTIMENT).astype(float)
    out["classifier"] = "truth" if voice is None else "supplied"
    out["classifier_version"] = "simulator"
    return out
