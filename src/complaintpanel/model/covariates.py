"""The model's covariates from panel columns (redress, intervention, peer voice)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["add_hmm_covariates", "peer_voice_counts", "redress_stock"]


def redress_stock(frame: pd.DataFrame, decay: float) -> np.ndarray:
    """Decaying redress stock ``R_t = Σ_{s<t} ρ^{t−1−s} I_s`` of every panel row.

    The panel form of :func:`complaintpanel.model.update_redress` with a decay: the recursion
    ``R_{t+1} = ρ R_t + I_t`` run along each customer–brand sequence (a gap of ``g`` periods
    between two rows, i.e. periods without a row, counts as ``g − 1`` periods without an
    answer: ``R_t = ρ^{g−1}(ρ R_prev + I_prev)``). It starts at 0 at the first row.

    Parameters
    ----------
    frame : DataFrame
        Sorted by ``customer_id``, ``brand``, ``period``, with ``intervened`` (I_t).
    decay : float
        ρ in (0, 1].

    Returns
    -------
    ndarray of float
        ``R_t`` of each row, in the frame's order.
    """
    if not 0 < decay <= 1:
        raise ValueError(f"redress decay must lie in (0, 1], not {decay!r}")
    keys = [frame["customer_id"], frame["brand"]]
    position = frame.groupby(keys, sort=False).cumcount().to_numpy()
    intervened = frame["intervened"].to_numpy(dtype=float)
    period = frame["period"].to_numpy(dtype=float)
    stock = np.zeros(len(frame))
    # one vector step per position along the sequences (rows are sorted, so row − 1 is the
    # same sequence's previous row wherever position > 0)
    for pos in range(1, int(position.max()) + 1 if len(frame) else 0):
        rows = np.flatnonzero(position == pos)
        prev = rows - 1
        gap = period[rows] - period[prev]
        stock[rows] = decay ** (gap - 1) * (decay * stock[prev] + intervened[prev])
    return stock


def add_hmm_covariates(panel: pd.DataFrame, redress_decay: float | None = None
                       ) -> pd.DataFrame:
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
            1 if a complaint of the customer was answered in an earlier period (R_t); with
            ``redress_decay``, the stock ``Σ_{s<t} ρ^{t−1−s} I_s``.
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
    if redress_decay is not None:
        out["redress"] = redress_stock(out, redress_decay)
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
