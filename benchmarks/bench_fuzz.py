"""Fuzz campaign: ingest hundreds of corrupted copies of a real TWCS excerpt, count crashes.

Usage: ``python benchmarks/bench_fuzz.py [--cases 360] [--seed 13] [--source PATH]``

Each case is a copy of ``../shared/data/real/twcs-head-5k/twcs.csv`` (5,000 real records, read
from the shared folder, never copied into the repository) damaged by one to three seeded
corruptions: flipped bytes, truncation, inserted NUL / CR / LF / quote / invalid UTF-8 bytes,
duplicated, deleted or swapped lines, a damaged header (renamed, re-cased, dropped, duplicated
columns, a byte-order mark), other delimiters, implausible dates and ids, spliced or binary
blocks, a 9 MB field, UTF-16, gzip (whole or truncated) and Parquet (valid or damaged). Each
case is ingested in this process, and its outcome is one of:

* **kept** — ingest wrote its outputs; then every record must be accounted for
  (``rows_in == rows_kept + rows_rejected``, record numbers 1..rows_in each exactly once in
  ``tweets`` or ``rejects``, every reject with a known reason), else it is an *accounting
  failure*;
* **refused** — ingest raised a :class:`complaintpanel.errors.PipelineError` (one line, the
  file named), which is the documented way to refuse an unusable file;
* **crash** — any other exception (a traceback for the user: a bug).

Targets (issue 13): 0 crashes and 0 accounting failures. Results:
``benchmarks/results/fuzz.json`` (outcomes by corruption, every crash and accounting failure
with its seed so that it can be replayed, refusals by message).
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import write_result

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "real" / "twcs-head-5k" / "twcs.csv"
KEY = b"fuzz-key-not-secret"

Corruption = Callable[[bytes, random.Random], tuple[bytes, str]]


# ---------------------------------------------------------------------------------------------
# Corruptions: each takes the file's bytes and a seeded generator, returns bytes and a suffix
# ---------------------------------------------------------------------------------------------
def _insert(data: bytes, rng: random.Random, pieces: list[bytes], count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        at = rng.randrange(len(out) + 1)
        out[at:at] = rng.choice(pieces)
    return bytes(out)


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def flip_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    for _ in range(rng.randint(1, 40)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out), ".csv"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    return data[: rng.randrange(1, len(data))], ".csv"


def insert_nul(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    return _insert(data, rng, [b"\0", b"\0\0\0"], rng.randint(1, 8)), ".csv"


def insert_cr(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    return _insert(data, rng, [b"\r", b"\r\r", b"\r\n"], rng.randint(1, 30)), ".csv"


def insert_lf(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    return _insert(data, rng, [b"\n", b"\n\n"], rng.randint(1, 30)), ".csv"


def insert_quotes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    return _insert(data, rng, [b'"', b'""', b'"a"', b',"'], rng.randint(1, 20)), ".csv"


def invalid_utf8(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    pieces = [b"\xff", b"\xfe", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80",
              b"\xc0\xaf", b"\x80", b"\xf4\x90\x80\x80"]
    return _insert(data, rng, pieces, rng.randint(1, 15)), ".csv"


def control_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    pieces = [bytes([b]) for b in (*range(1, 9), 11, 12, *range(14, 32), 127)]
    return _insert(data, rng, pieces, rng.randint(1, 20)), ".csv"


def duplicate_lines(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = _lines(data)
    for _ in range(rng.randint(1, 50)):
        at = rng.randrange(len(lines))
        lines.insert(rng.randrange(len(lines) + 1), lines[at])
    return b"\n".join(lines), ".csv"


def delete_lines(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = _lines(data)
    for _ in range(rng.randint(1, 50)):
        if len(lines) > 1:
            del lines[rng.randrange(len(lines))]
    return b"\n".join(lines), ".csv"


def swap_lines(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = _lines(data)
    for _ in range(rng.randint(1, 50)):
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines), ".csv"


def damage_header(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    header, _, body = data.partition(b"\n")
    names = header.split(b",")
    choice = rng.randrange(9)
    if choice == 0:
        names = [n.upper() for n in names]
    elif choice == 1:
        names[rng.randrange(len(names))] = b"renamed"
    elif choice == 2:
        del names[rng.randrange(len(names))]
    elif choice == 3:
        names.append(b"extra")
    elif choice == 4:
        rng.shuffle(names)
    elif choice == 5:  # the same column twice, differing in case
        names.append(rng.choice(names[1:]).upper())
    elif choice == 6:
        names = [b"\xef\xbb\xbf" + names[0], *names[1:]]
    elif choice == 7:
        names = [b" " + n + b" " for n in names]
    else:
        return body, ".csv"  # no header at all
    return b",".join(names) + b"\n" + body, ".csv"


def other_delimiters(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    commas = [i for i in range(len(out)) if out[i] == 0x2C]
    for at in rng.sample(commas, min(len(commas), rng.randint(1, 200))):
        out[at] = rng.choice(b";\t|")
    return bytes(out), ".csv"


def empty_fields(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = _lines(data)
    for _ in range(rng.randint(1, 100)):
        at = rng.randrange(1, len(lines))
        fields = lines[at].split(b",")
        if len(fields) > 1:
            fields[rng.randrange(len(fields))] = b""
        lines[at] = b",".join(fields)
    return b"\n".join(lines), ".csv"


def implausible_values(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    swaps = [(rb"\+0000 2017", [b"+0000 1970", b"+0000 2099", b"+0000 0001", b"+0000 2006",
                                b"+0000 9999", b"+9999 2017", b"+0000 20170"]),
             (rb"Oct 3\d", [b"Feb 30", b"Oct 99", b"Oct 00", b"Foo 31"]),
             (rb",\d{1,7},", [b",9223372036854775807,", b",9223372036854775808,", b",-5,",
                              b",1e5,", b",0x1F,", b",1_000,", b",00000000000000000000001,"])]
    out = data
    for _ in range(rng.randint(1, 30)):
        pattern, replacements = rng.choice(swaps)
        matches = list(re.finditer(pattern, out))
        if matches:
            match = rng.choice(matches)
            out = out[:match.start()] + rng.choice(replacements) + out[match.end():]
    return out, ".csv"


def splice(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    start = rng.randrange(len(data))
    block = data[start:start + rng.randint(1, 5000)]
    at = rng.randrange(len(data))
    return data[:at] + block + data[at:], ".csv"


def binary_block(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    block = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4000)))
    at = rng.randrange(len(data))
    return data[:at] + block + data[at:], ".csv"


def huge_field(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = _lines(data)
    at = rng.randrange(1, len(lines) - 1)
    lines[at] = lines[at].replace(b",@", b",@" + b"x" * rng.choice([100_000, 9_000_000]), 1)
    return b"\n".join(lines), ".csv"


def crlf_mix(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    parts = data.split(b"\n")
    return b"".join(p + rng.choice([b"\n", b"\r\n", b"\r\n", b"\r"]) for p in parts), ".csv"


def utf16(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    text = data.decode("utf-8", errors="replace")
    return text.encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32"])), ".csv"


def gzipped(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    packed = gzip.compress(data)
    choice = rng.randrange(3)
    if choice == 1:
        packed = packed[: rng.randrange(10, len(packed))]
    elif choice == 2:
        damaged = bytearray(packed)
        for _ in range(rng.randint(1, 5)):
            damaged[rng.randrange(10, len(damaged))] = rng.randrange(256)
        packed = bytes(damaged)
    return packed, ".csv.gz"


def parquet(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    sink = io.BytesIO()
    frame.to_parquet(sink)
    packed = sink.getvalue()
    choice = rng.randrange(3)
    if choice == 1:
        packed = packed[: rng.randrange(4, len(packed))]
    elif choice == 2:
        damaged = bytearray(packed)
        for _ in range(rng.randint(1, 20)):
            damaged[rng.randrange(4, len(damaged) - 4)] = rng.randrange(256)
        packed = bytes(damaged)
    return packed, ".parquet"


# Byte-level corruptions can be combined; the format changes (UTF-16, gzip, Parquet) come last.
BYTE_LEVEL: dict[str, Corruption] = {f.__name__: f for f in (
    flip_bytes, truncate, insert_nul, insert_cr, insert_lf, insert_quotes, invalid_utf8,
    control_bytes, duplicate_lines, delete_lines, swap_lines, damage_header, other_delimiters,
    empty_fields, implausible_values, splice, binary_block, crlf_mix)}
FORMAT_LEVEL: dict[str, Corruption] = {f.__name__: f for f in (utf16, gzipped, parquet)}
RARE: dict[str, Corruption] = {"huge_field": huge_field}


def make_case(data: bytes, seed: int) -> tuple[bytes, str, list[str]]:
    """Corrupt ``data`` with one to three seeded corruptions; return bytes, suffix, names."""
    rng = random.Random(seed)
    names = rng.sample(sorted(BYTE_LEVEL), rng.choice([1, 1, 1, 2, 3]))
    if rng.random() < 0.03:
        names.append("huge_field")
    if rng.random() < 0.15:
        names.append(rng.choice(sorted(FORMAT_LEVEL)))
    suffix = ".csv"
    for name in names:
        corruption = BYTE_LEVEL.get(name) or RARE.get(name) or FORMAT_LEVEL[name]
        try:
            data, suffix = corruption(data, rng)
        except Exception:  # e.g. pandas cannot parse the damage into Parquet
            if name != "parquet":
                raise
    return data, suffix, names


# ---------------------------------------------------------------------------------------------
# Running one case
# ---------------------------------------------------------------------------------------------
def check_outputs(report: dict[str, Any], folder: Path) -> list[str]:
    """Accounting problems of one ingest (empty list when every record is accounted for)."""
    import pyarrow.parquet as pq

    from complaintpanel.ingest import REJECT_REASONS

    problems = []
    tweets = pq.read_table(folder / "tweets.parquet").to_pydict()
    rejects = pq.read_table(folder / "rejects.parquet").to_pydict()
    if report["rows_in"] != report["rows_kept"] + report["rows_rejected"]:
        problems.append("rows_in != rows_kept + rows_rejected")
    derived = tweets.get("derived", [False] * len(tweets["source_row"]))
    rows = sorted([*(r for r, d in zip(tweets["source_row"], derived, strict=True) if not d),
                   *rejects["source_row"]])
    if rows != list(range(1, report["rows_in"] + 1)):
        problems.append("record numbers are not 1..rows_in exactly once")
    unknown = {r for r in rejects["reason"] if r not in REJECT_REASONS}
    if unknown:
        problems.append(f"rejects without a known reason: {sorted(map(str, unknown))}")
    if len(set(tweets["tweet_id"])) != len(tweets["tweet_id"]):
        problems.append("duplicate tweet_id kept")
    if any("\0" in (t or "") for t in tweets["text"]):
        problems.append("NUL byte kept in text")
    return problems


def run_case(path: Path, out: Path) -> dict[str, Any]:
    """Ingest one corrupted file; return its outcome (kept, refused or crash) and details."""
    from complaintpanel.errors import PipelineError
    from complaintpanel.ingest import ingest

    started = time.perf_counter()
    try:
        report = ingest(path, out, key=KEY, threads=2)
    except PipelineError as error:
        return {"outcome": "refused", "message": error.problem,
                "seconds": time.perf_counter() - started}
    except Exception as error:  # a crash is what this campaign counts
        return {"outcome": "crash", "error": f"{type(error).__name__}: {error}"[:500],
                "traceback": traceback.format_exc()[-2000:],
                "seconds": time.perf_counter() - started}
    problems = check_outputs(report, out)
    return {"outcome": "kept", "problems": problems, "rows_in": report["rows_in"],
            "rows_rejected": report["rows_rejected"],
            "reasons": report["rejects_by_reason"], "seconds": time.perf_counter() - started}


def _message_kind(message: str) -> str:
    """A refusal's message without the numbers and names that vary from case to case."""
    kind = re.sub(r"\(found: .*?\)", "(found: …)", message)
    kind = re.sub(r"'[^']*'|\d[\d,]*", "…", kind)
    return kind[:120]


def main() -> None:
    """Run the campaign and write ``benchmarks/results/fuzz.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=360)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args()
    if not args.source.exists():
        sys.exit(f"{args.source}: missing; put the shared/ folder beside the repository")
    data = args.source.read_bytes()
    scratch = Path(tempfile.mkdtemp(prefix="complaintpanel-fuzz-"))
    outcomes: Counter[str] = Counter()
    by_corruption: dict[str, Counter[str]] = {}
    refusals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    crashes, failures = [], []
    started = time.perf_counter()
    try:
        for case in range(args.cases):
            seed = args.seed * 1_000_003 + case
            corrupted, suffix, names = make_case(data, seed)
            path = scratch / f"case{case}{suffix}"
            path.write_bytes(corrupted)
            result = run_case(path, scratch / f"out{case}")
            outcome = result["outcome"]
            if outcome == "kept" and result["problems"]:
                outcome = "accounting_failure"
                failures.append({"case": case, "seed": seed, "corruptions": names,
                                 "problems": result["problems"]})
            if outcome == "crash":
                crashes.append({"case": case, "seed": seed, "corruptions": names,
                                "error": result["error"], "traceback": result["traceback"]})
            if outcome == "refused":
                refusals[_message_kind(result["message"])] += 1
            if outcome == "kept":
                reasons.update(result["reasons"])
            outcomes[outcome] += 1
            for name in names:
                by_corruption.setdefault(name, Counter())[outcome] += 1
            print(f"case {case:4d} {'+'.join(names):45s} {outcome:10s} "
                  f"{result['seconds']:.2f} s", flush=True)
            path.unlink()
            shutil.rmtree(scratch / f"out{case}", ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    result_file = write_result("fuzz", {
        "description": ("Corrupted copies of twcs-head-5k ingested one by one: a crash is an "
                        "exception that is not a PipelineError; an accounting failure is a "
                        "run whose records are not each kept or rejected with a reason."),
        "source": "../shared/data/real/twcs-head-5k/twcs.csv",
        "source_bytes": len(data), "cases": args.cases, "seed": args.seed,
        "targets": {"crashes": 0, "accounting_failures": 0},
        "crashes": len(crashes), "accounting_failures": len(failures),
        "outcomes": dict(outcomes),
        "by_corruption": {k: dict(v) for k, v in sorted(by_corruption.items())},
        "refusals_by_message": dict(refusals.most_common()),
        "rejects_by_reason_in_kept_cases": dict(reasons.most_common()),
        "crash_details": crashes, "accounting_failure_details": failures,
        "seconds": round(seconds, 1),
    })
    print(f"{args.cases} cases: {dict(outcomes)}; crashes {len(crashes)}, accounting failures "
          f"{len(failures)} ({seconds:.0f} s) → {result_file}")


if __name__ == "__main__":
    main()
