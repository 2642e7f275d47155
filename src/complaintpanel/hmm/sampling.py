"""Draw panels from a relationship HMM (the generative side of the estimator).

The conventions are those of :mod:`complaintpanel.simulate`, so a panel sampled here and a
world simulated there come from the same model: customers arrive during the first third of the
window and stay to its end; at arrival (first contact) the state is drawn from π and, under
``first_contact="state"``, the first week's complaints and compliments are redrawn *for that
state* until at least one is positive (under ``"joint"`` the state is redrawn too); brands answer
each complaint independently; ``I_t``, ``R_t`` and peer voice follow
:func:`complaintpanel.model.add_hmm_covariates`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit, logsumexp

from complaintpanel.hmm.parametrisation import ModelSpec, NaturalParams
from complaintpanel.model import RelationshipParams, peer_voice_counts, transition_matrices

__all__ = ["draw_states", "natural_from_relationship", "sample_panel"]

SUPPORTED = {"redress", "intervened", "peer_voice", "unanswered_complaints"}


def natural_from_relationship(params: RelationshipParams, spec: ModelSpec) -> NaturalParams:
    """Natural parameters of ``spec`` from the shared :class:`RelationshipParams`.

    Coefficients of covariates absent from ``spec`` must be zero.

    Raises
    ------
    ValueError
        ``params`` has a non-zero coefficient the specification cannot carry, or ``spec``
        has covariates :class:`RelationshipParams` does not describe.
    """
    coef = {"redress": params.gamma, "intervened": params.delta, "peer_voice": params.eta,
            "unanswered_complaints": params.kappa}
    used = set(spec.complaint_covariates) | set(spec.transition_covariates)
    for col, value in coef.items():
        if value != 0 and col not in used:
            raise ValueError(f"params set the coefficient of `{col}` to {value} but the "
                             "specification does not include it")
    extra = ((set(spec.complaint_covariates) - {"redress"})
             | (set(spec.transition_covariates) - (set(coef) - {"redress"}))
             | set(spec.compliment_covariates) | set(spec.initial_covariates))
    if extra or spec.sentiment or spec.reply_model:
        raise ValueError("RelationshipParams only describe the core specification "
                         f"(unsupported here: {sorted(extra) or 'sentiment/reply model'})")
    pi = np.asarray(params.initial_probs, dtype=float)
    if np.any(pi <= 0):
        raise ValueError("initial probabilities must be positive to be written as logits")
    return NaturalParams(
        a=np.asarray(params.complaint_log_rate, dtype=float),
        c=np.asarray(params.compliment_log_rate, dtype=float),
        beta_c=np.array([coef[col] for col in spec.complaint_covariates], dtype=float),
        beta_p=np.zeros(0),
        beta_tr=np.array([coef[col] for col in spec.transition_covariates], dtype=float),
        tau=params.tau,
        init=np.log(pi[1:] / pi[0])[:, None],
        sent_mean=np.zeros(0), sent_log_sd=np.zeros(0),
        reply_brand=np.zeros(0), reply_state=np.zeros(0),
    )


def draw_states(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of an (n, K) probability array (inverse CDF)."""
    u = rng.random(probs.shape[0])
    return (u[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)


def sample_panel(nat: NaturalParams, spec: ModelSpec, n_customers: int, n_periods: int, *,
                 n_brands: int = 3, reply_probs: tuple[float, ...] | None = None,
                 random_state: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Draw a panel (with the true states) from the relationship HMM.

    Parameters
    ----------
    nat : NaturalParams
    spec : ModelSpec
        Only the covariates ``redress`` (complaints) and ``intervened``, ``peer_voice``,
        ``unanswered_complaints`` (transitions) can be generated; optional sentiment and
        reply model are supported; no initial covariates.
    n_customers, n_periods : int
    n_brands : int
        Brands, each customer talking to one. Ignored when the reply model sets the brands.
    reply_probs : tuple of float, optional
        Probability that each brand answers a complaint (default evenly spread over
        [0.2, 0.8], as in DESIGN.md §5). With the reply model, its own ρ and ψ are used.
    random_state : int or Generator, optional

    Returns
    -------
    DataFrame
        Columns as ``truth/states.parquet``: ``customer_id``, ``brand``, ``period``,
        ``state``, ``complaints``, ``compliments``, ``answered_complaints``,
        ``peer_complaints``, ``peer_compliments``, ``intervened``, ``redress``,
        ``peer_voice`` (+ ``sentiment_mean`` when modelled).
    """
    unsupported = (set(spec.complaint_covariates) | set(spec.transition_covariates)) - SUPPORTED
    if unsupported or spec.compliment_covariates or spec.initial_covariates:
        raise ValueError(f"cannot generate covariate(s) {sorted(unsupported)} or initial/"
                         "compliment covariates; sample from the core specification")
    rng = np.random.default_rng(random_state)
    k, n, t_max = spec.n_states, n_customers, n_periods
    brands = spec.brands if spec.reply_model else tuple(f"brand{b}" for b in range(n_brands))
    n_b = len(brands)
    if reply_probs is None:
        reply_probs = tuple(np.linspace(0.2, 0.8, n_b)) if n_b > 1 else (0.5,)
    reply_logit = logit(np.asarray(reply_probs, dtype=float))
    coef_c = dict(zip(spec.complaint_covariates, nat.beta_c, strict=True))
    coef_t = dict(zip(spec.transition_covariates, nat.beta_tr, strict=True))
    logits0 = np.concatenate([[0.0], nat.init[:, 0]])
    pi = np.exp(logits0 - logsumexp(logits0))
    reply_state = np.concatenate([[0.0], nat.reply_state]) if spec.reply_model else None

    arrival = rng.integers(0, max(1, t_max // 3), size=n)
    brand = rng.integers(0, n_b, size=n)
    cols = {name: np.zeros((n, t_max)) for name in
            ("complaints", "compliments", "answered", "peer_c", "peer_p", "peer_voice",
             "intervened", "redress", "sentiment")}
    state = np.full((n, t_max), -1, dtype=np.int64)
    ever = np.zeros(n, dtype=bool)

    def rates(s: np.ndarray, redress: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.exp(nat.a[s] + coef_c.get("redress", 0.0) * redress), np.exp(nat.c[s]))

    for t in range(t_max):
        new = arrival == t
        old = arrival < t
        state[new, t] = draw_states(rng, np.broadcast_to(pi, (int(new.sum()), k)))
        if old.any():
            prev = t - 1
            shift_ = (coef_t.get("intervened", 0.0) * cols["intervened"][old, prev]
                      + coef_t.get("peer_voice", 0.0) * cols["peer_voice"][old, prev]
                      + coef_t.get("unanswered_complaints", 0.0)
                      * (cols["complaints"][old, prev] - cols["answered"][old, prev]))
            rows = transition_matrices(nat.tau, shift_)[np.arange(old.sum()), state[old, prev]]
            state[old, t] = draw_states(rng, rows)
        active = arrival <= t
        cols["redress"][active, t] = ever[active]
        s = state[active, t]
        rate_c, rate_p = rates(s, cols["redress"][active, t])
        comp = rng.poisson(rate_c)
        compl = rng.poisson(rate_p)
        first = new[active]
        if spec.first_contact != "none":
            silent = first & (comp + compl == 0)
            while silent.any():
                if spec.first_contact == "joint":
                    s[silent] = draw_states(rng, np.broadcast_to(pi, (int(silent.sum()), k)))
                    rate_c, rate_p = rates(s, cols["redress"][active, t])
                comp[silent] = rng.poisson(rate_c[silent])
                compl[silent] = rng.poisson(rate_p[silent])
                silent = first & (comp + compl == 0)
            state[active, t] = s
        cols["complaints"][active, t] = comp
        cols["compliments"][active, t] = compl
        b = brand[active]
        if spec.reply_model:
            p_answer = expit(nat.reply_brand[b] + reply_state[s])
        else:
            p_answer = expit(reply_logit[b])
        answered = rng.binomial(comp, p_answer)
        cols["answered"][active, t] = answered
        cols["intervened"][active, t] = answered > 0
        ever[active] |= answered > 0
        if spec.sentiment:
            voiced = comp + compl > 0
            draw = nat.sent_mean[s] + np.exp(nat.sent_log_sd[s]) * rng.standard_normal(s.size)
            cols["sentiment"][active, t] = np.where(voiced, draw, np.nan)
        peer_c, peer_p, voice = peer_voice_counts(b, comp, compl, n_b)
        cols["peer_c"][active, t] = peer_c
        cols["peer_p"][active, t] = peer_p
        cols["peer_voice"][active, t] = voice

    i_idx, t_idx = np.nonzero(state >= 0)
    frame = pd.DataFrame({
        "customer_id": np.char.add("c", i_idx.astype(str)),
        "brand": np.asarray(brands, dtype=object)[brand[i_idx]],
        "period": t_idx.astype(np.int64),
        "state": state[i_idx, t_idx],
        "complaints": cols["complaints"][i_idx, t_idx].astype(np.int64),
        "compliments": cols["compliments"][i_idx, t_idx].astype(np.int64),
        "answered_complaints": cols["answered"][i_idx, t_idx].astype(np.int64),
        "peer_complaints": cols["peer_c"][i_idx, t_idx].astype(np.int64),
        "peer_compliments": cols["peer_p"][i_idx, t_idx].astype(np.int64),
        "intervened": cols["intervened"][i_idx, t_idx].astype(np.int8),
        "redress": cols["redress"][i_idx, t_idx].astype(np.int8),
        "peer_voice": cols["peer_voice"][i_idx, t_idx],
    })
    frame["unanswered_complaints"] = frame["complaints"] - frame["answered_complaints"]
    if spec.sentiment:
        frame[spec.sentiment] = cols["sentiment"][i_idx, t_idx]
    return frame.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)
