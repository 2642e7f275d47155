"""The decaying redress stock (issue 16): simulator, panel covariate and estimator."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.config import HMMConfig, SimulateConfig
from complaintpanel.hmm import RelationshipHMM
from complaintpanel.hmm.data import prepare_panel
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.redress import LR_CUT_95, profile_decay
from complaintpanel.hmm.sampling import sample_panel
from complaintpanel.model import (
    ModelSpec,
    add_hmm_covariates,
    default_params,
    redress_stock,
    update_redress,
)
from complaintpanel.simulate import simulate_world

RHO = 0.7


def _brute_force_stock(frame: pd.DataFrame, rho: float) -> np.ndarray:
    """``R_t = Σ_{s<t} ρ^{t−1−s} I_s`` summed literally over each sequence's earlier rows."""
    out = np.zeros(len(frame))
    for _, rows in frame.groupby(["customer_id", "brand"], sort=False).groups.items():
        periods = frame.loc[rows, "period"].to_numpy()
        answered = frame.loc[rows, "intervened"].to_numpy()
        for j, row in enumerate(rows):
            out[row] = sum(rho ** (periods[j] - 1 - periods[i]) * answered[i]
                           for i in range(j))
    return out


@pytest.fixture(scope="module")
def random_frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    parts = []
    for c in range(40):
        periods = np.sort(rng.choice(20, size=rng.integers(1, 12), replace=False))
        parts.append(pd.DataFrame({"customer_id": f"c{c:02d}", "brand": "b", "period": periods,
                                   "intervened": rng.integers(0, 2, periods.size)}))
    return pd.concat(parts, ignore_index=True)  # sorted by customer and period, with gaps


def test_stock_recursion_matches_brute_force_sum(random_frame: pd.DataFrame) -> None:
    for rho in (0.3, RHO, 1.0):
        np.testing.assert_allclose(redress_stock(random_frame, rho),
                                   _brute_force_stock(random_frame, rho), rtol=1e-12, atol=0)
    # the simulator's one-period update gives the same stock on a gap-free history
    answered = np.array([[2, 0, 1, 0, 0, 3, 0], [0, 0, 0, 1, 1, 0, 0]])
    stock, frames = np.zeros(2), []
    for t in range(answered.shape[1]):
        frames.append(stock.copy())
        stock = update_redress(stock, answered[:, t], RHO)
    frame = pd.DataFrame({"customer_id": np.repeat(["x", "y"], 7), "brand": "b",
                          "period": np.tile(np.arange(7), 2),
                          "intervened": (answered.ravel() > 0).astype(int)})
    np.testing.assert_allclose(np.array(frames).T.ravel(), _brute_force_stock(frame, RHO))


@pytest.fixture(scope="module")
def stock_panel() -> pd.DataFrame:
    params = default_params()
    params = dataclasses.replace(params, spec=dataclasses.replace(params.spec,
                                                                  redress_decay=RHO))
    return sample_panel(params, 500, 16, random_state=11)


def test_rho_one_with_one_answer_reproduces_binary(stock_panel: pd.DataFrame) -> None:
    # Keep each customer's first answered period only: then the undecayed stock is the
    # binary "answered before" indicator, and the two models' likelihoods agree exactly.
    panel = stock_panel.drop(columns=["redress", "intervened"]).copy()
    answered = panel["answered_complaints"] > 0
    first = answered & (answered.groupby(panel["customer_id"]).cumsum() == 1)
    panel.loc[answered & ~first, "answered_complaints"] = 0
    panel["unanswered_complaints"] = panel["complaints"] - panel["answered_complaints"]
    binary = add_hmm_covariates(panel)
    stock = add_hmm_covariates(panel, redress_decay=1.0)
    assert binary["redress"].max() == 1 and stock["redress"].max() == 1
    np.testing.assert_array_equal(stock["redress"].to_numpy(), binary["redress"].to_numpy())
    params = default_params()
    ll_binary = RelationshipHMM.from_params(params).score(panel)
    ll_stock = RelationshipHMM.from_params(params, redress="stock",
                                           redress_decay=1.0).score(panel)
    assert ll_stock == ll_binary
    # ... and with more than one answer they differ (the stock counts every answer)
    full = stock_panel.drop(columns=["redress"])
    assert (RelationshipHMM.from_params(params, redress="stock", redress_decay=1.0).score(full)
            != RelationshipHMM.from_params(params).score(full))


def test_panel_stock_equals_simulated_and_gradient_is_exact(stock_panel) -> None:
    spec = ModelSpec(redress_decay=RHO)
    data = prepare_panel(stock_panel.drop(columns=["redress"]), spec)
    merged = data.frame.merge(stock_panel[["customer_id", "period", "redress"]],
                              on=["customer_id", "period"], suffixes=("", "_sim"))
    assert len(merged) == len(stock_panel)
    np.testing.assert_allclose(merged["redress"], merged["redress_sim"], rtol=1e-12)
    assert len(np.unique(data.x_complaint[0][data.mask])) > 10  # real-valued covariate
    layout = ParamLayout(spec)
    theta = layout.from_natural(default_params().with_spec(spec))
    chunks = data.chunks(200)
    ev = evaluate(theta, layout, chunks)
    step = 1e-6
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (evaluate(up, layout, chunks, gradient=False).loglik
                      - evaluate(down, layout, chunks, gradient=False).loglik) / (2 * step)
    assert np.max(np.abs(ev.grad - numeric) / (1 + np.abs(numeric))) < 1e-5


def test_simulated_stock_world_records_rho() -> None:
    world = simulate_world(SimulateConfig(customers=150, weeks=10, seed=3, redress="stock",
                                          redress_decay=0.6))
    truth = world.truth_dict()
    assert truth["redress"] == {"kind": "stock", "decay": 0.6}
    assert truth["model"]["spec"]["redress_decay"] == 0.6  # type: ignore[index]
    assert world.states["redress"].dtype == np.float64
    np.testing.assert_allclose(world.states["redress"],
                               redress_stock(world.states, 0.6), rtol=1e-12)
    assert "redress_decay" not in default_params().spec.to_dict()  # binary JSON unchanged
    with pytest.raises(ValueError, match=r"\[simulate\] redress_decay"):
        SimulateConfig(redress="stock", redress_decay=0.0)
    with pytest.raises(ValueError, match=r"\[hmm\] redress_decay"):
        HMMConfig(redress="stock", redress_decay="fast")


def test_profile_finds_a_known_maximum_and_its_interval() -> None:
    # A known profile ℓ(ρ) = −(ρ − 0.6)² / (2 · 0.04²): ρ̂ = 0.6, interval 0.6 ± 1.96 · 0.04.
    frame = pd.DataFrame({"customer_id": ["a", "a"], "brand": "b", "period": [0, 1],
                          "complaints": [1, 0], "compliments": [1, 1],
                          "answered_complaints": [1, 0], "peer_complaints": 0,
                          "peer_compliments": 0})

    def fake(theta: np.ndarray, layout: ParamLayout, data: object) -> tuple[np.ndarray, float]:
        rho = layout.spec.redress_decay
        return theta, -((rho - 0.6) ** 2) / (2 * 0.04**2)

    profile = profile_decay(frame, ModelSpec(redress_decay=0.5), np.zeros(3), 0.5,
                            -(0.1**2) / (2 * 0.04**2), fake)
    assert profile.rho_hat == pytest.approx(0.6, abs=5e-3)
    half = np.sqrt(LR_CUT_95) * 0.04
    np.testing.assert_allclose(profile.conf_int, (0.6 - half, 0.6 + half), atol=5e-3)
    assert profile.censored == (False, False)


def test_profile_of_the_true_likelihood_covers_rho(stock_panel) -> None:
    # The profile over ρ of the likelihood at the true parameters (nothing refitted): the
    # stock built for each ρ from the panel puts its maximum near the true ρ.
    truth = default_params()
    panel = stock_panel.drop(columns=["redress"])

    def at_truth(theta: np.ndarray, layout: ParamLayout, data) -> tuple[np.ndarray, float]:
        value = evaluate(layout.from_natural(truth.with_spec(layout.spec)), layout,
                         data.chunks(4096), gradient=False).loglik
        return theta, value

    spec = ModelSpec(redress_decay=0.5)
    start = at_truth(np.zeros(1), ParamLayout(spec), prepare_panel(panel, spec))[1]
    profile = profile_decay(panel, spec, np.zeros(1), 0.5, start, at_truth)
    lower, upper = profile.conf_int
    assert lower < RHO < upper and upper - lower < 0.3, profile.conf_int
    assert abs(profile.rho_hat - RHO) < 0.1


def test_estimated_rho_is_reported(stock_panel, monkeypatch) -> None:
    # The estimator's wiring of the profile (the profile itself is tested above; its
    # end-to-end recovery over many worlds is benchmarks/bench_hmm_stock.py): a stand-in
    # profile with a known ρ̂ and interval, whose fit at ρ̂ is the reported one.
    import complaintpanel.hmm.redress as redress

    panel = stock_panel.drop(columns=["redress"])
    panel = panel[panel["customer_id"].isin(panel["customer_id"].unique()[:150])]

    def stand_in(panel, spec, theta0, rho0, loglike0, optimise, **_):  # type: ignore[no-untyped-def]
        profile = redress.DecayProfile()
        profile.values = {rho0: (loglike0, theta0), RHO: (loglike0 + 5.0, theta0)}
        profile.rho_hat, profile.conf_int, profile.censored = RHO, (0.6, 0.8), (False, False)
        return profile

    monkeypatch.setattr(redress, "profile_decay", stand_in)
    model = RelationshipHMM(n_starts=1, random_state=0, redress="stock", gtol=1e-4,
                            redress_decay_method="profile").fit(panel)
    res = model.results_
    assert res.spec.redress_decay == RHO and model.spec_.redress_decay == RHO
    # the fit at ρ̂ ran from the profile's optimum and from the starts, at the stock for ρ̂
    assert len(res.starts) == 2 and res.converged
    data = prepare_panel(panel, ModelSpec(redress_decay=RHO))
    layout = ParamLayout(res.spec)
    assert res.loglike == pytest.approx(evaluate(res.theta, layout, data.chunks(4096),
                                                 gradient=False).loglik, abs=1e-8)
    info = res.extra["redress"]
    assert info["estimated"] and info["decay"] == RHO and info["conf_int_95"] == [0.6, 0.8]
    assert res.n_params == layout.n_params + 1
    assert "rho-hat = 0.700, 95% profile-likelihood interval [0.600, 0.800]" in res.summary()
    with pytest.raises(NotImplementedError):
        RelationshipHMM(redress="stock", heterogeneity="random_intercepts").fit(panel)
    with pytest.raises(ValueError, match="needs redress='stock'"):
        RelationshipHMM(redress_decay=0.5).fit(panel)


def test_cli_fixed_rho_recovers_gamma_and_delta(stock_panel, tmp_path) -> None:
    from complaintpanel.cli import app

    folder = tmp_path / "world"
    (folder / "truth").mkdir(parents=True)
    stock_panel.drop(columns=["redress"]).to_parquet(folder / "truth" / "states.parquet")
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["hmm", str(folder), "--out", str(out), "--starts", "1",
                                      "--redress", "stock", "--redress-decay", "0.7"])
    assert result.exit_code == 0, result.output
    assert "rho = 0.700 (fixed)" in result.stdout
    stored = json.loads((out / "hmm.json").read_text())
    assert stored["extra"]["redress"] == {"kind": "stock", "decay": RHO, "estimated": False}
    assert stored["spec"]["redress_decay"] == RHO
    assert "Redress decay" in (out / "hmm_table.tex").read_text()
    truth = default_params()
    for name, value in (("gamma", truth.gamma), ("delta", truth.delta)):
        assert abs(stored["params"][name] - value) < 3 * stored["bse"][name], name
    # policies carry the stock forward at the fitted ρ
    result = CliRunner().invoke(app, ["policy", str(folder), "--out", str(out), "--draws", "2",
                                      "--horizon", "2", "--cohort-horizon", "2"])
    assert result.exit_code == 0, result.output
    policy = json.loads((out / "policy.json").read_text())
    assert policy["settings"]["redress"].startswith("decaying stock, rho = 0.700")
