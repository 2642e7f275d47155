"""Source files behind each command, from the imports: the Makefile's dependency lists.

Make reruns a stage when the code that makes its outputs changes. Listing those files by hand
drifts (a rule that forgets ``report/estimate_tables.py`` rebuilds the paper against stale
tables), so they are read off the code: starting from one command function of
:mod:`complaintpanel.commands`, the package modules it imports (at the top of its module, in
its body, in the module's helpers it calls) and, recursively, everything those modules import,
with the ``__init__`` of every package on the way (Python runs them on import).

Run by the Makefile with the system Python before the virtual environment exists, so this
module uses nothing outside the standard library and imports nothing of the package::

    python3 src/complaintpanel/runtime/make_deps.py .make/deps.mk

writes one ``NAME_SRC := files...`` line per entry of :data:`COMMANDS`, and rewrites the file
only when its content changes (so Make does not restart for nothing).
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

PACKAGE = "complaintpanel"
SRC = Path(__file__).resolve().parents[2]

# Make variable → the command function(s) whose outputs the rule makes.
COMMANDS: dict[str, tuple[str, ...]] = {
    "SIMULATE_SRC": ("simulate:simulate",),
    "INGEST_SRC": ("ingest:ingest_command",),
    "THREAD_SRC": ("ingest:thread_command",),
    "LABEL_SRC": ("label:label",),
    "PANEL_SRC": ("panel:panel",),
    "ESTIMATE_SRC": ("estimate:estimate",),
    "HMM_SRC": ("hmm:hmm",),
    "POLICY_SRC": ("hmm:policy",),
    "ROBUSTNESS_SRC": ("pipeline:robustness",),
    "VALIDITY_SRC": ("report:label_validity",),
    "VALIDATION_SHEET_SRC": ("validation:validation_sample",),
    "VALIDATION_ORACLE_SRC": ("validation:validation_code_oracle",),
    "DESCRIBE_SRC": ("report:describe",),
    "FIGURES_SRC": ("report:figures",),
    "SUMMARY_SRC": ("report:summary",),
    "PAPER_SRC": ("report:paper",),
    "MANIFEST_SRC": ("report:manifest",),
}


def module_file(module: str) -> Path | None:
    """File of a package module (``a.b`` → ``a/b.py`` or ``a/b/__init__.py``), if any."""
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING")


def _walk(node: ast.AST) -> list[ast.AST]:
    """All nodes below ``node``, except what runs only under ``if TYPE_CHECKING:``."""
    out = [node]
    for child in ast.iter_child_nodes(node):
        if not _is_type_checking(child):
            out.extend(_walk(child))
    return out


def _imported_modules(nodes: list[ast.AST]) -> set[str]:
    """Package modules named by the import statements among ``nodes`` (and their children)."""
    found: set[str] = set()
    for node in nodes:
        for inner in _walk(node):
            if isinstance(inner, ast.Import):
                found.update(alias.name for alias in inner.names)
            elif isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                found.add(inner.module)
                # `from package import submodule` imports the submodule too
                found.update(f"{inner.module}.{alias.name}" for alias in inner.names)
    return {name for name in found
            if name.split(".")[0] == PACKAGE and module_file(name) is not None}


def _with_parents(module: str) -> set[str]:
    """``a.b.c`` → ``{a, a.b, a.b.c}`` (importing a module runs its packages' ``__init__``)."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


@functools.cache
def _module_imports(module: str) -> frozenset[str]:
    path = module_file(module)
    if path is None:
        return frozenset()
    return frozenset(_imported_modules([ast.parse(path.read_text(encoding="utf-8"))]))


def module_closure(roots: set[str]) -> set[str]:
    """Every package module that importing ``roots`` can run (whole modules, recursively)."""
    seen: set[str] = set()
    todo = [parent for root in roots for parent in _with_parents(root)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in _module_imports(module):
            todo.extend(_with_parents(name) - seen)
    return seen


def command_modules(spec: str) -> set[str]:
    """Modules behind one command, ``"module:function"`` under ``complaintpanel.commands``.

    The command's own module contributes its top-level imports, the imports inside the
    function, and those of the module-level functions it calls (not the other commands
    defined beside it).
    """
    module_name, function = spec.split(":")
    module = f"{PACKAGE}.commands.{module_name}"
    path = module_file(module)
    if path is None:
        raise SystemExit(f"make_deps: no module {module}")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {node.name: node for node in tree.body
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    if function not in functions:
        raise SystemExit(f"make_deps: {module} has no function {function}")
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    used: list[ast.AST] = []
    todo = [function]
    while todo:
        name = todo.pop()
        node = functions[name]
        used.append(node)
        called = {inner.func.id for inner in _walk(node)
                  if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name)}
        todo.extend(other for other in called
                    if other in functions and functions[other] not in used and other not in todo)
    # The command's module itself counts as a file, not as a whole: its other commands'
    # imports do not make this command's outputs.
    return module_closure(_imported_modules(top + used) | (_with_parents(module) - {module})
                          | {f"{PACKAGE}.cli"}) | {module}


def dependency_lists() -> dict[str, list[str]]:
    """Source files (relative to the repository) behind each entry of :data:`COMMANDS`."""
    repo = SRC.parent
    lists = {}
    for variable, specs in COMMANDS.items():
        modules: set[str] = set()
        for spec in specs:
            modules |= command_modules(spec)
        files = {module_file(m) for m in modules} - {None}
        lists[variable] = sorted(str(f.relative_to(repo)) for f in files if f is not None)
    return lists


def main(out: str) -> None:
    """Write the dependency lists as a Make fragment to ``out`` (only when it changes)."""
    text = "# Generated by src/complaintpanel/runtime/make_deps.py from the imports; do not edit.\n"
    text += "".join(f"{variable} := {' '.join(files)}\n"
                    for variable, files in dependency_lists().items())
    target = Path(out)
    if not target.exists() or target.read_text() != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1])
