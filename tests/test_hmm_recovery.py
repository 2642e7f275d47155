"""Parameter recovery on the simulator's world (issue 8, item 6).

The default world (DESIGN.md §5) at 3,000 customers × 26 weeks is fitted once per module on the
panel of true voice counts (``truth/states``). Every parameter must lie within 3 standard errors
of the truth and both effects of a reply must be detected (95% intervals exclude 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

from complaintpanel import simulate
from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import RelationshipHMM
from complaintpanel.model import default_params

RECOVERY_CUSTOMERS = 3000


def _truth(extra: dict[str, float] | None = None) -> pd.Series:
    truth = default_params().reported()  # named as the estimator reports its parameters
    for name, value in (extra or {}).items():
        truth[name] = value
    return truth


@pytest.fixture(scope="module")
def default_world() -> simulate.World:
    return simulate.simulate_world(SimulateConfig(customers=RECOVERY_CUSTOMERS))


@pytest.fixture(scope="module")
def default_fit(default_world) -> RelationshipHMM:
    return RelationshipHMM(n_starts=2, random_state=0).fit(default_world.states)


def _within(results, truth: pd.Series, n_se: float = 3.0) -> pd.DataFrame:
    table = pd.DataFrame({"estimate": results.params, "se": results.bse,
                          "truth": truth.reindex(results.params.index)})
    table["z"] = (table["estimate"] - table["truth"]) / table["se"]
    return table


def test_every_parameter_within_three_standard_errors(default_fit):
    res = default_fit.results_
    table = _within(res, _truth())
    assert table["truth"].notna().all()
    assert res.converged and res.n_starts_converged >= 1
    assert (table["z"].abs() <= 3).all(), table


def test_both_effects_of_a_reply_are_detected(default_fit):
    ci = default_fit.results_.conf_int(0.05)
    assert ci.loc["gamma", "lower"] > 0  # squeaky wheel
    assert ci.loc["delta", "lower"] > 0  # relationship effect
    # standard errors of the size the reference implementation gave (DESIGN.md §5)
    assert default_fit.results_.bse["gamma"] < 0.04
    assert default_fit.results_.bse["delta"] < 0.10


def test_states_are_ordered_and_decoded(default_fit, default_world):
    assert np.all(np.diff(default_fit.complaint_log_rate_) < 0)
    states = default_world.states
    decoded = default_fit.decode(states)[1]
    merged = decoded.merge(states[["customer_id", "brand", "period", "state"]],
                           on=["customer_id", "brand", "period"], suffixes=("_hat", ""))
    assert len(merged) == len(states)
    accuracy = float((merged["state_hat"] == merged["state"]).mean())
    assert accuracy > 0.6, accuracy
    proba = default_fit.predict_proba(states)
    np.testing.assert_allclose(proba[["p_poor", "p_fair", "p_good"]].sum(axis=1), 1.0,
                               atol=1e-12)
    merged = proba.merge(states[["customer_id", "brand", "period", "state"]],
                         on=["customer_id", "brand", "period"])
    p_true = merged[["p_poor", "p_fair", "p_good"]].to_numpy()[
        np.arange(len(merged)), merged["state"].to_numpy()]
    assert p_true.mean() > 0.55


def test_results_round_trip_through_json(default_fit):
    from complaintpanel.hmm import RelationshipHMMResults

    res = default_fit.results_
    again = RelationshipHMMResults.from_dict(res.to_dict())
    pd.testing.assert_series_equal(again.params, res.params)
    pd.testing.assert_series_equal(again.bse, res.bse)
    assert again.bic == pytest.approx(res.bic)
    text = res.summary()
    assert "gamma" in text and "relationship effect" in text
    assert "tau[fair,1]" in res.to_markdown()
    assert r"\toprule" in res.to_latex()
    matrices = res.transition_matrices()
    assert set(matrices) == {"no_intervention", "intervention"}
    # an intervention moves mass to better states in every row
    better = matrices["intervention"].to_numpy()[:, -1] - matrices["no_intervention"].to_numpy()[
        :, -1]
    assert np.all(better > 0)


@pytest.mark.slow
def test_recovery_with_endogenous_replies_needs_the_reply_model():
    # Brands answer unhappy customers more: the reply itself carries information about the
    # state. Conditioning on what drives replies (the reply model) restores recovery.
    world = simulate.simulate_world(SimulateConfig(customers=RECOVERY_CUSTOMERS,
                                                   endogenous_replies=True))
    fit = RelationshipHMM(n_starts=2, random_state=0, reply_model=True).fit(world.states)
    shift = simulate.ENDOGENOUS_LOGIT_SHIFT
    extra = {f"rho[{b.handle}]": float(logit(b.reply_prob)) + shift for b in world.brands}
    extra.update({"psi[fair]": -shift, "psi[good]": -2 * shift})
    table = _within(fit.results_, _truth(extra))
    assert table["truth"].notna().all()
    assert (table["z"].abs() <= 3).all(), table
    assert fit.results_.conf_int().loc["delta", "lower"] > 0
