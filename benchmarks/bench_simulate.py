"""Simulator throughput: tweets per second for a world of at least 1,000,000 tweets.

Writes benchmarks/results/simulate.json. Run: ``make bench`` or
``.venv/bin/python benchmarks/bench_simulate.py``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import WORK_DIR, peak_rss_mb, write_result
from complaintpanel.config import SimulateConfig
from complaintpanel.simulate import simulate_world, write_world

CUSTOMERS = 28_000  # ≈ 1.0M tweets with the default calibration (about 36 tweets per customer)


def main() -> None:
    # No options: --help says what the script does (and does not start it).
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    spec = SimulateConfig(customers=CUSTOMERS, seed=1)
    out = WORK_DIR / "simulate"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    world = simulate_world(spec)
    drawn = time.perf_counter()
    write_world(world, out)
    finished = time.perf_counter()
    n_tweets = len(world.tweets)
    if n_tweets < 1_000_000:
        raise SystemExit(f"world too small for the benchmark: {n_tweets:,} tweets")
    result = {
        "customers": CUSTOMERS,
        "weeks": spec.weeks,
        "tweets": n_tweets,
        "csv_bytes": (out / "twcs.csv").stat().st_size,
        "seconds_simulate": round(drawn - started, 2),
        "seconds_write": round(finished - drawn, 2),
        "seconds_total": round(finished - started, 2),
        "tweets_per_second": round(n_tweets / (finished - started)),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    path = write_result("simulate", result)
    print(f"simulate: {n_tweets:,} tweets in {result['seconds_total']} s "
          f"({result['tweets_per_second']:,}/s), peak RSS {result['peak_rss_mb']} MiB → {path}")


if __name__ == "__main__":
    main()
