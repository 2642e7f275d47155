"""Keyed pseudonyms: Python and SQL agree with the standard HMAC, keys resolve as documented."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from complaintpanel.ingest.pseudonymise import (
    key_file_for,
    pseudonym,
    pseudonym_sql,
    pseudonymise_text_query,
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


def test_key_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "interim" / "name"
    monkeypatch.delenv("MY_KEY", raising=False)
    assert resolve_key(out, "MY_KEY", key="explicit") == (b"explicit", "argument")
    key, source = resolve_key(out, "MY_KEY")
    assert source == f"file:{key_file_for(out)}" and len(key) == 64
    assert key_file_for(out) == (tmp_path / "interim" / "pseudonymisation.key").resolve()
    assert resolve_key(out, "MY_KEY")[0] == key  # generated once, then reused
    monkeypatch.setenv("MY_KEY", "from-env")
    assert resolve_key(out, "MY_KEY") == (b"from-env", "env:MY_KEY")
