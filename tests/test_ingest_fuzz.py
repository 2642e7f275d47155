"""A small seeded fuzz test: corrupted copies of a TWCS-like file never crash ingest.

Every corruption kind is applied twice (seeded positions) to a generated file of 300 records.
Each case either is refused with a :class:`~complaintpanel.errors.PipelineError` (one line,
naming the file) or is ingested with every record accounted for: record numbers 1..rows_in
each once in ``tweets`` or ``rejects``, every reject with a known reason, no NUL byte kept.
``benchmarks/bench_fuzz.py`` runs the same idea at scale on a real excerpt.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from complaintpanel.errors import PipelineError
from complaintpanel.ingest import REJECT_REASONS, ingest

KEY = b"fuzz-key-not-secret"
HEADER = (b",tweet_id,author_id,inbound,created_at,text,response_tweet_id,"
          b"in_response_to_tweet_id\n")


def source_file(records: int = 300) -> bytes:
    rng = random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for n in range(1, records + 1):
        brand = n % 3 == 0
        text = rng.choice(["@AcmeHelp my phone, again", 'quoted, with "quotes"',
                           "@115712 we are sorry", "plain text é 😀", "two\nlines"])
        writer.writerow([n - 1, n, "AcmeHelp" if brand else 100 + n % 40, not brand,
                         f"Tue Oct {1 + n % 30:02d} 22:10:47 +0000 2017", text, "",
                         f"{n - 1}.0" if brand else ""])
    return HEADER + out.getvalue().encode()


def _insert(data: bytes, rng: random.Random, piece: bytes, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        at = rng.randrange(len(out) + 1)
        out[at:at] = piece
    return bytes(out)


def _gzip_truncated(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    packed = gzip.compress(data)
    return packed[: rng.randrange(20, len(packed) - 8)], ".csv.gz"


def _parquet_damaged(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    sink = io.BytesIO()
    pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False).to_parquet(sink)
    packed = bytearray(sink.getvalue())
    if rng.random() < 0.5:
        return bytes(packed[: rng.randrange(4, len(packed) - 4)]), ".parquet"
    for _ in range(10):
        packed[rng.randrange(4, len(packed) - 4)] = rng.randrange(256)
    return bytes(packed), ".parquet"


def _header(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    header, _, body = data.partition(b"\n")
    names = header.split(b",")
    names[rng.randrange(len(names))] = rng.choice([b"TWEET_ID", b"", b"x", b"text"])
    return b",".join(names) + b"\n" + body, ".csv"


def _lines(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = data.split(b"\n")
    for _ in range(20):
        at = rng.randrange(len(lines))
        if rng.random() < 0.5:
            lines.insert(rng.randrange(len(lines)), lines[at])
        elif len(lines) > 2:
            del lines[at]
    return b"\n".join(lines), ".csv"


def _flip(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    for _ in range(30):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out), ".csv"


Corruption = Callable[[bytes, random.Random], tuple[bytes, str]]
CORRUPTIONS: dict[str, Corruption] = {
    "flip_bytes": _flip,
    "truncate": lambda d, r: (d[: r.randrange(1, len(d))], ".csv"),
    "nul": lambda d, r: (_insert(d, r, b"\0", 3), ".csv"),
    "cr": lambda d, r: (_insert(d, r, b"\r", 10), ".csv"),
    "quote": lambda d, r: (_insert(d, r, b'"', 5), ".csv"),
    "invalid_utf8": lambda d, r: (_insert(d, r, r.choice([b"\xff", b"\xc3(", b"\xed\xa0\x80"]),
                                          5), ".csv"),
    "lines": _lines,
    "header": _header,
    "utf16": lambda d, r: (d.decode().encode(r.choice(["utf-16", "utf-16-le"])), ".csv"),
    "gzip_truncated": _gzip_truncated,
    "parquet_damaged": _parquet_damaged,
    "huge_field": lambda d, r: (d.replace(b"plain text", b"x" * 9_000_000, 1), ".csv"),
}
CASES = [(name, seed) for name in CORRUPTIONS for seed in (1, 2)]


@pytest.fixture(scope="module")
def source() -> bytes:
    return source_file()


@pytest.mark.parametrize(("corruption", "seed"), CASES)
def test_corrupted_input_is_refused_clearly_or_fully_accounted(
        corruption: str, seed: int, source: bytes, tmp_path: Path) -> None:
    data, suffix = CORRUPTIONS[corruption](source, random.Random(seed))
    raw = tmp_path / f"raw{suffix}"
    raw.write_bytes(data)
    out = tmp_path / "out"
    try:
        report = ingest(raw, out, key=KEY)
    except PipelineError as error:  # the documented refusal: one line naming the file
        assert error.file == str(raw) and "\n" not in error.one_line()
        assert not out.exists()
        return
    tweets = pq.read_table(out / "tweets.parquet").to_pydict()
    rejects = pq.read_table(out / "rejects.parquet").to_pydict()
    assert report["rows_in"] == report["rows_kept"] + report["rows_rejected"]
    rows = sorted([*tweets["source_row"], *rejects["source_row"]])
    assert rows == list(range(1, report["rows_in"] + 1))
    assert set(rejects["reason"]) <= set(REJECT_REASONS)
    assert not any("\0" in text for text in tweets["text"])
    assert len(set(tweets["tweet_id"])) == len(tweets["tweet_id"])
