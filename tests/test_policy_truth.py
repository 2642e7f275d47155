"""The policy truth (issue 18): the policy outcomes at a simulated world's true parameters.

* the mapping puts each true parameter in its slot of the fitted model's layout: the core
  blocks by name, the true confusion ``M`` where the fit estimates one, the true reply
  probabilities where it has the reply process (ρ, ψ where it has the reply model), zero for
  covariates the world lacks; a truth outside the fitted family is refused with a reason;
* known answer: with the fitted results set to the truth, the truth equals the estimate's
  point values — exactly on common random numbers, within simulation noise on others;
* the CLI writes policy_truth.json only with ``--truth`` and names it in policy.json.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.policy import simulate_policies
from complaintpanel.hmm.policy_truth import (
    TruthNotInModel,
    policy_truth,
    true_misclassification,
    true_reply_probabilities,
    truth_noise_bound,
    truth_results,
)
from complaintpanel.hmm.results import RelationshipHMMResults, StartReport
from complaintpanel.hmm.sampling import sample_panel
from complaintpanel.model import ModelParams, ModelSpec, default_params
from complaintpanel.model.measurement import q_logits

M_TRUE = np.array([[0.85, 0.05, 0.10],
                   [0.02, 0.90, 0.08],
                   [0.09, 0.11, 0.80]])
SHARES = np.array([0.5, 0.3, 0.2])  # true voice shares behind the label census
BRANDS = ("brand0", "brand1")
REPLY = np.array([0.3, 0.7])  # each brand's reply probability for a complaint
FACTORS = {"compliment": 0.3, "neutral": 0.8}
VOICE_COLUMNS = ("complaints", "compliments", "neutral")
ANSWER_COLUMNS = ("answered_complaints", "answered_compliments", "answered_neutral")
SETTINGS = {"horizon": 3, "cohort_horizon": 4, "arms": ["none", "observed", "all"],
            "populations": ["observed", "cohort"], "learning_off": True, "budget": 0.1,
            "objective": "good_share", "n_paths": 2, "random_state": 3}


def _truth_json(params: ModelParams | None = None, **world: object) -> dict:
    """A ``truth/params.json`` of a world drawn from ``params`` (default calibration)."""
    params = params or default_params()
    return {"model": params.to_dict(),
            "brands": [{"handle": b, "reply_prob": float(p)} for b, p in zip(BRANDS, REPLY,
                                                                             strict=True)],
            "behaviour": {"reply_factor_compliment": FACTORS["compliment"],
                          "reply_factor_neutral": FACTORS["neutral"],
                          "endogenous_logit_shift": 0.0},
            "heterogeneity": {"complaint_re_sd": 0.0, "compliment_re_sd": 0.0,
                              "delta_classes": []},
            "redress": {"kind": "binary", "decay": None},
            "world": {"endogenous_replies": False, **world}}


def _reply_matrix() -> np.ndarray:
    return np.vstack([REPLY, REPLY * FACTORS["compliment"], REPLY * FACTORS["neutral"]])


def _corrected_spec(**changes: object) -> ModelSpec:
    """The layout of a misclassification-corrected fit with the reply process."""
    census = tuple(float(x) for x in 1e6 * SHARES @ M_TRUE)
    spec = ModelSpec(n_states=3, neutral=True, reply_process=True, brands=BRANDS,
                     validation_counts=((300, 20, 40), (5, 280, 30), (25, 30, 260)),
                     validation_population=census)
    return dataclasses.replace(spec, **changes)


def _results(spec: ModelSpec, params: ModelParams, m: np.ndarray | None = None,
             reply: np.ndarray | None = None) -> RelationshipHMMResults:
    """Results whose estimate is ``params`` with confusion ``m`` and reply probabilities."""
    layout = ParamLayout(spec)
    q = None
    if spec.validation_counts is not None:
        joint = SHARES[:, None] * (M_TRUE if m is None else m)
        q = q_logits(joint / joint.sum(axis=0, keepdims=True))
    theta = layout.from_natural(params.with_spec(spec), q_logit_values=q)
    if spec.reply_process:
        theta[layout.slices["reply_logits"]] = logit(
            _reply_matrix() if reply is None else reply).ravel()
    return RelationshipHMMResults(
        spec=spec, theta=theta, cov_theta=np.eye(theta.size) * 1e-4, loglike=0.0, nobs=1,
        n_sequences=1, n_customers=1,
        starts=[StartReport(loglike=0.0, converged=True, n_iter=0, n_eval=0, message="",
                            seconds=0.0)])


@pytest.fixture(scope="module")
def labelled_panel() -> pd.DataFrame:
    """A small panel drawn from the truth: tweets answered by true voice, then mislabelled."""
    rng = np.random.default_rng(8)
    panel = sample_panel(default_params(), 300, 10, n_brands=2, reply_probs=tuple(REPLY),
                         random_state=8)
    b = panel["brand"].map({"brand0": 0, "brand1": 1}).to_numpy()
    reply = _reply_matrix()
    panel["answered_compliments"] = rng.binomial(panel["compliments"], reply[1, b])
    panel["answered_neutral"] = rng.binomial(panel["neutral"], reply[2, b])
    labels = np.zeros((len(panel), 3), dtype=np.int64)
    answered = np.zeros((len(panel), 3), dtype=np.int64)
    for v, (count, ans) in enumerate(zip(VOICE_COLUMNS, ANSWER_COLUMNS, strict=True)):
        yes = panel[ans].to_numpy()
        drawn_yes = rng.multinomial(yes, M_TRUE[v])
        answered += drawn_yes
        labels += drawn_yes + rng.multinomial(panel[count].to_numpy() - yes, M_TRUE[v])
    panel[list(VOICE_COLUMNS)] = labels
    panel[list(ANSWER_COLUMNS)] = answered
    return panel.drop(columns=["intervened", "redress", "unanswered_complaints"])


# ------------------------------------------------------------------ the mapping
def test_each_true_parameter_lands_in_its_slot_of_the_corrected_layout():
    truth = default_params()
    # a fit far from the truth, so a value copied from it instead of the truth shows
    fitted_params = truth.replace(gamma=0.9, delta=0.3, eta=-0.2,
                                  a=truth.a - 0.4, c=truth.c + 0.3)
    wrong_m = np.array([[0.7, 0.1, 0.2], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    fitted = _results(_corrected_spec(), fitted_params, m=wrong_m,
                      reply=np.full((3, 2), 0.5))
    res = truth_results(fitted, _truth_json(), misclassification=M_TRUE)
    nat = res.model_params()
    assert (nat.gamma, nat.delta, nat.eta) == pytest.approx((0.4, 1.2, 0.5), abs=1e-12)
    np.testing.assert_allclose(nat.a, truth.a, atol=1e-12)
    np.testing.assert_allclose(nat.c, truth.c, atol=1e-12)
    np.testing.assert_allclose(nat.neutral, truth.neutral, atol=1e-12)
    np.testing.assert_allclose(nat.tau, truth.tau, atol=1e-12)
    np.testing.assert_allclose(nat.initial_probs, truth.initial_probs, atol=1e-12)
    m = res.layout.misclassification(res.theta)
    assert m is not None, "the truth must carry the true confusion where the fit has M"
    np.testing.assert_allclose(m, M_TRUE, atol=1e-12)
    reply = res.layout.reply_logits(res.theta)
    assert reply is not None
    np.testing.assert_allclose(expit(reply), _reply_matrix(), atol=1e-12)
    # the fitted layout except that M is held at the truth instead of estimated
    assert res.spec == dataclasses.replace(
        fitted.spec, validation_counts=None, validation_population=None,
        fixed_misclassification=tuple(map(tuple, M_TRUE.tolist())))
    assert res.cov_theta.shape == (res.theta.size,) * 2 and not res.cov_theta.any()


def test_covariates_the_world_lacks_are_zero_and_the_reply_model_maps_to_rho_psi():
    spec = ModelSpec(n_states=3, transition_covariates=(
        "intervened", "peer_voice", "unanswered_complaints", "fast_reply"), latency_hours=2.0,
        reply_model=True, brands=BRANDS)
    params = ModelParams(spec=spec, a=np.array([0.1, -0.8, -2.0]), c=np.array([-2.5, -1.5, -0.5]),
                         beta_c=np.array([0.7]), beta_p=np.zeros(0),
                         beta_tr=np.array([0.9, 0.4, -0.3, 0.5]),
                         tau=default_params().tau, init=np.zeros((2, 1)),
                         sent_mean=np.zeros(0), sent_log_sd=np.zeros(0),
                         reply_brand=np.array([0.2, 0.3]), reply_state=np.array([0.4, 0.5]))
    fitted = _results(spec, params)
    res = truth_results(fitted, _truth_json())
    nat = res.model_params()
    assert (nat.gamma, nat.delta, nat.eta, nat.kappa, nat.delta_fast) == pytest.approx(
        (0.4, 1.2, 0.5, 0.0, 0.0), abs=1e-12)
    np.testing.assert_allclose(nat.reply_brand, logit(REPLY), atol=1e-12)
    np.testing.assert_allclose(nat.reply_state, 0.0, atol=1e-12)
    assert res.layout.misclassification(res.theta) is None  # a naive fit stays naive


def test_random_intercepts_take_the_world_sd_and_classes_are_refused():
    truth = default_params().replace(neutral=None)
    layout_theta = ParamLayout(truth.spec).from_natural(truth.replace(gamma=0.1))
    fitted = RelationshipHMMResults(
        spec=truth.spec, theta=np.concatenate([layout_theta, [0.3]]),
        cov_theta=np.eye(layout_theta.size + 1) * 1e-4, loglike=0.0, nobs=1, n_sequences=1,
        n_customers=1,
        starts=[StartReport(loglike=0.0, converged=True, n_iter=0, n_eval=0, message="",
                            seconds=0.0)],
        extra={"heterogeneity": {"kind": "random_intercepts", "quadrature_nodes": 5,
                                 "homogeneous": {"bic": 0.0}}})
    world = _truth_json(truth)
    world["heterogeneity"]["complaint_re_sd"] = 0.8
    res = truth_results(fitted, world)
    assert res.params["sigma[complaint]"] == pytest.approx(0.8)
    assert res.params["gamma"] == pytest.approx(0.4)
    assert res.extra["heterogeneity"]["kind"] == "random_intercepts"
    classes = SimpleNamespace(spec=truth.spec, extra={"heterogeneity": {"kind": "classes"}})
    with pytest.raises(TruthNotInModel, match="classes"):
        truth_results(classes, _truth_json(truth))  # type: ignore[arg-type]


BIVARIATE_INFO = {"kind": "random_intercepts", "quadrature_nodes": 3,
                  "effects": ["complaint", "compliment"], "homogeneous": {"bic": 0.0}}


def _bivariate_results(params: ModelParams, chol: tuple[float, float, float]
                       ) -> RelationshipHMMResults:
    """A fit with correlated complaint and compliment intercepts, its Cholesky factor ``chol``."""
    theta = np.concatenate([ParamLayout(params.spec).from_natural(params), chol])
    return RelationshipHMMResults(
        spec=params.spec, theta=theta, cov_theta=np.eye(theta.size) * 1e-4, loglike=0.0,
        nobs=1, n_sequences=1, n_customers=1,
        starts=[StartReport(loglike=0.0, converged=True, n_iter=0, n_eval=0, message="",
                            seconds=0.0)],
        extra={"heterogeneity": dict(BIVARIATE_INFO)})


def _bivariate_world(params: ModelParams) -> dict:
    world = _truth_json(params)
    world["heterogeneity"].update(complaint_re_sd=0.6, compliment_re_sd=0.5, re_corr=-0.3)
    return world


def test_bivariate_intercepts_take_the_world_cholesky_factor():
    """σ_c, σ_p and their correlation land in (l11, l21, l22) as the simulator draws b = L z."""
    truth = default_params().replace(neutral=None)
    fitted = _bivariate_results(truth.replace(gamma=0.1), (0.2, 0.4, 0.1))
    res = truth_results(fitted, _bivariate_world(truth))
    np.testing.assert_allclose(res.theta[-3:], [0.6, -0.3 * 0.5, np.sqrt(1 - 0.09) * 0.5],
                               atol=1e-12)
    assert (res.params["sigma[complaint]"], res.params["sigma[compliment]"],
            res.params["corr[complaint,compliment]"], res.params["gamma"]) == pytest.approx(
        (0.6, 0.5, -0.3, 0.4), abs=1e-12)
    # the same world against a complaint-only intercept: outside the fitted family
    univariate = dataclasses.replace(fitted, theta=fitted.theta[:-2], cov_theta=np.eye(
        fitted.theta.size - 2), extra={"heterogeneity": {"kind": "random_intercepts",
                                                          "quadrature_nodes": 3}})
    with pytest.raises(TruthNotInModel, match="compliment"):
        truth_results(univariate, _bivariate_world(truth))
    # a world without a compliment effect is inside the bivariate family: l21 = l22 = 0
    plain = _truth_json(truth)
    plain["heterogeneity"]["complaint_re_sd"] = 0.6
    np.testing.assert_allclose(truth_results(fitted, plain).theta[-3:], [0.6, 0.0, 0.0])


def test_bivariate_truth_equals_the_estimate_at_the_truth_on_common_random_numbers():
    """The policy truth of a bivariate world is the policy simulation at its true (θ, L)."""
    truth = default_params().replace(neutral=None)
    panel = sample_panel(truth, 150, 8, n_brands=2, reply_probs=tuple(REPLY), random_state=5)
    chol = (0.6, -0.15, float(np.sqrt(0.91) * 0.5))
    at_truth = _bivariate_results(truth, chol)
    settings = SETTINGS | {"arms": ["none", "all"]}
    estimate = simulate_policies(at_truth, panel, n_draws=0, n_paths=3,
                                 parameter_uncertainty=False,
                                 random_state=settings["random_state"] + 10**6,
                                 horizon=settings["horizon"],
                                 cohort_horizon=settings["cohort_horizon"],
                                 policies=tuple(settings["arms"]), budget=settings["budget"],
                                 objective=settings["objective"])
    assert estimate.settings["heterogeneity"].startswith("random_intercepts")
    true = policy_truth(_bivariate_results(truth.replace(gamma=0.1), (0.2, 0.4, 0.1)),
                        _bivariate_world(truth), panel, settings=settings, paths=3, runs=1)
    keys = ["population", "contrast", "metric"]
    merged = estimate.contrasts.merge(pd.DataFrame(true["contrasts"]), on=keys,
                                      suffixes=("", "_true"), validate="one_to_one")
    assert len(merged) == len(estimate.contrasts) > 0
    np.testing.assert_allclose(merged["estimate_true"], merged["estimate"], atol=1e-9)
    assert true["settings"]["true_parameters"]["corr[complaint,compliment]"] == pytest.approx(
        -0.3)


@pytest.mark.parametrize(("change", "why"), [
    ({"heterogeneity": {"complaint_re_sd": 0.8, "compliment_re_sd": 0.0,
                        "delta_classes": []}}, "customers differ"),
    ({"behaviour": {"endogenous_logit_shift": 1.0, "reply_factor_compliment": 0.3,
                    "reply_factor_neutral": 0.8}}, "endogenous"),
    ({"redress": {"kind": "stock", "decay": 0.7}}, "redress"),
])
def test_a_truth_outside_the_fitted_family_is_refused_with_a_reason(change, why):
    fitted = _results(_corrected_spec(), default_params())
    with pytest.raises(TruthNotInModel, match=why):
        truth_results(fitted, {**_truth_json(), **change}, misclassification=M_TRUE)
    with pytest.raises(ValueError, match="true confusion"):  # M is needed, not guessed
        truth_results(fitted, _truth_json())


def test_true_confusion_and_reply_probabilities_known_answers():
    true = ["complaint"] * 4 + ["compliment"] * 2 + ["neutral"] * 2
    label = ["complaint", "complaint", "complaint", "neutral", "compliment", "compliment",
             "neutral", "complaint"]
    np.testing.assert_allclose(true_misclassification(true, label),
                               [[0.75, 0, 0.25], [0, 1, 0], [0.5, 0, 0.5]])
    np.testing.assert_allclose(true_reply_probabilities(_truth_json(), BRANDS[::-1]),
                               _reply_matrix()[:, ::-1])
    with pytest.raises(TruthNotInModel, match="not the world's"):
        true_reply_probabilities(_truth_json(), ("other",))
    bound = truth_noise_bound(2, 48)
    assert bound["truth_sd_over_se_at_most"] == pytest.approx(np.sqrt(2 / 48))
    assert 0.944 < bound["coverage_of_an_exact_95pct_interval_at_least"] < 0.946


# ------------------------------------------------------------------ known answer
@pytest.fixture(scope="module")
def fitted_at_truth() -> RelationshipHMMResults:
    """A corrected fit whose estimate is the truth (M through its q-logits, as fitted)."""
    fitted = _results(_corrected_spec(), default_params())
    m = fitted.layout.misclassification(fitted.theta)
    np.testing.assert_allclose(m, M_TRUE, atol=1e-12)  # the fixture itself is right
    return fitted


def _policy_settings() -> dict:
    return dict(horizon=SETTINGS["horizon"], cohort_horizon=SETTINGS["cohort_horizon"],
                policies=tuple(SETTINGS["arms"]), budget=SETTINGS["budget"],
                objective=SETTINGS["objective"])


def test_truth_equals_the_estimate_at_the_truth_on_common_random_numbers(
        fitted_at_truth, labelled_panel):
    estimate = simulate_policies(fitted_at_truth, labelled_panel, n_draws=0, n_paths=4,
                                 parameter_uncertainty=False,
                                 random_state=SETTINGS["random_state"] + 10**6,
                                 **_policy_settings())
    truth = policy_truth(fitted_at_truth, _truth_json(), labelled_panel, settings=SETTINGS,
                         misclassification=M_TRUE, paths=4, runs=1)
    assert truth["status"] == "computed"
    for name, keys in (("totals", ["population", "arm", "learning", "metric"]),
                       ("contrasts", ["population", "contrast", "metric"]),
                       ("periods", ["population", "arm", "learning", "period", "metric"])):
        merged = getattr(estimate, name).merge(pd.DataFrame(truth[name]), on=keys,
                                               suffixes=("", "_true"), validate="one_to_one")
        assert len(merged) == len(getattr(estimate, name)) > 0
        np.testing.assert_allclose(merged["estimate_true"], merged["estimate"], atol=1e-9)
    stored = truth["settings"]
    np.testing.assert_allclose(stored["true_misclassification"]["M"], M_TRUE, atol=1e-12)
    assert stored["true_reply_probabilities"]["neutral"]["brand1"] == pytest.approx(0.56)
    assert stored["true_parameters"]["gamma"] == pytest.approx(0.4)


def test_truth_is_within_simulation_noise_of_the_estimate_at_the_truth(
        fitted_at_truth, labelled_panel):
    estimate = simulate_policies(fitted_at_truth, labelled_panel, n_draws=6, n_paths=4,
                                 parameter_uncertainty=False, random_state=21,
                                 **_policy_settings())
    truth = policy_truth(fitted_at_truth, _truth_json(), labelled_panel, settings=SETTINGS,
                         misclassification=M_TRUE, paths=12, runs=3)
    keys = ["population", "contrast", "metric"]
    merged = estimate.contrasts.merge(pd.DataFrame(truth["contrasts"]), on=keys,
                                      suffixes=("", "_true"))
    merged = merged[merged["metric"].isin(["complaints", "compliments", "share_best"])]
    assert merged["mc_se"].gt(0).all() and merged["se"].gt(0).all()
    z = (merged["estimate"] - merged["estimate_true"]) / np.hypot(merged["se"],
                                                                  merged["mc_se"])
    assert z.abs().max() < 4.5, merged.assign(z=z).to_string()
    # and the all − none contrast is far from zero, so the check has teeth
    big = merged[(merged["contrast"] == "all_minus_none") & (merged["metric"] == "share_best")]
    assert (big["estimate_true"].abs() > 10 * big["mc_se"]).all()


# ------------------------------------------------------------------ CLI
def test_cli_writes_the_policy_truth_only_with_truth(tmp_path):
    from typer.testing import CliRunner

    from complaintpanel.cli import app

    truth = default_params().replace(neutral=None)
    folder = tmp_path / "world"
    (folder / "truth").mkdir(parents=True)
    sample_panel(truth, 200, 8, random_state=4).to_parquet(folder / "truth" / "states.parquet")
    (folder / "truth" / "params.json").write_text(json.dumps(_truth_json(truth)))
    out = tmp_path / "results"
    out.mkdir()
    (out / "hmm.json").write_text(json.dumps(_results(truth.spec, truth).to_dict()))
    common = ["policy", str(folder), "--out", str(out), "--horizon", "2", "--cohort-horizon",
              "3", "--draws", "2", "--paths", "2"]
    plain = CliRunner().invoke(app, common)
    assert plain.exit_code == 0, plain.output
    assert not (out / "policy_truth.json").exists()
    assert "truth_file" not in json.loads((out / "policy.json").read_text())

    with_truth = CliRunner().invoke(app, [*common, "--truth", str(folder / "truth"),
                                          "--truth-paths", "4"])
    assert with_truth.exit_code == 0, with_truth.output
    stored = json.loads((out / "policy.json").read_text())
    assert stored["truth_file"] == "policy_truth.json"
    true = json.loads((out / "policy_truth.json").read_text())
    assert true["status"] == "computed"
    assert true["settings"]["truth_paths"] == 4 and true["settings"]["runs"] == 4
    key = ["population", "contrast", "metric"]
    assert ({tuple(r[k] for k in key) for r in true["contrasts"]}
            == {tuple(r[k] for k in key) for r in stored["contrasts"]})
    assert true["input"]["truth"].endswith("params.json")

    again = CliRunner().invoke(app, common)  # a run without the truth leaves none behind
    assert again.exit_code == 0, again.output
    assert not (out / "policy_truth.json").exists()
    assert "truth_file" not in json.loads((out / "policy.json").read_text())
