"""The results manifest: what went in, with which settings and software, and what it cost.

``results/<dataset>/manifest.json`` records the input files with their SHA-256, the settings,
the seeds, the package and dependency versions, the hashes of every results file, and the wall
time and peak memory of each stage. Everything except the ``stages`` timings is identical
between two runs on the same inputs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from complaintpanel.config import Config
from complaintpanel.runtime.io import sha256_file

__all__ = ["DEPENDENCIES", "build_manifest", "hardware"]

DEPENDENCIES: tuple[str, ...] = (
    "complaintpanel", "numpy", "scipy", "pandas", "pyarrow", "duckdb", "pyfixest",
    "linearmodels", "statsmodels", "scikit-learn", "vaderSentiment", "matplotlib", "seaborn",
    "typst", "pandera", "typer",
)


def hardware() -> dict[str, Any]:
    """Describe the machine the stages ran on: architecture, processor, logical CPUs and memory.

    Read from the standard library and, on Linux, ``/proc/cpuinfo`` (the processor's model
    name; ``platform.processor()`` is empty there); fields that cannot be read are ``None``.
    """
    model = platform.processor() or None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory = None
    return {"machine": platform.machine(), "processor": model, "logical_cpus": os.cpu_count(),
            "memory_gib": round(memory, 1) if memory is not None else None}


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _file_entry(path: Path, root: Path) -> dict[str, Any]:
    try:
        shown = str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        shown = str(path)
    return {"path": shown, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def build_manifest(results_dir: Path, raw_files: list[Path], config: Config,
                   config_path: Path | None, timings_dir: Path | None,
                   processed_dir: Path | None = None) -> dict[str, Any]:
    """Collect the manifest of one dataset's results.

    Parameters
    ----------
    results_dir : Path
        ``results/<dataset>``; every JSON and Parquet file below it is hashed.
    raw_files : list of Path
        The raw inputs.
    config : Config
        The settings in force.
    config_path : Path or None
        Where they came from.
    timings_dir : Path or None
        Folder of per-stage timing records (written by each command when the Makefile runs it).
    processed_dir : Path or None
        Processed data folder; its label report names the classifier used.
    """
    root = Path.cwd()
    classifier = None
    if processed_dir is not None and (processed_dir / "label_report.json").exists():
        report = json.loads((processed_dir / "label_report.json").read_text())
        classifier = {k: report.get(k) for k in ("classifier", "classifier_version")}
    # Hidden files are the stages' bookkeeping (completion records, locks, scratch folders;
    # complaintpanel.runtime.io), not results.
    outputs = sorted(p for p in results_dir.rglob("*")
                     if p.is_file() and p.suffix in {".json", ".parquet", ".md", ".tex"}
                     and p.name != "manifest.json"
                     and not any(part.startswith(".")
                                 for part in p.relative_to(results_dir).parts))
    stages = []
    if timings_dir is not None and timings_dir.exists():
        stages = sorted((json.loads(p.read_text()) for p in timings_dir.glob("*.json")),
                        key=lambda r: (r["stage"], r["command"]))
    return {
        "inputs": [_file_entry(p, root) for p in raw_files if p.exists()],
        "config_file": str(config_path) if config_path else None,
        "config": dataclasses.asdict(config),
        "seeds": {"simulate": config.simulate.seed, "hmm": config.hmm.seed},
        "classifier": classifier,
        "hardware": hardware(),
        "software": {"python": sys.version.split()[0], "platform": platform.platform(),
                     "packages": {name: _version(name) for name in DEPENDENCIES}},
        "outputs": [_file_entry(p, root) for p in outputs],
        "stages": stages,
        "note": "All fields except 'stages' (wall time, peak memory) are identical between two "
                "runs on the same inputs, settings and software.",
    }
