"""The analysis notebooks: they run, are committed without outputs, and match their text twins.

Each notebook in ``analysis/`` is paired with a jupytext ``py:percent`` twin. The notebooks are
executed here with nbclient in a kernel of the interpreter running the tests (a kernelspec
written to a temporary folder, so no user-level ``python3`` kernel of another environment can
be picked up), in a temporary working directory, with ``COMPLAINTPANEL_NOTEBOOK_DIR`` pointing
at a temporary output folder. Their outputs must not contain tweet text or customer handles.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from complaintpanel.ingest.mapping import load_mapping

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"
NOTEBOOKS = ("01_data", "02_reduced_form", "03_structural", "04_your_own_data")
KERNEL_NAME = "complaintpanel-test-venv"
TRUE_SPELLINGS = {"true", "t", "1", "1.0", "yes", "y"}
MIN_TEXT_LENGTH = 20  # shorter texts ("thanks!") could occur in an output by chance
DECIMAL_NUMBER = re.compile(r"\d+\.\d+")


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


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_shows_no_private_data(name: str, kernel: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    run_dir.mkdir()
    # Notebooks read the settings from config.toml in their working directory (analysis/ when
    # opened normally); a copy lets them run where any stray relative write would be seen.
    shutil.copy(ANALYSIS / "config.toml", run_dir / "config.toml")
    monkeypatch.setenv("COMPLAINTPANEL_NOTEBOOK_DIR", str(out_dir))
    notebook = nbformat.read(ANALYSIS / f"{name}.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name=kernel,
                   resources={"metadata": {"path": str(run_dir)}}).execute()

    assert [p.name for p in run_dir.iterdir()] == ["config.toml"], "wrote outside its folder"
    assert sorted(p.name for p in out_dir.iterdir()) == [name], "wrote outside its subfolder"
    shown = _output_text(notebook)
    assert shown.strip(), "the notebook shows nothing"
    texts, handles = _private_strings(out_dir)
    leaked_texts = sorted(t for t in texts if t in shown)
    assert not leaked_texts, f"tweet text in the outputs: {leaked_texts[:3]}"
    visible = without_decimal_numbers(shown)
    leaked_handles = sorted(h for h in handles
                            if re.search(rf"(?<!\w){re.escape(h)}(?!\w)", visible))
    assert not leaked_handles, f"customer handles in the outputs: {leaked_handles[:3]}"
