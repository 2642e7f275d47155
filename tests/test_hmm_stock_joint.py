"""The redress decay ρ inside θ (issue 16): joint likelihood, gradient and standard errors."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from complaintpanel.hmm import RelationshipHMM
from complaintpanel.hmm.data import prepare_panel
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.redress import JointDecay
from complaintpanel.hmm.sampling import sample_panel
from complaintpanel.model import ModelSpec, default_params

RHO = 0.7


@pytest.fixture(scope="module")
def stock_panel() -> pd.DataFrame:
    params = default_params()
    params = dataclasses.replace(params, spec=dataclasses.replace(params.spec,
                                                                  redress_decay=RHO))
    return sample_panel(params, 500, 16, random_state=11).drop(columns=["redress"])


@pytest.fixture(scope="module")
def answered_before_first_contact(stock_panel: pd.DataFrame) -> pd.DataFrame:
    """The panel with silent leading weeks, some of them answered, before 60 customers' voice.

    First contact drops those weeks, but their answers stay in the stock the first kept week
    inherits (``R_0 = Σ ρ^e I``): the path the joint stock takes through the dropped history.
    """
    rng = np.random.default_rng(5)
    first = stock_panel.groupby("customer_id")["period"].transform("min")
    customers = stock_panel.loc[first >= 3, "customer_id"].unique()[:60]
    rows = []
    for customer in customers:
        start = int(first[stock_panel["customer_id"] == customer].iloc[0])
        brand = stock_panel.loc[stock_panel["customer_id"] == customer, "brand"].iloc[0]
        for period in range(start - 3, start):
            rows.append({"customer_id": customer, "brand": brand, "period": period,
                         "complaints": 0, "compliments": 0,
                         "answered_complaints": int(rng.integers(0, 2)),
                         "peer_complaints": 0, "peer_compliments": 0})
    columns = ["customer_id", "brand", "period", "complaints", "compliments",
               "answered_complaints", "peer_complaints", "peer_compliments"]
    panel = pd.concat([stock_panel[columns], pd.DataFrame(rows)], ignore_index=True)
    return panel.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)


def _joint(panel: pd.DataFrame, chunk_size: int = 150) -> tuple[JointDecay, np.ndarray]:
    spec = ModelSpec(redress_decay=0.5)  # the ρ of the preparation is not used
    layout = ParamLayout(spec)
    joint = JointDecay(layout, prepare_panel(panel, spec), panel, chunk_size=chunk_size)
    return joint, layout.from_natural(default_params().with_spec(spec))


@pytest.mark.parametrize("panel_name", ["stock_panel", "answered_before_first_contact"])
def test_joint_likelihood_at_fixed_rho_equals_the_prepared_stock(panel_name, request) -> None:
    panel = request.getfixturevalue(panel_name)
    joint, theta = _joint(panel)
    for rho in (0.3, RHO, 1.0):
        spec = ModelSpec(redress_decay=rho)
        data = prepare_panel(panel, spec)
        fixed = evaluate(theta, ParamLayout(spec), data.chunks(150))
        ev = joint.evaluate(np.append(theta, rho), scores=True)
        assert ev.loglik == pytest.approx(fixed.loglik, rel=1e-13, abs=1e-9)
        np.testing.assert_allclose(ev.loglik_seq, fixed.loglik_seq, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(ev.gradient()[:-1], fixed.gradient(), rtol=1e-10,
                                   atol=1e-8)
        assert ev.scores is not None
        np.testing.assert_allclose(ev.scores.sum(axis=1), ev.gradient(), atol=1e-8)
        assert ev.grad is not None and abs(ev.grad[-1]) > 1.0  # ρ moves the likelihood
        # gradient=False gives the same value
        assert joint.evaluate(np.append(theta, rho), gradient=False).loglik == ev.loglik
    if panel_name == "answered_before_first_contact":
        data = prepare_panel(panel, ModelSpec(redress_decay=RHO))
        assert data.dropped_rows >= 180  # the silent weeks were dropped ...
        stock, _ = JointDecay.stock(joint.pieces[0], RHO)
        assert np.sum(stock[0] > 0) > 20  # ... but their answers start the stock


@pytest.mark.parametrize("panel_name", ["stock_panel", "answered_before_first_contact"])
def test_joint_gradient_matches_finite_differences(panel_name, request) -> None:
    panel = request.getfixturevalue(panel_name)
    joint, theta = _joint(panel)
    for rho in (0.45, 0.95):
        point = np.append(theta, rho)
        analytic = joint.evaluate(point).gradient()
        numeric = np.empty_like(point)
        step = 1e-6
        for i in range(point.size):
            up, down = point.copy(), point.copy()
            up[i] += step
            down[i] -= step
            numeric[i] = (joint.evaluate(up, gradient=False).loglik
                          - joint.evaluate(down, gradient=False).loglik) / (2 * step)
        assert abs(numeric[-1]) > 1.0
        assert abs(analytic[-1] - numeric[-1]) < 1e-5 * (1 + abs(numeric[-1])), rho
        assert np.max(np.abs(analytic - numeric) / (1 + np.abs(numeric))) < 1e-5


@pytest.fixture(scope="module")
def joint_fit(stock_panel: pd.DataFrame) -> RelationshipHMM:
    return RelationshipHMM(n_starts=1, random_state=0, redress="stock").fit(stock_panel)


def test_joint_fit_recovers_rho_gamma_delta_with_joint_errors(joint_fit, stock_panel) -> None:
    res = joint_fit.results_
    info = res.extra["redress"]
    rho_hat, se = info["decay"], info["se"]
    assert info["estimated"] and info["method"].startswith("joint")
    assert 0 < se < 0.1 and not info["at_bound"]
    assert abs(rho_hat - RHO) < 3 * se
    assert info["conf_int_95"] == pytest.approx([rho_hat - 1.96 * se, rho_hat + 1.96 * se],
                                                abs=1e-3)
    truth = default_params()
    for name, value in (("gamma", truth.gamma), ("delta", truth.delta)):
        assert abs(res.params[name] - value) < 3 * res.bse[name], name
    # the reported fit is the optimum at ρ̂, with ρ counted as a parameter
    layout = ParamLayout(res.spec)
    assert res.spec.redress_decay == rho_hat
    data = prepare_panel(stock_panel, res.spec)
    assert res.loglike == pytest.approx(evaluate(res.theta, layout, data.chunks(4096),
                                                 gradient=False).loglik, abs=1e-8)
    assert res.n_params == layout.n_params + 1 and res.converged
    # the joint errors carry ρ's uncertainty: γ's (which trades off against ρ) grows
    fixed = RelationshipHMM(n_starts=1, random_state=0, redress="stock",
                            redress_decay=rho_hat).fit(stock_panel).results_
    assert fixed.loglike == pytest.approx(res.loglike, abs=1e-3)
    assert res.bse["gamma"] > 1.1 * fixed.bse["gamma"]
    assert res.bse["delta"] >= fixed.bse["delta"] * (1 - 1e-6)
    assert f"rho-hat = {rho_hat:.3f} (SE {se:.3f})" in res.summary()
    assert f"rho-hat = {rho_hat:.3f} (SE {se:.3f})" in res.to_markdown()
    assert (f"Redress decay $\\hat\\rho$ & {rho_hat:.3f} & {se:.3f} & "
            "[{:.3f}, {:.3f}]".format(*info["conf_int_95"])) in res.to_latex()
    stored = json.loads(json.dumps(res.to_dict()))
    assert stored["extra"]["redress"]["se"] == se
    assert stored["extra"]["redress"]["bse_conditional"]["gamma"] == pytest.approx(
        fixed.bse["gamma"], rel=1e-3)


def test_joint_rho_variance_is_the_inverse_profile_curvature(joint_fit, stock_panel) -> None:
    # 1 / Var(ρ̂) from the joint information is −∂²ℓ_p/∂ρ² of the profile likelihood
    # (I_ρρ − I_ρθ I_θθ⁻¹ I_θρ): refit θ at ρ̂ ± h and difference the profile.
    res = joint_fit.results_
    rho_hat, se = res.extra["redress"]["decay"], res.extra["redress"]["se"]
    h = 0.02
    values = []
    for rho in (rho_hat - h, rho_hat + h):
        fit = RelationshipHMM(n_starts=1, random_state=0, redress="stock",
                              redress_decay=rho).fit(stock_panel)
        values.append(fit.results_.loglike)
    curvature = -(values[0] - 2 * res.loglike + values[1]) / h**2
    assert curvature > 0
    assert 1 / se**2 == pytest.approx(curvature, rel=0.01)


def test_joint_refusals_and_profile_option(stock_panel) -> None:
    small = stock_panel[stock_panel["customer_id"].isin(
        stock_panel["customer_id"].unique()[:120])]
    with pytest.raises(NotImplementedError, match="random intercepts"):
        RelationshipHMM(redress="stock", heterogeneity="random_intercepts").fit(small)
    with pytest.raises(ValueError, match="bootstrap"):
        RelationshipHMM(redress="stock", cov_type="bootstrap").fit(small)
    with pytest.raises(ValueError, match="redress_decay_method"):
        RelationshipHMM(redress="stock", redress_decay_method="grid").fit(small)
    assert RelationshipHMM(redress="stock").get_params()["redress_decay_method"] == "joint"


def test_joint_clustered_sandwich_is_close_to_the_information(joint_fit, stock_panel) -> None:
    # A correctly specified model: the customer-clustered sandwich with the joint scores
    # estimates the same variances as the inverse joint information (up to sampling noise).
    robust = RelationshipHMM(n_starts=1, random_state=0, redress="stock",
                             cov_type="robust").fit(stock_panel).results_
    oim = joint_fit.results_
    assert robust.cov_type == "robust"
    assert robust.extra["redress"]["decay"] == pytest.approx(oim.extra["redress"]["decay"],
                                                             abs=1e-6)
    ratio = robust.extra["redress"]["se"] / oim.extra["redress"]["se"]
    assert 0.75 < ratio < 1.33, ratio
    for name in ("gamma", "delta"):
        assert 0.75 < robust.bse[name] / oim.bse[name] < 1.33, name
