"""The design-based estimate: answered vs unanswered complaints (DESIGN.md §3).

Among customer–brand pairs that complained in period ``t−1``, compare those the brand answered
with those it did not, and estimate the average effect of answering on complaints and
compliments in ``t, t+1, …, t+H``. Controls: the number of complaints in ``t−1`` (brands that
answer each complaint with some probability answer a customer with more complaints more often),
the redress history (a complaint answered before ``t−1``) and brand × period.

**What identifies it.** If, given those controls, whether the brand answers is as good as random
— it does not depend on how the customer's relationship is going beyond what the controls
capture — the comparison identifies the causal effect of answering (Rosenbaum & Rubin 1983).
That is the assumption to argue in applications: brands that triage by follower counts or by
the tone of the complaint violate it, and the simulator's ``--endogenous-replies`` world shows
by how much. The fixed-effects regressions of :mod:`.fixed_effects` do *not* identify the
effect even when it holds, because the pair effect cannot absorb a relationship that moves.

**Estimator.** Augmented inverse-probability weighting (doubly robust; Robins, Rotnitzky & Zhao
1994): a logit propensity score and linear outcome models per arm, both on the controls, with
standard errors from the influence function clustered by customer — a full covariance matrix
across outcomes and leads (:func:`_clustered_covariance`) — on the customer-periods with
overlap (estimated propensity within :data:`OVERLAP`). Written here rather than taken from a
library because the outcome leads, the sparse brand × period design and the customer
clustering together are not covered by statsmodels' treatment-effect classes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from sklearn.linear_model import LogisticRegression

from complaintpanel.estimate.inference import holm
from complaintpanel.results import (
    ESTIMATION_FAILURES,
    EffectResults,
    NotEstimated,
    NotIdentifiedError,
)

__all__ = ["LATENCY_BINS", "DesignSample", "answered_vs_unanswered", "control_blocks",
           "design_heterogeneity", "design_sample", "fit_propensity"]

LATENCY_BINS = 3  # answered complaints split at the terciles of the fastest reply's latency

# Overlap: customer-periods whose estimated chance of being answered lies outside this range
# are left out (Crump, Hotz, Imbens & Mitnik 2009). Where a brand answers (almost) every
# customer with three complaints, the few unanswered ones would carry weights in the hundreds
# and make the estimate and its standard error unreliable; the estimand becomes the average
# effect among complainers with overlap, and the dropped share is reported.
OVERLAP = (0.05, 0.95)
COUNT_CAP = 20  # complaint counts above this share one cell (rare; see _controls)


def _controls(base: pd.DataFrame) -> sp.csr_matrix:
    """Sparse one-hot design: brand × complaint-count cell, redress history, brand × period."""
    return sp.hstack(list(control_blocks(base).values()), format="csr")


def control_blocks(base: pd.DataFrame, without: str | None = None) -> dict[str, sp.csr_matrix]:
    """Return the propensity score's controls as named blocks (concatenated: the design).

    Parameters
    ----------
    base : DataFrame
        Customer-periods with a complaint (columns ``brand``, ``complaints``,
        ``answered_before``, ``brand_period``).
    without : str, optional
        Leave this block out (a key of the result; for the sensitivity analysis's benchmarks,
        :mod:`.sensitivity`). Without the complaint count, its block becomes brand dummies, so
        the brand intercepts stay.

    Returns
    -------
    dict of str to sparse matrix
        ``"complaints in t−1"`` (brand × complaint-count cells), ``"answered before"``,
        ``"brand × period"`` (first level dropped).
    """
    count = base["complaints"].clip(upper=COUNT_CAP).astype(str)
    count_cell = base["brand"].astype(str) + ("" if without == COUNT_BLOCK else "|" + count)
    blocks = {
        COUNT_BLOCK: sp.csr_matrix(pd.get_dummies(count_cell, sparse=False)
                                   .to_numpy(dtype=float)),
        "answered before": sp.csr_matrix(base[["answered_before"]].to_numpy(dtype=float)),
        "brand × period": _one_hot(base["brand_period"]),
    }
    if without is not None and without != COUNT_BLOCK:
        del blocks[without]
    return blocks


COUNT_BLOCK = "complaints in t−1"


def term_label(outcome: str, lead: int) -> str:
    """Return the printed name of the design's term for ``outcome`` at lead ``lead``.

    A label only (e.g. ``complaints[t+0]``): consumers select terms by outcome and lead.
    """
    return f"{outcome}[t+{lead}]"


@dataclass(frozen=True)
class DesignSample:
    """The customer-periods the design-based estimate uses, with their fitted propensity.

    Attributes
    ----------
    data_rows : Index
        ``data``'s index labels of the kept customer-periods (``t−1``), in order.
    base : DataFrame
        Those rows of ``data`` (index reset).
    x : sparse matrix
        Their controls (:func:`control_blocks`).
    treated : ndarray of bool
        Answered in ``t−1``.
    propensity : ndarray
        Fitted chance of being answered (logit on ``x``), inside the overlap range.
    complained : int
        Customer-periods with a complaint before the overlap cut.
    chosen : Series of bool
        Rows of ``data`` with a complaint (and inside ``rows``), before the overlap cut.
    inside : ndarray of bool
        Which of the ``chosen`` rows lie within the overlap range.
    """

    data_rows: pd.Index
    base: pd.DataFrame
    x: sp.csr_matrix
    treated: np.ndarray
    propensity: np.ndarray
    complained: int
    chosen: pd.Series
    inside: np.ndarray

    @property
    def score(self) -> np.ndarray:
        """The fitted propensity (alias of ``propensity``)."""
        return self.propensity

    def outcome(self, data: pd.DataFrame, column: str, lead: int) -> np.ndarray:
        """Values of ``column`` in period ``t+lead`` for each kept row (NaN when unobserved)."""
        lookup = data.set_index(["pair_id", "period"])[column]
        key = pd.MultiIndex.from_arrays([self.base["pair_id"], self.base["period"] + 1 + lead])
        return lookup.reindex(key).to_numpy(dtype=float)


def fit_propensity(x: sp.csr_matrix, treated: np.ndarray,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Fitted chance of being answered: a logit on the controls (nearly unpenalised)."""
    model = LogisticRegression(C=1e4, max_iter=200, solver="newton-cholesky")
    model.fit(x, treated, sample_weight=weights)
    return np.asarray(model.predict_proba(x)[:, 1])


def design_sample(data: pd.DataFrame, overlap: tuple[float, float] = OVERLAP,
                  rows: pd.Series | None = None) -> DesignSample:
    """Select the design's customer-periods and fit the propensity score.

    The sample of :func:`answered_vs_unanswered` (see its parameters ``rows`` and
    ``overlap``): customer-periods with a complaint whose fitted propensity lies in
    ``overlap``.

    Raises
    ------
    NotIdentifiedError
        When no complaint was answered, or none was left unanswered (before or after the
        overlap cut).
    """
    chosen = data["complaints"] > 0
    if rows is not None:
        chosen &= rows.reindex(data.index, fill_value=False).astype(bool)
    base = data[chosen].reset_index(drop=True)
    treated = (base["answered_complaints"] > 0).to_numpy()
    if treated.all() or not treated.any():
        raise NotIdentifiedError(
            f"among {len(base):,} customer-periods with a complaint, "
            f"{int(treated.sum()):,} were answered: no comparison is possible")
    x = _controls(base)
    propensity = fit_propensity(x, treated)
    inside = (propensity >= overlap[0]) & (propensity <= overlap[1])
    if treated[inside].all() or not treated[inside].any():
        raise NotIdentifiedError("no overlap: within the propensity range "
                                 f"{overlap}, every complaint was answered or none was")
    return DesignSample(data_rows=chosen[chosen].index[inside],
                        base=base[inside].reset_index(drop=True), x=x[inside],
                        treated=treated[inside], propensity=propensity[inside],
                        complained=len(base), chosen=chosen, inside=inside)


def _one_hot(labels: pd.Series) -> sp.csr_matrix:
    codes, uniques = pd.factorize(labels)
    n = len(labels)
    # drop the first level: the count cells already carry an intercept per brand
    matrix = sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, len(uniques)))
    return matrix[:, 1:]


def _fit_linear(x: sp.csr_matrix, y: np.ndarray) -> np.ndarray:
    # Normal equations on the (small) Gram matrix; the pseudo-inverse gives the minimum-norm
    # least-squares solution, so the redundant dummies are harmless and predictions unique.
    gram = (x.T @ x).toarray()
    return np.linalg.lstsq(gram, x.T @ y, rcond=None)[0]


def _cluster_se(influence: np.ndarray, clusters: np.ndarray) -> float:
    n = influence.size
    sums = pd.Series(influence).groupby(clusters).sum().to_numpy()
    g = sums.size
    return float(np.sqrt(g / (g - 1) * np.sum(sums**2)) / n)


def _clustered_covariance(influence: list[np.ndarray], rows: list[np.ndarray],
                          clusters: np.ndarray) -> np.ndarray:
    """Customer-clustered covariance of several AIPW means with different samples.

    Term k is the mean of ``influence[k]`` over the rows ``rows[k]`` (positions into
    ``clusters``); terms differ in rows because later leads are observed for fewer
    customer-periods. With S_ck the sum of term k's centred influence over cluster c,
    n_k its rows and G_k its clusters,

        Cov(θ_k, θ_l) = √(G_k/(G_k−1) · G_l/(G_l−1)) · Σ_c S_ck S_cl / (n_k n_l),

    summing over every cluster (a cluster without rows for a term contributes S_ck = 0). The
    diagonal is the per-term clustered variance of :func:`_cluster_se`; scaling rows and
    columns by the per-term small-sample factors keeps the matrix positive semi-definite.
    """
    codes, uniques = pd.factorize(clusters)
    sums = np.zeros((len(uniques), len(influence)))
    scale = np.zeros(len(influence))
    for k, (psi, at) in enumerate(zip(influence, rows, strict=True)):
        sums[:, k] = np.bincount(codes[at], weights=psi - psi.mean(), minlength=len(uniques))
        g = np.unique(codes[at]).size
        scale[k] = np.sqrt(g / (g - 1)) / at.size
    return (sums.T @ sums) * np.outer(scale, scale)


def answered_vs_unanswered(
    data: pd.DataFrame,
    outcomes: tuple[str, ...] = ("complaints", "compliments"),
    horizon: int = 4,
    overlap: tuple[float, float] = OVERLAP,
    rows: pd.Series | None = None,
    outcome_controls: pd.DataFrame | None = None,
    control_replicates: list[pd.DataFrame] | None = None,
    outcome_adjustments: dict[tuple[str, int], pd.Series] | None = None,
    adjustment_replicates: list[dict[tuple[str, int], pd.Series]] | None = None,
) -> EffectResults:
    """Doubly robust effect of answering a complaint in ``t−1`` on voice in ``t … t+horizon``.

    Parameters
    ----------
    data : DataFrame
        Panel with model columns (:func:`~complaintpanel.estimate.add_model_columns`).
    outcomes : tuple of str
        Panel count columns to use as outcomes.
    horizon : int
        Last lead: outcomes are measured in ``t+0 … t+horizon``.
    overlap : tuple of float
        Keep customer-periods whose estimated propensity lies in this closed range.
    rows : Series of bool, optional
        Restrict the customer-periods ``t−1`` to these rows of ``data`` (e.g. one brand, or
        the unanswered complaints and those answered within a latency bin); outcomes are still
        read from all of ``data``.
    outcome_controls : DataFrame, optional
        Extra controls of the customer-period ``t−1`` (index aligned with ``data``; numeric
        columns) added to the *outcome* models only, not to the propensity score: e.g. an
        estimate of a confounder from the validation sample
        (:func:`~complaintpanel.estimate.measurement.corrected_design_voice_control`). The
        propensity model is left alone because such a column may be a function of the
        treatment itself (it uses whether each tweet was answered), which would break overlap;
        the estimate stays consistent when the outcome models are right (double robustness).
    control_replicates : list of DataFrame, optional
        Alternative values of ``outcome_controls`` (same shape), e.g. from a bootstrap of the
        validation sample that made them: each term's point estimate is recomputed with each
        (same rows, propensity and overlap) and stored as ``result.replicates`` (an array,
        replicates × terms; not exported).
    outcome_adjustments : dict, optional
        ``(outcome, lead) → Series`` over ``data``'s index: a value of the customer-period
        ``t−1`` subtracted from that term's outcome (e.g. ``b̂ · ĉ``, a bias correction for an
        unobserved pre-treatment variable, :func:`~complaintpanel.estimate.measurement.
        corrected_design_voice_control`). AIPW is linear in the outcome, so this estimates the
        term's effect minus the effect on the adjustment, with its influence function.
    adjustment_replicates : list of dict, optional
        Alternative ``outcome_adjustments`` (e.g. a bootstrap of the validation sample): as
        ``control_replicates``, stored in ``result.replicates``.

    Returns
    -------
    EffectResults
        One term per outcome and lead (select with ``result.term(outcome=…, lead=…)``; names
        like ``complaints[t+0]`` are labels only), with a covariance matrix across all terms
        clustered by customer (normal inference). The term table gives each term's
        ``outcome``, ``lead``, ``nobs``, ``n_clusters`` and the regression-adjustment estimate
        beside the AIPW one (``regression_adjustment``); ``info`` records the controls and
        how many customer-periods were left out for lack of overlap; ``kept`` (an attribute,
        not exported) lists the customer-periods used, so that a simulation can compute the
        truth on the same ones.

    Raises
    ------
    NotIdentifiedError
        When no complaint was answered, or none was left unanswered.
    """
    sample = design_sample(data, overlap, rows)
    base, x, treated, score = sample.base, sample.x, sample.treated, sample.propensity
    n_complained = sample.complained

    if control_replicates is not None and adjustment_replicates is not None:
        raise ValueError("give control_replicates or adjustment_replicates, not both")
    extra = extra_replicates = None
    kept_rows = sample.data_rows  # data rows of base

    def at_base(values: pd.Series) -> np.ndarray:
        return values.loc[kept_rows].to_numpy(dtype=float)

    adjust = {key: at_base(values) for key, values in (outcome_adjustments or {}).items()}
    adjust_replicates = [{key: at_base(values) for key, values in replicate.items()}
                         for replicate in adjustment_replicates or []]
    if outcome_controls is not None:
        extra = outcome_controls.loc[kept_rows].to_numpy(dtype=float)
        if control_replicates is not None:
            extra_replicates = [replicate.loc[kept_rows].to_numpy(dtype=float)
                                for replicate in control_replicates]
    lookup = data.set_index(["pair_id", "period"])
    customers = base["customer_id"].to_numpy()
    names, records, estimates, errors, influence, rows_at = [], [], [], [], [], []
    replicate_estimates: list[list[float]] = []
    for outcome in outcomes:
        for lead in range(horizon + 1):
            key = pd.MultiIndex.from_arrays([base["pair_id"], base["period"] + 1 + lead])
            y = lookup[outcome].reindex(key).to_numpy(dtype=float)
            ok = ~np.isnan(y)
            if ok.sum() < 10 or treated[ok].all() or not treated[ok].any():
                continue
            if (outcome, lead) in adjust:
                y_raw, y = y, y - adjust[(outcome, lead)]
            else:
                y_raw = y
            xo, yo, do, eo = x[ok], y[ok], treated[ok], score[ok]
            if extra is not None:
                xo = sp.hstack([xo, sp.csr_matrix(extra[ok])], format="csr")
            psi, mu1, mu0 = _aipw_influence(xo, yo, do, eo)
            if extra_replicates is not None:
                replicate_estimates.append([float(_aipw_influence(
                    sp.hstack([x[ok], sp.csr_matrix(other[ok])], format="csr"), yo, do, eo)[0]
                    .mean()) for other in extra_replicates])
            elif adjust_replicates:
                # all replicates at once: the outcome models' design is the same for each
                shifted = np.column_stack([(y_raw - replicate.get((outcome, lead), 0.0))[ok]
                                           for replicate in adjust_replicates])
                replicate_estimates.append(
                    _aipw_influence(xo, shifted, do, eo)[0].mean(axis=0).tolist())
            # The name is a label for printing; consumers select by outcome and lead.
            names.append(term_label(outcome, lead))
            estimates.append(float(psi.mean()))
            errors.append(_cluster_se(psi - psi.mean(), customers[ok]))
            influence.append(psi)
            rows_at.append(np.flatnonzero(ok))
            records.append({"outcome": outcome, "lead": lead, "nobs": int(ok.sum()),
                            "n_clusters": int(pd.unique(customers[ok]).size),
                            "regression_adjustment": float((mu1 - mu0).mean())})
    if not names:
        raise NotIdentifiedError("no lead has outcomes observed after a complaint")
    cov = _clustered_covariance(influence, rows_at, customers)
    # Holm across the leads of each outcome, beside the pointwise p-values (normal inference)
    pvalues = pd.Series(2 * stats.norm.sf(np.abs(np.array(estimates) / np.array(errors))),
                        index=names)
    outcome_of = pd.Series([r["outcome"] for r in records], index=names)
    for outcome in outcome_of.unique():
        members = outcome_of.index[outcome_of == outcome]
        adjusted = holm(pvalues[members])
        for name in members:
            records[names.index(name)]["pvalue_holm"] = float(adjusted[name])
    result = EffectResults(
        model="answered_vs_unanswered", estimator="AIPW (logit propensity, linear outcomes)",
        params=pd.Series(estimates, index=names), bse=pd.Series(errors, index=names),
        cov=pd.DataFrame(cov, index=names, columns=names),
        nobs=len(base), terms=pd.DataFrame.from_records(records, index=names),
        n_clusters=int(base["customer_id"].nunique()), dof=None,
        cov_type="influence function, clustered by customer",
        info={"controls": "brand × complaints in t−1, answered before, brand × period",
              "treated_share": round(float(treated.mean()), 4),
              "overlap": list(overlap), "complained": n_complained,
              "left_out_no_overlap": n_complained - len(base),
              "estimand": "average effect of answering among customer-periods with a "
                          "complaint and overlap"},
    )
    if outcome_controls is not None:
        result.info["outcome_controls"] = [str(c) for c in outcome_controls.columns]
        result.info["controls"] += " (propensity); outcome models also: " + ", ".join(
            result.info["outcome_controls"])
    result.kept = base[["customer_id", "brand", "period"]]  # type: ignore[attr-defined]
    if outcome_adjustments:
        result.info["outcome_adjustments"] = sorted({o for o, _ in outcome_adjustments})
    if extra_replicates is not None or adjust_replicates:
        result.replicates = np.array(  # type: ignore[attr-defined]
            replicate_estimates, dtype=float).reshape(len(names), -1).T
    return result


def _aipw_influence(x: sp.csr_matrix, y: np.ndarray, treated: np.ndarray,
                    score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AIPW influence values (and the two arms' fitted outcomes) of one outcome.

    ``y`` may be a matrix (rows × outcomes): each column is one outcome on the same design.
    """
    mu1 = x @ _fit_linear(x[treated], y[treated])
    mu0 = x @ _fit_linear(x[~treated], y[~treated])
    if y.ndim == 2:
        treated, score = treated[:, None], score[:, None]
    psi = mu1 - mu0 + treated * (y - mu1) / score - (~treated) * (y - mu0) / (1 - score)
    return psi, mu1, mu0


def design_heterogeneity(data: pd.DataFrame,
                         outcomes: tuple[str, ...] = ("complaints", "compliments"),
                         horizon: int = 0) -> dict[str, dict[str, EffectResults | NotEstimated]]:
    """Estimate the design-based effect by brand and by reply latency (a dose–response).

    Parameters
    ----------
    data : DataFrame
        Panel with model columns.
    outcomes : tuple of str
    horizon : int
        Last lead (default: the next period only).

    Returns
    -------
    dict
        ``by_brand``: brand → the estimate on that brand's complaints (brands answer at
        different rates, so their propensity and overlap differ). ``by_latency``: bin label →
        the estimate comparing the complaints answered with the period's fastest reply in that
        latency bin (terciles of the answered complaints' latency, in hours) with the
        unanswered ones. Each entry a results object or a
        :class:`~complaintpanel.results.NotEstimated` record.
    """
    def attempt(rows: pd.Series, name: str) -> EffectResults | NotEstimated:
        try:
            return answered_vs_unanswered(data, outcomes, horizon=horizon, rows=rows)
        except ESTIMATION_FAILURES as error:
            return NotEstimated.from_error(error, name)

    out: dict[str, dict[str, EffectResults | NotEstimated]] = {"by_brand": {}, "by_latency": {}}
    for brand in sorted(data["brand"].astype(str).unique()):
        out["by_brand"][brand] = attempt(data["brand"].astype(str) == brand,
                                         f"answered_vs_unanswered[{brand}]")
    answered = (data["complaints"] > 0) & (data["answered_complaints"] > 0)
    latency = data["fastest_reply_h"].where(answered)
    if latency.notna().sum() >= LATENCY_BINS:
        edges = np.unique(np.quantile(latency.dropna(), np.linspace(0, 1, LATENCY_BINS + 1)))
        for i, (low, high) in enumerate(itertools.pairwise(edges)):
            first = i == 0
            inside = (latency >= low if first else latency > low) & (latency <= high)
            label = f"bin {i + 1}: {low:.2g}–{high:.2g} h"
            out["by_latency"][label] = attempt(inside | (data["answered_complaints"] == 0),
                                               f"answered_vs_unanswered[latency {label}]")
    return out
