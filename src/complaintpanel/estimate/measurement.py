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

**The true voice of the answered week (a confounder M⁻ᵀ cannot remove).** The population and
the treatment are classified: among the weeks with a classified complaint, some held no true
complaint, answering them changes nothing, and their customers complain less the next week.
Brands answer true complaints more often than misread neutral tweets and compliments, so the
answered weeks hold more true complaints: the comparison is confounded by
``TC = 1{week t−1 holds a true complaint}``, a pre-treatment variable. What is observed of the
week gives its conditional expectation,

    ``ĉ = E[TC | counts of week t−1 by label ℓ and answered status a]
        = 1 − Π_{ℓ, a} (1 − w[ℓ, a])^{N[ℓ, a]}``,

with ``w[ℓ, a] = P(true complaint | label ℓ, answered a)`` estimated from the validation sample
(:meth:`~complaintpanel.label.validation.CodedTweets.complaint_probability`) and the tweets of a
week taken as independent given label and answered status
(:func:`true_complaint_probability`). AIPW is a linear combination of the outcomes with
weights that depend only on the observed controls and treatment, so its expectation on
``b·TC`` is its expectation on ``b·ĉ`` (iterated expectations): if
``E[y | d, X, TC] = a_d(X) + b TC``, the AIPW of ``y − b ĉ`` is unbiased for the effect adjusted
for TC. ``b`` is estimated from the coded tweets linked to their customer-period: with
``c̃ = E[TC | counts, the coded tweet's true voice]``, the innovation ``u = c̃ − ĉ`` has mean
zero given everything observed of the week, so ``b̂ = Σ (y − ȳ_arm) u / Σ u²``
(:func:`_calibration_slopes`). The M⁻ᵀ correction of the outcomes then applies as above
(:func:`corrected_design_voice_control`). Its uncertainty from the validation sample — ŵ, b̂
and M̂ come from the same codes and so are dependent — is a bootstrap over the validation
sample's strata (each replicate recomputes ŵ, ĉ, b̂, the AIPW of the adjusted outcomes and
M̂; the propensity score and the rows are kept), added to the panel's clustered covariance
(the two samples are independent). Assumptions: the true voices of a week's tweets are
independent given labels and answered status (customers in a bad spell send several
complaints, so this is an approximation), TC shifts the outcome by the same ``b`` in both arms,
and a coded tweet's voice moves the outcome only through TC.

Putting ĉ into the AIPW *outcome models* instead (``method="outcome_control"``, as first
proposed) is right in the population but fails in practice: within an arm ĉ varies only with
the counts of the other labels, which move ĉ little and the outcome much, so its coefficient
is identified by the wrong variation. ĉ cannot enter the propensity score either: it uses the
answered status, a function of the treatment, and would separate the arms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from complaintpanel.estimate.design import OVERLAP, answered_vs_unanswered
from complaintpanel.estimate.event_study import event_study
from complaintpanel.model.measurement import VOICES, ValidationCounts, validation_description
from complaintpanel.results import EffectResults, NotIdentifiedError

if TYPE_CHECKING:
    from complaintpanel.label.validation import CodedTweets

__all__ = [
    "CONTROL_COLUMN",
    "LABEL_ANSWERED_COUNTS",
    "OUTCOME_OF_VOICE",
    "correct_effects",
    "corrected_design",
    "corrected_design_voice_control",
    "corrected_event_study",
    "true_complaint_probability",
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


# Panel counts of each (label, answered status): labels in VOICES order on rows, unanswered and
# answered on columns ("a - b" is the difference of two panel columns).
LABEL_ANSWERED_COUNTS: tuple[tuple[str, str], ...] = (
    ("unanswered_complaints", "answered_complaints"),
    ("compliments - answered_compliments", "answered_compliments"),
    ("neutral - answered_neutral", "answered_neutral"),
)
CONTROL_COLUMN = "true_complaint_hat"


def _panel_count(data: pd.DataFrame, expression: str) -> np.ndarray:
    if " - " in expression:
        left, right = expression.split(" - ")
        return data[left].to_numpy(dtype=float) - data[right].to_numpy(dtype=float)
    return data[expression].to_numpy(dtype=float)


def true_complaint_probability(data: pd.DataFrame, w: np.ndarray) -> pd.Series:
    """``ĉ``: the probability that a customer-period holds at least one true complaint.

    Parameters
    ----------
    data : DataFrame
        Panel rows with the counts by label and answered status
        (:data:`LABEL_ANSWERED_COUNTS`).
    w : ndarray, shape (V, 2)
        ``w[ℓ, a] = P(true complaint | label ℓ, answered a)`` (VOICES order; unanswered,
        answered).

    Returns
    -------
    Series
        ``1 − Π_{ℓ, a} (1 − w[ℓ, a])^{N[ℓ, a]}`` per row (the tweets of a period independent
        given label and answered status); 0 for a period without tweets.
    """
    w = np.asarray(w, dtype=float)
    log_none = np.zeros(len(data))
    for ell, columns in enumerate(LABEL_ANSWERED_COUNTS):
        for a, expression in enumerate(columns):
            count = _panel_count(data, expression)
            if np.any(count < 0):
                raise ValueError(f"negative count {expression}: answered tweets of a label "
                                 "exceed its tweets")
            with np.errstate(divide="ignore"):
                log_miss = np.log1p(-w[ell, a])
            log_none += np.multiply(count, log_miss, out=np.zeros_like(log_none),
                                    where=count > 0)
    return pd.Series(-np.expm1(log_none), index=data.index, name=CONTROL_COLUMN)


VOICE_CONTROL_METHODS: tuple[str, ...] = ("bias_correction", "outcome_control", "none")


def link_coded_tweets(tweets: pd.DataFrame, data: pd.DataFrame) -> np.ndarray:
    """Position in ``data`` of each coded tweet's customer-period (−1 where not in the panel).

    A tweet belongs to the row of its customer and brand whose period started last at or
    before the tweet (``period_start``).
    """
    missing = [c for c in ("customer_id", "brand", "created_at") if c not in tweets]
    if missing:
        raise ValueError(f"the coded tweets lack {missing}: build them with coded_tweets() "
                         "from a voiced table that has them")
    starts = np.sort(pd.unique(data["period_start"]))
    created = pd.to_datetime(tweets["created_at"], utc=True).to_numpy()
    at = np.searchsorted(pd.to_datetime(starts, utc=True).to_numpy(), created, side="right") - 1
    start_of = pd.Series(pd.to_datetime(starts, utc=True)[np.clip(at, 0, None)]).where(at >= 0)
    keys = pd.DataFrame({"customer_id": tweets["customer_id"].astype(str).to_numpy(),
                         "brand": tweets["brand"].astype(str).to_numpy(),
                         "period_start": start_of.to_numpy()})
    rows = pd.DataFrame({"customer_id": data["customer_id"].astype(str).to_numpy(),
                         "brand": data["brand"].astype(str).to_numpy(),
                         "period_start": pd.to_datetime(data["period_start"], utc=True)
                         .to_numpy(),
                         "position": np.arange(len(data))})
    keys["period_start"] = pd.to_datetime(keys["period_start"], utc=True)
    rows["period_start"] = pd.to_datetime(rows["period_start"], utc=True)
    merged = keys.merge(rows, on=["customer_id", "brand", "period_start"], how="left")
    return merged["position"].fillna(-1).to_numpy(dtype=np.int64)


def _coded_innovation(tweets: pd.DataFrame, data: pd.DataFrame, w: np.ndarray,
                      c_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and ``c̃ − ĉ`` of the coded tweets that sit in a customer-period with a complaint.

    ``c̃ = E[TC | counts, this tweet's true voice]``: 1 for a true complaint, else the chance
    that one of the week's other tweets is one, ``1 − (1 − ĉ) / (1 − w[ℓ, a])``.
    """
    rows = tweets["row"].to_numpy(dtype=np.int64)
    inside = rows >= 0
    inside[inside] = data["complaints"].to_numpy()[rows[inside]] > 0
    tweets, rows = tweets[inside], rows[inside]
    index = {voice: i for i, voice in enumerate(VOICES)}
    own = w[tweets["predicted"].map(index).to_numpy(), tweets["answered"].to_numpy(dtype=int)]
    c_row = c_hat[rows]
    none_others = np.divide(1 - c_row, 1 - own, out=np.zeros_like(c_row), where=own < 1)
    c_tilde = np.where(tweets["voice"].to_numpy() == VOICES[0], 1.0,
                       1 - np.clip(none_others, 0, 1))
    return rows, c_tilde - c_row


def _led_outcomes(data: pd.DataFrame, horizon: int) -> dict[tuple[str, int], np.ndarray]:
    """Each outcome ``lead + 1`` periods after each row of ``data`` (NaN where absent)."""
    lookup = data.set_index(["pair_id", "period"])
    out = {}
    for lead in range(horizon + 1):
        key = pd.MultiIndex.from_arrays([data["pair_id"], data["period"] + 1 + lead])
        for outcome in OUTCOMES:
            out[(outcome, lead)] = lookup[outcome].reindex(key).to_numpy(dtype=float)
    return out


def _calibration_slopes(data: pd.DataFrame, rows: np.ndarray, innovation: np.ndarray,
                        led: dict[tuple[str, int], np.ndarray]) -> dict[tuple[str, int], float]:
    """``b̂`` of each outcome and lead: ``Σ (y − ȳ_d) u / Σ u²`` over the coded tweets.

    ``u = c̃ − ĉ`` has mean zero given everything observed of the week (its label and answered
    counts, the treatment), so ``E[y | obs, code] − E[y | obs] = b u`` when the true voice of
    the coded tweet moves the outcome only through TC; centring ``y`` within the arm (a
    function of the observed) only removes noise.
    """
    treated = (data["answered_complaints"].to_numpy()[rows] > 0)
    slopes = {}
    for outcome in OUTCOMES:
        for lead in range(len(led) // len(OUTCOMES)):
            y = led[(outcome, lead)][rows]
            ok = ~np.isnan(y)
            centred = y.copy()
            for arm in (False, True):
                group = ok & (treated == arm)
                if group.any():
                    centred[group] -= y[group].mean()
            denominator = float(np.sum(innovation[ok] ** 2))
            if denominator <= 0:
                raise NotIdentifiedError("no coded tweet in a customer-period with a complaint "
                                         "is informative about its true voice: b cannot be "
                                         "estimated")
            slopes[(outcome, lead)] = float(np.sum(centred[ok] * innovation[ok]) / denominator)
    return slopes


def _adjustments(data: pd.DataFrame, coded: CodedTweets,
                 led: dict[tuple[str, int], np.ndarray]
                 ) -> tuple[dict[tuple[str, int], pd.Series], dict[tuple[str, int], float],
                            np.ndarray]:
    """``b̂ · ĉ`` per outcome and lead, the slopes ``b̂``, and (coded tweets used, Σ u²)."""
    w, _ = coded.complaint_probability()
    c_hat = true_complaint_probability(data, w)
    rows, innovation = _coded_innovation(coded.tweets, data, w, c_hat.to_numpy())
    slopes = _calibration_slopes(data, rows, innovation, led)
    return ({key: slope * c_hat for key, slope in slopes.items()}, slopes,
            np.array([rows.size, float(np.sum(innovation**2))]))


def corrected_design_voice_control(
        data: pd.DataFrame, coded: CodedTweets, horizon: int = 4,
        overlap: tuple[float, float] = OVERLAP, replicates: int = 50, seed: int = 0,
        method: str = "bias_correction") -> EffectResults:
    """Estimate the corrected design-based effect, adjusted for the true voice of week ``t−1``.

    Parameters
    ----------
    data : DataFrame
        The panel with model columns and the counts by label and answered status.
    coded : CodedTweets
        The coded validation sample with each tweet's answered status and place in the panel
        (:func:`~complaintpanel.label.validation.coded_tweets`).
    horizon : int
    overlap : tuple of float
    replicates : int
        Bootstrap replicates of the validation sample (its uncertainty about ŵ, b̂ and M̂).
    seed : int
        Seed of the bootstrap.
    method : {"bias_correction", "outcome_control", "none"}
        ``bias_correction`` (default): the AIPW of ``y − b̂ ĉ``, with ``b̂`` the effect of TC
        on the outcome estimated from the coded tweets (:func:`_calibration_slopes`).
        ``outcome_control``: ĉ as a control of the outcome models (regression calibration
        as first proposed; its coefficient is identified only from the other labels' counts
        within an arm — see docs/measurement.md — and it is kept for the record).
        ``none``: no adjustment (equals :func:`corrected_design` up to the uncertainty
        method: bootstrap here, delta method there).

    Returns
    -------
    EffectResults
        Effects on the true counts (outcome ``complaints``, ``compliments``, ``neutral``) by
        lead; covariance = the panel's clustered covariance mapped by M⁻ᵀ + the bootstrap
        covariance over the validation sample. ``info`` records ŵ, b̂ and the method.
    """
    if method not in VOICE_CONTROL_METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {VOICE_CONTROL_METHODS}")
    from complaintpanel.label.validation import CodedTweets

    w, w_se = coded.complaint_probability()
    counts = coded.validation_counts()
    if method == "bias_correction":
        coded = CodedTweets(coded.tweets.assign(row=link_coded_tweets(coded.tweets, data)),
                            coded.stratum_population, coded.cell_population)
    rng = np.random.default_rng(seed)
    draws = [coded.resample(rng) for _ in range(replicates)]
    options: dict[str, Any] = {}
    extra_info: dict[str, Any] = {}
    if method == "outcome_control":
        options["outcome_controls"] = true_complaint_probability(data, w).to_frame()
        options["control_replicates"] = [true_complaint_probability(
            data, d.complaint_probability()[0]).to_frame() for d in draws]
    elif method == "bias_correction":
        led = _led_outcomes(data, horizon)
        adjustments, slopes, (n_linked, information) = _adjustments(data, coded, led)
        options["outcome_adjustments"] = adjustments
        options["adjustment_replicates"] = [_adjustments(data, d, led)[0] for d in draws]
        extra_info = {"b_hat": {outcome: [round(slopes[(outcome, lead)], 6)
                                          for lead in range(horizon + 1)]
                                for outcome in OUTCOMES},
                      "b_hat_layout": "outcome (classified counts) → one slope per lead",
                      "coded_tweets_in_complaint_periods": int(n_linked),
                      "calibration_information": round(float(information), 4)}
    naive = answered_vs_unanswered(data, outcomes=OUTCOMES, horizon=horizon, overlap=overlap,
                                   **options)
    point = corrected_design(naive, counts, with_m_uncertainty=False)
    names = list(point.params.index)
    observed_names = list(naive.params.index)
    leads, by_voice = _terms_by_voice(naive, "lead")
    flat = [name for group in by_voice for name in group]
    at = [flat.index(name) for name in names]
    if method == "none":  # the observed effects do not move with the validation sample
        replicate_obs = np.tile(naive.params.to_numpy(), (replicates, 1))
    else:
        replicate_obs = naive.replicates  # type: ignore[attr-defined]
    true_draws = np.empty((replicates, len(names)))
    for b, sample in enumerate(draws):
        m_b, _ = sample.validation_counts().misclassification()
        observed_b = pd.Series(replicate_obs[b], index=observed_names).loc[flat].to_numpy()
        true_b = observed_b.reshape(len(leads), len(VOICES)) @ np.linalg.inv(m_b)
        true_draws[b] = true_b.ravel()[at]
    cov = point.cov_params().to_numpy()
    if replicates > 1:
        cov = cov + np.cov(true_draws, rowvar=False, ddof=1)
    described = {
        "bias_correction": "AIPW of y − b̂·ĉ: ĉ = P(≥1 true complaint in t−1 | counts by label "
                           "× answered), b̂ = effect of a true complaint in t−1 on y, from the "
                           "coded tweets",
        "outcome_control": "ĉ = P(≥1 true complaint in t−1 | counts by label × answered) in "
                           "the outcome models",
        "none": "none"}
    info = dict(point.info)
    info.update({
        "naive_model": "answered_vs_unanswered" + ("" if method == "none" else
                                                   f" ({method.replace('_', ' ')})"),
        "true_voice_adjustment": described[method], "method": method,
        "w_hat": np.round(w, 6).tolist(), "w_se": np.round(w_se, 6).tolist(),
        "w_layout": "rows: labels complaint, compliment, neutral; columns: unanswered, answered",
        "validation_uncertainty": f"bootstrap over the validation sample's strata, "
                                  f"{replicates} replicates (ŵ, b̂ and M̂ jointly)",
        "validation_strata": coded.strata, "m_uncertainty": replicates > 1, **extra_info,
    })
    model = {"bias_correction": "answered_vs_unanswered_corrected_voice_adjusted",
             "outcome_control": "answered_vs_unanswered_corrected_voice_control",
             "none": "answered_vs_unanswered_corrected_bootstrap"}[method]
    return EffectResults(
        model=model, estimator=f"{naive.estimator}"
        + ("" if method == "none" else f" + true-voice {method.replace('_', ' ')}")
        + ", corrected by the misclassification matrix of a validation sample",
        params=point.params, bse=pd.Series(np.sqrt(np.diag(cov)), index=names),
        cov=pd.DataFrame(cov, index=names, columns=names), nobs=point.nobs, terms=point.terms,
        n_clusters=point.n_clusters, dof=point.dof,
        cov_type=f"{naive.cov_type}; + bootstrap of the validation sample", info=info)
