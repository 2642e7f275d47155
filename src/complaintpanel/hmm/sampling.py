"""Draw panels from a relationship HMM (the generative side of the estimator).

Panels are drawn by the structural model's own step (:func:`complaintpanel.model.step`, run
over periods by :func:`complaintpanel.model.simulate_histories`), the one the simulator
(:mod:`complaintpanel.simulate`) uses, with its conventions: customers arrive during the first
third of the window and stay to its end; at arrival (first contact) the state is drawn from π
and the first week is conditioned as ``ModelSpec.first_contact`` says; brands answer each
complaint independently; ``I_t``, ``R_t`` and peer voice follow
:func:`complaintpanel.model.add_hmm_covariates`. With the same generator, the simulator's
parameters and its brands' answer rule, a sample equals the simulated world's histories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import logit

from complaintpanel.model import (
    AnswerByLogit,
    AnswerRule,
    GeneratorDraws,
    ModelParams,
    simulate_histories,
)

__all__ = ["sample_panel"]

SUPPORTED = {"redress", "intervened", "peer_voice", "unanswered_complaints"}


def sample_panel(params: ModelParams, n_customers: int, n_periods: int, *,
                 n_brands: int = 3, reply_probs: tuple[float, ...] | None = None,
                 answer_rule: AnswerRule | None = None,
                 random_state: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Draw a panel (with the true states) from the relationship model.

    Parameters
    ----------
    params : ModelParams
        Parameters and specification. Only the covariates ``redress`` (complaints) and
        ``intervened``, ``peer_voice``, ``unanswered_complaints`` (transitions) can be
        generated; optional sentiment and reply model are supported; no initial covariates.
        Neutral tweets are drawn when the parameters carry neutral rates.
    n_customers, n_periods : int
    n_brands : int
        Brands, each customer talking to one. Ignored when the reply model sets the brands.
    reply_probs : tuple of float, optional
        Probability that each brand answers a complaint (default evenly spread over
        [0.2, 0.8], as in DESIGN.md §5). With the reply model, its own ρ and ψ are used.
    answer_rule : AnswerRule, optional
        How brands answer, overriding the two rules above (brand indices ``0..n_brands−1``).
    random_state : int or Generator, optional

    Returns
    -------
    DataFrame
        Columns as ``truth/states.parquet``: ``customer_id``, ``brand``, ``period``,
        ``state``, ``complaints``, ``compliments``, ``answered_complaints``,
        ``peer_complaints``, ``peer_compliments``, ``intervened``, ``redress``,
        ``peer_voice``, ``unanswered_complaints`` (+ ``neutral`` and ``sentiment_mean`` when
        modelled).
    """
    spec = params.spec
    unsupported = (set(spec.complaint_covariates) | set(spec.transition_covariates)) - SUPPORTED
    if unsupported or spec.compliment_covariates or spec.initial_covariates:
        raise ValueError(f"cannot generate covariate(s) {sorted(unsupported)} or initial/"
                         "compliment covariates; sample from the core specification")
    rng = np.random.default_rng(random_state)
    n, t_max = n_customers, n_periods
    brands = spec.brands if spec.reply_model else tuple(f"brand{b}" for b in range(n_brands))
    n_b = len(brands)
    if answer_rule is None and spec.reply_model:
        answer_rule = AnswerByLogit.from_params(params)
    elif answer_rule is None:
        if reply_probs is None:
            reply_probs = tuple(np.linspace(0.2, 0.8, n_b)) if n_b > 1 else (0.5,)
        answer_rule = AnswerByLogit(brand_logit=logit(np.asarray(reply_probs, dtype=float)))

    arrival = rng.integers(0, max(1, t_max // 3), size=n)
    brand = rng.integers(0, n_b, size=n)
    h = simulate_histories(params, arrival, brand, t_max, answer_rule, GeneratorDraws(rng))

    i_idx, t_idx = np.nonzero(h.state >= 0)
    frame = pd.DataFrame({
        "customer_id": np.char.add("c", i_idx.astype(str)),
        "brand": np.asarray(brands, dtype=object)[brand[i_idx]],
        "period": t_idx.astype(np.int64),
        "state": h.state[i_idx, t_idx].astype(np.int64),
        "complaints": h.complaints[i_idx, t_idx].astype(np.int64),
        "compliments": h.compliments[i_idx, t_idx].astype(np.int64),
        "answered_complaints": h.answered[i_idx, t_idx].astype(np.int64),
        "peer_complaints": h.peer_complaints[i_idx, t_idx].astype(np.int64),
        "peer_compliments": h.peer_compliments[i_idx, t_idx].astype(np.int64),
        "intervened": h.intervened[i_idx, t_idx].astype(np.int8),
        "redress": (h.redress[i_idx, t_idx].astype(np.int8) if spec.redress_decay is None
                    else h.redress[i_idx, t_idx]),  # the stock is real-valued
        "peer_voice": h.peer_voice[i_idx, t_idx],
    })
    frame["unanswered_complaints"] = frame["complaints"] - frame["answered_complaints"]
    if h.neutral is not None:
        frame["neutral"] = h.neutral[i_idx, t_idx].astype(np.int64)
    if h.sentiment is not None:
        frame[spec.sentiment] = h.sentiment[i_idx, t_idx]
    return frame.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)
