"""Cost of padding in the structural model's likelihood on a real slice (issue 19).

The forward-backward recursions run over every padded cell of a block of sequences
(``T_max × N``). The SpotifyCares slice of TWCS (``../shared/data/real``: the brand's replies and
its customers' replies, read as one archive) has a few customer tweets years older than the
quarter it covers; without a panel window their histories stretch the block to hundreds of
weeks. This builds the slice's panel with and without the window of
``analysis/spotifycares.toml`` and times one likelihood-and-gradient evaluation at the
estimator's first start, with the block evaluated whole (as before) and in groups of similar
length (``hmm.likelihood.length_groups``), checking that both give the same values.

Writes benchmarks/results/hmm_padding.json and the block ``hmm-padding`` of docs/hmm.md. Run:
``nice -n 5 .venv/bin/python benchmarks/bench_hmm_padding.py``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import replace_docs_block, write_result
from complaintpanel.hmm import RelationshipHMM, prepare_panel
from complaintpanel.hmm import likelihood as lk
from complaintpanel.hmm.estimator import start_values
from complaintpanel.hmm.parametrisation import ParamLayout

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COMPLAINTPANEL_SHARED_DATA", ROOT.parent / "shared" / "data"))
FILES = ("twcs-brand-exports-excel/SpotifyCares.csv",
         "twcs-spotifycares-followups/support_requests.csv")
REPEATS = 5


def _run(*args: str) -> None:
    from typer.testing import CliRunner

    from complaintpanel.cli import app

    result = CliRunner().invoke(app, list(args), env={"COMPLAINTPANEL_KEY": "bench-not-secret"})
    if result.exit_code != 0:
        raise RuntimeError(result.output)


def _panel(raw: list[Path], folder: Path, config: Path) -> pd.DataFrame:
    interim, processed = folder / "interim", folder / "processed"
    _run("ingest", *map(str, raw), "--out", str(interim), "--config", str(config))
    _run("thread", str(interim), "--config", str(config))
    _run("label", str(interim), "--out", str(processed), "--config", str(config))
    _run("panel", str(processed), "--config", str(config))
    return pd.read_parquet(processed / "panel.parquet")


def _timed(theta: np.ndarray, layout: ParamLayout, chunks: list[Any]) -> tuple[float, Any]:
    best = np.inf
    for _ in range(REPEATS):
        started = time.process_time()
        ev = lk.evaluate(theta, layout, chunks)
        best = min(best, time.process_time() - started)
    return best, ev


def _measure(panel: pd.DataFrame) -> dict[str, Any]:
    spec = RelationshipHMM().make_spec()
    data = prepare_panel(panel, spec)
    layout = ParamLayout(spec)
    chunks = data.chunks(RelationshipHMM().chunk_size)
    theta = start_values(layout, data)
    split = lk.length_groups
    try:
        # grouped whatever the padding, then whole whatever the padding
        lk.length_groups = lambda lengths, padding=0.0: split(lengths, 0.0)  # type: ignore
        grouped_seconds, grouped = _timed(theta, layout, chunks)
        lk.length_groups = lambda lengths, padding=0.0: None  # type: ignore
        whole_seconds, whole = _timed(theta, layout, chunks)
    finally:
        lk.length_groups = split  # type: ignore[assignment]
    padded = sum(c.n_periods * c.n_sequences for c in chunks)
    return {
        "grouped_by_default": any(split(c.lengths) is not None for c in chunks),
        "sequences": data.n_sequences, "customer_periods": data.nobs,
        "longest_history": data.n_periods, "mean_history": data.nobs / data.n_sequences,
        "padded_cells": padded, "padding_ratio": padded / data.nobs,
        "evaluation_cpu_seconds_whole": whole_seconds,
        "evaluation_cpu_seconds_grouped": grouped_seconds,
        "speedup": whole_seconds / grouped_seconds,
        "max_abs_loglik_difference": float(np.max(np.abs(grouped.loglik_seq
                                                         - whole.loglik_seq))),
        "max_abs_gradient_difference": float(np.max(np.abs(grouped.gradient()
                                                           - whole.gradient()))),
    }


def main() -> None:
    # No options: --help says what the script does (and does not start it).
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    raw = [SHARED / "real" / name for name in FILES]
    if not all(path.exists() for path in raw):
        print(f"skipped: the SpotifyCares slice is not in {SHARED / 'real'}")
        return
    panels = {}
    with tempfile.TemporaryDirectory() as tmp:
        panels["no window (analysis/config.toml)"] = _panel(
            raw, Path(tmp) / "default", ROOT / "analysis/config.toml")
        panels["slice window (analysis/spotifycares.toml)"] = _panel(
            raw, Path(tmp) / "slice", ROOT / "analysis/spotifycares.toml")
    result = {"panels": {name: _measure(panel) for name, panel in panels.items()},
              "repeats": REPEATS, "load_average": list(os.getloadavg()),
              "padding_split": lk.PADDING_SPLIT}
    path = write_result("hmm_padding", result)
    lines = []
    for name, m in result["panels"].items():
        lines.append(
            f"* {name}: {m['sequences']:,} histories, longest {m['longest_history']} weeks "
            f"(mean {m['mean_history']:.1f}); padded cells {m['padding_ratio']:.1f}× the "
            f"customer-periods; one likelihood-and-gradient evaluation "
            f"{m['evaluation_cpu_seconds_whole']:.3f} CPU s whole, "
            f"{m['evaluation_cpu_seconds_grouped']:.3f} s grouped ({m['speedup']:.1f}×; "
            f"largest difference in a log-likelihood {m['max_abs_loglik_difference']:.1g}); "
            f"grouped by default (above {lk.PADDING_SPLIT:g}× padding): "
            f"{'yes' if m['grouped_by_default'] else 'no'}")
    source = "(`benchmarks/bench_hmm_padding.py` → `benchmarks/results/hmm_padding.json`)"
    replace_docs_block("hmm.md", "hmm-padding", "\n".join(lines) + "\n" + source)
    print("\n".join(lines), f"→ {path}")


if __name__ == "__main__":
    main()
