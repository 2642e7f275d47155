"""Latent customer classes in the relationship HMM (issue 16): known answers, gradient, recovery."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import ParamLayout, RelationshipHMM, RelationshipHMMResults, prepare_panel
from complaintpanel.hmm.classes import LatentClasses, order_classes
from complaintpanel.hmm.heterogeneity import customer_groups
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.model import default_params
from complaintpanel.simulate import simulate_world

DELTAS = (0.4, 2.0)


@pytest.fixture(scope="module")
def small() -> tuple[ParamLayout, object, np.ndarray]:
    """40 customers × 26 weeks of a two-class δ world; θ at the truth, class 1 δ = 2.0."""
    world = simulate_world(SimulateConfig(customers=40, seed=5, delta_classes=DELTAS))
    spec = RelationshipHMM().make_spec()
    data = prepare_panel(world.states, spec)
    layout = ParamLayout(spec)
    theta = layout.from_natural(default_params().with_spec(spec))
    theta[layout.slices["beta_tr"].start] = DELTAS[0]  # δ of class 0
    return layout, data, theta


def test_one_class_and_equal_classes_are_the_homogeneous_model(small) -> None:  # type: ignore[no-untyped-def]
    layout, data, theta = small
    homogeneous = evaluate(theta, layout, data.chunks(4096))
    one = LatentClasses.from_data(layout, data, n_classes=1)
    ev = one.evaluate(theta)
    assert ev.loglik == pytest.approx(homogeneous.loglik, rel=1e-13)
    np.testing.assert_allclose(ev.gradient(), homogeneous.gradient(), rtol=1e-12, atol=1e-10)
    # two classes with the same δ, any shares: the same likelihood, no pull on the shares
    two = LatentClasses.from_data(layout, data, n_classes=2, blocks=("delta", "a"))
    a0 = theta[layout.slices["a"].start]
    same = np.concatenate([theta, [DELTAS[0], a0, 0.8]])
    ev2 = two.evaluate(same)
    assert ev2.loglik == pytest.approx(homogeneous.loglik, rel=1e-13)
    assert abs(ev2.gradient()[-1]) < 1e-10
    np.testing.assert_allclose(ev2.class_posterior[1], 1 / (1 + np.exp(-0.8)), rtol=1e-12)


def test_posterior_is_the_bayes_rule_over_whole_customers(small) -> None:  # type: ignore[no-untyped-def]
    """π_ic = s_c Π_s L_s(θ_c) / Σ_c' …, by hand from per-class per-sequence likelihoods."""
    layout, data, theta = small
    model = LatentClasses.from_data(layout, data, n_classes=2)
    point = np.concatenate([theta, [DELTAS[1], np.log(0.3 / 0.7)]])  # shares 0.7, 0.3
    ev = model.evaluate(point, gradient=False)
    codes, n_groups = customer_groups(data)
    chunks = data.chunks(4096)
    per_class = []
    for delta, share in zip(DELTAS, (0.7, 0.3), strict=True):
        theta_c = theta.copy()
        theta_c[layout.slices["beta_tr"].start] = delta
        per_class.append(np.log(share) + np.bincount(
            codes, evaluate(theta_c, layout, chunks, gradient=False).loglik_seq, n_groups))
    joint = np.array(per_class)
    expected = np.exp(joint - np.logaddexp(joint[0], joint[1]))
    np.testing.assert_allclose(ev.class_posterior, expected, rtol=1e-10)
    assert ev.loglik == pytest.approx(float(np.logaddexp(joint[0], joint[1]).sum()), rel=1e-12)


def test_gradient_matches_finite_differences(small) -> None:  # type: ignore[no-untyped-def]
    """Every coordinate: shared θ, class δ, class complaint level, share logit."""
    layout, data, theta = small
    model = LatentClasses.from_data(layout, data, n_classes=3, blocks=("delta", "a"))
    a0 = theta[layout.slices["a"].start]
    point = np.concatenate([theta, [1.2, 2.1, a0 - 0.3, a0 + 0.2, 0.4, -0.5]])
    point[:theta.size] += np.linspace(-0.05, 0.05, theta.size)
    grad = model.evaluate(point).gradient()
    numeric = np.empty_like(grad)
    for i in range(point.size):
        step = 1e-5
        up, down = point.copy(), point.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (model.evaluate(up, gradient=False).loglik
                      - model.evaluate(down, gradient=False).loglik) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-5)


def test_ordering_relabels_without_changing_the_likelihood(small) -> None:  # type: ignore[no-untyped-def]
    layout, data, theta = small
    model = LatentClasses.from_data(layout, data, n_classes=3)
    j = layout.slices["beta_tr"].start
    point = np.concatenate([theta, [-0.5, 2.0, np.log(0.2 / 0.5), np.log(0.3 / 0.5)]])
    point[j] = 1.0  # δ = (1.0, −0.5, 2.0), shares (0.5, 0.2, 0.3)
    ordered = order_classes(point, model)
    np.testing.assert_allclose(model.class_values(ordered, "delta"), [-0.5, 1.0, 2.0])
    _, shares = model.split(ordered)
    np.testing.assert_allclose(shares, [0.2, 0.5, 0.3], rtol=1e-12)
    assert model.evaluate(ordered, gradient=False).loglik == pytest.approx(
        model.evaluate(point, gradient=False).loglik, rel=1e-13)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[RelationshipHMM, pd.DataFrame, pd.DataFrame, dict, str]:  # type: ignore[type-arg]
    """`complaintpanel hmm --heterogeneity classes --classes 2 --select-heterogeneity`.

    Two classes, δ = 0.4 and 2.0, equal shares; 200 customers × 52 weeks of true counts
    (with 26 weeks a world this small often has too few answered complaints per customer to
    separate the classes: δ of the high class runs off). One start each (config) keeps it
    fast; the BIC comparison runs on a subsample of 40 customers. The fit is read back from
    hmm.json.
    """
    from typer.testing import CliRunner

    from complaintpanel.cli import app
    from complaintpanel.hmm.results import read_hmm_results

    world = simulate_world(SimulateConfig(customers=200, seed=1, weeks=52,
                                          delta_classes=DELTAS))
    folder = tmp_path_factory.mktemp("classes")
    (folder / "truth").mkdir(parents=True)
    world.states.to_parquet(folder / "truth" / "states.parquet")
    config = folder / "config.toml"
    config.write_text("[hmm]\nn_starts = 1\nseed = 0\nclass_starts = 1\nquadrature_nodes = 3\n"
                      "select_heterogeneity = true\nselect_customers = 40\n")
    out = folder / "results"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a singular information would fail
        result = CliRunner().invoke(app, ["hmm", str(folder), "--out", str(out),
                                          "--heterogeneity", "classes", "--classes", "2",
                                          "--config", str(config)])
    assert result.exit_code == 0, result.output
    results = read_hmm_results(out / "hmm.json")
    assert isinstance(results, RelationshipHMMResults)
    assert world.customers is not None
    stored = json.loads((out / "hmm.json").read_text())
    stored["table"] = (out / "hmm_heterogeneity.md").read_text()
    from complaintpanel.report.summary import summary_markdown

    stored["summary"] = summary_markdown(out)
    return (RelationshipHMM.from_results(results), world.states, world.customers, stored,
            result.stdout)


def test_recovers_both_class_deltas(fitted) -> None:  # type: ignore[no-untyped-def]
    """Both δ within 3 standard errors; shares within 3 SE of 0.5; BIC prefers classes."""
    model, _, _, _, stdout = fitted
    res = model.results_
    assert "delta[class1]" in stdout
    assert res.converged
    for name, truth in (("delta", DELTAS[0]), ("delta[class1]", DELTAS[1])):
        assert abs(res.params[name] - truth) < 3 * res.bse[name], name
    assert abs(res.params["share[class0]"] - 0.5) < 3 * res.bse["share[class0]"]
    assert res.params["share[class0]"] + res.params["share[class1]"] == pytest.approx(1.0)
    assert res.n_params == 17 + 2
    info = res.extra["heterogeneity"]
    assert info["kind"] == "classes" and info["classes"] == 2
    assert info["bic_selects"] == "classes"


def test_results_report_the_classes(fitted) -> None:  # type: ignore[no-untyped-def]
    model, states, customers, _, _ = fitted
    res = model.results_
    summary = res.summary()
    assert "delta[class1]" in summary and "share[class1]" in summary
    assert "2 latent classes in delta" in summary
    assert res.terms.loc["delta[class1]", "block"] == "heterogeneity"
    back = RelationshipHMMResults.from_dict(res.to_dict())
    pd.testing.assert_series_equal(back.params, res.params)
    pd.testing.assert_series_equal(back.bse, res.bse)
    # the rebuilt model scores the panel at the fit's log-likelihood
    assert RelationshipHMM.from_results(back).score(states) == pytest.approx(res.loglike,
                                                                             abs=1e-6)
    proba = model.class_proba(states)
    assert len(proba) == 200 and set(proba["customer_id"]) == set(customers["customer_id"])
    np.testing.assert_allclose(proba[["p_class0", "p_class1"]].sum(axis=1), 1.0)
    merged = proba.merge(customers, on="customer_id")
    # customers of the high-δ class are more likely to be put there
    high = merged["delta_class"] == 1
    assert merged.loc[high, "p_class1"].mean() > merged.loc[~high, "p_class1"].mean() + 0.1


def test_make_all_block_compares_three_heterogeneities(fitted) -> None:  # type: ignore[no-untyped-def]
    """hmm.json's heterogeneity_selection: three candidates on the subsample, one selected."""
    _, _, _, stored, stdout = fitted
    block = stored["heterogeneity_selection"]
    assert block["status"] == "estimated" and block["subsample"] is True
    assert block["customers"] == 40 and block["customers_total"] == 200
    candidates = {row["heterogeneity"]: row for row in block["candidates"]}
    assert set(candidates) == {"none", "random_intercepts", "classes"}
    assert [row["n_params"] for row in block["candidates"]] == [17, 18, 19]
    best = min(candidates.values(), key=lambda row: row["bic"])
    assert block["selected"] == best["heterogeneity"]
    assert f"BIC selects {block['selected']}" in stdout
    assert "sigma[complaint]" in candidates["random_intercepts"]["params"]
    assert "delta[class1]" in candidates["classes"]["params"]
    assert stored["table"].count("\n| ") == 3 and "40 customers" in stored["table"]
    assert "classes_seconds" not in stored["extra"]["heterogeneity"]
    assert f"**Customers differ**: BIC selects {block['selected']}" in stored["summary"]


def test_bad_class_settings_are_refused(small) -> None:  # type: ignore[no-untyped-def]
    layout, data, _ = small
    with pytest.raises(ValueError, match="class_blocks"):
        LatentClasses.from_data(layout, data, blocks=("gamma",))
    with pytest.raises(ValueError, match="classes must be at least 1"):
        RelationshipHMM(heterogeneity="classes", classes=0).fit(pd.DataFrame())
    from complaintpanel.config import HMMConfig

    with pytest.raises(ValueError, match=r"\[hmm\] classes"):
        HMMConfig(classes=0)


def test_comparison_that_cannot_be_made_is_recorded() -> None:
    """No answered complaint: the block says "not identified" instead of stopping the stage."""
    import dataclasses

    from complaintpanel.commands.hmm import _select_heterogeneity, _selection_markdown
    from complaintpanel.config import HMMConfig

    states = simulate_world(SimulateConfig(customers=30, seed=2)).states
    states = states.assign(answered_complaints=0).drop(columns=["intervened", "redress"])
    settings = dataclasses.replace(HMMConfig(), select_heterogeneity=True, select_customers=20)
    block = _select_heterogeneity(states, settings)
    assert block["status"] == "not identified" and block["customers"] == 20
    assert _selection_markdown(block).startswith("Heterogeneity not compared")


def test_class_parameters_are_reported_with_delta_method_errors() -> None:
    """share[class c] = softmax(0, η); its SE is s_0 s_1 · SE(η) (known answer, no fit)."""
    from complaintpanel.hmm.results import StartReport

    spec = RelationshipHMM().make_spec()
    layout = ParamLayout(spec)
    eta, var_eta, var_delta1 = 0.6, 0.04, 0.09
    theta = np.concatenate([layout.from_natural(default_params().with_spec(spec)), [2.0, eta]])
    cov = np.eye(theta.size) * 1e-4
    cov[-2, -2], cov[-1, -1] = var_delta1, var_eta
    res = RelationshipHMMResults(
        spec=spec, theta=theta, cov_theta=cov, loglike=0.0, nobs=1, n_sequences=1,
        n_customers=1, starts=[StartReport(0.0, True, 0, 0, "", 0.0)],
        extra={"heterogeneity": {"kind": "classes", "classes": 2, "class_blocks": ["delta"],
                                 "homogeneous": {"bic": 0.0}}})
    s1 = 1 / (1 + np.exp(-eta))
    assert res.params["delta[class1]"] == 2.0
    assert res.params["share[class1]"] == pytest.approx(s1, rel=1e-12)
    assert res.bse["delta[class1]"] == pytest.approx(np.sqrt(var_delta1), rel=1e-9)
    for name in ("share[class0]", "share[class1]"):
        assert res.bse[name] == pytest.approx(s1 * (1 - s1) * np.sqrt(var_eta), rel=1e-9)
