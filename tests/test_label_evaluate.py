"""Validity metrics on a fixture whose confusion matrix is computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.label.evaluate import (
    evaluate_labels,
    parse_mapping,
    read_labelled,
)
from complaintpanel.report.figures import fig_label_validity

FIXTURES = Path(__file__).parent / "fixtures" / "labels"
MAPPING = "negative=complaint,positive=compliment,neutral=neutral"

# eval_small.csv, rows = human (complaint, compliment, neutral), columns = predicted:
#   complaint:  rows 1-3 right, row 4 → neutral, row 5 → compliment   → [3, 1, 1]
#   compliment: rows 6-7 right, row 8 → neutral                        → [0, 2, 1]
#   neutral:    row 9 right, row 10 → complaint                        → [1, 0, 1]
CONFUSION = [[3, 1, 1], [0, 2, 1], [1, 0, 1]]
# complaint  P = 3/4, R = 3/5, F1 = 2/3;  compliment P = R = F1 = 2/3;
# neutral    P = 1/3, R = 1/2, F1 = 2/5;  macro-F1 = (2/3 + 2/3 + 2/5) / 3 = 26/45.
# complaint vs not: TP 3, FP 1, FN 2, TN 4 → not-class P = 4/6, R = 4/5, F1 = 8/11.


def test_hand_computed_confusion_and_metrics() -> None:
    data = read_labelled(FIXTURES / "eval_small.csv", "text", "label", parse_mapping(MAPPING))
    report = evaluate_labels(data["voice"], data["pred"])
    assert report.confusion.tolist() == CONFUSION
    assert report.n == 10
    assert report.accuracy == pytest.approx(0.6)
    per_class = report.per_class
    assert per_class["complaint"] == pytest.approx(
        {"precision": 0.75, "recall": 0.6, "f1": 2 / 3, "support": 5})
    assert per_class["compliment"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert per_class["neutral"] == pytest.approx(
        {"precision": 1 / 3, "recall": 0.5, "f1": 0.4, "support": 2})
    assert report.macro_f1 == pytest.approx(26 / 45)
    binary = report.binary("complaint")
    assert binary["precision"] == pytest.approx(0.75)
    assert binary["recall"] == pytest.approx(0.6)
    assert binary["accuracy"] == pytest.approx(0.7)
    assert binary["macro_f1"] == pytest.approx((2 / 3 + 8 / 11) / 2)
    frame = report.confusion_frame()
    assert frame.loc["neutral", "complaint"] == 1


def test_agrees_with_scikit_learn() -> None:
    from sklearn.metrics import confusion_matrix, f1_score

    rng = np.random.default_rng(0)
    voices = np.array(["complaint", "compliment", "neutral"], dtype=object)
    human, predicted = rng.choice(voices, 200), rng.choice(voices, 200)
    report = evaluate_labels(human, predicted)
    assert report.confusion.tolist() == confusion_matrix(human, predicted,
                                                         labels=list(voices)).tolist()
    assert report.macro_f1 == pytest.approx(f1_score(human, predicted, average="macro"))


def test_zero_division_and_bad_labels() -> None:
    report = evaluate_labels(["complaint", "neutral"], ["complaint", "complaint"])
    assert report.per_class["compliment"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                              "support": 0}
    with pytest.raises(ValueError, match="not among"):
        evaluate_labels(["complaint"], ["angry"])
    with pytest.raises(ValueError, match="human labels but"):
        evaluate_labels(["complaint"], [])


def test_mapping_parsing_and_unmapped_labels(tmp_path: Path) -> None:
    assert parse_mapping(MAPPING) == {"negative": "complaint", "positive": "compliment",
                                      "neutral": "neutral"}
    assert parse_mapping(None) is None
    with pytest.raises(ValueError, match="not of the form"):
        parse_mapping("negative")
    with pytest.raises(ValueError, match="not voices"):
        parse_mapping("negative=angry")
    with pytest.raises(ValueError, match=r"label\(s\) \['neutral'\] in 'label' have no voice"):
        read_labelled(FIXTURES / "eval_small.csv", "text", "label",
                      {"negative": "complaint", "positive": "compliment"})
    with pytest.raises(ValueError, match="no column"):
        read_labelled(FIXTURES / "eval_small.csv", "body", "label", None)


def test_figure_is_written_as_pdf_and_png(tmp_path: Path) -> None:
    report = evaluate_labels(["complaint", "neutral", "compliment"],
                             ["complaint", "complaint", "compliment"])
    paths = fig_label_validity(report, tmp_path / "confusion", title="test")
    assert [p.suffix for p in paths] == [".pdf", ".png"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_evaluate_labels_command_with_ready_predictions(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "evaluate-labels", str(FIXTURES / "eval_small.csv"), "--text-col", "text",
        "--label-col", "label", "--mapping", MAPPING, "--pred-col", "pred",
        "--out", str(tmp_path), "--name", "small"])
    assert result.exit_code == 0, result.output
    assert "macro-F1 0.578" in result.output
    saved = json.loads((tmp_path / "small.json").read_text())
    assert saved["confusion"] == CONFUSION
    assert saved["macro_f1"] == pytest.approx(26 / 45)
    assert saved["mapping"]["negative"] == "complaint"
    assert (tmp_path / "small_confusion.pdf").exists()
    assert (tmp_path / "small_confusion.png").exists()


def test_evaluate_labels_command_runs_the_rules(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "evaluate-labels", str(FIXTURES / "easy_cases.csv"), "--label-col", "voice",
        "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "easy_cases_rules.json").read_text())
    assert saved["classifier"] == "rules"
    assert saved["classifier_version"].startswith("rules-1.0+vader-")
    assert saved["accuracy"] == 1.0
    assert saved["n"] == len(pd.read_csv(FIXTURES / "easy_cases.csv"))


def test_evaluate_labels_command_reports_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "evaluate-labels", str(FIXTURES / "eval_small.csv"), "--label-col", "label",
        "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "have no voice" in " ".join(result.output.replace("│", " ").split())
