"""The rival mechanism: the simulator's awareness switch and the brand × period test."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import SimulateConfig
from complaintpanel.estimate.awareness import awareness_panel, awareness_test
from complaintpanel.simulate import simulate_world

step_module = importlib.import_module("complaintpanel.model.step")

TINY = SimulateConfig(customers=200, weeks=6, seed=21)
# Digest of TINY drawn by the code before the awareness switch existed (commit 332bad0).
TINY_DIGEST = "b90b03d4d2a51efd01d670825ffb24ae8f5238bb2f2fd6fe051fc307256281d7"


def _digest(world) -> str:
    h = hashlib.sha256()
    h.update(world.states[["state", "complaints", "compliments", "neutral",
                           "answered_complaints"]].to_numpy(dtype=np.int64).tobytes())
    h.update("\n".join(world.tweets["text"]).encode())
    h.update(world.tweets["tweet_id"].to_numpy(dtype=np.int64).tobytes())
    return h.hexdigest()


def test_awareness_zero_leaves_the_world_bit_identical() -> None:
    world = simulate_world(dataclasses.replace(TINY, awareness_effect=0.0))
    assert _digest(world) == TINY_DIGEST
    assert "awareness_effect" not in world.truth_dict()["world"]  # type: ignore[operator]


def test_awareness_changes_the_world_and_is_recorded() -> None:
    world = simulate_world(dataclasses.replace(TINY, awareness_effect=1.0))
    assert _digest(world) != TINY_DIGEST
    truth = world.truth_dict()
    assert truth["world"]["awareness_effect"] == 1.0  # type: ignore[index]
    assert truth["behaviour"]["awareness"]["effect"] == 1.0  # type: ignore[index]


def test_others_answered_known_answer() -> None:
    # brand 0: three active customers, two answered; brand 1: one active (answered), one not
    # yet arrived. Each customer sees the brand's answered customers other than herself.
    brand = np.array([0, 0, 0, 1, 1])
    active = np.array([True, True, True, True, False])
    answered = np.array([1.0, 0.0, 1.0, 1.0])
    shares = step_module._others_answered(brand, active, answered)
    np.testing.assert_allclose(shares, [1 / 3, 2 / 3, 1 / 3, 0.0, 1.0])


def _constructed_panel(effect: float, seed: int) -> pd.DataFrame:
    """Brands × periods of customers whose complaints rise linearly with last period's share.

    Customer i of brand b complains ~ Poisson(m_b + effect · A_b,t−1) in t, with A the share
    of the brand's customers answered in t−1; each complaint is answered with the brand's
    probability. A silent customer's expected complaints in t+1 are exactly m_b + effect · A_bt.
    """
    rng = np.random.default_rng(seed)
    n_brands, n_periods, per_brand = 8, 40, 250
    reply_prob = np.linspace(0.2, 0.8, n_brands)
    base = np.linspace(0.3, 0.6, n_brands)
    brand = np.repeat(np.arange(n_brands), per_brand)
    share = np.zeros(n_brands)
    rows = []
    for t in range(n_periods):
        complaints = rng.poisson(base[brand] + effect * share[brand])
        answered = rng.binomial(complaints, reply_prob[brand])
        rows.append(pd.DataFrame({"customer_id": np.arange(brand.size).astype(str),
                                  "brand": brand.astype(str), "period": t,
                                  "complaints": complaints, "answered_complaints": answered}))
        share = np.bincount(brand, weights=answered > 0) / per_brand
    data = pd.concat(rows, ignore_index=True)
    data["replies"] = data["answered_complaints"]
    data["replies_before"] = (data.groupby("customer_id")["replies"].cumsum()
                              - data["replies"])
    return data


@pytest.fixture(scope="module")
def with_effect() -> pd.DataFrame:
    return _constructed_panel(effect=0.8, seed=1)


def test_awareness_panel_cells(with_effect: pd.DataFrame) -> None:
    cells = awareness_panel(with_effect)
    assert len(cells) == 8 * 39  # every brand and period with a next period
    first = cells.iloc[0]
    rows = with_effect[(with_effect["brand"] == first["brand"])
                       & (with_effect["period"] == first["period"])]
    # A: the share of the brand's customers answered (not answered complaints per customer)
    shares = (with_effect.assign(answered=with_effect["answered_complaints"] > 0)
              .groupby(["brand", "period"])["answered"].mean())
    expected = shares.loc[list(zip(cells["brand"], cells["period"], strict=True))]
    np.testing.assert_allclose(cells["answered_per_customer"], expected.to_numpy())
    silent = rows[(rows["complaints"] == 0) & (rows["replies"] == 0)]["customer_id"]
    later = with_effect[(with_effect["brand"] == first["brand"])
                        & (with_effect["period"] == first["period"] + 1)]
    assert first["outcome"] == pytest.approx(
        later[later["customer_id"].isin(silent)]["complaints"].mean())


def test_awareness_test_recovers_a_known_effect(with_effect: pd.DataFrame) -> None:
    result = awareness_test(with_effect, draws=499)
    term = result.terms.iloc[0]
    estimate = float(result.params.iloc[0])
    # the randomisation interval covers the effect and excludes 0
    assert term["ci_lower_randomisation"] <= 0.8 <= term["ci_upper_randomisation"]
    assert term["ci_lower_randomisation"] > 0 and term["pvalue_randomisation"] < 0.01
    assert abs(estimate - 0.8) < 3 * float(result.bse.iloc[0])


def test_awareness_test_without_an_effect() -> None:
    result = awareness_test(_constructed_panel(effect=0.0, seed=2), draws=499)
    term = result.terms.iloc[0]
    assert term["ci_lower_randomisation"] <= 0.0 <= term["ci_upper_randomisation"]
    assert term["pvalue_randomisation"] > 0.05
