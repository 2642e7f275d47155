"""Event studies around a customer's first reply from the brand (staggered adoption).

Two estimators side by side:

* ``did2s`` — Gardner's (2022) two-stage difference-in-differences (pyfixest ``did2s``): pair
  and period effects are estimated on not-yet-answered observations only, then the
  residualised outcome is regressed on event-time indicators; robust to effects that differ
  across cohorts (Borusyak, Jaravel & Spiess 2024 give the same estimator). Pairs answered at
  their very first contact have no unanswered period, so their pair effect cannot be
  estimated and they are left out (the count is reported);
* ``twfe`` — the naive two-way fixed-effects event study, which mixes cohorts with weights that
  can be negative when effects are heterogeneous (Sun & Abraham 2021).

Event times beyond ±window are binned into the end bins; never-answered pairs sit in the
reference bin (−1). Standard errors are clustered by customer. pyfixest's saturated
Sun–Abraham estimator was tried first and rejected: on this unbalanced panel (pairs enter at
first contact) its cohort-share aggregation returned standard errors in the hundreds for the
post-period coefficients, and it took minutes on the default world.

The leads (event time < 0) show the pre-period pattern. Here, unlike a textbook policy
adoption, the "treatment" (a reply) follows a complaint, which follows a worsening
relationship, and event time 0 contains the complaint that was answered; pre-trends and a
spike at 0 are expected and are reported, not hidden.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyfixest as pf

from complaintpanel.estimate.results import NotIdentifiedError

__all__ = ["event_study"]


def event_study(data: pd.DataFrame, outcome: str = "complaints", window: int = 4,
                estimators: tuple[str, ...] = ("did2s", "twfe")) -> pd.DataFrame:
    """Event-study coefficients of ``outcome`` around the first reply.

    Parameters
    ----------
    data : DataFrame
        The panel (with ``pair_id`` from :func:`~complaintpanel.estimate.add_model_columns`).
    outcome : str
        Outcome column (``complaints``, ``sentiment_mean``, …).
    window : int
        Event times −window … +window are reported; the ends are binned.
    estimators : tuple of str
        Any of ``"did2s"`` and ``"twfe"``.

    Returns
    -------
    DataFrame
        Columns ``estimator``, ``event_time``, ``estimate``, ``se``, ``ci_lower``,
        ``ci_upper``, ``nobs``; event time −1 is the reference (0 by construction).
    """
    sample = data.dropna(subset=[outcome]).copy()
    if sample["first_reply_period"].notna().sum() == 0:
        raise NotIdentifiedError("no customer was ever answered: no event to study")
    sample["t"] = sample["period"].astype(int) + 1
    sample["g"] = sample["first_reply_period"].fillna(-1).astype(int) + 1  # 0 = never
    rel = (sample["t"] - sample["g"]).where(sample["g"] > 0)
    sample["event_bin"] = rel.clip(-window - 1, window + 1).fillna(-1).astype(int)
    sample["is_treated"] = ((sample["g"] > 0) & (sample["t"] >= sample["g"])).astype(int)
    frames = []
    if "did2s" in estimators:
        frames.append(_did2s(sample, outcome, window))
    if "twfe" in estimators:
        frames.append(_twfe(sample, outcome, window))
    return pd.concat(frames, ignore_index=True)


def _tidy_to_frame(fit: object, estimator: str, window: int, nobs: int) -> pd.DataFrame:
    tidy = fit.tidy().reset_index()  # type: ignore[attr-defined]
    tidy["event_time"] = tidy["Coefficient"].str.extract(r"::(-?\d+)")[0].astype(int)
    tidy = tidy[tidy["event_time"].between(-window, window)]
    out = pd.DataFrame({
        "estimator": estimator, "event_time": tidy["event_time"].to_numpy(),
        "estimate": tidy["Estimate"].to_numpy(), "se": tidy["Std. Error"].to_numpy(),
        "ci_lower": tidy["2.5%"].to_numpy(), "ci_upper": tidy["97.5%"].to_numpy(),
    })
    reference = pd.DataFrame({"estimator": [estimator], "event_time": [-1], "estimate": [0.0],
                              "se": [0.0], "ci_lower": [0.0], "ci_upper": [0.0]})
    out = pd.concat([out[out["event_time"] != -1], reference], ignore_index=True)
    out["nobs"] = nobs
    return out.sort_values("event_time").reset_index(drop=True).astype(
        {"estimate": float, "se": float, "ci_lower": float, "ci_upper": float,
         "event_time": np.int64})


def _did2s(sample: pd.DataFrame, outcome: str, window: int) -> pd.DataFrame:
    entry = sample.groupby("pair_id")["t"].transform("min")
    untreated = sample["is_treated"] == 0
    # A pair effect is estimable only from at least two unanswered periods (one would be a
    # singleton, which pyfixest drops and its did2s variance then cannot align).
    n_untreated = untreated.groupby(sample["pair_id"]).transform("sum")
    usable = sample[~((sample["g"] > 0) & (sample["g"] <= entry)) & (n_untreated >= 2)]
    if usable["is_treated"].nunique() < 2:
        raise NotIdentifiedError("did2s: no pair has both unanswered and answered periods")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.did2s(usable, yname=outcome, first_stage="~ 0 | pair_id + t",
                       second_stage="~ i(event_bin, ref=-1)", treatment="is_treated",
                       cluster="customer_id")
    return _tidy_to_frame(fit, "did2s", window, len(usable))


def _twfe(sample: pd.DataFrame, outcome: str, window: int) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = pf.feols(f"{outcome} ~ i(event_bin, ref=-1) | pair_id + t", data=sample,
                       vcov={"CRV1": "customer_id"})
    return _tidy_to_frame(fit, "twfe", window, int(fit._N))
