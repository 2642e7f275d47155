"""The report of one dataset's run (``paper/dataset.typ``) and the real-data section of the paper.

The pipeline's stages run on the real TWCS excerpt ``twcs-head-5k`` (``../shared``) in a scratch
project, as `make all DATA=...` runs them (the structural model and the policies are left out to
keep the test short, so the report must say they were not run); the report is built from that
run's results folder only. Every number in its text must be the run's, none the simulated
world's, and it must show no customer handle or tweet text.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintpanel.cli import app

REPO = Path(__file__).resolve().parents[1]
KEY = {"COMPLAINTPANEL_KEY": "paper-test-key-not-secret"}
# The simulated default world's counts (analysis/config.toml), which a real run's report must
# never show: its customers and its weeks.
SIMULATED = ("4,000", "26 weeks")


def _pdf_text(path: Path) -> str:
    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument(str(path))
    text = " ".join(page.get_textpage().get_text_range() for page in pdf)
    # hyphenation marks at line breaks, non-breaking spaces, typographic apostrophes
    text = text.replace("\xa0", " ").replace("\r", "").replace("\u2019", "'")
    return re.sub(r"\ufffe\s*", "", text)


def _has(text: str, phrase: str) -> bool:
    """Whether ``phrase`` is in ``text`` up to white space (lines break inside paths)."""
    return re.sub(r"\s+", "", phrase) in re.sub(r"\s+", "", text)


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=KEY)
    assert result.exit_code == 0, result.output
    return result.output


def _project(root: Path) -> Path:
    """A scratch project: the manuscripts and the committed classifier benchmark."""
    project = root / "project"
    shutil.copytree(REPO / "paper", project / "paper", ignore=shutil.ignore_patterns(
        "*.pdf", "*.png", "*.md", "*.tex", "figures", "tables", "pages"))
    (project / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy2(REPO / "benchmarks/results/labels.json", project / "benchmarks/results")
    return project


@pytest.fixture(scope="module")
def dataset_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stages of `make all DATA=twcs-head-5k/twcs.csv` up to the report; the project."""
    from conftest import SHARED_DATA, _require_real

    raw = _require_real(SHARED_DATA / "real" / "twcs-head-5k" / "twcs.csv")
    project = _project(tmp_path_factory.mktemp("dataset"))
    config = str(REPO / "analysis" / "config.toml")
    interim = project / "data/interim/twcs-head-5k"
    processed = project / "data/processed/twcs-head-5k"
    results = project / "results/twcs-head-5k"
    _run("ingest", str(raw), "--out", str(interim), "--config", config)
    _run("thread", str(interim), "--config", config)
    _run("label", str(interim), "--out", str(processed), "--config", config)
    _run("panel", str(processed), "--config", config)
    _run("estimate", str(processed), "--out", str(results), "--tables", str(results / "tables"),
         "--config", config)
    _run("describe", str(interim), "--out", str(results))
    _run("figures", str(results), "--processed", str(processed), "--out",
         str(results / "figures"), "--classifier-benchmark",
         str(project / "benchmarks/results/labels.json"))
    _run("summary", str(results), "--out", str(results / "summary.md"))
    _run("paper", str(project / "paper/dataset.typ"), "--results", str(results), "--out",
         str(results / "paper.pdf"), "--root", str(project))
    return project


def test_report_numbers_are_the_runs(dataset_run: Path) -> None:
    results = dataset_run / "results/twcs-head-5k"
    text = _pdf_text(results / "paper.pdf")
    activity = json.loads((results / "activity.json").read_text())
    descriptives = json.loads((results / "estimates.json").read_text())["descriptives"]
    assert _has(text, "twcs-head-5k")
    assert _has(text, f"wrote {activity['customer_tweets']:,} tweets")
    assert _has(text, f"sent {activity['brand_replies']:,} replies")
    assert _has(text, f"Customer tweets {descriptives['customer_tweets']:,}")
    assert _has(text, f"Customers {descriptives['customers']:,}")
    assert _has(text, f"Periods (weeks) {descriptives['periods']}")
    for simulated in SIMULATED:
        assert simulated not in text


def test_report_states_what_was_not_estimated_and_why(dataset_run: Path) -> None:
    results = dataset_run / "results/twcs-head-5k"
    text = " ".join(_pdf_text(results / "paper.pdf").split())
    estimates = json.loads((results / "estimates.json").read_text())
    # every event study this excerpt cannot identify, with the estimator's reason
    for outcome, study in estimates["event_study"].items():
        if study.get("status") == "not identified":
            assert _has(text, f"Event study ({outcome}): not identified")
            assert _has(text, " ".join(study["reason"].split())[:40])
    # the design estimate, at the run's value, or its reason
    design = estimates["design"]
    if design["status"] == "estimated":
        lead0 = next(t for t in design["terms"]
                     if t["outcome"] == "complaints" and t["lead"] == 0)
        assert _has(text, f"by {lead0['estimate']:.3f}".replace("-", "−"))
    # the stages left out of this run: a sentence, never an empty figure
    assert _has(text, "Not run: the results folder holds no hmm.json.")
    assert _has(text, "Not run: the results folder holds no policy.json.")
    assert _has(text, "No validation sample was coded for these data")
    assert _has(text, "Window. The observation window spans")  # 327 weeks: chain ancestors


def test_report_shows_no_handle_or_tweet_text(dataset_run: Path) -> None:
    from conftest import SHARED_DATA

    tweets = pd.read_csv(SHARED_DATA / "real/twcs-head-5k/twcs.csv", dtype=str,
                         keep_default_na=False, index_col=0)
    customers = set(tweets.loc[tweets["inbound"] == "True", "author_id"])
    texts = [t for t in tweets["text"].drop_duplicates() if len(t) >= 20]
    text = _pdf_text(dataset_run / "results/twcs-head-5k/paper.pdf")
    tokens = set(re.findall(r"@?\w+", re.sub(r"\d+\.\d+", " ", text)))
    assert not tokens & customers
    assert not tokens & {f"@{c}" for c in customers}
    flat = re.sub(r"\s+", "", text)
    assert not [body for body in texts if re.sub(r"\s+", "", body) in flat]


def test_report_of_another_folder_shows_its_numbers_not_these(dataset_run: Path,
                                                              tmp_path: Path) -> None:
    """Pointed at another results folder, the report shows that folder's numbers only."""
    results = dataset_run / "results/twcs-head-5k"
    other = dataset_run / "results/other"
    other.mkdir()
    activity = json.loads((results / "activity.json").read_text())
    changed = {**activity, "customer_tweets": 123457, "brand_replies": 98766}
    (other / "activity.json").write_text(json.dumps(changed))
    out = tmp_path / "other.pdf"
    _run("paper", str(dataset_run / "paper/dataset.typ"), "--results", str(other), "--out",
         str(out), "--root", str(dataset_run))
    text = _pdf_text(out)
    assert _has(text, "wrote 123,457 tweets") and _has(text, "sent 98,766 replies")
    assert f"{activity['customer_tweets']:,}" not in text
    # no estimates.json: a sentence for every section, no table of another run
    assert _has(text, "Not run: the results folder holds no estimates.json.")
    assert "Customers" not in text
    assert _has(text, "The figure weekly_activity was not drawn for this run")


def test_real_data_section_gives_the_command_without_the_archive(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "section.typ").write_text(
        '#include "/paper/real-data.typ"\n#bibliography("/paper/refs.bib")\n')
    _run("paper", str(project / "section.typ"), "--out", str(tmp_path / "s.pdf"),
         "--root", str(project))
    text = " ".join(_pdf_text(tmp_path / "s.pdf").split())
    assert _has(text, "Real data: Customer Support on Twitter")
    assert _has(text, "save the archive's twcs.csv as data/raw/twcs/twcs.csv and run make all")
    assert _has(text, "make all DATA=data/raw/twcs/twcs.csv")
    assert _has(text, "No result of that archive is reported in this build.")


def test_real_data_section_reports_the_twcs_run(dataset_run: Path, tmp_path: Path) -> None:
    """With ``--real`` the section reports that folder (here the excerpt's, standing in)."""
    results = dataset_run / "results/twcs-head-5k"
    (dataset_run / "section.typ").write_text(
        '#include "/paper/real-data.typ"\n#bibliography("/paper/refs.bib")\n')
    _run("paper", str(dataset_run / "section.typ"), "--out", str(tmp_path / "s.pdf"),
         "--root", str(dataset_run), "--real", str(results))
    text = " ".join(_pdf_text(tmp_path / "s.pdf").split())
    activity = json.loads((results / "activity.json").read_text())
    assert _has(text, f"wrote {activity['customer_tweets']:,} tweets")
    assert not _has(text, "make all DATA=data/raw/twcs/twcs.csv")


def test_report_of_a_fitted_and_an_unidentified_structural_model(dataset_run: Path,
                                                                  tmp_path: Path) -> None:
    """The structural section shows ``hmm.json``'s estimates, or its reason when not estimated."""
    from conftest import hmm_results_at

    results = dataset_run / "results/twcs-head-5k"
    folder = dataset_run / "results/with-hmm"
    folder.mkdir()
    shutil.copy2(results / "activity.json", folder)
    fitted = hmm_results_at().to_dict()  # type: ignore[attr-defined]
    fitted["fit_seconds"] = 1.5  # NaN without a fit
    fitted["params"].update(gamma=0.271828, delta=-0.314159)
    fitted["conf_int_95"].update(gamma=[0.111111, 0.432545], delta=[-0.5, -0.128318])
    (folder / "hmm.json").write_text(json.dumps(fitted))
    out = tmp_path / "hmm.pdf"
    _run("paper", str(dataset_run / "paper/dataset.typ"), "--results", str(folder), "--out",
         str(out), "--root", str(dataset_run))
    text = _pdf_text(out)
    assert _has(text, "squeaky-wheel effect 𝛾 = 0.272 ([0.111, 0.433])")
    assert _has(text, "𝛿 = −0.314 (95% CI [−0.500, −0.128])")
    assert _has(text, f"over {fitted['n_customers']} customer–brand histories")
    assert _has(text, "Caution")  # 100 histories: illustrative only
    assert not _has(text, "0.400")  # the default (simulated) value of gamma

    (folder / "hmm.json").write_text(json.dumps(
        {"status": "not identified", "reason": "no customer is seen in two periods"}))
    _run("paper", str(dataset_run / "paper/dataset.typ"), "--results", str(folder), "--out",
         str(out), "--root", str(dataset_run))
    assert _has(_pdf_text(out), "The hidden Markov model was not identified — no customer is "
                "seen in two periods.")

    # a results file with a non-finite number (the writers allow NaN; Typst cannot parse it)
    (folder / "hmm.json").write_text(json.dumps({**fitted, "fit_seconds": float("nan")}))
    _run("paper", str(dataset_run / "paper/dataset.typ"), "--results", str(folder), "--out",
         str(out), "--root", str(dataset_run))
    assert _has(_pdf_text(out), "Not run: hmm.json holds non-finite numbers (NaN or infinity) "
                "that cannot be reported.")


def _dry_make(project: Path, *args: str) -> str:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    result = subprocess.run(["make", "-n", "all", *args], cwd=project, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # one command a line, white space normalised
    return "\n".join(" ".join(line.split()) for line in result.stdout.splitlines())


def test_make_runs_the_twcs_archive_only_when_it_is_there(tmp_path: Path) -> None:
    """`make all` adds the TWCS run and the paper's --real only if data/raw/twcs/twcs.csv exists;
    `make all DATA=...` builds that dataset's report from its results folder."""
    project = tmp_path / "project"
    for item in ("Makefile", "pyproject.toml", "requirements.lock", "src", "paper",
                 "analysis/config.toml", "benchmarks/results"):
        target = project / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / item).is_dir():
            shutil.copytree(REPO / item, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / item, target)
    without = _dry_make(project)
    assert ".venv/bin/complaintpanel paper paper/paper.typ --out paper/paper.pdf" in without.split(
        "\n")
    assert "results/twcs" not in without and "DATA=" not in without
    (project / "data/raw/twcs").mkdir(parents=True)
    (project / "data/raw/twcs/twcs.csv").write_text("tweet_id\n")
    with_archive = _dry_make(project)
    assert "make all DATA=data/raw/twcs/twcs.csv" in with_archive
    assert "paper paper/paper.typ --out paper/paper.pdf --real results/twcs" in with_archive
    assert ("paper paper/dataset.typ --results results/twcs --out results/twcs/paper.pdf"
            in with_archive)
    data = _dry_make(project, "DATA=data/raw/twcs/twcs.csv")
    assert "--results results/twcs --out results/twcs/paper.pdf" in data
    assert "paper/paper.typ" not in data
