"""The validation sample: draw, code, read back (complaintpanel.label.validation, issue 15).

Known answers: allocations by hand, the counts of a sheet coded from the truth equal the
cross-tabulation of the truth against the labels of the sampled tweets (joined through the
keyed pseudonyms), and every bad coded sheet fails with a message naming the file and row.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.errors import PipelineError
from complaintpanel.label.stage import interim_key, tweet_pseudonyms
from complaintpanel.label.validation import (
    DESIGN_FILE,
    ValidationDesign,
    allocate,
    draw_validation_sample,
    load_validation_counts,
    parse_voice,
    read_design,
)
from complaintpanel.model.measurement import VOICES


def _run(*args: object) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def _voiced(n_complaint: int = 500, n_compliment: int = 60, n_neutral: int = 300
            ) -> pd.DataFrame:
    labels = (["complaint"] * n_complaint + ["compliment"] * n_compliment
              + ["neutral"] * n_neutral)
    return pd.DataFrame({"tweet_id": [f"t{i:05d}" for i in range(len(labels))],
                         "voice": labels})


def test_allocations_by_hand() -> None:
    np.testing.assert_array_equal(allocate(np.array([5000, 100, 3000]), 1000, "equal"),
                                  [450, 100, 450])
    np.testing.assert_array_equal(allocate(np.array([600, 300, 300]), 300, "equal"),
                                  [100, 100, 100])
    np.testing.assert_array_equal(allocate(np.array([600, 300, 100]), 100, "proportional"),
                                  [60, 30, 10])
    np.testing.assert_array_equal(allocate(np.array([10, 0, 5]), 1000, "equal"), [10, 0, 5])
    with pytest.raises(ValueError, match="unknown allocation"):
        allocate(np.array([1, 1, 1]), 3, "neyman")


def test_draw_is_reproducible_stratified_and_shuffled() -> None:
    voiced = _voiced()
    first = draw_validation_sample(voiced, 300, seed=5)
    again = draw_validation_sample(voiced.sample(frac=1, random_state=1), 300, seed=5)
    other = draw_validation_sample(voiced, 300, seed=6)
    pd.testing.assert_frame_equal(first.sample, again.sample)  # row order of the file: no matter
    assert not first.sample.equals(other.sample)
    np.testing.assert_array_equal(first.population, [500, 60, 300])
    np.testing.assert_array_equal(first.allocated, [120, 60, 120])  # rare label taken whole
    counts = first.sample["predicted"].value_counts()
    assert counts.to_dict() == {"complaint": 120, "compliment": 60, "neutral": 120}
    assert first.sample["tweet_key"].is_unique
    truth = voiced.set_index("tweet_id")["voice"]
    assert (truth.loc[first.sample["tweet_key"]].to_numpy()
            == first.sample["predicted"].to_numpy()).all()
    # shuffled: the sheet is not ordered by stratum
    assert first.sample["predicted"].iloc[:120].nunique() == 3
    record = first.to_dict()
    assert record["weights_by_label"] == [500 / 120, 1.0, 300 / 120]
    assert record["sampled_by_label"] == [120, 60, 120]
    back = ValidationDesign.from_dict(json.loads(json.dumps(record)))
    pd.testing.assert_frame_equal(back.sample, first.sample.astype(str))


def test_accepted_spellings() -> None:
    assert parse_voice(" Complaint ") == "complaint"
    assert parse_voice("NEUTRAL") == "neutral"
    assert parse_voice("\tcompliment\n") == "compliment"
    for bad in ("complaints", "neg", "", None, float("nan"), "compl aint"):
        assert parse_voice(bad) is None


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("validation")
    # A fixed key in the key file ingest uses: a key drawn at random gives other pseudonymised
    # ids, and with them another validation sample of `--seed 2`, on every run (the module's
    # statistical checks would then see a different sample each time).
    (root / "pseudonymisation.key").write_text("validation-test-key-not-secret\n")
    _run("simulate", "--out", root / "raw", "--customers", "300", "--weeks", "8", "--seed", "4")
    _run("ingest", root / "raw" / "twcs.csv", "--out", root / "interim")
    _run("thread", root / "interim")
    _run("label", root / "interim", "--out", root / "processed")
    _run("validation-sample", root / "processed", "--n", "150", "--seed", "2")
    _run("validation-code-oracle", root / "interim" / "validation_sheet.csv", "--truth",
         root / "raw" / "truth" / "voice.parquet")
    return root


def test_sheet_hides_the_label_and_oracle_codes_the_truth(pipeline: Path) -> None:
    interim = pipeline / "interim"
    sheet = pd.read_csv(interim / "validation_sheet.csv", dtype=str, keep_default_na=False)
    assert list(sheet.columns) == ["tweet_id", "text", "voice"]
    assert len(sheet) == 150 and sheet["tweet_id"].is_unique
    assert (sheet["voice"] == "").all() and (sheet["text"] != "").all()
    coded = pd.read_csv(interim / "validation_coded.csv", dtype=str)
    truth = pd.read_parquet(pipeline / "raw" / "truth" / "voice.parquet")
    true_voice = truth.astype({"tweet_id": str}).set_index("tweet_id")["voice"]
    assert (coded["voice"].to_numpy() == true_voice.loc[coded["tweet_id"]].to_numpy()).all()
    design = read_design(interim / DESIGN_FILE)
    assert design.to_dict()["n"] == 150 and design.allocation == "equal"
    # texts stay in the interim folder: nothing the pipeline derived outside it holds one
    texts = set(sheet["text"])
    for path in pipeline.rglob("*"):
        if (path.is_file() and interim not in path.parents
                and (pipeline / "raw") not in path.parents):
            content = path.read_text(errors="ignore")
            assert not any(text in content for text in texts), path


def test_counts_join_through_the_pseudonyms(pipeline: Path) -> None:
    """Counts from the coded sheet = truth × label of the sampled tweets, joined by hand."""
    interim, voiced_path = pipeline / "interim", pipeline / "processed" / "voiced.parquet"
    counts = load_validation_counts(interim / "validation_coded.csv", voiced_path)
    voiced = pd.read_parquet(voiced_path, columns=["tweet_id", "voice"])
    truth = pd.read_parquet(pipeline / "raw" / "truth" / "voice.parquet")
    sheet = pd.read_csv(interim / "validation_sheet.csv", dtype=str)
    keys = tweet_pseudonyms(sheet["tweet_id"].astype("int64"), interim_key(interim))
    label = voiced.set_index("tweet_id")["voice"].loc[keys].to_numpy()
    true_voice = truth.astype({"tweet_id": str}).set_index("tweet_id")["voice"]
    expected = pd.crosstab(pd.Categorical(true_voice.loc[sheet["tweet_id"]], VOICES),
                           pd.Categorical(label, VOICES), dropna=False).to_numpy()
    np.testing.assert_array_equal(counts.counts, expected)
    np.testing.assert_array_equal(
        counts.population, voiced["voice"].value_counts().reindex(list(VOICES)).to_numpy())
    # The same sheet with pseudonyms in place of the raw ids gives the same counts.
    coded = pd.read_csv(interim / "validation_coded.csv", dtype=str)
    coded["tweet_id"] = keys.to_numpy()
    coded.to_csv(interim / "coded_by_key.csv", index=False)
    by_key = load_validation_counts(interim / "coded_by_key.csv", voiced)
    np.testing.assert_array_equal(by_key.counts, counts.counts)
    (interim / "coded_by_key.csv").unlink()


def _bad_sheet(pipeline: Path, name: str, edit) -> Path:
    coded = pd.read_csv(pipeline / "interim" / "validation_coded.csv", dtype=str,
                        keep_default_na=False)
    coded = edit(coded)
    path = pipeline / "interim" / name
    coded.to_csv(path, index=False)
    return path


def test_bad_coded_sheets_name_file_row_and_problem(pipeline: Path) -> None:
    voiced = pipeline / "processed" / "voiced.parquet"

    def bad_label(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[4, "voice"] = "angry"
        return frame

    def duplicate(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[7, "tweet_id"] = frame.loc[2, "tweet_id"]
        return frame

    def unknown_id(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[0, "tweet_id"] = "999999999"
        return frame

    def empty(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[9, "voice"] = "  "
        return frame

    def spelled(frame: pd.DataFrame) -> pd.DataFrame:
        frame["voice"] = " " + frame["voice"].str.upper() + " "
        return frame

    cases = [(bad_label, "row 5: unknown voice 'angry'"),
             (duplicate, "row 8: duplicate tweet_id"),
             (unknown_id, "row 1: tweet_id 999999999 is not in the validation sample"),
             (empty, "row 10: tweet_id")]
    for edit, message in cases:
        path = _bad_sheet(pipeline, f"{edit.__name__}.csv", edit)
        with pytest.raises(PipelineError) as error:
            load_validation_counts(path, voiced)
        assert message in str(error.value), str(error.value)
        assert str(path) in str(error.value)
        if edit is empty:
            assert "has no code" in str(error.value)
        path.unlink()
    path = _bad_sheet(pipeline, "spelled.csv", spelled)
    good = load_validation_counts(pipeline / "interim" / "validation_coded.csv", voiced)
    np.testing.assert_array_equal(load_validation_counts(path, voiced).counts, good.counts)
    path.unlink()


def test_relabelled_voiced_is_refused(pipeline: Path) -> None:
    voiced = pd.read_parquet(pipeline / "processed" / "voiced.parquet",
                             columns=["tweet_id", "voice"])
    flipped = voiced.assign(voice=voiced["voice"].map(
        {"complaint": "neutral", "neutral": "complaint", "compliment": "compliment"}))
    with pytest.raises(PipelineError, match="relabelled"):
        load_validation_counts(pipeline / "interim" / "validation_coded.csv", flipped)
    with pytest.raises(PipelineError, match="not in the voiced table"):
        load_validation_counts(pipeline / "interim" / "validation_coded.csv", voiced.iloc[:10])


def test_cli_reports_a_bad_sheet_in_one_line(pipeline: Path) -> None:
    path = _bad_sheet(pipeline, "cli_bad.csv", lambda f: f.assign(voice="meh"))
    result = CliRunner().invoke(app, ["label-validity",
                                      str(pipeline / "processed" / "voiced.parquet"),
                                      "--validation", str(path),
                                      "--out", str(pipeline / "results_bad")])
    assert result.exit_code == 2, result.output
    assert "row 1: unknown voice 'meh'" in result.output
    path.unlink()


def test_label_validity_reports_m_beside_the_truth(pipeline: Path) -> None:
    _run("label-validity", pipeline / "processed" / "voiced.parquet",
         pipeline / "raw" / "truth" / "voice.parquet", "--out", pipeline / "results",
         "--validation", pipeline / "interim" / "validation_coded.csv")
    report = json.loads((pipeline / "results" / "label_validity.json").read_text())
    estimated = np.asarray(report["validation"]["misclassification"])
    se = np.asarray(report["validation"]["misclassification_se"])
    true_m = np.asarray(report["true_misclassification"]["misclassification"])
    np.testing.assert_allclose(estimated.sum(axis=1), 1.0)
    np.testing.assert_allclose(true_m.sum(axis=1), 1.0)
    # 150 coded tweets: the diagonal within 4 standard errors of the truth (or exact)
    diagonal = np.diag(np.abs(estimated - true_m)) <= 4 * np.diag(se) + 1e-9
    assert diagonal.all(), (estimated, true_m, se)
    assert report["confusion"]  # the truth's confusion matrix is still there


def test_estimate_with_validation_reports_the_corrected_design(pipeline: Path) -> None:
    """`estimate --validation` writes both designs, the corrected one M̂⁻ᵀ × the naive one."""
    _run("panel", pipeline / "processed")
    # the correction is tested, not the sensitivity bootstrap: 3 replicates, not 40
    config = pipeline / "config.toml"
    config.write_text("[estimate]\nsensitivity_reps = 3\n")
    _run("estimate", pipeline / "processed", "--out", pipeline / "results_est",
         "--no-event-studies", "--validation", pipeline / "interim" / "validation_coded.csv",
         "--config", config)
    from complaintpanel.results import read_results

    section = read_results(pipeline / "results_est" / "estimates.json")["misclassification"]
    assert section["status"].startswith("corrected")
    m = np.asarray(section["validation"]["misclassification"])
    naive, corrected = section["design_naive"], section["design_corrected"]
    voices = ("complaints", "compliments", "neutral")
    for lead in (0, 1):
        observed = np.array([naive.term(outcome=o, lead=lead)["estimate"] for o in voices])
        expected = np.linalg.solve(m.T, observed)  # M⁻ᵀ θ_obs
        for outcome, value in zip(voices, expected, strict=True):
            assert corrected.term(outcome=outcome, lead=lead)["estimate"] == pytest.approx(
                value, rel=1e-9, abs=1e-12)
    # and its variance adds M̂'s sampling uncertainty to the propagated panel variance
    names = [f"{o}[t+0]" for o in voices]
    weights = np.linalg.inv(m).T
    panel_only = weights @ naive.cov_params().loc[names, names].to_numpy() @ weights.T
    variances = corrected.bse.loc[names].to_numpy() ** 2
    assert (variances > np.diag(panel_only) * (1 + 1e-6)).all()
    # the CLI links the coded tweets to their weeks, so the true-voice adjusted design is reported
    # (estimated, or recorded as not identified when the sheet the earlier tests left behind has
    # no informative coded week; its estimation is tested in test_measurement_voice.py)
    adjusted = section["design_corrected_voice_adjusted"]
    if hasattr(adjusted, "term"):
        assert adjusted.term(outcome="complaints", lead=0)["estimate"] != pytest.approx(
            corrected.term(outcome="complaints", lead=0)["estimate"], rel=1e-6)
    else:
        assert adjusted.model == "answered_vs_unanswered_corrected_voice_adjusted", adjusted


def test_answered_status_is_recorded_and_old_records_still_load(pipeline: Path) -> None:
    """The design record gives each sampled tweet's answered status (= voiced's brand_replied);
    a record written before it did still loads, with the status read from voiced."""
    from complaintpanel.label.validation import load_coded_tweets

    interim, voiced_path = pipeline / "interim", pipeline / "processed" / "voiced.parquet"
    record = json.loads((interim / DESIGN_FILE).read_text())
    voiced = pd.read_parquet(voiced_path)
    replied = voiced.set_index("tweet_id")["brand_replied"]
    recorded = [str(t["answered"]) for t in record["tweets"]]
    assert recorded == [str(bool(replied[t["tweet_key"]])) for t in record["tweets"]]
    coded = load_coded_tweets(interim / "validation_coded.csv", voiced_path)
    assert len(coded.tweets) == 150 and coded.strata == "label"
    assert coded.tweets["answered"].to_list() == replied.loc[coded.tweets["tweet_key"]].tolist()
    np.testing.assert_array_equal(coded.validation_counts().counts,
                                  load_validation_counts(interim / "validation_coded.csv",
                                                         voiced_path).counts)
    old = interim / "old_design.json"
    for tweet in record["tweets"]:
        del tweet["answered"], tweet["stratum"]
    old.write_text(json.dumps({k: v for k, v in record.items() if k != "strata"}))
    from_old = load_coded_tweets(interim / "validation_coded.csv", voiced_path, design=old)
    pd.testing.assert_frame_equal(from_old.tweets, coded.tweets)
    old.unlink()


def test_cli_draws_by_label_and_answered(pipeline: Path, tmp_path: Path) -> None:
    """``--strata label_answered``: six strata with their census, sizes and weights recorded;
    the coded sheet loads post-stratified."""
    import shutil

    from complaintpanel.label.validation import load_coded_tweets

    interim = tmp_path / "interim"
    shutil.copytree(pipeline / "interim", interim)
    shutil.copy(pipeline / "pseudonymisation.key", tmp_path)  # the key ingest used
    voiced_path = pipeline / "processed" / "voiced.parquet"
    _run("validation-sample", pipeline / "processed", "--n", "120", "--seed", "3",
         "--interim", interim, "--strata", "label_answered")
    record = json.loads((interim / DESIGN_FILE).read_text())
    assert record["strata"] == "label_answered" and record["n"] == 120
    assert sum(record["sampled_by_stratum"].values()) == 120
    voiced = pd.read_parquet(voiced_path)
    for label in VOICES:
        for answered in (False, True):
            name = f"{label}|{'answered' if answered else 'unanswered'}"
            census = int(((voiced["voice"] == label) & (voiced["brand_replied"] == answered))
                         .sum())
            assert record["population_by_stratum"][name] == census
            sampled = record["sampled_by_stratum"][name]
            assert record["weights_by_stratum"][name] == (census / sampled if sampled else None)
    _run("validation-code-oracle", interim / "validation_sheet.csv", "--truth",
         pipeline / "raw" / "truth" / "voice.parquet")
    coded = load_coded_tweets(interim / "validation_coded.csv", voiced_path)
    assert coded.strata == "label_answered" and len(coded.tweets) == 120
    assert coded.validation_counts().counts.sum() == pytest.approx(120)
