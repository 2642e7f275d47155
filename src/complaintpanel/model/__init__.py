"""The structural model of the customer–brand relationship (DESIGN.md §4), in one place.

The simulator (:mod:`complaintpanel.simulate`), the estimator's sampler and policy simulation
(:mod:`complaintpanel.hmm`) and the simulated truth of the answering effects all draw from the
model through one function, :func:`step`, with one parameter type, :class:`ModelParams`. A
change to the model is therefore one edit here, and the world we simulate and the model we fit
cannot silently disagree.

The model, for customer *i* of a brand in period *t* and latent state *k*:

* **voice** — ``complaints ~ Poisson(exp(a_k + γ·R_t))``, ``compliments ~ Poisson(exp(c_k))``,
  ``neutral ~ Poisson(exp(n_k))`` (simulated, not estimated yet), optionally a sentiment
  ``Normal(m_k, σ_k)``. ``R_t`` is the redress history (a complaint of hers was answered before
  *t*); γ > 0 is the squeaky-wheel effect;
* **answers** — the brand answers complaints by an answer rule (:class:`AnswerByLogit`, …);
* **transitions** — an ordered logit,
  ``P(s_{t+1} ≤ k | s_t = j) = logistic(τ_jk − δ·I_t − η·peer_t − κ·U_t − δ_fast·F_t)``, where
  ``I_t`` says the brand answered a complaint in *t* (δ > 0 is the relationship effect),
  ``peer_t`` is the net voice of the brand's other customers, ``U_t`` the unanswered complaints
  and ``F_t`` a fast reply; the covariates present are those of :class:`ModelSpec`;
* **first contact** — the state at a customer's first period is drawn from π, and that period
  is conditioned on ``complaints + compliments ≥ 1`` (``ModelSpec.first_contact``).

States are numbered ``0 .. K-1`` from the worst relationship ("poor") to the best ("good"), so a
larger index means a better relationship and higher thresholds mean worse next states.

Randomness goes through a :class:`Draws` object: :class:`GeneratorDraws` takes draws from numpy
generators in a fixed order (the simulator's single sequential generator, or one stream per
purpose for common random numbers), :class:`UniformDraws` turns given uniforms into draws by
inverse CDF (two arms of an experiment sharing the same uniforms).
"""

from __future__ import annotations

from complaintpanel.model.answers import (
    AnswerAll,
    AnswerAtRate,
    AnswerByLogit,
    AnswerNone,
    AnswerRule,
    Answers,
)
from complaintpanel.model.covariates import add_hmm_covariates, peer_voice_counts, redress_stock
from complaintpanel.model.draws import Draws, GeneratorDraws, UniformDraws, categorical
from complaintpanel.model.params import (
    NEUTRAL_LOG_RATE,
    ModelParams,
    default_params,
    transition_matrices,
)
from complaintpanel.model.spec import (
    COEFFICIENT_NAMES,
    STATE_NAMES,
    FirstContact,
    ModelSpec,
    state_names,
)
from complaintpanel.model.step import (
    ENTERING,
    Customers,
    Histories,
    Period,
    emission_rates,
    simulate_histories,
    step,
    update_redress,
)

__all__ = [
    "COEFFICIENT_NAMES",
    "ENTERING",
    "NEUTRAL_LOG_RATE",
    "STATE_NAMES",
    "AnswerAll",
    "AnswerAtRate",
    "AnswerByLogit",
    "AnswerNone",
    "AnswerRule",
    "Answers",
    "Customers",
    "Draws",
    "FirstContact",
    "GeneratorDraws",
    "Histories",
    "ModelParams",
    "ModelSpec",
    "Period",
    "UniformDraws",
    "add_hmm_covariates",
    "categorical",
    "default_params",
    "emission_rates",
    "peer_voice_counts",
    "redress_stock",
    "simulate_histories",
    "state_names",
    "step",
    "transition_matrices",
    "update_redress",
]

