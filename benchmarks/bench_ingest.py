"""Benchmark: ingest + thread of a simulated TWCS-format file of ≥ 2.8M tweets, DuckDB vs pandas.

Usage: ``python benchmarks/bench_ingest.py [--customers 78000] [--repeat 2] [--skip-baseline]``

The input is written by the project's simulator (:func:`simulate_arguments`; 78,000 customers
give about 2.8M tweets, ~370 MB) into ``benchmarks/work/`` and reused on later runs. Each
implementation runs in its own child process, so wall time and peak RSS are its own. The baseline
is a straightforward pandas version of the same two steps (same validation rules, HMAC
pseudonymisation of authors and text handles, conversation roots by vectorised pointer jumping,
direct replies and latency), not a strawman: it is vectorised wherever pandas makes that natural.
Targets (issue 7): ≤ 20 s wall on 2 cores, peak RSS ≤ 4 GB, ≥ 5× faster than pandas.
Results: ``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import WORK_DIR, machine_info, write_result

TARGET_TWEETS = 2_800_000

DUCKDB_CHILD = r"""
import json, resource, sys, time
from complaintpanel.ingest import ingest
from complaintpanel.thread import thread
raw, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter(); c0 = time.process_time()
report = ingest(raw, out, key=b"benchmark-key-not-secret")
t1 = time.perf_counter(); c1 = time.process_time()
treport = thread(out)
t2 = time.perf_counter(); c2 = time.process_time()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ingest_s": t1 - t0, "thread_s": t2 - t1, "total_s": t2 - t0,
                  "cpu_s": c2 - c0, "peak_rss_mb": rss,
                  "rows_in": report["rows_in"], "rows_kept": report["rows_kept"],
                  "customers": report["customers"], "conversations": treport["conversations"],
                  "customer_tweets_replied": treport["customer_tweets_replied"]}))
"""

PANDAS_CHILD = r"""
import hashlib, hmac, json, resource, sys, time
from pathlib import Path
import numpy as np
import pandas as pd

KEY = b"benchmark-key-not-secret"
raw, out = sys.argv[1], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
t0 = time.perf_counter(); c0 = time.process_time()

# ---- ingest
df = pd.read_csv(raw, dtype=str, keep_default_na=False)
n_in = len(df)
tweet_id = pd.to_numeric(df["tweet_id"].where(df["tweet_id"].str.fullmatch(r"[0-9]{1,19}(\.0*)?")),
                         errors="coerce")
inbound = df["inbound"].str.strip().str.lower().map(
    {"true": True, "1": True, "false": False, "0": False})
created = pd.to_datetime(df["created_at"], format="%a %b %d %H:%M:%S %z %Y", errors="coerce",
                         utc=True)
irt_text = df["in_response_to_tweet_id"].str.strip()
irt = pd.to_numeric(irt_text.where(irt_text.str.fullmatch(r"[0-9]{1,19}(\.0*)?")), errors="coerce")
valid = (tweet_id.notna() & (df["author_id"] != "") & inbound.notna() & created.notna()
         & ((irt_text == "") | irt.notna()))
valid &= ~(tweet_id.duplicated(keep="first") & valid)
kept = pd.DataFrame({"tweet_id": tweet_id, "author": df["author_id"], "is_customer": inbound,
                     "created_at": created, "text": df["text"], "in_reply_to": irt,
                     "source_row": np.arange(1, n_in + 1)})[valid]
brands = set(kept.loc[~kept["is_customer"].astype(bool), "author"].str.lower())
cache = {}
def pseudo(handle):
    h = handle.lower()
    if h not in cache:
        cache[h] = "c" + hmac.new(KEY, h.encode(), hashlib.sha256).hexdigest()[:16]
    return cache[h]
def mention(m):
    h = m.group(1)
    return m.group(0) if h.lower() in brands else "@" + pseudo(h)
kept["author_key"] = np.where(kept["is_customer"].astype(bool), kept["author"].map(pseudo),
                              kept["author"])
kept["text"] = kept["text"].str.replace(r"(?<![\w@])@(\w+)", mention, regex=True)
kept = kept.drop(columns="author")
kept["tweet_id"] = kept["tweet_id"].astype("int64")
kept["in_reply_to"] = kept["in_reply_to"].astype("Int64")
kept.to_parquet(out / "tweets.parquet", index=False, compression="zstd")
df[~valid].assign(source_row=np.flatnonzero(~valid.to_numpy()) + 1)[["source_row"]].to_parquet(
    out / "rejects.parquet", index=False)
t1 = time.perf_counter()

# ---- thread
tweets = pd.read_parquet(out / "tweets.parquet")
ids = tweets["tweet_id"]
in_file = tweets["in_reply_to"].isin(ids)
parent = pd.Series(np.where(in_file, tweets["in_reply_to"].fillna(-1).astype("int64"), ids),
                   index=ids.to_numpy())
root = parent.copy()
while True:  # vectorised pointer jumping
    nxt = root.map(root)
    if (nxt.to_numpy() == root.to_numpy()).all():
        break
    root = nxt
tweets["conversation_id"] = root.to_numpy()
by_id = tweets.set_index("tweet_id")
brand_tw = tweets[~tweets["is_customer"]].copy()
par = by_id.reindex(brand_tw["in_reply_to"].astype("float").astype("Int64"))
brand_tw["answers_customer"] = par["is_customer"].fillna(False).to_numpy().astype(bool)
brand_tw["parent_created"] = par["created_at"].to_numpy()
direct = brand_tw[brand_tw["answers_customer"]]
first = (direct.sort_values(["created_at", "tweet_id"]).groupby("in_reply_to")
         .agg(reply_brand=("author_key", "first"), first_reply=("created_at", "first"),
              replies=("tweet_id", "size")))
conv_brand = (brand_tw.groupby(["conversation_id", "author_key"]).size().rename("n")
              .reset_index().sort_values(["conversation_id", "n"], ascending=[True, False])
              .drop_duplicates("conversation_id").set_index("conversation_id")["author_key"])
ex = tweets[tweets["is_customer"]].copy()
ex = ex.join(first, on="tweet_id")
ex["brand"] = ex["reply_brand"].fillna(ex["conversation_id"].map(conv_brand)).fillna("unknown")
ex["brand_replied"] = ex["reply_brand"].notna()
ex["reply_latency_h"] = (ex["first_reply"] - ex["created_at"]).dt.total_seconds() / 3600
ex["replies"] = ex["replies"].fillna(0).astype(int)
ex.to_parquet(out / "exchanges.parquet", index=False, compression="zstd")
latency = brand_tw["created_at"] - brand_tw["parent_created"]
brand_tw["latency_h"] = latency.dt.total_seconds() / 3600
brand_tw.drop(columns=["text"]).to_parquet(out / "brand_replies.parquet", index=False)
t2 = time.perf_counter(); c2 = time.process_time()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ingest_s": t1 - t0, "thread_s": t2 - t1, "total_s": t2 - t0,
                  "cpu_s": c2 - c0, "peak_rss_mb": rss,
                  "rows_in": n_in, "rows_kept": int(valid.sum()),
                  "customers": int(tweets.loc[tweets["is_customer"], "author_key"].nunique()),
                  "conversations": int(tweets["conversation_id"].nunique()),
                  "customer_tweets_replied": int(ex["brand_replied"].sum())}))
"""


def simulate_arguments(customers: int) -> list[str]:
    """Arguments of ``complaintpanel`` that write the benchmark input (without ``--out``).

    The benchmarks need the tweets only: the true answering effects (truth/answer_effects.json)
    take minutes and ~10 GB at this size and are left out; the tweets are the same either way.
    """
    return ["simulate", "--customers", str(customers), "--no-truth-effects"]


def simulated_input(customers: int) -> Path:
    """The simulated TWCS file in benchmarks/work, made with the project's simulator if absent."""
    folder = WORK_DIR / f"twcs-sim-{customers}"
    path = folder / "twcs.csv"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "complaintpanel.cli",
                        *simulate_arguments(customers), "--out", str(folder)], check=True)
    return path


def run_child(code: str, raw: Path, out: Path) -> dict:
    """Run one implementation in a fresh process; return its JSON line plus the load average."""
    load_before = os.getloadavg()[0]
    result = subprocess.run([sys.executable, "-c", code, str(raw), str(out)],
                            capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["load_average_1m_before"] = load_before
    figures["load_average_1m_after"] = os.getloadavg()[0]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=78_000)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--repeat", type=int, default=2,
                        help="Runs of each implementation, alternating; the fastest is kept.")
    args = parser.parse_args()
    raw = simulated_input(args.customers)
    started = time.time()
    # Alternate the two implementations and keep each one's fastest run: on a shared machine
    # this is the fairest comparison available (cpu_s is reported too).
    duck_runs, baseline_runs = [], []
    for _ in range(max(1, args.repeat)):
        duck_runs.append(run_child(DUCKDB_CHILD, raw, WORK_DIR / "out-duckdb"))
        if not args.skip_baseline:
            baseline_runs.append(run_child(PANDAS_CHILD, raw, WORK_DIR / "out-pandas"))
    duck = min(duck_runs, key=lambda run: run["total_s"])
    baseline = min(baseline_runs, key=lambda run: run["total_s"]) if baseline_runs else None
    if duck["rows_in"] < TARGET_TWEETS:
        print(f"warning: only {duck['rows_in']:,} tweets (< {TARGET_TWEETS:,})")
    load = os.getloadavg()
    cpus = os.cpu_count() or 1
    data = {
        "input": {"path": str(raw.relative_to(WORK_DIR.parent.parent)), "bytes": raw.stat().st_size,
                  "tweets": duck["rows_in"], "made_by": " ".join(["complaintpanel",
                                                            *simulate_arguments(args.customers)])},
        "duckdb": duck,
        "pandas_baseline": baseline,
        "runs": {"duckdb_total_s": [round(r["total_s"], 2) for r in duck_runs],
                 "pandas_total_s": [round(r["total_s"], 2) for r in baseline_runs]},
        "speedup_vs_pandas": (round(baseline["total_s"] / duck["total_s"], 2)
                              if baseline else None),
        "cpu_time_ratio_vs_pandas": (round(baseline["cpu_s"] / duck["cpu_s"], 2)
                                     if baseline else None),
        "same_counts": (None if baseline is None else all(
            duck[k] == baseline[k] for k in ("rows_in", "rows_kept", "customers",
                                             "conversations", "customer_tweets_replied"))),
        "targets": {"wall_s_max": 20.0, "peak_rss_mb_max": 4096, "speedup_min": 5.0},
        "meets": {
            "wall": duck["total_s"] <= 20.0,
            "rss": duck["peak_rss_mb"] <= 4096,
            "speedup": None if baseline is None else baseline["total_s"] >= 5 * duck["total_s"],
        },
        "other_processes_running": max(duck["load_average_1m_before"], load[0]) > 0.5 * cpus,
        "note": ("load average above half the core count during the run: other processes "
                 "were competing for the CPUs, so wall times are pessimistic; cpu_s is the "
                 "process's own CPU time") if max(duck["load_average_1m_before"], load[0])
        > 0.5 * cpus else "",
        "run_seconds": round(time.time() - started, 1),
        "machine_at_end": machine_info(),
    }
    path = write_result("ingest", data)
    print(json.dumps({k: data[k] for k in ("duckdb", "pandas_baseline", "runs",
                                           "speedup_vs_pandas", "cpu_time_ratio_vs_pandas",
                                           "meets", "other_processes_running")}, indent=2))
    print(f"→ {path}")


if __name__ == "__main__":
    main()
