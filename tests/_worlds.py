"""Test helpers: labelled exchanges straight from a simulated world's truth.

This is an independent, deliberately plain pandas threading of the simulator's TWCS output
(brand replies point at the customer tweet they answer), used to test the panel and the
estimators apart from the ingest/thread/label stages.
"""

from __future__ import annotations

import pandas as pd

from complaintpanel.simulate import World


def voiced_from_truth(world: World) -> pd.DataFrame:
    """One row per customer tweet with true voice, brand, reply flag and latency."""
    tweets = world.tweets
    customer = tweets[tweets["inbound"]].set_index("tweet_id")
    brand_tweets = tweets[~tweets["inbound"] & tweets["in_response_to_tweet_id"].notna()]
    first_reply = (brand_tweets.assign(parent=brand_tweets["in_response_to_tweet_id"]
                                       .astype("int64"))
                   .groupby("parent")["created_at"].min())
    voice = world.voice.set_index("tweet_id")
    out = pd.DataFrame({
        "tweet_id": customer.index.to_numpy(),
        "customer_id": customer["author_id"].to_numpy(),
        "brand": voice.loc[customer.index, "brand"].to_numpy(),
        "created_at": customer["created_at"].to_numpy(),
        "voice": voice.loc[customer.index, "voice"].to_numpy(),
    })
    reply_at = out["tweet_id"].map(first_reply)
    out["brand_replied"] = reply_at.notna()
    out["reply_latency_h"] = (reply_at - out["created_at"]).dt.total_seconds() / 3600
    sentiment = {"complaint": -0.5, "compliment": 0.6, "neutral": 0.0}
    out["sentiment"] = out["voice"].map(sentiment).astype(float)
    out["classifier"] = "truth"
    out["classifier_version"] = "simulator"
    return out
