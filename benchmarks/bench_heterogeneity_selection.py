"""Cost of the heterogeneity comparison that `make all` runs beside the structural fit (issue 16).

``complaintpanel hmm`` with ``[hmm] select_heterogeneity = true`` (on in
``analysis/config.toml``) fits the homogeneous model (at most 2 starts), the random-intercept
model and two latent δ classes on ``select_customers`` customers drawn at random, and compares
their BICs (``commands.hmm._select_heterogeneity``). This times that comparison on a panel —
by default the default world's true-label panel that ``make all`` builds — in wall and CPU
seconds (the CPU time is what an idle machine would take, one core), and records which
candidate BIC selects.

Writes benchmarks/results/heterogeneity_selection.json. Run (after ``make all``):
``nice -n 5 .venv/bin/python benchmarks/bench_heterogeneity_selection.py``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import peak_rss_mb, write_result
from complaintpanel.commands.hmm import _select_heterogeneity
from complaintpanel.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--panel", type=Path, default=ROOT / "data/processed/"
                        "simulated-truth-labels/panel.parquet")
    parser.add_argument("--config", type=Path, default=ROOT / "analysis/config.toml")
    parser.add_argument("--customers", type=int, default=None,
                        help="override [hmm] select_customers")
    args = parser.parse_args()
    if not args.panel.exists():  # `make bench` before `make all`: nothing to time yet
        print(f"skipped: no panel at {args.panel} (run `make all` first)")
        return
    settings = load_config(args.config).hmm
    settings = dataclasses.replace(
        settings, select_heterogeneity=True,
        select_customers=(settings.select_customers if args.customers is None
                          else args.customers))
    panel = pd.read_parquet(args.panel)
    load_before = os.getloadavg()
    wall, cpu = time.perf_counter(), time.process_time()
    block = _select_heterogeneity(panel, settings)
    result = {
        "panel": str(args.panel.relative_to(ROOT) if args.panel.is_relative_to(ROOT)
                     else args.panel),
        "select_customers": settings.select_customers,
        "selection": block,
        "wall_seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    path = write_result("heterogeneity_selection", result)
    print(f"BIC selects {block.get('selected')}; wall {result['wall_seconds']:.0f} s, CPU "
          f"{result['cpu_seconds']:.0f} s → {path}")


if __name__ == "__main__":
    main()
