# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Reduced-form estimates: what a brand's reply does to later voice
#
# The question of Ma, Sun & Kekre (2015): when a brand answers a complaining customer, does she
# complain less afterwards (her relationship with the brand improves) or more (she has learned
# that complaining gets help — the *squeaky wheel*)? This notebook runs the reduced-form
# estimators of `complaintpanel.estimate` on a simulated world and compares them with the
# world's **known true effect of answering**:
#
# 1. the paper-style panel regressions — PPML for complaint counts and linear fixed effects
#    for sentiment and the compliment share;
# 2. the design-based comparison of **answered vs unanswered complaints** (AIPW);
# 3. an event study around a customer's first reply.
#
# Only estimates (aggregates) are shown; no customer identifier or tweet text.

# %%
import dataclasses
import os
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from complaintpanel.config import load_config
from complaintpanel.estimate import (
    TREATMENTS,
    add_model_columns,
    answered_vs_unanswered,
    event_study,
    fit_linear_fe,
    fit_ppml,
)
from complaintpanel.panel import build_panel
from complaintpanel.report.figures import fig_design_effects, fig_event_study, outcome_label
from complaintpanel.results import compare
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth

pd.set_option("display.max_colwidth", None)

# %% [markdown]
# ## A simulated world and its panel
#
# Settings come from `analysis/config.toml`; only the world is smaller (1,500 customers ×
# 16 weeks). The panel is built from the simulator's *true* voice
# (`complaintpanel.simulate.oracle`), which skips ingest, threading and labelling: notebook 1
# showed those stages, and the test suite checks that, run on the raw text with the true
# labels, they give back exactly this panel.
# Using the true voice here keeps measurement error out of the comparison with the truth.
#
# In this world brands answer each complaint with their own fixed probability
# (`endogenous_replies = false`), whatever the customer's relationship state.

# %%
config = load_config("config.toml")
world = simulate_world(dataclasses.replace(config.simulate, customers=1500, weeks=16))
panel = build_panel(voiced_from_truth(world), period=config.panel.period)
data = add_model_columns(panel, reply_within_h=config.estimate.reply_within_h)

base = os.environ.get("COMPLAINTPANEL_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="complaintpanel-")
figures_dir = Path(base) / "02_reduced_form" / "figures"
print(f"{len(panel):,} customer-brand-weeks, {panel['customer_id'].nunique():,} customers, "
      f"{panel['brand'].nunique()} brands; {int(panel['complaints'].sum()):,} complaints, "
      f"{int(panel['answered_complaints'].sum()):,} of them answered")

# %% [markdown]
# `add_model_columns` adds the lagged treatments the regressions use. Each is one definition of
# "the brand replied":

# %%
pd.Series(TREATMENTS, name="definition").rename_axis("treatment").to_frame()

# %% [markdown]
# ## 1. Panel regressions with fixed effects (the paper's approach)
#
# * **Complaints (PPML):** `E[complaints_ibt] = exp(α_ib + λ_bt + β·treat_ib,t−1)`, Poisson
#   pseudo-maximum likelihood with customer–brand (`α_ib`) and brand × week (`λ_bt`) fixed
#   effects (pyfixest `fepois`). β is the log change in the expected number of complaints.
# * **Sentiment and compliment share (linear FE):** the same fixed effects, on the weeks in
#   which the customer tweeted (pyfixest `feols`).
#
# Standard errors are clustered by customer. Every estimator returns a results object in the
# statsmodels shape (`params`, `bse`, `cov_params()`, `conf_int()`, `summary()`) with a *term
# table* (`terms`) that describes each coefficient by columns (`outcome`, `treatment`, …);
# `compare()` lays several results side by side, like linearmodels' `compare`.

# %%
fits = {
    "complaints (PPML), replied in t−1": fit_ppml(data, "replied"),
    "complaints (PPML), answered a complaint in t−1": fit_ppml(data, "answered_complaint"),
    "mean sentiment (FE), replied in t−1": fit_linear_fe(data, "sentiment_mean", "replied"),
    "compliment share (FE), replied in t−1": fit_linear_fe(data, "compliment_share", "replied"),
}
comparison = compare(fits)
(comparison.terms.set_index("model")[["outcome", "treatment", "estimate", "se", "ci_lower",
                                      "ci_upper", "pvalue"]]
 .join(comparison.nobs.rename("observations")).round(4))

# %%
print(fits["complaints (PPML), answered a complaint in t−1"].summary())

# %% [markdown]
# ### Why these fixed-effects estimates are not causal
#
# Read naively, the positive PPML coefficient says "answering a complaint makes customers
# complain more". In this world we know that the total effect of answering on next week's
# complaints is *negative* (see below). What goes wrong:
#
# * **Replies follow complaints, and complaints follow a bad relationship.** A customer is
#   answered in week t−1 because she complained in t−1, i.e. because her relationship was going
#   badly *then*. Her relationship is a latent state that moves from week to week.
# * **The pair fixed effect only removes what is constant.** `α_ib` absorbs a customer's
#   average propensity to complain, not a relationship that worsens and recovers. The treatment
#   dummy therefore also picks up "was in a bad spell last week", which predicts complaints
#   this week whatever the brand does.
# * **Within a pair, the comparison is with the customer's own quiet weeks** — weeks without
#   a complaint and so without a reply — which are exactly the weeks in a good state.
#
# The estimate mixes the effect of the reply with the dynamics of the relationship that
# triggered it. It is reported because the literature reports it, not as an effect.

# %% [markdown]
# ## 2. The design-based estimate: answered vs unanswered complaints
#
# Compare only customer-weeks that **had a complaint in t−1**, some answered by the brand and
# some not, and follow their complaints and compliments in weeks t, t+1, …, t+4
# (`[estimate] horizon` in the config).
#
# **What identifies it.** Among customers who complained, whether the brand answered must be as
# good as random *given the controls*: the brand × number of complaints in t−1 (brands that
# answer each complaint with some probability answer customers with more complaints more often),
# the redress history (a complaint answered earlier), and brand × week. Then answered and
# unanswered complainers are comparable in their (unobserved) relationship state, and the
# difference in their later voice is the causal effect of answering. In this simulated world
# the assumption holds by construction; with real data it has to be argued — a brand that
# triages by follower count or by the tone of the complaint violates it (the simulator's
# `endogenous_replies = true` shows by how much).
#
# **Estimator.** Augmented inverse-probability weighting (doubly robust): a logit propensity
# score and linear outcome models in each arm, standard errors clustered by customer,
# restricted to customer-weeks whose estimated chance of being answered lies in [0.05, 0.95]
# (overlap).

# %%
horizon = config.estimate.horizon  # outcome weeks t+0 … t+horizon
design = answered_vs_unanswered(data, horizon=horizon)
print(design.summary())

# %% [markdown]
# The terms differ in their samples (later leads are observed for fewer customer-weeks), yet
# their estimates are correlated: the same customers enter every lead. The covariance matrix
# (clustered by customer) is computed across all terms, e.g. for joint tests or bands:

# %%
(design.cov_params() / (design.bse.to_numpy()[:, None] * design.bse.to_numpy()[None, :])).round(2)

# %% [markdown]
# ### Comparison with the true effect of answering
#
# The simulator computes the true effect on the same customer-weeks the estimator kept: each
# history with a complaint in t−1 is continued twice, once with the complaint answered and once
# without, with common random numbers (`World.answer_effects`).

# %%
truth = world.answer_effects(horizon=horizon, rows=design.kept)
truth = pd.concat([truth[["lead"]].assign(outcome=outcome, truth=truth[f"effect_{outcome}"])
                   for outcome in ("complaints", "compliments")], ignore_index=True)
# terms are picked by their outcome and lead columns, never by their names
against_truth = design.select()[["outcome", "lead", "estimate", "ci_lower", "ci_upper"]].merge(
    truth, on=["outcome", "lead"])
against_truth["truth inside 95% CI"] = against_truth["truth"].between(
    against_truth["ci_lower"], against_truth["ci_upper"])
against_truth.round(4)

# %%
design_png = fig_design_effects(design, figures_dir / "design_effects", config.panel.period,
                                truth=truth)[1]
Image(filename=str(design_png))

# %% [markdown]
# Answering a complaint **lowers** complaints and **raises** compliments in the following
# weeks: the relationship effect outweighs the squeaky wheel in total. The fixed-effects PPML
# above had the opposite sign. Note what the design-based estimate does *not* do: it gives the
# total effect, not its two channels. Separating the relationship effect from the squeaky wheel
# needs the structural model of notebook 3.

# %% [markdown]
# ## 3. Event study around the first reply
#
# Complaints in the weeks before and after a customer's **first** reply from the brand, relative
# to the week before it (event time −1). Two estimators: Gardner's two-stage
# difference-in-differences (robust to effects that differ across cohorts) and the naive two-way
# fixed-effects event study.
#
# The "treatment" here is not a policy switched on from outside: event time 0 contains the
# complaint that was answered, so the spike at 0 is mechanical, and the later weeks mix the
# effect of the reply with the customer's worse-than-usual state at the time of the complaint.
# The event study describes dynamics; the design-based comparison above is the causal estimate.

# %%
events = event_study(data, "complaints")  # one results object per estimator
display(pd.DataFrame({name: result.term_estimates().set_index("event_time")["estimate"]
                      for name, result in events.items()}).round(3))
event_png = fig_event_study(events, figures_dir / "event_study_complaints",
                            outcome_label("complaints", config.panel.period),
                            config.panel.period)[1]
Image(filename=str(event_png))

# %% [markdown]
# ## On the command line
#
# `complaintpanel estimate data/processed/NAME --out results/NAME` runs every model above for
# every treatment definition (plus robustness checks with `complaintpanel robustness`) and writes
# JSON, Markdown and LaTeX tables; `make all` does it for the default world.
