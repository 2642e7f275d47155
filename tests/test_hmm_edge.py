"""Estimates at the edge of the parameter space: held there, no standard error, the rest exact.

A transition probability of 0 puts a threshold's log gap far out, where the log-likelihood no
longer moves with it, so the observed information has a zero eigenvalue on that coordinate
alone. On about a third of the worlds with customer random effects this flagged the whole
fit as not converged (benchmarks/bench_hmm_heterogeneity.py), although γ and δ were fine.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from complaintpanel.hmm import RelationshipHMM, sample_panel
from complaintpanel.hmm.estimator import _invert_information, flat_coordinates
from complaintpanel.model import default_params


def _spd(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    root = rng.normal(size=(n, n))
    return root @ root.T + n * np.eye(n)


def test_a_flat_coordinate_is_held_and_the_rest_inverted_exactly():
    inner = _spd(4, 0)
    information = np.zeros((5, 5))
    keep = [0, 1, 3, 4]
    information[np.ix_(keep, keep)] = inner
    information[2, 2] = 1e-13 * inner.max()
    assert flat_coordinates(information) == [2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pseudo-inverse warning
        cov, ok = _invert_information(information)
    assert ok
    assert not cov[2].any() and not cov[:, 2].any()
    np.testing.assert_allclose(cov[np.ix_(keep, keep)], np.linalg.inv(inner), rtol=1e-12)


def test_a_null_direction_shared_by_coordinates_is_not_flat():
    # Two parameters identified only through their sum: neither is flat by itself.
    information = _spd(4, 1)
    information[2:, 2:] = 5.0  # rank-one block: null direction (0, 0, 1, −1)/√2
    information[2:, :2] = information[:2, 2:] = 0.0
    assert flat_coordinates(information) == []
    with pytest.warns(RuntimeWarning, match="not positive definite"):
        cov, ok = _invert_information(information)
    assert not ok
    np.testing.assert_allclose(cov[:2, :2], np.linalg.inv(information[:2, :2]), rtol=1e-10)


def test_interior_information_is_inverted_as_before():
    information = _spd(6, 2)
    cov, ok = _invert_information(information)
    assert ok
    np.testing.assert_allclose(cov, np.linalg.inv(information), rtol=1e-12)


@pytest.fixture(scope="module")
def edge_fit() -> RelationshipHMM:
    # P(poor → good) = 0 in the truth: its threshold is far out.
    truth = default_params().replace(neutral=None)
    tau = truth.tau.copy()
    tau[0, 1] = 40.0
    truth = dataclasses.replace(truth, tau=tau)
    panel = sample_panel(truth, 800, 20, random_state=5)
    return RelationshipHMM(n_starts=2, random_state=3).fit(panel)


def test_a_fit_at_the_edge_converges_with_that_parameter_named(edge_fit):
    res = edge_fit.results_
    assert res.held_at_edge == ["tau[poor,2]"]
    assert res.hessian_ok and res.converged
    assert np.isnan(res.bse["tau[poor,2]"])
    others = res.bse.drop("tau[poor,2]")
    assert np.isfinite(others).all() and (others > 0).all()
    assert "tau[poor,2]" in res.summary()
    # The edge is where the truth is: P(poor → good) ≈ 0 at every covariate value.
    assert edge_fit.transmat_[0, 2] < 1e-6


def test_draws_hold_the_edge_parameter_at_its_estimate(edge_fit):
    res = edge_fit.results_
    j = res.layout.slices["tau"].start + 1  # log gap of the poor row's second cut
    draws = np.array([res.draw_theta(seed) for seed in range(20)])
    assert np.all(draws[:, j] == res.theta[j])
    assert draws[:, res.layout.slices["a"].start].std() > 0


def test_tables_say_at_the_edge_instead_of_a_standard_error(edge_fit):
    from complaintpanel.report.paper_tables import hmm_table

    res = edge_fit.results_
    markdown = res.to_markdown()
    assert "| `tau[poor,2]` | " in markdown and "| — | at the edge |" in markdown
    assert "nan" not in markdown.lower()
    assert "at the edge" in res.to_latex() and "nan" not in res.to_latex().lower()
    table = hmm_table({"Fit": res})
    assert "edge of the parameter space" in table.notes
    interior = dataclasses.replace(res, cov_theta=np.linalg.inv(_spd(res.theta.size, 3)))
    assert interior.held_at_edge == []
    assert "edge" not in hmm_table({"Fit": interior}).notes


def test_hmm_json_is_strict_json_with_null_for_the_edge(edge_fit, tmp_path):
    """Typst (the paper) reads hmm.json and refuses NaN: a held parameter's SE is null."""
    import json

    from complaintpanel.hmm.results import read_hmm_results
    from complaintpanel.runtime.io import write_json

    res = edge_fit.results_
    path = tmp_path / "hmm.json"
    write_json(res.to_dict(), path)
    values = json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(name))
    assert values["bse"]["tau[poor,2]"] is None
    assert values["conf_int_95"]["tau[poor,2]"] == [None, None]
    back = read_hmm_results(path)
    assert back.held_at_edge == ["tau[poor,2]"]
    np.testing.assert_allclose(back.bse.drop("tau[poor,2]"), res.bse.drop("tau[poor,2]"),
                               rtol=1e-9)
