"""Run times of the analysis notebooks, as a researcher re-executes them.

Writes benchmarks/results/notebooks.json: for each notebook in ``analysis/``, the wall time and
the CPU time (kernel included) of a full execution through a Jupyter kernel of this interpreter
— first with its default setting (``RESULTS_DIR = None``: the small simulated world), then with
``RESULTS_DIR`` pointing at the results folder the first run wrote (reading only). The kernel
start is included, as when a notebook is opened and run. Run:
``.venv/bin/python benchmarks/bench_notebooks.py`` (about 1–2 minutes on 2 idle cores).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import write_result

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
NOTEBOOKS = ("01_data", "02_reduced_form", "03_structural", "04_your_own_data")
SETTING = "RESULTS_DIR = None"
KERNEL = "complaintpanel-bench"


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _execute(name: str, folder: Path, results_dir: Path | None) -> dict[str, float]:
    run_dir = folder / "run"
    run_dir.mkdir(parents=True)
    shutil.copy(ANALYSIS / "config.toml", run_dir / "config.toml")
    notebook = nbformat.read(ANALYSIS / f"{name}.ipynb", as_version=4)
    if results_dir is not None:
        cell = next(c for c in notebook.cells if c.cell_type == "code")
        cell.source = cell.source.replace(SETTING, f"RESULTS_DIR = {str(results_dir)!r}")
    started, cpu = time.perf_counter(), _cpu_seconds()
    NotebookClient(notebook, timeout=1200, kernel_name=KERNEL,
                   resources={"metadata": {"path": str(run_dir)}}).execute()
    return {"wall_seconds": round(time.perf_counter() - started, 1),
            "cpu_seconds": round(_cpu_seconds() - cpu, 1)}


def main() -> None:
    # No options: --help says what the script does (and does not start it).
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    import os

    with tempfile.TemporaryDirectory(prefix="bench-notebooks-") as tmp:
        root = Path(tmp)
        spec = root / "jupyter" / "kernels" / KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "complaintpanel benchmark", "language": "python"}))
        os.environ["JUPYTER_PATH"] = str(root / "jupyter")
        out = root / "out"
        os.environ["COMPLAINTPANEL_NOTEBOOK_DIR"] = str(out)
        timings: dict[str, Any] = {}
        for name in NOTEBOOKS:
            timings[name] = {"simulated": _execute(name, root / name / "default", None)}
            # 04 reads data/interim/NAME beside results/NAME, which 01 writes
            source = "01_data" if name == "04_your_own_data" else name
            results = out / source / "results" / "simulated"
            os.environ["COMPLAINTPANEL_NOTEBOOK_DIR"] = str(root / name / "results-out")
            timings[name]["results_dir"] = _execute(name, root / name / "results", results)
            os.environ["COMPLAINTPANEL_NOTEBOOK_DIR"] = str(out)
            print(name, timings[name], flush=True)
    write_result("notebooks", {
        "notebooks": timings,
        "note": "one execution each through a Jupyter kernel, kernel start included; "
                "'simulated' = default setting, 'results_dir' = reading the first run's "
                "results folder; wall time depends on the machine's load (load_average_1m)"})


if __name__ == "__main__":
    main()
