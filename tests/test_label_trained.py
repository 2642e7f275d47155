"""The trainable classifier: label-train, the saved card, and labelling with the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.label import VoiceClassifier, get_classifier
from complaintpanel.label.base import check_prediction
from complaintpanel.label.trained import (
    TrainedClassifier,
    _groups,
    cross_validate_model,
    normalise_text,
    train_voice_model,
)
from complaintpanel.runtime.io import sha256_file

FIXTURES = Path(__file__).parent / "fixtures" / "labels"
EASY = FIXTURES / "easy_cases.csv"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "voice.joblib"
    result = CliRunner().invoke(app, ["label-train", str(EASY), "--label-col", "voice",
                                      "--folds", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("label-train: 51 labelled texts, 3-fold CV macro-F1 ")
    return out


def test_normalise_text_hides_handles_and_links() -> None:
    assert normalise_text("@BrandCo see https://t.co/x &amp; THANKS") == (
        " @user  see  http  & thanks")


def test_card_records_data_model_and_validity(model_path: Path) -> None:
    card = json.loads(model_path.with_suffix(".json").read_text())
    assert card["classifier"] == "trained"
    assert card["n_train"] == 51
    assert card["class_counts"] == {"complaint": 25, "compliment": 13, "neutral": 13}
    assert card["training_file_sha256"] == sha256_file(EASY)
    assert card["model_sha256"] == sha256_file(model_path)
    assert card["cv"]["folds"] == 3 and len(card["cv"]["macro_f1_by_fold"]) == 3
    assert card["cv"]["n"] == 51 and 0.0 <= card["cv"]["macro_f1"] <= 1.0
    assert card["rules_version"].startswith("rules-1.0")


def test_trained_classifier_honours_the_interface(model_path: Path) -> None:
    classifier = get_classifier("trained", model_path=model_path)
    assert isinstance(classifier, TrainedClassifier) and isinstance(classifier, VoiceClassifier)
    assert classifier.version.startswith(f"trained-{sha256_file(model_path)[:12]}+sklearn-")
    texts = [*pd.read_csv(EASY)["text"].tolist(), None, ""]
    voice, sentiment = classifier.predict(texts)
    check_prediction(voice, sentiment, len(texts))
    again_voice, again_sentiment = classifier.predict(texts)
    assert np.array_equal(voice, again_voice) and np.array_equal(sentiment, again_sentiment)
    # Fitted on these texts, the model reproduces their labels.
    assert list(voice[:51]) == pd.read_csv(EASY)["voice"].tolist()
    assert (sentiment[:51][voice[:51] == "complaint"] < 0).all()
    assert (sentiment[:51][voice[:51] == "compliment"] > 0).all()


def test_label_command_uses_the_trained_model(model_path: Path, tmp_path: Path) -> None:
    pd.DataFrame({"tweet_id": [1, 2], "customer_id": ["a", "b"], "brand": ["X", "X"],
                  "text": ["@X my order never arrived", "@X thank you, lovely service!"]}
                 ).to_parquet(tmp_path / "exchanges.parquet")
    result = CliRunner().invoke(app, ["label", str(tmp_path), "--classifier", "trained",
                                      "--model", str(model_path)])
    assert result.exit_code == 0, result.output
    voiced = pd.read_parquet(tmp_path / "voiced.parquet")
    assert set(voiced["classifier"]) == {"trained"}
    assert voiced["voice"].tolist() == ["complaint", "compliment"]


def test_missing_model_and_bad_training_data(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="label-train"):
        TrainedClassifier(tmp_path / "none.joblib")
    with pytest.raises(ValueError, match=r"no training example of voice\(s\) \['neutral'\]"):
        train_voice_model(["a b", "c d"], ["complaint", "compliment"], folds=0)


def test_cross_validation_keeps_identical_texts_together() -> None:
    # Copies that differ only in case, handle or link share a group, so they never sit in a
    # training fold and a test fold at once (which would inflate the CV score).
    assert _groups(["@A Late again", "@B late AGAIN", "thanks https://t.co/1",
                    "thanks https://t.co/2", "other"]).tolist() == [0, 0, 1, 1, 2]
    data = pd.read_csv(EASY)
    report, folds = cross_validate_model(data["text"].tolist(), data["voice"].tolist(), folds=3)
    assert report.n == 51 and len(folds) == 3
