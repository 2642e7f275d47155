"""Counterfactual reply policies simulated from the fitted relationship HMM (DESIGN.md §4).

From each customer's *filtered* state at the end of the data (``P(s_T | y_{≤T})``), the model is
run forward ``H`` periods under a reply policy:

``none``
    the brand answers no complaint;
``observed``
    each complaint is answered with the brand's observed answer rate (with the reply model:
    with the fitted state-dependent probability ``logistic(ρ_brand + ψ_state)``), and, when
    latency enters the model, fast with the brand's observed share of fast replies;
``all``
    every complaint is answered (at the observed speed);
``fast``
    every complaint is answered within the latency cut-off (only when the model was fitted
    with ``latency_hours``);
``all_relationship_only``
    a decomposition, not a policy: ``all`` with the squeaky-wheel term switched off (γ = 0),
    i.e. what answering everyone would do to complaints through the relationship channel
    alone — the "naive reading". The gap to ``all`` is the squeaky wheel.

Each period is one step of the structural model (:func:`complaintpanel.model.step`): the
ordered-logit transition, complaints (with the redress term) and compliments, the replies the
policy gives (an answer rule), and the peer voice of the brand's simulated customers (so a
policy also moves the voice friends hear, as in the model's definition of peer voice).
Parameter uncertainty enters by drawing ``θ`` from its estimated sampling distribution
(:meth:`RelationshipHMMResults.draw_model_params`; normal on the unconstrained scale, which
keeps the state ordering) for each draw, and each draw starts from the states filtered under
its own parameters (:meth:`RelationshipHMM.filtered_last_proba`); every policy uses the same
random numbers within a draw (common random numbers), so policy differences are sharp.
Intervals are 2.5–97.5 percentiles across draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from complaintpanel.hmm.estimator import RelationshipHMM
from complaintpanel.hmm.results import RelationshipHMMResults
from complaintpanel.model import (
    AnswerAll,
    AnswerAtRate,
    AnswerByLogit,
    AnswerNone,
    AnswerRule,
    Customers,
    GeneratorDraws,
    ModelParams,
    categorical,
    step,
    update_redress,
)

__all__ = ["POLICIES", "PolicyResult", "simulate_policies"]

POLICIES: dict[str, str] = {
    "none": "answer no complaint",
    "observed": "answer as observed",
    "all": "answer every complaint",
    "fast": "answer every complaint within the latency cut-off",
    "all_relationship_only": "answer every complaint, squeaky wheel switched off (γ = 0)",
}
METRICS: dict[str, str] = {
    "complaints": "complaints per customer",
    "compliments": "compliments per customer",
    "share_best": "share in the best state",
    "share_worst": "share in the worst state",
    "replied": "share of customers answered",
}
_SUPPORTED_TRANSITION = {"intervened", "peer_voice", "unanswered_complaints", "fast_reply"}


@dataclass
class PolicyResult:
    """Simulated outcomes of reply policies.

    Attributes
    ----------
    periods : DataFrame
        ``policy``, ``period`` (1..H after the data), ``metric``, ``mean``, ``lower``,
        ``upper`` (per customer, averaged over customers).
    totals : DataFrame
        Per policy over the horizon: ``complaints`` and ``compliments`` (sums per customer),
        ``share_best`` at the end, with differences to ``none`` and to ``observed``
        (``contrast`` column).
    settings : dict
    """

    periods: pd.DataFrame
    totals: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return {"status": "estimated", "settings": self.settings,
                "periods": self.periods.to_dict(orient="records"),
                "totals": self.totals.to_dict(orient="records")}

    def to_markdown(self) -> str:
        """Policy comparison over the horizon as a Markdown table."""
        level = self.totals[self.totals["contrast"] == "level"]
        rows = ["| policy | complaints | compliments | share in best state (end) |",
                "|---|---:|---:|---:|"]
        for policy, group in level.groupby("policy", sort=False):
            cells = {r["metric"]: f"{r['mean']:.3f} [{r['lower']:.3f}, {r['upper']:.3f}]"
                     for _, r in group.iterrows()}
            rows.append(f"| {POLICIES.get(str(policy), policy)} | {cells['complaints']} | "
                        f"{cells['compliments']} | {cells['share_best']} |")
        horizon = self.settings.get("horizon")
        rows += ["", f"Per customer over {horizon} periods after the data; mean and 95% "
                 f"interval over {self.settings.get('n_draws')} draws "
                 f"({'with' if self.settings.get('parameter_uncertainty') else 'without'} "
                 "parameter uncertainty)."]
        return "\n".join(rows) + "\n"

    def to_latex(self) -> str:
        """Policy comparison over the horizon as a LaTeX (booktabs) table."""
        level = self.totals[self.totals["contrast"] == "level"]
        lines = [r"\begin{tabular}{lrrr}", r"\toprule",
                 r"Policy & Complaints & Compliments & Share best (end) \\", r"\midrule"]
        for policy, group in level.groupby("policy", sort=False):
            cells = {r["metric"]: f"{r['mean']:.3f} [{r['lower']:.3f}, {r['upper']:.3f}]"
                     for _, r in group.iterrows()}
            lines.append(f"{POLICIES.get(str(policy), policy)} & {cells['complaints']} & "
                         f"{cells['compliments']} & {cells['share_best']} \\\\")
        lines += [r"\bottomrule", r"\end{tabular}", ""]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Start:
    """What the simulation needs from the data, per sequence (in the model's order)."""

    brand_code: np.ndarray
    brands: tuple[str, ...]
    redress: np.ndarray  # R at the first simulated period
    last_shift_cols: dict[str, np.ndarray]  # transition covariates in the last period
    answer_rate: np.ndarray  # per brand
    fast_share: np.ndarray  # per brand


def _start_facts(frame: pd.DataFrame, results: RelationshipHMMResults) -> _Start:
    spec = results.spec
    last = frame.groupby(["customer_id", "brand"], sort=False).tail(1)
    # Brand indices as the fitted model numbers them (its reply model's ρ_brand), else sorted.
    brands = spec.brands or tuple(sorted(map(str, frame["brand"].unique())))
    index = {b: i for i, b in enumerate(brands)}
    row_brand = np.array([index.get(str(b), -1) for b in frame["brand"]], dtype=np.int64)
    codes = np.array([index.get(str(b), -1) for b in last["brand"]], dtype=np.int64)
    n_brands = int(codes.max()) + 1
    intervened = (last["answered_complaints"].to_numpy() > 0 if "answered_complaints" in last
                  else last["intervened"].to_numpy() > 0)
    redress = last["redress"].to_numpy() if "redress" in last else np.zeros(len(last))
    cols = {col: last[col].to_numpy(dtype=float) for col in spec.transition_covariates}
    complaints = np.bincount(row_brand, weights=frame["complaints"].to_numpy(float),
                             minlength=n_brands)
    answered = np.bincount(row_brand, weights=frame["answered_complaints"].to_numpy(float),
                           minlength=n_brands)
    answer_rate = np.divide(answered, complaints, out=np.zeros(n_brands),
                            where=complaints > 0)
    fast_share = np.zeros(n_brands)
    if "fast_reply" in frame:
        n_int = np.bincount(row_brand, weights=frame["intervened"].to_numpy(float),
                            minlength=n_brands)
        n_fast = np.bincount(row_brand, weights=frame["fast_reply"].to_numpy(float),
                             minlength=n_brands)
        fast_share = np.divide(n_fast, n_int, out=np.zeros(n_brands), where=n_int > 0)
    return _Start(brand_code=codes, brands=brands,
                  redress=update_redress(redress.astype(float), intervened),
                  last_shift_cols=cols, answer_rate=answer_rate, fast_share=fast_share)


def _answer_rule(policy: str, params: ModelParams, start: _Start) -> AnswerRule:
    if policy == "none":
        return AnswerNone()
    if policy == "fast":
        return AnswerAll(all_fast=True)
    if policy in ("all", "all_relationship_only"):
        return AnswerAll(fast_share=start.fast_share)
    # "observed": the fitted reply model when there is one, else the brand's observed rate
    if params.spec.reply_model:
        return AnswerByLogit.from_params(params, fast_share=start.fast_share)
    return AnswerAtRate(rate=start.answer_rate, fast_share=start.fast_share)


def _simulate_one(policy: str, params: ModelParams, start: _Start, state_last: np.ndarray,
                  horizon: int, seed: int) -> dict[str, np.ndarray]:
    if policy == "all_relationship_only":
        params = params.replace(gamma=0.0)
    rule = _answer_rule(policy, params, start)
    k = params.n_states
    customers = Customers(brand=start.brand_code, state=state_last,
                          shift=params.transition_shift(start.last_shift_cols,
                                                        (state_last.size,)),
                          redress=start.redress)
    out = {name: np.empty(horizon) for name in METRICS}
    # One generator per period and purpose: every policy sees the same random numbers for the
    # same purpose (common random numbers), however many each draw consumes. The move into
    # period h uses the stream of period h − 1 (a stream of its own into the first period).
    move = np.random.default_rng([seed, 2**31 + 1])
    for h in range(horizon):
        reply = np.random.default_rng([seed, h, 2])
        draws = GeneratorDraws({
            "transition": move,
            "complaints": np.random.default_rng([seed, h, 0]),
            "compliments": np.random.default_rng([seed, h, 1]),
            "fast": reply, "answer": reply,
            "sentiment": np.random.default_rng([seed, h, 4]),
            # drawn only by fits with the neutral emission; a stream of its own, so the
            # other purposes' numbers do not change
            "neutral": np.random.default_rng([seed, h, 5]),
        })
        period, customers = step(params, customers, rule, draws)
        move = np.random.default_rng([seed, h, 3])
        out["complaints"][h] = period.complaints.mean()
        out["compliments"][h] = period.compliments.mean()
        out["share_best"][h] = np.mean(period.state == k - 1)
        out["share_worst"][h] = np.mean(period.state == 0)
        out["replied"][h] = period.intervened.mean()
    return out


def simulate_policies(results: RelationshipHMMResults, panel: pd.DataFrame, *,
                      horizon: int = 12, policies: tuple[str, ...] | None = None,
                      n_draws: int = 200, parameter_uncertainty: bool = True,
                      random_state: int | None = None) -> PolicyResult:
    """Simulate reply policies forward from each customer's filtered state.

    Parameters
    ----------
    results : RelationshipHMMResults
        A fit of the core specification (complaint covariate ``redress``; transition
        covariates among intervention, peer voice, unanswered complaints, fast reply).
    panel : DataFrame
        The panel the model was fitted on (or another panel of the same brands).
    horizon : int
        Periods simulated after the end of the data.
    policies : tuple of str, optional
        Subset of :data:`POLICIES`; default all that the model supports.
    n_draws : int
        Draws (each: one parameter draw and one simulated path per customer).
    parameter_uncertainty : bool
        Draw parameters from their estimated sampling distribution (else fix them at the
        estimate, leaving simulation noise only).
    random_state : int, optional

    Returns
    -------
    PolicyResult
    """
    spec = results.spec
    unsupported = (set(spec.transition_covariates) - _SUPPORTED_TRANSITION) | (
        set(spec.complaint_covariates) - {"redress"}) | set(spec.compliment_covariates)
    if unsupported:
        raise ValueError(f"policy simulation cannot project covariate(s) {sorted(unsupported)}")
    available = [p for p in POLICIES
                 if (p != "fast" or "fast_reply" in spec.transition_covariates)
                 and (p != "all_relationship_only" or "redress" in spec.complaint_covariates)]
    policies = tuple(policies or available)
    for policy in policies:
        if policy not in available:
            raise ValueError(f"policy {policy!r} is not available for this model "
                             f"(available: {available}; 'fast' needs latency_hours)")
    if horizon < 1 or n_draws < 1:
        raise ValueError("horizon and n_draws must be positive")
    model = RelationshipHMM.from_results(results)
    frame = model.model_frame(panel)
    if "answered_complaints" not in frame:
        raise KeyError("policy simulation needs `answered_complaints` for observed reply rates")
    start = _start_facts(frame, results)
    rng = np.random.default_rng(random_state)
    drawn: list[ModelParams] = []
    seeds: list[int] = []
    for _ in range(n_draws):
        drawn.append(results.draw_model_params(rng) if parameter_uncertainty
                     else results.model_params())
        seeds.append(int(rng.integers(2**62)))
    # Each draw starts from the states filtered under its own parameters.
    filtered = model.filtered_last_proba(panel, params=drawn)
    columns = [f"p_{s}" for s in model.state_names_]
    n_sequences = start.brand_code.size
    filtered_by_draw = filtered[columns].to_numpy().reshape(n_draws, n_sequences, -1)

    records = {p: {m: np.empty((n_draws, horizon)) for m in METRICS} for p in policies}
    for d, (params, seed) in enumerate(zip(drawn, seeds, strict=True)):
        u = np.random.default_rng([seed, 2**31]).random(n_sequences)
        state_last = categorical(u, filtered_by_draw[d])
        for policy in policies:
            out = _simulate_one(policy, params, start, state_last, horizon, seed)
            for metric in METRICS:
                records[policy][metric][d] = out[metric]

    def summarise(values: np.ndarray) -> tuple[float, float, float]:
        return (float(values.mean()), float(np.quantile(values, 0.025)),
                float(np.quantile(values, 0.975)))

    period_rows = []
    for policy in policies:
        for metric in METRICS:
            for h in range(horizon):
                mean, lower, upper = summarise(records[policy][metric][:, h])
                period_rows.append({"policy": policy, "period": h + 1, "metric": metric,
                                    "mean": mean, "lower": lower, "upper": upper})
    totals_of = {p: {"complaints": records[p]["complaints"].sum(axis=1),
                     "compliments": records[p]["compliments"].sum(axis=1),
                     "share_best": records[p]["share_best"][:, -1]} for p in policies}
    total_rows = []
    for policy in policies:
        for metric, values in totals_of[policy].items():
            mean, lower, upper = summarise(values)
            total_rows.append({"policy": policy, "contrast": "level", "metric": metric,
                               "mean": mean, "lower": lower, "upper": upper})
            for base in ("none", "observed"):
                if base in totals_of and base != policy:
                    mean, lower, upper = summarise(values - totals_of[base][metric])
                    total_rows.append({"policy": policy, "contrast": f"minus_{base}",
                                       "metric": metric, "mean": mean, "lower": lower,
                                       "upper": upper})
    settings = {
        "horizon": horizon, "n_draws": n_draws, "policies": list(policies),
        "parameter_uncertainty": parameter_uncertainty, "random_state": random_state,
        "n_sequences": n_sequences,
        "observed_answer_rate_by_brand": dict(zip(start.brands, start.answer_rate.tolist(),
                                                  strict=False)),
        "initial_probs_estimate": results.model_params().initial_probs.tolist(),
        "metrics": METRICS, "policy_labels": {p: POLICIES[p] for p in policies},
    }
    return PolicyResult(periods=pd.DataFrame(period_rows), totals=pd.DataFrame(total_rows),
                        settings=settings)
