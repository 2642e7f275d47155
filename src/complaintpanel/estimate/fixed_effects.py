"""The paper-style panel regressions with high-dimensional fixed effects (DESIGN.md §3).

* complaints: PPML, ``E[complaints_ibt] = exp(α_ib + λ_bt + β·treat_ib,t−1)`` (pyfixest
  ``fepois``; Santos Silva & Tenreyro 2006);
* sentiment and the compliment share: linear, ``y_ibt = α_ib + λ_bt + θ·treat_ib,t−1 + ε``
  (pyfixest ``feols``, with linearmodels ``PanelOLS`` as an independent implementation).

Standard errors are clustered by customer. These regressions do *not* identify the causal
effect of a reply: brands answer customers when they complain, i.e. when the latent
relationship is bad, and the pair fixed effect cannot absorb a relationship that moves over
time. They are reported because the literature reports them; see :mod:`.design` for the
comparison that does identify the effect when answering is as good as random given its
controls, and :mod:`complaintpanel.hmm` for the structural model.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyfixest as pf

from complaintpanel.estimate.inference import wild_cluster_bootstrap
from complaintpanel.estimate.samples import informative_rows
from complaintpanel.estimate.treatments import TREATMENTS
from complaintpanel.results import EffectResults, NotIdentifiedError

__all__ = ["fit_linear_fe", "fit_panelols", "fit_ppml"]

FIXED_EFFECTS = "pair_id + brand_period"


def _estimation_sample(data: pd.DataFrame, outcome: str, treatment: str) -> pd.DataFrame:
    if treatment not in TREATMENTS:
        raise ValueError(f"unknown treatment {treatment!r}; choose from {sorted(TREATMENTS)}")
    column = f"treat_{treatment}"
    sample = data.dropna(subset=[outcome, column])
    if sample.empty:
        raise NotIdentifiedError(f"no observation has both {outcome} and the lagged treatment")
    within = sample.groupby("pair_id")[column].nunique()
    if sample[column].nunique() < 2 or (within > 1).sum() == 0:
        raise NotIdentifiedError(
            f"treatment '{treatment}' never varies within a customer–brand pair "
            f"({len(within):,} pairs, {sample[column].nunique()} distinct value(s)); "
            "the pair fixed effect absorbs it")
    return sample


def _informative(sample: pd.DataFrame, outcome: str, treatment: str,
                 poisson: bool) -> pd.DataFrame:
    """Keep the observations that inform the treatment's coefficient; refuse if none vary.

    Observations alone in a fixed-effect group (singletons) and, in a Poisson model, those in
    a group whose count is zero throughout (its fixed effect is −∞) carry no information on the
    coefficient; pyfixest drops them too. Dropping them until none is left, the treatment must
    still vary within some customer–brand pair. Else the effect is not identified — and
    pyfixest's demeaning of an empty sample would abort the whole process (a panic in its Rust
    code, not an exception), so the check comes first.
    """
    kept = informative_rows(sample, FIXED_EFFECTS.split(" + "), outcome, poisson=poisson)
    within = kept.groupby("pair_id")[f"treat_{treatment}"].nunique()
    if (within > 1).sum() == 0:
        zero = f" or with zero {outcome} throughout" if poisson else ""
        raise NotIdentifiedError(
            f"treatment '{treatment}' never varies within a customer–brand pair once the "
            f"observations alone in their pair or brand × period{zero} are set aside (they "
            f"carry no information; {len(kept):,} of {len(sample):,} observations remain)")
    return kept


def _term_table(outcome: str, treatment: str) -> pd.DataFrame:
    """One term: the coefficient on the lagged treatment, described by outcome and treatment."""
    return pd.DataFrame({"outcome": [outcome], "treatment": [treatment]}, index=[treatment])


def _dep_var_mean(fit: object) -> float:
    """Mean of the outcome over the observations the regression used (its ``nobs``).

    pyfixest keeps the outcome untransformed in ``_Y_untransformed``, after singleton drops
    but, for ``fepois``, before the separation drops (its ``_Y`` is the working variable).
    Poisson separation only ever drops observations with a zero outcome, so the sum over
    ``_Y_untransformed`` divided by ``nobs`` is the mean over the rows used; a linear fit
    drops no more rows, and the check says so.
    """
    n_used = int(fit._N)  # type: ignore[attr-defined]
    outcome = np.asarray(fit._Y_untransformed, dtype=np.float64).ravel()  # type: ignore[attr-defined]
    if type(fit).__name__ != "Fepois" and outcome.size != n_used:
        raise RuntimeError(f"pyfixest used {n_used} rows but kept {outcome.size} outcomes")
    return float(outcome.sum() / n_used)


def _from_pyfixest(fit: object, model: str, estimator: str, outcome: str, treatment: str,
                   sample: pd.DataFrame, formula: str,
                   extra: dict[str, float] | None = None) -> EffectResults:
    term = f"treat_{treatment}"
    coefs = fit.coef()  # type: ignore[attr-defined]
    if term not in coefs.index:
        raise NotIdentifiedError(f"{model}: treatment '{treatment}' was dropped as collinear "
                                 "with the fixed effects")
    position = list(coefs.index).index(term)
    vcov = fit._vcov[np.ix_([position], [position])]  # type: ignore[attr-defined]
    n_clusters = int(sample.loc[:, "customer_id"].nunique())
    return EffectResults(
        model=model, estimator=estimator,
        params=pd.Series({treatment: float(coefs[term])}),
        bse=pd.Series({treatment: float(fit.se()[term])}),  # type: ignore[attr-defined]
        cov=pd.DataFrame(vcov, index=[treatment], columns=[treatment]),
        nobs=int(fit._N),  # type: ignore[attr-defined]
        terms=_term_table(outcome, treatment).assign(**(extra or {})), n_clusters=n_clusters,
        dof=n_clusters - 1,
        cov_type="CRV1 clustered by customer",
        info={"formula": formula, "fixed_effects": "customer–brand pair; brand × period",
              "dep_var_mean": _dep_var_mean(fit),
              "vcov": "CRV1 clustered by customer", "treatment": treatment,
              "treatment_definition": TREATMENTS[treatment]},
    )


def fit_ppml(data: pd.DataFrame, treatment: str = "replied",
             outcome: str = "complaints") -> EffectResults:
    """PPML of complaints on the lagged treatment with pair and brand × period fixed effects.

    Parameters
    ----------
    data : DataFrame
        Panel with model columns (:func:`~complaintpanel.estimate.add_model_columns`).
    treatment : str
        Key of :data:`~complaintpanel.estimate.TREATMENTS`.
    outcome : str
        Count outcome (default ``complaints``).

    Returns
    -------
    EffectResults
        One term, β (the log change in the expected count), named after the treatment; its
        term table gives ``outcome`` and ``treatment``. Covariance clustered by customer.

    Raises
    ------
    NotIdentifiedError
        When the treatment has no variation within pairs or is absorbed by the fixed effects.
    """
    sample = _estimation_sample(data, outcome, treatment)
    _informative(sample, outcome, treatment, poisson=True)
    formula = f"{outcome} ~ treat_{treatment} | {FIXED_EFFECTS}"
    with warnings.catch_warnings():
        # pyfixest warns about observations dropped by separation (pairs that never
        # complain); that is the estimator working as intended, and nobs records it.
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.fepois(formula, data=sample, vcov={"CRV1": "customer_id"}, iwls_tol=1e-10,
                        demeaner=pf.MapDemeaner(fixef_tol=1e-10))
    return _from_pyfixest(fit, f"ppml_{outcome}", "pyfixest.fepois (PPML)", outcome,
                          treatment, sample, formula)


def fit_linear_fe(data: pd.DataFrame, outcome: str = "sentiment_mean",
                  treatment: str = "replied", ssc: dict[str, object] | None = None,
                  wild_bootstrap: bool = True) -> EffectResults:
    """Linear fixed-effects regression of ``outcome`` on the lagged treatment (pyfixest).

    Silent periods have no sentiment and no compliment share, so they drop out; the effect
    is on the voice of customers who speak. ``ssc`` overrides pyfixest's small-sample
    correction (default: fixest's, (N−1)/(N−K)·G/(G−1) with fixed effects nested in the
    clusters not counted in K). With ``wild_bootstrap``, the term table also has
    ``pvalue_wild_bootstrap``: the restricted wild cluster bootstrap p-value (Rademacher
    weights by customer, :func:`~complaintpanel.estimate.inference.wild_cluster_bootstrap`),
    beside the conventional CRV1 p-value.
    """
    sample = _estimation_sample(data, outcome, treatment)
    kept = _informative(sample, outcome, treatment, poisson=False)
    formula = f"{outcome} ~ treat_{treatment} | {FIXED_EFFECTS}"
    with warnings.catch_warnings():
        # singleton fixed effects are dropped (and counted in nobs), as fixest does
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.feols(formula, data=sample, vcov={"CRV1": "customer_id"}, ssc=ssc,
                       demeaner=pf.MapDemeaner(fixef_tol=1e-12))
    boot = _wild_bootstrap(kept, outcome, f"treat_{treatment}") if wild_bootstrap else None
    extra = None if boot is None else {"pvalue_wild_bootstrap": float(boot["pvalue"])}
    result = _from_pyfixest(fit, f"fe_{outcome}", "pyfixest.feols", outcome, treatment,
                            sample, formula, extra)
    if boot is not None:
        result.info["wild_bootstrap"] = {
            "draws": boot["draws"], "weights": boot["weights"], "null": "coefficient = 0",
            "method": "restricted wild cluster bootstrap (WCR) by customer; pair effects "
                      "partialled out, brand × period refitted in every sample"}
    return result


def _wild_bootstrap(kept: pd.DataFrame, outcome: str, column: str) -> dict[str, Any]:
    """WCR p-value: pair effects (nested in customers) partialled out, brand × period refitted."""
    by_pair = kept.groupby("pair_id", sort=False)
    y = (kept[outcome] - by_pair[outcome].transform("mean")).to_numpy(dtype=float)
    x = (kept[column] - by_pair[column].transform("mean")).to_numpy(dtype=float)
    dummies = pd.get_dummies(kept["brand_period"], dtype=float)
    controls = (dummies - dummies.groupby(kept["pair_id"].to_numpy(), sort=False)
                .transform("mean")).to_numpy()
    return wild_cluster_bootstrap(x, y, kept["customer_id"].astype(str).to_numpy(),
                                  controls=controls)


def fit_panelols(data: pd.DataFrame, outcome: str = "sentiment_mean",
                 treatment: str = "replied") -> EffectResults:
    """Fit the same linear model with linearmodels ``PanelOLS`` (an independent implementation).

    Pair effects are the entity effects and brand × period enters as ``other_effects``.
    Clustered standard errors use linearmodels' group correction alone
    (``group_debias``: G/(G−1)·(N−1)/N) without counting the absorbed effects (linearmodels
    would count every one of them, fixest only those not nested in the clusters). pyfixest
    with ``ssc(k_adj=False, G_adj=True)`` applies G/(G−1), so the two variances differ by
    exactly (N−1)/N; tests/test_estimate.py checks this to 1e-6.
    """
    from linearmodels import PanelOLS

    sample = _estimation_sample(data, outcome, treatment)
    # PanelOLS drops singleton-free nothing by itself; pyfixest drops singleton fixed effects,
    # so drop them here too to compare like with like.
    sample = _drop_singletons(sample)
    indexed = sample.set_index(["pair_id", "period"])
    column = f"treat_{treatment}"
    model = PanelOLS(indexed[outcome], indexed[[column]], entity_effects=True,
                     other_effects=indexed[["brand_period"]].astype("category"),
                     check_rank=False, drop_absorbed=False)
    fit = model.fit(cov_type="clustered", clusters=indexed[["customer_id"]].astype("category"),
                    debiased=False, group_debias=True, auto_df=False, count_effects=False)
    n_clusters = int(sample["customer_id"].nunique())
    return EffectResults(
        model=f"fe_{outcome}", estimator="linearmodels.PanelOLS",
        params=pd.Series({treatment: float(fit.params[column])}),
        bse=pd.Series({treatment: float(fit.std_errors[column])}),
        cov=pd.DataFrame([[float(fit.cov.loc[column, column])]], index=[treatment],
                         columns=[treatment]),
        nobs=int(fit.nobs), terms=_term_table(outcome, treatment), n_clusters=n_clusters,
        dof=n_clusters - 1, cov_type="clustered by customer, G/(G-1) correction",
        info={"fixed_effects": "customer–brand pair (entity); brand × period (other)",
              "vcov": "clustered by customer, G/(G-1) correction", "treatment": treatment},
    )


def _drop_singletons(sample: pd.DataFrame) -> pd.DataFrame:
    """Drop observations alone in a fixed-effect group, iteratively (as pyfixest does)."""
    keep = np.ones(len(sample), dtype=bool)
    while True:
        current = sample[keep]
        singles = np.zeros(len(current), dtype=bool)
        for fe in ("pair_id", "brand_period"):
            singles |= current.groupby(fe)[fe].transform("size").to_numpy() == 1
        if not singles.any():
            return current
        keep[np.flatnonzero(keep)[singles]] = False
