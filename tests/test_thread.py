"""Threading on hand-built tweet tables: roots of long chains, cycles, brands, replies, latency."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from complaintpanel.errors import PipelineError
from complaintpanel.thread import thread

T0 = pd.Timestamp("2017-10-31 12:00", tz="UTC")


def write_tweets(folder: Path, rows: list[tuple]) -> Path:
    """Rows: (tweet_id, author, is_customer, minutes after T0, in_reply_to, text[, declared])."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({
        "tweet_id": pd.array([r[0] for r in rows], dtype="int64"),
        "author_key": [r[1] for r in rows],
        "is_customer": [r[2] for r in rows],
        "created_at": [T0 + pd.Timedelta(minutes=r[3]) for r in rows],
        "text": [r[5] for r in rows],
        "in_reply_to": pd.array([r[4] for r in rows], dtype="Int64"),
        "source_row": pd.array(range(1, len(rows) + 1), dtype="int64"),
        "brand_declared": [r[6] if len(r) > 6 else None for r in rows],
        "brand_mentioned": [r[7] if len(r) > 7 else None for r in rows],
    })
    frame.to_parquet(folder / "tweets.parquet", index=False)
    return folder


def test_long_chain_has_one_root_in_log_rounds(tmp_path: Path) -> None:
    n = 5000  # alternating customer / brand, each answering the previous tweet
    rows = [(i, "c1" if i % 2 else "Acme", bool(i % 2), i, i - 1 if i > 1 else None, "t")
            for i in range(1, n + 1)]
    report = thread(write_tweets(tmp_path, rows))
    exchanges = pd.read_parquet(tmp_path / "exchanges.parquet")
    assert (exchanges["conversation_id"] == 1).all()
    assert report["conversations"] == 1 and report["cyclic_tweets"] == 0
    assert report["pointer_jumping_rounds"] <= 14  # ⌈log2 5000⌉ + 1
    assert exchanges["brand_replied"].sum() == n // 2
    assert exchanges["reply_latency_h"].dropna().eq(1 / 60).all()
    replies = pd.read_parquet(tmp_path / "brand_replies.parquet")
    assert (replies["answers_tweet_id"] == replies["tweet_id"] - 1).all()


def test_cycles_are_broken_at_the_smallest_id(tmp_path: Path) -> None:
    rows = [(10, "c1", True, 0, 12, "a"), (11, "c1", True, 1, 10, "b"),
            (12, "c1", True, 2, 11, "c"), (13, "c1", True, 3, 12, "tail"),
            (20, "c2", True, 0, 21, "x"), (21, "c2", True, 1, 20, "y"),
            (30, "c3", True, 0, None, "root")]
    report = thread(write_tweets(tmp_path, rows))
    roots = pd.read_parquet(tmp_path / "exchanges.parquet").set_index("tweet_id")
    assert roots["conversation_id"].to_dict() == {10: 10, 11: 10, 12: 10, 13: 10, 20: 20, 21: 20,
                                                  30: 30}
    assert report["cyclic_tweets"] == 6


def test_brand_priorities_and_replies(tmp_path: Path) -> None:
    rows = [
        # conversation 1: customer 1 → Acme replies twice (first after 30 min), Other once later
        (1, "c1", True, 0, None, "@Acme help"),
        (2, "Acme", False, 30, 1, "@c1 sorry"),
        (3, "Acme", False, 45, 1, "@c1 DM us"),
        (4, "c1", True, 50, 2, "thanks"),  # answers a brand tweet → brand from parent
        (5, "Other", False, 600, 1, "@c1 we can help too"),
        (6, "c1", True, 700, 4, "still broken"),  # no reply, parent customer → conversation
        # a lone customer tweet: declared brand, then mention, then unknown
        (7, "c2", True, 0, None, "@Zed hi", "Declared", "Zed"),
        (8, "c3", True, 0, None, "@Zed hi", None, "Zed"),
        (9, "c4", True, 0, 99, "nobody", None, None),  # parent not in file
    ]
    report = thread(write_tweets(tmp_path, rows))
    ex = pd.read_parquet(tmp_path / "exchanges.parquet").set_index("tweet_id")
    assert ex["brand"].to_dict() == {1: "Acme", 4: "Acme", 6: "Acme", 7: "Declared", 8: "Zed",
                                     9: "unknown"}
    assert ex["brand_source"].to_dict() == {1: "reply", 4: "parent", 6: "conversation",
                                            7: "declared", 8: "mention", 9: "unknown"}
    assert ex.loc[1, "replies"] == 3 and ex.loc[1, "reply_latency_h"] == pytest.approx(0.5)
    assert not ex.loc[4, "brand_replied"] and pd.isna(ex.loc[4, "reply_latency_h"])
    assert ex.loc[9, "conversation_id"] == 9
    replies = pd.read_parquet(tmp_path / "brand_replies.parquet").set_index("tweet_id")
    assert replies["answers_tweet_id"].to_dict() == {2: 1, 3: 1, 5: 1}
    assert replies.loc[5, "latency_h"] == pytest.approx(10.0)
    assert report["unknown_brand"] == 1 and report["replies_to_missing_parent"] == 1
    assert json.loads((tmp_path / "thread_report.json").read_text())["customer_tweets"] == 6


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"tweets\.parquet: not found; run `complaintpanel "
                                            r"ingest` first"):
        thread(tmp_path)
