"""Structural model: a hidden Markov model of the customer–brand relationship (DESIGN.md §4).

A reply to a complaint has two opposing effects that only a model of the latent relationship
can separate (Ma, Sun & Kekre 2015): it moves the relationship to a better state (δ, the
relationship effect) and, at a given state, it raises the propensity to complain (γ, the
squeaky-wheel effect). The model itself — parameters (:class:`~complaintpanel.model.ModelParams`,
:class:`~complaintpanel.model.ModelSpec`) and the one period step that every simulation uses —
lives in :mod:`complaintpanel.model`; the estimator's pieces mirror hmmlearn's split:

* :mod:`.emissions` — Poisson complaint / compliment emissions with the redress term,
  optional Gaussian sentiment and reply model;
* :mod:`.transitions` — ordered-logit transitions shifted by intervention, peer voice, …;
* :mod:`.core` — scaled forward–backward and Viterbi on padded arrays, vectorised over
  customers;
* :mod:`.likelihood` — exact log-likelihood and its analytic gradient (Fisher's identity);
* :mod:`.estimator` — :class:`RelationshipHMM` (fit, score, predict_proba, decode, sample);
* :mod:`.heterogeneity` — customers differ: a random intercept in the complaint rate by
  adaptive Gauss–Hermite quadrature, compared with the homogeneous fit by BIC;
* :mod:`.results` — :class:`RelationshipHMMResults` (params, bse, conf_int, summary, tables);
* :mod:`.sampling` — panels drawn from the model (:func:`complaintpanel.model.step`);
* :mod:`.policy` — counterfactual reply policies simulated from the filtered states.
"""

from complaintpanel.hmm.data import PanelArrays, prepare_panel
from complaintpanel.hmm.estimator import (
    IdentificationError,
    RelationshipHMM,
    check_identification,
    select_n_states,
)
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.results import RelationshipHMMResults
from complaintpanel.hmm.sampling import sample_panel
from complaintpanel.model import ModelParams, ModelSpec, state_names

__all__ = [
    "IdentificationError",
    "ModelParams",
    "ModelSpec",
    "PanelArrays",
    "ParamLayout",
    "RelationshipHMM",
    "RelationshipHMMResults",
    "check_identification",
    "prepare_panel",
    "sample_panel",
    "select_n_states",
    "state_names",
]
