"""Shared harness for the benchmark scripts: machine facts, peak memory, result files.

Each benchmark writes ``benchmarks/results/<name>.json`` with its figures, so targets are checked
by reading numbers, never by timed unit tests.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
WORK_DIR = Path(__file__).resolve().parent / "work"


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU count, platform, Python and key library versions, and the current load average."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "load_average_1m": os.getloadavg()[0],
        "versions": {
            name: _version(name)
            for name in ("complaintpanel", "numpy", "pandas", "duckdb", "pyarrow", "scipy",
                         "pyfixest", "scikit-learn", "vaderSentiment", "hmmlearn", "pyspark",
                         "sqlglot")
        },
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process and its finished children, in MiB (Linux)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` plus machine facts to ``benchmarks/results/<name>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine_info(),
               "finished_at_unix": round(time.time()), **data}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    return path


def replace_docs_block(doc: str, marker: str, text: str) -> Path:
    """Replace the text between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` in docs/."""
    path = Path(__file__).resolve().parents[1] / "docs" / doc
    content = path.read_text(encoding="utf-8")
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in content or end not in content:
        raise ValueError(f"{path} has no {start} … {end} block")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")
    return path
