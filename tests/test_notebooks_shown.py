"""complaintpanel.report.notebook: tables shown with their numbers' places, and checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from complaintpanel.report.notebook import (
    ROW,
    SHOWN_MIMETYPE,
    ShownNumber,
    locate,
    mismatches,
    show_matrix,
    show_table,
    show_terms,
    show_values,
    shown_numbers,
)
from complaintpanel.results import EffectResults, read_results, write_results


@pytest.fixture(scope="module", autouse=True)
def shell() -> InteractiveShell:
    """An IPython shell, so that display() publishes rich outputs as in a kernel."""
    return InteractiveShell.instance()


def _design() -> EffectResults:
    names = ["complaints[t+0]", "complaints[t+1]", "compliments[t+0]"]
    terms = pd.DataFrame({"outcome": ["complaints", "complaints", "compliments"],
                          "lead": [0, 1, 0]}, index=names)
    se = pd.Series([0.02, 0.03, 0.01], index=names)
    return EffectResults(model="design", estimator="AIPW",
                         params=pd.Series([-0.081234, -0.0765, 0.0808], index=names), bse=se,
                         cov=pd.DataFrame(np.diag(se**2), index=names, columns=names),
                         nobs=500, terms=terms)


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    estimates = tmp_path / "estimates.json"
    write_results({"design": _design(), "descriptives": {"customers": 7, "reply_rate": 0.41237}},
                  estimates)
    report = tmp_path / "label_validity.json"
    report.write_text(json.dumps({"confusion": [[5, 1], [2, 9]],
                                  "per_class": {"complaint": {"f1": 0.8123, "support": 6},
                                                "other": {"f1": 0.7777, "support": 11}}}))
    return {"estimates": estimates, "report": report}


def _show_all(files: dict[str, Path]) -> tuple[dict[str, Any], list[Any]]:
    """Show one table of each kind; return the captured outputs as a notebook and the bundles."""
    estimates = read_results(files["estimates"])
    stored = json.loads(files["report"].read_text())
    with capture_output() as captured:
        show_terms(estimates["design"].select()[["outcome", "lead", "estimate", "ci_upper"]],
                   source=files["estimates"], path=["design"], by=["outcome", "lead"],
                   columns=["estimate", "ci_upper"])
        show_values(estimates["descriptives"], source=files["estimates"],
                    path=["descriptives"], digits=3)
        show_matrix(pd.DataFrame(stored["confusion"]), source=files["report"],
                    path=["confusion"])
        show_table(pd.DataFrame(stored["per_class"]).T, source=files["report"], digits=2,
                   paths={"f1": ["per_class", ROW, "f1"]})
    outputs = [{"output_type": "display_data", "data": o.data} for o in captured.outputs]
    return {"cells": [{"cell_type": "code", "outputs": outputs}]}, outputs


def test_every_shown_number_is_recorded_and_agrees_with_its_file(
        files: dict[str, Path]) -> None:
    notebook, outputs = _show_all(files)
    assert all(SHOWN_MIMETYPE in o["data"] and "text/html" in o["data"] for o in outputs)
    numbers = shown_numbers(notebook)
    # 3 terms × 2 columns, 2 descriptives, 2 × 2 matrix, 2 F1 scores
    assert len(numbers) == 6 + 2 + 4 + 2
    assert mismatches(numbers) == []
    first = numbers[0]
    assert (first.path, first.where, first.column, first.value) == (
        ("design",), {"outcome": "complaints", "lead": 0}, "estimate", -0.0812)
    customers = next(n for n in numbers if n.path == ("descriptives", "customers"))
    assert (customers.value, customers.digits) == (7.0, None)  # a count: compared exactly
    assert "7" in outputs[1]["data"]["text/plain"] and "7.0" not in outputs[1]["data"]["text/plain"]


@pytest.mark.parametrize("index", range(14))
def test_a_number_changed_in_its_file_is_reported(files: dict[str, Path], index: int) -> None:
    numbers = shown_numbers(_show_all(files)[0])
    number = numbers[index]
    tree = json.loads(Path(number.source).read_text())
    container, key = locate(number, tree)
    # one more than a displayed unit (a smaller change is not a different number shown)
    container[key] += 2 * 10.0 ** -(number.digits or 0) if isinstance(container[key], float) else 1
    Path(number.source).write_text(json.dumps(tree))
    problems = mismatches(numbers)
    assert len(problems) == 1 and problems[0].startswith(str(number)), problems


def test_rounding_is_the_only_tolerance(files: dict[str, Path]) -> None:
    shown = ShownNumber(str(files["estimates"]), ("descriptives", "reply_rate"), 0.412, 3)
    assert mismatches([shown]) == []  # 0.41237 shown with 3 decimals
    assert len(mismatches([ShownNumber(shown.source, shown.path, 0.413, 3)])) == 1
    assert len(mismatches([ShownNumber(shown.source, shown.path, 0.41237, None)])) == 0
    assert len(mismatches([ShownNumber(shown.source, shown.path, 0.4124, None)])) == 1


def test_a_place_that_is_missing_or_ambiguous_is_reported(files: dict[str, Path]) -> None:
    source = str(files["estimates"])
    missing = ShownNumber(source, ("descriptives", "brands"), 3.0)
    ambiguous = ShownNumber(source, ("design",), -0.0812, 4, {"outcome": "complaints"},
                            "estimate")
    problems = mismatches([missing, ambiguous])
    assert len(problems) == 2 and all("cannot be found" in p for p in problems)
    assert "2 terms match" in problems[1]
