"""The simulator's customer random effects (issue 16): off by default, drawn as asked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import SimulateConfig
from complaintpanel.model import default_params
from complaintpanel.simulate import simulate_world, write_world
from complaintpanel.simulate.world import customer_effects

# sha256 of pd.util.hash_pandas_object(states / tweets) for SimulateConfig(customers=300,
# seed=7), computed with main at e85e183, before the random effects existed.
MAIN_STATES_SHA = "782dc59bbeb1f9bdaf67e677a3fb2b3657b3e769ee9b44ddf9d3b43d5727aab2"
MAIN_TWEETS_SHA = "c628446e9d34144e73428b473ebe3f63d1c7979a4f2acb44eb965e916929cc1a"


def _sha(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy()
                          .tobytes()).hexdigest()


def test_default_world_is_bit_identical_to_main() -> None:
    world = simulate_world(SimulateConfig(customers=300, seed=7))
    assert world.customers is None
    assert _sha(world.states) == MAIN_STATES_SHA
    assert _sha(world.tweets) == MAIN_TWEETS_SHA


def test_effects_have_the_asked_sd_and_correlation() -> None:
    spec = SimulateConfig(customers=20_000, seed=3, complaint_re_sd=0.6,
                          compliment_re_sd=0.4, re_corr=0.5)
    effects = customer_effects(spec)
    assert effects is not None and effects.shape == (20_000, 2)
    sd = effects.std(axis=0)
    # sd of a normal sample's sd ≈ σ/√(2n): 0.003 and 0.002 here; 4 SE
    assert abs(sd[0] - 0.6) < 4 * 0.6 / np.sqrt(40_000)
    assert abs(sd[1] - 0.4) < 4 * 0.4 / np.sqrt(40_000)
    # sd of a sample correlation ≈ (1 − ρ²)/√n = 0.0053
    assert abs(np.corrcoef(effects.T)[0, 1] - 0.5) < 4 * 0.75 / np.sqrt(20_000)
    assert customer_effects(SimulateConfig(customers=10)) is None


@pytest.mark.parametrize("setting", [{"complaint_re_sd": -0.1}, {"re_corr": 1.5}])
def test_bad_settings_are_refused(setting: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"\[simulate\]"):
        SimulateConfig(**setting)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def heterogeneous_world():  # type: ignore[no-untyped-def]
    return simulate_world(SimulateConfig(customers=1500, seed=5, weeks=20,
                                         complaint_re_sd=0.8, compliment_re_sd=0.5,
                                         re_corr=0.5))


def test_effects_multiply_the_true_voice_rates(heterogeneous_world) -> None:  # type: ignore[no-untyped-def]
    """Observed / expected counts are 1 with the effects and far from 1 without them.

    Periods after arrival (the first is conditioned on voice); expected counts
    ``exp(a_s + γR + u_c)`` and ``exp(c_s + u_p)`` from the true states and effects.
    """
    world = heterogeneous_world
    params = default_params()
    frame = world.states.merge(world.customers, on=["customer_id", "brand"])
    later = frame[frame["period"] > frame["arrival"]]
    state = later["state"].to_numpy()
    base_c = np.exp(params.a[state] + params.gamma * later["redress"].to_numpy())
    base_p = np.exp(params.c[state])
    loud = later["complaint_effect"].to_numpy() > 0
    for counts, base, effect in (
            (later["complaints"].to_numpy(), base_c, later["complaint_effect"].to_numpy()),
            (later["compliments"].to_numpy(), base_p, later["compliment_effect"].to_numpy())):
        expected = base * np.exp(effect)
        for group in (loud, ~loud):
            ratio = counts[group].sum() / expected[group].sum()
            se = 1 / np.sqrt(expected[group].sum())  # Poisson
            assert abs(ratio - 1) < 4 * se, ratio
        # ignoring the effects, the loud half writes far more than the homogeneous rate
        ratio_loud = counts[loud].sum() / base[loud].sum()
        assert ratio_loud > 1.2


def test_truth_files_record_the_effects(heterogeneous_world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world = heterogeneous_world
    written = write_world(world, tmp_path, truth_effects=False)
    customers = pd.read_parquet(written["customers"])
    assert len(customers) == 1500
    assert list(customers.columns) == ["customer_id", "brand", "arrival", "complaint_effect",
                                       "compliment_effect"]
    assert set(customers["customer_id"]) == set(world.states["customer_id"])
    truth = json.loads((tmp_path / "truth" / "params.json").read_text())
    assert truth["heterogeneity"]["complaint_re_sd"] == 0.8
    assert truth["world"]["re_corr"] == 0.5
    # the default world writes no customers table
    default_dir = tmp_path / "default"
    written = write_world(simulate_world(SimulateConfig(customers=50, seed=1)), default_dir,
                          truth_effects=False)
    assert "customers" not in written
    assert not (default_dir / "truth" / "customers.parquet").exists()


# ------------------------------------------------------------------ latent classes in δ
@pytest.fixture(scope="module")
def class_world():  # type: ignore[no-untyped-def]
    return simulate_world(SimulateConfig(customers=1500, seed=5, weeks=20,
                                         delta_classes=(0.4, 2.0),
                                         delta_class_shares=(0.3, 0.7)))


def test_delta_classes_move_the_transitions(class_world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Each class moves up after an intervention as its own δ says (known answer).

    For each customer-week with an intervention and a next week, the true probability of
    moving up is ``1 − P(s' ≤ s | s)`` under ``τ_s· − δ_c − η·peer``; the observed share of
    moves up matches it within 4 binomial SE in each class, and the classes differ.
    """
    from complaintpanel.model import transition_matrices

    world = class_world
    customers = world.customers
    assert list(customers.columns) == ["customer_id", "brand", "arrival", "delta_class",
                                       "delta"]
    # shares 0.3 / 0.7 over 1,500 customers: SE 0.012
    assert abs((customers["delta_class"] == 0).mean() - 0.3) < 4 * np.sqrt(0.21 / 1500)
    assert set(customers["delta"]) == {0.4, 2.0}
    params = default_params()
    frame = world.states.merge(customers[["customer_id", "delta"]], on="customer_id")
    frame["next_state"] = frame.groupby("customer_id")["state"].shift(-1)
    rows = frame[(frame["intervened"] == 1) & frame["next_state"].notna()]
    shift = rows["delta"].to_numpy() + params.eta * rows["peer_voice"].to_numpy()
    state = rows["state"].to_numpy().astype(int)
    probs = transition_matrices(params.tau, shift)[np.arange(len(rows)), state]
    p_up = np.array([probs[i, state[i] + 1:].sum() for i in range(len(rows))])
    up = (rows["next_state"].to_numpy() > state).astype(float)
    shares = {}
    for value in (0.4, 2.0):
        group = rows["delta"].to_numpy() == value
        se = np.sqrt((p_up[group] * (1 - p_up[group])).sum()) / group.sum()
        assert abs(up[group].mean() - p_up[group].mean()) < 4 * se
        shares[value] = up[group].mean()
    assert shares[2.0] > shares[0.4] + 0.1
    written = write_world(world, tmp_path, truth_effects=False)
    assert pd.read_parquet(written["customers"])["delta_class"].tolist() == \
        customers["delta_class"].tolist()
    truth = json.loads((tmp_path / "truth" / "params.json").read_text())
    assert truth["heterogeneity"]["delta_classes"] == [0.4, 2.0]


@pytest.mark.parametrize("setting", [{"delta_classes": (0.4, 2.0), "delta_class_shares": (1.0,)},
                                     {"delta_classes": (0.4, 2.0),
                                      "delta_class_shares": (0.6, 0.6)}])
def test_bad_class_settings_are_refused(setting: dict[str, tuple[float, ...]]) -> None:
    with pytest.raises(ValueError, match=r"\[simulate\] delta_class_shares"):
        SimulateConfig(**setting)  # type: ignore[arg-type]
