# complaintpanel: one command to rebuild everything, one to test it.
#
#   make all               create .venv if needed, run the whole pipeline on the embedded default
#                          (simulated) world, draw the figures, write the tables, build paper/paper.pdf
#   make all DATA=f.csv    the same pipeline on your own raw file (TWCS schema, or MAPPING=name|file)
#                          into data/{interim,processed}/NAME and results/NAME (NAME = file's folder),
#                          with a report of that dataset's results, results/NAME/paper.pdf
#   (with the full TWCS archive at data/raw/twcs/twcs.csv, `make all` also runs it and the paper
#   gains its real-data section)
#   make validation-sheet DATA=f.csv   draw the coding sheet data/interim/NAME/validation_sheet.csv;
#                          code it by hand, save it beside the sheet, then
#   make all DATA=f.csv VALIDATION=data/interim/NAME/validation_coded.csv   estimates corrected
#                          for misclassified voice (without VALIDATION: naive, and labelled so)
#   make test              create .venv if needed and run the test suite
#   make lab               JupyterLab on analysis/ with the project's kernel, "complaintpanel (.venv)"
#                          (each notebook and its .py twin edited as one; analysis/README.md)
#   make bench             run the benchmarks (writes benchmarks/results/*.json)
#   make clean             remove generated files (keeps .venv); make distclean also removes .venv
#
# Every step is a file target, so a second `make all` does nothing. Each stage depends on its own
# config section (a stamp in .make/ that changes only when that section changes) and on its own
# source files, so editing [hmm] in analysis/config.toml reruns the structural model only.

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CP := $(BIN)/complaintpanel
CONFIG ?= analysis/config.toml
STAMPS := .make
PKG := src/complaintpanel
C := --config $(CONFIG)

# Refresh the per-section config stamps (standard library only, so it runs before .venv exists).
_stamps := $(shell $(PYTHON) $(PKG)/config.py $(CONFIG) $(STAMPS))

# ---- which data ------------------------------------------------------------------------------
DATA ?=
MAPPING ?=
ifeq ($(strip $(DATA)),)
NAME := simulated
RAW_DIR := data/raw/simulated
RAW := $(RAW_DIR)/twcs.csv
FIGURES := paper/figures
TABLES := paper/tables
else
# DATA may name several files or folders, read as one archive (`complaintpanel ingest A B`);
# NAME defaults to the first one's folder (a folder's own name), e.g. NAME=spotify to choose.
DATA_FIRST := $(firstword $(DATA))
NAME ?= $(if $(wildcard $(DATA_FIRST)/.),$(notdir $(abspath $(DATA_FIRST))),$(notdir $(patsubst %/,%,$(dir $(abspath $(DATA_FIRST))))))
RAW := $(DATA)
FIGURES := results/$(NAME)/figures
TABLES := results/$(NAME)/tables
endif
# The input files (a folder stands for its CSV, gzip, Parquet and JSON files, as in ingest).
RAW_FILES := $(foreach d,$(patsubst %/,%,$(RAW)),$(if $(wildcard $(d)/.),$(sort $(wildcard $(addprefix $(d)/*.,csv csv.gz gz parquet json tsv))),$(d)))
INTERIM := data/interim/$(NAME)
PROCESSED := data/processed/$(NAME)
RESULTS := results/$(NAME)
MAP := $(if $(MAPPING),--mapping $(MAPPING),)
# Fixed string hashing: pyfixest's results depend in the last digits on the iteration order of
# sets of strings, so without this two runs can differ around the 8th significant digit.
export PYTHONHASHSEED := 0
# Each stage writes its wall time and peak memory here for the results manifest.
export COMPLAINTPANEL_TIMINGS := $(abspath $(STAMPS))/timings/$(NAME)

# The code behind each rule, read off the imports of the command that makes it (see
# src/complaintpanel/runtime/make_deps.py; standard library only, so it runs before .venv exists):
# editing a module reruns exactly the rules whose commands import it.
DEPS_MK := $(STAMPS)/deps.mk
_deps := $(shell $(PYTHON) $(PKG)/runtime/make_deps.py $(DEPS_MK))
include $(DEPS_MK)
INGEST_SRC += $(wildcard $(PKG)/ingest/mappings/*.toml)

.PHONY: all test bench lint clean distclean venv head validation-sheet lab

ifeq ($(strip $(DATA)),)
all: paper/paper.pdf $(RESULTS)/manifest.json
else
all: $(RESULTS)/summary.md $(RESULTS)/paper.pdf $(RESULTS)/manifest.json
endif

venv: $(INSTALLED)

# The environment is installed from requirements.lock: the exact versions the tests and the
# benchmarks ran with (tools/write_lock.py writes it; tests/test_packaging.py checks it against
# pyproject.toml and against .venv). LOCK=0 resolves pyproject.toml's version ranges instead.
LOCK ?= 1
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# The lock's ~150 wheels are installed by uv (pip-installed into .venv first; about 3x faster
# than pip on a fresh machine: 55 s against 150 s here) into the same .venv, from the same PyPI;
# INSTALLER=pip uses pip alone, and pip takes over if uv fails. Like pip, uv is asked to
# compile the wheels' bytecode at install (about 30 s once): with PYTHONDONTWRITEBYTECODE set, as
# on CI, Python would otherwise compile pyfixest, pandas, scipy ... from source in every stage's
# process, 2-3 s each, some 60 times in `make all` and again in `make test`.
INSTALLER ?= uv
UV_VERSION := 0.13.8
UV := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
ifeq ($(INSTALLER),uv)
INSTALL_LOCK = $(PIP) uv==$(UV_VERSION) && $(UV) -r requirements.lock && $(UV) --no-deps -e ".[spark,dev,lab]" \
	|| { echo "uv could not install requirements.lock; installing it with pip"; \
	     $(PIP) -r requirements.lock && $(PIP) --no-deps -e ".[spark,dev,lab]"; }
else
INSTALL_LOCK = $(PIP) -r requirements.lock && $(PIP) --no-deps -e ".[spark,dev,lab]"
endif
ifeq ($(LOCK),0)
$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[spark,dev,lab]"
	@touch $@
else
$(INSTALLED): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(INSTALL_LOCK)
	@touch $@
endif

# ---- data stages -------------------------------------------------------------------------------
$(RAW_DIR)/twcs.csv: $(STAMPS)/config-simulate.stamp $(SIMULATE_SRC) | $(INSTALLED)
	$(CP) simulate $(C) --out $(RAW_DIR)

$(INTERIM)/tweets.parquet: $(RAW_FILES) $(STAMPS)/config-ingest.stamp $(INGEST_SRC) | $(INSTALLED)
	$(CP) ingest $(RAW) --out $(INTERIM) $(MAP) $(C)

$(INTERIM)/exchanges.parquet: $(INTERIM)/tweets.parquet $(THREAD_SRC) | $(INSTALLED)
	$(CP) thread $(INTERIM) $(C)

$(PROCESSED)/voiced.parquet: $(INTERIM)/exchanges.parquet $(STAMPS)/config-label.stamp $(LABEL_SRC) | $(INSTALLED)
	$(CP) label $(INTERIM) --out $(PROCESSED) $(C)

$(PROCESSED)/panel.parquet: $(PROCESSED)/voiced.parquet $(STAMPS)/config-panel.stamp $(PANEL_SRC) | $(INSTALLED)
	$(CP) panel $(PROCESSED) $(C)

# ---- validation sample of the labels (DESIGN.md §4.1) ------------------------------------------
# The coding sheet (tweet texts: interim only) is drawn from the labelled tweets. On the simulated
# default an oracle codes it from the truth; with DATA=... a person codes it and passes it back
# with VALIDATION=coded.csv (kept in the interim folder, beside validation_design.json).
VALIDATION ?=
$(INTERIM)/validation_sheet.csv: $(PROCESSED)/voiced.parquet $(STAMPS)/config-validation.stamp $(VALIDATION_SHEET_SRC) | $(INSTALLED)
	$(CP) validation-sample $(PROCESSED) $(C)

validation-sheet: $(INTERIM)/validation_sheet.csv

ifeq ($(strip $(DATA)),)
VALIDATION := $(INTERIM)/validation_coded.csv
$(VALIDATION): $(INTERIM)/validation_sheet.csv $(VALIDATION_ORACLE_SRC) | $(INSTALLED)
	$(CP) validation-code-oracle $< --truth $(RAW_DIR)/truth/voice.parquet --out $@
endif
VALIDATE := $(if $(strip $(VALIDATION)),--validation $(VALIDATION),)

# ---- estimates -----------------------------------------------------------------------------------
# On the simulated world the estimate stage also writes design_truth.json: the true effects
# averaged over the customer-weeks the design-based estimate kept (its own population).
$(RESULTS)/estimates.json: $(PROCESSED)/panel.parquet $(VALIDATION) $(STAMPS)/config-estimate.stamp $(ESTIMATE_SRC) | $(INSTALLED)
	$(CP) estimate $(PROCESSED) --out $(RESULTS) --tables $(TABLES) $(VALIDATE) $(if $(DATA),,--truth $(RAW_DIR)/truth) $(C)

# With a validation sheet the structural model is corrected for misclassified voice (the naive
# fit is kept beside it in hmm.json, block `naive`); the true-label fit below stays naive.
$(RESULTS)/hmm.json: $(PROCESSED)/panel.parquet $(VALIDATION) $(STAMPS)/config-hmm.stamp $(HMM_SRC) | $(INSTALLED)
	$(CP) hmm $(PROCESSED) --out $(RESULTS) $(VALIDATE) $(C)

# On the simulated world the policy stage also writes policy_truth.json: the same policies at the
# world's true parameters (in the fitted model's layout, true confusion included), named in policy.json.
$(RESULTS)/policy.json: $(RESULTS)/hmm.json $(PROCESSED)/panel.parquet $(STAMPS)/config-policy.stamp $(POLICY_SRC) | $(INSTALLED)
	$(CP) policy $(PROCESSED) --out $(RESULTS) $(if $(DATA),,--truth $(RAW_DIR)/truth) $(C)

$(RESULTS)/robustness.json: $(INTERIM)/exchanges.parquet $(STAMPS)/config-label.stamp \
		$(STAMPS)/config-panel.stamp $(STAMPS)/config-estimate.stamp \
		$(STAMPS)/config-robustness.stamp $(ROBUSTNESS_SRC) | $(INSTALLED)
	$(CP) robustness $(INTERIM) --out $(RESULTS) --tables $(TABLES) $(if $(DATA),,--truth $(RAW_DIR)/truth/voice.parquet) $(C)

# Parameter recovery on the simulated world: the same chain with the true voice labels.
TRUTH_PROCESSED := data/processed/$(NAME)-truth-labels
$(TRUTH_PROCESSED)/panel.parquet: $(INTERIM)/exchanges.parquet $(STAMPS)/config-panel.stamp $(PANEL_SRC) $(LABEL_SRC) | $(INSTALLED)
	$(CP) label $(INTERIM) --out $(TRUTH_PROCESSED) --truth $(RAW_DIR)/truth/voice.parquet $(C)
	$(CP) panel $(TRUTH_PROCESSED) $(C)

$(RESULTS)/truth-labels/hmm.json: $(TRUTH_PROCESSED)/panel.parquet $(STAMPS)/config-hmm.stamp $(HMM_SRC) | $(INSTALLED)
	$(CP) hmm $(TRUTH_PROCESSED) --out $(RESULTS)/truth-labels $(C)

$(RESULTS)/label_validity.json: $(PROCESSED)/voiced.parquet $(VALIDATION) $(VALIDITY_SRC) | $(INSTALLED)
	$(CP) label-validity $(PROCESSED)/voiced.parquet $(if $(DATA),,$(RAW_DIR)/truth/voice.parquet) \
		--out $(RESULTS) $(VALIDATE) $(C)

# ---- figures, tables, paper ---------------------------------------------------------------------------
RESULT_FILES := $(RESULTS)/estimates.json $(RESULTS)/hmm.json $(RESULTS)/policy.json \
	$(RESULTS)/robustness.json $(RESULTS)/activity.json
ifeq ($(strip $(DATA)),)
RESULT_FILES += $(RESULTS)/truth-labels/hmm.json $(RESULTS)/label_validity.json
else ifneq ($(strip $(VALIDATION)),)
RESULT_FILES += $(RESULTS)/label_validity.json
endif

$(RESULTS)/activity.json: $(INTERIM)/tweets.parquet $(DESCRIBE_SRC) | $(INSTALLED)
	$(CP) describe $(INTERIM) --out $(RESULTS)

# The figures command also writes the paper's regression tables (reduced, hmm: .typ/.tex/.md) into
# $(TABLES) from the same results files; on the simulated world the truth (params.json and the
# answer_effects.json beside it) is drawn on the figures.
# The classifiers' cross-domain validity is measured on the shared labelled data by
# benchmarks/bench_labels.py; its committed result is drawn here (the data itself is not needed).
CLASSIFIER_BENCHMARK := benchmarks/results/labels.json
$(FIGURES)/.done: $(RESULT_FILES) $(CLASSIFIER_BENCHMARK) $(FIGURES_SRC) | $(INSTALLED)
	$(CP) figures $(RESULTS) --processed $(PROCESSED) --out $(FIGURES) --tables $(TABLES) $(if $(DATA),,--truth $(RAW_DIR)/truth/params.json) --classifier-benchmark $(CLASSIFIER_BENCHMARK)
	@touch $@

$(RESULTS)/summary.md: $(FIGURES)/.done $(RESULT_FILES) $(SUMMARY_SRC) | $(INSTALLED)
	$(CP) summary $(RESULTS) --out $@

# The real-data section of the paper: when the full public TWCS archive is at TWCS_RAW, `make all`
# also runs the whole pipeline on it (results/twcs, with its own report) and the paper reports it
# (paper/real-data.typ); without the file nothing more runs and the section gives the command.
# The recursive make always runs (FORCE) but touches results/twcs/summary.md only when a stage
# reran, so a second `make all` still rebuilds nothing.
TWCS_RAW := data/raw/twcs/twcs.csv
TWCS_RESULTS :=
ifeq ($(strip $(DATA)),)
ifneq ($(wildcard $(TWCS_RAW)),)
TWCS_RESULTS := results/twcs
$(TWCS_RESULTS)/summary.md: FORCE | $(INSTALLED)
	$(MAKE) all DATA=$(TWCS_RAW)
endif
endif
.PHONY: FORCE
FORCE:

PAPER_TYP := paper/dataset-lib.typ paper/real-data.typ
# the paper also reads the committed benchmark results (its coverage appendix and the text)
# The manuscript's reproducibility appendix reads the manifest (time and memory of each stage),
# so the manifest is written first; typesetting itself is therefore not among its stages.
paper/paper.pdf: $(FIGURES)/.done $(RESULTS)/summary.md $(RESULTS)/manifest.json paper/paper.typ paper/refs.bib $(PAPER_TYP) \
		$(wildcard benchmarks/results/*.json) $(if $(TWCS_RESULTS),$(TWCS_RESULTS)/summary.md) $(PAPER_SRC) | $(INSTALLED)
	$(CP) paper paper/paper.typ --out $@ $(if $(TWCS_RESULTS),--real $(TWCS_RESULTS))

# With DATA=...: a report of that dataset built from its results folder only (paper/dataset.typ).
$(RESULTS)/paper.pdf: $(FIGURES)/.done $(RESULTS)/summary.md $(RESULT_FILES) paper/dataset.typ \
		$(PAPER_TYP) $(PAPER_SRC) | $(INSTALLED)
	$(CP) paper paper/dataset.typ --results $(RESULTS) --out $@

$(RESULTS)/manifest.json: $(RESULTS)/summary.md $(if $(DATA),$(RESULTS)/paper.pdf) $(MANIFEST_SRC) | $(INSTALLED)
	$(CP) manifest $(RESULTS) $(foreach f,$(RAW_FILES),--raw $(f)) --processed $(PROCESSED) $(C)

# ---- tests, benchmarks, housekeeping ---------------------------------------------------------------
# Test modules run in parallel, one module per worker at a time (module-scoped fixtures such as
# the Spark session and the two `make all` runs are built once); TEST_WORKERS=0 runs serially.
# Modules are handed out in collection order (tests/conftest.py puts the ones that run the whole
# pipeline first): xdist's default reorders them by test count, which left the SpotifyCares
# slice (3 tests, 5 min) to start 14 min into a run and finish alone. The slowest tests are
# listed at the end of the run.
TEST_WORKERS ?= auto
test: $(INSTALLED)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=25

bench: $(INSTALLED)
	@set -e; for script in benchmarks/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; done

# The optional voice head ([label] classifier = "head"), trained on the shared labelled data
# (docs/classifier.md); not needed by the default rules classifier.
SHARED_DATA ?= ../shared/data
head: $(INSTALLED)
	$(CP) label-train-head --labelled $(SHARED_DATA)/labelled --real $(SHARED_DATA)/real

# JupyterLab on analysis/ (the notebooks read analysis/config.toml from there). Installs the
# `lab` extra if .venv lacks it, registers this venv's Python as the kernel the notebooks name
# ("complaintpanel", under KERNEL_PREFIX: the venv itself by default), and starts the server;
# LAB_ARGS go to `jupyter lab` (e.g. LAB_ARGS="--no-browser --port=8899"). Order-only on the
# venv: an existing .venv is used as it is.
KERNEL_PREFIX ?= $(abspath $(VENV))
LAB_ARGS ?=
lab: | $(INSTALLED)
	@$(BIN)/python -c "import jupyterlab, jupytext, ipykernel" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[lab]"
	$(BIN)/python -m ipykernel install --prefix "$(KERNEL_PREFIX)" --name complaintpanel \
		--display-name "complaintpanel (.venv)"
	$(BIN)/jupyter lab --ServerApp.root_dir=analysis $(LAB_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks analysis tools

clean:
	rm -rf data/raw/simulated data/interim/*/ data/processed/*/ results $(STAMPS) paper/pages \
		paper/figures/*.pdf paper/figures/*.png paper/figures/.done paper/tables/*.md paper/tables/*.typ \
		paper/tables/*.tex paper/paper.pdf

distclean: clean
	rm -rf $(VENV)
