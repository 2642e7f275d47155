"""Reduced-form estimates of the two effects of a brand's reply (DESIGN.md §3).

* :mod:`.fixed_effects` — the paper-style panel regressions: PPML for complaints and linear
  fixed effects for sentiment and the compliment share (pyfixest, linearmodels beside it);
* :mod:`.design` — the design-based "answered vs unanswered complaints" comparison (AIPW),
  also by brand and by reply-latency bin;
* :mod:`.event_study` — event studies around a customer's first reply, treated as an absorbing
  treatment: the imputation estimator (Borusyak–Jaravel–Spiess; numerically Gardner's
  two-stage DiD), the naive TWFE event study and, for counts, Wooldridge's extended TWFE
  Poisson — all on one sample with pair and brand × period fixed effects — with the
  imputation-based pre-trend test on unanswered rows;
* :mod:`.complaint_event_study` — for complaint counts, the event study anchored on each
  pair's first complaint instead: answered vs unanswered first complaints within strata of
  brand × period × complaints (Poisson, cohort × event time), with a pre-anchor placebo test;
* :mod:`.inference` — wild cluster bootstrap p-values, sup-t simultaneous bands and Holm's
  adjustment, reported beside the conventional numbers;
* :mod:`.treatments` — the treatment definitions the robustness checks switch between.

Every estimator returns a results object in the statsmodels shape with a term table
(:mod:`complaintpanel.results`, shared with the structural model and the reports); a model the
data cannot identify raises :class:`~complaintpanel.results.NotIdentifiedError`.
"""

from complaintpanel.estimate.design import answered_vs_unanswered
from complaintpanel.estimate.event_study import event_study
from complaintpanel.estimate.fixed_effects import fit_linear_fe, fit_panelols, fit_ppml
from complaintpanel.estimate.treatments import TREATMENTS, add_model_columns
from complaintpanel.results import EffectResults, NotEstimated, NotIdentifiedError

__all__ = [
    "TREATMENTS",
    "EffectResults",
    "NotEstimated",
    "NotIdentifiedError",
    "add_model_columns",
    "answered_vs_unanswered",
    "event_study",
    "fit_linear_fe",
    "fit_panelols",
    "fit_ppml",
]
