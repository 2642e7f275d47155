"""Stage 0, the embedded default data: a world drawn from the structural model.

* :mod:`.world` — customers, brands and weeks drawn from :mod:`complaintpanel.model`, written
  as raw tweets in the TWCS schema plus the truth behind them;
* :mod:`.phrases` — the phrase banks the tweets' texts are built from;
* :mod:`.truth_effects` — the true effect of answering a complaint in a simulated world;
* :mod:`.design_truth` — that effect on the design estimate's own customer-weeks, joined to
  the world through the panel's pseudonyms (``complaintpanel estimate --truth``);
* :mod:`.oracle` — views of a world straight from its truth (labelled exchanges), for
  estimator studies that bypass the data stages.
"""

from complaintpanel.simulate.world import (
    ENDOGENOUS_LOGIT_SHIFT,
    TWCS_COLUMNS,
    BrandPolicy,
    World,
    brand_policies,
    simulate_world,
    timed_simulation,
    write_twcs_csv,
    write_world,
)

__all__ = [
    "ENDOGENOUS_LOGIT_SHIFT",
    "TWCS_COLUMNS",
    "BrandPolicy",
    "World",
    "brand_policies",
    "simulate_world",
    "timed_simulation",
    "write_twcs_csv",
    "write_world",
]
