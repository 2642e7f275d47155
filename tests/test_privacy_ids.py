"""Nothing outside the interim folder can be joined back to the raw data on an id.

The whole command-line pipeline runs on the real airline and IBM excerpts; then every column
of every table under ``data/processed`` and ``results`` (and every word of the JSON, Markdown
and LaTeX files) is joined to the raw file's id-like fields: tweet ids, screen names, and the
IBM file's conversation and document ids. Nothing may link. The same join on the interim
exchanges links every customer tweet, which shows the join itself works.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app

pytestmark = pytest.mark.real_data

KEY = "privacy-test-key-not-secret"
DATASETS = {
    "airline": "airline-sentiment-2015/Tweets.csv",
    "ibm": "ibm-twitter-docpred/dev.json",
}


def raw_identifiers(path: Path) -> dict[str, set[str]]:
    """The id-like fields of a raw file, read independently of the package (lower case)."""
    if path.suffix == ".json":
        ids: set[str] = set()
        handles: set[str] = set()
        documents: set[str] = set()
        for conversation in json.loads(path.read_text()):
            for turn in conversation["dialogContent"]:
                ids.add(str(turn["tweet_ID"]))
                handles.update(str(turn[k]) for k in ("client", "client1") if k in turn)
            ids.add(str(conversation["agentURL"]["tweet_ID"]))
            documents.add(str(conversation["agentURL"]["doc_id"]))
            documents.add(str(conversation["dialogHeader"]["sessionID"]))
        # Document numbers are short integers (like counts in any table); only the long ones
        # identify anything.
        found = {"tweet_id": ids, "handle": {h.lower() for h in handles},
                 "document": {d.lower() for d in documents if len(d) >= 6}}
    else:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        found = {"tweet_id": set(raw["tweet_id"]), "handle": set(raw["name"].str.lower())}
    # A tweet id stored as a float (pandas' type for an integer column with gaps) has lost its
    # last digits but still joins on the rounded value.
    found["tweet_id_as_float"] = {str(int(float(i))) for i in found["tweet_id"]}
    return found


def cell_strings(column: pd.Series) -> set[str]:
    """A column's values as the strings a join on any id would compare (integers exactly)."""
    values = column.dropna()
    if pd.api.types.is_bool_dtype(values.dtype):
        return set()
    if pd.api.types.is_integer_dtype(values.dtype):
        return {str(int(v)) for v in values}
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values[np.isfinite(values) & (values == np.round(values))]
        return {str(int(v)) for v in whole}
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return set()
    return {str(v).lower() for v in values}


def links(folder: Path, identifiers: dict[str, set[str]]) -> dict[str, int]:
    """Join every table and text file under ``folder`` to the raw identifiers."""
    found: dict[str, int] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            for column in frame.columns:
                values = cell_strings(frame[column])
                for kind, raw in identifiers.items():
                    if hits := len(values & raw):
                        found[f"{path.relative_to(folder)}:{column}~{kind}"] = hits
        elif path.is_file() and path.suffix in {".json", ".md", ".tex", ".txt"}:
            words = {w.lower() for w in re.findall(r"\w+", path.read_text())}
            for kind, raw in identifiers.items():
                if hits := len(words & raw):
                    found[f"{path.relative_to(folder)}~{kind}"] = hits
    return found


def run(*args: object) -> None:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COMPLAINTPANEL_KEY": KEY})
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module", params=list(DATASETS))
def pipeline(request: pytest.FixtureRequest, real_data: Path,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    raw = real_data / DATASETS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    interim, processed, results = (root / "data" / part / request.param
                                   for part in ("interim", "processed", "results"))
    run("ingest", raw, "--out", interim)
    run("thread", interim)
    run("label", interim, "--out", processed)
    run("panel", processed)
    run("estimate", processed, "--out", results)
    run("describe", interim, "--out", results)
    run("robustness", interim, "--out", results)
    return raw, root


def test_no_table_or_result_links_to_the_raw_ids(pipeline: tuple[Path, Path]) -> None:
    raw, root = pipeline
    identifiers = raw_identifiers(raw)
    for folder in ("processed", "results"):
        assert (root / "data" / folder).exists()
        assert links(root / "data" / folder, identifiers) == {}, folder


def test_the_join_finds_every_tweet_in_the_interim_folder(pipeline: tuple[Path, Path]) -> None:
    # The control: the same join on the interim exchanges (which keep the real ids) links
    # every customer tweet, so an empty join above is not an artefact of the join.
    raw, root = pipeline
    identifiers = raw_identifiers(raw)
    folder = next((root / "data" / "interim").iterdir())
    exchanges = pd.read_parquet(folder / "exchanges.parquet")
    assert cell_strings(exchanges["tweet_id"]) <= identifiers["tweet_id"]
    found = links(folder, {"tweet_id": identifiers["tweet_id"]})
    assert found["exchanges.parquet:tweet_id~tweet_id"] == len(exchanges) > 500


def test_pseudonymised_ids_are_consistent_across_columns(pipeline: tuple[Path, Path]) -> None:
    _, root = pipeline
    interim = next((root / "data" / "interim").iterdir())
    processed = next((root / "data" / "processed").iterdir())
    # Ids read exactly (pandas would turn the nullable in_reply_to into float64).
    exchanges = pq.read_table(interim / "exchanges.parquet").to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    voiced = pd.read_parquet(processed / "voiced.parquet")
    assert len(voiced) == len(exchanges)
    for column in ("tweet_id", "conversation_id", "in_reply_to"):
        assert voiced[column].dropna().str.fullmatch(r"t[0-9a-f]{16}").all(), column
        assert voiced[column].isna().tolist() == exchanges[column].isna().tolist(), column
    # Same raw id, same pseudonym, in every column; different raw ids, different pseudonyms.
    pairs = pd.concat([pd.DataFrame({"raw": exchanges[c], "hashed": voiced[c]})
                       for c in ("tweet_id", "conversation_id", "in_reply_to")]).dropna()
    assert pairs.drop_duplicates().groupby("raw")["hashed"].nunique().max() == 1
    assert pairs.drop_duplicates().groupby("hashed")["raw"].nunique().max() == 1


def test_no_quasi_identifier_singles_out_a_tweet(pipeline: tuple[Path, Path]) -> None:
    """Timestamps and carried raw columns must not re-identify what the ids no longer do.

    In the raw airline file the creation time (to the second) with the brand singles out
    almost every tweet, and the human-label confidences many more; voiced.parquet keeps the
    UTC day of each tweet and none of the carried columns.
    """
    raw, root = pipeline
    interim = next((root / "data" / "interim").iterdir())
    processed = next((root / "data" / "processed").iterdir())
    voiced = pd.read_parquet(processed / "voiced.parquet")
    exchanges = pd.read_parquet(interim / "exchanges.parquet")
    # The control: the interim exchanges' exact times single out most tweets.
    per_second = exchanges.groupby(["brand", "created_at"]).size()
    assert (per_second == 1).mean() > 0.5
    assert (voiced["created_at"] == voiced["created_at"].dt.floor("D")).all()
    carried = set(exchanges.columns) - set(voiced.columns) - {"text"}
    from complaintpanel.label.stage import PUBLISHED_EXCHANGE_COLUMNS, VOICED_COLUMNS

    assert set(voiced.columns) <= {*PUBLISHED_EXCHANGE_COLUMNS, *VOICED_COLUMNS}
    if raw.name == "Tweets.csv":  # the airline mapping carries the human labels through
        assert carried, "the control: the exchanges carry raw columns voiced.parquet drops"
