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
#     display_name: complaintpanel (.venv)
#     language: python
#     name: complaintpanel
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
# Every estimate shown is read from a results file, `estimates.json`, in the layout `make all`
# writes (docs/CONTRACTS.md). By default the notebook first estimates the models on a small
# simulated world and writes that file to a temporary folder; set `RESULTS_DIR` below to the
# results folder of your own run (`results/NAME`) to see its estimates instead.
#
# Only estimates (aggregates) are shown; no customer identifier or tweet text.

# %%
# The one setting: None = estimate on a small simulated world (in a temporary folder);
# or the results folder of a run, e.g. "../results/simulated" after `make all`.
RESULTS_DIR = None

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
from complaintpanel.estimate.run import panel_descriptives
from complaintpanel.panel import build_panel
from complaintpanel.report.figures import fig_design_effects, fig_event_study, outcome_label
from complaintpanel.report.notebook import show_terms, show_values
from complaintpanel.results import EstimationResults, compare, read_results, write_results
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth

pd.set_option("display.max_colwidth", None)

# %% [markdown]
# ## A simulated world and its estimates
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
#
# The cell fits the models the sections below explain — each estimator returns a results
# object — and writes them with `write_results` under the keys `complaintpanel estimate` uses
# (which fits a few more: every treatment definition, the Poisson event study, the
# heterogeneity of the design estimate). With `RESULTS_DIR` set it fits nothing.

# %%
config = load_config("config.toml")
base = os.environ.get("COMPLAINTPANEL_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="complaintpanel-")
work = Path(base) / "02_reduced_form"  # everything the notebook writes goes here
horizon = config.estimate.horizon  # outcome weeks t+0 … t+horizon
world = design_fit = None
if RESULTS_DIR is None:
    world = simulate_world(dataclasses.replace(config.simulate, customers=1500, weeks=16))
    panel = build_panel(voiced_from_truth(world), period=config.panel.period)
    data = add_model_columns(panel, reply_within_h=config.estimate.reply_within_h)
    design_fit = answered_vs_unanswered(data, horizon=horizon)
    estimated = {
        "settings": {"main_treatment": config.estimate.treatment, "horizon": horizon,
                     "reply_within_h": config.estimate.reply_within_h,
                     "period": config.panel.period, "treatments": TREATMENTS},
        "descriptives": panel_descriptives(panel),
        "ppml_complaints": {t: fit_ppml(data, t) for t in ("replied", "answered_complaint")},
        "fe_sentiment_mean": {"replied": fit_linear_fe(data, "sentiment_mean", "replied")},
        "fe_compliment_share": {"replied": fit_linear_fe(data, "compliment_share", "replied")},
        "design": design_fit,
        "event_study": {"complaints": event_study(data, "complaints")},
    }
    results_dir = work / "results" / "simulated"
    write_results(estimated, results_dir / "estimates.json")
else:
    results_dir = Path(RESULTS_DIR)
figures_dir = work / "figures"
source = results_dir / "estimates.json"
estimates = read_results(source)  # every table below comes from here
period = estimates["settings"].get("period") or "week"
print(f"results read from {source}; figures written to {figures_dir}")

# %% [markdown]
# The panel (Table 1 of the paper, from `descriptives`):

# %%
show_values({key: value for key, value in estimates["descriptives"].items()
             if key in ("customers", "brands", "periods", "panel_rows", "customer_tweets",
                        "complaint_share", "complaint_reply_rate", "share_periods_replied")},
            source=source, path=["descriptives"], name="panel", digits=4)

# %% [markdown]
# Each regressor is one definition of "the brand replied":

# %%
pd.Series(estimates["settings"]["treatments"], name="definition").rename_axis(
    "treatment").to_frame()

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
paths = {"complaints (PPML), replied in t−1": ["ppml_complaints", "replied"],
         "complaints (PPML), answered a complaint in t−1": ["ppml_complaints",
                                                            "answered_complaint"],
         "mean sentiment (FE), replied in t−1": ["fe_sentiment_mean", "replied"],
         "compliment share (FE), replied in t−1": ["fe_compliment_share", "replied"]}
fits = {name: estimates[key][treatment] for name, (key, treatment) in paths.items()}
comparison = compare(fits)  # a model the data could not identify is listed with its reason
show_terms(comparison.terms.set_index("model")[["outcome", "treatment", "estimate", "se",
                                                "ci_lower", "ci_upper", "pvalue"]],
           source=source, path=paths, path_by="model", by=["outcome", "treatment"],
           columns=["estimate", "se", "ci_lower", "ci_upper"])

# %%
ppml = fits["complaints (PPML), answered a complaint in t−1"]
print(ppml.summary() if isinstance(ppml, EstimationResults) else ppml)

# %% [markdown]
# ### Why these fixed-effects estimates are not causal
#
# Read naively, the positive PPML coefficient says "answering a complaint makes customers
# complain more". In the simulated world we know that the total effect of answering on next
# week's complaints is *negative* (see below). What goes wrong:
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
design = estimates["design"]
print(design.summary() if isinstance(design, EstimationResults) else design)

# %% [markdown]
# The terms differ in their samples (later leads are observed for fewer customer-weeks), yet
# their estimates are correlated: the same customers enter every lead. The covariance matrix
# (clustered by customer) is computed across all terms, e.g. for joint tests or bands:

# %%
if isinstance(design, EstimationResults):
    bse = design.bse.to_numpy()
    display((design.cov_params() / (bse[:, None] * bse[None, :])).round(2))

# %% [markdown]
# ### Comparison with the true effect of answering
#
# The simulator computes the true effect on the same customer-weeks the estimator kept: each
# history with a complaint in t−1 is continued twice, once with the complaint answered and once
# without, with common random numbers (`World.answer_effects`). Your own data has no known
# truth: with `RESULTS_DIR` set, the table shows the estimates alone.

# %%
terms = design.select()[["outcome", "lead", "estimate", "ci_lower", "ci_upper"]]
truth = None
if world is not None:
    truth = world.answer_effects(horizon=horizon, rows=design_fit.kept)
    truth = pd.concat([truth[["lead"]].assign(outcome=outcome, truth=truth[f"effect_{outcome}"])
                       for outcome in ("complaints", "compliments")], ignore_index=True)
    # terms are picked by their outcome and lead columns, never by their names
    terms = terms.merge(truth, on=["outcome", "lead"])
    terms["truth inside 95% CI"] = terms["truth"].between(terms["ci_lower"], terms["ci_upper"])
show_terms(terms, source=source, path=["design"], by=["outcome", "lead"],
           columns=["estimate", "ci_lower", "ci_upper"])

# %%
design_png = fig_design_effects(design, figures_dir / "design_effects", period, truth=truth)[1]
Image(filename=str(design_png))

# %% [markdown]
# In the simulated world, answering a complaint **lowers** complaints and **raises**
# compliments in the following weeks: the relationship effect outweighs the squeaky wheel in
# total. The fixed-effects PPML above had the opposite sign. Note what the design-based estimate
# does *not* do: it gives the total effect, not its two channels. Separating the relationship
# effect from the squeaky wheel needs the structural model of notebook 3.

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
events = estimates["event_study"]["complaints"]  # one results object per estimator
if isinstance(events, dict):
    table = pd.concat([result.term_estimates() for result in events.values()])
    show_terms(table.set_index(["estimator", "event_time"])[["estimate", "ci_lower", "ci_upper"]],
               source=source, path={name: ["event_study", "complaints", name] for name in events},
               path_by="estimator", by=["event_time"], columns=["estimate", "ci_lower", "ci_upper"],
               digits=3)
    event_png = fig_event_study(events, figures_dir / "event_study_complaints",
                                outcome_label("complaints", period), period)[1]
    display(Image(filename=str(event_png)))
else:
    print(events)  # not identified on these data, with the reason

# %% [markdown]
# ## On the command line
#
# `complaintpanel estimate data/processed/NAME --out results/NAME` runs every model above for
# every treatment definition (plus robustness checks with `complaintpanel robustness`) and writes
# JSON, Markdown and LaTeX tables; `make all` does it for the default world.
