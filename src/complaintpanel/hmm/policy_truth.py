"""The true value of the policy estimates on a simulated world (DESIGN.md §4, issue 18).

**The estimand.** :func:`~complaintpanel.hmm.policy.simulate_policies` defines each policy
outcome as a function of the model's parameters, the panel and the settings: the observed
customers start from their end states *filtered on their data* under the parameters, with the
redress, covariates and per-brand answer rates the panel records, and a cohort of new customers
of the same brands starts from π. Its true value is the same function at the world's true
parameters — the same arms, contrasts, metrics, horizons, budget, objective and populations,
on the same panel — with no parameter draws (the parameters are known) and many paths. That
is what ``benchmarks/bench_policy.py`` compares the estimate's intervals with.

**The true parameters in the fitted layout** (:func:`truth_results`). The fitted model may carry
more than the simulator's core parameters (a misclassification-corrected fit has the neutral
emission, the confusion ``M`` and the reply process's answer probabilities), so the truth is put
into the fitted specification slot by slot:

* the core blocks (complaint and compliment rates, neutral rates, γ, δ, η, thresholds, π)
  from ``truth/params.json``'s ``model``, covariates matched by name (κ, δ_fast and any other
  coefficient the world lacks are zero);
* where the fit estimates ``M``: the world's true confusion ``M[v, ℓ] = P(label ℓ | true v)``
  over every customer tweet (the classifier's labels against ``truth/voice.parquet``), held
  fixed (``ModelSpec.fixed_misclassification``) instead of the fit's q-logits;
* where the fit has the reply process: the world's answer probabilities ``p[v, brand]``
  (the brand's reply probability for complaints, times ``reply_factor_compliment`` /
  ``reply_factor_neutral`` for the other voices); with the reply model (ρ, ψ), ρ = logit of
  the brand's reply probability and ψ = 0;
* where the fit has random intercepts: σ = the world's ``complaint_re_sd``; where it has
  correlated complaint and compliment intercepts, the Cholesky factor ``(l11, l21, l22)`` of
  the world's ``complaint_re_sd``, ``compliment_re_sd`` and ``re_corr`` (the simulator draws
  ``b = L z`` the same way, :func:`complaintpanel.simulate.world.customer_effects`);
* the redress decay ρ of the world's stock when the fit has a stock.

The observed customers' end states are therefore filtered under the truth, measurement
included. When the truth lies outside the fitted family (the world's customers differ but the
fit is homogeneous, a compliment effect against a complaint-only intercept, latent classes,
endogenous replies under the reply process or reply model, a decaying stock against a binary
fit, sentiment) no truth is computed and
:class:`TruthNotInModel` says why. A naive fit (labels taken as the true voice) is mapped too:
its "truth" is the naive procedure at the true parameters, which is not the policy's effect
when labels err.

**Its own noise.** The truth is the mean of ``runs`` independent simulations of
``paths // runs`` paths each (seeds ``seed + 10**6 + r``, independent of the estimate's), so
each value comes with a Monte Carlo standard error (the spread of the runs' values / √runs).
A bound that needs no runs: the estimate's standard error holds at least the simulation
error of its ``n_paths`` paths, so the truth's sd is at most ``√(n_paths / truth_paths)``
times the estimate's se (0.20 for 2 against 48 paths), and a 95% interval judged against the
noisy truth still covers an exact truth with probability at least
``P(|Z| ≤ 1.96 / √(1 + r²))`` (0.945).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit
from scipy.stats import norm

from complaintpanel.hmm.policy import simulate_policies
from complaintpanel.hmm.results import RelationshipHMMResults, StartReport
from complaintpanel.model import ModelParams
from complaintpanel.model.measurement import VOICES

__all__ = ["TRUTH_PATHS", "TRUTH_RUNS", "TruthNotInModel", "policy_truth",
           "true_misclassification", "true_reply_probabilities", "truth_noise_bound",
           "truth_results"]

TRUTH_PATHS = 48  # paths of the truth in all (as benchmarks/bench_policy.py)
TRUTH_RUNS = 4  # independent runs they are split into (for the truth's own Monte Carlo se)
TRUTH_SEED_OFFSET = 10**6  # the truth's seeds: seed + 10**6 + run (as the benchmark's)


class TruthNotInModel(ValueError):
    """The simulated world's truth cannot be written in the fitted model's layout."""


def true_misclassification(voice_true: pd.Series | np.ndarray,
                           voice_label: pd.Series | np.ndarray) -> np.ndarray:
    """Return the world's confusion ``M[v, ℓ] = P(label ℓ | true v)`` over the given tweets.

    Parameters
    ----------
    voice_true, voice_label : array-like of str
        True voice and classifier label of the same tweets (values among :data:`VOICES`).

    Returns
    -------
    ndarray, shape (3, 3)
        Rows: true voice, columns: label, in the order of :data:`VOICES`; rows sum to one.
    """
    index = {v: i for i, v in enumerate(VOICES)}
    true = pd.Series(np.asarray(voice_true)).map(index)
    label = pd.Series(np.asarray(voice_label)).map(index)
    if true.isna().any() or label.isna().any():
        raise ValueError(f"voices must be among {VOICES}")
    counts = np.zeros((len(VOICES), len(VOICES)))
    np.add.at(counts, (true.to_numpy(int), label.to_numpy(int)), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    if np.any(totals == 0):
        raise ValueError("every true voice needs at least one tweet to define its row of M")
    return counts / totals


def true_reply_probabilities(truth: Mapping[str, Any], brands: tuple[str, ...]) -> np.ndarray:
    """Return the world's probability that a tweet of true voice v at brand b is answered.

    Parameters
    ----------
    truth : mapping
        ``truth/params.json``: ``brands`` (``handle``, ``reply_prob``) and ``behaviour``
        (``reply_factor_compliment``, ``reply_factor_neutral``, ``endogenous_logit_shift``).
    brands : tuple of str
        The fitted model's brands (``ModelSpec.brands``), in its order.

    Returns
    -------
    ndarray, shape (3, B)
        Rows in the order of :data:`VOICES`.
    """
    behaviour = truth.get("behaviour", {})
    if float(behaviour.get("endogenous_logit_shift", 0.0)) != 0.0 or (
            truth.get("world", {}).get("endogenous_replies")):
        raise TruthNotInModel("the world's replies depend on the state (endogenous replies), "
                              "the fitted reply process's do not")
    prob = {b["handle"]: float(b["reply_prob"]) for b in truth["brands"]}
    missing = [b for b in brands if b not in prob]
    if missing:
        raise TruthNotInModel(f"the fitted brands {missing} are not the world's "
                              f"({sorted(prob)})")
    factor = {"complaint": 1.0,
              "compliment": float(behaviour["reply_factor_compliment"]),
              "neutral": float(behaviour["reply_factor_neutral"])}
    return np.array([[prob[b] * factor[v] for b in brands] for v in VOICES])


def truth_results(fitted: RelationshipHMMResults, truth: Mapping[str, Any], *,
                  misclassification: np.ndarray | None = None) -> RelationshipHMMResults:
    """Write the world's true parameters in the fitted model's layout.

    Parameters
    ----------
    fitted : RelationshipHMMResults
        The fit whose policies are to be judged (its specification decides the layout).
    truth : mapping
        ``truth/params.json`` of the simulated world.
    misclassification : ndarray of shape (3, 3), optional
        The world's true confusion (:func:`true_misclassification`); needed when the fit
        corrects for misclassification.

    Returns
    -------
    RelationshipHMMResults
        Estimate = the truth, no uncertainty (a zero covariance); its specification is the
        fitted one with ``M`` fixed at the true confusion instead of estimated.

    Raises
    ------
    TruthNotInModel
        When the truth lies outside the fitted family (see the module's docstring).
    """
    spec = fitted.spec
    world = truth.get("world", {})
    hetero = truth.get("heterogeneity", {})
    true_params = ModelParams.from_dict(truth["model"])
    if spec.sentiment:
        raise TruthNotInModel("the world has no sentiment emission to map")
    if hetero.get("delta_classes") or world.get("delta_classes"):
        raise TruthNotInModel("the world's customers belong to δ classes; the policy truth "
                              "is not computed for them")
    info = fitted.extra.get("heterogeneity") or {}
    kind = info.get("kind")
    complaint_sd = float(hetero.get("complaint_re_sd", world.get("complaint_re_sd", 0.0)))
    compliment_sd = float(hetero.get("compliment_re_sd", world.get("compliment_re_sd", 0.0)))
    if kind == "classes":
        raise TruthNotInModel("the fit has latent classes; the world has none to map")
    bivariate = (kind == "random_intercepts"
                 and tuple(info.get("effects", ["complaint"])) == ("complaint", "compliment"))
    if compliment_sd and not bivariate:
        raise TruthNotInModel("the world has a compliment random effect but the fit no "
                              "compliment intercept: the truth is outside the fitted model")
    if complaint_sd and kind != "random_intercepts":
        raise TruthNotInModel("the world's customers differ (a complaint random effect) but "
                              "the fit is homogeneous: the truth is outside the fitted model")
    redress = truth.get("redress", {})
    decay = redress.get("decay") if redress.get("kind") == "stock" else None
    if (decay is None) != (spec.redress_decay is None):
        raise TruthNotInModel(f"the world's redress is {redress.get('kind', 'binary')}, the "
                              f"fit's {'binary' if spec.redress_decay is None else 'a stock'}")
    target = dataclasses.replace(
        spec, validation_counts=None, validation_population=None,
        redress_decay=None if decay is None else float(decay),
        fixed_misclassification=None)
    if spec.misclassified:
        if misclassification is None:
            raise ValueError("the fit corrects for misclassification: give the world's true "
                             "confusion (true_misclassification)")
        m = np.asarray(misclassification, dtype=float)
        if m.shape != (len(VOICES), len(VOICES)) or not np.allclose(m.sum(axis=1), 1.0):
            raise ValueError("the true confusion must be 3 × 3 with rows summing to one")
        target = dataclasses.replace(target,
                                     fixed_misclassification=tuple(map(tuple, m.tolist())))
    core = true_params.with_spec(dataclasses.replace(
        true_params.spec, redress_decay=target.redress_decay))
    if spec.neutral and core.neutral is None:
        raise TruthNotInModel("the fit has the neutral emission; the world's truth has no "
                              "neutral rates")
    reply_probs = None
    if spec.reply_model or spec.reply_process:
        reply_probs = true_reply_probabilities(truth, spec.brands)
    if spec.reply_model:  # ρ_brand = logit of the complaint reply probability, ψ = 0
        assert reply_probs is not None
        k = core.n_states
        core = dataclasses.replace(core, spec=dataclasses.replace(
            core.spec, reply_model=True, brands=spec.brands),
            reply_brand=logit(reply_probs[0]), reply_state=np.zeros(k - 1))
    try:
        mapped = core.with_spec(target)
    except ValueError as error:  # a non-zero true coefficient the fit leaves out
        raise TruthNotInModel(str(error)) from None
    from complaintpanel.hmm.parametrisation import ParamLayout

    layout = ParamLayout(target)
    theta = layout.from_natural(mapped)
    if spec.reply_process:
        assert reply_probs is not None
        theta[layout.slices["reply_logits"]] = logit(reply_probs).ravel()
    extra: dict[str, Any] = {}
    if bivariate:  # the world's b = L z: (l11, l21, l22) of its Σ (simulate.customer_effects)
        corr = float(hetero.get("re_corr", world.get("re_corr", 0.0)))
        theta = np.concatenate([theta, [complaint_sd, corr * compliment_sd,
                                        np.sqrt(1 - corr**2) * compliment_sd]])
        extra["heterogeneity"] = dict(info)
    elif kind == "random_intercepts":
        theta = np.concatenate([theta, [complaint_sd]])
        extra["heterogeneity"] = dict(info)
    return RelationshipHMMResults(
        spec=target, theta=theta, cov_theta=np.zeros((theta.size, theta.size)),
        loglike=float("nan"), nobs=fitted.nobs, n_sequences=fitted.n_sequences,
        n_customers=fitted.n_customers,
        starts=[StartReport(loglike=float("nan"), converged=True, n_iter=0, n_eval=0,
                            message="the simulated world's true parameters", seconds=0.0)],
        extra=extra)


def truth_noise_bound(n_paths: int, truth_paths: int) -> dict[str, float]:
    """Bound on the truth's own simulation noise against the estimate's standard error.

    The estimate's se² holds at least the per-path variance / ``n_paths`` (its own simulation
    error); the truth's variance is the per-path variance / ``truth_paths``. So
    ``sd(truth) / se ≤ r = √(n_paths / truth_paths)``, and an exact 95% interval judged against
    the noisy truth covers it with probability at least ``P(|Z| ≤ 1.96 / √(1 + r²))``.
    """
    ratio = float(np.sqrt(n_paths / truth_paths))
    return {"truth_sd_over_se_at_most": ratio,
            "coverage_of_an_exact_95pct_interval_at_least":
                float(2 * norm.cdf(float(norm.ppf(0.975)) / np.sqrt(1 + ratio**2)) - 1)}


def policy_truth(fitted: RelationshipHMMResults, truth: Mapping[str, Any],
                 panel: pd.DataFrame, *, settings: Mapping[str, Any],
                 misclassification: np.ndarray | None = None, paths: int = TRUTH_PATHS,
                 runs: int = TRUTH_RUNS) -> dict[str, Any]:
    """Simulate the policies at the world's true parameters (``policy_truth.json``).

    Parameters
    ----------
    fitted : RelationshipHMMResults
        The fit the estimate (``policy.json``) was simulated from.
    truth : mapping
        ``truth/params.json``.
    panel : DataFrame
        The panel the model was fitted on (the same customers as the estimate).
    settings : mapping
        The estimate's settings (``PolicyResult.settings``): horizons, arms, populations,
        learning off, budget, objective, ``n_paths`` and ``random_state``.
    misclassification : ndarray, optional
        The world's true confusion (when the fit has ``M``).
    paths : int
        Paths of the truth in all, split evenly into ``runs`` independent runs.
    runs : int
        Independent runs (seeds ``random_state + 10**6 + r``); their spread gives each value's
        Monte Carlo standard error (``mc_se``; ``nan`` with one run).

    Returns
    -------
    dict
        ``status``, ``settings`` (with the truth's paths, runs, seeds, the bound of
        :func:`truth_noise_bound` and the true parameters used), ``periods``, ``totals`` and
        ``contrasts`` in the layout of ``policy.json`` with ``estimate`` (the true value) and
        ``mc_se``.
    """
    if runs < 1 or paths < runs:
        raise ValueError("the truth needs at least one run and one path per run")
    results = truth_results(fitted, truth, misclassification=misclassification)
    per_run = paths // runs
    seed = int(settings.get("random_state") or 0)
    seeds = [seed + TRUTH_SEED_OFFSET + r for r in range(runs)]
    outcomes = [simulate_policies(
        results, panel, horizon=int(settings["horizon"]),
        cohort_horizon=int(settings["cohort_horizon"]), policies=tuple(settings["arms"]),
        populations=tuple(settings["populations"]),
        learning_off=bool(settings["learning_off"]), n_draws=0, n_paths=per_run,
        budget=float(settings["budget"]), objective=str(settings["objective"]),
        parameter_uncertainty=False, random_state=s) for s in seeds]

    def combine(name: str, keys: list[str]) -> list[dict[str, Any]]:
        frames = [getattr(o, name)[[*keys, "estimate"]] for o in outcomes]
        values = np.column_stack([f["estimate"].to_numpy(float) for f in frames])
        table = frames[0][keys].copy()
        table["estimate"] = values.mean(axis=1)
        table["mc_se"] = (values.std(axis=1, ddof=1) / np.sqrt(runs) if runs > 1
                          else np.nan)
        return table.to_dict(orient="records")

    reported = results.params
    n_paths = int(settings.get("n_paths", 1))
    measurement: dict[str, Any] = {}
    if results.spec.misclassified:
        m = results.layout.misclassification(results.theta)
        assert m is not None
        measurement["true_misclassification"] = {
            "voices": list(VOICES), "M": m.tolist(),
            "what": "P(label | true voice) over the world's labelled tweets, held fixed"}
    reply = results.layout.reply_logits(results.theta)
    if reply is not None:
        measurement["true_reply_probabilities"] = {
            v: dict(zip(results.spec.brands, (1 / (1 + np.exp(-row))).tolist(), strict=True))
            for v, row in zip(VOICES, reply, strict=True)}
    return {
        "status": "computed",
        "settings": {
            **{k: settings[k] for k in ("horizon", "cohort_horizon", "arms", "populations",
                                        "learning_off", "budget", "objective") if k in settings},
            "truth_paths": per_run * runs, "runs": runs, "paths_per_run": per_run,
            "seeds": seeds, "estimate_n_paths": n_paths,
            "noise": truth_noise_bound(n_paths, per_run * runs),
            "what": "simulate_policies at the simulated world's true parameters in the "
                    "fitted model's layout, no parameter draws, the same panel and settings "
                    "as policy.json; observed customers filtered under the truth",
            "true_parameters": {str(k): float(v) for k, v in reported.items()},
            "measurement": ("the true confusion M, fixed" if results.spec.misclassified
                            else "none: labels taken as the true voice, as in the fit"),
            **measurement,
        },
        "periods": combine("periods", ["population", "arm", "learning", "period", "metric"]),
        "totals": combine("totals", ["population", "arm", "learning", "metric"]),
        "contrasts": combine("contrasts", ["population", "contrast", "metric"]),
    }
