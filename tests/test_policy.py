"""Counterfactual reply policies (issue 17): arms, learning off, targeting, intervals, CLI.

* learning off for the redress a policy creates equals learning on, path by path, in every
  period before the policy has answered anyone (and customers redressed in the data keep
  their γ-term);
* the targeting rule beats random answering at the same budget on a simulated world;
* contrasts are differences of the arms' outcomes under the same draws; intervals come from
  parameter draws, prediction intervals only when asked;
* on a fitted model, answering raises the share in the best state and the policy's own
  squeaky wheel is a small part of the complaint effect.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from complaintpanel.hmm import ParamLayout, RelationshipHMM, RelationshipHMMResults
from complaintpanel.hmm.policy import draw_path_summary, simulate_policies
from complaintpanel.hmm.policy_sim import Population, TargetedRule, run_arm
from complaintpanel.hmm.results import StartReport
from complaintpanel.hmm.sampling import sample_panel
from complaintpanel.model import ModelParams, default_params


def _results_at(params: ModelParams, scale: float = 1e-3) -> RelationshipHMMResults:
    """Results whose estimate is ``params`` (no fit), covariance ``scale``·I on θ."""
    theta = ParamLayout(params.spec).from_natural(params)
    return RelationshipHMMResults(
        spec=params.spec, theta=theta, cov_theta=np.eye(theta.size) * scale, loglike=0.0,
        nobs=1, n_sequences=1, n_customers=1,
        starts=[StartReport(loglike=0.0, converged=True, n_iter=0, n_eval=0, message="",
                            seconds=0.0)])


@pytest.fixture(scope="module")
def truth() -> ModelParams:
    return default_params().replace(neutral=None)


@pytest.fixture(scope="module")
def world(truth) -> pd.DataFrame:
    return sample_panel(truth, 600, 12, random_state=5)


# ------------------------------------------------------------------ learning off
def _with_redress(params: ModelParams, decay: float | None) -> ModelParams:
    return params.with_spec(dataclasses.replace(params.spec, redress_decay=decay))


@pytest.mark.parametrize("arm", ["observed", "all", "targeted"])
@pytest.mark.parametrize("entering", [False, True])
@pytest.mark.parametrize("decay", [None, 0.6])
def test_learning_off_equals_learning_on_until_the_policy_first_answers(arm, entering, decay):
    # Rare complaints and few customers per path, so the first answer comes late in many
    # paths; half the customers start redressed (they keep their γ-term when learning is off;
    # under the decaying stock it decays as it would without new answers).
    params = _with_redress(default_params().replace(neutral=None, gamma=0.8), decay)
    params = params.replace(a=params.a - 2.5)
    n, n_paths, horizon = 4, 100, 10
    rng = np.random.default_rng(3)
    brand = np.array([0, 0, 1, 1])
    population = Population(
        name="cohort" if entering else "observed", brand=brand,
        redress=np.array([1.0, 0.0, 1.0, 0.0]) * (not entering),
        shift_columns=None if entering else {"intervened": np.zeros(n),
                                             "peer_voice": rng.normal(0, 0.3, n)},
        horizon=horizon)
    probs = rng.dirichlet(np.ones(3), size=n)
    kwargs = dict(n_paths=n_paths, seed=11, answer_rate=np.array([0.5, 0.9]),
                  fast_share=None, budget=1.0)
    on = run_arm(arm, True, params, population, probs, **kwargs)
    off = run_arm(arm, False, params, population, probs, **kwargs)
    answered = on["answered"] > 0
    first = np.where(answered.any(axis=1), answered.argmax(axis=1), horizon)  # 0-based period
    # the check covers several periods in many paths, and most paths get answers
    assert (first >= 2).sum() >= 10 and (first < horizon).sum() >= n_paths // 2
    for metric in on:
        for p in range(n_paths):
            # identical through the first period with an answer (its effect comes later)
            np.testing.assert_array_equal(on[metric][p, :first[p] + 1],
                                          off[metric][p, :first[p] + 1], err_msg=metric)
    # ... and the squeaky wheel the policy creates shows up afterwards
    assert on["complaints"].sum() > off["complaints"].sum()


@pytest.mark.parametrize("decay", [None, 0.6])
def test_answers_that_move_nothing_but_redress_change_nothing_with_learning_off(decay):
    # With δ = κ = 0 an answer acts only through the redress it creates; with learning off
    # for that redress, answering everyone is the "none" arm path by path, in every period:
    # the starting redress (binary, or a stock decaying at ρ) evolves exactly as unanswered.
    params = _with_redress(default_params().replace(neutral=None, gamma=0.8, delta=0.0), decay)
    rng = np.random.default_rng(4)
    n = 6
    population = Population(name="observed", brand=np.repeat([0, 1], 3),
                            redress=np.array([0.0, 1.0, 2.5, 0.0, 0.4, 1.0]),
                            shift_columns={"intervened": np.zeros(n),
                                           "peer_voice": rng.normal(0, 0.3, n)},
                            horizon=8)
    probs = rng.dirichlet(np.ones(3), size=n)
    kwargs = dict(n_paths=20, seed=5, answer_rate=np.array([0.5, 0.9]), fast_share=None)
    none = run_arm("none", True, params, population, probs, **kwargs)
    off = run_arm("all", False, params, population, probs, **kwargs)
    on = run_arm("all", True, params, population, probs, **kwargs)
    assert off["answered"].sum() > 0
    for metric in ("complaints", "compliments", "share_best"):
        np.testing.assert_array_equal(off[metric], none[metric], err_msg=metric)
    assert on["complaints"].sum() > off["complaints"].sum()


def test_squeaky_wheel_of_the_targeting_rule_under_binary_and_stock_redress():
    params = default_params().replace(neutral=None, gamma=0.5)
    base = np.array([2.0, 2.0, 2.0])
    rule = TargetedRule(params=params, budget=1.0, objective="net_voice",
                        path=np.zeros(3, dtype=np.int64),
                        redress=np.array([0.0, 1.0, 0.5]), periods_left=3)
    # binary: only the customer not yet redressed learns, (e^γ − 1)·rate in each period left
    binary = rule._squeak(base)
    learn = np.expm1(0.5)
    np.testing.assert_allclose(binary, [3 * 2.0 * learn, 0.0, 3 * 0.5 * 2.0 * learn])
    # stock ρ = 0.5: k periods on the answer adds ρ^(k−1) to a stock that would be ρ^k R
    rule.params = _with_redress(params, 0.5)
    stock = rule._squeak(base)
    for i, r in enumerate([0.0, 1.0, 0.5]):
        expected = sum(2.0 * (np.exp(0.5 * (0.5**k * r + 0.5 ** (k - 1)))
                              - np.exp(0.5 * 0.5**k * r)) for k in (1, 2, 3))
        assert stock[i] == pytest.approx(expected, rel=1e-12)
    # with ρ = 1 a customer with no redress learns exactly as under binary redress
    rule.params = _with_redress(params, 1.0)
    assert rule._squeak(base)[0] == pytest.approx(binary[0], rel=1e-12)


def test_policies_run_on_a_decaying_stock_model(truth):
    params = _with_redress(truth, 0.7)
    panel = sample_panel(params, 300, 10, random_state=3)
    out = simulate_policies(_results_at(params), panel, horizon=4, cohort_horizon=5,
                            policies=("none", "all"), n_draws=2, n_paths=2, random_state=1)
    assert "0.700" in out.settings["redress"]
    # the observed customers start from the stock of the data, carried one period on
    model = RelationshipHMM.from_results(_results_at(params))
    last = model.model_frame(panel).groupby(["customer_id", "brand"], sort=False).tail(1)
    from complaintpanel.hmm.policy import _start_facts

    start, *_ = _start_facts(model.model_frame(panel), _results_at(params))
    expected = 0.7 * last["redress"].to_numpy() + (last["answered_complaints"].to_numpy() > 0)
    np.testing.assert_allclose(start.redress, expected)
    assert start.redress.max() > 1.0  # a stock, not a binary flag
    assert out.contrast("observed", "all_learning_on_minus_off", "complaints")["estimate"] > 0


def test_learning_off_keeps_the_redress_of_the_data(truth, world):
    # The "γ = 0 for everyone" decomposition moved complaints in period 1, before any policy
    # could act; learning off must not.
    out = simulate_policies(_results_at(truth), world, horizon=3, policies=("none", "all"),
                            populations=("observed",), n_draws=2, n_paths=2,
                            random_state=0)
    p = out.periods
    first = p[(p["period"] == 1) & (p["arm"] == "all")].pivot(
        index="metric", columns="learning", values="estimate")
    np.testing.assert_array_equal(first["on"].to_numpy(), first["off"].to_numpy())
    assert out.contrast("observed", "all_learning_on_minus_off", "complaints")["estimate"] > 0


# ------------------------------------------------------------------ targeting
def test_targeting_beats_random_answering_at_the_same_budget(truth, world):
    budget = 0.1
    for objective, metric in (("good_share", "share_best"), ("net_voice", "net_voice")):
        out = simulate_policies(_results_at(truth), world, horizon=8, cohort_horizon=12,
                                policies=("random", "targeted"), learning_off=False,
                                # 12 paths a draw: the gain is 4–18 se on any seed (t ≈ 1–6
                                # with 6 paths, too noisy to test a sign at 5%)
                                n_draws=6, n_paths=12, budget=budget, objective=objective,
                                parameter_uncertainty=False, random_state=1)
        for population in ("observed", "cohort"):
            gain = out.contrast(population, "targeted_minus_random", metric)
            assert gain["estimate"] > 0 and gain["lower"] > 0, (objective, population, gain)
            # within the budget: no more complaints answered than the random arm's share
            answered = out.total(population, "targeted", "answered")["estimate"]
            complaints = out.total(population, "targeted", "complaints")["estimate"]
            assert answered <= budget * complaints + 1e-9


def test_targeted_rule_spends_the_budget_within_each_path_on_the_best_gains(truth):
    rule = TargetedRule(params=truth, budget=0.5, objective="good_share",
                        path=np.array([0, 0, 0, 1, 1, 1]))
    rule.prior = np.tile([0.2, 0.6, 0.2], (6, 1))
    rule.redress = np.zeros(6)

    class _Draws:
        def uniform(self, purpose, size):
            return np.full(size, 0.5)

    complaints = np.array([1, 1, 2, 4, 0, 1])
    gain = rule.gain(complaints, np.zeros(6, dtype=int))
    answers = rule(complaints, np.zeros(6, dtype=int), np.zeros(6, dtype=int), _Draws())
    # path 0: 4 complaints → 2 may be answered; path 1: 5 → 2
    assert answers.answered[:3].sum() <= 2 and answers.answered[3:].sum() <= 2
    per = gain / np.maximum(complaints, 1)
    assert answers.answered[:2].tolist() == [1, 1]  # the two single complaints rank first
    assert answers.answered[3] == 0 and answers.answered[5] == 1  # 4 complaints do not fit
    assert per[0] > per[2]


# ------------------------------------------------------------------ outputs and intervals
def test_contrasts_are_differences_of_arms_and_intervals_come_from_draws(truth, world):
    kwargs = dict(horizon=4, cohort_horizon=5, policies=("none", "observed", "all"),
                  n_draws=6, n_paths=2, random_state=2)
    out = simulate_policies(_results_at(truth, 2e-2), world, **kwargs)
    for population in ("observed", "cohort"):
        for metric in ("complaints", "share_best", "net_voice"):
            diff = (out.total(population, "all", metric)["estimate"]
                    - out.total(population, "none", metric)["estimate"])
            assert out.contrast(population, "all_minus_none", metric)["estimate"] == (
                pytest.approx(diff, abs=1e-12))
        assert out.total(population, "none", "answered")["estimate"] == 0
        assert out.total(population, "all", "answered")["estimate"] == pytest.approx(
            out.total(population, "all", "complaints")["estimate"])
    periods = out.periods
    assert set(periods["period"]) == set(range(1, 6))
    assert (periods["lower"] <= periods["estimate"] + 1e-12).all()
    assert "pred_lower" not in out.totals
    # without parameter uncertainty the interval is simulation error only: narrower
    fixed = simulate_policies(_results_at(truth, 2e-2), world, parameter_uncertainty=False,
                              prediction=True, **(kwargs | {"n_draws": 10, "n_paths": 4}))
    assert (fixed.contrast("cohort", "all_minus_none", "share_best")["se"]
            < out.contrast("cohort", "all_minus_none", "share_best")["se"])
    # each draw's random numbers do not depend on the parameter draws: with (practically) no
    # parameter uncertainty the interval is the simulation error alone
    tiny = simulate_policies(_results_at(truth, 1e-16), world,
                             **(kwargs | {"n_draws": 10, "n_paths": 4}))
    for population in ("observed", "cohort"):
        for metric in ("complaints", "share_best"):
            assert tiny.contrast(population, "all_minus_none", metric)["se"] == pytest.approx(
                fixed.contrast(population, "all_minus_none", metric)["se"], rel=1e-4)
    # a prediction interval (one realised path) is wider than the confidence interval of the
    # expected outcome (a mean of 4 paths): about twice as wide without parameter uncertainty
    for population in ("observed", "cohort"):
        row = fixed.total(population, "all", "complaints")
        ratio = (row["pred_upper"] - row["pred_lower"]) / (row["upper"] - row["lower"])
        assert 1.3 < ratio < 3.0, (population, ratio)
    text = out.to_markdown()
    assert "answer every complaint" in text and "all_minus_none" in text
    assert r"\toprule" in out.to_latex()
    json.dumps(out.to_dict())


def test_draw_path_intervals_cover_at_their_level():
    # x_dp = m_d + ε_dp: m_0 − truth and the draws' m_d − m_0 ~ N(0, τ²) (the draws scatter
    # around the estimate as the estimate around the truth), ε_dp each draw's own path noise,
    # here larger than the parameter part as in the small learning on − off contrasts
    rng = np.random.default_rng(0)
    tau, noise, n_draws, n_paths, reps = 0.1, 0.3, 20, 2, 3000
    covered, se2 = 0, []
    for _ in range(reps):
        m = rng.normal(0, tau) + np.concatenate([[0.0], rng.normal(0, tau, n_draws)])
        row = draw_path_summary(m[:, None] + noise * rng.standard_normal((n_draws + 1, n_paths)))
        covered += row["lower"] <= 0 <= row["upper"]
        se2.append(row["se"] ** 2)
    assert 0.94 <= covered / reps <= 0.96
    assert np.mean(se2) == pytest.approx(tau**2 + noise**2 / n_paths, rel=0.05)


def test_draw_path_summary_known_answer():
    x = np.array([[1.0, 3.0], [2.0, 2.0], [4.0, 6.0], [0.0, 2.0]])  # estimate, then 3 draws
    row = draw_path_summary(x, prediction=True)
    assert row["estimate"] == 2.0
    assert row["se"] == pytest.approx(np.std([2.0, 5.0, 1.0], ddof=1))
    assert row["upper"] - row["estimate"] == pytest.approx(
        student_t.ppf(0.975, df=2) * np.std([2.0, 5.0, 1.0], ddof=1))
    assert (row["pred_lower"], row["pred_upper"]) == pytest.approx(
        (np.quantile(x, 0.025), np.quantile(x, 0.975)))
    assert np.isnan(draw_path_summary(x[:2])["se"])  # one draw: no spread


# ------------------------------------------------------------------ on a fitted model
@pytest.fixture(scope="module")
def fitted(world) -> RelationshipHMM:
    return RelationshipHMM(n_starts=1, random_state=1).fit(world)


def test_policies_on_a_fitted_model(fitted, world):
    out = simulate_policies(fitted.results_, world, horizon=6, cohort_horizon=8, n_draws=8,
                            n_paths=2, random_state=0)
    best = {arm: out.total("observed", arm, "share_best")["estimate"]
            for arm in ("none", "observed", "all")}
    assert best["all"] > best["observed"] > best["none"]
    # the squeaky wheel the policy creates is a small part of what answering does to
    # complaints among customers most of whom are already redressed
    own = out.contrast("observed", "all_learning_on_minus_off", "complaints")["estimate"]
    total = out.contrast("observed", "all_minus_none", "complaints")["estimate"]
    assert 0 < own < 0.2 * abs(total)


def test_policy_rejects_unavailable_arms_and_settings(fitted, world):
    with pytest.raises(ValueError, match="not available"):
        simulate_policies(fitted.results_, world, policies=("fast",), n_draws=1)
    with pytest.raises(ValueError, match="objective"):
        simulate_policies(fitted.results_, world, objective="profit", n_draws=1)
    with pytest.raises(ValueError, match="budget"):
        simulate_policies(fitted.results_, world, budget=0.0, n_draws=1)


def test_net_voice_gain_charges_the_squeaky_wheel_to_customers_not_yet_redressed(truth):
    # Without a relationship effect (δ = 0) answering only costs: the later complaints a
    # first redress adds, (e^γ − 1) × the expected complaint rate × the periods left.
    params = truth.replace(delta=0.0)
    rule = TargetedRule(params=params, budget=1.0, objective="net_voice",
                        path=np.zeros(2, dtype=int))
    rule.prior = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]])
    rule.redress = np.array([0.0, 1.0])
    rule.periods_left = 5
    complaints = np.array([1, 1])
    gain = rule.gain(complaints, np.zeros(2, dtype=int))
    rate = np.exp(params.a)
    posterior = rule.prior[0] * rate * np.exp(-rate)
    posterior /= posterior.sum()
    expected = -5 * np.expm1(params.gamma) * posterior @ rate
    np.testing.assert_allclose(gain, [expected, 0.0], rtol=1e-12, atol=1e-15)


def test_cli_policy_options_reach_the_simulation(tmp_path, truth, world):
    from typer.testing import CliRunner

    from complaintpanel.cli import app

    folder = tmp_path / "world"
    (folder / "truth").mkdir(parents=True)
    world.to_parquet(folder / "truth" / "states.parquet")
    out = tmp_path / "results"
    out.mkdir()
    (out / "hmm.json").write_text(json.dumps(_results_at(truth).to_dict()))
    result = CliRunner().invoke(app, [
        "policy", str(folder), "--out", str(out), "--horizon", "2", "--cohort-horizon", "3",
        "--draws", "3", "--paths", "3", "--budget", "0.25", "--objective", "net_voice",
        "--prediction"])
    assert result.exit_code == 0, result.output
    stored = json.loads((out / "policy.json").read_text())
    settings = stored["settings"]
    assert (settings["horizon"], settings["cohort_horizon"], settings["n_draws"],
            settings["n_paths"], settings["budget"], settings["objective"]) == (
        2, 3, 3, 3, 0.25, "net_voice")
    assert "pred_lower" in stored["totals"][0]
    assert {r["contrast"] for r in stored["contrasts"]} >= {
        "all_minus_none", "targeted_minus_random", "all_learning_on_minus_off"}
    assert "contrast" in (out / "policy_table.md").read_text()
    # a setting out of range is a clear error, not a crash
    no_path = CliRunner().invoke(app, ["policy", str(folder), "--out", str(out), "--paths", "0"])
    assert no_path.exit_code != 0
    assert "paths must be at least 1" in no_path.output
    assert "internal error" not in no_path.output


# ------------------------------------------------------------------ customers differ
def _heterogeneous_results(params: ModelParams, extra_theta: list[float],
                           heterogeneity: dict[str, object]) -> RelationshipHMMResults:
    """Results at ``params`` with σ or the classes appended to θ (no fit)."""
    theta = np.concatenate([ParamLayout(params.spec).from_natural(params), extra_theta])
    return RelationshipHMMResults(
        spec=params.spec, theta=theta, cov_theta=np.eye(theta.size) * 1e-3, loglike=0.0,
        nobs=1, n_sequences=1, n_customers=1,
        starts=[StartReport(loglike=0.0, converged=True, n_iter=0, n_eval=0, message="",
                            seconds=0.0)],
        extra={"heterogeneity": {**heterogeneity, "homogeneous": {"bic": 0.0}}})


HETEROGENEOUS_KWARGS = dict(horizon=3, cohort_horizon=3, policies=("none", "all"),
                            n_draws=1, n_paths=2, random_state=2, parameter_uncertainty=False)


@pytest.mark.parametrize("kind", ["sigma_zero", "equal_classes"])
def test_without_differences_policies_equal_the_homogeneous_ones(truth, world, kind):
    """σ = 0, or two classes with the same δ: every outcome equals the homogeneous one."""
    if kind == "sigma_zero":
        results = _heterogeneous_results(truth, [0.0], {"kind": "random_intercepts",
                                                        "quadrature_nodes": 3})
    else:  # shares 0.3 / 0.7, both δ the truth's
        results = _heterogeneous_results(truth, [truth.delta, np.log(0.7 / 0.3)],
                                         {"kind": "classes", "classes": 2,
                                          "class_blocks": ["delta"]})
    homogeneous = simulate_policies(_results_at(truth), world, **HETEROGENEOUS_KWARGS)
    heterogeneous = simulate_policies(results, world, **HETEROGENEOUS_KWARGS)
    assert heterogeneous.settings["heterogeneity"].startswith(
        "random_intercepts" if kind == "sigma_zero" else "classes")
    pd.testing.assert_frame_equal(heterogeneous.totals, homogeneous.totals, check_exact=True)
    pd.testing.assert_frame_equal(heterogeneous.periods, homogeneous.periods,
                                  check_exact=True)


def test_new_customers_draw_their_effect_from_the_population(truth, world):
    """σ = 1: new customers complain about e^{σ²/2} ≈ 1.65 times as much with no answers."""
    results = _heterogeneous_results(truth, [1.0], {"kind": "random_intercepts",
                                                    "quadrature_nodes": 3})
    kwargs = HETEROGENEOUS_KWARGS | {"n_paths": 6, "policies": ("none",),
                                     "populations": ("cohort",), "cohort_horizon": 4}
    homogeneous = simulate_policies(_results_at(truth), world, **kwargs)
    loud = simulate_policies(results, world, **kwargs)
    ratio = (loud.total("cohort", "none", "complaints")["estimate"]
             / homogeneous.total("cohort", "none", "complaints")["estimate"])
    assert 1.3 < ratio < 2.0


def test_observed_customers_draw_from_their_posterior():
    """One customer with two sequences, posterior one-hot on a node or class: known draws."""
    from complaintpanel.hmm.policy import CustomerHeterogeneity

    population = Population("observed", np.array([0, 1, 0]), np.zeros(3), {}, 2)
    group = np.array([0, 0, 1])  # sequences 0 and 1 are one customer's
    support = np.array([[-1.0, 0.5], [2.0, 0.7]])  # nodes (Q = 2) of customers 0, 1
    posterior = np.array([[0.0, 1.0], [1.0, 0.0]])  # customer 0 on node 1, customer 1 on 0
    p = 3
    ri = CustomerHeterogeneity("random_intercepts", p, group, support, posterior)
    effect, delta = ri.draw(np.array([0, 0, 0, -0.5]), population, n_paths=2, seed=1)
    assert delta is None
    np.testing.assert_allclose(effect[:, 0], 0.5 * np.array([2.0, 2.0, 0.5] * 2))
    classes = CustomerHeterogeneity("classes", p, group, np.empty((0, 0)), posterior,
                                    ("delta",), {"delta": 1})
    theta = np.array([0.0, 0.4, 0.0, 2.0, 0.3])  # δ of classes 0, 1 = 0.4, 2.0
    effect, delta = classes.draw(theta, population, n_paths=2, seed=1)
    assert effect is None
    np.testing.assert_allclose(delta, [2.0, 2.0, 0.4] * 2)
    # new customers: classes at their shares (0.43 / 0.57 for the logit 0.3)
    cohort = Population("cohort", np.zeros(5000, dtype=np.int64), np.zeros(5000), None, 2)
    _, delta = classes.draw(theta, cohort, n_paths=1, seed=1)
    share = 1 / (1 + np.exp(0.3))
    assert abs(np.mean(delta == 0.4) - share) < 4 * np.sqrt(share * (1 - share) / 5000)


def test_bivariate_intercepts_draw_b_equal_l_z():
    """Complaint and compliment intercepts: b = L z, observed z from the posterior node."""
    from complaintpanel.hmm.policy import CustomerHeterogeneity

    population = Population("observed", np.array([0, 1, 0]), np.zeros(3), {}, 2)
    group = np.array([0, 0, 1])
    support = np.array([[[-1.0, 0.2], [0.5, -0.4]],   # node 0: z of customers 0, 1
                        [[2.0, 1.0], [0.7, 0.3]]])    # node 1
    posterior = np.array([[0.0, 1.0], [1.0, 0.0]])  # customer 0 on node 1, customer 1 on 0
    p = 3
    l11, l21, l22 = 0.6, 0.15, 0.4
    theta = np.array([0.0, 0.0, 0.0, l11, l21, l22])
    ri = CustomerHeterogeneity("random_intercepts", p, group, support, posterior)
    effect, delta = ri.draw(theta, population, n_paths=2, seed=1)
    assert delta is None
    z = np.array([[2.0, 1.0], [2.0, 1.0], [0.5, -0.4]] * 2)
    np.testing.assert_allclose(effect[:, 0], l11 * z[:, 0])
    np.testing.assert_allclose(effect[:, 1], l21 * z[:, 0] + l22 * z[:, 1])
    # new customers: Var b = L L'
    cohort = Population("cohort", np.zeros(20000, dtype=np.int64), np.zeros(20000), None, 2)
    effect, _ = ri.draw(theta, cohort, n_paths=1, seed=2)
    expected = np.array([[l11**2, l11 * l21], [l11 * l21, l21**2 + l22**2]])
    np.testing.assert_allclose(np.cov(effect.T), expected, atol=0.01)
