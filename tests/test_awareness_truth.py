"""The design's truth with the awareness channel on (the direct effect, others as observed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import SimulateConfig
from complaintpanel.model import default_params
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.truth_effects import answer_effects, world_answer_effects
from complaintpanel.simulate.world import answer_rule

AWARENESS = 1.5


@pytest.fixture(scope="module")
def aware_world():
    return simulate_world(SimulateConfig(customers=300, weeks=8, seed=11,
                                         awareness_effect=AWARENESS))


def _one_cell(states: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """The largest brand-week group of complaint weeks with one answered status, and its shift.

    The shift is counted by hand: a × (the brand's customers active that week with an
    answered complaint, the customer excluded) / (its customers active that week).
    """
    last = states["period"].max()
    eligible = states[(states["complaints"] > 0) & (states["period"] < last)].copy()
    eligible["own"] = eligible["answered_complaints"] > 0
    key = eligible.groupby(["brand", "period", "own"]).size().idxmax()
    rows = eligible.set_index(["brand", "period", "own"]).loc[[key]].reset_index()
    brand, period, own = key
    week = states[(states["brand"] == brand) & (states["period"] == period)]
    others = int((week["answered_complaints"] > 0).sum()) - int(own)
    return rows[["customer_id", "period"]], AWARENESS * others / len(week)


def test_awareness_scales_the_first_lead_by_its_shift(aware_world) -> None:
    # In week t the state and redress of both arms do not depend on the awareness term; it
    # multiplies the complaint rate of both arms by exp(shift): the effect on complaints in
    # t+0 is exp(shift) times the effect without it, the compliments' is unchanged. Later
    # leads differ too (the term moves the complaints, hence the answers and transitions).
    rows, shift = _one_cell(aware_world.states)
    assert len(rows) >= 3 and shift > 0
    with_term = world_answer_effects(aware_world, horizon=2, draws=20, rows=rows)
    rule = answer_rule(aware_world.brands, aware_world.spec.endogenous_replies,
                       aware_world.params.n_states)
    without = answer_effects(aware_world.states, aware_world.params, rule,
                             [b.handle for b in aware_world.brands], horizon=2, draws=20,
                             seed=aware_world.spec.seed + 1, rows=rows)
    assert with_term.loc[0, "effect_complaints"] == pytest.approx(
        np.exp(shift) * without.loc[0, "effect_complaints"], rel=1e-12)
    assert with_term.loc[0, "mean_complaints_unanswered"] == pytest.approx(
        np.exp(shift) * without.loc[0, "mean_complaints_unanswered"], rel=1e-12)
    assert with_term.loc[0, "effect_compliments"] == without.loc[0, "effect_compliments"]
    assert with_term.loc[0, "effect_complaints"] != without.loc[0, "effect_complaints"]


def test_awareness_alone_has_no_direct_effect() -> None:
    # γ = δ = 0: answering a customer changes nothing for her; her awareness term excludes her
    # own answer, so the direct effect is exactly 0 with the term on.
    params = default_params().replace(gamma=0.0, delta=0.0)
    world = simulate_world(SimulateConfig(customers=200, weeks=6, seed=3,
                                          awareness_effect=AWARENESS), params=params)
    truth = world_answer_effects(world, horizon=1, draws=3)
    assert (truth["effect_complaints"] == 0.0).all()
    assert (truth["effect_compliments"] == 0.0).all()
    # the term is on: the arms' complaint levels differ from the world without it
    off = answer_effects(world.states, world.params,
                         answer_rule(world.brands, False, world.params.n_states),
                         [b.handle for b in world.brands], horizon=1, draws=3,
                         seed=world.spec.seed + 1)
    assert (truth["mean_complaints_answered"] > off["mean_complaints_answered"]).all()
