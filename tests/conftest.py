"""Shared fixtures.

Real public excerpts live in ``../shared/data/real`` beside the repository and are never copied
into it. When ``CI=true`` a missing folder is a test failure (CI must exercise real data);
elsewhere the tests that need it skip with a clear reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("COMPLAINTPANEL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
).resolve()


def _require_real(path: Path) -> Path:
    if path.exists():
        return path
    reason = (
        f"real data excerpt {path} is missing; put the shared/ folder beside the repository "
        "(or set COMPLAINTPANEL_SHARED_DATA)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder ``../shared/data/real`` (fails under CI=true when missing, else skips)."""
    return _require_real(SHARED_DATA / "real")


def hmm_results_at(params: object = None, variance: float = 1e-4, extra_theta: tuple = (),
                   heterogeneity: dict | None = None) -> object:
    """A RelationshipHMMResults at given parameters with a diagonal covariance (no fit).

    For tests of what consumes fitted results (tables, figures, files, policies) without
    fitting. ``extra_theta`` (σ, a Cholesky factor, class values) is appended to θ and
    ``heterogeneity`` stored as the fit's ``extra["heterogeneity"]`` block.
    """
    import numpy as np

    from complaintpanel.hmm.parametrisation import ParamLayout
    from complaintpanel.hmm.results import RelationshipHMMResults, StartReport
    from complaintpanel.model import default_params

    params = params or default_params()
    layout = ParamLayout(params.spec)  # type: ignore[attr-defined]
    theta = np.concatenate([layout.from_natural(params),  # type: ignore[arg-type]
                            np.asarray(extra_theta, dtype=float)])
    extra = {} if heterogeneity is None else {"heterogeneity": dict(heterogeneity)}
    return RelationshipHMMResults(
        spec=params.spec, theta=theta, cov_theta=np.eye(theta.size) * variance,  # type: ignore[attr-defined]
        loglike=-1000.0, nobs=2000, n_sequences=100, n_customers=100,
        starts=[StartReport(loglike=-1000.0, converged=True, n_iter=10, n_eval=12,
                            message="ok", seconds=0.0)], extra=extra)


# Modules that each run the whole pipeline (minutes, not seconds). `make test` spreads modules
# over the cores with pytest-xdist's loadscope, which hands them out in collection order (the
# Makefile's --no-loadscope-reorder; by default xdist sorts them by test count): when one of
# these comes last, a single core runs it alone at the end. Collected first, the longest first,
# they run beside the many short modules instead.
LONG_MODULES = ("test_make.py", "test_slice_spotifycares.py", "test_engines.py",
                "test_notebooks.py", "test_paper_dataset.py", "test_notebooks_lab.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the long modules first (a stable sort: the order within each module is kept)."""
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONG_MODULES.index(name) if name in LONG_MODULES else len(LONG_MODULES)

    items.sort(key=rank)
