"""Figures draw the simulated truth where it exists, and their text is legible at print size."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from complaintpanel.report import figures
from complaintpanel.report.figure_sizes import figure_placements


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, plt.Figure]:
    """Keep each figure instead of saving it (no files, no rendering)."""
    kept: dict[str, plt.Figure] = {}

    def keep(fig: plt.Figure, stem: str | Path) -> list[Path]:
        kept[Path(stem).name] = fig
        return []

    monkeypatch.setattr(figures, "save_figure", keep)
    yield kept
    plt.close("all")


def _truth_lines(fig: plt.Figure) -> list:
    return [line for ax in fig.axes for line in ax.get_lines()
            if line.get_label() == figures.TRUTH_LABEL]


def test_answer_effects_truth_known_answer() -> None:
    effects = {"effects": [{"lead": 0, "effect_complaints": -0.13, "effect_compliments": 0.06},
                           {"lead": 1, "effect_complaints": -0.09, "effect_compliments": 0.05}]}
    frame = figures.answer_effects_truth(effects)
    assert frame.to_dict("records") == [
        {"outcome": "complaints", "lead": 0, "truth": -0.13},
        {"outcome": "compliments", "lead": 0, "truth": 0.06},
        {"outcome": "complaints", "lead": 1, "truth": -0.09},
        {"outcome": "compliments", "lead": 1, "truth": 0.05}]


class _Design:
    """The term table of a design-based estimate (two outcomes, two leads)."""

    def term_estimates(self) -> pd.DataFrame:
        return pd.DataFrame({
            "outcome": ["complaints", "complaints", "compliments", "compliments"],
            "lead": [0, 1, 0, 1], "estimate": [-0.1, -0.05, 0.04, 0.03],
            "ci_lower": [-0.15, -0.1, 0.01, 0.0], "ci_upper": [-0.05, 0.0, 0.07, 0.06],
            "fixed": [False] * 4})


def test_design_effects_draw_the_truth_dashed(drawn: dict[str, plt.Figure]) -> None:
    truth = pd.DataFrame({"outcome": ["complaints", "complaints", "compliments", "compliments"],
                          "lead": [0, 1, 0, 1], "truth": [-0.13, -0.09, 0.06, 0.05]})
    figures.fig_design_effects(_Design(), "design_effects", "week", truth)
    lines = _truth_lines(drawn["design_effects"])
    assert len(lines) == 2  # one per outcome panel
    assert [list(line.get_ydata()) for line in lines] == [[-0.13, -0.09], [0.06, 0.05]]
    assert all(line.get_linestyle() == "--" for line in lines)
    figures.fig_design_effects(_Design(), "no_truth", "week")
    assert _truth_lines(drawn["no_truth"]) == []


def test_state_rates_draw_the_true_rates(drawn: dict[str, plt.Figure]) -> None:
    from conftest import hmm_results_at

    hmm = hmm_results_at()
    states = list(dict.fromkeys(hmm.select(block="a")["state"]))
    truth = pd.DataFrame({"block": ["a"] * len(states) + ["c"] * len(states),
                          "state": states * 2,
                          "value": np.linspace(-2.0, 0.0, 2 * len(states))})
    figures.fig_hmm_states(hmm, "states", "week", truth)
    ax = drawn["states"].axes[0]
    marks = [c for c in ax.collections if c.get_label() == figures.TRUTH_LABEL]
    assert len(marks) == 1  # the first mark carries the legend entry
    heights = sorted(float(seg[0][1]) for c in ax.collections
                     if c.get_linestyle() and c.get_linestyle()[0][1] is not None
                     for seg in c.get_segments())
    assert np.allclose(heights, sorted(np.exp(truth["value"])))


def _policy(truth: bool) -> dict:
    periods = [{"population": pop, "arm": arm, "metric": metric, "learning": "on",
                "period": t, "estimate": 0.5, "lower": 0.4, "upper": 0.6}
               for pop in ("observed", "cohort") for arm in ("none", "all")
               for metric in ("complaints", "share_best") for t in (1, 2, 3)]
    contrasts = [{"population": pop, "contrast": "all_minus_none", "metric": "complaints",
                  "estimate": -1.0, "lower": -1.5, "upper": -0.5}
                 for pop in ("observed", "cohort")]
    policy = {"periods": periods, "contrasts": contrasts}
    if truth:
        policy["truth"] = {"periods": [dict(p, estimate=0.45) for p in periods],
                           "contrasts": [dict(c, estimate=-1.2) for c in contrasts]}
    return policy


def test_policies_overlay_the_truth_only_when_given(drawn: dict[str, plt.Figure]) -> None:
    figures.fig_policies(_policy(truth=False), "without")
    assert _truth_lines(drawn["without"]) == []
    figures.fig_policies(_policy(truth=True), "with")
    lines = _truth_lines(drawn["with"])
    assert lines and all(np.allclose(line.get_ydata(), 0.45) for line in lines)
    crosses = [c for ax in drawn["with"].axes for c in ax.collections
               if c.get_label() == figures.TRUTH_LABEL]
    assert len(crosses) == 1 and np.allclose(crosses[0].get_offsets()[:, 0], -1.2)
    # policy_truth.json given on its own (as `figures` passes it); one not computed draws none
    true_policy = {"status": "computed", **_policy(truth=True)["truth"]}
    figures.fig_policies(_policy(truth=False), "file", truth=true_policy)
    lines = _truth_lines(drawn["file"])
    assert lines and all(np.allclose(line.get_ydata(), 0.45) for line in lines)
    figures.fig_policies(_policy(truth=False), "not_computed",
                         truth={"status": "not computed", "reason": "outside the model"})
    assert _truth_lines(drawn["not_computed"]) == []


def test_figure_placements_known_answer(tmp_path: Path) -> None:
    paper = tmp_path / "paper.typ"
    paper.write_text(
        '#set page(paper: "us-letter", margin: (x: 1in, y: 1in))\n'
        '#figure(image("/paper/figures/a.pdf", width: 50%), caption: [A.])\n'
        '#figure(grid(columns: 2, gutter: 6pt,\n'
        '  image("/paper/figures/b.pdf"),\n  image("/paper/figures/c.pdf")), caption: [B.])\n'
        '#figure(image("/paper/figures/d.pdf"), caption: [D.])\n')
    assert figure_placements(paper) == {"a.pdf": 234.0, "b.pdf": 231.0, "c.pdf": 231.0,
                                        "d.pdf": 468.0}
