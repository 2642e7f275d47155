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
# # 3. The structural model: a hidden Markov model of the relationship
#
# Notebook 2 estimated the *total* effect of answering a complaint. Ma, Sun & Kekre (2015) argue
# that a reply has two opposing effects that only a model of the latent relationship can
# separate:
#
# * the **relationship effect** (δ): an answered complaint moves the customer's relationship
#   with the brand to a better state, where she complains less;
# * the **squeaky-wheel effect** (γ): at a given relationship, a customer whose complaint was
#   once answered complains more readily, having learned that complaining gets help.
#
# The model (`complaintpanel.hmm.RelationshipHMM`): each customer–brand pair is in one of K
# latent states, from *poor* to *good*. In week t and state k she writes
# `complaints ~ Poisson(exp(a_k + γ·R_t))` and `compliments ~ Poisson(exp(c_k))`, where `R_t`
# says one of her complaints was answered before t. The state moves by an ordered logit,
# `P(s_t+1 ≤ k | s_t = j) = logistic(τ_jk − δ·I_t − η·peer_t)`, where `I_t` says the brand
# answered a complaint of hers in t and `peer_t` is the net voice of the brand's other customers.
#
# We fit it on a simulated world, compare the estimates with the parameters the world was drawn
# from, and simulate counterfactual reply policies. Every estimate shown is read from the
# results files `hmm.json` and `policy.json`, which the notebook first writes to a temporary
# folder; set `RESULTS_DIR` below to the results folder of your own run (`results/NAME`, after
# `make all`) to see its fit and policies instead. Only estimates and aggregates are shown.

# %%
# The one setting: None = fit on a small simulated world (in a temporary folder); or the
# results folder of a run, e.g. "../results/simulated" after `make all`.
RESULTS_DIR = None

# %%
import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from complaintpanel.config import load_config
from complaintpanel.hmm import RelationshipHMM
from complaintpanel.hmm.results import read_hmm_results
from complaintpanel.panel import build_panel
from complaintpanel.report.figures import (
    fig_hmm_effects,
    fig_hmm_transitions,
    fig_parameter_recovery,
    fig_policies,
)
from complaintpanel.report.notebook import ROW, show_matrix, show_table, show_values
from complaintpanel.runtime.io import read_json, write_json, write_parquet
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth

# %% [markdown]
# ## The panel and the fit
#
# A world of 1,200 customers × 16 weeks (settings otherwise from `analysis/config.toml`). The
# panel is built from the simulator's **true voice**
# (`complaintpanel.simulate.oracle.voiced_from_truth`), so that the comparison with the true
# parameters measures the estimator, not the voice classifier. `make all` fits the model twice
# on the default world — on the classifier's labels and on the true labels — and draws both
# against the truth.
#
# Maximum likelihood by the forward algorithm, with the exact gradient, from several optimiser
# starts (the first from data moments, the others random): a hidden Markov likelihood can have
# local optima, and the results report how many starts reached the best one. We use two starts
# here to keep the notebook fast; `make all` uses `[hmm] n_starts` from the config. The fit is
# written as `hmm.json`, exactly as `complaintpanel hmm` writes it. With `RESULTS_DIR` set the
# cell fits nothing.

# %%
config = load_config("config.toml")
base = os.environ.get("COMPLAINTPANEL_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="complaintpanel-")
work = Path(base) / "03_structural"  # everything the notebook writes goes here
world = model = panel = None
if RESULTS_DIR is None:
    world = simulate_world(dataclasses.replace(config.simulate, customers=1200, weeks=16))
    panel = build_panel(voiced_from_truth(world), period=config.panel.period)
    print(f"{len(panel):,} customer-brand-weeks of {panel['customer_id'].nunique():,} customers")
    model = RelationshipHMM(n_states=config.hmm.n_states, n_starts=2,
                            random_state=config.hmm.seed)
    model.fit(panel)
    processed_dir, results_dir = work / "processed", work / "results" / "simulated"
    write_parquet(panel, processed_dir / "panel.parquet")
    write_json(model.results_.to_dict(), results_dir / "hmm.json")
else:
    results_dir = Path(RESULTS_DIR)
figures_dir = work / "figures"
source = results_dir / "hmm.json"
results = read_hmm_results(source)  # every estimate below comes from here
print(f"results read from {source}; figures written to {figures_dir}")
print(results.summary())

# %% [markdown]
# The results object has the statsmodels shape — `params`, `bse`, `conf_int()`, `pvalues`,
# `summary_frame()` — so it can be printed, compared and exported like any regression:

# %%
estimates = pd.concat([results.params.rename("estimate"), results.bse.rename("se"),
                       results.conf_int()], axis=1)
show_table(estimates, source=source, digits=4,
           paths={"estimate": ["params", ROW], "se": ["bse", ROW],
                  "lower": ["conf_int_95", ROW, 0], "upper": ["conf_int_95", ROW, 1]})
show_values({"loglike": results.llf, "bic": results.bic, "nobs": results.nobs,
             "n_starts": results.n_starts, "n_starts_converged": results.n_starts_converged},
            source=source, name="fit", digits=1)
print("converged:", results.converged)
# %% [markdown]
# ## Transition matrices with and without intervention
#
# Rows are this week's state, columns next week's. Answering a complaint (`intervened = 1`)
# shifts the ordered logit by δ and moves probability mass towards better states.

# %%
for name, matrix in results.transition_matrices().items():
    print(f"Estimated, {name.replace('_', ' ')}:")
    show_matrix(matrix, source=source, path=["transition_matrices", name], digits=3)

# %%
transitions_png = fig_hmm_transitions(results, figures_dir / "hmm_transitions")[1]
Image(filename=str(transitions_png))

# %% [markdown]
# ## Comparison with the true parameters
#
# The world was drawn from `world.params`, the structural model's one parameter type
# (`complaintpanel.model.ModelParams`, the type the estimates come in too:
# `results.model_params()`). `reported()` lists it under the names the estimator reports, so
# estimates and truth line up row by row. `z` is the estimate's distance from the truth in
# standard errors. (Your own data has no known truth: with `RESULTS_DIR` set, this section and
# the next show nothing; `make all` on the simulated default draws the recovery figure from the
# simulator's `truth/params.json`.)

# %%
if world is not None:
    truth = world.params.reported()
    recovery = pd.DataFrame({"truth": truth, "estimate": results.params, "se": results.bse})
    recovery["z"] = (recovery["estimate"] - recovery["truth"]) / recovery["se"]
    show_table(recovery, source=source, paths={"estimate": ["params", ROW], "se": ["bse", ROW]},
               digits=3)

# %% [markdown]
# `RelationshipHMM.from_params` builds the model at given parameters (no fit): here, the true
# transition matrices.

# %%
state_names = list(results.state_names)
if world is not None:
    true_model = RelationshipHMM.from_params(world.params)
    for name, matrix in (("no intervention", true_model.transmat_),
                         ("intervention", true_model.transmat_intervened_)):
        print(f"True, {name}:")
        display(pd.DataFrame(matrix, index=pd.Index(state_names, name="from"),
                             columns=pd.Index(state_names, name="to")).round(3))
    recovery_png = fig_parameter_recovery(truth, {"true labels": results},
                                          figures_dir / "parameter_recovery")[1]
    display(Image(filename=str(recovery_png)))

# %% [markdown]
# The two effects of a reply, with 95% confidence intervals. Both are positive: a reply improves
# the relationship (δ > 0) *and* teaches the customer to complain (γ > 0).

# %%
effects_png = fig_hmm_effects(results, figures_dir / "hmm_effects")[1]
Image(filename=str(effects_png))

# %% [markdown]
# ### Does the model find each customer's state?
#
# The model's most likely state path (Viterbi, `decode`) against the state the simulator drew,
# as shares of each true state (rows).

# %%
if world is not None:
    _, decoded = model.decode(panel)
    states = decoded.merge(world.states[["customer_id", "brand", "period", "state"]],
                           on=["customer_id", "brand", "period"],
                           suffixes=("_decoded", "_true"))
    display(pd.crosstab(states["state_true"].map(dict(enumerate(state_names))),
                        states["state_decoded"].map(dict(enumerate(state_names))),
                        normalize="index").reindex(index=state_names, columns=state_names)
            .round(3))

# %% [markdown]
# ## Counterfactual reply policies
#
# The fitted model is run forward under reply policies (arms), for two populations: the
# customers of the data, from their filtered states at the end of the data (eight weeks here),
# and a cohort of new customers from the initial distribution (26 weeks):
#
# * **none** — the brand answers no complaint;
# * **observed** — each complaint is answered at the brand's observed rate;
# * **all** — every complaint is answered;
# * **random** / **targeted** — a budget of 10% of complaints, answered at random or by a
#   targeting rule that ranks customers by their filtered state and redress history.
#
# Each answering arm also runs with **learning off for the redress the policy creates**:
# customers already redressed in the data keep their squeaky-wheel term, only the policy's new
# answers raise no later complaints. The two agree until the policy first answers; their
# difference is the squeaky wheel the policy itself creates.
#
# Outcomes are expected values (averages over simulated paths) at the estimate, with 95%
# confidence intervals from 20 parameter draws; contrasts between arms (all − none, learning
# on − off, targeted − random) get intervals the same way. The simulation is run by the
# `complaintpanel policy` command, exactly as `make all` runs it, from the fit saved as
# `hmm.json`; with `RESULTS_DIR` set, the notebook reads the `policy.json` of that run.

# %%
if RESULTS_DIR is None:
    command = [sys.executable, "-m", "complaintpanel.cli", "policy", str(processed_dir),
               "--out", str(results_dir), "--horizon", "8", "--draws", "20",
               "--seed", str(config.hmm.seed), "--config", str(Path("config.toml").resolve())]
    print(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
policy_source = results_dir / "policy.json"
policy = read_json(policy_source)
Markdown((results_dir / "policy_table.md").read_text())

# %% [markdown]
# The contrasts between arms, as stored in `policy.json` (expected difference per customer over
# the horizon, with its 95% interval):

# %%
contrasts = pd.DataFrame(policy["contrasts"])
show_table(contrasts.loc[contrasts["metric"].isin(["complaints", "compliments", "share_best"]),
                         ["population", "contrast", "metric", "estimate", "lower", "upper"]],
           source=policy_source, digits=3,
           paths={column: ["contrasts", ROW, column] for column in ("estimate", "lower", "upper")})

# %%
policies_png = fig_policies(policy, figures_dir / "policies")[1]
Image(filename=str(policies_png))

# %% [markdown]
# For the customers of the data, answering every complaint lowers complaints relative to
# answering none — the relationship effect wins in total, as the design-based estimate of
# notebook 2 found — and the squeaky wheel the policy itself creates is small, since most of
# them were redressed already. For a new cohort it is in full view: answering at the observed
# rates barely moves complaint counts while the share in the best state rises. This is the
# paper's point: judging a care policy by complaint counts alone understates what replies do
# for the relationship.
#
# On the command line:
#
# ```bash
# .venv/bin/complaintpanel hmm data/processed/NAME --out results/NAME
# .venv/bin/complaintpanel policy data/processed/NAME --out results/NAME
# ```
