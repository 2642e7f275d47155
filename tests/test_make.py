"""`make all` end to end on a small world: outputs, no-op rebuild, determinism, privacy.

The repository's own Makefile runs in two scratch copies of the project (sharing this
checkout's .venv) with a small configuration. Both runs must produce every figure, table and
the paper; a second `make all` must do nothing; the two runs must give byte-identical results
files (all except the stage timings in the manifest); and nothing published may contain a
customer id or tweet text.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]

SMALL_CONFIG = """
[simulate]
customers = 700
brands = 3
weeks = 12
seed = 11

[hmm]
n_states = 3
n_starts = 2
seed = 3

# What this module tests is the build (every output, no-op rebuild, determinism, privacy,
# numbers from the results), not the width of intervals: few replications and draws.
[estimate]
sensitivity_reps = 3

[robustness]
periods = ["month"]
min_tweets = [3]
thresholds = [1.5]

[policy]
draws = 8
paths = 1
truth_paths = 8
"""

EXPECTED_FIGURES = (
    "weekly_activity", "activity_by_brand", "reply_latency", "event_study_complaints",
    "event_study_sentiment_mean", "design_effects", "hmm_states", "hmm_transitions",
    "hmm_effects", "parameter_recovery", "policies", "label_validity", "misclassification",
    "classifier_validity",
)
EXPECTED_TABLES = ("descriptives", "ppml_complaints", "fe_sentiment", "design_answered",
                   "robustness", "reduced", "robust", "hmm")
# the paper's regression tables, written by `complaintpanel figures` and #include-d by paper.typ
PAPER_TABLES = ("reduced", "robust", "hmm")


def _scratch_project(root: Path) -> Path:
    """A copy of the project's sources beside this checkout's installed environment."""
    project = root / "project"
    for item in ("Makefile", "pyproject.toml", "requirements.lock", "src", "paper",
                 "benchmarks/results"):
        source = REPO / item
        target = project / item
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pdf", "*.png", "pages", "*.md", "*.tex", ".done"),
                copy_function=shutil.copy2)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (project / "analysis").mkdir()
    (project / "analysis" / "config.toml").write_text(SMALL_CONFIG)
    (project / ".venv").symlink_to(REPO / ".venv")
    return project


def _make(project: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MAKEFLAGS"}
    env["COMPLAINTPANEL_KEY"] = "test-key-for-determinism"
    result = subprocess.run(["make", "all"], cwd=project, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    installed = REPO / ".venv" / ".installed"
    # The scratch projects share this checkout's .venv: if pyproject.toml or the lock were
    # newer than the install, their `make` would reinstall the package from the scratch copy
    # (an editable install pointing into a temporary folder). `make test` installs first.
    if not installed.exists() or any(
            installed.stat().st_mtime < (REPO / name).stat().st_mtime
            for name in ("pyproject.toml", "requirements.lock")):
        pytest.skip("run through `make test`, which installs .venv first")
    first = _scratch_project(tmp_path_factory.mktemp("first"))
    second = _scratch_project(tmp_path_factory.mktemp("second"))
    _make(first)
    _make(second)
    again = _make(first)
    return first, second, again


def test_every_output_is_built(two_runs: tuple[Path, Path, str]) -> None:
    project = two_runs[0]
    for name in EXPECTED_FIGURES:
        for suffix in (".pdf", ".png"):
            assert (project / "paper" / "figures" / f"{name}{suffix}").exists(), name
    for name in EXPECTED_TABLES:
        for suffix in (".md", ".tex"):
            assert (project / "paper" / "tables" / f"{name}{suffix}").exists(), name
    for name in PAPER_TABLES:
        assert (project / "paper" / "tables" / f"{name}.typ").exists(), name
    assert (project / "paper" / "paper.pdf").stat().st_size > 50_000
    # the truth of the design estimate on its own population (estimate --truth)
    design_truth = json.loads((project / "results/simulated/design_truth.json").read_text())
    estimates = json.loads((project / "results/simulated/estimates.json").read_text())
    assert design_truth["kept_customer_weeks"] == estimates["design"]["nobs"]
    manifest = json.loads((project / "results/simulated/manifest.json").read_text())
    assert manifest["inputs"][0]["sha256"]
    assert manifest["classifier"]["classifier"] == "rules"
    assert {s["stage"] for s in manifest["stages"]} >= {"simulate", "ingest", "thread", "label",
                                                        "panel", "estimate", "hmm", "policy"}


def test_second_make_does_nothing(two_runs: tuple[Path, Path, str]) -> None:
    assert "Nothing to be done for 'all'" in two_runs[2]


def test_two_runs_give_identical_results(two_runs: tuple[Path, Path, str]) -> None:
    first, second, _ = two_runs
    files = sorted(p.relative_to(first) for p in (first / "results").rglob("*")
                   if p.is_file() and p.suffix in {".json", ".md", ".parquet"})
    assert len(files) > 8
    for relative in files:
        a, b = (first / relative), (second / relative)
        if relative.name == "manifest.json":
            left, right = json.loads(a.read_text()), json.loads(b.read_text())
            for payload in (left, right):
                payload.pop("stages")
            assert left == right
        else:
            assert a.read_bytes() == b.read_bytes(), relative
    for table in (first / "paper" / "tables").glob("*.tex"):
        assert table.read_bytes() == (second / "paper" / "tables" / table.name).read_bytes()


def _type3_fonts(pdf: Path) -> int:
    """Count Type 3 font dictionaries in a PDF, inside compressed object streams too."""
    import zlib

    data = pdf.read_bytes()
    chunks = [data]
    for match in re.finditer(rb"stream\r?\n", data):
        start = match.end()
        end = data.find(b"endstream", start)
        try:
            chunks.append(zlib.decompress(data[start:end]))
        except zlib.error:
            continue
    return sum(len(re.findall(rb"/Subtype\s*/Type3", chunk)) for chunk in chunks)


def test_no_type3_fonts_in_the_paper_or_its_figures(two_runs: tuple[Path, Path, str]) -> None:
    project = two_runs[0]
    figures = sorted((project / "paper" / "figures").glob("*.pdf"))
    assert len(figures) >= len(EXPECTED_FIGURES)
    for pdf in [*figures, project / "paper" / "paper.pdf"]:
        assert _type3_fonts(pdf) == 0, pdf.name


def test_published_outputs_hold_no_handles_or_text(two_runs: tuple[Path, Path, str]) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    project = two_runs[0]
    tweets = pd.read_csv(project / "data/raw/simulated/twcs.csv", dtype={"author_id": str})
    customers = set(tweets.loc[tweets["inbound"], "author_id"])
    pdf = pdfium.PdfDocument(str(project / "paper/paper.pdf"))
    published = [" ".join(page.get_textpage().get_text_range() for page in pdf)]
    published += [p.read_text() for p in (project / "results").rglob("*")
                  if p.suffix in {".json", ".md"}]
    published += [p.read_text() for p in (project / "paper/tables").glob("*")]
    texts = tweets.loc[tweets["inbound"], "text"].drop_duplicates().head(300)
    for text in published:
        # Numeric handles are looked for outside decimal numbers (see test_notebooks).
        tokens = set(re.findall(r"@?\w+", re.sub(r"\d+\.\d+", " ", text)))
        assert not tokens & customers
        assert not tokens & {f"@{c}" for c in customers}
        for body in texts:
            assert body not in text


def test_paper_numbers_come_from_the_results(two_runs: tuple[Path, Path, str]) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    project = two_runs[0]
    pdf = pdfium.PdfDocument(str(project / "paper/paper.pdf"))
    text = " ".join(page.get_textpage().get_text_range() for page in pdf).replace("\xa0", " ")
    hmm = json.loads((project / "results/simulated/hmm.json").read_text())
    activity = json.loads((project / "results/simulated/activity.json").read_text())
    assert f"{activity['customer_tweets']:,}" in text
    assert f"{hmm['params']['gamma']:.3f}" in text
    assert f"{hmm['params']['delta']:.3f}" in text
    # The reproducibility appendix reports the manifest's time and peak memory of each stage
    # (either rounding of a tie), and the coverage appendix the committed benchmark results.
    manifest = json.loads((project / "results/simulated/manifest.json").read_text())
    stages = [s for s in manifest["stages"] if s["stage"] not in ("manifest", "paper")]
    assert {s["stage"] for s in stages} >= {"simulate", "estimate", "hmm", "policy"}
    for stage in stages:
        rows = {f"{seconds} {memory}" for seconds in _roundings(stage["seconds"], 1)
                for memory in _roundings(stage["peak_rss_mb"], 0)}
        assert any(row in text for row in rows), (stage, rows)
    hardware = manifest["hardware"]
    assert hardware["logical_cpus"] >= 1 and hardware["memory_gib"] > 0
    assert f"{hardware['logical_cpus']} logical CPUs and {hardware['memory_gib']:.1f} GiB" in text
    coverage = json.loads((project / "benchmarks/results/hmm_coverage.json").read_text())
    gamma, delta = (coverage["headline"][p]["coverage_95"] for p in ("gamma", "delta"))
    assert f"{100 * gamma:.1f}% / {100 * delta:.1f}%" in text
    assert "Replication of the original findings" in text


def _roundings(value: float, digits: int) -> set[str]:
    """The number rounded down and up to ``digits`` decimals (the paper's rounding of a tie)."""
    scale = 10 ** digits
    return {f"{math.floor(value * scale) / scale:.{digits}f}",
            f"{math.ceil(value * scale) / scale:.{digits}f}"}


def test_paper_tables_count_what_the_results_say(two_runs: tuple[Path, Path, str]) -> None:
    project = two_runs[0]
    tables = project / "paper" / "tables"
    estimates = json.loads((project / "results/simulated/estimates.json").read_text())
    reduced = (tables / "reduced.typ").read_text()
    main = estimates["settings"]["main_treatment"]
    keys = ("ppml_complaints", "fe_sentiment_mean", "fe_compliment_share")
    nobs = ", ".join(f'"{estimates[k][main]["nobs"]:,}"' for k in keys)
    clusters = ", ".join(f'"{estimates[k][main]["n_clusters"]:,}"' for k in keys)
    assert f'"Observations", {nobs},' in reduced
    assert f'"Clusters", {clusters},' in reduced
    means = ", ".join(f'"{estimates[k][main]["info"]["dep_var_mean"]:.3f}"'.replace("-", "−")
                      for k in keys)
    assert f'"Mean of the dependent variable", {means},' in reduced
    hmm = json.loads((project / "results/simulated/hmm.json").read_text())
    table = (tables / "hmm.typ").read_text()
    assert f'"Customer-periods (N)", "{hmm["nobs"]:,}",' in table
    assert "a[" not in table and "tau[" not in table  # readable names, not code names


def test_figure_text_is_at_least_8pt_in_print(two_runs: tuple[Path, Path, str]) -> None:
    pytest.importorskip("pypdfium2")
    from complaintpanel.report.figure_sizes import MIN_PRINTED_PT, printed_text_sizes

    project = two_runs[0]
    sizes = printed_text_sizes(project / "paper" / "paper.typ", project / "paper" / "figures")
    assert len(sizes) >= 9
    small = sizes[sizes["printed_pt"] < MIN_PRINTED_PT]
    assert small.empty, small.round(2).to_string()
