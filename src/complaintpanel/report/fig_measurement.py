"""Figure of the estimated misclassification matrix (``label_validity.json``, DESIGN.md §4.1).

Aggregates only: the entries of M with their 95% intervals, and the truth's M on a simulated
world; no tweet or customer appears.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from complaintpanel.report.figures import TRUTH_LABEL, _theme, save_figure

__all__ = ["fig_misclassification"]


def fig_misclassification(label_validity_json: Path | Mapping[str, Any], out_dir: Path,
                          stem: str = "misclassification") -> list[Path]:
    """Estimated ``M[v, ℓ] = P(label ℓ | true v)`` with 95% intervals, the truth beside it.

    Parameters
    ----------
    label_validity_json : Path or mapping
        ``label_validity.json`` (or its content) with a ``validation`` entry
        (``label-validity --validation``); a ``true_misclassification`` entry, when there,
        is drawn as crosses.
    out_dir : Path
        Folder for ``STEM.pdf`` and ``STEM.png``.
    stem : str

    Returns
    -------
    list of Path
        The files written (none when the report has no validation sample).
    """
    report = (json.loads(Path(label_validity_json).read_text()) if isinstance(
        label_validity_json, str | Path) else dict(label_validity_json))
    validation = report.get("validation")
    if not validation:
        return []
    voices = list(validation["voices"])
    m = np.asarray(validation["misclassification"])
    lower = np.asarray(validation["misclassification_ci_lower"])
    upper = np.asarray(validation["misclassification_ci_upper"])
    truth = report.get("true_misclassification")
    true_m = np.asarray(truth["misclassification"]) if truth else None
    _theme()
    fig, axes = plt.subplots(1, len(voices), figsize=(2.15 * len(voices), 2.7), sharey=True)
    x = np.arange(len(voices))
    for v, ax in enumerate(np.atleast_1d(axes)):
        ax.errorbar(x, m[v], yerr=[m[v] - lower[v], upper[v] - m[v]], fmt="o", capsize=4,
                    color="C0", label="estimated (95% CI)")
        if true_m is not None:
            ax.scatter(x, true_m[v], marker="x", s=60, color="black", zorder=3,
                       label=TRUTH_LABEL)
        ax.set_xticks(x, voices, rotation=20)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"true voice: {voices[v]}")
        ax.set_xlabel("classifier label")
        ax.grid(axis="y", alpha=0.3)
    first = np.atleast_1d(axes)[0]
    first.set_ylabel("P(label | true voice)")
    first.legend(loc="center left")
    fig.suptitle(f"Misclassification matrix from {validation['n_coded']:,} coded tweets")
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, out_dir / stem)
