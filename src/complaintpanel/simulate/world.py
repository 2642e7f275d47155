"""The simulator: a world drawn from the structural model, written as raw TWCS data.

This is the embedded default data of the package (DESIGN.md §5). Customers arrive at staggered
weeks and talk to one of several brands. Each week is one step of the structural model
(:func:`complaintpanel.model.step`, from one sequential generator): a customer's latent
relationship state drives how many complaints, compliments and neutral questions she writes;
the brand answers each complaint with its own probability (optionally depending on the latent
state, :func:`answer_rule`); an answered complaint moves the relationship (δ) and teaches the
customer that complaining works (γ); the net voice of the brand's other customers moves it too
(η). Reply latencies, replies to other tweets and thread links are drawn afterwards, outside
the model.

The world is then *written as text*: every tweet gets a body from the phrase banks
(:mod:`complaintpanel.simulate.phrases`, with a controlled share of ambiguous texts), a
timestamp, and thread links, in the exact schema of the Kaggle "Customer Support on Twitter"
file, so the whole pipeline runs from raw text. The truth (parameters, latent states, true
voice) is written beside it.

Conventions
-----------
* Week ``t`` runs from ``start_date + 7t days`` (a Monday) for seven days, UTC.
* A customer's first week ("arrival") is her first contact: its complaints and compliments are
  drawn conditional on at least one of them, so a panel that starts at first contact starts
  exactly at arrival, and the structural likelihood can condition on it exactly.
* ``I_t`` (intervened) = the brand answered at least one of her complaints in week ``t``;
  ``R_t`` (redress) = that happened in an earlier week (``[simulate] redress = "binary"``, the
  default) or the decaying stock ``Σ_{s<t} ρ^{t−1−s} I_s`` (``redress = "stock"``, ρ =
  ``redress_decay``); peer voice per
  :func:`complaintpanel.model.add_hmm_covariates`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit

from complaintpanel.config import SimulateConfig
from complaintpanel.model import (
    AnswerByLogit,
    GeneratorDraws,
    Histories,
    ModelParams,
    default_params,
    simulate_histories,
    state_names,
)
from complaintpanel.runtime.io import atomic_path, write_json, write_parquet
from complaintpanel.simulate import phrases
from complaintpanel.simulate.truth_effects import answer_effects, world_selection_lambda

__all__ = [
    "ENDOGENOUS_LOGIT_SHIFT",
    "TWCS_COLUMNS",
    "BrandPolicy",
    "World",
    "answer_rule",
    "brand_policies",
    "customer_effects",
    "delta_classes",
    "simulate_world",
    "timed_simulation",
    "with_redress",
    "write_twcs_csv",
    "write_world",
]

TWCS_COLUMNS: tuple[str, ...] = (
    "tweet_id", "author_id", "inbound", "created_at", "text",
    "response_tweet_id", "in_response_to_tweet_id",
)
TWCS_TIME_FORMAT = "%a %b %d %H:%M:%S +0000 %Y"

# Behaviour of the world that is not part of the structural model, fixed here and recorded in
# truth/params.json so every number is documented. (Neutral questions are part of the model:
# ModelParams.neutral.)
REPLY_FACTOR_NEUTRAL = 0.8  # brands answer questions at 0.8 × their complaint reply probability
REPLY_FACTOR_COMPLIMENT = 0.3  # ... and compliments at 0.3 ×
SECOND_REPLY_PROB = 0.1  # an answered tweet gets a second brand tweet ("we've sent a DM")
FOLLOW_UP_PROB = 0.5  # a later tweet in the week continues the answered conversation
FOLLOW_UP_WITHOUT_MENTION = 0.5  # ... and then omits the @brand mention
NEWLINE_SHARE = 0.02  # texts with a line break (real files contain them)
ENDOGENOUS_LOGIT_SHIFT = 1.0  # --endogenous-replies: + for "poor", − for "good" customers
SECONDS_PER_WEEK = 7 * 24 * 3600
EFFECTS_STREAM = 16  # customer random effects come from default_rng([seed, 16]) (issue 16)
CLASSES_STREAM = 17  # latent δ classes come from default_rng([seed, 17]) (issue 16)


@dataclass(frozen=True)
class BrandPolicy:
    """A simulated brand's customer-care policy.

    Parameters
    ----------
    handle : str
        Twitter handle of the care account (kept in every output; brands are not people).
    reply_prob : float
        Probability that the brand answers a given complaint.
    median_latency_h : float
        Median reply latency in hours (log-normal with ``latency_sigma``).
    latency_sigma : float
        Standard deviation of the log latency.
    """

    handle: str
    reply_prob: float
    median_latency_h: float
    latency_sigma: float = 1.0


def brand_policies(n_brands: int) -> list[BrandPolicy]:
    """Brand policies for a world with ``n_brands`` brands.

    Reply probabilities are spread evenly over [0.2, 0.8] (DESIGN.md §5 uses 0.2, 0.5, 0.8 for
    three brands) and median latencies over [0.5 h, 8 h] on a log scale, the fastest brand
    being the one that answers most.
    """
    if not 1 <= n_brands <= len(phrases.BRAND_HANDLES):
        raise ValueError(f"brands must be between 1 and {len(phrases.BRAND_HANDLES)}")
    probs = np.linspace(0.2, 0.8, n_brands) if n_brands > 1 else np.array([0.5])
    latencies = np.geomspace(8.0, 0.5, n_brands) if n_brands > 1 else np.array([2.0])
    return [
        BrandPolicy(handle=phrases.BRAND_HANDLES[b], reply_prob=round(float(probs[b]), 4),
                    median_latency_h=round(float(latencies[b]), 4))
        for b in range(n_brands)
    ]


def answer_rule(brands: list[BrandPolicy], endogenous: bool, n_states: int = 3
                ) -> AnswerByLogit:
    """Return the brands' answers to complaints as the model's answer rule.

    Each complaint is answered with the brand's ``reply_prob``; with endogenous replies the
    logit is shifted by :data:`ENDOGENOUS_LOGIT_SHIFT` up for the worst state and down for the
    best (brands answer unhappy customers more: louder, angrier), nothing in between.
    """
    state_shift = None
    if endogenous:
        states = np.arange(n_states)
        state_shift = ENDOGENOUS_LOGIT_SHIFT * (
            (states == 0).astype(float) - (states == n_states - 1).astype(float))
    return AnswerByLogit(brand_logit=logit(np.array([b.reply_prob for b in brands])),
                         state_shift=state_shift)


@dataclass(frozen=True)
class World:
    """A simulated world: raw tweets in the TWCS schema and the truth behind them.

    Attributes
    ----------
    tweets : DataFrame
        TWCS columns, typed (``created_at`` as UTC timestamps, ids as integers).
    states : DataFrame
        One row per customer × week from arrival: latent state and true counts (see
        docs/CONTRACTS.md).
    voice : DataFrame
        One row per customer tweet: ``tweet_id``, ``customer_id``, ``brand``, ``period``,
        ``voice``, ``ambiguous``.
    params : ModelParams
        The structural parameters the world was drawn from.
    brands : list of BrandPolicy
    spec : SimulateConfig
    customers : DataFrame or None
        With customer random effects (``spec.complaint_re_sd`` or ``compliment_re_sd`` > 0)
        or latent δ classes (``spec.delta_classes``): one row per customer, ``customer_id``,
        ``brand``, ``arrival`` (first week), then ``complaint_effect``,
        ``compliment_effect`` (log-rate shifts; with random effects) and ``delta_class``,
        ``delta`` (the customer's class and δ; with classes); ``None`` otherwise.
    """

    tweets: pd.DataFrame
    states: pd.DataFrame
    voice: pd.DataFrame
    params: ModelParams
    brands: list[BrandPolicy]
    spec: SimulateConfig
    customers: pd.DataFrame | None = None

    def answer_effects(self, horizon: int = 4, draws: int = 20,
                       rows: pd.DataFrame | None = None) -> pd.DataFrame:
        """Compute the true effect of answering a complaint in t−1 on voice in t … t+horizon.

        See :func:`complaintpanel.simulate.truth_effects.answer_effects`; the seed is derived
        from the world's seed so the result is reproducible.
        """
        return answer_effects(
            self.states, self.params,
            answer_rule(self.brands, self.spec.endogenous_replies, self.params.n_states),
            [b.handle for b in self.brands],
            horizon=horizon, draws=draws, seed=self.spec.seed + 1, rows=rows,
            awareness_effect=self.spec.awareness_effect)

    def truth_dict(self) -> dict[str, object]:
        """Everything needed to document and re-create the world, as plain JSON.

        ``awareness_effect`` appears (in ``world`` and as ``behaviour.awareness``) only when
        it is not 0, so the default world's files stay byte-identical.
        """
        world = dataclasses.asdict(self.spec)
        if not self.spec.awareness_effect:
            world.pop("awareness_effect")
        truth: dict[str, object] = {
            "model": self.params.to_dict(),
            "state_names": list(state_names(self.params.n_states)),
            "brands": [dataclasses.asdict(b) for b in self.brands],
            "world": world,
            "behaviour": {
                "reply_factor_neutral": REPLY_FACTOR_NEUTRAL,
                "reply_factor_compliment": REPLY_FACTOR_COMPLIMENT,
                "second_reply_prob": SECOND_REPLY_PROB,
                "follow_up_prob": FOLLOW_UP_PROB,
                "endogenous_logit_shift": ENDOGENOUS_LOGIT_SHIFT
                if self.spec.endogenous_replies else 0.0,
                # The Λ of the marginal sensitivity model (estimate.sensitivity) the answers
                # imply: odds ratio of the true answer probability (state known) to the oracle
                # propensity given the design's controls, over customer-weeks with a complaint.
                "selection_lambda": world_selection_lambda(self)
                if self.spec.endogenous_replies and (self.states["complaints"] > 0).any()
                else {"p50": 1.0, "p90": 1.0, "p95": 1.0, "p99": 1.0, "max": 1.0},
                "arrival_window_weeks": _arrival_window(self.spec.weeks),
            },
            "redress": {"kind": self.spec.redress,
                        "decay": (self.params.spec.redress_decay
                                  if self.spec.redress == "stock" else None)},
            "heterogeneity": {
                "complaint_re_sd": self.spec.complaint_re_sd,
                "compliment_re_sd": self.spec.compliment_re_sd,
                "re_corr": self.spec.re_corr,
                "effects_seed": [self.spec.seed, EFFECTS_STREAM],
                "delta_classes": list(self.spec.delta_classes),
                "delta_class_shares": list(self.spec.delta_class_shares),
                "classes_seed": [self.spec.seed, CLASSES_STREAM],
            },
            "counts": {
                "tweets": len(self.tweets),
                "customer_tweets": int(self.tweets["inbound"].sum()),
                "brand_tweets": int((~self.tweets["inbound"]).sum()),
                "customer_weeks": len(self.states),
            },
        }
        if self.spec.awareness_effect:
            truth["behaviour"]["awareness"] = {  # type: ignore[index]
                "effect": self.spec.awareness_effect,
                "definition": "complaint log-rate in t+1 += effect × (the brand's other "
                              "customers with an answered complaint in t) / (the brand's "
                              "customers active in t) (Sun, Gao & Rui 2021)",
                "in_truth_effects": "no: answer_effects continues histories without it"}
        return truth


def _arrival_window(weeks: int) -> int:
    # Customers arrive during the first third of the window, so most are followed for months.
    return max(1, weeks // 3)


# --------------------------------------------------------------------------------------------
# Latent dynamics and counts (vectorised over customers, one step per week)
# --------------------------------------------------------------------------------------------


def with_redress(params: ModelParams, spec: SimulateConfig) -> ModelParams:
    """Return the parameters with the world's redress history (``[simulate] redress``).

    ``"binary"`` leaves ``params`` as they are (binary and permanent redress unless their
    specification says otherwise); ``"stock"`` sets the decaying stock with
    ``ρ = spec.redress_decay`` (:attr:`complaintpanel.model.ModelSpec.redress_decay`), so the
    truth files (``params.json``'s model) record ρ.
    """
    if spec.redress == "binary":
        return params
    return dataclasses.replace(params, spec=dataclasses.replace(
        params.spec, redress_decay=float(spec.redress_decay)))


def customer_effects(spec: SimulateConfig) -> np.ndarray | None:
    """Draw each customer's random effects on the complaint and compliment log-rates.

    Bivariate normal with mean 0, standard deviations ``spec.complaint_re_sd`` and
    ``spec.compliment_re_sd`` and correlation ``spec.re_corr``, from a stream of its own
    (``default_rng([seed, EFFECTS_STREAM])``), so the rest of the world's draws do not move.

    Returns
    -------
    ndarray of shape (customers, 2), or None
        ``None`` when both standard deviations are 0 (no heterogeneity).
    """
    sd_c, sd_p = spec.complaint_re_sd, spec.compliment_re_sd
    if sd_c == 0 and sd_p == 0:
        return None
    z = np.random.default_rng([spec.seed, EFFECTS_STREAM]).standard_normal((spec.customers, 2))
    rho = spec.re_corr
    complaint = sd_c * z[:, 0]
    compliment = sd_p * (rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1])
    return np.column_stack([complaint, compliment])


def delta_classes(spec: SimulateConfig) -> np.ndarray | None:
    """Draw each customer's latent δ class (DESIGN.md §4.2, issue 16).

    Class ``c`` with probability ``spec.delta_class_shares[c]`` (equal shares when empty),
    from a stream of its own (``default_rng([seed, CLASSES_STREAM])``), so the rest of the
    world's draws do not move.

    Returns
    -------
    ndarray of int, shape (customers,), or None
        ``None`` when ``spec.delta_classes`` is empty (no classes).
    """
    values = spec.delta_classes
    if not values:
        return None
    shares = (np.asarray(spec.delta_class_shares, dtype=float) if spec.delta_class_shares
              else np.full(len(values), 1 / len(values)))
    rng = np.random.default_rng([spec.seed, CLASSES_STREAM])
    return rng.choice(len(values), size=spec.customers, p=shares).astype(np.int64)


def _simulate_histories(
    spec: SimulateConfig, params: ModelParams, brands: list[BrandPolicy],
    rng: np.random.Generator, effects: np.ndarray | None = None,
    delta: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, Histories]:
    """Draw arrival weeks and brands of the customers, then their weeks by the model's step."""
    arrival = rng.integers(0, _arrival_window(spec.weeks), size=spec.customers)
    brand = rng.integers(0, len(brands), size=spec.customers)
    rule = answer_rule(brands, spec.endogenous_replies, params.n_states)
    return arrival, brand, simulate_histories(params, arrival, brand, spec.weeks, rule,
                                              GeneratorDraws(rng), voice_effect=effects,
                                              delta=delta,
                                              awareness_effect=spec.awareness_effect)


def _states_frame(h: Histories, brand: np.ndarray, brands: list[BrandPolicy],
                  customer_ids: np.ndarray, start: pd.Timestamp,
                  stock_decay: float | None = None) -> pd.DataFrame:
    i_idx, t_idx = np.nonzero(h.state >= 0)
    frame = pd.DataFrame({
        "customer_id": customer_ids[i_idx],
        "brand": np.array([b.handle for b in brands])[brand[i_idx]],
        "period": t_idx.astype(np.int32),
        "period_start": start + pd.to_timedelta(7 * t_idx, unit="D"),
        "state": h.state[i_idx, t_idx].astype(np.int8),
    })
    for name in ("complaints", "compliments", "neutral"):
        frame[name] = getattr(h, name)[i_idx, t_idx]
    frame["tweets"] = frame["complaints"] + frame["compliments"] + frame["neutral"]
    frame["answered_complaints"] = h.answered[i_idx, t_idx]
    frame["peer_complaints"] = h.peer_complaints[i_idx, t_idx]
    frame["peer_compliments"] = h.peer_compliments[i_idx, t_idx]
    frame["intervened"] = h.intervened[i_idx, t_idx]
    # binary redress is an indicator (update_redress): written as int8, as docs/CONTRACTS.md
    # says; the decaying stock is real-valued (float64)
    redress = h.redress[i_idx, t_idx]
    frame["redress"] = redress.astype(np.int8) if stock_decay is None else redress
    frame["peer_voice"] = h.peer_voice[i_idx, t_idx]
    return frame.sort_values(["customer_id", "period"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# From counts to tweets: texts, times, replies, thread links
# --------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, bank: tuple[str, ...], size: int) -> np.ndarray:
    return np.asarray(bank, dtype=object)[rng.integers(0, len(bank), size=size)]


def _compose(rng: np.random.Generator, openers: tuple[str, ...], bodies: tuple[str, ...],
             tails: tuple[str, ...], size: int) -> list[str]:
    opener = _pick(rng, openers, size)
    body = _pick(rng, bodies, size)
    tail = _pick(rng, tails, size)
    number = rng.integers(2, 6, size=size)
    return [" ".join(part for part in (o, bd.replace("{n}", str(nm)), tl) if part)
            for o, bd, tl, nm in zip(opener, body, tail, number, strict=True)]


def _customer_texts(rng: np.random.Generator, voice: np.ndarray, ambiguous: np.ndarray
                    ) -> np.ndarray:
    texts = np.empty(voice.size, dtype=object)
    banks = {
        "complaint": ((phrases.COMPLAINT_OPENERS, phrases.COMPLAINT_BODIES,
                       phrases.COMPLAINT_TAILS), phrases.AMBIGUOUS_COMPLAINTS),
        "compliment": ((phrases.COMPLIMENT_OPENERS, phrases.COMPLIMENT_BODIES,
                        phrases.COMPLIMENT_TAILS), phrases.AMBIGUOUS_COMPLIMENTS),
        "neutral": ((("",), phrases.NEUTRAL_BODIES, ("",)), phrases.AMBIGUOUS_NEUTRAL),
    }
    for name, (plain_banks, ambiguous_bank) in banks.items():
        plain = (voice == name) & ~ambiguous
        texts[plain] = _compose(rng, *plain_banks, size=int(plain.sum()))
        amb = (voice == name) & ambiguous
        texts[amb] = _compose(rng, ("",), ambiguous_bank, ("",), size=int(amb.sum()))
    return texts


def _with_newlines(rng: np.random.Generator, texts: np.ndarray) -> np.ndarray:
    # A few texts carry a line break, as real exports do; CSV quoting must survive it.
    mask = rng.random(texts.size) < NEWLINE_SHARE
    texts = texts.copy()
    texts[mask] = ["\n".join(t.rsplit(" ", 1)) for t in texts[mask]]
    return texts


def _build_tweets(h: Histories, brand: np.ndarray, brands: list[BrandPolicy],
                  customer_ids: np.ndarray, start: pd.Timestamp, spec: SimulateConfig,
                  rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    handles = np.array([b.handle for b in brands], dtype=object)
    reply_prob = np.array([b.reply_prob for b in brands])
    median_latency_h = np.array([b.median_latency_h for b in brands])
    latency_sigma = np.array([b.latency_sigma for b in brands])

    # One row per customer tweet, expanded from the (customer, week) counts.
    if h.neutral is None:
        raise ValueError("the world's tweets need neutral counts (ModelParams.neutral)")
    i_idx, t_idx = np.nonzero(h.state >= 0)
    parts = []
    for voice_name, counts in (("complaint", h.complaints), ("compliment", h.compliments),
                               ("neutral", h.neutral)):
        reps = counts[i_idx, t_idx]
        parts.append(pd.DataFrame({
            "customer": np.repeat(i_idx, reps), "period": np.repeat(t_idx, reps),
            "voice": voice_name,
            # rank of the tweet within its (customer, week, voice) cell: the first
            # `answered` complaints of a week are the answered ones
            "rank": np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps),
        }))
    cust = pd.concat(parts, ignore_index=True)
    n_cust = len(cust)
    b_idx = brand[cust["customer"].to_numpy()]
    cust["brand"] = handles[b_idx]
    cust["offset_s"] = rng.integers(0, SECONDS_PER_WEEK, size=n_cust)
    cust["created_s"] = cust["period"].to_numpy() * SECONDS_PER_WEEK + cust["offset_s"]
    cust["ambiguous"] = rng.random(n_cust) < spec.ambiguous_share

    # Which customer tweets the brand answers.
    is_complaint = (cust["voice"] == "complaint").to_numpy()
    n_answered = h.answered[cust["customer"].to_numpy(), cust["period"].to_numpy()]
    answered = is_complaint & (cust["rank"].to_numpy() < n_answered)
    other_factor = np.where(cust["voice"] == "neutral", REPLY_FACTOR_NEUTRAL,
                            REPLY_FACTOR_COMPLIMENT)
    answered |= ~is_complaint & (rng.random(n_cust) < reply_prob[b_idx] * other_factor)
    cust["answered"] = answered
    latency_s = np.exp(np.log(median_latency_h[b_idx] * 3600)
                       + latency_sigma[b_idx] * rng.standard_normal(n_cust))
    cust["reply_s"] = np.where(answered, cust["created_s"] + np.maximum(60, latency_s.round()),
                               np.nan)
    cust["second_reply"] = answered & (rng.random(n_cust) < SECOND_REPLY_PROB)

    # Follow-ups: a later tweet in the same week continues an answered conversation.
    cust = cust.sort_values(["customer", "created_s"], kind="stable").reset_index(drop=True)
    prev_reply = cust.groupby("customer", sort=False)["reply_s"].shift(1)
    prev_period = cust.groupby("customer", sort=False)["period"].shift(1)
    follows = ((prev_period == cust["period"]) & (prev_reply < cust["created_s"])
               & (rng.random(n_cust) < FOLLOW_UP_PROB))
    cust["follow_up"] = follows.to_numpy()
    cust["parent_row"] = np.where(cust["follow_up"], np.arange(n_cust) - 1, -1)

    # Texts.
    texts = _customer_texts(rng, cust["voice"].to_numpy(), cust["ambiguous"].to_numpy())
    mention = ~cust["follow_up"].to_numpy() | (rng.random(n_cust) >= FOLLOW_UP_WITHOUT_MENTION)
    prefix = np.where(mention, "@" + cust["brand"].to_numpy() + " ", "")
    follow_prefix = np.where(cust["follow_up"], _pick(rng, phrases.FOLLOW_UP_PREFIXES, n_cust),
                             "")
    cust["text"] = _with_newlines(rng, np.array(
        [f"{p}{f} {t}".replace("  ", " ").strip() if f else f"{p}{t}"
         for p, f, t in zip(prefix, follow_prefix, texts, strict=True)], dtype=object))

    # Brand tweets: first replies, then optional second replies.
    replied_rows = np.flatnonzero(cust["answered"].to_numpy())
    reply_bank = {"complaint": phrases.BRAND_REPLIES_COMPLAINT,
                  "compliment": phrases.BRAND_REPLIES_COMPLIMENT,
                  "neutral": phrases.BRAND_REPLIES_NEUTRAL}
    voice_of = cust["voice"].to_numpy()[replied_rows]
    reply_text = np.empty(replied_rows.size, dtype=object)
    for name, bank in reply_bank.items():
        mask = voice_of == name
        reply_text[mask] = _pick(rng, bank, int(mask.sum()))
    initials = _pick(rng, phrases.AGENT_INITIALS, replied_rows.size)
    author = customer_ids[cust["customer"].to_numpy()[replied_rows]]
    first_replies = pd.DataFrame({
        "parent_row": replied_rows, "brand": cust["brand"].to_numpy()[replied_rows],
        "created_s": cust["reply_s"].to_numpy()[replied_rows].astype(np.int64),
        "text": [f"@{a} {t} ^{i}" for a, t, i in zip(author, reply_text, initials, strict=True)],
        "kind": 0,
    })
    second_rows = np.flatnonzero(cust["second_reply"].to_numpy())
    extra_delay = rng.integers(60, 3600, size=second_rows.size)
    author2 = customer_ids[cust["customer"].to_numpy()[second_rows]]
    second_replies = pd.DataFrame({
        "parent_row": second_rows, "brand": cust["brand"].to_numpy()[second_rows],
        "created_s": cust["reply_s"].to_numpy()[second_rows].astype(np.int64) + extra_delay,
        "text": [f"@{a} {t}" for a, t in zip(
            author2, _pick(rng, phrases.BRAND_REPLIES_FOLLOW, second_rows.size), strict=True)],
        "kind": 1,
    })
    brand_tweets = pd.concat([first_replies, second_replies], ignore_index=True)

    # One table of all tweets; ids follow time (as on Twitter), ties broken deterministically.
    all_tweets = pd.concat([
        pd.DataFrame({"row": np.arange(n_cust), "inbound": True,
                      "created_s": cust["created_s"].to_numpy(), "kind": -1,
                      "author_id": customer_ids[cust["customer"].to_numpy()],
                      "text": cust["text"].to_numpy()}),
        pd.DataFrame({"row": brand_tweets["parent_row"].to_numpy(), "inbound": False,
                      "created_s": brand_tweets["created_s"].to_numpy(),
                      "kind": brand_tweets["kind"].to_numpy(),
                      "author_id": brand_tweets["brand"].to_numpy(),
                      "text": brand_tweets["text"].to_numpy()}),
    ], ignore_index=True)
    all_tweets = all_tweets.sort_values(["created_s", "inbound", "row", "kind"],
                                        ascending=[True, False, True, True], kind="stable")
    all_tweets["tweet_id"] = np.arange(1, len(all_tweets) + 1, dtype=np.int64)

    customer_tweet_id = np.empty(n_cust, dtype=np.int64)
    is_cust = all_tweets["inbound"].to_numpy()
    customer_tweet_id[all_tweets["row"].to_numpy()[is_cust]] = all_tweets["tweet_id"].to_numpy()[
        is_cust]
    first_reply_id = np.full(n_cust, -1, dtype=np.int64)
    first_mask = ~is_cust & (all_tweets["kind"].to_numpy() == 0)
    first_reply_id[all_tweets["row"].to_numpy()[first_mask]] = all_tweets["tweet_id"].to_numpy()[
        first_mask]

    # in_response_to: brand reply -> customer tweet; follow-up -> first reply of the parent.
    parent_of_customer = np.where(cust["follow_up"].to_numpy(),
                                  first_reply_id[np.maximum(cust["parent_row"].to_numpy(), 0)],
                                  -1)
    in_response = np.where(is_cust, parent_of_customer[all_tweets["row"].to_numpy()],
                           customer_tweet_id[all_tweets["row"].to_numpy()])
    all_tweets["in_response_to_tweet_id"] = pd.array(
        np.where(in_response > 0, in_response, 0), dtype="Int64")
    all_tweets.loc[in_response <= 0, "in_response_to_tweet_id"] = pd.NA

    # response_tweet_id: the inverse links, comma-separated as in TWCS.
    links = all_tweets.loc[in_response > 0, ["in_response_to_tweet_id", "tweet_id"]]
    responses = (links.sort_values("tweet_id").groupby("in_response_to_tweet_id")["tweet_id"]
                 .agg(lambda ids: ",".join(map(str, ids))))
    all_tweets["response_tweet_id"] = all_tweets["tweet_id"].map(responses)
    all_tweets["created_at"] = start + pd.to_timedelta(all_tweets["created_s"], unit="s")
    tweets = all_tweets.sort_values("tweet_id").loc[:, list(TWCS_COLUMNS)].reset_index(drop=True)

    voice = pd.DataFrame({
        "tweet_id": customer_tweet_id,
        "customer_id": customer_ids[cust["customer"].to_numpy()],
        "brand": cust["brand"].to_numpy(),
        "period": cust["period"].to_numpy().astype(np.int32),
        "voice": cust["voice"].to_numpy(),
        "ambiguous": cust["ambiguous"].to_numpy(),
    }).sort_values("tweet_id").reset_index(drop=True)
    return tweets, voice


def simulate_world(spec: SimulateConfig | None = None,
                   params: ModelParams | None = None) -> World:
    """Draw a world from the structural model and write it out as tweets.

    Parameters
    ----------
    spec : SimulateConfig, optional
        Size, seed and options of the world; defaults to the embedded default.
    params : ModelParams, optional
        Structural parameters (with neutral rates, for the neutral questions); defaults to
        :func:`complaintpanel.model.default_params`.

    Returns
    -------
    World
        Raw tweets in the TWCS schema plus the truth. The same ``spec`` gives the same world.
    """
    spec = spec or SimulateConfig()
    params = params or default_params()
    if spec.customers < 1 or spec.weeks < 2:
        raise ValueError("a world needs at least 1 customer and 2 weeks")
    if not 0 <= spec.ambiguous_share <= 1:
        raise ValueError("ambiguous_share must lie in [0, 1]")
    rng = np.random.default_rng(spec.seed)
    brands = brand_policies(spec.brands)
    start = pd.Timestamp(spec.start_date, tz="UTC")
    if start.day_of_week != 0:
        raise ValueError(f"start_date {spec.start_date} must be a Monday (weeks run Mon–Sun)")
    # Anonymised numeric customer ids, as in TWCS (e.g. 115712), in random order.
    customer_ids = (100_000 + rng.permutation(spec.customers)).astype(str).astype(object)
    if params.neutral is None:
        raise ValueError("a world needs neutral log-rates (ModelParams.neutral)")
    params = with_redress(params, spec)
    effects = customer_effects(spec)
    classes = delta_classes(spec)
    delta = (None if classes is None
             else np.asarray(spec.delta_classes, dtype=float)[classes])
    if delta is not None and "intervened" not in params.spec.transition_covariates:
        raise ValueError("[simulate] delta_classes needs 'intervened' among the transition "
                         "covariates")
    arrival, brand, histories = _simulate_histories(spec, params, brands, rng, effects, delta)
    states = _states_frame(histories, brand, brands, customer_ids, start,
                           params.spec.redress_decay)
    tweets, voice = _build_tweets(histories, brand, brands, customer_ids, start, spec, rng)
    customers = None
    if effects is not None or classes is not None:
        columns: dict[str, Any] = {
            "customer_id": customer_ids,
            "brand": np.array([b.handle for b in brands], dtype=object)[brand],
            "arrival": arrival.astype(np.int32),
        }
        if effects is not None:
            columns |= {"complaint_effect": effects[:, 0], "compliment_effect": effects[:, 1]}
        if classes is not None and delta is not None:
            columns |= {"delta_class": classes.astype(np.int32), "delta": delta}
        customers = pd.DataFrame(columns).sort_values(
            "customer_id", kind="stable").reset_index(drop=True)
    return World(tweets=tweets, states=states, voice=voice, params=params, brands=brands,
                 spec=spec, customers=customers)


def write_twcs_csv(tweets: pd.DataFrame, path: str | Path) -> Path:
    """Write tweets in the exact TWCS text format (atomically).

    ``inbound`` as ``True``/``False``, ``created_at`` as ``Tue Oct 31 22:10:47 +0000 2017``,
    ``in_response_to_tweet_id`` as a float (``3.0``) like the Kaggle file, ``response_tweet_id``
    as a comma-separated list; fields are quoted only when needed.
    """
    out = pd.DataFrame({
        "tweet_id": tweets["tweet_id"].astype("int64"),
        "author_id": tweets["author_id"],
        "inbound": np.where(tweets["inbound"], "True", "False"),
        "created_at": tweets["created_at"].dt.strftime(TWCS_TIME_FORMAT),
        "text": tweets["text"],
        "response_tweet_id": tweets["response_tweet_id"],
        "in_response_to_tweet_id": tweets["in_response_to_tweet_id"].astype("Float64"),
    })
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False, lineterminator="\n", float_format="%.1f")
    return Path(path)


def write_world(world: World, out_dir: str | Path, truth_effects: bool = True
                ) -> dict[str, Path | str]:
    """Write ``twcs.csv`` and ``truth/`` (params, states, voice, and answer effects).

    Parameters
    ----------
    world : World
    out_dir : str or Path
    truth_effects : bool
        Also compute and write ``truth/answer_effects.json`` (a few seconds for the default
        world; switch off for very large benchmark worlds).
    """
    out_dir = Path(out_dir)
    written = {
        "twcs": write_twcs_csv(world.tweets, out_dir / "twcs.csv"),
        "params": write_json(world.truth_dict(), out_dir / "truth" / "params.json"),
        "states": write_parquet(world.states, out_dir / "truth" / "states.parquet"),
        "voice": write_parquet(world.voice, out_dir / "truth" / "voice.parquet"),
    }
    if world.customers is not None:
        written["customers"] = write_parquet(world.customers,
                                             out_dir / "truth" / "customers.parquet")
    if truth_effects:
        effects = world.answer_effects()
        written["answer_effects"] = write_json(
            {"description": "True average effect of answering a complaint in t-1 on the "
                            "expected number of complaints and compliments in t+lead, among "
                            "customer-weeks with a complaint (common random numbers).",
             "effects": effects.to_dict(orient="records")},
            out_dir / "truth" / "answer_effects.json")
    return written


def timed_simulation(spec: SimulateConfig, out_dir: str | Path, truth_effects: bool = True
                     ) -> tuple[World, float]:
    """Simulate and write a world; return it with the wall time in seconds (for the CLI)."""
    started = time.perf_counter()
    world = simulate_world(spec)
    write_world(world, out_dir, truth_effects=truth_effects)
    return world, time.perf_counter() - started
