"""One period of the structural model, :func:`step`, and a loop over periods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from complaintpanel.model.answers import AnswerRule
from complaintpanel.model.covariates import peer_voice_counts
from complaintpanel.model.draws import Draws, categorical, truncated_poisson
from complaintpanel.model.params import ModelParams, transition_rows
from complaintpanel.model.spec import FirstContact, ModelSpec

__all__ = [
    "ENTERING",
    "Customers",
    "Histories",
    "Period",
    "emission_rates",
    "simulate_histories",
    "step",
    "update_redress",
]

ENTERING = -1  # previous state of a customer whose first contact is this period

@dataclass(frozen=True)
class Customers:
    """The customers of one period and what each carries in from the previous one.

    Attributes
    ----------
    brand : ndarray of int
        Brand index.
    state : ndarray of int
        State in the previous period; :data:`ENTERING` for a first contact in this period.
    shift : ndarray of float
        The previous period's transition shift (:meth:`ModelParams.transition_shift`);
        ignored for entering customers.
    redress : ndarray of float
        Redress history ``R_t`` before this period (:func:`update_redress`).
    voice_effect : ndarray of float, shape (n, 2), optional
        Each customer's random effects on the complaint and compliment log-rates (DESIGN.md
        §4.2, "customers differ"); ``None``: no customer differs (the homogeneous model).
    delta : ndarray of float, shape (n,), optional
        Each customer's own relationship effect δ_i (latent classes in δ, DESIGN.md §4.2):
        the transition shift uses ``δ_i·I_t`` in place of ``params.delta·I_t``; ``None``: δ of
        ``params`` for everyone.
    """

    brand: np.ndarray
    state: np.ndarray
    shift: np.ndarray
    redress: np.ndarray
    voice_effect: np.ndarray | None = None
    delta: np.ndarray | None = None

    @classmethod
    def arriving(cls, brand: np.ndarray) -> Customers:
        """Build customers at their first contact (no history)."""
        brand = np.asarray(brand)
        return cls(brand=brand, state=np.full(brand.size, ENTERING, dtype=np.int64),
                   shift=np.zeros(brand.size), redress=np.zeros(brand.size))

    def take(self, rows: np.ndarray) -> Customers:
        """Select the customers at positions ``rows``."""
        return Customers(
            brand=self.brand[rows], state=self.state[rows], shift=self.shift[rows],
            redress=self.redress[rows],
            voice_effect=None if self.voice_effect is None else self.voice_effect[rows],
            delta=None if self.delta is None else self.delta[rows])


@dataclass(frozen=True)
class Period:
    """What one period of the model produced, per customer.

    Attributes
    ----------
    state : ndarray of int
    complaints, compliments : ndarray of int
    neutral : ndarray of int or None
        ``None`` when the parameters carry no neutral rates.
    sentiment : ndarray of float or None
        Mean sentiment (NaN when silent) when the specification has a sentiment emission.
    answered : ndarray of int
        Answered complaints.
    fast, intervened : ndarray of int8
        A fast reply, any answered complaint (``I_t``).
    unanswered : ndarray of int
        ``complaints − answered`` (``U_t``).
    redress : ndarray of float
        Redress history used in this period's complaint rate (``R_t``).
    peer_complaints, peer_compliments : ndarray or None
        Totals of the brand's other customers (``None`` when peer voice was supplied).
    peer_voice : ndarray of float
        Net voice per other customer of the brand (or the supplied value).
    rate_complaints, rate_compliments : ndarray of float
        Expected counts given state and history, ``exp(a_s + γR)`` and ``exp(c_s)``.
    """

    state: np.ndarray
    complaints: np.ndarray
    compliments: np.ndarray
    neutral: np.ndarray | None
    sentiment: np.ndarray | None
    answered: np.ndarray
    fast: np.ndarray
    intervened: np.ndarray
    unanswered: np.ndarray
    redress: np.ndarray
    peer_complaints: np.ndarray | None
    peer_compliments: np.ndarray | None
    peer_voice: np.ndarray
    rate_complaints: np.ndarray
    rate_compliments: np.ndarray

    def transition_covariates(self) -> dict[str, np.ndarray]:
        """Return the covariates of the move to the next period, by column name."""
        return {"intervened": self.intervened, "peer_voice": self.peer_voice,
                "unanswered_complaints": self.unanswered, "fast_reply": self.fast}


def update_redress(redress: np.ndarray, answered: np.ndarray,
                   decay: float | None = None) -> np.ndarray:
    """Redress history of the next period.

    Parameters
    ----------
    redress : ndarray
        ``R_t``.
    answered : ndarray
        Complaints answered in period *t*.
    decay : float or None
        ``None``: binary and permanent redress (a complaint has been answered in this period
        or before). ``ρ`` in (0, 1]: the decaying stock (:attr:`ModelSpec.redress_decay`).

    Returns
    -------
    ndarray of float
        Binary: ``R_{t+1} = max(R_t, 1{answered_t > 0})``; stock: ``R_{t+1} = ρ R_t +
        1{answered_t > 0}``, so that ``R_t = Σ_{s<t} ρ^{t−1−s} 1{answered_s > 0}``
        (DESIGN.md §4.2).
    """
    answered_now = (np.asarray(answered) > 0).astype(float)
    if decay is None:
        return np.maximum(redress, answered_now)
    return decay * np.asarray(redress, dtype=float) + answered_now


def _emission_covariates(customers: Customers) -> dict[str, np.ndarray]:
    # What the voice of period t may depend on beyond the state: the history before t.
    return {"redress": customers.redress}


def _linear(coefficients: np.ndarray, columns: tuple[str, ...],
            covariates: Mapping[str, np.ndarray], size: int) -> np.ndarray:
    unknown = sorted(set(columns) - set(covariates))
    if unknown:
        raise ValueError(f"the model's step cannot produce emission covariate(s) {unknown}")
    out = np.zeros(size)
    for col, coef in zip(columns, coefficients, strict=True):
        out = out + coef * covariates[col]
    return out


def emission_rates(params: ModelParams, state: np.ndarray, customers: Customers
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Compute expected complaints and compliments given state and customers' history.

    Returns
    -------
    rate_complaints, rate_compliments : ndarray
        ``exp(a_s + x_c'β_c [+ u_c])`` and ``exp(c_s + x_p'β_p [+ u_p])``, with the
        customers' random effects ``customers.voice_effect`` when given.
    """
    spec = params.spec
    covariates = _emission_covariates(customers)
    size = state.size
    log_c = params.a[state] + _linear(params.beta_c, spec.complaint_covariates, covariates, size)
    log_p = params.c[state] + _linear(params.beta_p, spec.compliment_covariates, covariates,
                                      size)
    if customers.voice_effect is not None:
        log_c = log_c + customers.voice_effect[:, 0]
        log_p = log_p + customers.voice_effect[:, 1]
    return np.exp(log_c), np.exp(log_p)


def _initial_states(params: ModelParams, draws: Draws, size: int) -> np.ndarray:
    if params.spec.initial_covariates:
        raise ValueError("step() cannot draw initial states that depend on covariates")
    probs = np.broadcast_to(params.initial_probs, (size, params.n_states))
    return categorical(draws.uniform("initial", size), probs)


# Rounds of redrawing a silent first contact before the rest are drawn directly from the
# voice's law given some voice. Rejection is the simulator's own stream (its worlds stay as
# they were: the default world never needs more than a few rounds), but a state that is
# almost silent (fitted rates of 0.003 a week on real data) needs hundreds of rounds for
# its last customers, each a pass over all of them.
REJECTION_ROUNDS = 32


def _voice_given_some(params: ModelParams, draws: Draws, customers: Customers,
                      silent: np.ndarray, state: np.ndarray, first_contact: FirstContact,
                      complaints: np.ndarray, compliments: np.ndarray) -> None:
    """Draw the ``silent`` customers' first-contact voice from its law given some voice.

    Exactly what unbounded rejection would give: under ``"joint"`` the state from
    ``π_s·P(N ≥ 1 | s)`` normalised, then (both modes) the total ``N = C + P`` from the
    zero-truncated Poisson law with rate ``λ_c + λ_p`` and ``C | N ~ Binomial(N, λ_c/(λ_c +
    λ_p))``, ``P = N − C`` (two independent Poisson counts given their sum). Fills
    ``state``, ``complaints`` and ``compliments`` in place.
    """
    rows = np.flatnonzero(silent)
    subset = customers.take(rows)
    if first_contact == "joint":
        if params.spec.initial_covariates:
            raise ValueError("step() cannot draw initial states that depend on covariates")
        some = np.empty((rows.size, params.n_states))
        for s in range(params.n_states):
            rc, rp = emission_rates(params, np.full(rows.size, s), subset)
            some[:, s] = -np.expm1(-(rc + rp))
        weights = params.initial_probs * some
        state[rows] = categorical(draws.uniform("initial", rows.size),
                                  weights / weights.sum(axis=1, keepdims=True))
    rate_c, rate_p = emission_rates(params, state[rows], subset)
    total = truncated_poisson(draws.uniform("complaints", rows.size), rate_c + rate_p)
    complaints[rows] = draws.binomial("complaints", total, rate_c / (rate_c + rate_p))
    compliments[rows] = total - complaints[rows]


def step(params: ModelParams, customers: Customers, rule: AnswerRule, draws: Draws, *,
         peer_voice: np.ndarray | None = None, first_contact: FirstContact | None = None
         ) -> tuple[Period, Customers]:
    """One period of the structural model for a batch of customers.

    In order: the state (from π at first contact, else the ordered-logit transition with the
    *previous* period's shift); complaints and compliments with the redress history carried
    in; first-contact conditioning; neutral tweets; the brand's answers (``rule``); sentiment;
    peer voice; then the covariates of the move to the next period, its shift, and the
    redress history of the next period (which includes this period's answers).

    Parameters
    ----------
    params : ModelParams
    customers : Customers
        Brand, previous state (or :data:`ENTERING`), previous shift and redress history.
    rule : AnswerRule
        How the brand answers complaints (:class:`AnswerByLogit`, :class:`AnswerAtRate`,
        :class:`AnswerAll`, :class:`AnswerNone`).
    draws : Draws
        Random numbers (:class:`GeneratorDraws` or :class:`UniformDraws`).
    peer_voice : ndarray, optional
        Peer voice of each customer in this period; by default computed from these customers'
        voice, the customers of each brand being each other's peers.
    first_contact : {"state", "joint", "none"}, optional
        Conditioning of an entering customer's first period; default ``params.spec``'s.
        ``"state"``: redraw the voice until complaints + compliments ≥ 1; ``"joint"``: redraw
        the state too.

    Returns
    -------
    period : Period
        What happened in this period.
    carry : Customers
        What the customers carry into the next period.
    """
    spec = params.spec
    first_contact = spec.first_contact if first_contact is None else first_contact
    size = customers.brand.size
    entering = customers.state == ENTERING
    state = np.empty(size, dtype=np.int64)
    if entering.any():
        state[entering] = _initial_states(params, draws, int(entering.sum()))
    moving = ~entering
    if moving.any():
        rows = transition_rows(params.tau, customers.state[moving], customers.shift[moving])
        state[moving] = categorical(draws.uniform("transition", rows.shape[0]), rows)

    rate_c, rate_p = emission_rates(params, state, customers)
    complaints = draws.poisson("complaints", rate_c)
    compliments = draws.poisson("compliments", rate_p)
    if first_contact != "none":
        # First contact is the first period with a complaint or a compliment: redraw a silent
        # one (for the same state, or with the state under "joint"); the likelihood conditions
        # on exactly this (hmm.emissions / hmm.likelihood).
        silent = entering & (complaints + compliments == 0)
        for _ in range(REJECTION_ROUNDS):
            if not silent.any():
                break
            if first_contact == "joint":
                state[silent] = _initial_states(params, draws, int(silent.sum()))
                rate_c, rate_p = emission_rates(params, state, customers)
            complaints[silent] = draws.poisson("complaints", rate_c[silent])
            compliments[silent] = draws.poisson("compliments", rate_p[silent])
            silent = entering & (complaints + compliments == 0)
        if silent.any():
            _voice_given_some(params, draws, customers, silent, state, first_contact,
                              complaints, compliments)
            rate_c, rate_p = emission_rates(params, state, customers)
    neutral = (None if params.neutral is None
               else draws.poisson("neutral", np.exp(params.neutral[state])))

    answers = rule(complaints, state, customers.brand, draws)
    answered = np.asarray(answers.answered)
    sentiment = None
    if spec.sentiment:
        voiced = complaints + compliments > 0
        drawn = (params.sent_mean[state]
                 + np.exp(params.sent_log_sd[state]) * draws.normal("sentiment", size))
        sentiment = np.where(voiced, drawn, np.nan)

    peer_c = peer_p = None
    if peer_voice is None:
        n_brands = int(customers.brand.max()) + 1 if size else 0
        peer_c, peer_p, voice = peer_voice_counts(customers.brand, complaints, compliments,
                                                  n_brands)
    else:
        voice = np.asarray(peer_voice, dtype=float)
    period = Period(
        state=state, complaints=complaints, compliments=compliments, neutral=neutral,
        sentiment=sentiment, answered=answered, fast=np.asarray(answers.fast),
        intervened=(answered > 0).astype(np.int8), unanswered=complaints - answered,
        redress=customers.redress, peer_complaints=peer_c, peer_compliments=peer_p,
        peer_voice=voice, rate_complaints=rate_c, rate_compliments=rate_p)
    next_shift = params.transition_shift(_transition_inputs(spec, period), (size,))
    if customers.delta is not None:  # each customer's own δ_i in place of the common δ
        next_shift = next_shift + (customers.delta - params.delta) * period.intervened
    carry = Customers(brand=customers.brand, state=state, shift=next_shift,
                      redress=update_redress(customers.redress, answered,
                                             spec.redress_decay),
                      voice_effect=customers.voice_effect, delta=customers.delta)
    return period, carry


def _transition_inputs(spec: ModelSpec, period: Period) -> dict[str, np.ndarray]:
    produced = period.transition_covariates()
    unknown = sorted(set(spec.transition_covariates) - set(produced))
    if unknown:
        raise ValueError(f"the model's step cannot produce transition covariate(s) {unknown}")
    return {col: produced[col] for col in spec.transition_covariates}


def _others_answered(brand: np.ndarray, active: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Per customer: her brand's other answered customers over its active customers."""
    n_brands = int(brand.max()) + 1
    total = np.bincount(brand[active], weights=answered, minlength=n_brands)
    customers = np.bincount(brand[active], minlength=n_brands)
    own = np.zeros(brand.size)
    own[active] = answered
    per_customer = np.divide(total, customers, out=np.zeros(n_brands), where=customers > 0)
    return per_customer[brand] - np.where(customers[brand] > 0, own / np.maximum(
        customers[brand], 1), 0.0)


@dataclass(frozen=True)
class Histories:
    """Customer × period arrays of a simulated panel (state −1 before a customer arrives).

    Attributes
    ----------
    state : ndarray of int8
    complaints, compliments, answered, peer_complaints, peer_compliments : ndarray of int32
    neutral : ndarray of int32 or None
    sentiment : ndarray of float or None
    fast, intervened : ndarray of int8
    redress, peer_voice : ndarray of float
    """

    state: np.ndarray
    complaints: np.ndarray
    compliments: np.ndarray
    neutral: np.ndarray | None
    sentiment: np.ndarray | None
    answered: np.ndarray
    fast: np.ndarray
    intervened: np.ndarray
    redress: np.ndarray
    peer_complaints: np.ndarray
    peer_compliments: np.ndarray
    peer_voice: np.ndarray


def simulate_histories(params: ModelParams, arrival: np.ndarray, brand: np.ndarray,
                       n_periods: int, rule: AnswerRule, draws: Draws,
                       voice_effect: np.ndarray | None = None,
                       delta: np.ndarray | None = None,
                       awareness_effect: float = 0.0) -> Histories:
    """Run :func:`step` over periods for customers who arrive and then stay to the end.

    Each period the customers who have arrived (``arrival ≤ t``, in index order) take one
    step together; they are each other's peers within a brand.

    Parameters
    ----------
    params : ModelParams
    arrival : ndarray of int
        First period (first contact) of each customer.
    brand : ndarray of int
        Brand index of each customer.
    n_periods : int
    rule : AnswerRule
    draws : Draws
    voice_effect : ndarray, shape (n, 2), optional
        Customer random effects on the complaint and compliment log-rates
        (:attr:`Customers.voice_effect`); ``None`` (default): none.
    delta : ndarray, shape (n,), optional
        Each customer's relationship effect δ_i (:attr:`Customers.delta`); ``None``
        (default): ``params.delta`` for everyone.
    awareness_effect : float
        The rival mechanism of Sun, Gao & Rui (2021): other customers see a brand answer. In
        period ``t+1`` every customer's complaint log-rate rises by ``awareness_effect × A``,
        ``A`` = (the brand's customers with an answered complaint in ``t``, other than her)
        / (the brand's customers active in ``t``): the share of its customers the brand
        was seen to answer, bounded by 1 (answered *complaints* per customer would feed
        back — more answers, more complaints, more answers — and diverge for moderate
        values). It is not part of the structural model (the HMM does not estimate it);
        0 (default) leaves every draw unchanged.

    Returns
    -------
    Histories
    """
    n = arrival.size
    shape = (n, n_periods)
    state = np.full(shape, -1, dtype=np.int8)
    counts = {name: np.zeros(shape, dtype=np.int32) for name in
              ("complaints", "compliments", "answered", "peer_complaints", "peer_compliments")}
    neutral = None if params.neutral is None else np.zeros(shape, dtype=np.int32)
    sentiment = np.full(shape, np.nan) if params.spec.sentiment else None
    flags = {name: np.zeros(shape, dtype=np.int8) for name in ("fast", "intervened")}
    redress = np.zeros(shape)
    peer_voice = np.zeros(shape)
    carry = Customers(brand=np.asarray(brand), state=np.full(n, ENTERING, dtype=np.int64),
                      shift=np.zeros(n), redress=np.zeros(n),
                      voice_effect=None if voice_effect is None else np.asarray(
                          voice_effect, dtype=float).reshape(n, 2),
                      delta=None if delta is None else np.asarray(delta, dtype=float).reshape(n))
    awareness = np.zeros(n)  # log-rate shift of this period from last period's answers
    for t in range(n_periods):
        active = arrival <= t
        effect_now = None if carry.voice_effect is None else carry.voice_effect[active]
        if awareness_effect:
            effect_now = (np.zeros((int(active.sum()), 2)) if effect_now is None
                          else effect_now.copy())
            effect_now[:, 0] += awareness[active]
        now = Customers(brand=carry.brand[active], state=carry.state[active],
                        shift=carry.shift[active], redress=carry.redress[active],
                        voice_effect=effect_now,
                        delta=None if carry.delta is None else carry.delta[active])
        period, after = step(params, now, rule, draws)
        if awareness_effect:
            awareness = awareness_effect * _others_answered(
                np.asarray(brand), active, (period.answered > 0).astype(float))
        state[active, t] = period.state
        for name in counts:
            counts[name][active, t] = getattr(period, name)
        for name in flags:
            flags[name][active, t] = getattr(period, name)
        if neutral is not None and period.neutral is not None:
            neutral[active, t] = period.neutral
        if sentiment is not None and period.sentiment is not None:
            sentiment[active, t] = period.sentiment
        redress[active, t] = period.redress
        peer_voice[active, t] = period.peer_voice
        for name in ("state", "shift", "redress"):
            getattr(carry, name)[active] = getattr(after, name)
    return Histories(state=state, neutral=neutral, sentiment=sentiment, redress=redress,
                     peer_voice=peer_voice, **counts, **flags)
