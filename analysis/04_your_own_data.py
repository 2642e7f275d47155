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
# # 4. Running the pipeline on your own export
#
# Your data will rarely come in the layout of the Kaggle "Customer Support on Twitter" file. A
# help-desk tool, a social-listening vendor or an API script each name their columns
# differently. complaintpanel reads any table of messages through a **mapping**: a small TOML
# file that says which of your columns holds each field the pipeline needs. Nothing in the code
# has to change.
#
# This notebook writes a tiny hand-made export in a different layout, writes a mapping for it,
# ingests it, and shows how the ingest stage accounts for every row — including the ones it
# rejects, and why. All messages below are invented for this example. Set `RESULTS_DIR` below
# to the results folder of your own run (`results/NAME`, after `make all DATA=...`) to see how
# the ingest stage accounted for the rows of your file instead (its `ingest_report.json` and
# `rejects.parquet` in `data/interim/NAME`).

# %%
# The one setting: None = the hand-made example below; or the results folder of your run,
# e.g. "../results/NAME" after `make all DATA=path/to/NAME/file.csv`.
RESULTS_DIR = None

# %%
import os
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import display

from complaintpanel.config import load_config
from complaintpanel.ingest import REJECT_REASONS, ingest
from complaintpanel.ingest.mapping import (
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    builtin_mappings,
    load_mapping,
)
from complaintpanel.label import classifier_for, label_exchanges, label_summary
from complaintpanel.panel import build_panel, panel_report
from complaintpanel.report.notebook import show_values
from complaintpanel.runtime.io import read_json
from complaintpanel.thread import thread

pd.set_option("display.max_colwidth", None)

config = load_config("config.toml")
base = os.environ.get("COMPLAINTPANEL_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="complaintpanel-")
work = Path(base) / "04_your_own_data"  # everything the notebook writes goes here
work.mkdir(parents=True, exist_ok=True)
if RESULTS_DIR is None:
    interim_dir = work / "interim"
else:  # the layout of `make all`: results/NAME beside data/interim/NAME
    results_dir = Path(RESULTS_DIR).resolve()
    interim_dir = results_dir.parent.parent / "data" / "interim" / results_dir.name

# %% [markdown]
# ## The fields the pipeline needs
#
# One record is one message. Required: a message id, its author, whether the author is a
# customer (`inbound`), and when it was written. Optional: the text (needed to label the voice),
# the id of the message it answers (needed to find brand replies), and the brand, when the
# export states it.

# %%
print("required:", ", ".join(REQUIRED_FIELDS))
print("optional:", ", ".join(OPTIONAL_FIELDS))

# %% [markdown]
# ## The built-in mappings
#
# Four layouts ship with the package (`complaintpanel/mappings/*.toml`); `ingest` picks the
# first whose columns a file has, TWCS first. `load_mapping("airline")` loads one by name.

# %%
pd.DataFrame([{"mapping": name, "format": m.format, "description": m.description,
               "columns (field ← your column)": ", ".join(f"{k} ← {v}"
                                                          for k, v in m.columns.items()),
               "constants": ", ".join(f"{k} = {v}" for k, v in m.constants.items())}
              for name, m in builtin_mappings().items()]).set_index("mapping")

# %%
airline = load_mapping("airline")
print(f"{airline.name}: brand from column {airline.columns['brand']!r}; "
      f"every row is a customer tweet ({airline.constants}); "
      f"{len(airline.extra_columns)} extra columns carried along (the human sentiment labels)")

# %% [markdown]
# ## A hand-made export in a different layout
#
# Our invented bank's help-desk tool exports one row per message with the columns
# `msg_id, user, is_customer, timestamp, body, reply_to`: `is_customer` is `yes`/`no`,
# timestamps have no time zone (the tool writes UTC), and `reply_to` holds the id of the message
# being answered.
#
# Two rows are deliberately bad, as real exports have them:
#
# * row 14 has a day-first date (`14-03-2018 20:10`): is it 14 March or a typo? The reader
#   never guesses dates, it rejects them;
# * row 15 has its id in spreadsheet scientific notation (`1.015E+3`), the classic damage
#   done by opening a CSV in a spreadsheet. The digits are lost, so the row is rejected, never
#   "repaired".
#
# (This cell and the next two only write and read the example; with `RESULTS_DIR` set they do
# nothing.)

# %%
export_csv = work / "helpdesk_export.csv"
example = """\
msg_id,user,is_customer,timestamp,body,reply_to
1001,dana_k,yes,2018-03-05 09:12:00,"@BrightBankCare my card was declined twice today",
1002,BrightBankCare,no,2018-03-05 09:40:00,"@dana_k sorry about that! Please DM us",1001
1003,dana_k,yes,2018-03-05 10:05:00,"@BrightBankCare thanks, sent you a DM",1002
1004,BrightBankCare,no,2018-03-05 10:30:00,"@dana_k all fixed, the block is lifted",1003
1005,dana_k,yes,2018-03-05 10:41:00,"@BrightBankCare brilliant, that was quick, thank you!",1004
1006,miles_o,yes,2018-03-06 14:00:00,"@BrightBankCare the app crashes on statements. Useless",
1007,miles_o,yes,2018-03-08 08:15:00,"@BrightBankCare still crashing, three days now",
1008,BrightBankCare,no,2018-03-08 09:02:00,"@miles_o we're sorry! A fix is rolling out today",1007
1009,priya_n,yes,2018-03-12 12:30:00,"@BrightBankCare love the new savings pots, great job",
1010,BrightBankCare,no,2018-03-12 13:00:00,"@priya_n thank you, we'll tell the team!",1009
1011,tom_b,yes,2018-03-13 17:45:00,"@BrightBankCare how do I change my address online?",
1012,BrightBankCare,no,2018-03-13 18:20:00,"@tom_b Settings, then Profile, then Address",1011
1013,miles_o,yes,2018-03-14 19:05:00,"@BrightBankCare the update worked, cheers",1008
1014,tom_b,yes,14-03-2018 20:10,"@BrightBankCare done, thanks",1012
1.015E+3,priya_n,yes,2018-03-15 08:00:00,"@BrightBankCare is the branch open on Saturdays?",
1016,dana_k,yes,2018-03-19 09:00:00,"@BrightBankCare you charged me a fee I never agreed to",
"""
if RESULTS_DIR is None:
    export_csv.write_text(example)
    print(f"wrote {export_csv.name} ({export_csv.stat().st_size:,} bytes)")

# %% [markdown]
# ## A mapping for it
#
# The mapping names, for each field, the column that holds it. `assume_timezone` declares the
# offset of timestamps written without one (without it, such timestamps are rejected rather than
# guessed). `[brands] handles` lists the brand's account, so that it is kept (not pseudonymised)
# in text and recognised when a customer addresses it.

# %%
mapping_toml = work / "helpdesk_export.toml"
example_mapping = """\
name = "helpdesk_export"
description = "Invented bank help-desk export: one row per message"
format = "table"
assume_timezone = "+00:00"

[columns]  # field = "your column"
tweet_id = "msg_id"
author_id = "user"
inbound = "is_customer"
created_at = "timestamp"
text = "body"
in_reply_to = "reply_to"

[brands]
handles = ["BrightBankCare"]
"""
if RESULTS_DIR is None:
    mapping_toml.write_text(example_mapping)
    mapping = load_mapping(mapping_toml)
    display(pd.Series(mapping.columns, name="your column").rename_axis("field").to_frame())

# %% [markdown]
# ## Ingest with the mapping
#
# `ingest` validates every row, pseudonymises customer handles (in the author column and in
# @mentions inside text) with a keyed hash, and writes `tweets.parquet`, `rejects.parquet` and
# `ingest_report.json`. The key is generated once and kept beside the data — here in the
# temporary folder; in a project, set `COMPLAINTPANEL_KEY` or keep the key file outside the
# repository. The accounting below is read from `ingest_report.json`.

# %%
if RESULTS_DIR is None:
    ingest(export_csv, interim_dir, mapping=mapping_toml)
report_file = interim_dir / "ingest_report.json"
report = read_json(report_file)
accounting = ["rows_in", "rows_kept", "rows_rejected", "tweets_customer", "tweets_brand",
              "customers", "replies", "first_created_at", "last_created_at"]
show_values({k: report[k] for k in accounting if k in report}, source=report_file, name="ingest")
print("rows in = kept + rejected:",
      report["rows_in"] == report["rows_kept"] + report["rows_rejected"])
print("mapping used:", report["mapping"])
print("rejects by reason:", report["rejects_by_reason"])

# %% [markdown]
# ### The rejected rows and why
#
# Each rejected row is listed with its record number in the file (`source_row`, 1 = first row
# after the header), a machine-readable `reason`, and a `detail` giving the first failure of
# every field. Rejects never contain the text or the author, so this table can be shared when
# asking a data provider to fix an export.

# %%
rejects = pd.read_parquet(interim_dir / "rejects.parquet")
rejects.head(20)

# %% [markdown]
# Every reason a row can be rejected for:

# %%
print(", ".join(REJECT_REASONS))

# %% [markdown]
# ## The rest of the pipeline
#
# From here on the export is like any other input: thread, label, panel. (With `RESULTS_DIR`
# set, notebook 1 shows these stages' reports of your run.)

# %%
if RESULTS_DIR is None:
    thread(interim_dir)
    thread_file = interim_dir / "thread_report.json"
    show_values(read_json(thread_file)["brand_source"], source=thread_file,
                path=["brand_source"], name="customer messages: brand found by")
    voiced = label_exchanges(pd.read_parquet(interim_dir / "exchanges.parquet"),
                             classifier_for(config.label))
    print("voice:", label_summary(voiced)["voice_counts"])
    panel = build_panel(voiced, period=config.panel.period)
    display(pd.Series(panel_report(voiced, panel), name="panel", dtype=object).to_frame())
    display(panel[["customer_id", "brand", "period", "tweets", "complaints", "compliments",
                   "neutral", "replied", "answered_complaints", "reply_latency_h"]])

# %% [markdown]
# ## Running the whole pipeline on your file
#
# Save your mapping next to your export and run everything — ingest, thread, label, panel, the
# reduced-form estimates, the structural model, the policies, figures and a summary — with one
# command from the repository's root:
#
# ```bash
# make all DATA=path/to/helpdesk_export.csv MAPPING=path/to/helpdesk_export.toml
# ```
#
# Outputs go to `data/interim/NAME`, `data/processed/NAME` and `results/NAME`, where NAME is the
# name of the folder holding your file. Single stages work too:
#
# ```bash
# .venv/bin/complaintpanel ingest path/to/helpdesk_export.csv --out data/interim/mine \
#     --mapping path/to/helpdesk_export.toml
# ```
#
# A real export of a few hundred customers over several months is needed before the estimates
# mean anything; a file as small as this one runs through the pipeline, and the summary reports
# which models the data could not identify, and why.
