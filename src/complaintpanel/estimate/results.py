"""A results object in the statsmodels shape, shared by every reduced-form estimator.

``params``, ``bse``, ``pvalues``, ``conf_int()``, ``summary()`` and ``to_dict()`` work the same
whether the numbers came from pyfixest, linearmodels or the package's own AIPW estimator, so
results can be printed, compared and exported alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ESTIMATION_FAILURES", "EffectResults", "NotIdentifiedError", "failure_record"]


class NotIdentifiedError(ValueError):
    """The data cannot identify the requested model (e.g. the treatment never varies)."""


# What a whole-run driver records instead of stopping: a model the data cannot identify, or a
# numerical failure of the underlying library (e.g. pyfixest's demeaning not converging on a
# tiny, very unbalanced excerpt). The message is kept, so nothing fails silently.
ESTIMATION_FAILURES: tuple[type[Exception], ...] = (NotIdentifiedError, ValueError,
                                                    ArithmeticError)


def failure_record(error: Exception) -> dict[str, str]:
    """Plain-JSON record of a model that could not be estimated, with the reason."""
    status = "not identified" if isinstance(error, NotIdentifiedError) else "not estimated"
    return {"status": status, "reason": f"{type(error).__name__}: {error}"
            if status == "not estimated" else str(error)}


@dataclass
class EffectResults:
    """Estimates with standard errors, in the statsmodels shape.

    Parameters
    ----------
    model : str
        Short name of the model (e.g. ``"ppml_complaints"``).
    estimator : str
        How it was estimated (e.g. ``"pyfixest.fepois"``).
    params : Series
        Point estimates, indexed by term.
    bse : Series
        Standard errors, same index.
    nobs : int
        Observations used.
    n_clusters : int or None
        Number of clusters of the standard errors (customers).
    dof : float or None
        Degrees of freedom for t-based inference; ``None`` means normal inference.
    info : dict
        Anything else worth keeping (formula, fixed effects, treatment definition, notes).
    """

    model: str
    estimator: str
    params: pd.Series
    bse: pd.Series
    nobs: int
    n_clusters: int | None = None
    dof: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def tvalues(self) -> pd.Series:
        """Estimate divided by its standard error."""
        return self.params / self.bse

    def _dist(self) -> Any:
        return stats.t(self.dof) if self.dof else stats.norm()

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values (t with ``dof`` degrees of freedom, else normal)."""
        return pd.Series(2 * self._dist().sf(np.abs(self.tvalues)), index=self.params.index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals with columns ``lower`` and ``upper``."""
        q = self._dist().ppf(1 - alpha / 2)
        return pd.DataFrame({"lower": self.params - q * self.bse,
                             "upper": self.params + q * self.bse})

    def summary(self) -> str:
        """Return a plain-text table of estimates, SEs, p-values and 95% intervals."""
        ci = self.conf_int()
        table = pd.DataFrame({"coef": self.params, "std err": self.bse,
                              "P>|z|": self.pvalues, "[0.025": ci["lower"],
                              "0.975]": ci["upper"]})
        header = [f"{self.model} — {self.estimator}",
                  f"observations: {self.nobs:,}"
                  + (f"; clusters (customers): {self.n_clusters:,}" if self.n_clusters else "")]
        header += [f"{k}: {v}" for k, v in self.info.items() if isinstance(v, str | int | float)]
        return "\n".join(header) + "\n" + table.to_string(float_format=lambda v: f"{v:.4f}")

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: one entry per term with estimate, SE, p-value and 95% interval."""
        ci = self.conf_int()
        terms = {
            str(term): {"estimate": float(self.params[term]), "se": float(self.bse[term]),
                        "pvalue": float(self.pvalues[term]),
                        "ci_lower": float(ci.loc[term, "lower"]),
                        "ci_upper": float(ci.loc[term, "upper"])}
            for term in self.params.index
        }
        return {"model": self.model, "estimator": self.estimator, "status": "estimated",
                "nobs": int(self.nobs), "n_clusters": self.n_clusters, "terms": terms,
                "info": self.info}
