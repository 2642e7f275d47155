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
# # 1. From raw conversations to the customer × brand × week panel
#
# This notebook walks through the data stages of **complaintpanel**, the reproduction package
# for Ma, Sun & Kekre (2015), *The Squeaky Wheel Gets the Grease*:
#
# ```
# raw conversations ─ingest─▶ tweets ─thread─▶ exchanges ─label─▶ voiced ─panel─▶ panel
# ```
#
# Each stage is one function of the package; the notebook only calls them and shows what they
# report. `make all` runs the same stages as commands (`complaintpanel ingest`, `thread`,
# `label`, `panel`) on the full default world.
#
# We use a **simulated world**: the package draws customers from its structural model and writes
# their tweets in the exact schema of the Kaggle "Customer Support on Twitter" (TWCS) file. The
# simulator knows the truth — above all the *true voice* of every tweet — so we can check the
# measurement (the voice classifier) against it.
#
# **Privacy.** Only aggregates and pseudonymised identifiers are shown. Tweet text and customer
# handles stay inside the temporary working folder; they never appear in an output of this
# notebook (a test checks that).

# %%
import dataclasses
import os
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from complaintpanel.config import load_config
from complaintpanel.ingest import ingest
from complaintpanel.label import (
    classifier_for,
    evaluate_labels,
    label_exchanges,
    label_exchanges_with_truth,
    label_summary,
)
from complaintpanel.panel import PANEL_COLUMNS, build_panel, codebook_markdown, panel_report
from complaintpanel.report.figures import fig_activity_by_brand, fig_label_validity
from complaintpanel.simulate import simulate_world, write_world
from complaintpanel.thread import thread

# %% [markdown]
# ## Settings and working folder
#
# The settings of every stage live in `analysis/config.toml` (typed by
# `complaintpanel.config`). We keep them, but draw a much **smaller world** than the default
# (4,000 customers × 26 weeks) so that the notebook runs in seconds.
#
# Everything this notebook writes goes to a temporary folder (or to the folder named by the
# environment variable `COMPLAINTPANEL_NOTEBOOK_DIR`), never into the repository's `data/` or
# `results/`.

# %%
config = load_config("config.toml")
world_settings = dataclasses.replace(config.simulate, customers=1000, weeks=14)

base = os.environ.get("COMPLAINTPANEL_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="complaintpanel-")
work = Path(base) / "01_data"
raw_dir, interim_dir, figures_dir = work / "raw", work / "interim", work / "figures"
print(f"world: {world_settings}")
print(f"working folder: {work}")

# %% [markdown]
# ## Step 0 — simulate a world and write it as raw text
#
# `simulate_world` draws each customer's weekly latent relationship state, her complaints and
# compliments, and the brands' replies; `write_world` writes the tweets as a TWCS-format CSV
# (`twcs.csv`) plus the truth (`truth/params.json`, `truth/states.parquet`,
# `truth/voice.parquet`).

# %%
world = simulate_world(world_settings)
write_world(world, raw_dir, truth_effects=False)
pd.Series(world.truth_dict()["counts"], name="simulated").to_frame()

# %% [markdown]
# ## Step 1 — ingest: validate, type and pseudonymise every record
#
# `ingest` reads the raw file through a column mapping (TWCS here, detected from the header),
# checks every record (integer ids, a real boolean for `inbound`, timestamps with a time zone,
# no self-replies, no duplicate ids) and replaces every customer handle by a keyed hash
# (HMAC-SHA256) *before anything is written*. The key is generated once and kept beside the
# data (here in the temporary folder), never in the repository.
#
# Every record is accounted for: it ends up either in `tweets.parquet` or in `rejects.parquet`
# with a machine-readable reason, and the report reconciles
# **rows in = rows kept + rows rejected**. The simulator writes clean files, so nothing is
# rejected here; notebook 4 shows a file with bad rows.

# %%
ingest_report = ingest(raw_dir / "twcs.csv", interim_dir)
accounting = ["rows_in", "rows_kept", "rows_rejected", "tweets_customer", "tweets_brand",
              "customers", "brand_authors", "replies", "replies_to_missing_parent"]
display(pd.Series({k: ingest_report[k] for k in accounting}, name="ingest").to_frame())
print("rows in = kept + rejected:",
      ingest_report["rows_in"] == ingest_report["rows_kept"] + ingest_report["rows_rejected"])
print("rejects by reason:", ingest_report["rejects_by_reason"] or "none")
print("mapping:", ingest_report["mapping"], "| record:", ingest_report["record_definition"])

# %% [markdown]
# ## Step 2 — thread: conversations, brands and reply latencies
#
# `thread` links each tweet to the root of its conversation, decides which brand each customer
# tweet addresses (`brand_source`: the brand that replied, the brand tweet it answers, the
# conversation, a declared brand, or the first brand @mention), and records whether and how fast
# a brand answered it directly.

# %%
thread_report = thread(interim_dir)
shown = ("tweets", "customer_tweets", "brand_tweets", "conversations", "customer_tweets_replied",
         "median_reply_latency_h", "brands", "unknown_brand")
display(pd.Series({k: thread_report[k] for k in shown}, name="thread", dtype=object).to_frame())
pd.Series(thread_report["brand_source"], name="customer tweets").rename_axis("brand_source")

# %% [markdown]
# ## Step 3 — label: complaint, compliment or neutral
#
# The default classifier (`[label] classifier = "rules"` in the config) scores each customer
# tweet with VADER's sentiment lexicon plus customer-care cues ("still waiting", "quick
# reply", "thanks for nothing", …) and labels it a **complaint**, a **compliment** or
# **neutral**. The labelled table (`voiced.parquet`) no longer contains any text.
#
# The exchanges table read below holds tweet text; it is passed to the classifier and never
# displayed.

# %%
exchanges = pd.read_parquet(interim_dir / "exchanges.parquet")
voiced = label_exchanges(exchanges, classifier_for(config.label))
summary = label_summary(voiced)
pd.DataFrame({"tweets": summary["voice_counts"], "share": summary["voice_shares"]}).round(3)

# %% [markdown]
# ### How good is the measurement?
#
# The classifier is a measurement instrument, so we report its error. The simulator knows the
# true voice of each tweet (`truth/voice.parquet`); `label_exchanges_with_truth` labels the
# same tweets with it, and `evaluate_labels` compares the two. Rows are the true voice, columns
# the classifier's. A share of the simulated texts (`[simulate] ambiguous_share`, 10% by
# default) is deliberately ambiguous, as real tweets are, so perfect agreement is not expected.

# %%
truth_voiced = label_exchanges_with_truth(exchanges, world.voice)
validity = evaluate_labels(truth_voiced["voice"], voiced["voice"])
display(validity.confusion_frame())
print(f"accuracy {validity.accuracy:.3f}, macro-F1 {validity.macro_f1:.3f}")
pd.DataFrame(validity.per_class).T.round(3)

# %%
confusion_png = fig_label_validity(validity, figures_dir / "label_validity",
                               title="Rules classifier vs the simulated true voice")[1]
Image(filename=str(confusion_png))

# %% [markdown]
# ## Step 4 — the customer × brand × week panel
#
# `build_panel` aggregates the labelled tweets into one row per customer × brand × week, from
# the pair's first contact to the end of the observation window. Silent weeks are rows with zero
# counts (and a missing sentiment), so "complains less" can be told apart from "left the data".
# `panel_report` accounts for every customer tweet on its way into the panel.

# %%
panel = build_panel(voiced, period=config.panel.period, min_tweets=config.panel.min_tweets,
                    window_start=config.panel.window_start, window_end=config.panel.window_end)
pd.Series(panel_report(voiced, panel), name="panel", dtype=object).to_frame()

# %% [markdown]
# A few rows of the panel (the customer id is the pseudonym written by `ingest`):

# %%
panel.head(6)

# %% [markdown]
# Weekly activity by brand, drawn from the panel by the package's figure function (the same
# figure `make all` puts into the paper):

# %%
activity_png = fig_activity_by_brand(panel, figures_dir / "activity_by_brand")[1]
Image(filename=str(activity_png))

# %% [markdown]
# ## The codebook
#
# Every panel column, its type, unit and definition is declared once in
# `complaintpanel.panel.PANEL_COLUMNS`; the pandera schema that validates the panel and the
# codebook `data/CODEBOOK.md` are both generated from it.

# %%
print(f"{len(PANEL_COLUMNS)} columns:", ", ".join(c.name for c in PANEL_COLUMNS))
Markdown(codebook_markdown())

# %% [markdown]
# ## The same steps on the command line
#
# ```bash
# .venv/bin/complaintpanel simulate --out data/raw/simulated
# .venv/bin/complaintpanel ingest data/raw/simulated/twcs.csv --out data/interim/simulated
# .venv/bin/complaintpanel thread data/interim/simulated
# .venv/bin/complaintpanel label data/interim/simulated --out data/processed/simulated
# .venv/bin/complaintpanel panel data/processed/simulated
# ```
#
# `make all` runs exactly these (with `--config analysis/config.toml`) and then the estimates of
# notebooks 2 and 3.
