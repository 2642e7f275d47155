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

**Awareness** (``[simulate] awareness_effect = a ≠ 0``, the rival mechanism): in week ``p``
every customer's complaint log-rate carries ``a × A_{-i}(p−1)``, the share of her brand's
customers active in ``p−1`` whose complaint the brand answered, *herself excluded*. The design
estimand is the *direct* effect of answering customer ``i``, holding every other customer's
treatment (and so ``A_{-i}``) at its observed value: her own answer does not enter her own
awareness term, but the term multiplies her complaint rate (and so her later complaints, the
brand's later answers to her and the unanswered-complaint transition shift) in both arms, so
it does not cancel from the difference. The continuations therefore add the observed
``a × A_{-i}`` of each week to the complaint log-rate (:func:`_awareness_shifts`). What her
answer does to *other* customers (the spillover) is not part of this estimand.

Each week of a continuation is one step of the structural model
(:func:`complaintpanel.model.step`) with draws by inverse CDF from uniforms both arms share
(:class:`complaintpanel.model.UniformDraws`). Outcomes are recorded as conditional
expectations given the simulated state and redress history (``exp(a_s + γR)`` and
``exp(c_s)``) rather than Poisson draws: the expectation is the same and the Monte Carlo error
much smaller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from complaintpanel.model import (
    AnswerByLogit,
    AnswerRule,
    Customers,
    ModelParams,
    Period,
    UniformDraws,
    step,
    update_redress,
)

__all__ = ["anchor_effects", "anchor_path", "answer_effects", "poisson_fe_log_ratio",
           "selection_lambda", "selection_odds_ratios", "sentiment_effects",
           "world_answer_effects", "world_selection_lambda", "world_sentiment_effects"]

# What the continuations draw each week, in this order from the seeded generator: the uniforms
# of the first three purposes come first so that adding a purpose leaves them unchanged.
_PURPOSES = ("transition", "complaints", "answer", "compliments")


def _eligible_weeks(states: pd.DataFrame, brands: Sequence[str], rows: pd.DataFrame | None,
                    require_complaint: bool
                    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, int]:
    """Select the customer-weeks ``t−1`` to continue; the brands' peer voice by week."""
    frame = states.sort_values(["customer_id", "period"]).reset_index(drop=True)
    last_period = int(frame["period"].max())
    before_last = frame["period"] < last_period
    eligible = frame[(frame["complaints"] > 0) & before_last] if require_complaint \
        else frame[before_last]
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
    brands = list(brands)
    unknown = sorted(set(frame["brand"]) - set(brands))
    if unknown:
        raise ValueError(f"brand(s) {unknown} of the states have no answer rule")
    brand_index = {b: i for i, b in enumerate(brands)}
    peer_by_brand = (frame.groupby(["brand", "period"])["peer_voice"].mean()
                     .unstack().reindex(index=brands, columns=range(last_period + 1))
                     .fillna(0.0).to_numpy())
    b_idx = eligible["brand"].map(brand_index).to_numpy()

    return eligible, peer_by_brand, b_idx, last_period


def _awareness_shifts(states: pd.DataFrame, eligible: pd.DataFrame, awareness_effect: float,
                      horizon: int) -> np.ndarray:
    """Observed awareness shift of the complaint log-rate in weeks ``t … t+horizon``.

    Row ``j``, column ``h``: ``a × A_{-i}(t−1+h)`` for the customer ``i`` and week ``t−1`` of
    ``eligible``'s row ``j``, with ``A_{-i}(q)`` = (customers of her brand active in ``q``
    with an answered complaint, herself excluded) / (customers of her brand active in ``q``)
    — the term :func:`complaintpanel.model.simulate_histories` adds in week ``q+1``, with the
    other customers' answers as observed. Weeks after the panel's last repeat the last one
    (their outcomes are outside the window and not used).
    """
    frame = states[["customer_id", "brand", "period", "answered_complaints"]].copy()
    frame["answered_any"] = (frame["answered_complaints"] > 0).astype(float)
    by_brand = frame.groupby(["brand", "period"])["answered_any"].agg(["sum", "size"])
    last_period = int(frame["period"].max())
    own = frame.set_index(["customer_id", "period"])["answered_any"]
    out = np.zeros((len(eligible), horizon + 1))
    customer = eligible["customer_id"].to_numpy()
    brand = eligible["brand"].to_numpy()
    for h in range(horizon + 1):
        week = np.minimum(eligible["period"].to_numpy() + h, last_period)
        cell = by_brand.reindex(pd.MultiIndex.from_arrays([brand, week]))
        mine = own.reindex(pd.MultiIndex.from_arrays([customer, week])).fillna(0.0)
        out[:, h] = awareness_effect * (cell["sum"].to_numpy() - mine.to_numpy()) \
            / cell["size"].to_numpy()
    return out


def _continuations(params: ModelParams, rule: AnswerRule, eligible: pd.DataFrame,
                   peer_by_brand: np.ndarray, b_idx: np.ndarray, last_period: int,
                   horizon: int, draws: int, seed: int, purposes: tuple[str, ...],
                   awareness: np.ndarray | None = None
                   ) -> Iterator[tuple[int, int, np.ndarray, Period]]:
    """Continue each eligible week ``draws`` times per arm; yield ``(arm, lead, inside, step)``.

    Rows are the eligible weeks repeated ``draws`` times (``np.repeat``); ``inside`` marks the
    rows whose week ``t+lead`` lies in the window. Both arms see the same uniforms (per
    purpose and lead), drawn in ``purposes`` order from ``default_rng(seed)``. ``awareness``
    (eligible weeks × leads, optional): the complaint log-rate shift of week ``t+lead``
    (:func:`_awareness_shifts`), the same in both arms.
    """
    rep = np.repeat
    start_period = rep(eligible["period"].to_numpy(), draws)
    brand_rep = rep(b_idx, draws)
    state0 = rep(eligible["state"].to_numpy(), draws).astype(np.int64)
    redress0 = rep(eligible["redress"].to_numpy(), draws).astype(float)
    complaints0 = rep(eligible["complaints"].to_numpy(), draws)
    size = len(eligible) * draws
    rng = np.random.default_rng(seed)
    # Common random numbers: one set of uniforms per purpose and lead, shared by both arms.
    uniforms = {purpose: rng.random((horizon + 1, size)) for purpose in purposes}

    for arm in (0, 1):
        # Week t−1 as it would have been with (arm 1: every complaint answered) or without
        # (arm 0) an answer: the move into week t and the redress history of week t follow.
        answered = complaints0 * arm
        shift = params.transition_shift({
            "intervened": (answered > 0).astype(float),
            "peer_voice": peer_by_brand[brand_rep, start_period],
            "unanswered_complaints": complaints0 - answered,
            "fast_reply": np.zeros(size)}, (size,))
        customers = Customers(brand=brand_rep, state=state0, shift=shift,
                              redress=update_redress(redress0, answered,
                                                     params.spec.redress_decay))
        for h in range(horizon + 1):
            period = start_period + 1 + h  # the week this step draws
            inside = period <= last_period
            draws_h = UniformDraws({purpose: u[h] for purpose, u in uniforms.items()})
            if awareness is not None:
                shift_h = np.zeros((size, 2))
                shift_h[:, 0] = rep(awareness[:, h], draws)
                customers = dataclasses.replace(customers, voice_effect=shift_h)
            step_h, customers = step(
                params, customers, rule, draws_h,
                peer_voice=peer_by_brand[brand_rep, np.minimum(period, last_period)])
            yield arm, h, inside, step_h


def answer_effects(
    states: pd.DataFrame,
    params: ModelParams,
    rule: AnswerRule,
    brands: Sequence[str],
    *,
    horizon: int = 4,
    draws: int = 20,
    seed: int = 0,
    rows: pd.DataFrame | None = None,
    require_complaint: bool = True,
    awareness_effect: float = 0.0,
) -> pd.DataFrame:
    """Compute the true average effect of answering a complaint in ``t−1`` on later voice.

    Parameters
    ----------
    states : DataFrame
        The simulator's ``truth/states.parquet``: one row per customer × week with ``state``,
        ``complaints``, ``redress``, ``peer_voice``, ``brand``, ``period``.
    params : ModelParams
        The parameters the world was drawn from.
    rule : AnswerRule
        How the brands answer complaints in the world (e.g.
        :func:`complaintpanel.simulate.world.answer_rule`), brand ``i`` being ``brands[i]``.
    brands : sequence of str
        The brands of ``states``, in the rule's order.
    horizon : int
        Last lead ``h`` reported (outcome week ``t+h``).
    draws : int
        Continuations per customer-week and arm.
    seed : int
        Seed of the common random numbers.
    rows : DataFrame, optional
        Restrict the customer-weeks ``t−1`` to these (columns ``customer_id`` and ``period``),
        e.g. the ones an estimator kept after trimming for overlap.
    require_complaint : bool
        Keep only customer-weeks with a *true* complaint (default). ``False`` keeps every row
        of ``rows``: the population an estimator defines by *classified* labels, where some
        "complaints" are in truth neutral tweets or compliments. Answering a week without a
        true complaint changes nothing in the simulator (both arms are the same, so its effect
        is exactly zero), and such weeks dilute the average as they do in the estimate. In a
        week with a true complaint, arm 1 answers every true complaint of the week.
    awareness_effect : float
        The world's ``[simulate] awareness_effect``; non-zero adds each week's observed
        awareness shift to the complaint log-rate in both arms (the direct effect with the
        other customers' answers as observed; module docstring). ``states`` then needs
        ``answered_complaints``. 0 (default) leaves every number unchanged.

    Returns
    -------
    DataFrame
        One row per lead ``h = 0 … horizon``: ``effect_complaints``, ``effect_compliments``
        (answered minus not answered), their Monte Carlo standard errors, the mean outcomes of
        each arm, and ``n_eligible`` (customer-weeks that complained in ``t−1`` and whose week
        ``t+h`` is inside the window).
    """
    # Neutral questions neither move the state nor are an outcome here.
    params = params.replace(neutral=None)
    eligible, peer_by_brand, b_idx, last_period = _eligible_weeks(
        states, brands, rows, require_complaint)
    n = len(eligible)

    size = n * draws
    outcomes = {arm: {"complaints": np.full((size, horizon + 1), np.nan),
                      "compliments": np.full((size, horizon + 1), np.nan)} for arm in (0, 1)}
    awareness = (_awareness_shifts(states, eligible, awareness_effect, horizon)
                 if awareness_effect else None)
    for arm, h, inside, step_h in _continuations(params, rule, eligible, peer_by_brand, b_idx,
                                                 last_period, horizon, draws, seed, _PURPOSES,
                                                 awareness):
        outcomes[arm]["complaints"][inside, h] = step_h.rate_complaints[inside]
        outcomes[arm]["compliments"][inside, h] = step_h.rate_compliments[inside]

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


def world_answer_effects(world: Any, horizon: int = 4, draws: int = 20,
                         rows: pd.DataFrame | None = None,
                         require_complaint: bool = True) -> pd.DataFrame:
    """:func:`answer_effects` of a simulated world (its states, parameters and answer rule).

    ``World.answer_effects`` with ``require_complaint`` exposed: pass ``False`` with the rows
    an estimator kept on *classified* labels to get the truth of that same population.
    """
    from complaintpanel.simulate.world import answer_rule

    return answer_effects(
        world.states, world.params,
        answer_rule(world.brands, world.spec.endogenous_replies, world.params.n_states),
        [b.handle for b in world.brands], horizon=horizon, draws=draws,
        seed=world.spec.seed + 1, rows=rows, require_complaint=require_complaint,
        awareness_effect=world.spec.awareness_effect)


def poisson_fe_log_ratio(answered_rows: np.ndarray, control_rows: np.ndarray,
                         mean_answered: np.ndarray, mean_withheld: np.ndarray) -> float:
    """Log rate ratio a Poisson fit with stratum effects converges to, given the truth.

    In a Poisson regression of a count on stratum effects and one answered indicator, the
    stratum score gives ``exp(μ_s) = (n1 ȳ1 + n0 ȳ0) / (n1 exp(β) + n0)`` and the score of
    ``β`` becomes ``Σ_s n1 n0 / (n1 exp(β) + n0) · (ȳ1_s − exp(β) ȳ0_s) = 0``: a ratio of
    stratum means with weights ``n1 n0 / (n1 exp(β) + n0)``, not the answered rows' ratio of
    means unless the ratio is the same in every stratum. With the answered rows' means with
    the answer (``ȳ1``) and without it (``ȳ0``, which the unanswered rows of the stratum
    estimate when answering is as good as random within it) this is the estimator's target.

    Parameters
    ----------
    answered_rows, control_rows : ndarray
        ``n1``, ``n0`` per stratum (both > 0).
    mean_answered, mean_withheld : ndarray
        ``ȳ1``, ``ȳ0`` per stratum (true mean rates of the answered rows in each arm).

    Returns
    -------
    float
        The root ``β`` (the score is strictly decreasing in ``exp(β)``).
    """
    n1, n0 = np.asarray(answered_rows, float), np.asarray(control_rows, float)
    m1, m0 = np.asarray(mean_answered, float), np.asarray(mean_withheld, float)
    if (n1 <= 0).any() or (n0 <= 0).any() or m1.sum() <= 0 or m0.sum() <= 0:
        raise ValueError("every stratum needs answered and control rows, and rates > 0")

    def score(beta: float) -> float:
        ratio = np.exp(beta)
        return float(np.sum(n1 * n0 / (n1 * ratio + n0) * (m1 - ratio * m0)))

    return float(optimize.brentq(score, -30.0, 30.0, xtol=1e-12))


def anchor_effects(world: Any, rows: pd.DataFrame, draws: int = 10) -> pd.DataFrame:
    """Compute the true path of the complaint-anchored Poisson event study on its population.

    The estimand of :func:`complaintpanel.estimate.complaint_event_study.complaint_event_study`:
    each answered anchoring complaint (customer, anchor period ``a``) is continued twice with
    common random numbers, once with every complaint of week ``a`` answered and once with none
    answered, later replies following the brand's policy in both arms (:func:`answer_effects`'
    continuations); event time ``k`` is lead ``k − 1`` (the week ``a + k``). Per anchor cohort
    ``a`` and event time ``k``, the truth is the log rate ratio the estimator's Poisson fit
    targets: per stratum the answered rows' mean rates in each arm, combined with the fit's
    weights (:func:`poisson_fe_log_ratio`; with ``rows`` lacking ``stratum``/``controls``,
    the ratio of means over the cell's rows). The path at ``k`` averages the cohorts with
    weights = their rows, as the estimator does.

    An anchor the brand answered only in part (some of the week's complaints) counts as
    answered in the estimator and is answered in full in arm 1: the same when unanswered
    complaints do not move the relationship (κ = 0, the default; intervention and redress are
    indicators of *an* answer), a difference otherwise.

    Parameters
    ----------
    world : World
        The simulated world.
    rows : DataFrame
        ``customer_id``, ``anchor_period``, ``event_time`` (≥ 1), optionally ``stratum`` and
        ``controls``: the answered rows that inform the estimate
        (:func:`~complaintpanel.estimate.complaint_event_study.informed_answered_rows`).
    draws : int
        Continuations per anchor and arm.

    Returns
    -------
    DataFrame
        One row per event time: ``truth`` (the estimator's target), ``truth_ratio_of_means``
        (per cohort the log ratio of the answered rows' mean rates, cohorts weighted by rows:
        the plain effect on the answered on the log scale), ``log_ratio_pooled`` (log of the
        ratio of means over all rows), ``mean_answered``, ``mean_withheld``, ``n_rows``.
    """
    from complaintpanel.simulate.world import answer_rule

    if (rows["event_time"] < 1).any():
        raise ValueError("event times start at 1 (the anchor period's count is given)")
    horizon = int(rows["event_time"].max()) - 1
    params = world.params.replace(neutral=None)
    rule = answer_rule(world.brands, world.spec.endogenous_replies, world.params.n_states)
    brands = [b.handle for b in world.brands]
    anchors = (rows[["customer_id", "anchor_period"]].drop_duplicates()
               .rename(columns={"anchor_period": "period"}))
    eligible, peer_by_brand, b_idx, last_period = _eligible_weeks(
        world.states, brands, anchors, True)
    awareness = (_awareness_shifts(world.states, eligible, world.spec.awareness_effect, horizon)
                 if world.spec.awareness_effect else None)
    rates = {arm: np.full((len(eligible) * draws, horizon + 1), np.nan) for arm in (0, 1)}
    for arm, h, inside, step_h in _continuations(params, rule, eligible, peer_by_brand, b_idx,
                                                 last_period, horizon, draws, world.spec.seed + 1,
                                                 _PURPOSES, awareness):
        rates[arm][inside, h] = step_h.rate_complaints[inside]
    # leads past the panel's end are NaN for every draw (and never asked for)
    per_anchor = {arm: r.reshape(len(eligible), draws, horizon + 1).mean(axis=1)
                  for arm, r in rates.items()}
    position = pd.Series(np.arange(len(eligible)), index=pd.MultiIndex.from_arrays(
        [eligible["customer_id"].astype(str).to_numpy(),
         eligible["period"].astype("int64").to_numpy()]))
    where = position.reindex(pd.MultiIndex.from_arrays(
        [rows["customer_id"].astype(str).to_numpy(),
         rows["anchor_period"].astype("int64").to_numpy()]))
    if where.isna().any():
        raise ValueError("some anchors have no true complaint in the simulated states")
    index = where.to_numpy(dtype=int)
    lead = rows["event_time"].to_numpy(dtype=int) - 1
    by_stratum = {"stratum", "controls"} <= set(rows.columns)
    return anchor_path(pd.DataFrame({
        "anchor_period": rows["anchor_period"].to_numpy(),
        "event_time": rows["event_time"].to_numpy(),
        "stratum": (rows["stratum"].to_numpy() if by_stratum
                    else rows["anchor_period"].to_numpy()),
        "controls": rows["controls"].to_numpy() if by_stratum else 1,
        "answered": per_anchor[1][index, lead],
        "withheld": per_anchor[0][index, lead]}), by_stratum=by_stratum)


def anchor_path(frame: pd.DataFrame, by_stratum: bool = True) -> pd.DataFrame:
    """Aggregate the answered rows' true rates into the event-study path (:func:`anchor_effects`).

    Parameters
    ----------
    frame : DataFrame
        One row per answered row that informs the estimate: ``anchor_period``,
        ``event_time``, ``stratum``, ``controls`` (unanswered rows of its stratum × event
        time), ``answered`` and ``withheld`` (its true mean rate in each arm).
    by_stratum : bool
        Combine the strata of a cohort × event time as the Poisson fit does
        (:func:`poisson_fe_log_ratio`); ``False``: the ratio of the cell's means.

    Returns
    -------
    DataFrame
        As :func:`anchor_effects`.
    """
    cells = []
    for (k, cohort), cell in frame.groupby(["event_time", "anchor_period"]):
        means = np.log(cell["answered"].mean() / cell["withheld"].mean())
        fit = means
        if by_stratum:
            strata = cell.groupby("stratum").agg(
                n1=("answered", "size"), n0=("controls", "first"), m1=("answered", "mean"),
                m0=("withheld", "mean"))
            fit = poisson_fe_log_ratio(strata["n1"].to_numpy(), strata["n0"].to_numpy(),
                                       strata["m1"].to_numpy(), strata["m0"].to_numpy())
        cells.append({"event_time": k, "cohort": cohort, "n": len(cell), "means": means,
                      "fit": fit})
    cells_frame = pd.DataFrame(cells)
    out = []
    for k, cell in cells_frame.groupby("event_time"):
        pooled = frame[frame["event_time"] == k]
        out.append({"event_time": int(k),
                    "truth": float(np.average(cell["fit"], weights=cell["n"])),
                    "truth_ratio_of_means": float(np.average(cell["means"], weights=cell["n"])),
                    "log_ratio_pooled": float(np.log(pooled["answered"].mean()
                                                     / pooled["withheld"].mean())),
                    "mean_answered": float(pooled["answered"].mean()),
                    "mean_withheld": float(pooled["withheld"].mean()),
                    "n_rows": len(pooled)})
    return pd.DataFrame(out)


# The sentiment continuation also draws the neutral questions (a silent week has no sentiment).
_SENTIMENT_PURPOSES = (*_PURPOSES, "neutral")


def sentiment_effects(
    states: pd.DataFrame,
    params: ModelParams,
    rule: AnswerRule,
    brands: Sequence[str],
    sentiment_by_voice: Mapping[str, float],
    *,
    horizon: int = 4,
    draws: int = 20,
    seed: int = 0,
    rows: pd.DataFrame | None = None,
    awareness_effect: float = 0.0,
) -> pd.DataFrame:
    """Compute the true effect of answering in ``t−1`` on mean sentiment and tweeting in ``t+h``.

    The same continuations as :func:`answer_effects` (common random numbers, later answers by
    the brand's policy), but with the week's tweets *drawn* (complaints, compliments and
    neutral questions by inverse CDF from shared uniforms), since the outcome exists only when
    the customer tweets. A tweet's sentiment is ``sentiment_by_voice[voice]`` (the oracle's
    :data:`~complaintpanel.simulate.oracle.TRUE_SENTIMENT`), a week's the mean over its tweets.

    The estimand of Lee bounds is the effect among the *always-tweeters*: the continuations
    (customer-week × draw) in which the customer tweets in ``t+h`` in both arms. Common random
    numbers pair each continuation's two arms, so that set is observed here; counts drawn
    from shared uniforms are monotone in their rates, so the pairs violate monotonicity only
    where the state paths differ (their share is reported).

    Parameters
    ----------
    states, params, rule, brands, horizon, draws, seed, rows, awareness_effect
        As :func:`answer_effects` (``require_complaint`` is true: true complaints).
    sentiment_by_voice : mapping
        Sentiment of a ``"complaint"``, ``"compliment"`` and ``"neutral"`` tweet.

    Returns
    -------
    DataFrame
        One row per lead: ``effect_sentiment_always`` (mean over always-tweeting pairs of the
        difference in mean sentiment), ``share_tweeting_answered``,
        ``share_tweeting_unanswered``, ``share_always`` (of all continuations),
        ``share_against_monotone`` (continuations that tweet only in the arm with the lower
        share), ``share_only_answered`` and ``share_only_unanswered`` (continuations that
        tweet only when answered / only when not: the defier share ``κ`` of
        :func:`~complaintpanel.estimate.sentiment.defier_bounds` is the second when the
        bounds trim the answered arm, the first otherwise), ``se_sentiment_always`` (Monte
        Carlo, by customer-week),
        ``difference_tweeters`` (mean sentiment of the answered arm's tweeters minus the
        unanswered arm's: the naive comparison's population target) and ``n_eligible``.
    """
    if params.neutral is None:
        raise ValueError("the sentiment truth needs neutral log-rates (ModelParams.neutral)")
    eligible, peer_by_brand, b_idx, last_period = _eligible_weeks(states, brands, rows, True)
    size = len(eligible) * draws
    value = {voice: float(sentiment_by_voice[voice])
             for voice in ("complaint", "compliment", "neutral")}
    tweets = {arm: np.zeros((size, horizon + 1)) for arm in (0, 1)}
    mean = {arm: np.full((size, horizon + 1), np.nan) for arm in (0, 1)}
    inside_at = np.zeros((size, horizon + 1), dtype=bool)
    awareness = (_awareness_shifts(states, eligible, awareness_effect, horizon)
                 if awareness_effect else None)
    for arm, h, inside, step_h in _continuations(
            params, rule, eligible, peer_by_brand, b_idx, last_period, horizon, draws, seed,
            _SENTIMENT_PURPOSES, awareness):
        neutral = step_h.neutral if step_h.neutral is not None else 0
        total = step_h.complaints + step_h.compliments + neutral
        summed = (value["complaint"] * step_h.complaints
                  + value["compliment"] * step_h.compliments + value["neutral"] * neutral)
        tweets[arm][:, h] = total
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[arm][:, h] = np.where(total > 0, summed / np.maximum(total, 1), np.nan)
        inside_at[:, h] = inside
    records = []
    for h in range(horizon + 1):
        valid = inside_at[:, h]
        s1, s0 = tweets[1][valid, h] > 0, tweets[0][valid, h] > 0
        both = s1 & s0
        diff = np.where(both, mean[1][valid, h] - mean[0][valid, h], 0.0).reshape(-1, draws)
        count = both.reshape(-1, draws).sum(axis=1)
        has = count > 0
        effect = float(diff.sum() / max(count.sum(), 1))
        # Monte Carlo SE of a ratio of sums over customer-weeks (delta method)
        resid = (diff.sum(axis=1) - effect * count)[has]
        se = float(np.sqrt(np.sum(resid**2)) / max(count.sum(), 1))
        p1, p0 = float(s1.mean()), float(s0.mean())
        # the difference in mean sentiment of each arm's tweeters (what the naive comparison
        # and, with equal shares, the Lee bounds target when monotonicity fails)
        tweeters = (float(np.mean(mean[1][valid, h][s1])) - float(np.mean(mean[0][valid, h][s0]))
                    if s1.any() and s0.any() else float("nan"))
        against = (s0 & ~s1) if p1 >= p0 else (s1 & ~s0)
        records.append({
            "lead": h, "effect_sentiment_always": effect, "se_sentiment_always": se,
            "difference_tweeters": tweeters,
            "share_tweeting_answered": p1, "share_tweeting_unanswered": p0,
            "share_always": float(both.mean()), "share_against_monotone": float(against.mean()),
            "share_only_answered": float((s1 & ~s0).mean()),
            "share_only_unanswered": float((s0 & ~s1).mean()),
            "n_eligible": int(valid.sum() // draws)})
    return pd.DataFrame(records)


def world_sentiment_effects(world: Any, sentiment_by_voice: Mapping[str, float],
                            horizon: int = 4, draws: int = 20,
                            rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`sentiment_effects` of a simulated world (its states, parameters and answer rule)."""
    from complaintpanel.simulate.world import answer_rule

    return sentiment_effects(
        world.states, world.params,
        answer_rule(world.brands, world.spec.endogenous_replies, world.params.n_states),
        [b.handle for b in world.brands], sentiment_by_voice, horizon=horizon, draws=draws,
        seed=world.spec.seed + 1, rows=rows, awareness_effect=world.spec.awareness_effect)


def selection_odds_ratios(states: pd.DataFrame, rule: AnswerByLogit, brands: Sequence[str],
                          rows: pd.DataFrame, propensity: np.ndarray | None = None
                          ) -> np.ndarray:
    """Odds ratio between the true and a design's propensity of each customer-week's answer.

    The simulator knows each customer-week's state, so it knows the true chance that at least
    one of its ``k`` complaints is answered, ``π = 1 − (1 − p)^k`` with ``p`` the rule's
    per-complaint probability for the brand and state. The marginal sensitivity model of
    :mod:`complaintpanel.estimate.sensitivity` bounds the odds ratio between ``π`` and the
    design's propensity ``e`` by Λ; this returns ``max(OR, 1/OR)`` per row, so a quantile of it
    is the Λ the world implies.

    Parameters
    ----------
    states : DataFrame
        The simulator's states (``customer_id``, ``period``, ``brand``, ``state``,
        ``complaints``).
    rule : AnswerRule
        The world's answer rule (an ``AnswerByLogit``: ``brand_logit``, ``state_shift``).
    brands : sequence of str
        The brands in the rule's order.
    rows : DataFrame
        ``customer_id`` and ``period`` of the customer-weeks (e.g. ``SensitivityResults.kept``).
    propensity : ndarray, optional
        The design's fitted propensity of ``rows``. Without it, the comparison is with the
        oracle propensity given the design's controls: the mean of ``π`` within each cell of
        brand × complaints × answered before × period over ``rows``.

    Returns
    -------
    ndarray
        ``max(OR, 1/OR) ≥ 1`` per row of ``rows``.
    """
    from scipy.special import expit

    keys = ["customer_id", "period"]
    frame = states.astype({"customer_id": str, "period": "int64"})
    wanted = rows[keys].astype({"customer_id": str, "period": "int64"})
    merged = wanted.merge(frame[[*keys, "brand", "state", "complaints", "redress"]], on=keys,
                          how="left", validate="one_to_one")
    if merged["state"].isna().any():
        raise ValueError("some rows have no simulated state")
    index = np.asarray(rule.brand_logit)[merged["brand"].map(
        {b: i for i, b in enumerate(brands)}).to_numpy()]
    shift = getattr(rule, "state_shift", None)
    if shift is not None:
        index = index + np.asarray(shift)[merged["state"].to_numpy(dtype=int)]
    k = np.maximum(merged["complaints"].to_numpy(dtype=float), 1.0)
    true = 1 - (1 - expit(index)) ** k
    if propensity is None:
        cell = [merged["brand"], merged["complaints"].clip(upper=20), merged["redress"] > 0,
                merged["period"]]
        propensity = pd.Series(true).groupby(cell).transform("mean").to_numpy()
    true = np.clip(true, 1e-12, 1 - 1e-12)
    fitted = np.clip(np.asarray(propensity, dtype=float), 1e-12, 1 - 1e-12)
    return np.exp(np.abs(np.log(true / (1 - true)) - np.log(fitted / (1 - fitted))))


def selection_lambda(odds_ratios: np.ndarray) -> dict[str, float]:
    """Summaries of :func:`selection_odds_ratios`: median, 90th, 95th, 99th pct and maximum."""
    q = np.quantile(odds_ratios, [0.5, 0.9, 0.95, 0.99])
    return {"p50": float(q[0]), "p90": float(q[1]), "p95": float(q[2]), "p99": float(q[3]),
            "max": float(np.max(odds_ratios))}


def world_selection_lambda(world: Any, rows: pd.DataFrame | None = None,
                           propensity: np.ndarray | None = None) -> dict[str, float]:
    """Return the Λ a simulated world's answers imply (:func:`selection_lambda`).

    ``rows`` defaults to every customer-week with a true complaint; ``propensity`` to the
    oracle propensity given the design's controls (see :func:`selection_odds_ratios`).
    """
    from complaintpanel.simulate.world import answer_rule

    if rows is None:
        rows = world.states.loc[world.states["complaints"] > 0, ["customer_id", "period"]]
    rule = answer_rule(world.brands, world.spec.endogenous_replies, world.params.n_states)
    return selection_lambda(selection_odds_ratios(
        world.states, rule, [b.handle for b in world.brands], rows, propensity))
