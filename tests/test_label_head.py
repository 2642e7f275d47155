"""The voice head (issue 14): offline loading, determinism, format checks, validity.

The head is generated (``make head``), not committed, so these tests train one of their own
with the same recipe on a sample of the shared labelled sets (a smaller hashed space and 1,000
texts per set, so it trains in seconds).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from complaintpanel.label import VOICES, get_classifier
from complaintpanel.label.head import (
    HEAD_FORMAT,
    HeadClassifier,
    HeadFormatError,
    VoiceHead,
    fit_temperature,
)
from complaintpanel.label.stage import PROBABILITY_COLUMNS, label_exchanges
from complaintpanel.label.validity import (
    bootstrap_scores,
    brier_score,
    f1_scores,
    leave_one_dataset_out,
    reliability,
)
from conftest import SHARED_DATA, _require_real

REPO = Path(__file__).resolve().parents[1]
TEXTS = [
    "my flight has been delayed 3 hours and nobody at the gate knows anything",
    "thank you so much, the crew was wonderful and the upgrade made my day",
    "what time does the store open on sunday?",
    "still waiting for my refund, this is unacceptable",
    "",
]


TRAIN_COMMAND = "complaintpanel label-train-head (test: 1,000 texts per set, 2^16 columns)"


@pytest.fixture(scope="module")
def head_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from complaintpanel.label.head import train_head

    labelled = _require_real(SHARED_DATA / "labelled")
    real = _require_real(SHARED_DATA / "real")
    head, card = train_head(labelled, real, command=TRAIN_COMMAND, n_features=2**16,
                            per_set=1000)
    return head.save(tmp_path_factory.mktemp("head") / "voice_head.npz", card)[0]


@pytest.fixture(scope="module")
def shipped(head_path: Path) -> HeadClassifier:
    return HeadClassifier(head_path)


def test_loads_and_predicts_with_sockets_blocked(monkeypatch: pytest.MonkeyPatch,
                                                 head_path: Path) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    classifier = get_classifier("head", model_path=head_path)
    voice, sentiment = classifier.predict(TEXTS)
    assert voice.tolist()[:4] == ["complaint", "compliment", "neutral", "complaint"]
    assert np.all(np.abs(sentiment) <= 1)


def test_probabilities_are_distributions_and_match_voice(shipped: HeadClassifier) -> None:
    voice, sentiment, proba = shipped.predict_with_proba(TEXTS)
    assert proba.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert (proba > 0).all()
    assert voice.tolist() == [VOICES[k] for k in proba.argmax(axis=1)]
    np.testing.assert_allclose(sentiment, proba[:, 1] - proba[:, 0])


def test_identical_texts_get_identical_probabilities(shipped: HeadClassifier) -> None:
    # Scored once per distinct text, and the same text in a different batch scores the same.
    twice = shipped.predict_proba(TEXTS + TEXTS[::-1])
    np.testing.assert_array_equal(twice[: len(TEXTS)], twice[len(TEXTS):][::-1])
    alone = shipped.predict_proba(TEXTS[:1])
    np.testing.assert_array_equal(alone[0], twice[0])


def test_deterministic_across_processes(shipped: HeadClassifier) -> None:
    code = ("import json, sys; from complaintpanel.label.head import HeadClassifier; "
            "print(json.dumps(HeadClassifier(sys.argv[2]).predict_proba("
            "json.loads(sys.argv[1])).tolist()))")
    env = {"PYTHONPATH": str(REPO / "src"), "PYTHONHASHSEED": "123", "PATH": ""}
    run = subprocess.run([sys.executable, "-c", code, json.dumps(TEXTS), str(shipped.model_path)],
                         env=env,
                         capture_output=True, text=True, check=True)
    np.testing.assert_array_equal(np.array(json.loads(run.stdout)),
                                  shipped.predict_proba(TEXTS))


def test_card_describes_the_head_file(head_path: Path) -> None:
    card = json.loads(head_path.with_suffix(".json").read_text())
    assert card["format"] == HEAD_FORMAT
    assert card["command"] == TRAIN_COMMAND
    assert set(card["training_data"]) == {"airline", "tweeteval", "sanders"}
    assert all(info["licence"] for info in card["training_data"].values())
    from complaintpanel.runtime.io import sha256_file

    assert card["file_sha256"] == sha256_file(head_path)
    assert head_path.stat().st_size <= 20e6
    assert head_path.with_suffix(".md").exists()


def _rewrite(tmp_path: Path, head_path: Path, **changes: object) -> Path:
    with np.load(head_path, allow_pickle=False) as stored:
        arrays = {k: stored[k] for k in stored.files}
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = np.asarray(value)
    path = tmp_path / "head.npz"
    np.savez(path, **arrays)
    return path


def test_format_mismatch_is_a_clear_error(tmp_path: Path, head_path: Path) -> None:
    with pytest.raises(HeadFormatError, match=r"head format 'complaintpanel-voice-head/0'.*"
                                               r"label-train-head"):
        VoiceHead.load(_rewrite(tmp_path, head_path, format="complaintpanel-voice-head/0"))
    with pytest.raises(HeadFormatError, match=r"head format '\(none\)'"):
        VoiceHead.load(_rewrite(tmp_path, head_path, format=None))
    with pytest.raises(HeadFormatError, match="rule scores"):
        VoiceHead.load(_rewrite(tmp_path, head_path, score_columns=["net", "other"]))
    with pytest.raises(FileNotFoundError, match="label-train-head"):
        HeadClassifier(tmp_path / "missing.npz")


def test_loading_refuses_pickled_arrays(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, format=np.array([HEAD_FORMAT], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        VoiceHead.load(path)


def test_save_load_round_trip_and_learns(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    bad = ["late again", "lost my bag", "no reply for days", "broken app", "refund please"]
    good = ["love it", "great crew", "thanks so much", "amazing service", "well done team"]
    plain = ["what time", "is it open", "where is gate", "which app", "how do i book"]
    texts, voices = [], []
    for k in range(300):
        for words, voice in ((bad, "complaint"), (good, "compliment"), (plain, "neutral")):
            texts.append(f"{words[k % 5]} {rng.integers(1000)}")
            voices.append(voice)
    head = VoiceHead(n_features=2**12, calibration_folds=3).fit(texts, voices)
    assert head.predict(["late again", "love it", "what time"]).tolist() == list(VOICES)
    path, card_path, md_path = head.save(tmp_path / "h.npz", {"command": "test"})
    loaded = VoiceHead.load(path)
    np.testing.assert_allclose(loaded.predict_proba(texts[:30]), head.predict_proba(texts[:30]),
                               rtol=1e-5, atol=1e-7)  # coefficients stored as float32
    assert json.loads(card_path.read_text())["format"] == HEAD_FORMAT
    assert "test" in md_path.read_text()


def test_fit_temperature_recovers_known_temperature() -> None:
    rng = np.random.default_rng(1)
    true_logits = rng.normal(scale=2.0, size=(20_000, 3))
    p = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    codes = (rng.random(len(p))[:, None] > p.cumsum(axis=1)).sum(axis=1)
    # A model whose logits are 2.5 times too confident needs T = 2.5.
    assert fit_temperature(2.5 * true_logits, codes) == pytest.approx(2.5, rel=0.05)


def test_f1_scores_known_answer() -> None:
    truth = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 0, 2, 1, 0, 2, 2, 1])
    macro, complaint = f1_scores(truth, predicted)
    # complaint: tp 2, fp 1, fn 1 → 4/6; compliment: tp 1, fp 1, fn 1 → 1/2; neutral: tp 2,
    # fp 1, fn 1 → 4/6.
    assert complaint[0] == pytest.approx(2 / 3)
    assert macro[0] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)


def test_bootstrap_intervals_cover_and_pair() -> None:
    truth = ["complaint"] * 50 + ["neutral"] * 50
    perfect = truth
    half = ["complaint"] * 25 + ["neutral"] * 75
    out = bootstrap_scores(truth, {"a": half, "b": perfect}, draws=300)
    assert out["b"]["complaint_f1"] == {"value": 1.0, "ci95": [1.0, 1.0]}
    low, high = out["a"]["complaint_f1"]["ci95"]
    assert low < out["a"]["complaint_f1"]["value"] < high
    difference = out["b - a"]["complaint_f1"]
    assert difference["value"] == pytest.approx(1 - 2 / 3)
    # Paired draws: b is better in every resample, so the whole interval is above zero.
    assert 0 < difference["ci95"][0] <= difference["value"] <= difference["ci95"][1]


def test_brier_and_reliability_known_answers() -> None:
    truth = ["complaint", "neutral"]
    proba = np.array([[1.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    assert brier_score(truth, proba) == pytest.approx((0 + 0.5) / 2)
    curve = reliability(truth, proba, bins=2)
    # Both p_complaint values (1.0, 0.5) fall in the upper bin [0.5, 1]; one is a complaint.
    assert curve["bins"] == [{"bin": 1, "mean_predicted": 0.75, "observed": 0.5, "count": 2}]
    assert curve["ece"] == pytest.approx(0.25)
    assert curve["brier_binary"] == pytest.approx((0 + 0.25) / 2)
    curve = reliability(["neutral", "complaint"], np.array([[0.2, 0, 0.8], [0.9, 0, 0.1]]),
                        bins=2)
    assert [(b["bin"], b["observed"]) for b in curve["bins"]] == [(0, 0.0), (1, 1.0)]
    assert curve["ece"] == pytest.approx((0.2 + 0.1) / 2)


def test_label_stage_writes_probability_columns(shipped: HeadClassifier) -> None:
    exchanges = pd.DataFrame({"tweet_id": range(len(TEXTS)), "text": TEXTS})
    voiced = label_exchanges(exchanges, shipped)
    assert set(PROBABILITY_COLUMNS) <= set(voiced.columns)
    np.testing.assert_allclose(voiced[list(PROBABILITY_COLUMNS)].sum(axis=1), 1.0)
    most_probable = voiced[list(PROBABILITY_COLUMNS)].to_numpy().argmax(axis=1)
    assert voiced["voice"].tolist() == [VOICES[k] for k in most_probable]
    assert voiced["voice"].tolist()[:4] == ["complaint", "compliment", "neutral", "complaint"]
    rules = label_exchanges(exchanges, get_classifier("rules"))
    assert rules[list(PROBABILITY_COLUMNS)].isna().all().all()


def test_leave_one_dataset_out_on_a_slice() -> None:
    labelled = _require_real(SHARED_DATA / "labelled")
    real = _require_real(SHARED_DATA / "real")
    from complaintpanel.label.corpora import read_labelled_sets

    pooled = read_labelled_sets(labelled, real)
    assert pooled.groupby("set").size().to_dict() == {"airline": 14485, "sanders": 3424,
                                                      "tweeteval": 14284}
    small = pooled.groupby("set").sample(300, random_state=0).reset_index(drop=True)
    rules_voice = get_classifier("rules").predict(small["text"].tolist())[0]
    # Fewer hashed columns than the shipped head: the same recipe, fast enough for a test.
    result = leave_one_dataset_out(small, np.asarray(rules_voice, dtype=object), draws=100,
                                   calibration_folds=3, n_features=2**14)
    assert set(result) == {"airline", "tweeteval", "sanders"}
    for held, part in result.items():
        assert held not in part["trained_on"] and part["n_train"] == 600
        assert part["n_test"] == 300
        head = part["scores"]["head"]["macro_f1"]
        # Better than chance on a domain it never saw (chance macro-F1 is about 1/3).
        assert head["value"] > 0.4
        assert head["ci95"][0] <= head["value"] <= head["ci95"][1]
        assert part["brier"] < part["brier_uniform_baseline"]


def test_classifier_figure_from_committed_results(tmp_path: Path) -> None:
    from complaintpanel.report.fig_classifier import fig_classifier_validity

    paths = fig_classifier_validity(REPO / "benchmarks" / "results" / "labels.json", tmp_path)
    assert [p.name for p in paths] == ["classifier_validity.pdf", "classifier_validity.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    broken = tmp_path / "labels.json"
    broken.write_text("{}")
    with pytest.raises(ValueError, match="no 'head' section"):
        fig_classifier_validity(broken, tmp_path)
