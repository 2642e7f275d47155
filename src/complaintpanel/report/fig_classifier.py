"""Figure of the voice classifiers' cross-domain validity, drawn from ``labels.json``.

:func:`fig_classifier_validity` reads the ``head`` section that ``benchmarks/bench_labels.py``
writes (leave-one-dataset-out scores with bootstrap intervals, and the head's reliability data)
and draws two panels: complaint-vs-not F1 and 3-class macro-F1 of the rules classifier and the
head on each held-out set, with 95% intervals; and the head's reliability diagram for
``p_complaint``. No tweet text or identifier is involved: the JSON holds aggregates only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from complaintpanel.report.figures import _theme, plt, save_figure

__all__ = ["fig_classifier_validity"]

_CLASSIFIERS = (("rules", "rules (lexicon + cues)", "#7f7f7f"),
                ("head", "head (rules + n-grams, calibrated)", "#1f77b4"))
_METRICS = (("complaint_f1", "complaint-vs-not F1"), ("macro_f1", "3-class macro-F1"))


def fig_classifier_validity(labels_json: Path, out_dir: Path) -> list[Path]:
    """Draw the cross-domain validity of the rules classifier and the head.

    Parameters
    ----------
    labels_json : Path
        ``benchmarks/results/labels.json`` with a ``head`` section.
    out_dir : Path
        Folder for ``classifier_validity.pdf`` and ``.png``.

    Returns
    -------
    list of Path
        The PDF and the PNG.
    """
    result: dict[str, Any] = json.loads(Path(labels_json).read_text())
    if "head" not in result:
        raise ValueError(f"{labels_json} has no 'head' section; run "
                         "`benchmarks/bench_labels.py --only head`")
    lodo = result["head"]["validity_leave_one_dataset_out"]
    held_out = list(lodo)
    _theme()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8),
                             gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
    width = 0.38
    for ax, (metric, title) in zip(axes[:2], _METRICS, strict=True):
        for j, (key, label, colour) in enumerate(_CLASSIFIERS):
            values = [lodo[h]["scores"][key][metric]["value"] for h in held_out]
            lows = [lodo[h]["scores"][key][metric]["ci95"][0] for h in held_out]
            highs = [lodo[h]["scores"][key][metric]["ci95"][1] for h in held_out]
            xs = [i + (j - 0.5) * width for i in range(len(held_out))]
            errors = [[v - lo for v, lo in zip(values, lows, strict=True)],
                      [hi - v for v, hi in zip(values, highs, strict=True)]]
            ax.bar(xs, values, width=width, color=colour, label=label, yerr=errors, capsize=3)
            for x, v in zip(xs, values, strict=True):
                ax.text(x, 0.02, f"{v:.2f}", ha="center", va="bottom", fontsize=8, color="white")
        ax.set_xticks(range(len(held_out)), [f"{h}\n(n={lodo[h]['n_test']:,})" for h in held_out])
        ax.set_ylim(0, 1)
        ax.set_title(f"{title}, held-out set")
        ax.set_xlabel("held-out set (trained on the others)")
    axes[0].legend(loc="upper right", fontsize=8)
    ax = axes[2]
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", label="perfect calibration")
    for h in held_out:
        bins = lodo[h]["reliability_complaint"]["bins"]
        ax.plot([b["mean_predicted"] for b in bins], [b["observed"] for b in bins], marker="o",
                ms=3, label=f"{h} (Brier {lodo[h]['brier']:.2f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("head's p_complaint (bin mean)")
    ax.set_ylabel("share human-labelled complaint")
    ax.set_title("reliability, held-out sets")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return save_figure(fig, Path(out_dir) / "classifier_validity")
