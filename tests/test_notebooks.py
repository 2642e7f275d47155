"""The analysis notebooks: they run, show the numbers of their results files, match their twins.

Each notebook in ``analysis/`` is paired with a jupytext ``py:percent`` twin. The notebooks are
executed here with nbclient in a kernel of the interpreter running the tests (a kernelspec
written to a temporary folder, so no user-level kernel of another environment can be picked
up), in a temporary working directory, with ``COMPLAINTPANEL_NOTEBOOK_DIR`` pointing at a
temporary output folder. Their outputs must not contain tweet text or customer handles.

Every number table a notebook shows carries a record of where each number comes from
(:mod:`complaintpanel.report.notebook`); the tests read each file afresh and compare, so a
notebook showing a stale or wrong number fails, and so does a results file changed after the
notebook showed it. Each notebook runs twice: on its small simulated world (``RESULTS_DIR =
None``, its one setting) and then, with ``RESULTS_DIR`` set, on the results folder the first run
wrote, as it would on a user's ``results/NAME`` (the four of them in one kernel).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from complaintpanel.ingest.mapping import load_mapping
from complaintpanel.report.notebook import ShownNumber, locate, mismatches, shown_numbers

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
NOTEBOOKS = ("01_data", "02_reduced_form", "03_structural", "04_your_own_data")
KERNEL_NAME = "complaintpanel-test-venv"
TRUE_SPELLINGS = {"true", "t", "1", "1.0", "yes", "y"}
MIN_TEXT_LENGTH = 20  # shorter texts ("thanks!") could occur in an output by chance
DECIMAL_NUMBER = re.compile(r"\d+\.\d+")
SETTING = "RESULTS_DIR = None"
# What each notebook must show from which file, at least: (file name, first key of the path).
REQUIRED_SOURCES = {
    "01_data": {("params.json", "counts"), ("ingest_report.json", "rows_in"),
                ("thread_report.json", "customer_tweets"), ("label_report.json", "voice_counts"),
                ("label_validity.json", "confusion"), ("label_validity.json", "accuracy"),
                ("panel_report.json", "rows")},
    "02_reduced_form": {("estimates.json", key) for key in (
        "descriptives", "ppml_complaints", "fe_sentiment_mean", "fe_compliment_share", "design",
        "event_study")},
    "03_structural": {("hmm.json", "params"), ("hmm.json", "bse"), ("hmm.json", "conf_int_95"),
                      ("hmm.json", "transition_matrices"), ("hmm.json", "loglike"),
                      ("policy.json", "contrasts")},
    "04_your_own_data": {("ingest_report.json", "rows_in"),
                         ("ingest_report.json", "rows_rejected"),
                         ("thread_report.json", "brand_source")},
}
# The same, when the notebook reads a results folder (no simulated truth, no example file).
REQUIRED_FROM_RESULTS = {
    "01_data": REQUIRED_SOURCES["01_data"] - {("params.json", "counts")},
    "02_reduced_form": REQUIRED_SOURCES["02_reduced_form"],
    "03_structural": REQUIRED_SOURCES["03_structural"],
    "04_your_own_data": {("ingest_report.json", "rows_in"),
                         ("ingest_report.json", "rows_rejected")},
}


def test_every_notebook_has_a_text_twin() -> None:
    notebooks = {p.stem for p in ANALYSIS.glob("*.ipynb")}
    twins = {p.stem for p in ANALYSIS.glob("*.py")}
    assert notebooks == twins == set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name: str) -> None:
    notebook = nbformat.read(ANALYSIS / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "a notebook without code cells"
    for cell in code:
        assert cell.outputs == [], f"{name}: outputs in cell {cell.get('id')}"
        assert cell.execution_count is None, f"{name}: execution count in cell {cell.get('id')}"
        assert "execution" not in cell.metadata, f"{name}: execution timing in {cell.get('id')}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_and_text_twin_are_in_sync(name: str) -> None:
    notebook = jupytext.read(ANALYSIS / f"{name}.ipynb")
    twin = jupytext.read(ANALYSIS / f"{name}.py")
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    cells = [(cell.cell_type, cell.source) for cell in notebook.cells]
    twin_cells = [(cell.cell_type, cell.source) for cell in twin.cells]
    assert cells == twin_cells, (f"analysis/{name}.ipynb and .py differ; run "
                                 f"`.venv/bin/jupytext --sync analysis/{name}.py`")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Name of a kernelspec that runs this interpreter, found through ``JUPYTER_PATH``."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "complaintpanel tests", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(root))
        yield KERNEL_NAME


def _output_text(notebook: nbformat.NotebookNode) -> str:
    """All text a reader sees in the outputs (streams, plain text, HTML, Markdown, errors)."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                parts += [str(output.data[kind]) for kind in
                          ("text/plain", "text/html", "text/markdown") if kind in output.data]
            elif output.output_type == "error":
                parts += [output.ename, output.evalue, *output.traceback]
    return "\n".join(parts)


def _private_strings(folder: Path) -> tuple[set[str], set[str]]:
    """Tweet texts (from ``tweets.parquet``) and raw customer handles (from raw CSV files).

    A raw CSV is read with the mapping TOML of the same name beside it, else the TWCS layout.
    """
    texts: set[str] = set()
    for path in folder.rglob("tweets.parquet"):
        values = pd.read_parquet(path, columns=["text"])["text"].dropna().str.strip()
        texts |= {t for t in values if len(t) >= MIN_TEXT_LENGTH}
    handles: set[str] = set()
    for path in folder.rglob("*.csv"):
        toml = path.with_suffix(".toml")
        mapping = load_mapping(toml if toml.exists() else "twcs")
        author, inbound = mapping.columns["author_id"], mapping.columns.get("inbound")
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        customers = (raw[inbound].str.strip().str.lower().isin(TRUE_SPELLINGS) if inbound
                     else pd.Series(True, index=raw.index))
        handles |= set(raw.loc[customers, author].str.strip()) - {""}
    return texts, handles


def without_decimal_numbers(text: str) -> str:
    """``text`` with every decimal number (``0.100556``, ``-1.5``) blanked out.

    Customer handles in TWCS-style data are numeric (``115712``). The digits after the point of
    a displayed score can equal a handle (sentiment ``0.100556`` and customer ``100556``) without
    showing anybody, so handles are searched for in the text outside decimal numbers. A handle
    ending a sentence (``100556.``) is still found.
    """
    return DECIMAL_NUMBER.sub(" ", text)


def test_handles_are_found_outside_decimal_numbers_only() -> None:
    shown = without_decimal_numbers(
        "customer 100556 wrote; @100557, mean 0.100559 and -1.100560, id 100561.")
    found = {h for h in ("100556", "100557", "100559", "100560", "100561", "10055")
             if re.search(rf"(?<!\w){h}(?!\w)", shown)}
    assert found == {"100556", "100557", "100561"}


@dataclass(frozen=True)
class Run:
    """One execution of a notebook: the executed notebook and its folders."""

    name: str
    notebook: nbformat.NotebookNode
    run_dir: Path  # working directory (a copy of config.toml only)
    out_dir: Path  # COMPLAINTPANEL_NOTEBOOK_DIR

    @property
    def results_dir(self) -> Path:
        """The results folder in the layout of `make all` that the default run wrote."""
        return self.out_dir / self.name / "results" / "simulated"


def _with_setting(notebook: nbformat.NotebookNode, results_dir: Path | None) -> None:
    """Give the notebook's one setting (its first code cell) a value, as a user would."""
    cell = next(c for c in notebook.cells if c.cell_type == "code")
    assert SETTING in cell.source
    if results_dir is not None:
        cell.source = cell.source.replace(SETTING, f"RESULTS_DIR = {str(results_dir)!r}")


def _execute(name: str, kernel: str, folder: Path, results_dir: Path | None = None) -> Run:
    run_dir, out_dir = folder / "run", folder / "out"
    run_dir.mkdir(parents=True)
    # Notebooks read the settings from config.toml in their working directory (analysis/ when
    # opened normally); a copy lets them run where any stray relative write would be seen.
    shutil.copy(ANALYSIS / "config.toml", run_dir / "config.toml")
    notebook = nbformat.read(ANALYSIS / f"{name}.ipynb", as_version=4)
    _with_setting(notebook, results_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COMPLAINTPANEL_NOTEBOOK_DIR", str(out_dir))
        NotebookClient(notebook, timeout=600, kernel_name=kernel,
                       resources={"metadata": {"path": str(run_dir)}}).execute()
    return Run(name, notebook, run_dir, out_dir)


_DEFAULT_RUNS: dict[str, Run] = {}
Runner = Callable[[str], Run]


@pytest.fixture(scope="module")
def default_run(kernel: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """Execute a notebook with its default setting, once per module."""
    def run(name: str) -> Run:
        if name not in _DEFAULT_RUNS:
            _DEFAULT_RUNS[name] = _execute(name, kernel, tmp_path_factory.mktemp(name))
        return _DEFAULT_RUNS[name]
    yield run
    _DEFAULT_RUNS.clear()


def _sources(numbers: list[ShownNumber]) -> set[tuple[str, str]]:
    return {(Path(n.source).name, str(n.path[0])) for n in numbers}


def _assert_private_data_not_shown(notebook: nbformat.NotebookNode, data: Path) -> None:
    shown = _output_text(notebook)
    assert shown.strip(), "the notebook shows nothing"
    texts, handles = _private_strings(data)
    leaked_texts = sorted(t for t in texts if t in shown)
    assert not leaked_texts, f"tweet text in the outputs: {leaked_texts[:3]}"
    visible = without_decimal_numbers(shown)
    leaked_handles = sorted(h for h in handles
                            if re.search(rf"(?<!\w){re.escape(h)}(?!\w)", visible))
    assert not leaked_handles, f"customer handles in the outputs: {leaked_handles[:3]}"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_shows_no_private_data(name: str, default_run: Runner) -> None:
    run = default_run(name)
    assert [p.name for p in run.run_dir.iterdir()] == ["config.toml"], "wrote outside its folder"
    assert sorted(p.name for p in run.out_dir.iterdir()) == [name], "wrote outside its subfolder"
    _assert_private_data_not_shown(run.notebook, run.out_dir)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_shown_numbers_are_those_of_the_results_files(name: str, default_run: Runner) -> None:
    numbers = shown_numbers(default_run(name).notebook)
    missing = REQUIRED_SOURCES[name] - _sources(numbers)
    assert not missing, f"{name} does not show (file, key): {sorted(missing)}"
    assert mismatches(numbers) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_number_changed_in_its_file_fails_the_check(name: str, default_run: Runner,
                                                      tmp_path: Path) -> None:
    """Change, in a copy of each results file, the first number the notebook showed from it."""
    numbers = shown_numbers(default_run(name).notebook)
    first = {}
    for number in numbers:
        first.setdefault(number.source, number)
    for i, number in enumerate(first.values()):
        tree = json.loads(Path(number.source).read_text())
        container, key = locate(number, tree)
        container[key] = container[key] + 1
        changed = tmp_path / f"{i}-{Path(number.source).name}"
        changed.write_text(json.dumps(tree))
        moved = dataclasses.replace(number, source=str(changed))
        assert len(mismatches([moved])) == 1, f"a changed {number} went unnoticed"


@pytest.mark.slow
def test_notebooks_read_a_results_folder(default_run: Runner, kernel: str,
                                         tmp_path: Path) -> None:
    """With its one setting pointing at a run's results folder, a notebook only reads it.

    The four notebooks run one after the other in one kernel (its namespace reset between
    them: ``%reset -f``), to start the kernel and import the libraries once.
    """
    # 04 reads the ingest reports of data/interim/NAME beside results/NAME, which 01 writes.
    sources = {name: default_run("01_data" if name == "04_your_own_data" else name)
               for name in NOTEBOOKS}
    before = {p: p.stat().st_mtime_ns for run in sources.values() for p in run.out_dir.rglob("*")}
    combined, spans = nbformat.v4.new_notebook(), {}
    for name, source in sources.items():
        notebook = nbformat.read(ANALYSIS / f"{name}.ipynb", as_version=4)
        _with_setting(notebook, source.results_dir)
        out = tmp_path / "out" / name
        combined.cells.append(nbformat.v4.new_code_cell(
            f"%reset -f\nimport os\nos.environ['COMPLAINTPANEL_NOTEBOOK_DIR'] = {str(out)!r}"))
        spans[name] = (len(combined.cells), len(combined.cells) + len(notebook.cells))
        combined.cells += notebook.cells
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(ANALYSIS / "config.toml", run_dir / "config.toml")
    NotebookClient(combined, timeout=600, kernel_name=kernel,
                   resources={"metadata": {"path": str(run_dir)}}).execute()

    after = {p: p.stat().st_mtime_ns for run in sources.values() for p in run.out_dir.rglob("*")}
    assert after == before, "wrote into the run it read"
    assert [p.name for p in run_dir.iterdir()] == ["config.toml"], "wrote outside its folder"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(NOTEBOOKS)
    for name, (first, last) in spans.items():
        notebook = nbformat.v4.new_notebook(cells=combined.cells[first:last])
        numbers = shown_numbers(notebook)
        root = sources[name].out_dir
        assert numbers and all(Path(n.source).is_relative_to(root) for n in numbers), name
        missing = REQUIRED_FROM_RESULTS[name] - _sources(numbers)
        assert not missing, f"{name} does not show (file, key): {sorted(missing)}"
        assert mismatches(numbers) == [], name
        _assert_private_data_not_shown(notebook, root)


def test_the_one_setting_is_the_first_code_cell() -> None:
    for name in NOTEBOOKS:
        notebook = jupytext.read(ANALYSIS / f"{name}.py")
        first = next(c for c in notebook.cells if c.cell_type == "code")
        code = [line for line in first.source.splitlines() if not line.startswith("#")]
        assert code == [SETTING], f"{name}: first code cell {code}"


def test_notebooks_use_public_names_only() -> None:
    """No ``_private`` module or name of the package is imported by a notebook."""
    for name in NOTEBOOKS:
        for node in ast.walk(ast.parse((ANALYSIS / f"{name}.py").read_text())):
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            if isinstance(node, ast.ImportFrom) and module.startswith("complaintpanel"):
                parts = module.split(".") + [a.name for a in node.names]
                assert not [p for p in parts if p.startswith("_")], f"{name}: {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not [p for p in alias.name.split(".") if p.startswith("_")], name
