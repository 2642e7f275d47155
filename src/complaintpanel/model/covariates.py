"""The model's covariates from panel columns (redress, intervention, peer voice)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["add_hmm_covariates", "peer_voice_counts"]

def add_hmm_covariates(panel: pd.DataFrame) -> pd.DataFrame:
    """Derive the structural model's covariates from panel columns.

    The same definitions as :func:`step` (which draws the world from them), applied to a
    panel by the estimator (which conditions on them), so the two can never disagree.

    Parameters
    ----------
    panel : DataFrame
        One row per customer × brand × period with at least ``customer_id``, ``brand``,
        ``period``, ``answered_complaints``, ``peer_complaints`` and ``peer_compliments``.

    Returns
    -------
    DataFrame
        A copy sorted by customer, brand and period with three added columns:

        ``intervened``
            1 if the brand answered at least one of the customer's complaints in the period (I_t).
        ``redress``
            1 if a complaint of the customer was answered in an earlier period (R_t).
        ``peer_voice``
            Net voice of the brand's other customers in the period: (compliments − complaints)
            per other customer in the panel for that brand and period (0 when there is none).
    """
    required = {"customer_id", "brand", "period", "answered_complaints",
                "peer_complaints", "peer_compliments"}
    missing = sorted(required - set(panel.columns))
    if missing:
        raise KeyError(f"panel lacks column(s) {missing} needed for the structural model")
    out = panel.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)
    out["intervened"] = (out["answered_complaints"] > 0).astype("int8")
    # redress = answered in a strictly earlier period: running max of the lagged indicator
    # (the panel form of update_redress)
    shifted = out.groupby(["customer_id", "brand"], sort=False)["intervened"].shift(1)
    out["redress"] = (
        shifted.fillna(0).groupby([out["customer_id"], out["brand"]], sort=False).cummax()
    ).astype("int8")
    others = out.groupby(["brand", "period"], sort=False)["customer_id"].transform("size") - 1
    net = out["peer_compliments"] - out["peer_complaints"]
    out["peer_voice"] = np.where(others > 0, net / others.clip(lower=1), 0.0)
    return out


def peer_voice_counts(brand: np.ndarray, complaints: np.ndarray, compliments: np.ndarray,
                      n_brands: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peer complaints, peer compliments and peer voice of each active customer in one period.

    The same definition as :func:`add_hmm_covariates`, computed from arrays by :func:`step`:
    totals of the brand's customers minus the customer's own, and net voice per other customer.

    Parameters
    ----------
    brand : ndarray of int
        Brand index of each active customer.
    complaints, compliments : ndarray
        Her counts in the period.
    n_brands : int

    Returns
    -------
    peer_complaints, peer_compliments, peer_voice : ndarray
    """
    total_c = np.bincount(brand, weights=complaints, minlength=n_brands)
    total_p = np.bincount(brand, weights=compliments, minlength=n_brands)
    others = np.bincount(brand, minlength=n_brands)[brand] - 1
    peer_c = total_c[brand] - complaints
    peer_p = total_p[brand] - compliments
    voice = np.where(others > 0, (peer_p - peer_c) / np.maximum(others, 1), 0.0)
    return peer_c, peer_p, voice
