# complaintpanel: one command to rebuild everything, one to test it.
#
#   make all     create .venv if needed, run the pipeline on the embedded default (simulated)
#                world, draw the figures and compile paper/paper.pdf
#   make test    create .venv if needed and run the test suite
#   make bench   run the benchmarks (writes benchmarks/results/*.json)
#   make clean   remove generated files (keeps .venv); make distclean also removes .venv
#
# Every step is a file target, so a second `make all` does nothing. Each stage depends on its
# own config section (a stamp in .make/ that changes only when that section changes) and on its
# own source files.

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

# Refresh the per-section config stamps (standard library only, so it runs before .venv exists).
_stamps := $(shell $(PYTHON) $(PKG)/config.py $(CONFIG) $(STAMPS))

# ---- the embedded default world -------------------------------------------------------------
RAW_DIR := data/raw/simulated
RAW := $(RAW_DIR)/twcs.csv
RESULTS := results/simulated
FIGURES := paper/figures

SIMULATE_SRC := $(PKG)/simulate.py $(PKG)/model.py $(PKG)/phrases.py
DESCRIBE_SRC := $(PKG)/descriptives.py
FIGURE_SRC := $(PKG)/report/figures.py
PAPER_SRC := paper/paper.typ paper/refs.bib $(PKG)/report/paper.py

.PHONY: all test bench lint clean distclean venv

all: paper/paper.pdf

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

$(RAW): $(STAMPS)/config-simulate.stamp $(SIMULATE_SRC) | $(INSTALLED)
	$(CP) simulate --config $(CONFIG) --out $(RAW_DIR)

$(RESULTS)/activity.json: $(RAW) $(DESCRIBE_SRC) | $(INSTALLED)
	$(CP) describe $(RAW) --out $(RESULTS)

$(FIGURES)/weekly_activity.pdf: $(RESULTS)/activity.json $(FIGURE_SRC) | $(INSTALLED)
	$(CP) figures $(RESULTS) --out $(FIGURES)

paper/paper.pdf: $(FIGURES)/weekly_activity.pdf $(RESULTS)/activity.json $(PAPER_SRC) | $(INSTALLED)
	$(CP) paper paper/paper.typ --out $@

# ---- tests, benchmarks, housekeeping ---------------------------------------------------------
test: $(INSTALLED)
	$(BIN)/python -m pytest

bench: $(INSTALLED)
	@set -e; for script in benchmarks/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; done

lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(RAW_DIR) data/interim/* data/processed/* results $(STAMPS) \
		$(FIGURES)/*.pdf $(FIGURES)/*.png paper/tables/* paper/paper.pdf paper/pages

distclean: clean
	rm -rf $(VENV)
