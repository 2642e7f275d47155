"""The rival mechanism: whether a brand's public answers raise *other* customers' complaints.

Sun, Gao & Rui (2021, JMIS) argue that replies raise complaints through *awareness* — other
customers see that the brand answers and complain to it — rather than through the answered
customer's own learning (the squeaky wheel, γ, which the design of :mod:`.design` measures).
This module tests the awareness channel on a brand × period panel (issue 21, item 6).

**Regression.** For brand ``b`` and period ``t``: ``A_bt`` = the share of the brand's
customers in ``t`` (its panel rows) whose complaint it answered in ``t`` — how visibly it
answers, the simulator's awareness measure (``[simulate] awareness_effect``); the outcome
``Y_b,t+1`` = mean complaints in ``t+1`` of the brand's customers it could not have answered
in ``t``: those with no complaint and no reply in ``t`` (``group="silent"``), or in addition
never answered before (``group="never_answered"``). Both groups are fixed before the brand's
answers of ``t`` are drawn, so the answers cannot select who is in them. Then

    Y_b,t+1 = α_b + λ_t + β · A_bt + θ_b · C_bt + ε_bt,

with brand and period fixed effects and a brand-specific slope on ``C_bt`` (complaints per
customer in ``t``): a brand answers a share of its complaints, so ``A_bt`` moves with the
complaint level, which is persistent; given ``C_bt``, what is left of ``A_bt`` is which
complaints happened to be answered. Weighted by the outcome group's size. ``β`` is the
number of additional complaints per silent customer in ``t+1`` per unit of answered share
(0 → 1) in ``t``.

**Inference: randomisation inference**, because there are few brands (3 in the default
world: a wild cluster bootstrap by brand would have 2³ = 8 distinct Rademacher draws, and
``wildboottest`` is not a dependency). Under the null of no awareness and answers that depend
only on the number of complaints (each answered with the brand's own probability — the
design's identifying assumption at brand level), ``Y`` does not depend on the answer draws of
``t`` given the complaints; redrawing, for the customers with ``c`` complaints in ``t``,
whether each was answered with probability ``1 − (1 − p̂_b)^c`` (``p̂_b`` the brand's
answered share of complaints over the window) gives the null distribution of ``β``. Because
only the answer draws given the complaints vary, the test's power does not grow with the
number of customers (outcome noise and answer noise both shrink as 1/√n) but with the number
of brand-periods: a test for worlds with many brands or long windows. The p-value is
two-sided, ``(1 + #{|β*| ≥ |β|}) / (1 + draws)``; the 95% interval inverts the test under a
constant linear effect (``Y − b·A`` has no effect). By Frisch–Waugh–Lovell every draw is one
inner product (the controls do not change between draws), so thousands of draws are cheap.
With brands that triage (endogenous replies) the null distribution is wrong: say so in
applications.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from complaintpanel.results import EffectResults, NotIdentifiedError

__all__ = ["awareness_panel", "awareness_test"]

RANDOMISATION_DRAWS = 999
Group = Literal["silent", "never_answered"]


def awareness_panel(data: pd.DataFrame, group: Group = "silent") -> pd.DataFrame:
    """Aggregate the customer panel to brand × period rows for :func:`awareness_test`.

    Parameters
    ----------
    data : DataFrame
        The panel (``brand``, ``customer_id``, ``period``, ``complaints``,
        ``answered_complaints``, ``replies``, ``replies_before``).
    group : {"silent", "never_answered"}
        Whose complaints in ``t+1`` are the outcome: the brand's customers with no complaint
        and no reply in ``t`` ("silent"), or of those the ones never answered before ``t``.

    Returns
    -------
    DataFrame
        One row per brand and period ``t`` with a next period: ``customers`` (panel rows of
        the brand in ``t``), ``complaints`` and ``answered_complaints`` (totals in ``t``),
        ``answered`` (customers with an answered complaint), ``answered_per_customer``
        (``A``), ``complaints_per_customer`` (``C``), ``group_size`` and ``outcome`` (the
        group's mean complaints in ``t+1``).
    """
    cells = data.assign(answered_customer=data["answered_complaints"] > 0).groupby(
        ["brand", "period"], observed=True).agg(
        customers=("customer_id", "size"), complaints=("complaints", "sum"),
        answered_complaints=("answered_complaints", "sum"),
        answered=("answered_customer", "sum")).reset_index()
    silent = (data["complaints"] == 0) & (data["replies"] == 0)
    if group == "never_answered":
        silent &= data["replies_before"] == 0
    elif group != "silent":
        raise ValueError(f"group must be 'silent' or 'never_answered', not {group!r}")
    members = data.loc[silent, ["customer_id", "brand", "period"]]
    following = data[["customer_id", "brand", "period", "complaints"]].assign(
        period=data["period"] - 1).rename(columns={"complaints": "next_complaints"})
    members = members.merge(following, on=["customer_id", "brand", "period"], how="inner")
    outcome = members.groupby(["brand", "period"], observed=True).agg(
        group_size=("next_complaints", "size"), outcome=("next_complaints", "mean"))
    out = cells.merge(outcome.reset_index(), on=["brand", "period"], how="inner")
    out["answered_per_customer"] = out["answered"] / out["customers"]
    out["complaints_per_customer"] = out["complaints"] / out["customers"]
    return out.sort_values(["brand", "period"]).reset_index(drop=True)


def _complaint_profile(data: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Count customers by brand, period and number of complaints (> 0), for the null draws."""
    complained = data[data["complaints"] > 0]
    profile = complained.groupby(["brand", "period", "complaints"], observed=True).size()
    profile = profile.rename("n").reset_index()
    row = cells.reset_index()[["brand", "period", "index"]].rename(columns={"index": "cell"})
    return profile.merge(row, on=["brand", "period"], how="inner")


def _controls(cells: pd.DataFrame) -> np.ndarray:
    brand = pd.get_dummies(cells["brand"].astype(str), dtype=float)
    period = pd.get_dummies(cells["period"], dtype=float).iloc[:, 1:]
    slopes = brand.mul(cells["complaints_per_customer"], axis=0)
    return np.column_stack([brand.to_numpy(), period.to_numpy(), slopes.to_numpy()])


def awareness_test(data: pd.DataFrame, group: Group = "silent",
                   draws: int = RANDOMISATION_DRAWS, seed: int = 0) -> EffectResults:
    """Test whether a brand's answers in ``t`` raise its other customers' complaints in ``t+1``.

    Parameters
    ----------
    data : DataFrame
        The panel (see :func:`awareness_panel`).
    group : {"silent", "never_answered"}
        The outcome group (:func:`awareness_panel`).
    draws : int
        Randomisation draws of the brands' answers under the null.
    seed : int

    Returns
    -------
    EffectResults
        One term, ``answered_per_customer``: the estimate ``β``, its randomisation standard
        error (the SD of ``β`` over the null draws) as ``bse``, and in the term table
        ``pvalue_randomisation``, ``ci_lower_randomisation`` and ``ci_upper_randomisation``
        (the inverted test), ``nobs`` (brand-periods) and ``n_brands``.

    Raises
    ------
    NotIdentifiedError
        With fewer than two brands or periods, or no variation in the answers left after the
        controls.
    """
    cells = awareness_panel(data, group)
    n_brands, n_periods = cells["brand"].nunique(), cells["period"].nunique()
    if n_brands < 2 or n_periods < 3:
        raise NotIdentifiedError(f"{n_brands} brand(s) and {n_periods} period(s): the awareness "
                                 "test needs at least 2 brands and 3 periods")
    x = _controls(cells)
    w = cells["group_size"].to_numpy(dtype=float)
    sw = np.sqrt(w)

    # orthonormal basis of the weighted controls (SVD: safe if they are collinear)
    basis, singular, _ = np.linalg.svd(x * sw[:, None], full_matrices=False)
    basis = basis[:, singular > singular.max() * 1e-10]

    def residual(v: np.ndarray) -> np.ndarray:
        # weighted residual of v (n,) or (n, k) on the controls, in sqrt-weight units
        vw = v * (sw if v.ndim == 1 else sw[:, None])
        return vw - basis @ (basis.T @ vw)

    y_t = residual(cells["outcome"].to_numpy(dtype=float))
    a_t = residual(cells["answered_per_customer"].to_numpy(dtype=float))
    scale = float(a_t @ a_t)
    if scale < 1e-14 * max(1.0, float(np.sum(w))):
        raise NotIdentifiedError("the brands' answers do not vary beyond the controls")
    beta = float(a_t @ y_t) / scale

    # the null: each complaining customer answered with prob. 1 − (1 − p̂_b)^complaints
    totals = data.groupby("brand", observed=True)[["answered_complaints", "complaints"]].sum()
    p_brand = totals["answered_complaints"] / totals["complaints"].clip(lower=1)
    profile = _complaint_profile(data, cells)
    chance = 1.0 - (1.0 - profile["brand"].map(p_brand).to_numpy(dtype=float)) ** profile[
        "complaints"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    answered = rng.binomial(profile["n"].to_numpy()[None, :].repeat(draws, axis=0), chance)
    to_cell = sp.csr_matrix((np.ones(len(profile)), (np.arange(len(profile)),
                                                     profile["cell"].to_numpy())),
                            shape=(len(profile), len(cells)))
    drawn = np.asarray(to_cell.T @ answered.T.astype(float)).T  # draws × cells
    drawn /= cells["customers"].to_numpy()[None, :]
    a_star = residual(drawn.T)  # rows × draws
    denom = np.sum(a_star * a_star, axis=0)
    slope_y = (a_star.T @ y_t) / denom  # β* under the null for Y
    slope_a = (a_star.T @ a_t) / denom  # how β* moves with b in Y − b·A
    pvalue = float((1 + np.sum(np.abs(slope_y) >= abs(beta))) / (1 + draws))

    def pvalue_at(b: float) -> float:
        null = slope_y - b * slope_a
        return float((1 + np.sum(np.abs(null) >= abs(beta - b))) / (1 + draws))

    se = float(np.std(slope_y, ddof=1))
    grid = np.sort(np.append(beta + se * np.linspace(-6, 6, 241), 0.0))
    accepted = grid[[pvalue_at(b) > 0.05 for b in grid]]
    ci = (float(accepted.min()), float(accepted.max())) if accepted.size else (beta, beta)
    name = "answered_per_customer"
    terms = pd.DataFrame({
        "nobs": [len(cells)], "n_brands": [n_brands], "group": [group],
        "pvalue_randomisation": [pvalue], "ci_lower_randomisation": [ci[0]],
        "ci_upper_randomisation": [ci[1]], "draws": [draws]}, index=[name])
    return EffectResults(
        model="awareness_test", estimator="WLS on brand × period cells, randomisation inference",
        params=pd.Series([beta], index=[name]), bse=pd.Series([se], index=[name]),
        cov=pd.DataFrame([[se**2]], index=[name], columns=[name]), nobs=len(cells),
        terms=terms, n_clusters=None, dof=None,
        cov_type="randomisation inference (answers redrawn at the brand's answer rate)",
        info={"estimand": "additional complaints per customer in t+1 (customers with no "
                          "complaint and no reply in t"
                          + (", never answered before" if group == "never_answered" else "")
                          + ") per unit of the brand's answered share of customers in t",
              "controls": "brand and period fixed effects, brand × complaints per customer "
                          "in t; weights: outcome group size",
              "inference": f"randomisation inference, {draws} draws of which complaining "
                           "customers were answered (prob. 1 − (1 − brand's answer rate)^"
                           "complaints); two-sided p-value; 95% interval by test inversion "
                           "(constant linear effect)",
              "pvalue_normal": round(float(2 * stats.norm.sf(abs(beta / se))), 6)})
