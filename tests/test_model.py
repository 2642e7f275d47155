"""One structural model: every simulation in the package is ``model.step()``, and they agree.

* the simulator's world equals a direct loop over ``step()`` with the same generator;
* the estimator's sampler, at the simulator's parameters and brand rule, draws the same world;
* the true answering effects are ``step()`` paths from uniforms the two arms share;
* a policy arm is a ``step()`` loop from the policy's random streams;
* ``step()`` itself: first-contact conditioning, redress updated only after the period, the
  transition moved by the *previous* period's intervention;
* the one parameter type: named values, JSON, the estimator's names; the draws' conventions.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import logit, ndtri

from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import ParamLayout, RelationshipHMM, RelationshipHMMResults
from complaintpanel.hmm.policy import simulate_policies
from complaintpanel.hmm.results import StartReport
from complaintpanel.hmm.sampling import sample_panel
from complaintpanel.model import (
    ENTERING,
    NEUTRAL_LOG_RATE,
    AnswerAll,
    AnswerAtRate,
    AnswerByLogit,
    AnswerNone,
    Customers,
    GeneratorDraws,
    ModelParams,
    ModelSpec,
    UniformDraws,
    categorical,
    default_params,
    step,
    transition_matrices,
    update_redress,
)
from complaintpanel.model.draws import truncated_poisson
from complaintpanel.model.params import transition_rows
from complaintpanel.runtime.io import write_json
from complaintpanel.simulate import ENDOGENOUS_LOGIT_SHIFT, World, simulate_world
from complaintpanel.simulate.truth_effects import answer_effects
from complaintpanel.simulate.world import answer_rule

# the module (the package exports its function `step` under the same name)
step_module = importlib.import_module("complaintpanel.model.step")

SMALL = SimulateConfig(customers=300, brands=3, weeks=10, seed=11)
COUNTS = ("state", "complaints", "compliments", "neutral", "answered_complaints",
          "peer_complaints", "peer_compliments", "intervened", "redress", "peer_voice")
PURPOSES = ("initial", "transition", "complaints", "compliments", "neutral", "fast", "answer",
            "sentiment")


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world(SMALL)


def _uniforms(size: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {purpose: rng.random(size) for purpose in PURPOSES}


# --------------------------------------------------------------------------------------------
# The four callers agree
# --------------------------------------------------------------------------------------------


def _direct_world_loop(spec: SimulateConfig, params: ModelParams, rule: AnswerByLogit,
                       handles: list[str]) -> pd.DataFrame:
    """The simulator's weeks written out as a plain loop over step() (one generator)."""
    rng = np.random.default_rng(spec.seed)
    customer_ids = (100_000 + rng.permutation(spec.customers)).astype(str)
    arrival = rng.integers(0, max(1, spec.weeks // 3), size=spec.customers)
    brand = rng.integers(0, len(handles), size=spec.customers)
    draws = GeneratorDraws(rng)
    state = np.full(spec.customers, ENTERING)
    shift = np.zeros(spec.customers)
    redress = np.zeros(spec.customers)
    weeks = []
    for t in range(spec.weeks):
        active = np.flatnonzero(arrival <= t)
        period, carry = step(params, Customers(brand[active], state[active], shift[active],
                                               redress[active]), rule, draws)
        weeks.append(pd.DataFrame({
            "customer_id": customer_ids[active], "brand": np.asarray(handles)[brand[active]],
            "period": t, "state": period.state, "complaints": period.complaints,
            "compliments": period.compliments, "neutral": period.neutral,
            "answered_complaints": period.answered, "peer_complaints": period.peer_complaints,
            "peer_compliments": period.peer_compliments, "intervened": period.intervened,
            "redress": period.redress, "peer_voice": period.peer_voice}))
        state[active], shift[active], redress[active] = carry.state, carry.shift, carry.redress
    return (pd.concat(weeks, ignore_index=True).sort_values(["customer_id", "period"])
            .reset_index(drop=True))


@pytest.mark.parametrize("endogenous", [False, True])
def test_simulator_is_a_loop_over_step(endogenous: bool) -> None:
    spec = dataclasses.replace(SMALL, endogenous_replies=endogenous)
    simulated = simulate_world(spec)
    handles = [b.handle for b in simulated.brands]
    # the brands' policy: their reply probabilities, shifted up for "poor" and down for "good"
    rule = AnswerByLogit(
        brand_logit=logit([b.reply_prob for b in simulated.brands]),
        state_shift=ENDOGENOUS_LOGIT_SHIFT * np.array([1.0, 0.0, -1.0]) if endogenous else None)
    direct = _direct_world_loop(spec, default_params(), rule, handles)
    states = simulated.states.sort_values(["customer_id", "period"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(states[["customer_id", "brand", "period", *COUNTS]],
                                  direct[["customer_id", "brand", "period", *COUNTS]],
                                  check_dtype=False)
    assert states["answered_complaints"].sum() > 0 and states["state"].nunique() == 3


def test_sampler_at_the_simulators_parameters_draws_the_simulated_world(world: World) -> None:
    rng = np.random.default_rng(SMALL.seed)
    ids = (100_000 + rng.permutation(SMALL.customers)).astype(str)  # as the simulator does
    sampled = sample_panel(world.params, SMALL.customers, SMALL.weeks, n_brands=SMALL.brands,
                           reply_probs=tuple(b.reply_prob for b in world.brands),
                           random_state=rng)
    handles = np.array([b.handle for b in world.brands])
    sampled["customer_id"] = ids[sampled["customer_id"].str[1:].astype(int)]
    sampled["brand"] = handles[sampled["brand"].str[5:].astype(int)]
    sampled = sampled.sort_values(["customer_id", "period"]).reset_index(drop=True)
    states = world.states.sort_values(["customer_id", "period"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(sampled[["customer_id", "brand", "period", *COUNTS]],
                                  states[["customer_id", "brand", "period", *COUNTS]],
                                  check_dtype=False)


def test_truth_effects_are_step_paths_from_shared_uniforms(world: World) -> None:
    horizon, seed, n_rows = 3, 5, 40
    states = world.states.sort_values(["customer_id", "period"]).reset_index(drop=True)
    last = int(states["period"].max())
    chosen = states[(states["complaints"] > 0) & (states["redress"] == 0)
                    & (states["period"] < last - horizon)].head(n_rows)
    reply_prob = {b.handle: b.reply_prob for b in world.brands}
    # A strong peer effect, so that the week whose peer voice moves the state matters.
    params = world.params.replace(eta=25.0)
    effects = answer_effects(states, params, answer_rule(world.brands, endogenous=False),
                             [b.handle for b in world.brands], horizon=horizon, draws=1,
                             seed=seed, rows=chosen)

    # The same continuations, written out: the brands' answer probabilities, the brand's
    # observed peer voice each week, uniforms drawn per purpose (transition, complaints,
    # answer, then compliments) and shared by both arms.
    params = params.replace(neutral=None)
    brands = sorted(reply_prob)
    rule = AnswerByLogit(brand_logit=logit([reply_prob[b] for b in brands]))
    peer = (states.groupby(["brand", "period"])["peer_voice"].mean().unstack()
            .reindex(index=brands, columns=range(last + 1)).fillna(0.0).to_numpy())
    brand = chosen["brand"].map({b: i for i, b in enumerate(brands)}).to_numpy()
    week = chosen["period"].to_numpy()
    rng = np.random.default_rng(seed)
    uniforms = {p: rng.random((horizon + 1, n_rows))
                for p in ("transition", "complaints", "answer", "compliments")}
    rates = {}
    for arm in (0, 1):
        answered = chosen["complaints"].to_numpy() * arm
        customers = Customers(
            brand=brand, state=chosen["state"].to_numpy(),
            shift=params.delta * (answered > 0) + params.eta * peer[brand, week],
            redress=update_redress(chosen["redress"].to_numpy(float), answered))
        paths = []
        for h in range(horizon + 1):
            draws = UniformDraws({p: u[h] for p, u in uniforms.items()})
            period, customers = step(params, customers, rule, draws,
                                     peer_voice=peer[brand, week + 1 + h])
            paths.append((period.rate_complaints.mean(), period.rate_compliments.mean()))
        rates[arm] = np.array(paths)
    np.testing.assert_allclose(effects["mean_complaints_answered"], rates[1][:, 0], rtol=1e-13)
    np.testing.assert_allclose(effects["mean_complaints_unanswered"], rates[0][:, 0],
                               rtol=1e-13)
    np.testing.assert_allclose(effects["mean_compliments_answered"], rates[1][:, 1], rtol=1e-13)
    np.testing.assert_allclose(effects["mean_compliments_unanswered"], rates[0][:, 1],
                               rtol=1e-13)
    assert effects.loc[0, "effect_complaints"] != 0  # the arms differ (γ at least)


def _results_at(params: ModelParams) -> RelationshipHMMResults:
    """Results whose estimate is ``params`` (no fit), for simulations from known parameters."""
    theta = ParamLayout(params.spec).from_natural(params)
    return RelationshipHMMResults(
        spec=params.spec, theta=theta, cov_theta=np.eye(theta.size) * 1e-3, loglike=0.0,
        nobs=1, n_sequences=1, n_customers=1,
        starts=[StartReport(loglike=0.0, converged=True, n_iter=0, n_eval=0, message="",
                            seconds=0.0)])


def test_policy_arm_observed_is_a_step_loop_from_the_policy_streams() -> None:
    params = default_params().replace(neutral=None)
    panel = sample_panel(params, 200, 8, random_state=2)
    results = _results_at(params)
    horizon, n_draws, n_paths = 4, 3, 2
    out = simulate_policies(results, panel, horizon=horizon, policies=("none", "observed"),
                            populations=("observed",), learning_off=False, n_draws=n_draws,
                            n_paths=n_paths, random_state=7)

    # The observed arm's estimate written out with the public pieces: the estimate and a seed
    # per draw, the filtered last state, the brands' observed answer rates, then step() on the
    # paths stacked (path p's brands numbered b + p·B, so peers stay within a path), with one
    # uniform per unit, period and purpose.
    last = panel.groupby(["customer_id", "brand"], sort=False).tail(1)
    brands = sorted(panel["brand"].unique())
    totals = panel.groupby("brand")[["answered_complaints", "complaints"]].sum()
    rate = (totals["answered_complaints"] / totals["complaints"]).reindex(brands).to_numpy()
    brand = last["brand"].map({b: i for i, b in enumerate(brands)}).to_numpy()
    n = brand.size
    model = RelationshipHMM.from_results(results)
    from complaintpanel.hmm.policy import _draw_seeds

    seed = _draw_seeds(np.random.default_rng(7), n_draws + 1)[0]  # the estimate's seed
    estimate = results.model_params()
    probs = model.filtered_last_proba(panel)[["p_poor", "p_fair", "p_good"]].to_numpy()
    state = categorical(np.random.default_rng([seed, 2**31]).random(n * n_paths),
                        np.tile(probs, (n_paths, 1)))
    customers = Customers(
        brand=(brand[None, :] + len(brands) * np.arange(n_paths)[:, None]).ravel(),
        state=state,
        shift=np.tile(estimate.transition_shift(
            {"intervened": last["intervened"].to_numpy(float),
             "peer_voice": last["peer_voice"].to_numpy()}), n_paths),
        redress=np.tile(update_redress(last["redress"].to_numpy(float),
                                       last["answered_complaints"].to_numpy()), n_paths))
    rule = AnswerAtRate(rate=np.tile(rate, n_paths))
    purposes = ("transition", "complaints", "compliments", "neutral", "fast", "answer",
                "sentiment")
    metrics = {name: np.empty(horizon) for name in ("complaints", "share_best")}
    for h in range(horizon):
        u = np.random.default_rng([seed, h]).random((len(purposes), n * n_paths))
        period, customers = step(estimate, customers, rule,
                                 UniformDraws(dict(zip(purposes, u, strict=True))))
        metrics["complaints"][h] = period.complaints.mean()
        metrics["share_best"][h] = np.mean(period.state == 2)
    periods = out.periods[out.periods["arm"] == "observed"]
    for name, values in metrics.items():
        reported = periods[periods["metric"] == name].sort_values("period")["estimate"]
        np.testing.assert_allclose(reported.to_numpy(), values, rtol=0, atol=1e-12)
    none = out.periods[(out.periods["arm"] == "none") & (out.periods["metric"] == "replied")]
    assert (none["estimate"] == 0).all()


# --------------------------------------------------------------------------------------------
# step() itself
# --------------------------------------------------------------------------------------------


@pytest.fixture(params=["rejection", "direct"])
def rejection_rounds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """First contacts by capped rejection (the default), or all drawn from the law given some
    voice (no rejection round: the path an almost silent state takes after the cap)."""
    if request.param == "direct":
        monkeypatch.setattr(step_module, "REJECTION_ROUNDS", 0)
    return str(request.param)


def _arrivals(n: int, first_contact: str, seed: int = 0, params: ModelParams | None = None):
    params = params or default_params()
    period, carry = step(params, Customers.arriving(np.zeros(n, dtype=np.int64)), AnswerNone(),
                         GeneratorDraws(np.random.default_rng(seed)),
                         first_contact=first_contact)  # type: ignore[arg-type]
    return params, period, carry


def test_first_contact_state_conditions_the_voice_given_the_state(rejection_rounds: str) -> None:
    n = 40_000
    params, period, _ = _arrivals(n, "state")
    assert ((period.complaints + period.compliments) >= 1).all()
    shares = np.bincount(period.state, minlength=3) / n
    pi = params.initial_probs
    assert np.all(np.abs(shares - pi) < 4 * np.sqrt(pi * (1 - pi) / n)), shares
    # E[C | C + P ≥ 1, k] = λ_k / q_k: zero-truncated given the state, as the likelihood says
    lam, mu = np.exp(params.a), np.exp(params.c)
    q = -np.expm1(-(lam + mu))
    for k in range(3):
        cell = period.complaints[period.state == k]
        expected = lam[k] / q[k]
        assert abs(cell.mean() - expected) < 4 * cell.std() / np.sqrt(cell.size), k


def test_first_contact_joint_redraws_the_state_and_none_keeps_silence(
        rejection_rounds: str) -> None:
    n = 40_000
    params, joint, _ = _arrivals(n, "joint")
    assert ((joint.complaints + joint.compliments) >= 1).all()
    q = -np.expm1(-(np.exp(params.a) + np.exp(params.c)))
    selected = params.initial_probs * q / (params.initial_probs * q).sum()
    shares = np.bincount(joint.state, minlength=3) / n
    assert np.all(np.abs(shares - selected) < 4 * np.sqrt(selected * (1 - selected) / n))
    _, free, _ = _arrivals(n, "none")
    silent = np.mean(free.complaints + free.compliments == 0)
    expected = float((params.initial_probs * (1 - q)).sum())
    assert abs(silent - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    # a customer who has been here before is never conditioned
    moving = Customers(brand=np.zeros(n, dtype=np.int64), state=np.full(n, 2), shift=np.zeros(n),
                       redress=np.zeros(n))
    later, _ = step(params, moving, AnswerNone(), GeneratorDraws(np.random.default_rng(1)))
    assert np.any(later.complaints + later.compliments == 0)


def test_an_almost_silent_state_gets_its_first_contact_voice_from_the_same_law() -> None:
    # Rates of a few per thousand (as fitted on real weekly data) leave customers silent after
    # every rejection round the step allows; the rest are drawn given some voice.
    params = default_params().replace(a=np.log([0.002, 0.3, 1.0]), c=np.log([0.001, 0.2, 0.5]))
    n = 60_000
    for mode in ("state", "joint"):
        _, period, _ = _arrivals(n, mode, seed=5, params=params)
        assert ((period.complaints + period.compliments) >= 1).all()
        lam, mu = np.exp(params.a), np.exp(params.c)
        q = -np.expm1(-(lam + mu))
        for k in range(3):
            cell = period.complaints[period.state == k]
            # E[C | C + P ≥ 1, k] = λ_k / q_k; in the silent state C is 1 with probability
            # about λ/(λ + μ) = 2/3 (a Bernoulli bound where the sample sd could be 0)
            bound = max(cell.std(), 0.5) / np.sqrt(cell.size)
            assert abs(cell.mean() - lam[k] / q[k]) < 4 * bound, (mode, k)
        shares = np.bincount(period.state, minlength=3) / n
        expected = (params.initial_probs if mode == "state" else
                    params.initial_probs * q / (params.initial_probs * q).sum())
        assert np.all(np.abs(shares - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
                      + 1e-12), (mode, shares)


def test_truncated_poisson_is_the_inverse_cdf_given_at_least_one() -> None:
    n = 200_000
    u = (np.arange(n) + 0.5) / n  # a grid: each count's share is its probability to 1/n
    for rate in (0.003, 0.7, 4.0):
        counts = truncated_poisson(u, np.full(n, rate))
        assert counts.min() >= 1
        law = stats.poisson(rate)
        for k in range(1, 6):
            assert abs(np.mean(counts == k) - law.pmf(k) / law.sf(0)) < 2 / n, (rate, k)
        assert np.all(np.diff(counts) >= 0)  # monotone in u


def test_transition_rows_are_the_matrices_rows_at_the_current_state() -> None:
    params = default_params()
    rng = np.random.default_rng(2)
    state = rng.integers(0, 3, 500)
    shift = rng.normal(0, 2, 500)
    full = transition_matrices(params.tau, shift)[np.arange(500), state]
    np.testing.assert_array_equal(transition_rows(params.tau, state, shift), full)


def test_redress_is_updated_only_after_the_period() -> None:
    params = default_params()
    n = 2000
    customers = Customers(brand=np.zeros(n, dtype=np.int64), state=np.zeros(n, dtype=np.int64),
                          shift=np.zeros(n), redress=np.zeros(n))
    rng = np.random.default_rng(3)
    period, carry = step(params, customers, AnswerAll(), GeneratorDraws(rng))
    answered = period.complaints > 0
    assert answered.any()
    # this period's complaints were drawn without the redress its answers create ...
    assert (period.redress == 0).all()
    np.testing.assert_array_equal(period.rate_complaints, np.exp(params.a[period.state]))
    # ... which counts from the next period on
    np.testing.assert_array_equal(carry.redress, answered.astype(float))
    after, _ = step(params, carry, AnswerNone(), GeneratorDraws(rng))
    np.testing.assert_allclose(after.rate_complaints,
                               np.exp(params.a[after.state] + params.gamma * carry.redress))
    np.testing.assert_array_equal(after.redress, carry.redress)


def test_the_transition_uses_the_previous_periods_intervention() -> None:
    params = default_params()
    n = 5000
    previous = np.random.default_rng(4).integers(0, 2, n)  # answered in the previous period
    customers = Customers(
        brand=np.zeros(n, dtype=np.int64), state=np.full(n, 1),
        shift=params.transition_shift({"intervened": previous, "peer_voice": np.zeros(n)}),
        redress=np.zeros(n))
    u = _uniforms(n)
    now_all, next_all = step(params, customers, AnswerAll(), UniformDraws(u))
    now_none, next_none = step(params, customers, AnswerNone(), UniformDraws(u))
    # this period's answers cannot move this period's state ...
    np.testing.assert_array_equal(now_all.state, now_none.state)
    # ... which is the ordered-logit move from the previous state by the previous shift
    rows = transition_matrices(params.tau, params.delta * previous)[np.arange(n), 1]
    np.testing.assert_array_equal(now_all.state, categorical(u["transition"], rows))
    moved_up = np.mean(now_all.state[previous == 1] == 2) - np.mean(now_all.state[previous == 0]
                                                                    == 2)
    assert moved_up > 0.1  # δ > 0: an answer moves the relationship up
    # ... and they move the next period's: by +δ where a complaint was answered
    np.testing.assert_allclose(next_all.shift - next_none.shift,
                               params.delta * (now_all.complaints > 0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(next_none.shift, params.eta * now_none.peer_voice)


def test_peer_voice_is_the_brand_others_net_voice_unless_supplied() -> None:
    params = default_params()
    customers = Customers(brand=np.array([0, 0, 0, 1]), state=np.array([0, 1, 2, 0]),
                          shift=np.zeros(4), redress=np.zeros(4))
    period, _ = step(params, customers, AnswerNone(), UniformDraws(_uniforms(4, seed=9)))
    net = period.compliments - period.complaints
    expected = [(net[1] + net[2]) / 2, (net[0] + net[2]) / 2, (net[0] + net[1]) / 2, 0.0]
    np.testing.assert_allclose(period.peer_voice, expected)
    supplied, carry = step(params, customers, AnswerNone(), UniformDraws(_uniforms(4, seed=9)),
                           peer_voice=np.full(4, 0.5))
    assert supplied.peer_complaints is None
    np.testing.assert_allclose(carry.shift, params.eta * 0.5)


def test_answer_rules() -> None:
    params = default_params()
    n = 20_000
    customers = Customers(brand=np.repeat([0, 1], n // 2), state=np.zeros(n, dtype=np.int64),
                          shift=np.zeros(n), redress=np.ones(n))
    rng = np.random.default_rng(6)
    by_logit, _ = step(params, customers, AnswerByLogit(logit(np.array([0.2, 0.8]))),
                       GeneratorDraws(rng))
    at_rate, _ = step(params, customers, AnswerAtRate(np.array([0.2, 0.8]),
                                                      fast_share=np.array([0.0, 1.0])),
                      GeneratorDraws(rng))
    for period in (by_logit, at_rate):
        for b, p in enumerate((0.2, 0.8)):
            mine = customers.brand == b
            share = period.answered[mine].sum() / period.complaints[mine].sum()
            assert abs(share - p) < 0.02, (b, share)
    np.testing.assert_array_equal(at_rate.fast, (at_rate.answered > 0) & (customers.brand == 1))
    everything, _ = step(params, customers, AnswerAll(all_fast=True), GeneratorDraws(rng))
    np.testing.assert_array_equal(everything.answered, everything.complaints)
    np.testing.assert_array_equal(everything.fast, everything.complaints > 0)
    np.testing.assert_array_equal(everything.unanswered, 0)
    # state-dependent answers (the reply model; the simulator's endogenous replies)
    poor = Customers(brand=np.zeros(n, dtype=np.int64), state=np.zeros(n, dtype=np.int64),
                     shift=np.zeros(n), redress=np.zeros(n))
    rule = AnswerByLogit(brand_logit=np.zeros(1), state_shift=np.array([2.0, 0.0, -2.0]))
    period, _ = step(params, poor, rule, GeneratorDraws(rng))
    worst = period.state == 0
    share = period.answered[worst].sum() / period.complaints[worst].sum()
    assert abs(share - 1 / (1 + np.exp(-2.0))) < 0.02


# --------------------------------------------------------------------------------------------
# The parameter type
# --------------------------------------------------------------------------------------------


def test_default_params_are_the_design_calibration() -> None:
    params = default_params()
    np.testing.assert_array_equal(params.a, [0.0, -1.0, -2.5])
    np.testing.assert_array_equal(params.c, [-3.0, -1.8, -0.7])
    assert (params.gamma, params.delta, params.eta, params.kappa) == (0.4, 1.2, 0.5, 0.0)
    np.testing.assert_array_equal(params.tau, [[1.5, 4.0], [-1.5, 1.0], [-3.5, -1.5]])
    np.testing.assert_array_equal(params.initial_probs, [0.4, 0.4, 0.2])
    np.testing.assert_array_equal(params.neutral, np.full(3, NEUTRAL_LOG_RATE))
    assert params.spec == ModelSpec() and params.n_states == 3


def test_reported_names_are_the_estimators() -> None:
    params = default_params()
    listed = params.reported()
    truth = RelationshipHMM.from_params(params).params_
    assert list(listed.index) == list(truth.index)
    np.testing.assert_allclose(listed.to_numpy(), truth.to_numpy(), rtol=1e-12, atol=1e-14)
    assert {"gamma", "delta", "eta", "a[poor]", "tau[fair,2]", "pi[good]"} <= set(listed.index)
    spec = ModelSpec(compliment_covariates=("redress",),
                     transition_covariates=("intervened", "peer_voice", "unanswered_complaints",
                                            "fast_reply"),
                     initial_covariates=("x",), sentiment="sentiment_mean", reply_model=True,
                     latency_hours=2.0, brands=("b0", "b1"))
    layout = ParamLayout(spec)
    theta = np.random.default_rng(0).normal(size=layout.n_params)
    names, values = layout.reported(theta)
    pd.testing.assert_series_equal(layout.to_natural(theta).reported(),
                                   pd.Series(values, index=names, name="params"))
    assert {"kappa", "delta_fast", "beta_p[redress]", "init[fair,x]", "m[good]", "rho[b1]",
            "psi[good]"} <= set(names)


def test_json_round_trip_and_the_truth_file(tmp_path: Path, world: World) -> None:
    spec = ModelSpec(compliment_covariates=("redress",), initial_covariates=("x",),
                     sentiment="sentiment_mean", reply_model=True, brands=("b0", "b1"))
    layout = ParamLayout(spec)
    rich = layout.to_natural(np.random.default_rng(1).normal(size=layout.n_params))
    for params in (default_params(), rich):
        again = ModelParams.from_dict(json.loads(json.dumps(params.to_dict())))
        assert again.spec == params.spec
        for name in ("a", "c", "beta_c", "beta_p", "beta_tr", "tau", "init", "sent_mean",
                     "sent_log_sd", "reply_brand", "reply_state"):
            np.testing.assert_allclose(getattr(again, name), getattr(params, name), rtol=1e-12,
                                       atol=1e-14, err_msg=name)
        pd.testing.assert_series_equal(again.reported(), params.reported(), rtol=1e-12)
    # truth/params.json keeps the values a reader (and the paper) looks up by name
    model = world.truth_dict()["model"]
    assert (model["gamma"], model["delta"], model["eta"]) == (0.4, 1.2, 0.5)
    assert model["complaint_log_rate"] == [0.0, -1.0, -2.5]
    assert model["initial_probs"] == [0.4, 0.4, 0.2]
    # ... and the report's truth for the recovery figure is the estimator's listing
    from complaintpanel.commands.report import _hmm_truth

    path = write_json(world.truth_dict(), tmp_path / "params.json")
    truth = pd.Series(_hmm_truth(Path(path)))
    pd.testing.assert_series_equal(truth, world.params.reported(), check_names=False,
                                   rtol=1e-11)


def test_named_values_are_checked() -> None:
    params = default_params()
    named = {"complaint_log_rate": params.a, "compliment_log_rate": params.c,
             "thresholds": params.tau, "initial_probs": (0.4, 0.4, 0.2)}
    with pytest.raises(ValueError, match="increase"):
        ModelParams.core(**{**named, "thresholds": params.tau[:, ::-1]})
    with pytest.raises(ValueError, match="probability"):
        ModelParams.core(**{**named, "initial_probs": (0.5, 0.5, 0.0)})
    with pytest.raises(ValueError, match="length K"):
        ModelParams.core(**{**named, "compliment_log_rate": (0.0, 1.0)})
    with pytest.raises(ValueError, match="unanswered_complaints"):
        params.replace(kappa=0.3)
    assert ModelParams.core(**named, kappa=0.3).kappa == 0.3  # the spec then includes U
    assert params.replace(kappa=0.0) is params
    assert params.replace(gamma=0.0).gamma == 0.0 and params.gamma == 0.4
    with pytest.raises(ValueError, match="non-zero"):
        params.with_spec(ModelSpec(transition_covariates=("intervened",)))
    dropped = params.replace(eta=0.0).with_spec(ModelSpec(transition_covariates=("intervened",)))
    assert dropped.eta == 0.0 and dropped.delta == 1.2
    with pytest.raises(ValueError, match="sentiment"):
        params.with_spec(ModelSpec(sentiment="sentiment_mean"))
    with pytest.raises(ValueError, match="specification"):
        ParamLayout(ModelSpec(transition_covariates=("intervened",))).from_natural(params)


# --------------------------------------------------------------------------------------------
# Draws
# --------------------------------------------------------------------------------------------


def test_uniform_draws_are_inverse_cdfs() -> None:
    m = 200_000
    u = (np.arange(m) + 0.5) / m  # an even grid: frequencies are the distribution itself
    poisson = UniformDraws({"x": u}).poisson("x", np.full(m, 1.3))
    np.testing.assert_array_equal(poisson, stats.poisson.ppf(u, 1.3))
    n, p = np.full(m, 4), np.full(m, 0.3)
    binomial = UniformDraws({"x": u}).binomial("x", n, p)
    shares = np.bincount(binomial, minlength=5) / m
    np.testing.assert_allclose(shares, stats.binom.pmf(range(5), 4, 0.3), atol=2 / m)
    # one trial succeeds when u < p (as rng.random() < p); more uniforms, fewer successes
    single = UniformDraws({"x": u}).binomial("x", np.ones(m, dtype=np.int64), p)
    np.testing.assert_array_equal(single, u < 0.3)
    assert np.all(np.diff(binomial) <= 0)
    np.testing.assert_array_equal(UniformDraws({"x": u}).normal("x", m), ndtri(u))
    np.testing.assert_array_equal(
        UniformDraws({"x": u[:3]}).binomial("x", np.array([0, 2, 5]), np.array([0.5, 1.0, 0.0])),
        [0, 2, 0])
    draws = UniformDraws({"x": u[:2]})
    draws.uniform("x", 2)
    with pytest.raises(ValueError, match="already used"):
        draws.uniform("x", 2)
    with pytest.raises(KeyError, match="purpose 'y'"):
        GeneratorDraws({"x": np.random.default_rng(0)}).poisson("y", np.ones(2))


def test_generator_draws_follow_the_generator() -> None:
    a, b = np.random.default_rng(8), np.random.default_rng(8)
    draws = GeneratorDraws(a)
    rate = np.array([0.5, 2.0, 1.0])
    np.testing.assert_array_equal(draws.poisson("complaints", rate), b.poisson(rate))
    np.testing.assert_array_equal(draws.uniform("transition", 4), b.random(4))
    np.testing.assert_array_equal(draws.binomial("answer", np.array([3, 0, 2]), 0.4),
                                  b.binomial(np.array([3, 0, 2]), 0.4))
