"""Reduced-form effects corrected for misclassified voice (DESIGN.md §4.1).

**Why the correction is linear.** Each customer tweet has a true voice ``v`` and a label ``ℓ``
drawn from ``M[v, ·]`` independently of everything else given ``v`` (the assumption of
:mod:`complaintpanel.model.measurement`). Then, cell by cell, the expected observed label
counts are ``E[observed] = Mᵀ E[true]``, and so is any difference of expectations: an effect
on the observed (complaint, compliment, neutral) counts is ``θ_obs = Mᵀ θ_true`` and

    ``θ_true = M⁻ᵀ θ_obs``.

All three observed effects enter every corrected one, so the correction needs them jointly.

**Uncertainty.** Two independent sources: the panel's sampling (the joint covariance ``Σ_obs``
of the three observed effects across leads) and the validation sample's (``Σ_M``, the
delta-method covariance of ``vec(M̂)``, :meth:`ValidationCounts.misclassification_cov`). With
``W = M⁻ᵀ``, ``dθ_true = W dθ_obs − W dMᵀ θ_true``, so

    ``Cov(θ_true) = A Σ_obs Aᵀ + J Σ_M Jᵀ``,  ``A = I ⊗ W``,
    ``∂θ_true[k, i] / ∂M[v, ℓ] = −W[i, ℓ] θ_true[k, v]``.

They are independent to first order because the validation codes are drawn after, and apart
from, the labels the panel is built from (the labels themselves are fixed in both).

*Design-based estimate.* ``Σ_obs`` comes from the stacked AIPW influence functions of the three
outcomes, clustered by customer (:func:`~complaintpanel.estimate.design.answered_vs_unanswered`
run with the three outcomes): the same rows, the same clusters, so their covariance is the
same sandwich as each one's variance. AIPW with a fixed propensity score is linear in the
outcome, so the corrected estimate is also exactly the AIPW estimate of the *corrected
outcome* ``y* = W y`` — a property the tests check.

*Event study.* The event-study estimators (``did2s``, TWFE) are linear in the outcome on a
sample that does not depend on it, so the corrected event study is the event study of the
corrected outcome ``Σ_ℓ W[v, ℓ] y_ℓ`` for each true voice ``v``; its clustered covariance is
the ``A Σ_obs Aᵀ`` part exactly, and the ``Σ_M`` part is added by the delta method above.

**Estimand.** The population is defined by the *classified* labels, as the naive estimate's:
customer-periods whose classified complaint in ``t−1`` the brand answered or left unanswered
(with overlap). The corrected estimate is the effect of answering on the *true* counts of
complaints and compliments in that population; where the classified complaint was in truth
neutral or a compliment, answering it has no effect on the relationship, and this dilution is
part of the estimand (see :func:`complaintpanel.simulate.truth_effects.answer_effects`,
``require_complaint=False``, which computes the truth for the same population).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from complaintpanel.estimate.event_study import event_study
from complaintpanel.model.measurement import VOICES, ValidationCounts, validation_description
from complaintpanel.results import EffectResults, NotIdentifiedError

__all__ = [
    "OUTCOME_OF_VOICE",
    "correct_effects",
    "corrected_design",
    "corrected_event_study",
    "validation_description",
]

# Panel count column of each voice (complaintpanel.model.measurement.VOICES order).
OUTCOME_OF_VOICE: dict[str, str] = {"complaint": "complaints", "compliment": "compliments",
                                    "neutral": "neutral"}
OUTCOMES: tuple[str, ...] = tuple(OUTCOME_OF_VOICE[v] for v in VOICES)


def correct_effects(observed: np.ndarray, cov_observed: np.ndarray, m: np.ndarray,
                    cov_m: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Map effects on observed label counts to effects on true voice counts.

    Parameters
    ----------
    observed : ndarray, shape (K, V)
        ``θ_obs[k, ℓ]``: the effect on the counts labelled ℓ, for K leads / event times.
    cov_observed : ndarray, shape (K·V, K·V)
        Joint covariance of ``observed.ravel()`` (index ``k·V + ℓ``).
    m : ndarray, shape (V, V)
        ``M[v, ℓ] = P(label ℓ | true v)``.
    cov_m : ndarray, shape (V·V, V·V), optional
        Covariance of ``m.ravel()``; ``None`` treats M as known.

    Returns
    -------
    true : ndarray, shape (K, V)
        ``θ_true[k] = M⁻ᵀ θ_obs[k]``.
    cov_true : ndarray, shape (K·V, K·V)
        ``A Σ_obs Aᵀ + J Σ_M Jᵀ`` (see the module docstring).
    """
    observed = np.atleast_2d(np.asarray(observed, dtype=float))
    n_terms, n_voices = observed.shape
    weights = np.linalg.inv(np.asarray(m, dtype=float)).T  # W = M⁻ᵀ
    true = observed @ weights.T  # row k: W θ_obs[k]
    a = np.kron(np.eye(n_terms), weights)
    cov_true = a @ np.asarray(cov_observed, dtype=float) @ a.T
    if cov_m is not None:
        jac = np.vstack([_m_jacobian(true, weights, i)[k]
                         for k in range(n_terms) for i in range(n_voices)])
        cov_true = cov_true + jac @ np.asarray(cov_m, dtype=float) @ jac.T
    return true, cov_true


def _terms_by_voice(naive: EffectResults, key: str) -> tuple[list[Any], list[list[str]]]:
    """Group the naive terms into (key value, [term name of each voice in VOICES order])."""
    table = naive.terms
    table = table[~table["fixed"]]
    groups, names = [], []
    for value, rows in table.groupby(key, sort=True):
        by_outcome = dict(zip(rows["outcome"], rows.index, strict=True))
        if all(outcome in by_outcome for outcome in OUTCOMES):
            groups.append(value)
            names.append([by_outcome[outcome] for outcome in OUTCOMES])
    if not groups:
        raise NotIdentifiedError("the correction needs the effects on complaints, compliments "
                                 f"and neutral tweets at the same {key}: none has all three")
    return groups, names


def corrected_design(naive: EffectResults, validation: ValidationCounts,
                     with_m_uncertainty: bool = True) -> EffectResults:
    """Correct the design-based estimate (answered vs unanswered) for misclassified voice.

    Parameters
    ----------
    naive : EffectResults
        :func:`~complaintpanel.estimate.design.answered_vs_unanswered` with outcomes
        ``("complaints", "compliments", "neutral")``: effects on the *observed* label counts,
        with their joint covariance.
    validation : ValidationCounts
        The coded validation sample.
    with_m_uncertainty : bool
        Add M's sampling uncertainty (default; ``False`` treats M̂ as known, for comparison).

    Returns
    -------
    EffectResults
        Model ``answered_vs_unanswered_corrected``: one term per true voice (``outcome`` =
        ``complaints``, ``compliments``, ``neutral``: the true counts) and lead, named like the
        naive ones, with the full covariance; ``info["validation"]`` describes the sample.
    """
    leads, names = _terms_by_voice(naive, "lead")
    flat = [name for group in names for name in group]
    observed = naive.params.loc[flat].to_numpy().reshape(len(leads), len(VOICES))
    cov_observed = naive.cov_params().loc[flat, flat].to_numpy()
    m, _ = validation.misclassification()
    cov_m = validation.misclassification_cov()[0] if with_m_uncertainty else None
    true, cov_true = correct_effects(observed, cov_observed, m, cov_m)
    # Report in the naive estimate's term order (outcome by outcome, lead by lead).
    order = [name for name in naive.params.index if name in set(flat)]
    at = [flat.index(name) for name in order]
    true_values, cov_true, flat = true.ravel()[at], cov_true[np.ix_(at, at)], order
    # The naive terms' regression-adjustment column is an uncorrected estimate: not carried over.
    terms = naive.terms.loc[flat].drop(columns=["regression_adjustment"], errors="ignore")
    terms["labels"] = "true voice (corrected)"
    info = dict(naive.info)
    info.update({
        "correction": "effects on true counts = M⁻ᵀ × effects on classified counts",
        "naive_model": naive.model,
        "estimand": "average effect of answering on the TRUE complaint/compliment/neutral "
                    "counts, among customer-periods with a CLASSIFIED complaint in t−1 and "
                    "overlap",
        "validation": validation_description(validation),
        "m_uncertainty": with_m_uncertainty,
    })
    return EffectResults(
        model="answered_vs_unanswered_corrected", estimator=f"{naive.estimator}, corrected by "
        "the misclassification matrix of a validation sample",
        params=pd.Series(true_values, index=flat),
        bse=pd.Series(np.sqrt(np.diag(cov_true)), index=flat),
        cov=pd.DataFrame(cov_true, index=flat, columns=flat), nobs=naive.nobs, terms=terms,
        n_clusters=naive.n_clusters, dof=naive.dof,
        cov_type=f"{naive.cov_type}; + delta method for M"
        if with_m_uncertainty else naive.cov_type, info=info)


def _m_jacobian(true: np.ndarray, weights: np.ndarray, voice: int) -> np.ndarray:
    """Rows ``∂θ_true[k, voice] / ∂vec(M)`` for every term k, shape (K, V·V).

    With ``θ_true = W θ_obs`` and ``W = M⁻ᵀ``: ``∂θ_true[k, i] / ∂M[v, ℓ] = −W[i, ℓ]
    θ_true[k, v]`` (column ``v·V + ℓ``, ``vec(M)`` row by row).
    """
    return np.stack([-np.outer(row, weights[voice]).ravel() for row in true])


def corrected_outcomes(data: pd.DataFrame, m: np.ndarray) -> pd.DataFrame:
    """Add ``true_complaints``, ``true_compliments``, ``true_neutral``: ``W y`` per row.

    Their expectation, given the labels' independence from everything but the true voice, is
    the expectation of the true counts; single rows can be negative.
    """
    weights = np.linalg.inv(np.asarray(m, dtype=float)).T
    observed = data[list(OUTCOMES)].to_numpy(dtype=float)
    corrected = observed @ weights.T
    out = data.copy()
    for i, outcome in enumerate(OUTCOMES):
        out[f"true_{outcome}"] = corrected[:, i]
    return out


def corrected_event_study(data: pd.DataFrame, validation: ValidationCounts,
                          outcomes: tuple[str, ...] = ("complaints", "compliments"),
                          window: int = 4, estimators: tuple[str, ...] = ("did2s",),
                          with_m_uncertainty: bool = True) -> dict[str, dict[str, EffectResults]]:
    """Event studies of the true counts around the first reply, corrected through ``M``.

    Parameters
    ----------
    data : DataFrame
        The panel with model columns.
    validation : ValidationCounts
    outcomes : tuple of str
        True counts to report (of ``complaints``, ``compliments``, ``neutral``); all three are
        estimated, since each enters the others' uncertainty.
    window : int
    estimators : tuple of str
        Event-study estimators (keys of
        :data:`~complaintpanel.estimate.event_study.EVENT_STUDY_ESTIMATORS`).
    with_m_uncertainty : bool

    Returns
    -------
    dict
        ``{outcome: {estimator: EffectResults}}``, model ``event_study_true_<outcome>``.
    """
    m, _ = validation.misclassification()
    cov_m = validation.misclassification_cov()[0] if with_m_uncertainty else None
    weights = np.linalg.inv(m).T
    extended = corrected_outcomes(data, m)
    fits = {outcome: event_study(extended, f"true_{outcome}", window, estimators)
            for outcome in OUTCOMES}
    out: dict[str, dict[str, EffectResults]] = {outcome: {} for outcome in outcomes}
    for estimator in estimators:
        common = [name for name in fits[OUTCOMES[0]][estimator].params.index
                  if all(name in fits[o][estimator].params.index for o in OUTCOMES)]
        true = np.column_stack([fits[o][estimator].params.loc[common].to_numpy()
                                for o in OUTCOMES])  # (K, V)
        for i, outcome in enumerate(OUTCOMES):
            if outcome not in outcomes:
                continue
            fit = fits[outcome][estimator]
            cov = fit.cov_params().loc[common, common].to_numpy()
            if cov_m is not None:
                jac = _m_jacobian(true, weights, i)
                cov = cov + jac @ cov_m @ jac.T
            terms = fit.terms
            terms = terms[terms.index.isin(common) | terms["fixed"]]
            info = dict(fit.info)
            info.update({"correction": "event study of the corrected outcome Σ_ℓ M⁻ᵀ[v, ℓ] "
                                       "× count labelled ℓ; + delta method for M",
                         "m_uncertainty": with_m_uncertainty})
            out[outcome][estimator] = EffectResults(
                model=f"event_study_true_{outcome}", estimator=f"{fit.estimator}, corrected",
                params=fit.params.loc[common], bse=pd.Series(np.sqrt(np.diag(cov)), index=common),
                cov=pd.DataFrame(cov, index=common, columns=common), nobs=fit.nobs,
                terms=terms, n_clusters=fit.n_clusters, dof=fit.dof,
                cov_type=f"{fit.cov_type}" + ("; + delta method for M" if cov_m is not None
                                              else ""), info=info)
    return out
