"""The engine of the policy simulation: one reply policy run forward over many paths at once.

:func:`run_arm` runs one arm (an answer rule, with the squeaky wheel the policy creates on or
off) for one population and one parameter set over ``n_paths`` independent paths, stacked into
one batch of :func:`complaintpanel.model.step` calls: path ``p`` of sequence ``j`` is unit
``p·N + j``, and its brand index is ``brand + p·B``, so peer voice (computed within a brand by
:func:`step`) stays within its own path.

Random numbers are common across arms (:class:`~complaintpanel.model.UniformDraws`: one
uniform per unit, period and purpose, drawn by inverse CDF), so two arms draw the same counts
wherever their rates agree: every arm equals every other in each period before their answers
first differ, and differences between arms carry little simulation noise. A cohort's first
period (first contact, whose conditioning redraws silent customers) uses one numpy generator
per purpose, the same in every arm.

The targeting rule (:class:`TargetedRule`) is the brand's rule, so it sees what a brand sees:
not the state, but each customer's state probabilities, filtered forward from the end of the
data (or from π for a new customer) on the simulated complaints and compliments, and the
customer's redress history. It is a greedy index, not the dynamic optimum: each period, the
customers whose complaints it answers are those with the largest expected gain in the
objective per answered complaint, until the period's budget (a share of the period's
complaints) is spent. The gain of answering a customer is the change in next period's state
distribution (δ, and κ for the complaints left unanswered), valued by the objective:

* ``good_share``: the rise in the probability of the best state;
* ``net_voice``: the rise in expected compliments − complaints per period, over the periods
  left, minus the squeaky wheel the answer teaches: for binary redress, for a customer not yet
  redressed, ``(e^γ − 1)`` times the expected complaint rate over the periods left; for the
  decaying stock, the extra complaints from the answer's decaying addition to the stock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from complaintpanel.model import (
    AnswerAll,
    AnswerAtRate,
    AnswerByLogit,
    AnswerNone,
    AnswerRule,
    Answers,
    Customers,
    Draws,
    GeneratorDraws,
    ModelParams,
    UniformDraws,
    categorical,
    step,
    transition_matrices,
)

__all__ = ["OBJECTIVES", "PATH_METRICS", "Population", "TargetedRule", "run_arm"]

OBJECTIVES: dict[str, str] = {
    "good_share": "expected share of customers in the best state",
    "net_voice": "expected compliments minus complaints",
}
PATH_METRICS: tuple[str, ...] = ("complaints", "compliments", "share_best", "share_worst",
                                 "answered", "replied")
_PURPOSES = ("transition", "complaints", "compliments", "neutral", "fast", "answer", "sentiment")
_FIRST_PURPOSES = ("initial", "complaints", "compliments", "neutral", "fast", "answer",
                   "sentiment")


@dataclass(frozen=True)
class Population:
    """Who is simulated: sequences with their brand, history and where they start.

    Attributes
    ----------
    name : str
        ``"observed"`` (customers of the data) or ``"cohort"`` (new customers).
    brand : ndarray of int
        Brand index per sequence.
    redress : ndarray of float
        Redress history at the first simulated period (kept as observed).
    shift_columns : dict of str to ndarray, or None
        Transition covariates of the last observed period; ``None`` for new customers, who
        enter at first contact with a state drawn from π.
    horizon : int
        Periods simulated.
    """

    name: str
    brand: np.ndarray
    redress: np.ndarray
    shift_columns: dict[str, np.ndarray] | None
    horizon: int

    @property
    def size(self) -> int:
        """Number of sequences."""
        return int(self.brand.size)

    @property
    def entering(self) -> bool:
        """Whether the customers enter at first contact (a cohort)."""
        return self.shift_columns is None


@dataclass
class TargetedRule:
    """Answer the complaints of the customers with the largest expected gain, within a budget.

    Parameters
    ----------
    params : ModelParams
        The parameters the brand believes (the draw being simulated).
    budget : float
        Share of each period's complaints (within a path) that may be answered.
    objective : {"good_share", "net_voice"}
    path : ndarray of int
        Path of each unit (the budget is spent within a path).
    fast_share : ndarray, optional
        Share of fast replies by (stacked) brand.

    Notes
    -----
    Before each period the simulation loop sets :attr:`prior` (state probabilities given
    everything before the period), :attr:`redress` and :attr:`periods_left`; the rule
    updates the prior with the period's complaints, ranks, and answers.
    """

    params: ModelParams
    budget: float
    objective: str
    path: np.ndarray
    fast_share: np.ndarray | None = None
    prior: np.ndarray | None = None
    redress: np.ndarray | None = None
    periods_left: int = 1

    def gain(self, complaints: np.ndarray, brand: np.ndarray) -> np.ndarray:
        """Return the expected gain in the objective from answering each customer's complaints."""
        params = self.params
        assert self.prior is not None and self.redress is not None
        rate_c = np.exp(params.a[None, :] + params.gamma * self.redress[:, None]
                        if "redress" in params.spec.complaint_covariates
                        else np.broadcast_to(params.a, (complaints.size, params.n_states)))
        posterior = self.prior * poisson.pmf(complaints[:, None], rate_c)
        posterior /= np.maximum(posterior.sum(axis=1, keepdims=True), 1e-300)
        columns = params.spec.transition_covariates
        kappa = params.kappa if "unanswered_complaints" in columns else 0.0
        delta = np.full(complaints.size, params.delta if "intervened" in columns else 0.0)
        if "fast_reply" in columns and self.fast_share is not None:
            delta = delta + params.delta_fast * self.fast_share[brand]  # answered at the
            # brand's observed speed, so the expected shift includes its share of fast replies
        moved_no = transition_matrices(params.tau, kappa * complaints.astype(float))
        moved_yes = transition_matrices(params.tau, delta)
        change = np.einsum("nk,nkl->nl", posterior, moved_yes - moved_no)
        if self.objective == "good_share":
            return change[:, -1]
        value = np.exp(params.c) - np.exp(params.a)  # net voice per period by state
        squeak = self._squeak(posterior @ np.exp(params.a))
        return self.periods_left * change @ value - squeak

    def _squeak(self, base_rate: np.ndarray) -> np.ndarray:
        """Extra complaints over the periods left that answering now teaches (the squeaky wheel).

        ``base_rate`` is the customer's expected complaint rate at zero redress, ``E[e^{a_s}]``
        under the current belief (the state's drift over the horizon is ignored, as in the
        value term). Binary redress: only a customer not yet redressed learns,
        ``(1 − R)(e^γ − 1)`` times the rate in every period left. Decaying stock ``ρ``: the
        answer adds ``ρ^{k−1}`` to the stock ``k`` periods on, where the stock would otherwise
        be ``ρ^k R``; the extra complaints are ``Σ_k e^{a}(e^{γ(ρ^k R + ρ^{k−1})} − e^{γ ρ^k R})``.
        """
        params = self.params
        assert self.redress is not None
        if "redress" not in params.spec.complaint_covariates:
            return np.zeros_like(base_rate)
        decay = params.spec.redress_decay
        if decay is None:
            return self.periods_left * (1.0 - self.redress) * np.expm1(params.gamma) * base_rate
        k = np.arange(1, self.periods_left + 1, dtype=float)[None, :]
        kept = decay**k * self.redress[:, None]
        extra = np.exp(params.gamma * (kept + decay ** (k - 1))) - np.exp(params.gamma * kept)
        return base_rate * extra.sum(axis=1)

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Answer within the budget (see :class:`~complaintpanel.model.AnswerRule`)."""
        u_fast = None if self.fast_share is None else draws.uniform("fast", complaints.size)
        draws.uniform("answer", complaints.size)  # the other rules' position in the stream
        gain = self.gain(complaints, brand)
        wanted = (complaints > 0) & (gain > 0)
        per_complaint = np.where(wanted, gain / np.maximum(complaints, 1), -np.inf)
        n_paths = int(self.path.max()) + 1
        allowance = np.floor(self.budget * np.bincount(self.path, weights=complaints,
                                                       minlength=n_paths) + 1e-9)
        order = np.lexsort((-per_complaint, self.path))
        spent = np.cumsum(complaints[order])
        start = np.searchsorted(self.path[order], np.arange(n_paths))
        before = np.concatenate([[0], spent])[start][self.path[order]]
        chosen = np.zeros(complaints.size, dtype=bool)
        chosen[order] = wanted[order] & (spent - before <= allowance[self.path[order]])
        answered = np.where(chosen, complaints, 0)
        fast = np.zeros(complaints.size, dtype=np.int8)
        if u_fast is not None and self.fast_share is not None:
            fast = (chosen & (u_fast < self.fast_share[brand])).astype(np.int8)
        return Answers(answered, fast)


def _belief_after(params: ModelParams, prior: np.ndarray, redress: np.ndarray,
                  complaints: np.ndarray, compliments: np.ndarray, entering: bool
                  ) -> np.ndarray:
    """Filter the brand's state probabilities on one period's complaints and compliments."""
    gamma = params.gamma if "redress" in params.spec.complaint_covariates else 0.0
    rate_c = np.exp(params.a[None, :] + gamma * redress[:, None])
    rate_p = np.broadcast_to(np.exp(params.c), rate_c.shape)
    like = poisson.pmf(complaints[:, None], rate_c) * poisson.pmf(compliments[:, None], rate_p)
    if entering:  # first contact: conditioned on some voice
        like = like / (1.0 - np.exp(-rate_c - rate_p))
    post = prior * like
    return post / np.maximum(post.sum(axis=1, keepdims=True), 1e-300)


def answer_rule(arm: str, params: ModelParams, *, n_paths: int, n_units: int,
                answer_rate: np.ndarray, fast_share: np.ndarray | None, budget: float,
                objective: str) -> AnswerRule:
    """Build the answer rule of an arm for ``n_paths`` stacked paths of ``n_units`` each."""
    fast = None if fast_share is None else np.tile(fast_share, n_paths)
    if arm == "none":
        return AnswerNone()
    if arm == "all":
        return AnswerAll(fast_share=fast)
    if arm == "fast":
        return AnswerAll(all_fast=True)
    if arm == "random":
        return AnswerAtRate(rate=np.full(answer_rate.size * n_paths, budget), fast_share=fast)
    if arm == "targeted":
        return TargetedRule(params=params, budget=budget, objective=objective,
                            path=np.repeat(np.arange(n_paths), n_units), fast_share=fast)
    if arm == "observed":
        if params.spec.reply_model:
            rule = AnswerByLogit.from_params(params)
            return AnswerByLogit(brand_logit=np.tile(rule.brand_logit, n_paths),
                                 state_shift=rule.state_shift, fast_share=fast)
        return AnswerAtRate(rate=np.tile(answer_rate, n_paths), fast_share=fast)
    raise ValueError(f"unknown arm {arm!r}")


def run_arm(arm: str, learning: bool, params: ModelParams, population: Population,
            state_probs: np.ndarray, *, n_paths: int, seed: int, answer_rate: np.ndarray,
            fast_share: np.ndarray | None, budget: float = 0.1,
            objective: str = "good_share", voice_effect: np.ndarray | None = None,
            delta: np.ndarray | None = None,
            start_probs: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Simulate one arm over ``n_paths`` paths.

    Parameters
    ----------
    arm : str
        ``none``, ``observed``, ``all``, ``fast``, ``random`` or ``targeted``.
    learning : bool
        Whether redress the policy creates raises later complaints (the squeaky wheel). When
        off, every customer keeps the redress history they start with (customers redressed in
        the data keep their γ-term; under the decaying stock that history decays at ρ as it
        would without new answers); only the policy's new answers have no squeaky wheel.
    params : ModelParams
    population : Population
    state_probs : ndarray, shape (N, K)
        Where each sequence starts: filtered end-state probabilities (observed customers) or
        π in every row (a cohort, whose first state :func:`step` draws from π itself).
    n_paths : int
    seed : int
        The same seed gives every arm the same random numbers.
    answer_rate : ndarray, shape (B,)
        Observed answer rate per brand (the ``observed`` arm without a reply model).
    fast_share : ndarray of shape (B,), optional
        Observed share of fast replies per brand (``None`` when speed is not modelled).
    budget : float
        Share of complaints the ``random`` and ``targeted`` arms may answer.
    objective : str
        What the targeting rule maximises (:data:`OBJECTIVES`).
    voice_effect : ndarray, shape (n_paths · N, 2), optional
        Each simulated unit's random effects on the complaint and compliment log-rates
        (customers differ, :attr:`~complaintpanel.model.Customers.voice_effect`), path-major.
    delta : ndarray, shape (n_paths · N,), optional
        Each unit's own δ (latent classes, :attr:`~complaintpanel.model.Customers.delta`).
        The targeting rule's beliefs use the common parameters (the brand does not know a
        customer's effect or class).
    start_probs : ndarray, shape (n_paths · N, K), optional
        Observed customers: where each unit truly starts when that differs from the brand's
        belief ``state_probs`` (customers who differ: the end state filtered given the unit's
        drawn effect or class), path-major. Default ``state_probs`` on every path.

    Returns
    -------
    dict of str to ndarray
        Per metric of :data:`PATH_METRICS`, an array (n_paths, horizon) of averages over the
        path's customers.
    """
    n, k, horizon = population.size, params.n_states, population.horizon
    size = n * n_paths
    n_brands = max(int(population.brand.max()) + 1, answer_rate.size) if n else 1
    brand = (population.brand[None, :] + n_brands * np.arange(n_paths)[:, None]).ravel()
    rate = np.zeros(n_brands)
    rate[:answer_rate.size] = answer_rate
    fast = None
    if fast_share is not None:
        fast = np.zeros(n_brands)
        fast[:fast_share.size] = fast_share
    rule = answer_rule(arm, params, n_paths=n_paths, n_units=n, answer_rate=rate,
                       fast_share=fast, budget=budget, objective=objective)
    history = np.tile(population.redress.astype(float), n_paths)
    if population.entering:
        customers = dataclasses.replace(Customers.arriving(brand), voice_effect=voice_effect,
                                        delta=delta)
        belief = np.broadcast_to(params.initial_probs, (size, k)).copy()
    else:
        assert population.shift_columns is not None
        u = np.random.default_rng([seed, 2**31]).random(size)
        belief = np.tile(state_probs, (n_paths, 1))
        state = categorical(u, belief if start_probs is None else start_probs)
        columns = {col: np.tile(values, n_paths)
                   for col, values in population.shift_columns.items()}
        shift = params.transition_shift(columns, (size,))
        if delta is not None and "intervened" in columns:  # each unit's own δ
            shift = shift + (delta - params.delta) * columns["intervened"]
        customers = Customers(brand=brand, state=state, shift=shift, redress=history.copy(),
                              voice_effect=voice_effect, delta=delta)
    out = {name: np.empty((n_paths, horizon)) for name in PATH_METRICS}
    targeted = isinstance(rule, TargetedRule)
    decay = params.spec.redress_decay
    for h in range(horizon):
        first = population.entering and h == 0
        draws: Draws
        if first:
            draws = GeneratorDraws({purpose: np.random.default_rng([seed, 2**30, i])
                                    for i, purpose in enumerate(_FIRST_PURPOSES)})
        else:
            u = np.random.default_rng([seed, h]).random((len(_PURPOSES), size))
            draws = UniformDraws(dict(zip(_PURPOSES, u, strict=True)))
        if targeted and not first:  # the brand's prediction of this period's state
            belief = np.einsum("nk,nkl->nl", belief,
                               transition_matrices(params.tau, customers.shift))
        if targeted:
            assert isinstance(rule, TargetedRule)
            rule.prior, rule.redress, rule.periods_left = belief, customers.redress, horizon - h
        period, customers = step(params, customers, rule, draws)
        if targeted:
            belief = _belief_after(params, belief, period.redress, period.complaints,
                                   period.compliments, first)
        if not learning:  # the redress the customers started with, as it would decay
            kept = history if decay is None else history * decay ** (h + 1)
            customers = dataclasses.replace(customers, redress=kept)
        values = {"complaints": period.complaints, "compliments": period.compliments,
                  "share_best": period.state == k - 1, "share_worst": period.state == 0,
                  "answered": period.answered, "replied": period.intervened}
        for name, value in values.items():
            out[name][:, h] = np.asarray(value, dtype=float).reshape(n_paths, n).mean(axis=1)
    return out
