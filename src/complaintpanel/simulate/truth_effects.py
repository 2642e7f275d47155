"""Known truth for the reduced-form estimands, computed inside a simulated world.

The design-based estimator of :mod:`complaintpanel.estimate` compares, among customers who
complained in week ``t−1``, those whose complaint the brand answered with those it did not, and
reports the effect on complaints and compliments in weeks ``t, t+1, …, t+H``. In a simulated
world we know the latent states, so the same quantity can be computed exactly by simulation:
for every customer-week with a complaint, continue the customer's history twice, once with the
complaint answered and once without, using *common random numbers* for both arms, and average
the difference. The answer changes two things (DESIGN.md §4): the next transition is shifted by
δ (relationship effect) and the redress history turns on from ``t`` (squeaky wheel, γ).
Later answers follow the brand's own policy in both arms, so the effect at ``t+h`` is the total
effect of answering in ``t−1``, which is what the design-based comparison identifies.

Outcomes are recorded as conditional expectations given the simulated state and redress
history (``exp(a_s + γR)`` and ``exp(c_s)``) rather than Poisson draws: the expectation is the
same and the Monte Carlo error much smaller.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from complaintpanel.model import RelationshipParams, transition_matrices

__all__ = ["answer_effects"]


def _categorical(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    return (u[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)


def answer_effects(
    states: pd.DataFrame,
    params: RelationshipParams,
    reply_prob: dict[str, float],
    *,
    endogenous_shift: float = 0.0,
    horizon: int = 4,
    draws: int = 20,
    seed: int = 0,
    rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Compute the true average effect of answering a complaint in ``t−1`` on later voice.

    Parameters
    ----------
    states : DataFrame
        The simulator's ``truth/states.parquet``: one row per customer × week with ``state``,
        ``complaints``, ``redress``, ``peer_voice``, ``brand``, ``period``.
    params : RelationshipParams
        The parameters the world was drawn from.
    reply_prob : dict
        Each brand's probability of answering a complaint.
    endogenous_shift : float
        Logit shift of the answer probability for the worst (+) and best (−) state, as in the
        simulator's ``--endogenous-replies`` option (0 for exogenous answering).
    horizon : int
        Last lead ``h`` reported (outcome week ``t+h``).
    draws : int
        Continuations per customer-week and arm.
    seed : int
        Seed of the common random numbers.
    rows : DataFrame, optional
        Restrict the customer-weeks ``t−1`` to these (columns ``customer_id`` and ``period``),
        e.g. the ones an estimator kept after trimming for overlap.

    Returns
    -------
    DataFrame
        One row per lead ``h = 0 … horizon``: ``effect_complaints``, ``effect_compliments``
        (answered minus not answered), their Monte Carlo standard errors, the mean outcomes of
        each arm, and ``n_eligible`` (customer-weeks that complained in ``t−1`` and whose week
        ``t+h`` is inside the window).
    """
    k = params.n_states
    a = np.asarray(params.complaint_log_rate)
    c = np.asarray(params.compliment_log_rate)
    frame = states.sort_values(["customer_id", "period"]).reset_index(drop=True)
    last_period = int(frame["period"].max())
    eligible = frame[(frame["complaints"] > 0) & (frame["period"] < last_period)]
    if rows is not None:
        keys = pd.MultiIndex.from_frame(rows[["customer_id", "period"]].astype(
            {"customer_id": str, "period": "int64"}))
        wanted = pd.MultiIndex.from_frame(eligible[["customer_id", "period"]].astype(
            {"customer_id": str, "period": "int64"})).isin(keys)
        eligible = eligible[wanted]
    n = len(eligible)
    if n == 0:
        raise ValueError("no customer-week with a complaint before the last week")

    # Peer voice is the brand's (not the customer's) and is held at its observed weekly value
    # in both arms: one customer's answer moves her brand's average by a negligible amount.
    brands = sorted(frame["brand"].unique())
    brand_index = {b: i for i, b in enumerate(brands)}
    peer_by_brand = (frame.groupby(["brand", "period"])["peer_voice"].mean()
                     .unstack().reindex(index=brands, columns=range(last_period + 1))
                     .fillna(0.0).to_numpy())
    b_idx = eligible["brand"].map(brand_index).to_numpy()
    base_logit = logit(np.array([reply_prob[b] for b in brands]))[b_idx]

    rep = np.repeat
    start_period = rep(eligible["period"].to_numpy(), draws)
    brand_rep = rep(b_idx, draws)
    logit_rep = rep(base_logit, draws)
    state0 = rep(eligible["state"].to_numpy(), draws).astype(int)
    redress0 = rep(eligible["redress"].to_numpy(), draws).astype(int)
    complaints0 = rep(eligible["complaints"].to_numpy(), draws)
    size = n * draws
    rng = np.random.default_rng(seed)

    outcomes = {arm: {"complaints": np.full((size, horizon + 1), np.nan),
                      "compliments": np.full((size, horizon + 1), np.nan)} for arm in (0, 1)}
    # Common random numbers: one set of uniforms per lead, shared by both arms.
    u_transition = rng.random((horizon + 1, size))
    u_complaints = rng.random((horizon + 1, size))
    u_answer = rng.random((horizon + 1, size))

    for arm in (0, 1):
        state = state0.copy()
        redress = np.maximum(redress0, arm)
        intervened = np.full(size, arm)
        unanswered = np.where(arm == 1, 0, complaints0)
        period = start_period.copy()  # the week whose voice moved the state (t−1, then t, …)
        for h in range(horizon + 1):
            inside = period + 1 <= last_period
            peer = peer_by_brand[brand_rep, np.minimum(period, last_period)]
            shift = params.delta * intervened + params.eta * peer + params.kappa * unanswered
            rows = transition_matrices(params.tau, shift)[np.arange(size), state]
            state = _categorical(u_transition[h], rows)
            rate_complaints = np.exp(a[state] + params.gamma * redress)
            outcomes[arm]["complaints"][inside, h] = rate_complaints[inside]
            outcomes[arm]["compliments"][inside, h] = np.exp(c[state])[inside]
            # This week's complaints and the brand's answer drive the next transition.
            complaints = _poisson_inverse(u_complaints[h], rate_complaints)
            answer_logit = logit_rep + endogenous_shift * (
                (state == 0).astype(float) - (state == k - 1).astype(float))
            p_any = 1.0 - (1.0 - expit(answer_logit)) ** complaints
            intervened = (u_answer[h] < p_any).astype(int)
            # κ·U: all of the week's complaints count as unanswered when none was answered
            # (a simplification; with the default κ = 0 the term is inert).
            unanswered = np.where(intervened == 1, 0, complaints)
            redress = np.maximum(redress, intervened)
            period = period + 1

    rows_out = []
    for h in range(horizon + 1):
        valid = ~np.isnan(outcomes[1]["complaints"][:, h])
        record: dict[str, float | int] = {"lead": h}
        for outcome in ("complaints", "compliments"):
            treated = outcomes[1][outcome][valid, h].reshape(-1, draws)
            control = outcomes[0][outcome][valid, h].reshape(-1, draws)
            diff = (treated - control).mean(axis=1)  # one value per customer-week
            record[f"effect_{outcome}"] = float(diff.mean())
            record[f"se_{outcome}"] = float(diff.std(ddof=1) / np.sqrt(diff.size))
            record[f"mean_{outcome}_answered"] = float(treated.mean())
            record[f"mean_{outcome}_unanswered"] = float(control.mean())
        record["n_eligible"] = int(valid.sum() // draws)
        rows_out.append(record)
    return pd.DataFrame(rows_out)


def _poisson_inverse(u: np.ndarray, rate: np.ndarray, max_count: int = 60) -> np.ndarray:
    """Poisson draws by inverse CDF from given uniforms (so both arms share them)."""
    pmf = np.exp(-rate)
    cdf = pmf.copy()
    count = np.zeros(u.shape, dtype=np.int64)
    for j in range(1, max_count + 1):
        below = u > cdf
        if not below.any():
            break
        count += below
        pmf = pmf * rate / j
        cdf = cdf + pmf
    return count

