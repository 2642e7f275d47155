"""Validity of a voice classifier against human labels: metrics, confusion matrix, figure.

The classifier is a measurement instrument, so its error is reported with every result:
accuracy, per-class precision / recall / F1, macro-F1 over the three voices, the same for the
binary question the paper's counts rest on (*complaint vs not*), and the confusion matrix (rows
= human label, columns = classifier). All figures are computed from the confusion matrix, so they
can be checked by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from complaintpanel.label.base import VOICES

__all__ = [
    "LabelReport",
    "evaluate_labels",
    "parse_mapping",
    "read_labelled",
]


def _safe_ratio(num: float, den: float) -> float:
    # A class never predicted (or never present) has precision (recall) 0 by convention,
    # as in scikit-learn with zero_division=0.
    return float(num / den) if den else 0.0


def _prf(tp: float, fp: float, fn: float) -> dict[str, float]:
    precision = _safe_ratio(tp, tp + fp)
    recall = _safe_ratio(tp, tp + fn)
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}


@dataclass(frozen=True)
class LabelReport:
    """Agreement between human labels and a classifier.

    Attributes
    ----------
    labels : tuple of str
        Class order of the confusion matrix.
    confusion : ndarray of int64, shape (k, k)
        ``confusion[i, j]`` = texts whose human label is ``labels[i]`` and whose predicted
        label is ``labels[j]``.
    """

    labels: tuple[str, ...]
    confusion: np.ndarray

    @property
    def n(self) -> int:
        """Number of texts."""
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        """Share of texts on the diagonal."""
        return _safe_ratio(np.trace(self.confusion), self.n)

    @property
    def per_class(self) -> dict[str, dict[str, float]]:
        """Precision, recall, F1 and support (number of human labels) per class."""
        out = {}
        for i, label in enumerate(self.labels):
            tp = self.confusion[i, i]
            fp = self.confusion[:, i].sum() - tp
            fn = self.confusion[i, :].sum() - tp
            out[label] = {**_prf(tp, fp, fn), "support": int(self.confusion[i, :].sum())}
        return out

    @property
    def macro_f1(self) -> float:
        """Unweighted mean of the per-class F1."""
        return float(np.mean([m["f1"] for m in self.per_class.values()]))

    def binary(self, positive: str = "complaint") -> dict[str, float]:
        """Metrics for ``positive`` vs every other class pooled (e.g. complaint vs not).

        Returns precision, recall and F1 of the positive class, accuracy, and macro-F1 over the
        two classes.
        """
        i = self.labels.index(positive)
        tp = float(self.confusion[i, i])
        fp = float(self.confusion[:, i].sum() - tp)
        fn = float(self.confusion[i, :].sum() - tp)
        tn = float(self.n - tp - fp - fn)
        pos = _prf(tp, fp, fn)
        neg = _prf(tn, fn, fp)
        return {**pos, "accuracy": _safe_ratio(tp + tn, self.n),
                "macro_f1": (pos["f1"] + neg["f1"]) / 2, "support": int(tp + fn)}

    def confusion_frame(self) -> pd.DataFrame:
        """Confusion matrix with labelled rows (human) and columns (predicted)."""
        return pd.DataFrame(self.confusion, index=pd.Index(self.labels, name="human"),
                            columns=pd.Index(self.labels, name="predicted"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (used by ``evaluate-labels`` and the benchmark)."""
        out: dict[str, Any] = {
            "n": self.n,
            "labels": list(self.labels),
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": self.per_class,
            "confusion": self.confusion.astype(int).tolist(),
        }
        if "complaint" in self.labels:
            out["complaint_vs_not"] = self.binary("complaint")
        return out


def evaluate_labels(human: Sequence[str] | np.ndarray | pd.Series,
                    predicted: Sequence[str] | np.ndarray | pd.Series,
                    labels: Sequence[str] = VOICES) -> LabelReport:
    """Compare predicted voices with human labels.

    Parameters
    ----------
    human, predicted : sequence of str
        Same length; every entry must be one of ``labels``.
    labels : sequence of str, default :data:`VOICES`
        Class order.

    Returns
    -------
    LabelReport
    """
    reference = np.asarray(human, dtype=object)
    guessed = np.asarray(predicted, dtype=object)
    if reference.shape != guessed.shape:
        raise ValueError(f"{reference.size} human labels but {guessed.size} predictions")
    index = {label: k for k, label in enumerate(labels)}
    for name, values in (("human", reference), ("predicted", guessed)):
        unknown = sorted(set(values.tolist()) - set(index))
        if unknown:
            raise ValueError(f"{name} labels {unknown} are not among {list(labels)}")
    k = len(labels)
    rows = np.fromiter((index[v] for v in reference), dtype=np.int64, count=reference.size)
    cols = np.fromiter((index[v] for v in guessed), dtype=np.int64, count=guessed.size)
    confusion = np.bincount(rows * k + cols, minlength=k * k).reshape(k, k)
    return LabelReport(labels=tuple(labels), confusion=confusion)


def parse_mapping(text: str | None) -> dict[str, str] | None:
    """Parse ``"negative=complaint,positive=compliment"`` into a dict (``None`` stays ``None``)."""
    if text is None or not text.strip():
        return None
    mapping = {}
    for item in text.split(","):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"mapping item {item!r} is not of the form label=voice")
        mapping[source.strip()] = target.strip()
    bad = sorted(set(mapping.values()) - set(VOICES))
    if bad:
        raise ValueError(f"mapping targets {bad} are not voices {list(VOICES)}")
    return mapping


def read_labelled(path: str | Path, text_col: str, label_col: str,
                  mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a file of human-labelled texts and map its labels to voices.

    Parameters
    ----------
    path : str or Path
        CSV or Parquet file.
    text_col, label_col : str
        Columns holding the text and the human label.
    mapping : mapping, optional
        Human label → voice. Without it the labels must already be voices. A label that is
        neither mapped nor a voice is an error that names it (no row is dropped silently).

    Returns
    -------
    DataFrame
        Columns ``text`` and ``voice`` (plus every other column of the file, unchanged).
    """
    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [c for c in (text_col, label_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column(s) {missing}; columns are {list(frame.columns)}")
    labels = frame[label_col].astype(str)
    voice = labels.map(dict(mapping)) if mapping else labels.where(labels.isin(VOICES))
    unmapped = sorted(labels[voice.isna()].unique())
    if unmapped:
        raise ValueError(f"{path}: label(s) {unmapped} in {label_col!r} have no voice; "
                         "give a --mapping such as negative=complaint,positive=compliment")
    texts = frame[text_col].fillna("").astype(str).to_numpy()
    out = frame.drop(columns=[c for c in ("text", "voice") if c in frame.columns])
    out.insert(0, "text", texts)
    out["voice"] = voice.to_numpy()
    return out
