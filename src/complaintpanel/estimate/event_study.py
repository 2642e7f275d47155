"""Event studies around a customer's first reply from the brand (staggered adoption).

**Treatment.** A pair (customer × brand) is treated from the period of the brand's first reply
on, and stays treated: the design treats the first reply as an *absorbing* treatment. Replies
recur, so every post-period coefficient is the effect of having been answered at least once
(including whatever later replies the first one brings), not of one reply episode; the
design-based estimate (:mod:`.design`) measures the effect of one answer instead.

**One sample, the main specification's fixed effects.** Every estimator uses the same rows:
the panel rows with the outcome, of pairs with at least one unanswered period (pairs answered
at their very first contact have no untreated outcome, so their pair effect cannot be learnt;
one unanswered period is enough), less answered rows whose brand × period has no unanswered
row (nothing to impute them from). Every estimator has pair and brand × period fixed effects,
as the main regressions (:mod:`.fixed_effects`). The same ``nobs`` is reported for all.

Estimators (keys of :data:`EVENT_STUDY_ESTIMATORS`):

* ``did2s`` — the imputation estimator (Borusyak, Jaravel & Spiess 2024; numerically Gardner's
  2022 two-stage DiD): pair and brand × period effects are fitted on the unanswered rows only,
  each answered row's untreated outcome is imputed from them, and the coefficient of event time
  k is the mean imputed effect over answered rows at k. Its standard errors are Gardner's
  two-stage GMM variance clustered by customer (as pyfixest's ``did2s``, which this module
  reproduces to 1e-8 where pyfixest applies — tests/test_event_study.py; written here because
  pyfixest's first stage drops pairs with a single unanswered period, and its variance
  builds dense fixed-effect matrices). It reports post-period effects only: its "leads" would
  be averages of first-stage residuals fitted on the same rows, which is no test;
* ``twfe`` — the naive two-way fixed-effects event study with leads and lags (reference −1),
  which mixes cohorts with weights that can be negative when effects are heterogeneous (Sun &
  Abraham 2021);
* ``poisson_complaint`` — for counts, complaint-anchored: event time counted from each pair's
  first complaint, answered vs unanswered first complaints compared at the same event time
  within strata of brand × anchor period × anchor complaints (:mod:`.complaint_event_study`;
  its own sample and fixed effects, since the first-reply comparison's parallel trends fail
  by construction: a first reply follows a bad spell);
* ``poisson`` — for counts, Wooldridge's (2023) extended TWFE Poisson (ETWFE): pyfixest
  ``fepois`` with pair and brand × period effects and one indicator per first-reply cohort ×
  post event time, so that effects may differ by cohort; the coefficient of event time k is the
  treated-row-weighted average of the cohort coefficients at k (a log rate ratio), with the
  covariance of that linear combination.

**Pre-trend test.** :func:`pretrend_test` is the imputation-based test of Borusyak, Jaravel &
Spiess (2024, Test 1): on the *unanswered* rows only, the outcome is regressed on the fixed
effects and indicators of the K periods before the first reply (−K … −1, the −1 included; the
reference is every earlier period and the never-answered pairs), and the K coefficients are
tested jointly (Wald, χ²(K), CRV1 by customer). The result sits in every estimator's ``info``
(``pretrend_test``) and in the tables and figure.

**Joint inference.** Every path carries sup-t simultaneous 95% bands (``band_lower``,
``band_upper`` in the term table; critical value in ``info``) and Holm-adjusted p-values across
its event times (``pvalue_holm``), beside the pointwise numbers (:mod:`.inference`).

Here, unlike a textbook policy adoption, the "treatment" (a reply) follows a complaint, which
follows a worsening relationship, and event time 0 contains the complaint that was answered;
pre-trends and a spike at 0 are expected and are reported, not hidden. Event times beyond
±window are binned into the end bins, which are estimated but not reported.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyfixest as pf
import scipy.sparse as sp
from scipy import stats
from scipy.sparse.linalg import spsolve

from complaintpanel.estimate.inference import holm, sup_t_critical
from complaintpanel.estimate.samples import informative_rows
from complaintpanel.results import EffectResults, NotIdentifiedError

__all__ = ["EVENT_STUDY_ESTIMATORS", "complaint_anchored_event_study", "event_study",
           "event_study_sample", "pretrend_test"]

# Estimator key → how it is described in results and tables.
EVENT_STUDY_ESTIMATORS: dict[str, str] = {
    "did2s": "imputation / two-stage DiD (Borusyak–Jaravel–Spiess; Gardner)",
    "twfe": "pyfixest.feols (naive TWFE event study)",
    "poisson": "pyfixest.fepois, cohort × event time (Wooldridge ETWFE Poisson)",
    "poisson_complaint": "pyfixest.fepois, answered × anchor cohort × event time, "
                         "complaint-anchored",
}
# Estimators with a sample of their own (not the first-reply sample; see their modules).
OWN_SAMPLE = ("poisson_complaint",)
REFERENCE = -1  # event time of the TWFE reference bin, normalised to 0
FIXED_EFFECTS = ("pair_id", "brand_period")
SAMPLE_RULE = ("rows with the outcome of pairs with ≥ 1 unanswered period, less answered rows "
               "whose brand × period has no unanswered row")


def event_study_sample(data: pd.DataFrame, outcome: str, window: int) -> pd.DataFrame:
    """Return the one estimation sample of every event-study estimator (see the module).

    Returns
    -------
    DataFrame
        Rows kept, with ``t`` (period + 1), ``g`` (first-reply period + 1; 0 = never),
        ``event_time`` (t − g, missing for never-answered pairs), ``event_bin`` (binned at
        ±(window + 1); −1 for never-answered pairs) and ``is_treated``.
    """
    sample = data.dropna(subset=[outcome]).copy()
    if sample["first_reply_period"].notna().sum() == 0:
        raise NotIdentifiedError("no customer was ever answered: no event to study")
    if "brand_period" not in sample:
        sample["brand_period"] = sample["brand"].astype(str) + "|" + sample["period"].astype(str)
    sample["t"] = sample["period"].astype(int) + 1
    sample["g"] = sample["first_reply_period"].fillna(-1).astype(int) + 1  # 0 = never
    sample["event_time"] = (sample["t"] - sample["g"]).where(sample["g"] > 0)
    sample["event_bin"] = (sample["event_time"].clip(-window - 1, window + 1)
                           .fillna(REFERENCE).astype(int))
    sample["is_treated"] = ((sample["g"] > 0) & (sample["t"] >= sample["g"])).astype(int)
    untreated = sample["is_treated"] == 0
    has_untreated = untreated.groupby(sample["pair_id"]).transform("any")
    sample = sample[has_untreated]
    imputable = sample["brand_period"].isin(sample.loc[sample["is_treated"] == 0,
                                                       "brand_period"])
    sample = sample[imputable | (sample["is_treated"] == 0)]
    if sample["is_treated"].nunique() < 2:
        raise NotIdentifiedError("no pair has both unanswered and answered periods")
    return sample


def event_study(data: pd.DataFrame, outcome: str = "complaints", window: int = 4,
                estimators: tuple[str, ...] = ("did2s", "twfe")) -> dict[str, EffectResults]:
    """Event-study coefficients of ``outcome`` around the first reply.

    Parameters
    ----------
    data : DataFrame
        The panel (with ``pair_id`` and ``brand_period`` from
        :func:`~complaintpanel.estimate.add_model_columns`).
    outcome : str
        Outcome column (``complaints``, ``sentiment_mean``, …); ``poisson`` needs counts.
    window : int
        Event times −window … +window are reported; the ends are binned.
    estimators : tuple of str
        Keys of :data:`EVENT_STUDY_ESTIMATORS`.

    Returns
    -------
    dict of str to EffectResults
        One results object per estimator (keys as in ``estimators``), all on the same sample
        (same ``nobs``) but ``poisson_complaint``, which has its own (the rows after each
        pair's first complaint; :mod:`.complaint_event_study`, with its pre-anchor placebo
        test as ``info["placebo_test"]`` and no ``pretrend_test``); their estimates have no
        joint covariance. Terms are event times (``did2s``, ``poisson``: 0 … window;
        ``poisson_complaint``: 1 … window; ``twfe``: −window … window but the reference −1,
        listed as a ``fixed`` term at 0). The term table has ``outcome``, ``estimator``,
        ``event_time``, ``pvalue_holm``, ``band_lower`` and ``band_upper`` (sup-t 95%);
        ``info`` has the ``pretrend_test`` (:func:`pretrend_test`), the sample rule and the
        sup-t critical value. Standard errors clustered by customer.
    """
    unknown = sorted(set(estimators) - set(EVENT_STUDY_ESTIMATORS))
    if unknown:
        raise ValueError(f"unknown event-study estimator(s) {unknown}; "
                         f"choose from {sorted(EVENT_STUDY_ESTIMATORS)}")
    out = {}
    if "poisson_complaint" in estimators:
        out["poisson_complaint"] = complaint_anchored_event_study(data, outcome, window)
    first_reply = [name for name in estimators if name not in OWN_SAMPLE]
    if not first_reply:
        return out
    sample = event_study_sample(data, outcome, window)
    test = _pretrend_on_sample(sample, outcome, window)
    fits = {"did2s": _did2s, "twfe": _twfe, "poisson": _poisson}
    for name in first_reply:
        result = fits[name](sample, outcome, window)
        result.info["pretrend_test"] = test
        out[name] = _with_joint_inference(result)
    return out


# ------------------------------------------------------------------------------ pre-trend test
def pretrend_test(data: pd.DataFrame, outcome: str = "complaints", window: int = 4,
                  ssc: dict[str, object] | None = None) -> dict[str, Any]:
    """Imputation-based pre-trend test on the unanswered rows (BJS 2024, Test 1).

    Parameters
    ----------
    data : DataFrame
        The panel with model columns.
    outcome : str
    window : int
        K: leads −K … −1 are tested (the −1 included).
    ssc : dict, optional
        pyfixest small-sample correction (default: fixest's).

    Returns
    -------
    dict
        ``leads`` (records of ``event_time``, ``estimate``, ``se``), ``wald`` (the χ² statistic),
        ``df``, ``pvalue``, ``nobs`` (unanswered rows), ``n_clusters`` and a description.
    """
    return _pretrend_on_sample(event_study_sample(data, outcome, window), outcome, window, ssc)


def _pretrend_on_sample(sample: pd.DataFrame, outcome: str, window: int,
                        ssc: dict[str, object] | None = None) -> dict[str, Any]:
    untreated = sample[sample["is_treated"] == 0].copy()
    leads = []
    for k in range(1, window + 1):
        column = f"lead_{k}"
        untreated[column] = (untreated["event_time"] == -k).astype(float)
        if untreated[column].any():
            leads.append(k)
    description = ("BJS (2024) Test 1: leads −K … −1 regressed with the fixed effects on "
                   "unanswered rows only; joint Wald χ²(K), CRV1 by customer")
    # rows alone in their pair or brand × period say nothing (and an empty sample would abort
    # pyfixest's demeaning)
    kept = informative_rows(untreated, FIXED_EFFECTS, outcome)
    leads = [k for k in leads if kept[f"lead_{k}"].any()]
    if not leads:
        return {"description": description, "leads": [], "wald": None, "df": 0,
                "pvalue": None, "nobs": len(kept), "note": "no lead is identified"}
    names = [f"lead_{k}" for k in leads]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.feols(f"{outcome} ~ {' + '.join(names)} | pair_id + brand_period", data=kept,
                       vcov={"CRV1": "customer_id"}, ssc=ssc,
                       demeaner=pf.MapDemeaner(fixef_tol=1e-12))
    coefs = fit.coef()
    present = [n for n in names if n in coefs.index]
    position = [list(coefs.index).index(n) for n in present]
    b = coefs[present].to_numpy(dtype=float)
    vcov = fit._vcov[np.ix_(position, position)]
    wald = float(b @ np.linalg.pinv(vcov) @ b)
    return {"description": description,
            "leads": [{"event_time": -int(n.split("_")[1]), "estimate": float(coefs[n]),
                       "se": float(fit.se()[n])} for n in present],
            "wald": wald, "df": len(present),
            "pvalue": float(stats.chi2.sf(wald, len(present))),
            "nobs": int(fit._N), "n_clusters": int(kept["customer_id"].nunique())}


# ------------------------------------------------------------------------------ estimators
def _term_rows(outcome: str, estimator: str, event_times: list[int], reference: bool
               ) -> pd.DataFrame:
    times = sorted([*event_times, REFERENCE]) if reference else event_times
    rows = {f"event_time={k}": {"outcome": outcome, "estimator": estimator, "event_time": k}
            for k in times}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["fixed"] = False
    if reference:  # the normalisation: a fixed term at 0, not a parameter
        table["fixed"] = table["event_time"] == REFERENCE
        table["fixed_value"] = np.where(table["fixed"], 0.0, np.nan)
    return table


def _effect_results(estimator: str, outcome: str, window: int, sample: pd.DataFrame,
                    event_times: list[int], params: np.ndarray, cov: np.ndarray,
                    dof: float | None, info: dict[str, Any]) -> EffectResults:
    names = [f"event_time={k}" for k in event_times]
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None)) if len(event_times) else np.array([])
    if not len(event_times) or not (np.isfinite(params).all() and (se > 0).all()):
        raise NotIdentifiedError(f"{estimator}: too few observations for an event-time "
                                 "coefficient with a standard error")
    return EffectResults(
        model=f"event_study_{outcome}", estimator=EVENT_STUDY_ESTIMATORS[estimator],
        params=pd.Series(params, index=names, dtype=float),
        bse=pd.Series(np.sqrt(np.diag(cov)), index=names, dtype=float),
        cov=pd.DataFrame(cov, index=names, columns=names), nobs=len(sample),
        terms=_term_rows(outcome, estimator, event_times, reference=estimator == "twfe"),
        n_clusters=int(sample["customer_id"].nunique()), dof=dof,
        cov_type="CRV1 clustered by customer",
        info={"window": window, "sample": SAMPLE_RULE,
              "fixed_effects": "customer–brand pair; brand × period",
              "treatment": "first reply, absorbing (treated from the first reply on)",
              "binned": f"event times beyond ±{window} are binned into the end bins "
                        "(estimated, not reported)", **info},
    )


def complaint_anchored_event_study(data: pd.DataFrame, outcome: str = "complaints",
                                   window: int = 4) -> EffectResults:
    """Complaint-anchored Poisson event study with the sup-t band and Holm p-values.

    :func:`complaintpanel.estimate.complaint_event_study.complaint_event_study` (its own
    sample and fixed effects, and its pre-anchor placebo test in ``info["placebo_test"]``)
    with the joint inference the other event studies carry; ``event_study``'s
    ``poisson_complaint``.
    """
    from complaintpanel.estimate.complaint_event_study import complaint_event_study

    return _with_joint_inference(complaint_event_study(data, outcome, window))


def _with_joint_inference(result: EffectResults) -> EffectResults:
    """Add sup-t bands and Holm-adjusted p-values over the path's estimated terms."""
    rows = result.term_estimates()
    estimated = ~rows["fixed"].astype(bool)
    critical = sup_t_critical(result.cov_params().to_numpy())
    terms = result.terms.copy()
    terms["pvalue_holm"] = holm(rows["pvalue"].where(estimated))
    terms["band_lower"] = (rows["estimate"] - critical * rows["se"]).where(estimated)
    terms["band_upper"] = (rows["estimate"] + critical * rows["se"]).where(estimated)
    last = [c for c in ("fixed", "fixed_value") if c in terms]  # as results files order them
    terms = terms[[c for c in terms if c not in last] + last]
    info = dict(result.info)
    info["sup_t_critical_95"] = critical
    info["joint_inference"] = ("sup-t 95% simultaneous band over the path's estimated event "
                               "times; Holm-adjusted p-values across them")
    return EffectResults(model=result.model, estimator=result.estimator, params=result.params,
                         bse=result.bse, cov=result.cov_params(), nobs=result.nobs,
                         terms=terms, n_clusters=result.n_clusters, dof=result.dof,
                         cov_type=result.cov_type, info=info)


def _fe_design(sample: pd.DataFrame, untreated: np.ndarray) -> sp.csr_matrix:
    """Pair dummies and brand × period dummies (one per brand dropped): full column rank."""
    n = len(sample)
    pair_codes, pairs = pd.factorize(sample["pair_id"])
    bp_codes, bps = pd.factorize(sample["brand_period"])
    brand_of = pd.Series(bps).str.rsplit("|", n=1).str[0]
    dropped = set(pd.Series(range(len(bps))).groupby(brand_of.to_numpy()).min())
    keep = np.array([j not in dropped for j in range(len(bps))])
    remap = np.cumsum(keep) - 1
    rows = np.arange(n)
    pair_block = sp.csr_matrix((np.ones(n), (rows, pair_codes)), shape=(n, len(pairs)))
    mask = keep[bp_codes]
    bp_block = sp.csr_matrix((np.ones(mask.sum()), (rows[mask], remap[bp_codes[mask]])),
                             shape=(n, int(keep.sum())))
    return sp.hstack([pair_block, bp_block], format="csr")


def _did2s(sample: pd.DataFrame, outcome: str, window: int) -> EffectResults:
    y = sample[outcome].to_numpy(dtype=float)
    untreated = (sample["is_treated"] == 0).to_numpy()
    x1 = _fe_design(sample, untreated)
    x10 = x1[untreated]
    gram = (x10.T @ x10).tocsc()
    with warnings.catch_warnings():
        warnings.simplefilter("error", sp.linalg.MatrixRankWarning)
        try:
            gamma = spsolve(gram, x10.T @ y[untreated])
        except sp.linalg.MatrixRankWarning as error:
            raise NotIdentifiedError("did2s: the unanswered rows do not identify the pair and "
                                     "brand × period effects (disconnected)") from error
    resid = y - x1 @ gamma  # imputed effects (answered rows), first-stage residuals (others)
    treated_bins = sample["event_bin"].where(~untreated)
    bins = sorted(int(k) for k in treated_bins.dropna().unique())
    codes = treated_bins.map({k: j for j, k in enumerate(bins)}).to_numpy()
    rows = np.flatnonzero(~untreated)
    x2 = sp.csr_matrix((np.ones(rows.size), (rows, codes[rows].astype(int))),
                       shape=(len(sample), len(bins)))
    counts = np.asarray(x2.sum(axis=0)).ravel()
    beta = (x2.T @ resid) / counts
    second_u = resid - x2 @ beta
    first_u = np.where(untreated, resid, 0.0)
    # Gardner's GMM variance: W_g = X2_g'û2_g − (X2'X1)(X10'X10)⁻¹ X10_g'û1_g
    v = spsolve(gram, (x2.T @ x1).T.tocsc())
    v = (v.toarray() if sp.issparse(v) else np.asarray(v).reshape(gram.shape[0], -1)).T
    _, cluster_codes = np.unique(sample["customer_id"].astype(str).to_numpy(),
                                 return_inverse=True)
    clusters = sp.csr_matrix((np.ones(len(sample)), (cluster_codes, np.arange(len(sample)))))
    scores = (clusters @ x2.multiply(second_u[:, None])).toarray() \
        - (clusters @ x1.multiply(first_u[:, None])) @ v.T
    bread = np.diag(1.0 / counts)
    cov = bread @ (scores.T @ scores) @ bread
    reported = [k for k in range(0, window + 1) if k in bins]
    position = [bins.index(k) for k in reported]
    return _effect_results("did2s", outcome, window, sample, reported, beta[position],
                           cov[np.ix_(position, position)], None,
                           {"estimand": "average effect on answered rows at each event time "
                                        "(imputation)", "inference": "normal"})


def _pyfixest_path(fit: Any, prefix: str, event_times: list[int]
                   ) -> tuple[list[int], np.ndarray, np.ndarray]:
    coefs = fit.coef()
    present = [k for k in event_times if f"{prefix}{k}" in coefs.index]
    position = [list(coefs.index).index(f"{prefix}{k}") for k in present]
    return present, coefs.iloc[position].to_numpy(dtype=float), \
        fit._vcov[np.ix_(position, position)]


def _twfe(sample: pd.DataFrame, outcome: str, window: int) -> EffectResults:
    kept = informative_rows(sample, FIXED_EFFECTS, outcome)
    if kept.empty or kept.groupby("pair_id")["event_bin"].nunique().max() < 2:
        raise NotIdentifiedError("twfe: no pair moves between event times once the "
                                 "observations alone in their pair or period are set aside")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.feols(f"{outcome} ~ i(event_bin, ref=-1) | pair_id + brand_period", data=sample,
                       vcov={"CRV1": "customer_id"}, demeaner=pf.MapDemeaner(fixef_tol=1e-12))
    wanted = [k for k in range(-window, window + 1) if k != REFERENCE]
    times, params, cov = _pyfixest_path(fit, "event_bin::", wanted)
    return _effect_results("twfe", outcome, window, sample, times, params, cov,
                           float(fit._df_t), {"nobs_informative": int(fit._N)})


def _poisson(sample: pd.DataFrame, outcome: str, window: int) -> EffectResults:
    values = sample[outcome].to_numpy(dtype=float)
    if (values < 0).any() or not np.allclose(values, np.round(values)):
        raise ValueError(f"poisson event study: {outcome} is not a count")
    data = sample.copy()
    treated = data["is_treated"] == 1
    data["cell"] = np.where(treated, data["g"].astype(str) + "_" + data["event_bin"].astype(str),
                            "untreated")
    # A cohort × event-time cell whose count is zero throughout has a coefficient of −∞ (no
    # MLE); its rows are set aside and counted.
    cell_sum = data.groupby("cell")[outcome].transform("sum")
    separated = treated & (cell_sum == 0)
    data = data[~separated]
    kept = informative_rows(data, FIXED_EFFECTS, outcome, poisson=True)
    if kept.empty or kept["is_treated"].nunique() < 2:
        raise NotIdentifiedError("poisson: no answered pair with a complaint is left once the "
                                 "all-zero pairs are set aside")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.fepois(f"{outcome} ~ i(cell, ref='untreated') | pair_id + brand_period",
                        data=data, vcov={"CRV1": "customer_id"}, iwls_tol=1e-10,
                        demeaner=pf.MapDemeaner(fixef_tol=1e-10))
    coefs = fit.coef()
    used = kept[kept["is_treated"] == 1].groupby("cell").size()
    used = used[[f"cell::{c}" in coefs.index for c in used.index]]
    bins = data.loc[data["is_treated"] == 1].groupby("cell")["event_bin"].first()
    names = list(coefs.index)
    reported = [k for k in range(0, window + 1) if (bins.reindex(used.index) == k).any()]
    weights = np.zeros((len(reported), len(names)))
    for i, k in enumerate(reported):
        cells = used[bins.reindex(used.index) == k]
        for cell, n in cells.items():
            weights[i, names.index(f"cell::{cell}")] = n / cells.sum()
    params = weights @ coefs.to_numpy(dtype=float)
    cov = weights @ fit._vcov @ weights.T
    return _effect_results("poisson", outcome, window, sample, reported, params, cov,
                           float(fit._df_t),
                           {"estimand": "log rate ratio at each event time: cohort × event-time "
                                        "coefficients averaged with weights = answered rows "
                                        "of each cohort",
                            "nobs_informative": int(fit._N),
                            "set_aside_zero_cells": int(separated.sum())})
