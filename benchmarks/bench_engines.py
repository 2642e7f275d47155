"""Benchmark: the data stages (ingest, thread, panel) on DuckDB and on Spark with 1 and 2 cores.

Usage: ``python benchmarks/bench_engines.py [--customers 78000] [--engines duckdb,spark1,spark2]``

The input is the same simulated TWCS-format world as ``bench_ingest.py`` (``--customers 78000``
gives about 2.8M tweets), made once in ``benchmarks/work/``. Labels for the panel come from the
rules classifier, once, outside the timed part (labelling is not an engine stage). Each engine
configuration runs in its own child process: DuckDB with 2 threads, Spark in local mode with
``local[1]`` and ``local[2]`` (driver memory 8 GB). Reported per configuration: wall time of
each stage, Spark's session start-up separately, and the peak memory of the child and its JVM
(sampled), and the CPU time of the child and its JVM during the stages (``cores_busy`` = CPU
time / wall time). The Spark speed-up from 1 to 2 cores is the ratio of their stage times. The
outputs of every configuration are checked against DuckDB's (row counts and the accounting
reports).
Results: ``benchmarks/results/engines.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import WORK_DIR, machine_info, write_result
from benchmarks.bench_ingest import simulate_arguments, simulated_input

CHILD = r"""
import json, sys, threading, time
from pathlib import Path
import psutil

engine, master, raw, out, voiced = sys.argv[1:6]
peak = [0]
def sample():
    me = psutil.Process()
    while True:
        try:
            rss = me.memory_info().rss + sum(c.memory_info().rss
                                             for c in me.children(recursive=True))
        except psutil.Error:
            rss = 0
        peak[0] = max(peak[0], rss)
        time.sleep(0.2)
threading.Thread(target=sample, daemon=True).start()

def cpu_seconds():
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total

from complaintpanel.runtime.engines import SparkEngine, spark_session
from complaintpanel.ingest import ingest
from complaintpanel.panel import build_panel, panel_report
from complaintpanel.thread import thread

timings = {}
stage_engine = engine
if engine == "spark":
    t = time.perf_counter()
    session = spark_session(master, driver_memory="8g")
    timings["session_start_s"] = time.perf_counter() - t
    stage_engine = SparkEngine(session)
    kwargs = {"engine": "spark", "spark_master": master}
else:
    kwargs = {"engine": "duckdb", "threads": 2}
cpu0 = cpu_seconds()
t = time.perf_counter()
ingest_report = ingest(raw, out, key=b"benchmark-key-not-secret", **kwargs)
timings["ingest_s"] = time.perf_counter() - t
t = time.perf_counter()
thread_report = thread(out, **kwargs)
timings["thread_s"] = time.perf_counter() - t
t = time.perf_counter()
panel = build_panel(voiced, period="week", engine=stage_engine)
report = panel_report(voiced, panel, engine=stage_engine)
timings["panel_s"] = time.perf_counter() - t
timings["stages_s"] = timings["ingest_s"] + timings["thread_s"] + timings["panel_s"]
# CPU of this process and the JVM during the stages: cores kept busy on average. Spark with
# local[1] still uses the other core for the JVM's garbage collection and JIT compilation.
timings["stages_cpu_s"] = cpu_seconds() - cpu0
timings["cores_busy"] = timings["stages_cpu_s"] / timings["stages_s"]
time.sleep(0.5)
print(json.dumps({**timings, "peak_rss_mb": peak[0] / 2**20,
                  "ingest_report": {k: v for k, v in ingest_report.items()
                                    if k not in ("seconds", "engine")},
                  "thread_report": {k: v for k, v in thread_report.items()
                                    if k not in ("seconds", "engine")},
                  "panel_report": report}))
"""

CONFIGURATIONS = {
    "duckdb": ("duckdb", ""),
    "spark1": ("spark", "local[1]"),
    "spark2": ("spark", "local[2]"),
}


def labelled(raw: Path) -> Path:
    """voiced.parquet for the world (DuckDB ingest + thread, rules labels), made once."""
    folder = raw.parent / "engines-voiced"
    voiced = folder / "voiced.parquet"
    if not voiced.exists():
        import pandas as pd

        from complaintpanel.config import LabelConfig
        from complaintpanel.ingest import ingest
        from complaintpanel.label.stage import classifier_for, label_exchanges
        from complaintpanel.thread import thread

        ingest(raw, folder, key=b"benchmark-key-not-secret")
        thread(folder)
        exchanges = pd.read_parquet(folder / "exchanges.parquet")
        label_exchanges(exchanges, classifier_for(LabelConfig())).to_parquet(voiced)
    return voiced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=78_000)
    parser.add_argument("--engines", default="duckdb,spark1,spark2")
    args = parser.parse_args()
    raw = simulated_input(args.customers)
    voiced = labelled(raw)
    runs = {}
    for name in args.engines.split(","):
        engine, master = CONFIGURATIONS[name]
        out = WORK_DIR / f"engines-{name}"
        print(f"== {name}", flush=True)
        done = subprocess.run([sys.executable, "-c", CHILD, engine, master, str(raw), str(out),
                               str(voiced)], check=True, capture_output=True, text=True)
        runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print({k: round(v, 1) for k, v in runs[name].items() if isinstance(v, float)},
              flush=True)
    reference = runs.get("duckdb")
    same = {name: all(run[r] == reference[r] for r in
                      ("ingest_report", "thread_report", "panel_report"))
            for name, run in runs.items()} if reference else {}
    figures = {name: {k: round(v, 2) for k, v in run.items() if isinstance(v, float)}
               for name, run in runs.items()}
    result = {
        "input": {"path": str(raw.relative_to(WORK_DIR.parent.parent)),
                  "tweets": runs[next(iter(runs))]["ingest_report"]["rows_in"],
                  "made_by": " ".join(["complaintpanel", *simulate_arguments(args.customers)]),
                  "panel_rows": runs[next(iter(runs))]["panel_report"]["rows"]},
        "runs": figures,
        "reports_identical_to_duckdb": same,
    }
    if "spark1" in runs and "spark2" in runs:
        result["spark_speedup_1_to_2_cores"] = {
            stage: round(runs["spark1"][stage] / runs["spark2"][stage], 2)
            for stage in ("ingest_s", "thread_s", "panel_s", "stages_s")}
    if reference and "spark2" in runs:
        result["spark2_vs_duckdb_slowdown"] = round(
            runs["spark2"]["stages_s"] / reference["stages_s"], 1)
    result["machine_during_run"] = machine_info()
    path = write_result("engines", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
