"""The shared results shape: JSON round trips, compare(), the AIPW covariance, term selection."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import EstimateConfig, SimulateConfig
from complaintpanel.estimate import (
    add_model_columns,
    answered_vs_unanswered,
    event_study,
    fit_linear_fe,
    fit_panelols,
    fit_ppml,
)
from complaintpanel.estimate.design import _cluster_se, _clustered_covariance
from complaintpanel.estimate.run import run_estimates
from complaintpanel.panel import build_panel
from complaintpanel.report.estimate_tables import write_estimate_tables, write_robustness_table
from complaintpanel.report.figures import fig_design_effects, fig_event_study
from complaintpanel.report.summary import summary_markdown
from complaintpanel.results import (
    EffectResults,
    EstimationResults,
    NotEstimated,
    NotIdentifiedError,
    compare,
    iter_results,
    read_results,
    results_from_json,
    results_to_json,
    write_results,
)
from complaintpanel.runtime.io import write_json
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth

SRC = Path(__file__).resolve().parents[1] / "src" / "complaintpanel"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    world = simulate_world(SimulateConfig(customers=400, weeks=10, seed=21))
    return add_model_columns(build_panel(voiced_from_truth(world)))


@pytest.fixture(scope="module")
def every_result(data: pd.DataFrame) -> dict[str, Any]:
    """One results object of every kind an estimator returns, and a NotEstimated record."""
    studies = event_study(data, "complaints", window=3)
    return {"ppml": fit_ppml(data, "answered_complaint"),
            "feols": fit_linear_fe(data, "sentiment_mean", "replied"),
            "panelols": fit_panelols(data, "sentiment_mean", "replied"),
            "design": answered_vs_unanswered(data, horizon=2),
            "did2s": studies["did2s"], "twfe": studies["twfe"],
            "failed": NotEstimated.from_error(NotIdentifiedError("no variation"), "ppml")}


@pytest.fixture(scope="module")
def whole_run(data: pd.DataFrame) -> dict[str, Any]:
    """``run_estimates`` on the panel as the estimate stage reads it (no model columns).

    Three sensitivity bootstrap replicates, not the default 40: what is tested here is how
    results are written and reported, not their number.
    """
    return run_estimates(data.drop(columns=[c for c in data if c.startswith("treat_")]),
                         EstimateConfig(sensitivity_reps=3), with_event_studies=True,
                         period="week")


def _through_file(tree: Any, path: Path) -> tuple[str, Any]:
    """Write a tree of results, read it back; return the text written and what was read."""
    write_results(tree, path)
    return path.read_text(), read_results(path)


@pytest.mark.parametrize("name", ["ppml", "feols", "panelols", "design", "did2s", "twfe",
                                  "failed"])
def test_json_round_trip_is_exact_to_the_written_precision(
        every_result: dict[str, Any], name: str, tmp_path: Path) -> None:
    original = every_result[name]
    text, loaded = _through_file({"model": original}, tmp_path / "first.json")
    loaded = loaded["model"]
    assert type(loaded) is type(original)
    # writing what was read gives the same file, byte for byte
    again, _ = _through_file({"model": loaded}, tmp_path / "second.json")
    assert again == text
    if isinstance(original, NotEstimated):
        assert loaded == original
        return
    written = json.loads(text)["model"]
    assert [t["name"] for t in written["terms"]] == list(original.terms.index)
    # every number of the object survives at the written precision
    for column in ("params", "bse"):
        expected = getattr(original, column).map(lambda v: float(f"{v:.12g}"))
        pd.testing.assert_series_equal(getattr(loaded, column), expected, check_names=False,
                                       rtol=0, atol=0)
    np.testing.assert_allclose(loaded.cov_params().to_numpy(),
                               original.cov_params().to_numpy(), rtol=1e-11, atol=0)
    pd.testing.assert_frame_equal(loaded.terms, original.terms, check_dtype=False,
                                  check_index_type=False)
    assert (loaded.nobs, loaded.n_clusters, loaded.dof, loaded.model, loaded.estimator) == (
        original.nobs, original.n_clusters, original.dof, original.model, original.estimator)
    pd.testing.assert_frame_equal(loaded.conf_int(), original.conf_int(), rtol=1e-10)


def test_a_whole_estimate_run_round_trips(whole_run: dict[str, Any], tmp_path: Path) -> None:
    results = whole_run
    text, loaded = _through_file(results, tmp_path / "estimates.json")
    again, _ = _through_file(loaded, tmp_path / "again.json")
    assert again == text
    paths = sorted(path for path, _ in iter_results(results))
    assert paths == sorted(path for path, _ in iter_results(loaded))  # the file sorts keys
    assert ("event_study", "complaints", "did2s") in paths and ("design",) in paths
    assert loaded["settings"]["period"] == "week"
    # plain sections stay plain values
    assert loaded["descriptives"] == json.loads(text)["descriptives"]
    assert results_from_json(results_to_json(loaded))["settings"] == loaded["settings"]


def test_fixed_terms_are_in_the_term_table_not_in_params(every_result: dict[str, Any]) -> None:
    twfe = every_result["twfe"]
    written = twfe.to_dict()
    (reference,) = [t for t in written["terms"] if t["fixed"]]
    assert reference["event_time"] == -1 and reference["estimate"] == 0.0
    assert reference["se"] is None and reference["ci_lower"] is None
    assert len(written["cov_params"]) == len(twfe.params) == len(written["terms"]) - 1
    with pytest.raises(KeyError):
        twfe.term(event_time=-1)  # fixed, not estimated
    assert twfe.term(event_time=0)["estimate"] == twfe.params["event_time=0"]


def test_terms_are_selected_by_their_columns(every_result: dict[str, Any]) -> None:
    design = every_result["design"]
    complaints = design.select(outcome="complaints")
    assert complaints["lead"].tolist() == [0, 1, 2]
    row = design.term(outcome="compliments", lead=1)
    assert row["estimate"] == design.params[row.name]
    assert row["nobs"] <= design.nobs and row["n_clusters"] <= design.n_clusters
    with pytest.raises(KeyError):
        design.term(outcome="complaints")  # three leads match
    with pytest.raises(KeyError):
        design.term(outcome="complaints", lead=7)


def test_compare_lays_results_side_by_side(every_result: dict[str, Any]) -> None:
    feols, panelols, ppml = (every_result[k] for k in ("feols", "panelols", "ppml"))
    comparison = compare({"feols": feols, "panelols": panelols, "ppml": ppml,
                          "failed": every_result["failed"], "not run": None})
    assert list(comparison.models.index) == ["feols", "panelols", "ppml", "failed"]
    assert comparison.models.loc["failed", "status"] == "not identified"
    assert comparison.models.loc["failed", "reason"] == "no variation"
    # terms × models, like linearmodels' compare
    assert list(comparison.params.columns) == ["feols", "panelols", "ppml"]
    assert list(comparison.params.index) == ["replied", "answered_complaint"]
    assert comparison.params.loc["replied", "feols"] == feols.params["replied"]
    assert comparison.bse.loc["replied", "panelols"] == panelols.bse["replied"]
    assert np.isnan(comparison.params.loc["answered_complaint", "feols"])
    assert comparison.pvalues.loc["answered_complaint", "ppml"] == pytest.approx(
        ppml.pvalues["answered_complaint"])
    assert comparison.nobs["ppml"] == ppml.nobs and isinstance(comparison.nobs["ppml"], int)
    assert comparison.n_clusters["feols"] == feols.n_clusters
    assert comparison.nobs["failed"] is None
    # the long table carries each model's term columns, for selection without names
    picked = comparison.select(outcome="sentiment_mean", treatment="replied")
    assert picked["model"].tolist() == ["feols", "panelols"]
    text = comparison.summary()
    for needle in ("feols", "panelols", "not identified", f"{ppml.nobs:,}",
                   f"{feols.params['replied']:.4f}"):
        assert needle in text


def test_compare_accepts_anything_with_the_results_shape(every_result: dict[str, Any]) -> None:
    """A dataclass shaped like the HMM's results (fields named params/nobs) can derive from it."""

    @dataclasses.dataclass
    class StructuralLike(EstimationResults):
        theta: np.ndarray
        nobs: int
        cov_type: str = "oim"
        extra: dict[str, Any] = dataclasses.field(default_factory=dict)

        def __post_init__(self) -> None:
            self.params = pd.Series(self.theta, index=["gamma", "delta"])

        def cov_params(self) -> pd.DataFrame:
            return pd.DataFrame(np.diag([0.01, 0.04]), index=self.params.index,
                                columns=self.params.index)

    structural = StructuralLike(theta=np.array([0.3, 1.2]), nobs=500)
    assert structural.bse.tolist() == pytest.approx([0.1, 0.2])
    assert structural.terms.index.tolist() == ["gamma", "delta"]
    comparison = compare({"hmm": structural, "ppml": every_result["ppml"]})
    assert comparison.params.loc["delta", "hmm"] == 1.2
    assert comparison.nobs["hmm"] == 500 and comparison.n_clusters["hmm"] is None


def test_the_hmm_results_have_the_one_shape(every_result: dict[str, Any],
                                             tmp_path: Path) -> None:
    """The structural model's results are EstimationResults: term table, compare, files."""
    from complaintpanel.hmm.results import RelationshipHMMResults
    from complaintpanel.model import default_params
    from conftest import hmm_results_at

    params = default_params()
    hmm = hmm_results_at(params)
    assert isinstance(hmm, EstimationResults)
    rates = hmm.select(block="a")
    assert rates["state"].tolist() == ["poor", "fair", "good"]
    assert rates["estimate"].to_numpy() == pytest.approx(params.a)
    assert hmm.term(block="coefficient", covariate="intervened")["estimate"] == pytest.approx(1.2)
    assert hmm.term(block="coefficient", covariate="redress").name == "gamma"
    comparison = compare({"hmm": hmm, "ppml": every_result["ppml"]})
    assert comparison.params.loc["delta", "hmm"] == pytest.approx(1.2)
    path = write_results({"hmm": hmm}, tmp_path / "hmm.json")
    back = read_results(path)["hmm"]
    assert isinstance(back, RelationshipHMMResults)
    # exact to the written precision (12 significant digits of θ)
    assert np.allclose(back.params, hmm.params, rtol=1e-10, atol=1e-12)
    assert back.params.index.equals(hmm.params.index)
    assert np.allclose(back.cov_params(), hmm.cov_params(), rtol=1e-10)

def _brute_force_covariance(influence: list[np.ndarray], rows: list[np.ndarray],
                            clusters: np.ndarray) -> np.ndarray:
    k = len(influence)
    out = np.zeros((k, k))
    for a in range(k):
        for b in range(k):
            total = 0.0
            for cluster in np.unique(clusters):
                in_a = clusters[rows[a]] == cluster
                in_b = clusters[rows[b]] == cluster
                total += ((influence[a] - influence[a].mean())[in_a].sum()
                          * (influence[b] - influence[b].mean())[in_b].sum())
            g_a = np.unique(clusters[rows[a]]).size
            g_b = np.unique(clusters[rows[b]]).size
            out[a, b] = (np.sqrt(g_a / (g_a - 1) * g_b / (g_b - 1)) * total
                         / (rows[a].size * rows[b].size))
    return out


def test_aipw_covariance_against_a_per_cluster_brute_force() -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 40, size=300)
    clusters = codes.astype(str)
    # terms on different rows, as later leads are observed for fewer customer-periods; the
    # last term misses half the clusters, so its small-sample factor differs
    rows = [np.arange(300), np.flatnonzero(rng.random(300) < 0.8),
            np.flatnonzero((rng.random(300) < 0.7) & (codes < 20))]
    assert np.unique(clusters[rows[2]]).size == 20
    common = rng.normal(size=300)  # correlated across terms within a row
    influence = [common[r] + rng.normal(size=r.size) + i for i, r in enumerate(rows)]
    cov = _clustered_covariance(influence, rows, clusters)
    np.testing.assert_allclose(cov, _brute_force_covariance(influence, rows, clusters),
                               rtol=1e-12, atol=1e-15)
    # the diagonal is the per-term clustered variance used before
    for k, (psi, at) in enumerate(zip(influence, rows, strict=True)):
        assert cov[k, k] == pytest.approx(_cluster_se(psi - psi.mean(), clusters[at]) ** 2,
                                          rel=1e-12)
    assert abs(cov[0, 1]) > 0.1 * np.sqrt(cov[0, 0] * cov[1, 1])
    assert np.linalg.eigvalsh(cov).min() > 0


def test_aipw_results_carry_the_full_covariance(every_result: dict[str, Any]) -> None:
    design = every_result["design"]
    cov = design.cov_params()
    assert cov.shape == (6, 6) and list(cov.index) == list(design.params.index)
    np.testing.assert_allclose(np.diag(cov), design.bse**2, rtol=1e-10)
    np.testing.assert_allclose(cov, cov.T, rtol=0, atol=0)
    # complaints and compliments of the same customers are correlated across terms
    off_diagonal = cov.to_numpy()[~np.eye(6, dtype=bool)]
    assert (np.abs(off_diagonal) > 0).sum() >= 20
    assert np.linalg.eigvalsh(cov.to_numpy()).min() > 0


# ---------------------------------------------------------------------- report reads no names
def _renamed(result: Any) -> Any:
    """The same results with opaque term names: reports must not depend on them."""
    if not isinstance(result, EffectResults):
        return result
    names = {old: f"opaque {i}" for i, old in enumerate(result.terms.index)}
    terms = result.terms.rename(index=names)
    params = result.params.rename(index=names)
    return EffectResults(model=result.model, estimator=result.estimator, params=params,
                         bse=result.bse.rename(index=names),
                         cov=result.cov_params().rename(index=names, columns=names),
                         nobs=result.nobs, terms=terms, n_clusters=result.n_clusters,
                         dof=result.dof, cov_type=result.cov_type, info=result.info)


def _rename_tree(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _rename_tree(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_rename_tree(v) for v in tree]
    return _renamed(tree)


def _report_outputs(results: dict[str, Any], records: list[dict[str, Any]], folder: Path
                    ) -> dict[str, bytes]:
    written = write_estimate_tables(results, folder / "tables")
    written += write_robustness_table(records, folder / "tables")
    write_results(results, folder / "estimates.json")
    (folder / "summary.md").write_text(summary_markdown(folder))
    written.append(folder / "summary.md")
    written += fig_design_effects(results["design"], folder / "design", "week")
    written += fig_event_study(results["event_study"]["complaints"], folder / "events",
                               "Complaints", "week")
    return {p.name: p.read_bytes() for p in written}


def test_reports_never_read_term_names(whole_run: dict[str, Any], tmp_path: Path) -> None:
    """Tables, summary and figures are byte-identical when every term name is replaced."""
    results = whole_run
    records = [{"dimension": "main", "label": "Main", "period": "week",
                "ppml_complaints": results["ppml_complaints"]["answered_complaint"],
                "fe_sentiment": results["fe_sentiment_mean"]["answered_complaint"],
                "answered": results["design"]}]
    # same folder name in both runs: the summary's title names the folder
    plain = _report_outputs(results, records, tmp_path / "plain" / "run")
    opaque = _report_outputs(_rename_tree(results), _rename_tree(records),
                             tmp_path / "opaque" / "run")
    assert plain.keys() == opaque.keys() and len(plain) >= 14
    for name in plain:
        if name == "estimates.json":
            continue
        assert plain[name] == opaque[name], name


def test_no_term_name_parsing_in_the_package() -> None:
    """No code splits or matches term names such as ``complaints[t+1]`` or ``event_bin::3``."""
    patterns = [r'split\("\["', r'"\[t\+', r"\[t\+\{", r'str\.extract\(', r'split\("::"',
                r'split\("\+"']
    offenders = []
    for path in SRC.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(re.search(p, line) for p in patterns):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    # the one place that *makes* the design's term labels (a name to print, never read back)
    allowed = {"estimate/design.py"}
    assert [o for o in offenders if o.split(":")[0] not in allowed] == []


def test_write_json_of_a_not_estimated_record(tmp_path: Path) -> None:
    record = NotEstimated.from_error(ArithmeticError("did not converge"), "fe_sentiment_mean")
    assert record.status == "not estimated" and "ArithmeticError" in record.reason
    write_json(results_to_json({"x": record}), tmp_path / "x.json")
    assert read_results(tmp_path / "x.json")["x"] == record
