"""The whole pipeline from raw text reproduces the simulated world's truth.

simulate → ingest → thread → label --truth → panel must give back, row for row, the
customer × week counts the simulator drew, under pseudonymised customer ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.ingest.pseudonymise import pseudonym, resolve_key
from complaintpanel.model import add_hmm_covariates


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    _run("simulate", "--out", root / "raw", "--customers", "500", "--weeks", "10", "--seed", "8")
    _run("ingest", root / "raw" / "twcs.csv", "--out", root / "interim")
    _run("thread", root / "interim")
    _run("label", root / "interim", "--out", root / "processed", "--truth",
         root / "raw" / "truth" / "voice.parquet")
    _run("panel", root / "processed")
    return root


def test_panel_from_raw_text_equals_the_truth(pipeline: Path) -> None:
    key, _ = resolve_key(pipeline / "interim")
    truth = pd.read_parquet(pipeline / "raw" / "truth" / "states.parquet")
    truth["customer_id"] = [pseudonym(c, key) for c in truth["customer_id"]]
    truth = truth.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)
    panel = pd.read_parquet(pipeline / "processed" / "panel.parquet")
    assert len(panel) == len(truth)
    for column in ("customer_id", "brand", "period", "tweets", "complaints", "compliments",
                   "neutral", "answered_complaints", "peer_complaints", "peer_compliments"):
        np.testing.assert_array_equal(panel[column].to_numpy(), truth[column].to_numpy(),
                                      err_msg=column)
    covariates = add_hmm_covariates(panel)
    np.testing.assert_array_equal(covariates["intervened"], truth["intervened"])
    np.testing.assert_array_equal(covariates["redress"], truth["redress"])


def test_no_raw_customer_id_or_text_outside_interim(pipeline: Path) -> None:
    tweets = pd.read_csv(pipeline / "raw" / "twcs.csv", dtype={"author_id": str})
    customers = set(tweets.loc[tweets["inbound"], "author_id"])
    for path in (pipeline / "processed").rglob("*"):
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            assert "text" not in frame.columns, path
            values = set(frame.select_dtypes(exclude="number").astype(str).stack())
            assert not values & customers, path
        elif path.suffix == ".json":
            words = set(path.read_text().replace('"', " ").split())
            assert not words & customers, path
