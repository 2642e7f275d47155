"""The package's own promises about itself: dependencies in sync, metadata valid, layout."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# conda-forge names that differ from the PyPI ones
CONDA_TO_PYPI = {"python-duckdb": "duckdb"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(requirement: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(>=\s*[0-9][0-9A-Za-z.]*)?\s*", requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    return _normalise(match.group(1)), (match.group(2) or "").replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + [r for extra in extras.values() for r in extra]
    return dict(_split(r) for r in requirements)


def _environment_requirements() -> dict[str, str]:
    yaml = pytest.importorskip("yaml")
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    entries: list[str] = []
    for item in environment["dependencies"]:
        if isinstance(item, dict):
            entries += [r for r in item["pip"] if not r.startswith("-e")]
        elif item != "pip":
            entries.append(item)
    found = dict(_split(entry) for entry in entries)
    found.pop("python")
    return {CONDA_TO_PYPI.get(name, name): bound for name, bound in found.items()}


def test_environment_yml_matches_pyproject() -> None:
    assert _environment_requirements() == _pyproject_requirements()


def _lock() -> dict[str, str]:
    lines = (REPO / "requirements.lock").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {_normalise(name): version for name, version in pins}


def test_lock_file_satisfies_every_requirement_of_pyproject() -> None:
    from packaging.requirements import Requirement

    lock = _lock()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra]
    for text in declared:
        requirement = Requirement(text.split("#")[0])
        name = _normalise(requirement.name)
        assert name in lock, f"{name} is in pyproject.toml but not in requirements.lock"
        assert requirement.specifier.contains(lock[name], prereleases=True), (
            f"requirements.lock pins {name}=={lock[name]}, outside pyproject's {text!r}")


def test_the_environment_is_the_locked_one() -> None:
    # `make` installs .venv from requirements.lock: the lock must be exactly the closure of
    # pyproject's requirements in that environment (tools/write_lock.py --check)
    venv = (REPO / ".venv").resolve()
    if Path(sys.prefix).resolve() != venv:
        pytest.skip(f"not running in the project's .venv ({venv}): the lock describes that one")
    result = subprocess.run([sys.executable, str(REPO / "tools" / "write_lock.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout


def test_every_dependency_has_a_lower_bound() -> None:
    assert all(bound for bound in _pyproject_requirements().values())


def test_citation_cff_is_valid_and_cites_the_original_paper() -> None:
    yaml = pytest.importorskip("yaml")
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "version", "license"):
        assert citation[key]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert str(citation["version"]) == project["version"]
    assert citation["license"] == "BSD-3-Clause"
    original = [r for r in citation["references"] if "Squeaky Wheel" in r["title"]]
    assert original and original[0]["doi"] == "10.1287/mksc.2015.0912"
    assert original[0]["journal"] == "Marketing Science"


def test_layout_promised_by_the_readme() -> None:
    for path in ("paper", "analysis", "data/raw", "data/interim", "data/processed",
                 "data/README.md", "src/complaintpanel", "tests", "benchmarks",
                 "environment.yml", "Makefile", "pyproject.toml", "README.md", "CITATION.cff",
                 "LICENSE", ".ci/run"):
        assert (REPO / path).exists(), path
    ci = (REPO / ".ci/run").read_text()
    assert "make test" in ci and "set -euo pipefail" in ci
    assert "BSD 3-Clause" in (REPO / "LICENSE").read_text()


def test_cli_starts_without_the_stages_libraries() -> None:
    """Command modules import their stage's libraries inside the command (DEVELOPERS.md).

    Checked by what is loaded, not by a timing: after ``import complaintpanel.cli`` (which
    registers every command) none of the heavy libraries a stage needs is imported yet.
    """
    heavy = ("pandas", "numpy", "duckdb", "pyarrow", "scipy", "sklearn", "matplotlib",
             "pyfixest", "pandera", "pyspark")
    code = ("import sys, complaintpanel.cli; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "", f"importing the CLI loads {loaded}"


def test_the_package_type_checks() -> None:
    """``py.typed`` is a promise: mypy finds no error in src/ (settings in pyproject.toml)."""
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", "/dev/null"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_code_is_ruff_clean() -> None:
    """The style promise (`make lint`): ruff finds nothing in the code the project ships."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "src",
                             "tests", "benchmarks", "analysis", "tools"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_no_module_imports_another_stages_private_names() -> None:
    """Stages talk through public names; ``_private`` ones stay inside their own package."""
    import ast

    src = REPO / "src" / "complaintpanel"
    offences = []
    for path in src.rglob("*.py"):
        stage = path.relative_to(src).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "complaintpanel."):
                other = node.module.split(".")[1]  # type: ignore[union-attr]
                private = [a.name for a in node.names if a.name.startswith("_")
                           and not a.name.startswith("__")]
                if private and other != stage:
                    offences.append(f"{path.relative_to(src)}: {node.module} {private}")
    assert not offences, offences


def test_benchmark_scripts_find_their_helpers_when_make_bench_runs_them() -> None:
    """`make bench` runs ``python benchmarks/bench_x.py``: sys.path then holds benchmarks/,
    not the repository, so a script importing ``benchmarks._common`` must put the repository
    on the path first (one did not, and `make bench` stopped there)."""
    import ast

    for script in sorted((REPO / "benchmarks").glob("bench_*.py")):
        body = ast.parse(script.read_text()).body
        inserted = False
        for node in body:
            if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                    and ast.unparse(node.value.func) == "sys.path.insert"):
                inserted = True
            if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "benchmarks")) or (isinstance(node, ast.Import) and any(
                    a.name.startswith("benchmarks") for a in node.names)):
                assert inserted, f"{script.name} imports the benchmarks package before "\
                                 "putting the repository on sys.path"
