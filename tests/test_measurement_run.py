"""`run_estimates` with a validation sample fits each naive model once (issue 15).

The correction needs the design-based estimate on all three classified counts jointly and the
naive did2s event study of complaints; the main results need the first on complaints and
compliments and the second among their event studies. Both are fitted once and shared: the
main design is the complaint/compliment subset of the three-outcome fit (exact, since the AIPW
terms of one outcome do not depend on the others), and the naive event study is the main one's
did2s fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import complaintpanel.estimate.run as run
from complaintpanel.config import EstimateConfig, SimulateConfig
from complaintpanel.estimate import add_model_columns, answered_vs_unanswered
from complaintpanel.estimate.run import run_estimates, subset_outcomes
from complaintpanel.model.measurement import ValidationCounts
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth

VALIDATION = ValidationCounts(counts=np.array([[340, 20, 40], [1, 380, 20], [30, 60, 250]]),
                              population=np.array([5000, 2000, 3000]))


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    world = simulate_world(SimulateConfig(customers=400, weeks=10, seed=21))
    return build_panel(voiced_from_truth(world))


# The sensitivity bootstrap's replicates do not bear on which fits are shared: two keep it cheap.
SETTINGS = EstimateConfig(horizon=1, sensitivity_reps=2)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    calls: list[tuple[str, object]] = []
    for name in ("answered_vs_unanswered", "event_study"):
        original = getattr(run, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls.append((_name, args[1] if len(args) > 1 else kwargs.get("outcomes")))
            return _original(*args, **kwargs)

        monkeypatch.setattr(run, name, counted)
    return calls


@pytest.fixture(scope="module")
def counted_run(panel: pd.DataFrame) -> tuple[dict[str, Any], list[tuple[str, object]]]:
    """One run with a validation sample and the event studies, and the fits it called."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = _counting(monkeypatch)
        results = run_estimates(panel, SETTINGS, validation=VALIDATION)
    return results, calls


def test_each_naive_model_is_fitted_once(
        counted_run: tuple[dict[str, Any], list[tuple[str, object]]]) -> None:
    results, calls = counted_run
    designs = [c for c in calls if c[0] == "answered_vs_unanswered"]
    studies = sorted(str(c[1]) for c in calls if c[0] == "event_study")
    assert len(designs) == 1
    # complaints and sentiment (main), compliments (naive side of the correction): once each
    assert studies == ["complaints", "compliments", "sentiment_mean"]
    section = results["misclassification"]
    assert section["event_study_naive"]["complaints"]["did2s"] is \
        results["event_study"]["complaints"]["did2s"]
    assert set(section["event_study_naive"]["complaints"]) == {"did2s"}
    assert section["design_naive"].terms["outcome"].tolist().count("neutral") == 2


def test_shared_fits_equal_separate_ones(
        panel: pd.DataFrame, counted_run: tuple[dict[str, Any], list[tuple[str, object]]]
) -> None:
    """The reused fits are the ones fitted separately: same numbers, same covariance."""
    results, _ = counted_run
    data = add_model_columns(panel)
    alone = answered_vs_unanswered(data, horizon=1)
    shared = results["design"]
    assert list(shared.params.index) == list(alone.params.index)
    pd.testing.assert_series_equal(shared.params, alone.params, rtol=0, atol=0)
    pd.testing.assert_series_equal(shared.bse, alone.bse, rtol=0, atol=0)
    # the covariance is the same sum over customers in another order of columns (BLAS)
    np.testing.assert_allclose(shared.cov_params().to_numpy(), alone.cov_params().to_numpy(),
                               rtol=1e-12, atol=1e-22)
    pd.testing.assert_frame_equal(shared.terms, alone.terms)
    assert (shared.nobs, shared.info["labels"]) == (alone.nobs,
                                                    "classified (naive: not corrected)")
    pd.testing.assert_frame_equal(shared.kept, alone.kept)
    three = results["misclassification"]["design_naive"]
    separate = answered_vs_unanswered(data, outcomes=("complaints", "compliments", "neutral"),
                                      horizon=1)
    pd.testing.assert_series_equal(three.params, separate.params, rtol=0, atol=0)
    # without a validation sample the main design is fitted on two outcomes, as before
    plain = run_estimates(panel, SETTINGS, with_event_studies=False)
    pd.testing.assert_series_equal(plain["design"].params, alone.params, rtol=0, atol=0)


def test_subset_keeps_the_covariance_block(panel: pd.DataFrame) -> None:
    data = add_model_columns(panel)
    fit = answered_vs_unanswered(data, outcomes=("complaints", "compliments", "neutral"),
                                 horizon=1)
    part = subset_outcomes(fit, ("neutral",))
    names = ["neutral[t+0]", "neutral[t+1]"]
    assert list(part.params.index) == names
    pd.testing.assert_frame_equal(part.cov_params(), fit.cov_params().loc[names, names])
    assert set(part.terms["outcome"]) == {"neutral"}
