"""The label stage: exchanges → voiced (contract columns, truth, command line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.label import RulesClassifier, label_exchanges, label_exchanges_with_truth

TEXTS = [
    "@ParcelCo my parcel never arrived and nobody answers",
    "@ParcelCo thank you, the driver was lovely!",
    "@ParcelCo do you deliver on Saturdays?",
    "@ParcelCo my parcel never arrived and nobody answers",
]


def _flat(output: str) -> str:
    """Command output with rich's box drawing and line wrapping removed."""
    return " ".join(output.replace("│", " ").split())


def _exchanges() -> pd.DataFrame:
    """A small exchanges table with the columns of docs/CONTRACTS.md."""
    return pd.DataFrame({
        "tweet_id": np.array([11, 12, 13, 14], dtype=np.int64),
        "customer_id": ["c1", "c2", "c3", "c1"],
        "brand": ["ParcelCo"] * 4,
        "created_at": pd.to_datetime(["2017-10-02 10:00", "2017-10-02 11:00",
                                      "2017-10-03 09:00", "2017-10-09 08:00"], utc=True),
        "conversation_id": np.array([11, 12, 13, 14], dtype=np.int64),
        "in_reply_to": pd.array([None, None, None, None], dtype="Int64"),
        "brand_replied": [True, False, False, True],
        "reply_latency_h": [1.5, np.nan, np.nan, 0.25],
        "replies": np.array([1, 0, 0, 2], dtype=np.int64),
        "text": TEXTS,
    })


def test_voiced_follows_the_contract() -> None:
    exchanges = _exchanges()
    voiced = label_exchanges(exchanges, RulesClassifier(n_jobs=1))
    expected_columns = [c for c in exchanges.columns if c != "text"] + [
        "voice", "sentiment", "p_complaint", "p_compliment", "p_neutral", "classifier",
        "classifier_version"]
    assert list(voiced.columns) == expected_columns
    # The rules give no probabilities: NaN, documented in stage.PROBABILITY_COLUMNS.
    assert voiced[["p_complaint", "p_compliment", "p_neutral"]].isna().all().all()
    assert voiced["voice"].tolist() == ["complaint", "compliment", "neutral", "complaint"]
    assert voiced["sentiment"].between(-1, 1).all()
    assert voiced["sentiment"].iloc[0] == voiced["sentiment"].iloc[3]  # same text, same label
    assert set(voiced["classifier"]) == {"rules"}
    assert voiced["classifier_version"].nunique() == 1
    pd.testing.assert_frame_equal(voiced[exchanges.columns.drop("text")],
                                  exchanges.drop(columns="text"))


def test_labelling_needs_text() -> None:
    with pytest.raises(ValueError, match="no 'text' column"):
        label_exchanges(_exchanges().drop(columns="text"), RulesClassifier(n_jobs=1))


def test_truth_replaces_the_classifier() -> None:
    truth = pd.DataFrame({"tweet_id": [14, 13, 12, 11, 99],
                          "voice": ["neutral", "neutral", "compliment", "complaint", "neutral"],
                          "ambiguous": [True, False, False, False, False]})
    voiced = label_exchanges_with_truth(_exchanges(), truth, version="truth-abc")
    assert voiced["voice"].tolist() == ["complaint", "compliment", "neutral", "neutral"]
    assert voiced["sentiment"].tolist() == [-1.0, 1.0, 0.0, 0.0]
    assert voiced[["p_complaint", "p_compliment", "p_neutral"]].to_numpy().tolist() == [
        [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    assert set(voiced["classifier"]) == {"truth"}
    assert set(voiced["classifier_version"]) == {"truth-abc"}
    assert "text" not in voiced.columns


def test_missing_or_repeated_truth_is_an_error() -> None:
    partial = pd.DataFrame({"tweet_id": [11, 12], "voice": ["complaint", "compliment"]})
    with pytest.raises(ValueError, match="2 of 4 customer tweets have no true voice"):
        label_exchanges_with_truth(_exchanges(), partial)
    repeated = pd.DataFrame({"tweet_id": [11, 11, 12, 13, 14], "voice": ["neutral"] * 5})
    with pytest.raises(ValueError, match="repeats 1 tweet id"):
        label_exchanges_with_truth(_exchanges(), repeated)


def test_label_command_writes_voiced_without_text(tmp_path: Path) -> None:
    _exchanges().to_parquet(tmp_path / "exchanges.parquet", index=False)
    out = tmp_path / "processed"
    result = CliRunner().invoke(app, ["label", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("label: 4 tweets, 50% complaints, 25% compliments, "
                                    "classifier rules rules-1.0+vader-")
    voiced = pd.read_parquet(out / "voiced.parquet")
    assert "text" not in voiced.columns
    assert voiced["voice"].tolist() == ["complaint", "compliment", "neutral", "complaint"]
    report = json.loads((out / "label_report.json").read_text())
    assert report["voice_counts"] == {"complaint": 2, "compliment": 1, "neutral": 1}
    assert report["classifier"] == "rules"


def test_label_command_takes_threshold_from_config(tmp_path: Path) -> None:
    _exchanges().to_parquet(tmp_path / "exchanges.parquet", index=False)
    config = tmp_path / "config.toml"
    config.write_text("[label]\nthreshold = 50.0\n")
    result = CliRunner().invoke(app, ["label", str(tmp_path), "--config", str(config)])
    assert result.exit_code == 0, result.output
    voiced = pd.read_parquet(tmp_path / "voiced.parquet")
    assert set(voiced["voice"]) == {"neutral"}  # nothing is that extreme
    assert voiced["classifier_version"].iloc[0].endswith("+t50")


def test_label_command_with_truth_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["label", str(tmp_path)])
    assert missing.exit_code != 0
    assert "does not exist; run `complaintpanel thread` first" in _flat(missing.output)
    _exchanges().to_parquet(tmp_path / "exchanges.parquet", index=False)
    truth = tmp_path / "voice.parquet"
    pd.DataFrame({"tweet_id": [11, 12, 13], "voice": ["complaint"] * 3}).to_parquet(truth)
    short = runner.invoke(app, ["label", str(tmp_path), "--truth", str(truth)])
    assert short.exit_code != 0
    assert "1 of 4 customer tweets have no true voice" in _flat(short.output)
    pd.DataFrame({"tweet_id": [11, 12, 13, 14], "voice": ["complaint"] * 4}).to_parquet(truth)
    ok = runner.invoke(app, ["label", str(tmp_path), "--truth", str(truth)])
    assert ok.exit_code == 0, ok.output
    assert "classifier truth truth-" in ok.output
    unknown = runner.invoke(app, ["label", str(tmp_path), "--classifier", "nope"])
    assert unknown.exit_code != 0 and "unknown classifier 'nope'" in _flat(unknown.output)
