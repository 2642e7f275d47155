"""The voice classifiers: interface contract, determinism, easy cases, rule behaviour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import LabelConfig
from complaintpanel.label import (
    VOICES,
    RulesClassifier,
    VoiceClassifier,
    available_classifiers,
    classifier_for,
    get_classifier,
    register_classifier,
    score_texts,
)
from complaintpanel.label.base import check_prediction

FIXTURES = Path(__file__).parent / "fixtures" / "labels"


@pytest.fixture(scope="module")
def easy_cases() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "easy_cases.csv")


@pytest.fixture(scope="module")
def rules() -> RulesClassifier:
    return RulesClassifier(n_jobs=1)


def test_rules_honours_the_interface(rules: RulesClassifier) -> None:
    texts = ["my order never arrived", None, "", float("nan"), "thanks, great service!"]
    voice, sentiment = rules.predict(texts)
    assert isinstance(rules, VoiceClassifier)
    check_prediction(voice, sentiment, len(texts))
    assert voice.dtype == object and sentiment.dtype == np.float64
    # Missing and empty texts carry no voice and no sentiment.
    assert list(voice[1:4]) == ["neutral"] * 3
    assert list(sentiment[1:4]) == [0.0] * 3
    empty_voice, empty_sentiment = rules.predict([])
    assert empty_voice.shape == (0,) and empty_sentiment.shape == (0,)


def test_registry_builds_and_rejects() -> None:
    assert {"rules", "trained"} <= set(available_classifiers())
    assert isinstance(get_classifier("rules", threshold=2.0), RulesClassifier)
    with pytest.raises(ValueError, match="unknown classifier 'vader2'"):
        get_classifier("vader2")
    with pytest.raises(TypeError):
        get_classifier("rules", model_path="x.joblib")  # an option rules does not take


def test_a_plugged_in_classifier_is_found_by_name() -> None:
    class Constant:
        name = "constant"
        version = "0"

        def predict(self, texts):
            n = len(texts)
            return np.full(n, "neutral", dtype=object), np.zeros(n)

    register_classifier("constant")(lambda: Constant())
    chosen = classifier_for(LabelConfig(classifier="constant"))
    assert chosen.name == "constant"
    assert list(chosen.predict(["a", "b"])[0]) == ["neutral", "neutral"]


def test_config_threshold_reaches_the_rules_and_the_version() -> None:
    default = classifier_for(LabelConfig())
    strict = classifier_for(LabelConfig(threshold=2.5))
    assert isinstance(strict, RulesClassifier) and strict.threshold == 2.5
    assert default.version != strict.version
    assert default.version.startswith("rules-1.0+vader-3.3.2+tables-")
    assert classifier_for(LabelConfig(), threshold=0.5).threshold == 0.5
    with pytest.raises(ValueError, match="threshold must be positive"):
        RulesClassifier(threshold=0)


def test_rules_is_deterministic_and_order_free(rules: RulesClassifier,
                                               easy_cases: pd.DataFrame) -> None:
    texts = easy_cases["text"].tolist() * 2
    voice, sentiment = rules.predict(texts)
    again_voice, again_sentiment = rules.predict(texts)
    assert np.array_equal(voice, again_voice) and np.array_equal(sentiment, again_sentiment)
    order = np.random.default_rng(3).permutation(len(texts))
    shuffled_voice, shuffled_sentiment = rules.predict([texts[k] for k in order])
    assert np.array_equal(shuffled_voice, voice[order])
    assert np.array_equal(shuffled_sentiment, sentiment[order])


def test_parallel_scoring_equals_serial(easy_cases: pd.DataFrame) -> None:
    texts = easy_cases["text"].tolist()
    serial = score_texts(texts, n_jobs=1)
    parallel = score_texts(texts, n_jobs=2, parallel_min=10)
    pd.testing.assert_frame_equal(serial, parallel)


def test_easy_cases_in_every_domain(rules: RulesClassifier, easy_cases: pd.DataFrame) -> None:
    voice, sentiment = rules.predict(easy_cases["text"].tolist())
    wrong = easy_cases.loc[voice != easy_cases["voice"].to_numpy(), ["voice", "text"]]
    assert wrong.empty, wrong.to_string()
    # Sentiment agrees in sign with the voice.
    assert (sentiment[voice == "complaint"] < 0).all()
    assert (sentiment[voice == "compliment"] > 0).all()
    assert set(easy_cases["voice"]) == set(VOICES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A brand handle is never scored (VADER gives "united" +1.8).
        ("@united", "neutral"),
        # Problem reports without a single affect word.
        ("@ShopCo my parcel still hasn't arrived", "complaint"),
        ("@TelcoCo been on hold for two hours", "complaint"),
        ("@AppCo it won't load on my phone", "complaint"),
        # Failure words that are negated or hypothetical are not complaints.
        ("@RailCo no delays this morning, good job", "compliment"),
        ("@RailCo are you expecting any delays tomorrow?", "neutral"),
        ("@ShopCo where is the lost and found desk?", "neutral"),
        # Customer-care senses: "please help" asks, it does not praise.
        ("@BankCo please help me open an account", "neutral"),
        ("@BankCo do you have customer support on Sundays?", "neutral"),
        # Sarcasm formulas and praise idioms with a negator.
        ("@AirCo thanks for nothing", "complaint"),
        ("@AirCo can't wait for my trip next week", "compliment"),
        ("@HotelCo couldn't be happier with the room", "compliment"),
        # Thanks closing a question is politeness, not a compliment.
        ("@ShopCo do you ship to Canada? Thanks", "neutral"),
        # Thanks followed by an unresolved problem is still a complaint.
        ("@ShopCo thanks but my refund still hasn't come through", "complaint"),
        # Persistence words alone say nothing; with a problem they deepen it.
        ("@AirCo flying with you again next week", "neutral"),
        # A run of one emoji counts once.
        ("@ShopCo love it 😍😍😍😍", "compliment"),
        ("@ShopCo my order 😡", "complaint"),
    ],
)
def test_known_rule_behaviour(rules: RulesClassifier, text: str, expected: str) -> None:
    assert rules.predict([text])[0][0] == expected


def test_scores_explain_the_decision(rules: RulesClassifier) -> None:
    scores = rules.scores(["@ParcelCo my parcel is late", "@ParcelCo thank you so much!"])
    assert list(scores.columns) == ["net", "lexicon_positive", "lexicon_negative",
                                    "cue_complaint", "cue_praise", "amplifiers", "n_tokens",
                                    "question"]
    late, thanks = scores.to_dict("records")
    assert late["cue_complaint"] == -1.5  # the service-failure cue "late"
    assert late["lexicon_positive"] == 0.0 and late["net"] == -1.5
    assert thanks["lexicon_positive"] > 0 and thanks["cue_complaint"] == 0.0


def test_threshold_moves_the_cut(rules: RulesClassifier) -> None:
    text = ["@ParcelCo my parcel is late"]  # net score -1.5
    assert RulesClassifier(threshold=1.0, n_jobs=1).predict(text)[0][0] == "complaint"
    assert RulesClassifier(threshold=2.0, n_jobs=1).predict(text)[0][0] == "neutral"


@pytest.mark.real_data
def test_rules_on_human_labelled_airline_tweets(real_data: Path) -> None:
    """Regression guard on real human labels (the benchmark records the exact figures)."""
    from complaintpanel.label import evaluate_labels
    from complaintpanel.label.evaluate import parse_mapping, read_labelled

    data = read_labelled(real_data / "airline-sentiment-2015" / "Tweets.csv", "text",
                         "airline_sentiment",
                         parse_mapping("negative=complaint,positive=compliment,neutral=neutral"))
    data = data.drop_duplicates("tweet_id")
    assert len(data) == 14_485
    voice, _ = RulesClassifier(n_jobs=1).predict(data["text"].tolist())
    report = evaluate_labels(data["voice"], voice)
    # Raw VADER reaches about 0.46 (3-class) and 0.62 (complaint vs not) here.
    assert report.macro_f1 >= 0.64
    assert report.binary("complaint")["macro_f1"] >= 0.75


def test_interface_check_rejects_broken_classifiers() -> None:
    with pytest.raises(ValueError, match="shapes"):
        check_prediction(np.array(["neutral"], dtype=object), np.zeros(2), 2)
    with pytest.raises(ValueError, match="unknown voice"):
        check_prediction(np.array(["angry"], dtype=object), np.zeros(1), 1)
    with pytest.raises(ValueError, match="outside"):
        check_prediction(np.array(["neutral"], dtype=object), np.array([1.5]), 1)


def test_rules_are_documented() -> None:
    from complaintpanel.label.rules import CUES, rules_markdown

    table = rules_markdown()
    assert all(f"| {cue.name} |" in table for cue in CUES)
    assert all(cue.why and cue.phrases for cue in CUES)
