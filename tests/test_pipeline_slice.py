"""End to end on a small world: simulate → describe → figure → paper, with no private data out."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app
from complaintpanel.descriptives import weekly_activity

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miniature project root laid out like the repository, built by the CLI."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "paper", root / "paper",
                    ignore=shutil.ignore_patterns("*.pdf", "*.png", "pages"))
    raw = root / "data/raw/simulated"
    _run("simulate", "--out", str(raw), "--customers", "400", "--weeks", "8", "--seed", "3")
    _run("describe", str(raw / "twcs.csv"), "--out", str(root / "results/simulated"))
    _run("figures", str(root / "results/simulated"), "--out", str(root / "paper/figures"))
    out = _run("paper", str(root / "paper/paper.typ"), "--out", str(root / "paper/paper.pdf"),
               "--root", str(root))
    assert out.startswith("paper:")
    return root


def test_weekly_counts_equal_a_direct_count(built: Path) -> None:
    raw = built / "data/raw/simulated/twcs.csv"
    weekly = weekly_activity(raw)
    tweets = pd.read_csv(raw, dtype={"author_id": str})
    created = pd.to_datetime(tweets["created_at"], format="%a %b %d %H:%M:%S %z %Y")
    week = created.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    customer = tweets["inbound"]
    expected = tweets[customer].groupby(week[customer]).size()
    assert weekly["customer_tweets"].tolist() == expected.tolist()
    assert len(weekly) == 8
    replies = tweets[~customer & tweets["in_response_to_tweet_id"].notna()]
    in_window = week[replies.index].isin(expected.index)
    assert weekly["brand_replies"].sum() == int(in_window.sum())


def test_paper_pdf_contains_the_generated_numbers(built: Path) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    activity = json.loads((built / "results/simulated/activity.json").read_text())
    pdf = pdfium.PdfDocument(str(built / "paper/paper.pdf"))
    text = " ".join(page.get_textpage().get_text_range() for page in pdf).replace("\xa0", " ")
    assert f"{activity['customer_tweets']:,}" in text
    assert "Figure 1" in text
    assert (built / "paper/figures/weekly_activity.pdf").exists()
    assert (built / "paper/figures/weekly_activity.png").exists()


def test_published_outputs_hold_no_handles_or_text(built: Path) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    tweets = pd.read_csv(built / "data/raw/simulated/twcs.csv", dtype={"author_id": str})
    customers = set(tweets.loc[tweets["inbound"], "author_id"])
    pdf = pdfium.PdfDocument(str(built / "paper/paper.pdf"))
    published = [" ".join(page.get_textpage().get_text_range() for page in pdf)]
    published += [p.read_text() for p in (built / "results").rglob("*.json")]
    for text in published:
        tokens = set(re.findall(r"[@\w]+", text))
        assert not tokens & customers
        assert not tokens & {f"@{c}" for c in customers}
        for body in tweets["text"].head(200):
            assert body not in text
