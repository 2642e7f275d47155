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
# Every count shown is read from the report file the stage wrote (`ingest_report.json`,
# `thread_report.json`, `label_report.json`, `panel_report.json`, `label_validity.json`). Set
# `RESULTS_DIR` below to the results folder of your own run (`results/NAME` after `make all`)
# to see the reports of that run instead (read from `data/interim/NAME` and
# `data/processed/NAME` beside it); nothing is recomputed then.
#
# **Privacy.** Only aggregates and pseudonymised identifiers are shown. Tweet text and customer
# handles stay inside the temporary working folder; they never appear in an output of this
# notebook (a test checks that).

# %%
# The one setting: None = run the stages on a small simulated world (in a temporary folder);
# or the results folder of a run, e.g. "../results/simulated" after `make all`.
RESULTS_DIR = None

# %%
import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
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
from complaintpanel.label.evaluate import LabelReport
from complaintpanel.panel import PANEL_COLUMNS, build_panel, codebook_markdown, panel_report
from complaintpanel.report.figures import fig_activity_by_brand, fig_label_validity
from complaintpanel.report.notebook import ROW, show_matrix, show_table, show_values
from complaintpanel.runtime.io import read_json, write_json, write_parquet
from complaintpanel.simulate import simulate_world, write_world
from complaintpanel.thread import thread

# %% [markdown]
# ## Settings and folders
#
# The settings of every stage live in `analysis/config.toml` (typed by
# `complaintpanel.config`). We keep them, but draw a much **smaller world** than the default
# (4,000 customers × 26 weeks) so that the notebook runs in seconds.
#
# The stages write where `make all` writes, `data/raw|interim|processed/NAME` and
# `results/NAME`, but under a temporary folder (or the folder named by the environment variable
# `COMPLAINTPANEL_NOTEBOOK_DIR`), never into the repository's `data/` or `results/`. With
# `RESULTS_DIR` set, the notebook only reads that run's folders.

# %%
config = load_config("config.toml")
world_settings = dataclasses.replace(config.simulate, customers=1000, weeks=14)

base = os.environ.get("COMPLAINTPANEL_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="complaintpanel-")
work = Path(base) / "01_data"  # everything the notebook writes goes here
results_dir = work / "results" / "simulated" if RESULTS_DIR is None else Path(RESULTS_DIR)
root, name = results_dir.resolve().parent.parent, results_dir.name
raw_dir = work / "data" / "raw" / "simulated"
interim_dir, processed_dir = root / "data" / "interim" / name, root / "data" / "processed" / name
figures_dir = work / "figures"
if RESULTS_DIR is None:
    print(f"world: {world_settings}")
print(f"reports read from {interim_dir}, {processed_dir} and {results_dir}")

# %% [markdown]
# ## Step 0 — simulate a world and write it as raw text
#
# `simulate_world` draws each customer's weekly latent relationship state, her complaints and
# compliments, and the brands' replies; `write_world` writes the tweets as a TWCS-format CSV
# (`twcs.csv`) plus the truth (`truth/params.json`, `truth/states.parquet`,
# `truth/voice.parquet`). The counts below are the world's, from `truth/params.json`.

# %%
if RESULTS_DIR is None:
    world = simulate_world(world_settings)
    write_world(world, raw_dir, truth_effects=False)
    truth_file = raw_dir / "truth" / "params.json"
    show_values(read_json(truth_file)["counts"], source=truth_file, path=["counts"],
                name="simulated")

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
if RESULTS_DIR is None:
    ingest(raw_dir / "twcs.csv", interim_dir)
ingest_file = interim_dir / "ingest_report.json"
ingest_report = read_json(ingest_file)
accounting = ["rows_in", "rows_kept", "rows_rejected", "tweets_customer", "tweets_brand",
              "customers", "brand_authors", "replies", "replies_to_missing_parent"]
show_values({k: ingest_report[k] for k in accounting if k in ingest_report}, source=ingest_file,
            name="ingest")
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
if RESULTS_DIR is None:
    thread(interim_dir)
thread_file = interim_dir / "thread_report.json"
thread_report = read_json(thread_file)
shown = ("tweets", "customer_tweets", "brand_tweets", "conversations", "customer_tweets_replied",
         "median_reply_latency_h", "brands", "unknown_brand")
show_values({k: thread_report[k] for k in shown if k in thread_report}, source=thread_file,
            name="thread", digits=2)
show_values(thread_report["brand_source"], source=thread_file, path=["brand_source"],
            name="customer tweets")

# %% [markdown]
# ## Step 3 — label: complaint, compliment or neutral
#
# The default classifier (`[label] classifier = "rules"` in the config) scores each customer
# tweet with VADER's sentiment lexicon plus customer-care cues ("still waiting", "quick
# reply", "thanks for nothing", …) and labels it a **complaint**, a **compliment** or
# **neutral**. The labelled table (`voiced.parquet`) no longer contains any text; the stage's
# summary is `label_report.json`.
#
# The exchanges table read below holds tweet text; it is passed to the classifier and never
# displayed.

# %%
if RESULTS_DIR is None:
    exchanges = pd.read_parquet(interim_dir / "exchanges.parquet")
    voiced = label_exchanges(exchanges, classifier_for(config.label))
    write_json(label_summary(voiced), processed_dir / "label_report.json")
label_file = processed_dir / "label_report.json"
label_report = read_json(label_file)
show_table(pd.DataFrame({"tweets": label_report["voice_counts"],
                         "share": label_report["voice_shares"]}),
           source=label_file, digits=3,
           paths={"tweets": ["voice_counts", ROW], "share": ["voice_shares", ROW]})

# %% [markdown]
# ### How good is the measurement?
#
# The classifier is a measurement instrument, so we report its error. The simulator knows the
# true voice of each tweet (`truth/voice.parquet`); `label_exchanges_with_truth` labels the
# same tweets with it, and `evaluate_labels` compares the two (`make all` writes the comparison
# as `results/simulated/label_validity.json`; on your own data, with a hand-coded validation
# sample). Rows are the true voice, columns the classifier's. A share of the simulated texts
# (`[simulate] ambiguous_share`, 10% by default) is deliberately ambiguous, as real tweets are,
# so perfect agreement is not expected.

# %%
if RESULTS_DIR is None:
    truth_voiced = label_exchanges_with_truth(exchanges, world.voice)
    write_json(evaluate_labels(truth_voiced["voice"], voiced["voice"]).to_dict(),
               results_dir / "label_validity.json")
validity_file = results_dir / "label_validity.json"
if validity_file.exists():
    stored = read_json(validity_file)
    validity = LabelReport(tuple(stored["labels"]), np.asarray(stored["confusion"]))
    show_matrix(validity.confusion_frame(), source=validity_file, path=["confusion"])
    show_values({"accuracy": stored["accuracy"], "macro_f1": stored["macro_f1"]},
                source=validity_file, digits=3)
    show_table(pd.DataFrame(stored["per_class"]).T.astype({"support": int}),
               source=validity_file, digits=3,
               paths={column: ["per_class", ROW, column]
                      for column in ("precision", "recall", "f1", "support")})
    confusion_png = fig_label_validity(validity, figures_dir / "label_validity",
                                       title="Classifier vs the reference voice")[1]
    display(Image(filename=str(confusion_png)))
else:
    print(f"no {validity_file.name}: the run had no reference labels (validation sample)")

# %% [markdown]
# ## Step 4 — the customer × brand × week panel
#
# `build_panel` aggregates the labelled tweets into one row per customer × brand × week, from
# the pair's first contact to the end of the observation window. Silent weeks are rows with zero
# counts (and a missing sentiment), so "complains less" can be told apart from "left the data".
# `panel_report` accounts for every customer tweet on its way into the panel
# (`panel_report.json`).

# %%
if RESULTS_DIR is None:
    panel = build_panel(voiced, period=config.panel.period, min_tweets=config.panel.min_tweets,
                        window_start=config.panel.window_start,
                        window_end=config.panel.window_end)
    write_parquet(panel, processed_dir / "panel.parquet")
    write_json({**panel_report(voiced, panel), "period": config.panel.period},
               processed_dir / "panel_report.json")
panel = pd.read_parquet(processed_dir / "panel.parquet")
panel_file = processed_dir / "panel_report.json"
show_values(read_json(panel_file), source=panel_file, name="panel", digits=3)

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
