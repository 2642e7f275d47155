"""Equality harness for ingest speed work: a digest of every output, recorded and checked.

Usage: ``python benchmarks/ingest_equality.py record|check [--large] [--file F]``

Ingests each real excerpt of ``../shared/data/real`` (alone, with the mapping it is detected
as), two archives of several inputs (the SpotifyCares two-sided slice; the five brand exports),
the real-quirks file of ``bench_ingest.py`` at five copies (``real-quirks-small``, ~190k
records, every quirk and duplicates) and with ``--large`` at 2.8M records, always with the
same key, and digests the outputs: ``tweets.parquet`` and ``rejects.parquet`` sorted by record
number (schema and a canonical CSV rendering of every value, SHA-256) and the report (every key
but ``seconds``). ``record`` writes the digests (default ``benchmarks/work/ingest_equality.json``);
``check`` recomputes them and names each case and output that differs (exit status 1). A
change that makes ingest faster must leave every digest as it was: same kept rows, same rejects
and reasons, same pseudonyms, same accounting.

The digests are hashes of pseudonymised outputs, kept in ``benchmarks/work`` (not published).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import WORK_DIR
from benchmarks.bench_ingest import SHARED_REAL, TARGET_TWEETS, real_quirks_input

KEY = b"equality-harness-key-not-secret"
SINGLE = (
    "twcs-head-5k/twcs.csv",
    "twcs-kaggle-sample/sample.csv",
    "twcs-spotifycares-followups/support_requests.csv",
    "twcs-reply-pairs-head/response_pairs_sample.csv",
    "airline-sentiment-2015/Tweets.csv",
    "airline-sentiment-2015-excel-mangled/Tweets.csv",
    "ibm-twitter-docpred/dev.json",
    "ibm-twitter-docpred/test.json",
    "twcs-brand-exports-excel/AirAsiaSupport.csv",
    "twcs-brand-exports-excel/AskRBC.csv",
    "twcs-brand-exports-excel/NikeSupport.csv",
    "twcs-brand-exports-excel/SpotifyCares.csv",
    "twcs-brand-exports-excel/Walmart.csv",
)
ARCHIVES = {
    "spotifycares-two-sided": ("twcs-brand-exports-excel/SpotifyCares.csv",
                               "twcs-spotifycares-followups/support_requests.csv"),
    "brand-exports-folder": ("twcs-brand-exports-excel",),
}


def table_digest(path: Path) -> dict[str, Any]:
    """Schema, row count and SHA-256 of the table sorted by record number, as canonical CSV."""
    table = pq.read_table(path)
    keys = [("source_row", "ascending")]
    if "derived" in table.column_names:
        keys.append(("derived", "ascending"))
    if "tweet_id" in table.column_names:
        keys.append(("tweet_id", "ascending"))
    table = table.sort_by(keys)
    digest = hashlib.sha256(str(table.schema).encode())
    for start in range(0, table.num_rows, 200_000):
        buffer = io.BytesIO()
        pacsv.write_csv(table.slice(start, 200_000), buffer,
                        pacsv.WriteOptions(include_header=start == 0))
        digest.update(buffer.getvalue())
    return {"rows": table.num_rows, "sha256": digest.hexdigest()}


def report_digest(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text())
    report.pop("seconds", None)
    text = json.dumps(report, sort_keys=True)
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "report": report}


def run_case(inputs: list[Path], out: Path) -> dict[str, Any]:
    from complaintpanel.ingest import ingest

    started = time.perf_counter()
    ingest(inputs[0] if len(inputs) == 1 else inputs, out, key=KEY)
    seconds = time.perf_counter() - started
    return {"tweets": table_digest(out / "tweets.parquet"),
            "rejects": table_digest(out / "rejects.parquet"),
            "report": report_digest(out / "ingest_report.json"),
            "seconds": round(seconds, 2)}


# Copies of the real excerpts in the small real-quirks file (every quirk, ~190k records).
SMALL_COPIES = 5


def cases(large: bool) -> dict[str, list[Path]]:
    found = {relative: [SHARED_REAL / relative] for relative in SINGLE}
    found.update({name: [SHARED_REAL / r for r in parts] for name, parts in ARCHIVES.items()})
    unit = real_quirks_input(1)[1]["records_per_copy"]
    found["real-quirks-small"] = [real_quirks_input(SMALL_COPIES * unit)[0]]
    if large:
        found["real-quirks-2.8M"] = [real_quirks_input(TARGET_TWEETS)[0]]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "check"))
    parser.add_argument("--large", action="store_true", help="Also the 2.8M real-quirks file.")
    parser.add_argument("--only-large", action="store_true", help="Only the 2.8M file.")
    parser.add_argument("--file", type=Path, default=WORK_DIR / "ingest_equality.json")
    args = parser.parse_args()
    chosen = cases(args.large or args.only_large)
    if args.only_large:
        chosen = {k: v for k, v in chosen.items() if k == "real-quirks-2.8M"}
    recorded = json.loads(args.file.read_text()) if args.file.exists() else {}
    results: dict[str, Any] = {}
    differing = []
    with tempfile.TemporaryDirectory(dir=WORK_DIR) as scratch:
        for index, (name, inputs) in enumerate(chosen.items()):
            results[name] = run_case(inputs, Path(scratch) / f"case-{index}" / "out")
            if args.action == "check":
                before = recorded.get(name)
                if before is None:
                    print(f"{name}: not recorded")
                    differing.append(name)
                    continue
                bad = [part for part in ("tweets", "rejects", "report")
                       if results[name][part]["sha256"] != before[part]["sha256"]]
                if bad:
                    differing.append(name)
                    for part in bad:
                        print(f"{name}: {part} DIFFERS")
                    if "report" in bad:
                        old, new = before["report"]["report"], results[name]["report"]["report"]
                        for key in sorted(set(old) | set(new)):
                            if old.get(key) != new.get(key):
                                print(f"    report[{key!r}]: {old.get(key)!r:.300} -> "
                                      f"{new.get(key)!r:.300}")
            print(f"{name}: {results[name]['seconds']} s "
                  f"(was {recorded.get(name, {}).get('seconds')})", flush=True)
    if args.action == "record":
        args.file.parent.mkdir(parents=True, exist_ok=True)
        args.file.write_text(json.dumps({**recorded, **results}, indent=1) + "\n")
        print(f"recorded {len(results)} cases → {args.file}")
        return
    print("ALL EQUAL" if not differing else f"DIFFER: {differing}")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
