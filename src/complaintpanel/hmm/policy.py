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

Each period draws the state, complaints (with the redress term), compliments, the replies the
policy gives, and the peer voice of the brand's simulated customers (so a policy also moves
the voice friends hear, as in the model's definition of peer voice); then the ordered-logit
transition. Parameter uncertainty enters by drawing ``θ`` from its estimated sampling
distribution (normal on the unconstrained scale, which keeps the state ordering) for each
draw; every policy uses the same random numbers within a draw (common random numbers), so
policy differences are sharp. Intervals are 2.5–97.5 percentiles across draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logsumexp

from complaintpanel.hmm import core
from complaintpanel.hmm.data import PanelArrays, prepare_panel
from complaintpanel.hmm.likelihood import model_arrays
from complaintpanel.hmm.parametrisation import NaturalParams, ParamLayout
from complaintpanel.hmm.results import RelationshipHMMResults
from complaintpanel.hmm.sampling import draw_states
from complaintpanel.model import transition_matrices

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
    """What the simulation needs from the data, per sequence."""

    brand_code: np.ndarray
    redress: np.ndarray  # R at the first simulated period
    last_shift_cols: dict[str, np.ndarray]  # transition covariates in the last period
    answer_rate: np.ndarray  # per brand
    fast_share: np.ndarray  # per brand
    n_brands: int


def _start_facts(data: PanelArrays, results: RelationshipHMMResults) -> _Start:
    spec = results.spec
    frame = data.frame
    last_rows = data.rows[data.lengths - 1, np.arange(data.n_sequences)]
    last = frame.iloc[last_rows]
    intervened = (last["answered_complaints"].to_numpy() > 0 if "answered_complaints" in last
                  else last["intervened"].to_numpy() > 0)
    redress = last["redress"].to_numpy() if "redress" in last else np.zeros(len(last))
    cols = {col: last[col].to_numpy(dtype=float) for col in spec.transition_covariates}
    codes = data.brand_code
    n_brands = int(codes.max()) + 1
    seq_of_row = np.empty(len(frame), dtype=np.int64)
    t_idx, n_idx = np.nonzero(data.mask)
    seq_of_row[data.rows[t_idx, n_idx]] = n_idx
    row_brand = codes[seq_of_row]
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
    return _Start(brand_code=codes, redress=np.maximum(redress, intervened).astype(float),
                  last_shift_cols=cols, answer_rate=answer_rate, fast_share=fast_share,
                  n_brands=n_brands)


def _filtered_last(nat: NaturalParams, layout: ParamLayout, data: PanelArrays) -> np.ndarray:
    """``P(s_T = k | y_{≤T})`` at each sequence's last period, shape (N, K)."""
    log_initial, cdf, terms = model_arrays(nat, layout, data)
    _, alpha, _, _ = core.forward_cumulative(log_initial, cdf, terms.log_density, data.mask)
    return alpha[data.lengths - 1, :, np.arange(data.n_sequences)]


def _simulate_one(policy: str, nat: NaturalParams, results: RelationshipHMMResults,
                  start: _Start, state_last: np.ndarray, horizon: int, seed: int
                  ) -> dict[str, np.ndarray]:
    spec = results.spec
    coef_c = dict(zip(spec.complaint_covariates, nat.beta_c, strict=True))
    if policy == "all_relationship_only":
        coef_c["redress"] = 0.0
    coef_t = dict(zip(spec.transition_covariates, nat.beta_tr, strict=True))
    n = state_last.size
    k = spec.n_states
    brand = start.brand_code
    others = np.bincount(brand, minlength=start.n_brands)[brand] - 1

    def shift(cols: dict[str, np.ndarray]) -> np.ndarray:
        return sum((coef_t[col] * cols[col] for col in spec.transition_covariates),
                   np.zeros(n))

    def step(states: np.ndarray, shifts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rows = transition_matrices(nat.tau, shifts)[np.arange(n), states]
        return draw_states(rng, rows)

    def streams(h: int) -> list[np.random.Generator]:
        # One generator per period and purpose: every policy sees the same random numbers
        # for the same purpose (common random numbers), however many each draw consumes.
        return [np.random.default_rng([seed, h, purpose]) for purpose in range(4)]

    states = step(state_last, shift(start.last_shift_cols),
                  np.random.default_rng([seed, 2**31 + 1]))
    redress = start.redress.copy()
    out = {name: np.empty(horizon) for name in METRICS}
    reply_state = np.concatenate([[0.0], nat.reply_state]) if spec.reply_model else None
    for h in range(horizon):
        rng_complaints, rng_compliments, rng_reply, rng_move = streams(h)
        complaints = rng_complaints.poisson(
            np.exp(nat.a[states] + coef_c.get("redress", 0.0) * redress))
        compliments = rng_compliments.poisson(np.exp(nat.c[states]))
        u_fast = rng_reply.random(n)
        if spec.reply_model:
            p_answer = expit(nat.reply_brand[brand] + reply_state[states])
        else:
            p_answer = start.answer_rate[brand]
        if policy == "none":
            answered = np.zeros(n, dtype=np.int64)
        elif policy == "observed":
            answered = rng_reply.binomial(complaints, p_answer)
        else:  # "all", "fast", "all_relationship_only"
            answered = complaints
        intervened = (answered > 0).astype(float)
        fast = intervened if policy == "fast" else intervened * (u_fast < start.fast_share[brand])
        net = compliments - complaints
        totals = np.bincount(brand, weights=net, minlength=start.n_brands)
        peer = np.where(others > 0, (totals[brand] - net) / np.maximum(others, 1), 0.0)
        out["complaints"][h] = complaints.mean()
        out["compliments"][h] = compliments.mean()
        out["share_best"][h] = np.mean(states == k - 1)
        out["share_worst"][h] = np.mean(states == 0)
        out["replied"][h] = intervened.mean()
        cols = {"intervened": intervened, "peer_voice": peer,
                "unanswered_complaints": (complaints - answered).astype(float),
                "fast_reply": fast}
        states = step(states, shift(cols), rng_move)
        redress = np.maximum(redress, intervened)
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
    data = prepare_panel(panel, spec)
    if "answered_complaints" not in data.frame:
        raise KeyError("policy simulation needs `answered_complaints` for observed reply rates")
    layout = ParamLayout(spec)
    start = _start_facts(data, results)
    rng = np.random.default_rng(random_state)
    chol = None
    if parameter_uncertainty:
        cov = (results.cov_theta + results.cov_theta.T) / 2
        eigval, eigvec = np.linalg.eigh(cov)
        chol = eigvec * np.sqrt(np.clip(eigval, 0, None))

    records = {p: {m: np.empty((n_draws, horizon)) for m in METRICS} for p in policies}
    for d in range(n_draws):
        theta = results.theta
        if chol is not None:
            theta = theta + chol @ rng.standard_normal(theta.size)
        nat = layout.to_natural(theta)
        filtered = _filtered_last(nat, layout, data)
        seed = int(rng.integers(2**62))
        state_last = draw_states(np.random.default_rng([seed, 2**31]), filtered)
        for policy in policies:
            out = _simulate_one(policy, nat, results, start, state_last, horizon, seed)
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
    logits = np.concatenate([[0.0], results.natural().init[:, 0]])
    settings = {
        "horizon": horizon, "n_draws": n_draws, "policies": list(policies),
        "parameter_uncertainty": parameter_uncertainty, "random_state": random_state,
        "n_sequences": data.n_sequences,
        "observed_answer_rate_by_brand": dict(zip(data.brands, start.answer_rate.tolist(),
                                                  strict=False)),
        "initial_probs_estimate": np.exp(logits - logsumexp(logits)).tolist(),
        "metrics": METRICS, "policy_labels": {p: POLICIES[p] for p in policies},
    }
    return PolicyResult(periods=pd.DataFrame(period_rows), totals=pd.DataFrame(total_rows),
                        settings=settings)
