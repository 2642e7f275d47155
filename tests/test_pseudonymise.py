"""Keyed pseudonyms: Python and SQL agree with the standard HMAC, keys resolve as documented."""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import re
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaintpanel.errors import PipelineError
from complaintpanel.ingest.pseudonymise import (
    KEY_FILE_NAME,
    MIN_KEY_BYTES,
    PseudonymisationKeyError,
    key_file_for,
    pseudonym,
    pseudonym_sql,
    pseudonymise_text_query,
    pseudonymise_texts,
    resolve_key,
)


def rewrite(key: bytes, brands: list[str], text: str) -> tuple[str, str | None]:
    query = pseudonymise_text_query("(SELECT ? AS t, 1 AS k)", "t", ["k"], key, brands)
    con = duckdb.connect()
    return con.execute(f"SELECT text, brand_mention FROM ({query})", [text]).fetchall()[0]


@settings(max_examples=50, deadline=None)
@given(handle=st.text(min_size=1, max_size=20), key=st.binary(min_size=1, max_size=100))
def test_sql_macro_equals_python_hmac(handle: str, key: bytes) -> None:
    expected = "c" + hmac.new(key, handle.lower().encode(), hashlib.sha256).hexdigest()[:16]
    assert pseudonym(handle, key) == expected
    con = duckdb.connect()
    assert con.execute(f"SELECT {pseudonym_sql('?', key)}", [handle]).fetchall()[0][0] == expected


def test_text_rewriting() -> None:
    key = b"k"
    p = lambda h: "@" + pseudonym(h, key)  # noqa: E731
    cases = {
        "@acmehelp hi @JaneDoe, cc @jane_doe2!": (f"@acmehelp hi {p('janedoe')}, cc "
                                                  f"{p('jane_doe2')}!", "acmehelp"),
        "write to jane.doe@mail.example.com or @Other_Care": (
            "write to <email> or @Other_Care", "other_care"),
        "no handles here": ("no handles here", None),
        "a lone @ and name@host stay": ("a lone @ and name@host stay", None),
        "é@JaneDoe\n@115712\r": (f"é{p('JaneDoe')}\n{p('115712')}\r", None),
        "": ("", None),
    }
    for text, expected in cases.items():
        assert rewrite(key, ["AcmeHelp", "Other_Care"], text) == expected
        # The Python twin used on DuckDB for texts with a mention after their start.
        texts, brands = pseudonymise_texts([text], key, ["AcmeHelp", "Other_Care"])
        assert (texts[0], brands[0]) == expected


# Texts made of the characters that matter: word characters, "@", the punctuation of
# addresses, separators and non-ASCII letters (not word characters for RE2 or re.ASCII).
_PIECES = ["a", "Z", "9", "_", "@", "@", ".", "-", "+", "%", " ", ",", "é", "\n", "\r", "Jo",
           "x.y", "acmehelp", "AcmeHelp", "ab", "@ab", "@a", "mail.com", "b.c"]


def rewrite_many(key: bytes, brands: list[str], texts: list[str]
                 ) -> list[tuple[str, str | None]]:
    """:func:`rewrite` of many texts in one query (one parse and plan for them all)."""
    query = pseudonymise_text_query(
        "(SELECT t, k FROM (SELECT unnest(?) AS t, unnest(range(len(?))) AS k))", "t", ["k"],
        key, brands)
    con = duckdb.connect()
    return [tuple(row) for row in con.execute(
        f"SELECT text, brand_mention FROM ({query}) ORDER BY k", [texts, texts]).fetchall()]


# 60 batches of up to 30 texts: about as many texts as 400 single examples, in a tenth of the
# time (each query's parse and plan, not the texts, was the cost).
@settings(max_examples=60, deadline=None)
@given(batch=st.lists(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join),
                      min_size=1, max_size=30))
def test_python_rewriting_equals_the_sql(batch: list[str]) -> None:
    # Brand "ab" and "a" make brand mentions, prefixes of handles and plain handles all
    # frequent; the SQL query is the reference (and the one Spark runs).
    brands = ["AcmeHelp", "ab", "a"]
    key = b"0123456789abcdef"
    texts, mentioned = pseudonymise_texts(batch, key, brands)
    assert list(zip(texts, mentioned, strict=True)) == rewrite_many(key, brands, batch)


def test_key_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "interim" / "name"
    monkeypatch.delenv("MY_KEY", raising=False)
    assert resolve_key(out, "MY_KEY", key="explicit-key-of-16+") == (b"explicit-key-of-16+",
                                                                 "argument")
    key, source = resolve_key(out, "MY_KEY")
    assert source == f"file:{key_file_for(out)}" and len(key) == 64
    assert key_file_for(out) == (tmp_path / "interim" / "pseudonymisation.key").resolve()
    assert resolve_key(out, "MY_KEY")[0] == key  # generated once, then reused
    monkeypatch.setenv("MY_KEY", "from-env-at-least-16")
    assert resolve_key(out, "MY_KEY") == (b"from-env-at-least-16", "env:MY_KEY")


# ---------------------------------------------------------------------------------------------
# Key strength and safe creation (issue 13)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["", "\n", "   \n\t", "short-key\n"])
def test_a_short_or_empty_key_file_is_refused(tmp_path: Path, content: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """HMAC with an empty key is computable by anyone: refuse it, naming the minimum."""
    monkeypatch.delenv("MY_KEY", raising=False)
    out = tmp_path / "interim" / "name"
    out.parent.mkdir()
    key_file_for(out).write_text(content)
    with pytest.raises(PseudonymisationKeyError, match=f"at least {MIN_KEY_BYTES} bytes") as error:
        resolve_key(out, "MY_KEY")
    assert error.value.file == str(key_file_for(out))
    assert isinstance(error.value, PipelineError)
    assert key_file_for(out).read_text() == content  # never replaced behind the user's back


@pytest.mark.parametrize("value", ["", "x", " " * 40, "fifteen-bytes!!"])
def test_a_short_key_from_the_environment_or_argument_is_refused(
        tmp_path: Path, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also a variable set but empty: falling back to a new key file would change pseudonyms."""
    monkeypatch.setenv("MY_KEY", value)
    with pytest.raises(PseudonymisationKeyError, match=r"\$MY_KEY.*at least 16 bytes") as error:
        resolve_key(tmp_path / "out", "MY_KEY")
    assert "fifteen" not in str(error.value)  # the key itself is never echoed
    with pytest.raises(PseudonymisationKeyError, match="at least 16 bytes"):
        resolve_key(tmp_path / "out", "NO_SUCH_VARIABLE", key=value)
    assert not key_file_for(tmp_path / "out").exists()


def test_keys_of_sixteen_bytes_are_accepted(tmp_path: Path) -> None:
    assert MIN_KEY_BYTES == 16
    assert resolve_key(tmp_path / "out", "NO_SUCH_VARIABLE", key=b"0123456789abcdef")[0] == (
        b"0123456789abcdef")


def test_cli_refuses_an_empty_key_file_in_one_line(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from complaintpanel.cli import app

    monkeypatch.delenv("COMPLAINTPANEL_KEY", raising=False)
    raw = tmp_path / "raw.csv"
    raw.write_text("tweet_id,author_id,inbound,created_at,text,in_response_to_tweet_id\n"
                   "1,someone,True,Tue Oct 31 22:10:47 +0000 2017,hello,\n")
    (tmp_path / "interim").mkdir()
    (tmp_path / "interim" / "pseudonymisation.key").write_text("")
    result = CliRunner().invoke(app, ["ingest", str(raw), "--out", str(tmp_path / "interim" / "x")])
    assert result.exit_code == 2, result.output
    assert "pseudonymisation.key" in result.output and "at least 16 bytes" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "interim" / "x").exists()


def _race_worker(folders: list[str], barrier: Any, results: Any) -> None:
    """One of several processes resolving the key of the same fresh folders at the same time.

    After each barrier, every process spins until the same instant (the monotonic clock is
    shared by all processes), so that their calls overlap within microseconds.
    """
    os.environ.pop("RACE_KEY", None)
    for trial, folder in enumerate(folders):
        barrier.wait()
        start = round(time.monotonic(), 2) + 0.02
        while time.monotonic() < start:
            pass
        try:
            key, _ = resolve_key(Path(folder) / "out", "RACE_KEY")
            results.put((trial, key.decode()))
        except Exception as error:  # reported to the parent, which fails
            results.put((trial, f"error: {error!r}"))


def test_concurrent_first_runs_agree_on_one_complete_key(tmp_path: Path) -> None:
    """Six processes create the key of a fresh folder at once, 40 times: one full key each time.

    Before the key file was written atomically, a process would find the file created but not
    yet written and read an empty key (39 of 40 trials).
    """
    processes, trials = 6, 40
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    folders = [str(tmp_path / f"trial{t}") for t in range(trials)]
    workers = [context.Process(target=_race_worker, args=(folders, barrier, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    seen: dict[int, set[str]] = {}
    for _ in range(processes * trials):
        trial, key = results.get(timeout=120)
        seen.setdefault(trial, set()).add(key)
    for worker in workers:
        worker.join(timeout=60)
    assert len(seen) == trials
    for trial, keys in seen.items():
        assert len(keys) == 1, (trial, keys)
        (key,) = keys
        assert re.fullmatch(r"[0-9a-f]{64}", key), (trial, key)
        stored = key_file_for(Path(folders[trial]) / "out")
        assert stored.read_text().strip() == key
        assert oct(stored.stat().st_mode)[-3:] == "600"
        assert [p.name for p in stored.parent.iterdir()] == [KEY_FILE_NAME]  # no temp files left


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_KEY", raising=False)
    out = tmp_path / "interim" / "name"
    out.parent.mkdir()
    existing = "a" * 20 + "-an-existing-key-of-the-project"
    key_file_for(out).write_text(existing + "\n")
    assert resolve_key(out, "MY_KEY")[0] == existing.encode()
    assert key_file_for(out).read_text() == existing + "\n"
