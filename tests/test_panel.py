"""The customer × brand × period panel: known answers, truth from the simulator, accounting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pytest

from complaintpanel.config import SimulateConfig
from complaintpanel.model import add_hmm_covariates
from complaintpanel.panel import (
    PANEL_COLUMNS,
    build_panel,
    codebook_markdown,
    panel_report,
    panel_schema,
)
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth

REPO = Path(__file__).resolve().parents[1]


def _tweet(customer: str, brand: str, when: str, voice: str, sentiment: float,
           replied: bool = False, latency: float | None = None) -> dict[str, object]:
    return {"customer_id": customer, "brand": brand, "created_at": pd.Timestamp(when, tz="UTC"),
            "voice": voice, "sentiment": sentiment, "brand_replied": replied,
            "reply_latency_h": latency}


@pytest.fixture
def hand_voiced() -> pd.DataFrame:
    """Three weeks (Mon 2017-10-02 …), two brands; every number below is worked by hand."""
    rows = [
        _tweet("c1", "BrandA", "2017-10-02 09:00", "complaint", -0.8, True, 2.0),
        _tweet("c1", "BrandA", "2017-10-04 10:00", "complaint", -0.4, False),
        _tweet("c1", "BrandA", "2017-10-18 10:00", "compliment", 0.9, True, 1.0),
        _tweet("c2", "BrandA", "2017-10-10 08:00", "complaint", -0.6, True, 4.0),
        _tweet("c2", "BrandA", "2017-10-11 08:00", "neutral", 0.0, True, 6.0),
        _tweet("c2", "BrandB", "2017-10-03 12:00", "compliment", 0.5, False),
        _tweet("c3", "unknown", "2017-10-03 12:00", "complaint", -0.5, False),
    ]
    return pd.DataFrame(rows)


def test_hand_computed_panel(hand_voiced: pd.DataFrame) -> None:
    panel = build_panel(hand_voiced, period="week")
    assert panel[["customer_id", "brand", "period"]].values.tolist() == [
        ["c1", "BrandA", 0], ["c1", "BrandA", 1], ["c1", "BrandA", 2],
        ["c2", "BrandA", 1], ["c2", "BrandA", 2],
        ["c2", "BrandB", 0], ["c2", "BrandB", 1], ["c2", "BrandB", 2],
    ]
    c1 = panel[panel["customer_id"] == "c1"].set_index("period")
    assert c1["complaints"].tolist() == [2, 0, 0]
    assert c1["compliments"].tolist() == [0, 0, 1]
    assert c1.loc[0, "sentiment_mean"] == pytest.approx(-0.6)
    assert np.isnan(c1.loc[1, "sentiment_mean"])  # silent week: missing, not zero
    assert c1["replied"].tolist() == [1, 0, 1]
    assert c1["answered_complaints"].tolist() == [1, 0, 0]
    assert c1["unanswered_complaints"].tolist() == [1, 0, 0]
    assert c1["replies_before"].tolist() == [0, 1, 1]
    assert c1["first_reply_period"].tolist() == [0, 0, 0]
    assert c1["event_time"].tolist() == [0, 1, 2]
    # Peers: BrandA's other customers in the same week.
    assert c1["peer_complaints"].tolist() == [0, 1, 0]
    c2a = panel[(panel["customer_id"] == "c2") & (panel["brand"] == "BrandA")].set_index("period")
    assert c2a.loc[1, "reply_latency_h"] == pytest.approx(5.0)  # median of 4 h and 6 h
    # Answered tweets by label: c2's answered neutral, c1's answered compliment in week 2.
    assert c2a["answered_neutral"].tolist() == [1, 0]
    assert c1["answered_compliments"].tolist() == [0, 0, 1]
    assert c1["answered_neutral"].tolist() == [0, 0, 0]
    assert c2a.loc[1, "fastest_reply_h"] == pytest.approx(4.0)
    assert c2a.loc[1, "replies"] == 2
    assert c2a.loc[2, "peer_compliments"] == 1
    c2b = panel[panel["brand"] == "BrandB"]
    assert c2b["first_reply_period"].isna().all() and c2b["event_time"].isna().all()
    report = panel_report(hand_voiced, panel)
    assert report["tweets_unknown_brand"] == 1
    assert report["customer_tweets_in"] == (report["tweets_in_panel"]
                                            + report["tweets_unknown_brand"]
                                            + report["tweets_outside_window"]
                                            + report["tweets_dropped_by_activity_filter"])


def test_day_and_month_periods(hand_voiced: pd.DataFrame) -> None:
    daily = build_panel(hand_voiced, period="day")
    monthly = build_panel(hand_voiced, period="month")
    assert daily["tweets"].sum() == monthly["tweets"].sum() == 6
    assert monthly["period"].max() == 0  # all in October 2017
    assert daily["period"].max() == (pd.Timestamp("2017-10-18") - pd.Timestamp("2017-10-02")).days
    first = daily[daily["customer_id"] == "c1"]
    assert first["period"].min() == 0 and len(first) == daily["period"].max() + 1


def test_activity_filter_and_window(hand_voiced: pd.DataFrame) -> None:
    panel = build_panel(hand_voiced, min_tweets=3)
    assert set(panel["customer_id"]) == {"c1"}
    assert panel["peer_complaints"].tolist() == [0, 1, 0]  # peers counted before the filter
    windowed = build_panel(hand_voiced, window_start="2017-10-09")
    assert windowed["period_start"].min() == pd.Timestamp("2017-10-09", tz="UTC")
    report = panel_report(hand_voiced, windowed, window_start="2017-10-09")
    assert report["tweets_outside_window"] == 3
    assert report["customer_tweets_in"] == 7 == (
        report["tweets_in_panel"] + report["tweets_unknown_brand"]
        + report["tweets_outside_window"] + report["tweets_dropped_by_activity_filter"])


def test_panel_reproduces_the_simulated_truth() -> None:
    world = simulate_world(SimulateConfig(customers=600, weeks=12, seed=4))
    panel = build_panel(voiced_from_truth(world))
    truth = world.states.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)
    assert len(panel) == len(truth)
    for column in ("customer_id", "brand", "period", "tweets", "complaints", "compliments",
                   "neutral", "answered_complaints", "peer_complaints", "peer_compliments"):
        np.testing.assert_array_equal(panel[column].to_numpy(), truth[column].to_numpy(),
                                      err_msg=column)
    covariates = add_hmm_covariates(panel)
    for column in ("intervened", "redress"):
        np.testing.assert_array_equal(covariates[column], truth[column], err_msg=column)
    np.testing.assert_allclose(covariates["peer_voice"], truth["peer_voice"], atol=1e-12)


def test_schema_rejects_impossible_rows(hand_voiced: pd.DataFrame) -> None:
    panel = build_panel(hand_voiced)
    broken = panel.copy()
    broken.loc[0, "sentiment_mean"] = 1.5
    with pytest.raises(pandera.errors.SchemaError):
        panel_schema().validate(broken)
    broken = panel.copy()
    broken.loc[0, "complaints"] += 1  # voices no longer add up to tweets
    with pytest.raises(pandera.errors.SchemaError):
        panel_schema().validate(broken)


def test_codebook_is_generated_from_the_code() -> None:
    committed = (REPO / "data" / "CODEBOOK.md").read_text()
    assert committed == codebook_markdown(), "run `complaintpanel codebook` to regenerate"
    assert [c.name for c in PANEL_COLUMNS] == list(panel_schema().columns)
