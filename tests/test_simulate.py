"""The simulator: TWCS format, thread links, determinism, and that it draws from the model."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.config import SimulateConfig
from complaintpanel.model import add_hmm_covariates, default_params, transition_matrices
from complaintpanel.simulate import TWCS_COLUMNS, simulate_world, write_world

SMALL = SimulateConfig(customers=300, brands=3, weeks=10, seed=11)


@pytest.fixture(scope="module")
def small_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    result = CliRunner().invoke(app, ["simulate", "--out", str(out), "--customers", "300",
                                      "--weeks", "10", "--seed", "11"])
    assert result.exit_code == 0, result.output
    assert "simulate:" in result.output
    return out


@pytest.fixture(scope="module")
def records(small_world_dir: Path) -> list[dict[str, str]]:
    with open(small_world_dir / "twcs.csv", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        assert header == list(TWCS_COLUMNS)
        rows = list(reader)
    assert all(len(row) == 7 for row in rows)
    return [dict(zip(header, row, strict=True)) for row in rows]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(small_world_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--customers", "300",
                                      "--weeks", "10", "--seed", "11"])
    assert result.exit_code == 0, result.output
    assert _digest(tmp_path) == _digest(small_world_dir)
    assert set(_digest(tmp_path)) == {"twcs.csv", "truth/params.json", "truth/states.parquet",
                                      "truth/voice.parquet", "truth/answer_effects.json"}


def test_other_seed_gives_another_world(tmp_path: Path) -> None:
    a = simulate_world(SMALL)
    b = simulate_world(dataclasses.replace(SMALL, seed=12))
    assert not a.states[["complaints"]].equals(b.states[["complaints"]])


def test_csv_is_twcs_format(records: list[dict[str, str]]) -> None:
    assert {r["inbound"] for r in records} == {"True", "False"}
    # TWCS's own timestamp format, e.g. "Tue Oct 31 22:10:47 +0000 2017"
    parsed = pd.to_datetime([r["created_at"] for r in records], format="%a %b %d %H:%M:%S %z %Y")
    assert parsed.notna().all()
    replies = [r["in_response_to_tweet_id"] for r in records if r["in_response_to_tweet_id"]]
    assert replies and all(v.endswith(".0") for v in replies)  # floats, as in the Kaggle file
    assert any("," in r["response_tweet_id"] for r in records)  # multi-id response lists
    assert any("\n" in r["text"] for r in records)  # quoted line breaks survive
    ids = [int(r["tweet_id"]) for r in records]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_thread_links_exist_and_agree_both_ways(records: list[dict[str, str]]) -> None:
    by_id = {int(r["tweet_id"]): r for r in records}
    forward: set[tuple[int, int]] = set()
    for r in records:
        if r["in_response_to_tweet_id"]:
            parent = int(float(r["in_response_to_tweet_id"]))
            assert parent in by_id
            forward.add((parent, int(r["tweet_id"])))
    backward = {(int(r["tweet_id"]), int(child)) for r in records if r["response_tweet_id"]
                for child in r["response_tweet_id"].split(",")}
    assert all(child in by_id for _, child in backward)
    assert forward == backward
    # Brands only answer customers; a reply is never earlier than its parent.
    for parent, child in forward:
        assert by_id[parent]["created_at"] and int(child) > parent
        if by_id[child]["inbound"] == "False":
            assert by_id[parent]["inbound"] == "True"


def test_truth_agrees_with_csv(small_world_dir: Path, records: list[dict[str, str]]) -> None:
    states = pd.read_parquet(small_world_dir / "truth" / "states.parquet")
    voice = pd.read_parquet(small_world_dir / "truth" / "voice.parquet")
    customer = pd.DataFrame([r for r in records if r["inbound"] == "True"])
    created = pd.to_datetime(customer["created_at"], format="%a %b %d %H:%M:%S %z %Y")
    start = pd.Timestamp(SMALL.start_date, tz="UTC")
    customer["period"] = (created - start).dt.days // 7
    from_csv = customer.groupby(["author_id", "period"]).size()
    from_truth = states.set_index(["customer_id", "period"])["tweets"]
    from_truth = from_truth[from_truth > 0]
    from_csv.index = from_csv.index.set_names(["customer_id", "period"])
    pd.testing.assert_series_equal(from_csv.sort_index(), from_truth.sort_index(),
                                   check_names=False, check_dtype=False,
                                   check_index_type=False)
    assert set(voice["tweet_id"]) == set(customer["tweet_id"].astype(int))
    per_voice = (voice.groupby(["customer_id", "period", "voice"]).size()
                 .unstack(fill_value=0).add_suffix("_tweets"))
    merged = states.set_index(["customer_id", "period"]).join(per_voice, how="left").fillna(0)
    assert (merged["complaints"] == merged["complaint_tweets"]).all()
    assert (merged["compliments"] == merged["compliment_tweets"]).all()
    assert (merged["neutral"] == merged["neutral_tweets"]).all()


def test_first_contact_and_covariates_follow_the_documented_definitions() -> None:
    world = simulate_world(SMALL)
    states = world.states
    first = states.groupby("customer_id")["period"].transform("min") == states["period"]
    assert ((states.loc[first, "complaints"] + states.loc[first, "compliments"]) >= 1).all()
    assert (states.loc[first, "redress"] == 0).all()
    recomputed = add_hmm_covariates(states.drop(columns=["intervened", "redress", "peer_voice"]))
    expected = states.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)
    for column in ("intervened", "redress"):
        np.testing.assert_array_equal(recomputed[column], expected[column])
    np.testing.assert_allclose(recomputed["peer_voice"], expected["peer_voice"], atol=1e-12)
    # Every customer stays to the end of the window once she has arrived.
    span = states.groupby("customer_id")["period"].agg(["min", "max", "size"])
    assert (span["max"] == SMALL.weeks - 1).all()
    assert (span["size"] == span["max"] - span["min"] + 1).all()


@pytest.fixture(scope="module")
def large_world():
    # η = 0 so that transitions depend on the intervention alone and can be tabulated.
    params = default_params().replace(eta=0.0)
    return simulate_world(SimulateConfig(customers=20_000, weeks=12, seed=5), params)


def test_emission_rates_match_the_model(large_world) -> None:
    """Complaints, compliments, neutral per state and redress: exp(a_k + γR), exp(c_k), exp(n_k)."""
    params = large_world.params
    states = large_world.states
    later = states[states.groupby("customer_id")["period"].transform("min") < states["period"]]
    for (state, redress), cell in later.groupby(["state", "redress"]):
        expected = np.exp(params.a[state] + params.gamma * redress)
        se = np.sqrt(expected / len(cell))
        assert abs(cell["complaints"].mean() - expected) < 4 * se, (state, redress)
    for state, cell in later.groupby("state"):
        expected = np.exp(params.c[state])
        assert abs(cell["compliments"].mean() - expected) < 4 * np.sqrt(expected / len(cell))
        expected = np.exp(params.neutral[state])
        assert abs(cell["neutral"].mean() - expected) < 4 * np.sqrt(expected / len(cell))


def test_transitions_match_the_ordered_logit(large_world) -> None:
    params = large_world.params
    states = large_world.states.sort_values(["customer_id", "period"])
    nxt = states.groupby("customer_id")["state"].shift(-1)
    pairs = states.assign(next_state=nxt).dropna(subset=["next_state"])
    for intervened in (0, 1):
        expected = transition_matrices(params.tau, params.delta * intervened)
        sub = pairs[pairs["intervened"] == intervened]
        counts = pd.crosstab(sub["state"], sub["next_state"]).reindex(
            index=range(3), columns=range(3), fill_value=0).to_numpy()
        n_rows = counts.sum(axis=1, keepdims=True)
        se = np.sqrt(expected * (1 - expected) / np.maximum(n_rows, 1))
        assert np.all(np.abs(counts / n_rows - expected) < 4 * se + 1e-3), intervened


def test_brands_answer_at_their_own_rates(large_world) -> None:
    states = large_world.states
    by_brand = states.groupby("brand")[["answered_complaints", "complaints"]].sum()
    rates = by_brand["answered_complaints"] / by_brand["complaints"]
    for policy in large_world.brands:
        assert rates[policy.handle] == pytest.approx(policy.reply_prob, abs=0.01)


def test_default_world_has_the_documented_activity() -> None:
    """DESIGN.md §5: about 0.5 complaints and 0.3 compliments per customer-week, ~19% I."""
    world = simulate_world(SimulateConfig(customers=2000, seed=3))
    summary = world.states[["complaints", "compliments", "intervened"]].mean()
    assert 0.4 < summary["complaints"] < 0.75
    assert 0.2 < summary["compliments"] < 0.4
    assert 0.14 < summary["intervened"] < 0.26


def test_endogenous_replies_favour_the_worst_state() -> None:
    world = simulate_world(dataclasses.replace(SMALL, customers=3000, endogenous_replies=True))
    states = world.states[world.states["complaints"] > 0]
    share = (states["answered_complaints"] / states["complaints"]).groupby(states["state"]).mean()
    assert share[0] > share[1] > share[2]


def test_write_world_roundtrip(tmp_path: Path) -> None:
    world = simulate_world(SMALL)
    paths = write_world(world, tmp_path)
    assert paths["twcs"].stat().st_mode & 0o044  # readable by others, not mkstemp's 0600
    roundtrip = pd.read_parquet(paths["states"])
    pd.testing.assert_frame_equal(roundtrip, world.states, check_dtype=False)


def test_invalid_world_is_refused() -> None:
    with pytest.raises(ValueError, match="Monday"):
        simulate_world(dataclasses.replace(SMALL, start_date="2017-06-06"))
    with pytest.raises(ValueError, match="brands"):
        simulate_world(dataclasses.replace(SMALL, brands=0))


def _effects(**changes: float) -> pd.DataFrame:
    params = default_params().replace(**changes)
    world = simulate_world(dataclasses.replace(SMALL, customers=800), params)
    return world.answer_effects(horizon=2, draws=5)


def test_answer_effects_vanish_without_either_channel() -> None:
    effects = _effects(gamma=0.0, delta=0.0)
    # Common random numbers: with nothing for the answer to change, both arms are identical.
    assert (effects["effect_complaints"] == 0).all()
    assert (effects["effect_compliments"] == 0).all()


def test_answer_effects_have_the_sign_of_each_channel() -> None:
    squeaky = _effects(delta=0.0)  # redress only: more complaints, compliments untouched
    assert (squeaky["effect_complaints"] > 0).all()
    assert (squeaky["effect_compliments"] == 0).all()
    relationship = _effects(gamma=0.0)  # better state only: fewer complaints, more compliments
    assert (relationship["effect_complaints"] < 0).all()
    assert (relationship["effect_compliments"] > 0).all()


def test_default_world_answer_effect_matches_the_design_calibration() -> None:
    """DESIGN.md §5: about −0.13 complaints next week (the relationship outweighs γ)."""
    world = simulate_world(SimulateConfig(customers=2000, seed=9))
    effects = world.answer_effects(horizon=1, draws=10)
    lead0 = effects.loc[effects["lead"] == 0].iloc[0]
    assert -0.17 < lead0["effect_complaints"] < -0.09
    assert lead0["effect_compliments"] > 0
    assert lead0["n_eligible"] > 1000
