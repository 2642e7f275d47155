"""Answer rules: how many of a period's complaints the brand answers, and which fast."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import expit

from complaintpanel.model.draws import Draws
from complaintpanel.model.params import ModelParams

__all__ = ["AnswerAll", "AnswerAtRate", "AnswerByLogit", "AnswerNone", "AnswerRule", "Answers"]

@dataclass(frozen=True)
class Answers:
    """The brand's answers in one period.

    Attributes
    ----------
    answered : ndarray of int
        Answered complaints per customer.
    fast : ndarray of int8
        1 when the customer's complaints were answered within the latency cut-off.
    """

    answered: np.ndarray
    fast: np.ndarray


class AnswerRule(Protocol):
    """How a brand answers complaints: a callable of the period's voice and states."""

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Answers to ``complaints`` of customers in ``state`` of ``brand`` (indices)."""
        ...


def _fast(intervened: np.ndarray, u_fast: np.ndarray | None, share: np.ndarray | None,
          brand: np.ndarray) -> np.ndarray:
    if u_fast is None or share is None:
        return np.zeros(intervened.shape, dtype=np.int8)
    return (intervened & (u_fast < share[brand])).astype(np.int8)


def _fast_uniforms(draws: Draws, size: int, share: np.ndarray | None) -> np.ndarray | None:
    # Drawn before the answers whenever the rule can answer fast, used or not, so the answers
    # of rules with and without fast replies come from the same position of the stream.
    return None if share is None else draws.uniform("fast", size)


@dataclass(frozen=True)
class AnswerByLogit:
    """Each complaint answered with probability ``logistic(brand_logit[b] + state_shift[s])``.

    The simulator's brands (``--endogenous-replies``: a state shift) and the estimator's reply
    model (ρ_brand, ψ_state) are both this rule.

    Parameters
    ----------
    brand_logit : ndarray, shape (B,)
    state_shift : ndarray of shape (K,), optional
        Added by current state; ``None`` for answers that ignore the state.
    fast_share : ndarray of shape (B,), optional
        Share of a brand's replies that are fast; ``None`` when speed is not modelled.
    """

    brand_logit: np.ndarray
    state_shift: np.ndarray | None = None
    fast_share: np.ndarray | None = None

    @classmethod
    def from_params(cls, params: ModelParams, fast_share: np.ndarray | None = None
                    ) -> AnswerByLogit:
        """Build the rule of the fitted reply model of ``params`` (``spec.reply_model``)."""
        if not params.spec.reply_model:
            raise ValueError("these parameters have no reply model")
        return cls(brand_logit=params.reply_brand,
                   state_shift=np.concatenate([[0.0], params.reply_state]),
                   fast_share=fast_share)

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Draw the answers (see :class:`AnswerRule`)."""
        u_fast = _fast_uniforms(draws, complaints.size, self.fast_share)
        index = self.brand_logit[brand]
        if self.state_shift is not None:
            index = index + self.state_shift[state]
        answered = draws.binomial("answer", complaints, expit(index))
        return Answers(answered, _fast(answered > 0, u_fast, self.fast_share, brand))


@dataclass(frozen=True)
class AnswerAtRate:
    """Each complaint answered with its brand's probability (e.g. the observed answer rate).

    Parameters
    ----------
    rate : ndarray, shape (B,)
    fast_share : ndarray of shape (B,), optional
    """

    rate: np.ndarray
    fast_share: np.ndarray | None = None

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Draw the answers (see :class:`AnswerRule`)."""
        u_fast = _fast_uniforms(draws, complaints.size, self.fast_share)
        answered = draws.binomial("answer", complaints, self.rate[brand])
        return Answers(answered, _fast(answered > 0, u_fast, self.fast_share, brand))


@dataclass(frozen=True)
class AnswerAll:
    """Every complaint answered; fast with the brand's share, or always (``all_fast``)."""

    fast_share: np.ndarray | None = None
    all_fast: bool = False

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Answer everything (see :class:`AnswerRule`)."""
        intervened = complaints > 0
        if self.all_fast:
            return Answers(complaints.copy(), intervened.astype(np.int8))
        u_fast = _fast_uniforms(draws, complaints.size, self.fast_share)
        return Answers(complaints.copy(), _fast(intervened, u_fast, self.fast_share, brand))


@dataclass(frozen=True)
class AnswerNone:
    """No complaint is answered."""

    def __call__(self, complaints: np.ndarray, state: np.ndarray, brand: np.ndarray,
                 draws: Draws) -> Answers:
        """Answer nothing (see :class:`AnswerRule`)."""
        return Answers(np.zeros(complaints.shape, dtype=np.int64),
                       np.zeros(complaints.shape, dtype=np.int8))
