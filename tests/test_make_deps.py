"""The Makefile's source lists are complete: every module a command imports is a prerequisite.

The lists are generated from the imports (``src/complaintpanel/runtime/make_deps.py``); these
tests check the generator against Python itself (what importing a command's modules really
loads) and check that the Makefile uses every list.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from complaintpanel.runtime import make_deps

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lists() -> dict[str, list[str]]:
    return make_deps.dependency_lists()


def _loaded_by_importing(modules: set[str]) -> set[str]:
    """Package modules in ``sys.modules`` after importing the CLI and ``modules`` afresh."""
    code = (
        "import importlib, sys\n"
        "import complaintpanel.cli\n"
        f"for name in {sorted(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] == 'complaintpanel')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    return set(out.split())


@pytest.mark.parametrize("variable", sorted(make_deps.COMMANDS))
def test_every_module_a_command_loads_is_a_prerequisite(variable: str,
                                                        lists: dict[str, list[str]]) -> None:
    """Import what the command imports (top of its module and inside it): all of it is listed."""
    import ast

    imported: set[str] = set()
    for spec in make_deps.COMMANDS[variable]:
        module_name, function = spec.split(":")
        path = make_deps.module_file(f"complaintpanel.commands.{module_name}")
        assert path is not None
        tree = ast.parse(path.read_text())
        nodes = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        nodes += [node for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name == function]
        imported |= make_deps._imported_modules(nodes)
    loaded = _loaded_by_importing(imported)
    files = {str(make_deps.module_file(m).relative_to(REPO)) for m in loaded  # type: ignore[union-attr]
             if make_deps.module_file(m) is not None}
    # Commands registered beside it (cli.py imports every command module) are not its code.
    files = {f for f in files if not f.startswith("src/complaintpanel/commands/")
             or f.endswith(("/_common.py", "/__init__.py"))}
    missing = sorted(files - set(lists[variable]))
    assert not missing, f"{variable} lacks {missing}"


def test_lists_name_the_code_behind_known_outputs(lists: dict[str, list[str]]) -> None:
    pkg = "src/complaintpanel/"
    assert {pkg + "commands/estimate.py", pkg + "report/estimate_tables.py",
            pkg + "estimate/design.py"} <= set(lists["ESTIMATE_SRC"])
    assert pkg + "report/figures.py" in lists["FIGURES_SRC"]
    assert pkg + "model/step.py" in lists["SIMULATE_SRC"]
    assert pkg + "hmm/policy.py" in lists["POLICY_SRC"]
    # ... and not the code of other stages
    assert not any("/hmm/" in f for f in lists["ESTIMATE_SRC"])
    assert not any("/estimate/" in f for f in lists["SIMULATE_SRC"])


def test_makefile_uses_every_list() -> None:
    makefile = (REPO / "Makefile").read_text()
    rules = [line for line in makefile.splitlines() if re.match(r"^\S.*:.*", line)
             or line.startswith("\t\t")]
    used = set(re.findall(r"\$\((\w+_SRC)\)", "\n".join(rules)))
    assert set(make_deps.COMMANDS) <= used, sorted(set(make_deps.COMMANDS) - used)
