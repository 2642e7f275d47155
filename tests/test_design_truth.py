"""The truth of the design-based estimate on its own population (design_truth.json).

``complaintpanel estimate --truth WORLD/truth`` averages the true effect of answering over the
customer-weeks the design estimate kept, joined to the world through the ingest key's
pseudonyms. Checked three ways: on all true-complaint weeks it reproduces
``truth/answer_effects.json``; on the pipeline's own estimate it equals the benchmarks' route
(the same world without pseudonyms: oracle panel, same labels, ``world_answer_effects`` on the
estimator's ``kept``); and a join that cannot be right (another key, another world, shifted
weeks) is an error, never a truth of 0.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.estimate import add_model_columns, answered_vs_unanswered
from complaintpanel.ingest.pseudonymise import pseudonym, resolve_key
from complaintpanel.label.stage import tweet_pseudonyms
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.design_truth import design_truth, read_truth, world_rows
from complaintpanel.simulate.oracle import voiced_from_truth
from complaintpanel.simulate.truth_effects import world_answer_effects

HORIZON = 4  # the estimate stage's default, and truth/answer_effects.json's


def _run(*args: object) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small world through the whole pipeline with the default (rules) classifier."""
    root = tmp_path_factory.mktemp("design_truth")
    _run("simulate", "--out", root / "raw", "--customers", "600", "--weeks", "12", "--seed", "5")
    _run("ingest", root / "raw" / "twcs.csv", "--out", root / "interim")
    _run("thread", root / "interim")
    _run("label", root / "interim", "--out", root / "processed")
    _run("panel", root / "processed")
    # the design's truth is tested, not the sensitivity bootstrap: 3 replicates, not 40
    config = root / "config.toml"
    config.write_text("[estimate]\nsensitivity_reps = 3\n")
    _run("estimate", root / "processed", "--out", root / "results", "--no-event-studies",
         "--truth", root / "raw" / "truth", "--config", config)
    return root


def _key(root: Path) -> bytes:
    return resolve_key(root / "interim")[0]


def _periods(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "processed" / "panel.parquet",
                           columns=["period", "period_start"])


def test_all_true_complaint_weeks_reproduce_answer_effects_json(pipeline: Path) -> None:
    # Known answer: the population of truth/answer_effects.json, passed through the pseudonyms
    # and the panel's week calendar, gives back its numbers (same draws, same seed).
    world = read_truth(pipeline / "raw" / "truth")
    key = _key(pipeline)
    weeks = world.states[world.states["complaints"] > 0]
    rows = pd.DataFrame({"customer_id": [pseudonym(c, key) for c in weeks["customer_id"]],
                         "brand": weeks["brand"].to_numpy(),
                         "period": weeks["period"].to_numpy(dtype="int64")})
    effects, true_weeks = design_truth(rows, _periods(pipeline), world, key, horizon=HORIZON)
    assert true_weeks == len(rows)
    expected = pd.DataFrame(json.loads(
        (pipeline / "raw" / "truth" / "answer_effects.json").read_text())["effects"])
    np.testing.assert_array_equal(effects["n_eligible"], expected["n_eligible"])
    for column in ("effect_complaints", "effect_compliments", "mean_complaints_answered",
                   "mean_compliments_unanswered"):
        np.testing.assert_allclose(effects[column], expected[column], rtol=1e-10, err_msg=column)


def test_design_truth_equals_the_benchmark_route_on_the_same_world(pipeline: Path) -> None:
    # The same world without pseudonyms, labelled as the pipeline labelled it: the estimator's
    # kept customer-weeks in raw ids, then world_answer_effects (benchmarks/bench_panel.py).
    world = simulate_world(read_truth(pipeline / "raw" / "truth").spec)
    key = _key(pipeline)
    voiced = pd.read_parquet(pipeline / "processed" / "voiced.parquet",
                             columns=["tweet_id", "voice"]).set_index("tweet_id")["voice"]
    customer_tweets = world.voice["tweet_id"]
    labels = pd.Series(voiced.reindex(tweet_pseudonyms(customer_tweets, key)).to_numpy(),
                       index=customer_tweets.to_numpy())
    assert labels.notna().all()
    design = answered_vs_unanswered(add_model_columns(build_panel(
        voiced_from_truth(world, labels))), horizon=HORIZON)
    expected = world_answer_effects(world, horizon=HORIZON, draws=20, rows=design.kept,
                                    require_complaint=False).set_index("lead")

    written = json.loads((pipeline / "results" / "design_truth.json").read_text())
    estimates = json.loads((pipeline / "results" / "estimates.json").read_text())
    assert written["kept_customer_weeks"] == len(design.kept) == estimates["design"]["nobs"]
    # the classifier errs: some kept "complaints" are not true ones (they dilute the truth)
    assert 0 < written["true_complaint_weeks"] < written["kept_customer_weeks"]
    got = pd.DataFrame(written["effects"]).set_index("lead")
    assert list(got.index) == list(range(HORIZON + 1))
    np.testing.assert_array_equal(got["n_eligible"], expected["n_eligible"])
    for column in ("effect_complaints", "effect_compliments"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-10, err_msg=column)
    # every reported term of the estimate has its truth, over the estimate's own rows
    assert len(written["terms"]) == 2 * (HORIZON + 1)
    for term in written["terms"]:
        name = term["term"]
        assert term["truth"] == pytest.approx(
            expected.loc[term["lead"], f"effect_{term['outcome']}"], rel=1e-10), name
        assert term["nobs"] == int(design.terms.loc[name, "nobs"]), name
        assert term["covered"] == (term["ci_lower"] <= term["truth"] <= term["ci_upper"])


def test_design_truth_json_has_no_customer_id(pipeline: Path) -> None:
    text = (pipeline / "results" / "design_truth.json").read_text()
    raw = set(read_truth(pipeline / "raw" / "truth").states["customer_id"].astype(str))
    words = set(text.replace('"', " ").replace(",", " ").split())
    assert not words & raw
    assert not re.search(r"\bc[0-9a-f]{16}\b", text)  # no pseudonym either


@pytest.fixture(scope="module")
def kept(pipeline: Path) -> pd.DataFrame:
    world = read_truth(pipeline / "raw" / "truth")
    key = _key(pipeline)
    weeks = world.states[world.states["complaints"] > 0]
    return pd.DataFrame({"customer_id": [pseudonym(c, key) for c in weeks["customer_id"]],
                         "brand": weeks["brand"].to_numpy(),
                         "period": weeks["period"].to_numpy(dtype="int64")})


def test_the_join_maps_pseudonyms_and_weeks_back(pipeline: Path, kept: pd.DataFrame) -> None:
    world = read_truth(pipeline / "raw" / "truth")
    rows = world_rows(kept, _periods(pipeline), world.states, _key(pipeline))
    weeks = world.states[world.states["complaints"] > 0]
    np.testing.assert_array_equal(rows["customer_id"], weeks["customer_id"].astype(str))
    np.testing.assert_array_equal(rows["period"], weeks["period"])
    np.testing.assert_array_equal(rows["true_complaints"], weeks["complaints"])


def test_another_key_is_an_error(pipeline: Path, kept: pd.DataFrame) -> None:
    states = read_truth(pipeline / "raw" / "truth").states
    with pytest.raises(ValueError, match="none of the world's customers"):
        world_rows(kept, _periods(pipeline), states, b"another-key-0123456789")


def test_shifted_weeks_are_an_error(pipeline: Path, kept: pd.DataFrame) -> None:
    # A panel whose week calendar is one week off: the complaints of the last week fall
    # outside the world (a lead shift must not pass silently).
    states = read_truth(pipeline / "raw" / "truth").states
    assert (kept["period"] == states["period"].max()).any()
    periods = _periods(pipeline)
    later = periods.assign(period_start=periods["period_start"] + pd.Timedelta(weeks=1))
    with pytest.raises(ValueError, match="not weeks of that customer"):
        world_rows(kept, later, states, _key(pipeline))


def test_another_brand_is_an_error(pipeline: Path, kept: pd.DataFrame) -> None:
    states = read_truth(pipeline / "raw" / "truth").states
    brands = sorted(states["brand"].unique())
    other = kept.assign(brand=kept["brand"].map(lambda b: brands[(brands.index(b) + 1)
                                                                 % len(brands)]))
    with pytest.raises(ValueError, match="another brand"):
        world_rows(other, _periods(pipeline), states, _key(pipeline))


def test_estimate_with_another_worlds_truth_fails(pipeline: Path, tmp_path: Path) -> None:
    _run("simulate", "--out", tmp_path / "other", "--customers", "50", "--weeks", "12",
         "--seed", "6", "--no-truth-effects")
    result = CliRunner().invoke(app, [str(a) for a in (
        "estimate", pipeline / "processed", "--out", tmp_path / "results", "--no-event-studies",
        "--truth", tmp_path / "other" / "truth")])
    assert result.exit_code != 0
    assert "none of the world's customers" in result.output
    assert not (tmp_path / "results" / "design_truth.json").exists()
