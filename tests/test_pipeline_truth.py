"""The whole pipeline from raw text reproduces the simulated world's truth.

simulate → ingest → thread → label --truth → panel must give back, row for row, the
customer × week counts the simulator drew, under pseudonymised customer ids; label-validity
must find every tweet's true voice again through the pseudonymised tweet ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.ingest.pseudonymise import pseudonym, resolve_key
from complaintpanel.model import add_hmm_covariates


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    _run("simulate", "--out", root / "raw", "--customers", "500", "--weeks", "10", "--seed", "8")
    _run("ingest", root / "raw" / "twcs.csv", "--out", root / "interim")
    _run("thread", root / "interim")
    _run("label", root / "interim", "--out", root / "processed", "--truth",
         root / "raw" / "truth" / "voice.parquet")
    _run("panel", root / "processed")
    _run("label-validity", root / "processed" / "voiced.parquet",
         root / "raw" / "truth" / "voice.parquet", "--out", root / "results")
    return root


def test_panel_from_raw_text_equals_the_truth(pipeline: Path) -> None:
    key, _ = resolve_key(pipeline / "interim")
    truth = pd.read_parquet(pipeline / "raw" / "truth" / "states.parquet")
    truth["customer_id"] = [pseudonym(c, key) for c in truth["customer_id"]]
    truth = truth.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)
    panel = pd.read_parquet(pipeline / "processed" / "panel.parquet")
    assert len(panel) == len(truth)
    for column in ("customer_id", "brand", "period", "tweets", "complaints", "compliments",
                   "neutral", "answered_complaints", "peer_complaints", "peer_compliments"):
        np.testing.assert_array_equal(panel[column].to_numpy(), truth[column].to_numpy(),
                                      err_msg=column)
    covariates = add_hmm_covariates(panel)
    np.testing.assert_array_equal(covariates["intervened"], truth["intervened"])
    np.testing.assert_array_equal(covariates["redress"], truth["redress"])


def test_no_raw_customer_id_or_text_outside_interim(pipeline: Path) -> None:
    tweets = pd.read_csv(pipeline / "raw" / "twcs.csv", dtype={"author_id": str})
    customers = set(tweets.loc[tweets["inbound"], "author_id"])
    for path in (pipeline / "processed").rglob("*"):
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            assert "text" not in frame.columns, path
            values = set(frame.select_dtypes(exclude="number").astype(str).stack())
            assert not values & customers, path
        elif path.suffix == ".json":
            words = set(path.read_text().replace('"', " ").split())
            assert not words & customers, path


def test_label_validity_joins_the_truth_through_pseudonymised_tweet_ids(pipeline: Path) -> None:
    # The labels are the truth itself: the join must find every tweet and agree on every one.
    truth = pd.read_parquet(pipeline / "raw" / "truth" / "voice.parquet")
    voiced = pd.read_parquet(pipeline / "processed" / "voiced.parquet")
    report = json.loads((pipeline / "results" / "label_validity.json").read_text())
    assert report["n"] == len(voiced) == len(truth)
    assert report["accuracy"] == 1.0


def test_no_raw_tweet_id_outside_interim(pipeline: Path) -> None:
    raw = pd.read_csv(pipeline / "raw" / "twcs.csv", dtype=str)
    tweet_ids = set(raw["tweet_id"])
    voiced = pd.read_parquet(pipeline / "processed" / "voiced.parquet")
    for column in ("tweet_id", "conversation_id", "in_reply_to"):
        values = voiced[column].dropna()
        assert values.str.fullmatch(r"t[0-9a-f]{16}").all(), column
    # Pseudonyms stay consistent across columns: every conversation root that is a customer
    # tweet, and every customer parent, is a tweet of the table under the same pseudonym.
    exchanges = pd.read_parquet(pipeline / "interim" / "exchanges.parquet")
    own_root = (exchanges["conversation_id"] == exchanges["tweet_id"]).to_numpy()
    assert (voiced["conversation_id"] == voiced["tweet_id"]).to_numpy().tolist() == \
        own_root.tolist()
    customer_parent = exchanges["in_reply_to"].isin(exchanges["tweet_id"]).to_numpy()
    assert voiced["in_reply_to"].isin(voiced["tweet_id"]).to_numpy().tolist() == \
        customer_parent.tolist()
    for folder in ("processed", "results"):
        for path in (pipeline / folder).rglob("*"):
            if path.suffix == ".parquet":
                frame = pd.read_parquet(path)
                for column in frame.columns:
                    assert not any(token in column for token in ("tweet_id", "reply_to",
                                                                 "conversation")) \
                        or not pd.api.types.is_numeric_dtype(frame[column]), (path, column)
                values = set(frame.select_dtypes(exclude="number").astype(str).stack())
                assert not values & tweet_ids, path
