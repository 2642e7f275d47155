"""Figure of the voice classifiers' validity against human labels, drawn from ``labels.json``.

:func:`fig_classifier_validity` reads what ``benchmarks/bench_labels.py`` writes and draws four
panels, all against HUMAN labels (crowd-coded public tweets, never the simulated truth): the
default rules classifier's confusion matrix on the human-labelled airline tweets (``airline.
rules``); complaint-vs-not F1 and 3-class macro-F1 of the rules classifier and the trained head
on each labelled set held out of the head's training (``head``, leave one dataset out, 95%
bootstrap intervals); and the head's reliability diagram for ``p_complaint``. No tweet text or
identifier is involved: the JSON holds aggregates only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from complaintpanel.report.figures import _theme, plt, save_figure, sns

__all__ = ["fig_classifier_validity"]

_CLASSIFIERS = (("rules", "rules (lexicon + cues)", "#7f7f7f"),
                ("head", "head (rules + n-grams, calibrated)", "#1f77b4"))
_METRICS = (("complaint_f1", "Complaint-vs-not F1"), ("macro_f1", "3-class macro-F1"))


def fig_classifier_validity(labels_json: Path, out_dir: Path) -> list[Path]:
    """Draw the validity of the rules classifier and the head against human labels.

    Parameters
    ----------
    labels_json : Path
        ``benchmarks/results/labels.json`` with a ``head`` section (and an ``airline``
        section with the rules classifier's confusion matrix on the human labels).
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
    fig, axes = plt.subplots(2, 2, figsize=(6.5, 6.0))
    human = (result.get("airline") or {}).get("rules")
    ax = axes[0, 0]
    if human and "confusion" in human:
        counts = np.asarray(human["confusion"], dtype=float)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        labels = list(human["labels"])
        annotations = np.array([[f"{shares[i, j]:.0%}\n({int(counts[i, j]):,})"
                                 for j in range(len(labels))] for i in range(len(labels))])
        sns.heatmap(shares, annot=annotations, fmt="", cmap="Blues", vmin=0, vmax=1,
                    cbar=False, xticklabels=labels, yticklabels=labels, ax=ax)
        ax.tick_params(axis="y", rotation=0)
        ax.tick_params(axis="x", rotation=20)
        ax.set(xlabel="Rules classifier label", ylabel="Human label (crowd-coded)",
               title=f"Airline tweets, n = {int(human['n']):,}: macro-F1 "
                     f"{human['macro_f1']:.2f}")
    else:
        ax.set_axis_off()
    width = 0.38
    for ax, (metric, title) in zip((axes[0, 1], axes[1, 0]), _METRICS, strict=True):
        for j, (key, label, colour) in enumerate(_CLASSIFIERS):
            values = [lodo[h]["scores"][key][metric]["value"] for h in held_out]
            lows = [lodo[h]["scores"][key][metric]["ci95"][0] for h in held_out]
            highs = [lodo[h]["scores"][key][metric]["ci95"][1] for h in held_out]
            xs = [i + (j - 0.5) * width for i in range(len(held_out))]
            errors = [[v - lo for v, lo in zip(values, lows, strict=True)],
                      [hi - v for v, hi in zip(values, highs, strict=True)]]
            ax.bar(xs, values, width=width, color=colour, label=label, yerr=errors, capsize=3)
            for x, v in zip(xs, values, strict=True):
                ax.text(x, 0.03, f"{v:.2f}", ha="center", va="bottom", fontsize=8.5,
                        color="white", rotation=90)
        ax.set_xticks(range(len(held_out)),
                      [f"{h}\n{lodo[h]['n_test']:,}" for h in held_out])
        ax.set_ylim(0, 1)
        ax.set(title=f"{title} vs human labels", xlabel="Held-out labelled set (tweets)")
    axes[1, 0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), frameon=False)
    ax = axes[1, 1]
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", label="perfect calibration")
    for h in held_out:
        bins = lodo[h]["reliability_complaint"]["bins"]
        ax.plot([b["mean_predicted"] for b in bins], [b["observed"] for b in bins], marker="o",
                ms=3, label=f"{h} (Brier {lodo[h]['brier']:.2f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set(xlabel="Head's p(complaint), bin mean", ylabel="Share human-labelled complaint",
           title="Reliability of the head, held-out sets")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False, ncol=2)
    fig.tight_layout()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return save_figure(fig, Path(out_dir) / "classifier_validity")
