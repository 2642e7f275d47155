"""The two-sided SpotifyCares slice of TWCS end to end: `make all DATA="A B"` to its paper.

The repository's Makefile runs in a scratch copy of the project (sharing this checkout's .venv,
whose install step is held: ``make -o .venv/.installed``) on the two real files in
``../shared/data/real`` — the brand's own replies (``SpotifyCares.csv``, saved through a
spreadsheet) and the customers' replies to it (``support_requests.csv``) — with the slice's
configuration ``analysis/spotifycares.toml``. The run must write the slice's report, whose
numbers are the slice's (customers, tweets, replies, weeks, window, fitted structural model,
the settings used) and never the simulated world's, and no published file may hold a customer
handle or a tweet's text.

It takes minutes (the measured time is in the report of issue 19), so it runs under CI
(``CI=true``, where a missing ``../shared`` fails) or with ``COMPLAINTPANEL_SLICE=1``, and is
skipped otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = "analysis/spotifycares.toml"
NAME = "spotifycares"
FILES = ("twcs-brand-exports-excel/SpotifyCares.csv",
         "twcs-spotifycares-followups/support_requests.csv")
# The simulated default world's customers (analysis/config.toml), never a real run's.
SIMULATED = ("4,000",)

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("CI", "").lower() != "true"
        and os.environ.get("COMPLAINTPANEL_SLICE") != "1",
        reason="the SpotifyCares slice end to end takes minutes: it runs under CI=true or "
               "with COMPLAINTPANEL_SLICE=1"),
]


def _pdf_text(path: Path) -> str:
    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument(str(path))
    text = " ".join(page.get_textpage().get_text_range() for page in pdf)
    text = text.replace("\xa0", " ").replace("\r", "").replace("\u2019", "'")
    return re.sub(r"\ufffe\s*", "", text)


def _has(text: str, phrase: str) -> bool:
    """Whether ``phrase`` is in ``text`` up to white space (lines break anywhere)."""
    return re.sub(r"\s+", "", phrase) in re.sub(r"\s+", "", text)


def _num(x: float, d: int = 3) -> str:
    """A number as the report prints it (dataset-lib.typ `num`: typographic minus)."""
    return f"{x:.{d}f}".replace("-", "\u2212")


def _scratch_project(root: Path) -> Path:
    """A copy of the project's sources and the slice's config beside this .venv."""
    project = root / "project"
    for item in ("Makefile", "pyproject.toml", "src", "paper", "benchmarks/results", CONFIG):
        source = REPO / item
        target = project / item
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pdf", "*.png", "pages", "*.md", "*.tex", ".done"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (project / ".venv").symlink_to(REPO / ".venv")
    return project


@pytest.fixture(scope="module")
def slice_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """`make all DATA="SpotifyCares.csv support_requests.csv"` in a scratch project."""
    from conftest import SHARED_DATA, _require_real

    raw = [_require_real(SHARED_DATA / "real" / name) for name in FILES]
    if not (REPO / ".venv" / "bin" / "complaintpanel").exists():
        pytest.skip("needs the project's .venv (`make venv`)")
    project = _scratch_project(tmp_path_factory.mktemp("slice"))
    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    env["COMPLAINTPANEL_KEY"] = "slice-test-key-not-secret"
    started = time.perf_counter()
    result = subprocess.run(
        ["make", "-o", ".venv/.installed", "all", "DATA=" + " ".join(map(str, raw)),
         f"NAME={NAME}", f"CONFIG={CONFIG}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return project, seconds


def _results(project: Path) -> Path:
    return project / "results" / NAME


def test_slice_report_is_built(slice_run: tuple[Path, float]) -> None:
    project, seconds = slice_run
    results = _results(project)
    assert (results / "paper.pdf").stat().st_size > 50_000
    manifest = json.loads((results / "manifest.json").read_text())
    assert {s["stage"] for s in manifest["stages"]} >= {
        "ingest", "thread", "label", "panel", "estimate", "hmm", "policy", "robustness"}
    print(f"\nSpotifyCares slice: make all in {seconds:.1f} s; stages "
          + ", ".join(f"{s['stage']} {s['seconds']:.1f}" for s in manifest["stages"]))


def test_slice_report_numbers_are_the_slices(slice_run: tuple[Path, float]) -> None:
    results = _results(slice_run[0])
    text = _pdf_text(results / "paper.pdf")
    activity = json.loads((results / "activity.json").read_text())
    estimates = json.loads((results / "estimates.json").read_text())
    hmm = json.loads((results / "hmm.json").read_text())
    policy = json.loads((results / "policy.json").read_text())
    ingest = json.loads((project_interim := slice_run[0] / "data/interim" / NAME
                         / "ingest_report.json").read_text())
    assert project_interim.exists()
    d = estimates["descriptives"]
    # the two files read as one archive: both sides of the conversations
    assert len(ingest["files"]) == 2
    assert activity["customer_tweets"] > 10_000 and activity["brand_replies"] > 5_000
    assert _has(text, f"wrote {activity['customer_tweets']:,} tweets")
    assert _has(text, f"sent {activity['brand_replies']:,} replies")
    assert _has(text, f"Customers {d['customers']:,}")
    assert _has(text, f"Periods (weeks) {d['periods']}")
    assert _has(text, f"Customer tweets {d['customer_tweets']:,}")
    # the window of the slice's config, from the panel's own report
    window = estimates["settings"]["panel_window"]
    assert window["window_start"] == "2017-08-05" and d["periods"] < 20
    assert _has(text, f"from {window['window_start']}")
    assert _has(text, f"{window['tweets_outside_window']:,} customer tweets fall outside")
    # the structural model fitted on this slice, and the settings it used
    assert hmm["status"] == "estimated"
    assert _has(text, f"over {hmm['n_customers']:,} customer–brand histories")
    for name in ("gamma", "delta"):
        assert _has(text, f"{name} {_num(hmm['params'][name])} ({_num(hmm['bse'][name])})")
    assert _has(text, f"best of {hmm['n_starts']} optimiser starts")
    settings = policy["settings"]
    assert _has(text, f"{settings['n_draws']} parameter draws × {settings['n_paths']} simulated "
                      "paths")
    assert _has(text, f"horizon {settings['horizon']} weeks (cohort "
                      f"{settings['cohort_horizon']})")
    for simulated in SIMULATED:
        assert simulated not in text


def test_slice_outputs_hold_no_handle_or_tweet_text(slice_run: tuple[Path, float]) -> None:
    from conftest import SHARED_DATA

    project = slice_run[0]
    raw = [pd.read_csv(SHARED_DATA / "real" / name, dtype=str, keep_default_na=False,
                       encoding="utf-8-sig") for name in FILES]
    tweets = pd.concat(raw, ignore_index=True)
    inbound = tweets["inbound"].str.lower() == "true"
    customers = set(tweets.loc[inbound, "author_id"])
    # the customers the brand's replies open with (@handle), too
    customers |= set(tweets.loc[~inbound, "text"].str.extract(r"^@(\w+)")[0].dropna())
    customers -= {"SpotifyCares"}
    texts = [t for t in tweets["text"].drop_duplicates() if len(t) >= 20]
    texts = pd.Series(texts).sample(min(3000, len(texts)), random_state=0).tolist()
    published = [_pdf_text(_results(project) / "paper.pdf")]
    published += [p.read_text(encoding="utf-8") for p in _results(project).rglob("*")
                  if p.is_file() and p.suffix in {".json", ".md", ".tex", ".txt", ".csv"}]
    assert len(published) > 10
    for text in published:
        # numeric handles are looked for outside decimal numbers (as in test_make)
        tokens = set(re.findall(r"@?\w+", re.sub(r"\d+\.\d+", " ", text)))
        assert not tokens & customers
        assert not tokens & {f"@{c}" for c in customers}
        flat = re.sub(r"\s+", "", text)
        assert not [body for body in texts if re.sub(r"\s+", "", body) in flat]
