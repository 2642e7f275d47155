"""Sensitivity of the design-based estimate to selection on the unobserved (issue 21, item 1).

The design-based estimate (:mod:`.design`) assumes that, given its controls, whether a brand
answers a complaint does not depend on how the customer's relationship is going. The marginal
sensitivity model (Tan 2006) relaxes it by a factor Λ ≥ 1: the true chance ``π`` of being
answered, given the controls *and* whatever the brand sees, may differ from the fitted
propensity ``e`` by an odds ratio within ``[1/Λ, Λ]``,

    1/Λ ≤ [π / (1 − π)] / [e / (1 − e)] ≤ Λ.

Λ = 1 is the design's own assumption; Λ = 2 lets a brand answer some customers at twice the
odds the controls predict, others at half.

**Bounds.** The estimator bounded here is the *augmented stabilised* IPW estimate of the
average effect on the design's customer-periods: for each arm, the mean of the outcome model's
prediction over all customer-periods plus the weight-normalised (Hajek) mean of the arm's
residuals ``y − m(x)``, with weights ``1/π`` (answered) and ``1/(1 − π)`` (unanswered). With
the true ``π`` it is unbiased for each arm's mean whatever the outcome model, since the
answers are then as good as random given the controls and what the brand saw; under the
model each weight lies in a box, ``1/π ∈ [1 + (1−e)/(eΛ), 1 + Λ(1−e)/e]`` (and symmetrically
for ``1/(1−π)``). The extrema of a weight-normalised mean over such a box are attained by
giving the upper weights to the residuals above a threshold and the lower weights to those
below it (Zhao, Small & Bhattacharya 2019, Proposition 4: the linear-fractional programme's
solution), so sorting the residuals once and scanning every threshold with cumulative sums
gives the exact bounds in O(n log n), for a whole grid of Λ at once (a matrix Λ × threshold).
The effect's upper bound is the answered arm's maximum minus the unanswered arm's minimum (the
arms' weights are separate), its lower bound the reverse. With Λ = 1 the bounds coincide with
the augmented Hajek estimate itself (close to, but not the same number as, the design's AIPW,
which does not normalise the weights); without the outcome model (``augmented=False``) they
are ZSB's stabilised IPW bounds.

ZSB's version rather than the quantile-balancing sharpening of Dorn & Guo (2022): it needs
no quantile regression per outcome, lead and bootstrap replicate, its bounds are exact and
fast, and the augmentation already removes most of the outcome variation that makes ZSB's
bounds conservative. The bounds are valid (not sharp): the true effect lies within them
whenever the model holds at Λ.

**Inference.** A percentile bootstrap over customers (clusters): each replicate redraws
customers with replacement (as frequency weights), refits the propensity score and the outcome
models, and recomputes the bounds; the sensitivity interval at Λ is
``[Q_{α/2}(lower bounds), Q_{1−α/2}(upper bounds)]``, which covers the true effect with
probability ≥ 1 − α asymptotically under the model at Λ (ZSB's union-of-intervals argument,
their Theorem 1). The *flip* Λ is the smallest Λ whose interval contains 0 (found on a fine
log-spaced grid and interpolated); 1 when the plain interval already does.

**Benchmarks.** How strong is a Λ? For each block of observed controls (the complaint count,
the redress history, brand × period), the propensity score refitted without it differs from
the full one by an odds ratio per customer-period; the largest (and the 95th percentile) is
the Λ that omitting that control would imply. "The answer would have to be k times as strong
(in log odds) as the complaint count" is ``log Λ_flip / log Λ_count``.

No Python library implements the marginal sensitivity model's bounds (searched the package
index for MSM / Zhao–Small–Bhattacharya / quantile balancing: only ``pysensemakr``, which is
the omitted-variable bias of a linear regression, Cinelli & Hazlett 2020), so they are written
here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from complaintpanel.estimate.design import (
    OVERLAP,
    DesignSample,
    control_blocks,
    design_sample,
    fit_propensity,
    term_label,
)

__all__ = ["DEFAULT_LAMBDAS", "SensitivityResults", "covariate_benchmarks",
           "design_sensitivity", "extreme_weighted_means", "msm_weight_box"]

DEFAULT_LAMBDAS = (1.0, 1.5, 2.0, math.e, 3.0)
LAMBDA_MAX = 50.0  # the flip search stops here (reported as "beyond")
_SEARCH = np.geomspace(1.0, LAMBDA_MAX, 121)  # ~3.3 % steps in Λ


def msm_weight_box(propensity: np.ndarray, treated: np.ndarray, lam: float | np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Range of the inverse-probability weights allowed by the marginal sensitivity model.

    Parameters
    ----------
    propensity : ndarray
        Fitted chance ``e`` of being answered.
    treated : ndarray of bool
        Answered (weight ``1/π``) or not (weight ``1/(1−π)``).
    lam : float or ndarray
        Λ ≥ 1; an array of shape (L, 1) gives a row per Λ.

    Returns
    -------
    (low, high) : ndarray
        ``1 + odds/Λ`` and ``1 + odds·Λ``, odds being ``(1−e)/e`` for the answered and
        ``e/(1−e)`` for the unanswered.
    """
    lam = np.asarray(lam, dtype=float)
    if np.any(lam < 1):
        raise ValueError("Λ must be at least 1")
    odds = np.where(treated, (1 - propensity) / propensity, propensity / (1 - propensity))
    return 1 + odds / lam, 1 + odds * lam


def extreme_weighted_means(values: np.ndarray, odds: np.ndarray, lams: np.ndarray,
                           freq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of ``Σ f w y / Σ f w`` over the model's weights, for each Λ.

    Each weight ranges over ``[1 + odds/Λ, 1 + odds·Λ]`` (:func:`msm_weight_box`). The extrema
    are thresholds in the sorted values (ZSB 2019): the maximum gives the lower weights to the
    ``k`` smallest values and the upper weights to the rest, the minimum the reverse. With
    prefix sums of ``f``, ``f·odds``, ``f·y`` and ``f·odds·y`` each threshold's value is O(1),
    and moving the threshold by one raises the maximum (lowers the minimum) exactly while the
    next value lies below the current mean, a condition that holds for a prefix of the
    thresholds and then never again; so the optimal threshold is found by bisection,
    O(log n) per Λ after one O(n log n) sort.

    Parameters
    ----------
    values : ndarray, shape (n,)
    odds : ndarray, shape (n,)
        ``(1−e)/e`` (answered) or ``e/(1−e)`` (unanswered); positive.
    lams : ndarray, shape (L,)
        Λ values, each ≥ 1.
    freq : ndarray, shape (n,), optional
        Frequency weights (e.g. a bootstrap's cluster counts), positive; 1 by default.

    Returns
    -------
    (minimum, maximum) : ndarray, shape (L,)
    """
    lams = np.atleast_1d(np.asarray(lams, dtype=float))
    if np.any(lams < 1):
        raise ValueError("Λ must be at least 1")
    order = np.argsort(values, kind="stable")
    y = np.asarray(values, dtype=float)[order]
    f = np.ones_like(y) if freq is None else np.asarray(freq, dtype=float)[order]
    g = np.asarray(odds, dtype=float)[order] * f

    def prefix(a: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(a)])

    p_f, p_fy, p_g, p_gy = prefix(f), prefix(f * y), prefix(g), prefix(g * y)
    t_f, t_fy, t_g, t_gy = p_f[-1], p_fy[-1], p_g[-1], p_gy[-1]
    n = y.size

    def value(k: np.ndarray, first: np.ndarray, rest: np.ndarray) -> np.ndarray:
        # the k smallest values weighted 1 + odds·first, the others 1 + odds·rest
        num = t_fy + p_gy[k] * first + (t_gy - p_gy[k]) * rest
        den = t_f + p_g[k] * first + (t_g - p_g[k]) * rest
        return num / den

    out = []
    for first, rest in ((lams, 1 / lams), (1 / lams, lams)):  # minimum, then maximum
        low, high = np.zeros(lams.size, dtype=int), np.full(lams.size, n)
        while np.any(low < high):
            mid = (low + high + 1) // 2
            better = y[mid - 1] < value(mid - 1, first, rest)
            low, high = np.where(better, mid, low), np.where(better, high, mid - 1)
        out.append(value(low, first, rest))
    return out[0], out[1]


def _weighted_linear(x: sp.csr_matrix, y: np.ndarray, f: np.ndarray) -> np.ndarray:
    gram = (x.T @ x.multiply(f[:, None]).tocsr()).toarray()
    return np.linalg.lstsq(gram, x.T @ (f * y), rcond=None)[0]


def _effect_bounds(x: sp.csr_matrix, y: np.ndarray, treated: np.ndarray, score: np.ndarray,
                   f: np.ndarray, lams: np.ndarray, augmented: bool,
                   arms: tuple[sp.csr_matrix, sp.csr_matrix] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the effect on one outcome, one per Λ in ``lams``.

    Rows with frequency 0 (not redrawn by a bootstrap replicate) weigh nothing in the outcome
    models or the weighted means; ``arms`` are ``x``'s answered and unanswered rows, if known.
    """
    if augmented:
        x1, x0 = arms if arms is not None else (x[treated], x[~treated])
        m1 = x @ _weighted_linear(x1, y[treated], f[treated])
        m0 = x @ _weighted_linear(x0, y[~treated], f[~treated])
        shift = float(np.sum(f * (m1 - m0)) / np.sum(f))
    else:
        m1 = m0 = np.zeros_like(y)
        shift = 0.0
    odds1 = (1 - score[treated]) / score[treated]
    odds0 = score[~treated] / (1 - score[~treated])
    min1, max1 = extreme_weighted_means((y - m1)[treated], odds1, lams, f[treated])
    min0, max0 = extreme_weighted_means((y - m0)[~treated], odds0, lams, f[~treated])
    return shift + min1 - max0, shift + max1 - min0


def _first_crossing(lams: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float | None:
    """Smallest Λ (log-linear interpolation on the grid) with ``lower ≤ 0 ≤ upper``."""
    contains = (lower <= 0) & (upper >= 0)
    if contains[0]:
        return 1.0
    if not contains.any():
        return None
    k = int(np.argmax(contains))
    # the side that crosses 0 between grid points k−1 and k
    side = lower if lower[k - 1] > 0 else upper
    a, b = side[k - 1], side[k]
    share = a / (a - b) if a != b else 1.0
    return float(np.exp(np.log(lams[k - 1]) + share * (np.log(lams[k]) - np.log(lams[k - 1]))))


def covariate_benchmarks(sample: DesignSample) -> pd.DataFrame:
    """Compute the Λ implied by leaving each block of controls out of the propensity score.

    Parameters
    ----------
    sample : DesignSample
        The design's customer-periods and fitted propensity (:func:`.design.design_sample`).

    Returns
    -------
    DataFrame
        One row per block (``"complaints in t−1"``, ``"answered before"``,
        ``"brand × period"``): ``lambda_max`` (the largest odds ratio between the full and the
        reduced fitted propensity, either way round, over the customer-periods) and
        ``lambda_p95`` (its 95th percentile).
    """
    full = np.clip(sample.propensity, 1e-12, 1 - 1e-12)
    records = []
    for block in control_blocks(sample.base):
        reduced_x = sp.hstack(list(control_blocks(sample.base, without=block).values()),
                              format="csr")
        reduced = np.clip(fit_propensity(reduced_x, sample.treated), 1e-12, 1 - 1e-12)
        log_ratio = np.abs(np.log(full / (1 - full)) - np.log(reduced / (1 - reduced)))
        records.append({"control": block, "lambda_max": float(np.exp(log_ratio.max())),
                        "lambda_p95": float(np.exp(np.quantile(log_ratio, 0.95)))})
    return pd.DataFrame.from_records(records).set_index("control")


@dataclass
class SensitivityResults:
    """Bounds and sensitivity intervals of the design-based estimate over a grid of Λ.

    Attributes
    ----------
    params : Series
        The augmented Hajek estimate (the bounds at Λ = 1), one per term.
    bounds : DataFrame
        One row per term and Λ: ``term``, ``outcome``, ``lead``, ``lambda``, ``lower``,
        ``upper`` (bounds on the full sample), ``ci_lower``, ``ci_upper`` (the bootstrap
        sensitivity interval), ``contains_zero``.
    flips : DataFrame
        One row per term: ``flip_lambda`` (the smallest Λ whose sensitivity interval contains
        0; ``None`` beyond :data:`LAMBDA_MAX`), ``flip_lambda_bounds`` (the same for the
        bounds themselves) and, per benchmark control, ``strength_vs[<control>]``
        (``log Λ_flip / log Λ_max`` of the control).
    benchmarks : DataFrame
        :func:`covariate_benchmarks`.
    info : dict
        Sample sizes, bootstrap replicates, α, the estimator.
    propensity : ndarray
        The fitted propensity of the kept customer-periods (not exported).
    kept : DataFrame
        ``customer_id``, ``brand``, ``period`` of the kept customer-periods (not exported).
    """

    params: pd.Series
    bounds: pd.DataFrame
    flips: pd.DataFrame
    benchmarks: pd.DataFrame
    info: dict[str, object]
    propensity: np.ndarray = field(repr=False)
    kept: pd.DataFrame = field(repr=False)
    _search: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False)

    def conf_int(self, lam: float = 1.0) -> pd.DataFrame:
        """Return the sensitivity interval of every term at ``lam``.

        Interpolated in log Λ between the points of the flip search's grid.
        """
        out = {}
        for term, (lower_ci, upper_ci, _, _) in self._search.items():
            log_lam = np.log(_SEARCH)
            out[term] = (float(np.interp(np.log(lam), log_lam, lower_ci)),
                         float(np.interp(np.log(lam), log_lam, upper_ci)))
        return pd.DataFrame.from_dict(out, orient="index", columns=["lower", "upper"])

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: bounds per term and Λ, flips, benchmarks, info."""
        def clean(frame: pd.DataFrame) -> list[dict[str, object]]:
            return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                     for k, v in row.items()} for row in frame.to_dict(orient="records")]

        return {"info": self.info,
                "estimate_at_lambda_1": {k: float(v) for k, v in self.params.items()},
                "bounds": clean(self.bounds.round(
                    {"lower": 6, "upper": 6, "ci_lower": 6, "ci_upper": 6})),
                "flips": clean(self.flips.reset_index(names="term").round(4)),
                "benchmarks": clean(self.benchmarks.reset_index().round(4))}

    def summary(self) -> str:
        """Plain-text table: per term, the interval at each Λ and the flip Λ."""
        lines = [f"Sensitivity of the design-based estimate ({self.info['estimator']}), "
                 f"{self.info['bootstrap_reps']} cluster-bootstrap replicates, "
                 f"{1 - float(self.info['alpha']):.0%} intervals"]  # type: ignore[arg-type]
        for term, rows in self.bounds.groupby("term", sort=False):
            flip = self.flips.loc[term, "flip_lambda"]
            lines.append(f"{term}: estimate {self.params[term]:+.4f}; flips at Λ = "
                         + (f"{flip:.2f}" if flip is not None and np.isfinite(flip)
                            else f"> {LAMBDA_MAX:g}"))
            for _, row in rows.iterrows():
                lines.append(f"  Λ = {row['lambda']:.2f}: bounds [{row['lower']:+.4f}, "
                             f"{row['upper']:+.4f}], interval [{row['ci_lower']:+.4f}, "
                             f"{row['ci_upper']:+.4f}]")
        lines.append("Λ implied by omitting each observed control (max / 95th pct): " + "; ".join(
            f"{name} {row['lambda_max']:.2f} / {row['lambda_p95']:.2f}"
            for name, row in self.benchmarks.iterrows()))
        return "\n".join(lines)


def design_sensitivity(
    data: pd.DataFrame,
    outcomes: tuple[str, ...] = ("complaints", "compliments"),
    horizon: int = 4,
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
    reps: int = 50,
    alpha: float = 0.05,
    seed: int = 0,
    overlap: tuple[float, float] = OVERLAP,
    augmented: bool = True,
    refit_propensity: bool = True,
    benchmarks: bool = True,
) -> SensitivityResults:
    """Marginal-sensitivity-model bounds and intervals of the design-based estimate.

    Parameters
    ----------
    data : DataFrame
        Panel with model columns (as for :func:`.design.answered_vs_unanswered`).
    outcomes : tuple of str
    horizon : int
        Last lead (outcomes in ``t+0 … t+horizon``).
    lambdas : tuple of float
        The Λ (≥ 1) to report bounds and intervals at.
    reps : int
        Cluster-bootstrap replicates (customers redrawn with replacement).
    alpha : float
        1 − the intervals' level.
    seed : int
        Seed of the bootstrap.
    overlap : tuple of float
        The design's overlap range (the same customer-periods as the design estimate).
    augmented : bool
        Bound the augmented (outcome-model) stabilised IPW estimate (default) or the plain
        stabilised IPW estimate (ZSB's).
    refit_propensity : bool
        Refit the propensity score in each bootstrap replicate (default; ``False`` keeps the
        full-sample fit, faster and slightly anti-conservative).
    benchmarks : bool
        Compute :func:`covariate_benchmarks` (three more propensity fits).

    Returns
    -------
    SensitivityResults

    Raises
    ------
    NotIdentifiedError
        As the design estimate.
    """
    if reps < 2:
        raise ValueError("reps must be at least 2")
    # The solves are small (a hundred-odd controls) and many: one BLAS thread is faster, and
    # on a loaded machine a threaded BLAS slows each 100 × 100 solve from ~2 ms to ~0.5 s.
    with threadpool_limits(limits=1, user_api="blas"):
        return _design_sensitivity(data, outcomes, horizon, lambdas, reps, alpha, seed,
                                   overlap, augmented, refit_propensity, benchmarks)


def _design_sensitivity(data: pd.DataFrame, outcomes: tuple[str, ...], horizon: int,
                        lambdas: tuple[float, ...], reps: int, alpha: float, seed: int,
                        overlap: tuple[float, float], augmented: bool, refit_propensity: bool,
                        benchmarks: bool) -> SensitivityResults:
    lambdas = tuple(sorted(float(v) for v in lambdas))
    sample = design_sample(data, overlap=overlap)
    base, x, treated, score = sample.base, sample.x, sample.treated, sample.propensity
    grid = np.unique(np.concatenate([_SEARCH, lambdas]))
    lookup = data.set_index(["pair_id", "period"])
    terms: list[tuple[str, str, int, np.ndarray, np.ndarray, sp.csr_matrix,
                      tuple[sp.csr_matrix, sp.csr_matrix]]] = []
    for outcome in outcomes:
        for lead in range(horizon + 1):
            key = pd.MultiIndex.from_arrays([base["pair_id"], base["period"] + 1 + lead])
            y = lookup[outcome].reindex(key).to_numpy(dtype=float)
            ok = ~np.isnan(y)
            if ok.sum() < 10 or treated[ok].all() or not treated[ok].any():
                continue
            xo = x[ok]
            terms.append((term_label(outcome, lead), outcome, lead, ok, np.nan_to_num(y), xo,
                          (xo[treated[ok]], xo[~treated[ok]])))
    if not terms:
        from complaintpanel.results import NotIdentifiedError
        raise NotIdentifiedError("no lead has outcomes observed after a complaint")

    def all_bounds(freq: np.ndarray, propensity: np.ndarray) -> np.ndarray:
        out = np.empty((len(terms), 2, grid.size))
        for k, (_, _, _, ok, y, xo, arms) in enumerate(terms):
            out[k] = _effect_bounds(xo, y[ok], treated[ok], propensity[ok], freq[ok],
                                    grid, augmented, arms)
        return out

    point = all_bounds(np.ones(len(base)), score)
    codes, uniques = pd.factorize(base["customer_id"])
    rng = np.random.default_rng(seed)
    replicates = np.empty((reps, *point.shape))
    for b in range(reps):
        freq = rng.multinomial(uniques.size, np.full(uniques.size, 1 / uniques.size))[codes]
        freq = freq.astype(float)
        propensity = score
        if refit_propensity:
            propensity = np.clip(fit_propensity(x, treated, freq), 1e-6, 1 - 1e-6)
        replicates[b] = all_bounds(freq, propensity)
    ci_lower = np.quantile(replicates[:, :, 0, :], alpha / 2, axis=0)
    ci_upper = np.quantile(replicates[:, :, 1, :], 1 - alpha / 2, axis=0)

    bench = covariate_benchmarks(sample) if benchmarks else pd.DataFrame(
        columns=["lambda_max", "lambda_p95"])
    records, flip_records, search = [], {}, {}
    at_report = np.searchsorted(grid, lambdas)
    on_search = np.searchsorted(grid, _SEARCH)
    for k, (name, outcome, lead, *_) in enumerate(terms):
        for lam, j in zip(lambdas, at_report, strict=True):
            records.append({"term": name, "outcome": outcome, "lead": lead, "lambda": lam,
                            "lower": point[k, 0, j], "upper": point[k, 1, j],
                            "ci_lower": ci_lower[k, j], "ci_upper": ci_upper[k, j],
                            "contains_zero": bool(ci_lower[k, j] <= 0 <= ci_upper[k, j])})
        flip = _first_crossing(grid, ci_lower[k], ci_upper[k])
        flip_bounds = _first_crossing(grid, point[k, 0], point[k, 1])
        row: dict[str, object] = {"outcome": outcome, "lead": lead, "flip_lambda": flip,
                                  "flip_lambda_bounds": flip_bounds}
        for control, values in bench.iterrows():
            strength = math.log(values["lambda_max"])
            row[f"strength_vs[{control}]"] = (
                math.log(flip) / strength if flip is not None and strength > 0 else None)
        flip_records[name] = row
        search[name] = (ci_lower[k, on_search], ci_upper[k, on_search],
                        point[k, 0, on_search], point[k, 1, on_search])
    return SensitivityResults(
        params=pd.Series({name: point[k, 0, 0] for k, (name, *_) in enumerate(terms)}),
        bounds=pd.DataFrame.from_records(records),
        flips=pd.DataFrame.from_dict(flip_records, orient="index"),
        benchmarks=bench,
        info={"estimator": ("augmented stabilised IPW" if augmented else "stabilised IPW")
                           + " under the marginal sensitivity model (Tan 2006; bounds of "
                             "Zhao, Small & Bhattacharya 2019)",
              "lambdas": list(lambdas), "bootstrap_reps": reps, "alpha": alpha,
              "bootstrap": "customers (clusters) redrawn with replacement; propensity "
                           + ("and outcome models refitted" if refit_propensity
                              else "kept, outcome models refitted"),
              "interval": "[Q_alpha/2 of the replicates' lower bounds, Q_1-alpha/2 of their "
                          "upper bounds]",
              "flip_max": LAMBDA_MAX,
              "flip_search": f"log-spaced grid of {_SEARCH.size} values in [1, {LAMBDA_MAX:g}]",
              "nobs": len(base), "n_clusters": int(uniques.size),
              "left_out_no_overlap": sample.complained - len(base)},
        propensity=score, kept=base[["customer_id", "brand", "period"]], _search=search)
