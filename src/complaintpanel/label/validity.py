"""Validity of voice classifiers across domains: leave one labelled set out.

:func:`leave_one_dataset_out` trains the head (:class:`~complaintpanel.label.head.VoiceHead`) on
all labelled sets but one and scores it, beside the rules classifier, on the held-out one: the
question a user of a new industry asks ("how good is it on tweets unlike its training data?").
Scores come with percentile-bootstrap 95% intervals (tweets resampled with replacement, the
same draws for both classifiers, so the paired difference has an interval too), and the
probabilities with a Brier score and reliability-diagram data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from complaintpanel.label.base import VOICES

__all__ = [
    "bootstrap_scores",
    "brier_score",
    "f1_scores",
    "leave_one_dataset_out",
    "reliability",
]


def _codes(voices: Sequence[str] | np.ndarray) -> np.ndarray:
    lookup = {v: k for k, v in enumerate(VOICES)}
    return np.array([lookup[str(v)] for v in voices], dtype=np.int64)


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp, dtype=np.float64),
                     where=denominator > 0)


def f1_scores(true: np.ndarray, predicted: np.ndarray,
              weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """3-class macro-F1 and complaint-vs-not F1 for each column of ``weights``.

    Parameters
    ----------
    true, predicted : ndarray of int, shape (n,)
        Voice codes (index into :data:`VOICES`).
    weights : ndarray, shape (n, b), optional
        Count of each tweet in each of ``b`` resamples (default: one column of ones).

    Returns
    -------
    macro_f1, complaint_f1 : ndarray, shape (b,)
    """
    if weights is None:
        weights = np.ones((len(true), 1))
    per_class = []
    for k in range(len(VOICES)):
        is_true, is_pred = true == k, predicted == k
        tp = weights[is_true & is_pred].sum(axis=0)
        fp = weights[~is_true & is_pred].sum(axis=0)
        fn = weights[is_true & ~is_pred].sum(axis=0)
        per_class.append(_f1_from_counts(tp, fp, fn))
    # Complaint vs not is the complaint class's own F1 (the binary task's positive class).
    return np.mean(per_class, axis=0), per_class[VOICES.index("complaint")]


def bootstrap_scores(true: Sequence[str], predicted: dict[str, Sequence[str]],
                     draws: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Point estimates and percentile-bootstrap 95% intervals, paired across classifiers.

    Parameters
    ----------
    true : sequence of str
        Human voices.
    predicted : dict
        Classifier name → predicted voices (same order as ``true``).
    draws : int
        Bootstrap resamples of the tweets.
    seed : int

    Returns
    -------
    dict
        For each classifier ``{"macro_f1": {"value", "ci95"}, "complaint_f1": {...}}``, and for
        each pair after the first ``"<name> - <first>"`` the paired differences.
    """
    truth = _codes(true)
    rng = np.random.default_rng(seed)
    # Multinomial counts = resampling n tweets with replacement.
    weights = rng.multinomial(len(truth), np.full(len(truth), 1 / len(truth)),
                              size=draws).T.astype(np.float64)
    out: dict[str, Any] = {}
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, voices in predicted.items():
        codes = _codes(voices)
        macro, complaint = f1_scores(truth, codes)
        samples[name] = f1_scores(truth, codes, weights)
        out[name] = {
            "macro_f1": {"value": float(macro[0]),
                         "ci95": np.percentile(samples[name][0], [2.5, 97.5]).tolist()},
            "complaint_f1": {"value": float(complaint[0]),
                             "ci95": np.percentile(samples[name][1], [2.5, 97.5]).tolist()},
        }
    names = list(predicted)
    for name in names[1:]:
        key = f"{name} - {names[0]}"
        out[key] = {}
        for i, metric in enumerate(("macro_f1", "complaint_f1")):
            difference = samples[name][i] - samples[names[0]][i]
            out[key][metric] = {
                "value": out[name][metric]["value"] - out[names[0]][metric]["value"],
                "ci95": np.percentile(difference, [2.5, 97.5]).tolist()}
    return out


def brier_score(true: Sequence[str], proba: np.ndarray) -> float:
    """Multiclass Brier score: mean of ``sum_k (p_k - 1[voice = k])²`` (0 best, 2 worst)."""
    one_hot = np.eye(len(VOICES))[_codes(true)]
    return float(np.mean(np.sum((np.asarray(proba) - one_hot) ** 2, axis=1)))


def reliability(true: Sequence[str], proba: np.ndarray, voice: str = "complaint",
                bins: int = 10) -> dict[str, Any]:
    """Reliability-diagram data for one voice: equal-width bins of its predicted probability.

    Returns
    -------
    dict
        ``bin_edges``, and per non-empty bin ``mean_predicted``, ``observed`` (share whose human
        voice is ``voice``) and ``count``; ``ece`` (expected calibration error, the
        count-weighted mean of ``|observed - mean_predicted|``) and the binary Brier score.
    """
    p = np.asarray(proba)[:, VOICES.index(voice)]
    hit = (_codes(true) == VOICES.index(voice)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            rows.append({"bin": b, "mean_predicted": float(p[mask].mean()),
                         "observed": float(hit[mask].mean()), "count": int(mask.sum())})
    ece = sum(r["count"] * abs(r["observed"] - r["mean_predicted"]) for r in rows) / len(p)
    return {"voice": voice, "bin_edges": edges.tolist(), "bins": rows, "ece": float(ece),
            "brier_binary": float(np.mean((p - hit) ** 2))}


def leave_one_dataset_out(pooled: pd.DataFrame, rules_voice: np.ndarray, C: float = 1.0,
                          draws: int = 1000, seed: int = 0,
                          calibration_folds: int = 5, n_features: int = 2**18) -> dict[str, Any]:
    """Train the head on all sets but one, score it and the rules on the held-out set.

    Parameters
    ----------
    pooled : DataFrame
        ``text``, ``voice``, ``set`` (:func:`~complaintpanel.label.corpora.read_labelled_sets`).
    rules_voice : ndarray of str
        The rules classifier's voice for each row of ``pooled``.
    C, calibration_folds, n_features : see :class:`~complaintpanel.label.head.VoiceHead`.
    draws, seed : see :func:`bootstrap_scores`.

    Returns
    -------
    dict
        Per held-out set: sizes, the bootstrap scores of ``head`` and ``rules`` and their paired
        difference, Brier score, reliability data and the fitted temperature.
    """
    from complaintpanel.label.head import VoiceHead

    out: dict[str, Any] = {}
    sets = pooled["set"].to_numpy()
    for held in pd.unique(sets):
        test = sets == held
        train = pooled[~test]
        head = VoiceHead(C=C, seed=seed, calibration_folds=calibration_folds,
                         n_features=n_features).fit(
            train["text"].tolist(), train["voice"].tolist())
        texts = pooled.loc[test, "text"].tolist()
        truth = pooled.loc[test, "voice"].tolist()
        proba = head.predict_proba(texts)
        predicted = np.asarray(VOICES, dtype=object)[proba.argmax(axis=1)]
        counts = pd.Series(truth).value_counts()
        out[str(held)] = {
            "trained_on": sorted(str(s) for s in pd.unique(train["set"])),
            "n_train": len(train), "n_test": len(texts),
            "class_counts": {v: int(counts.get(v, 0)) for v in VOICES},
            "temperature": head.temperature_,
            "scores": bootstrap_scores(truth, {"rules": rules_voice[test], "head": predicted},
                                       draws=draws, seed=seed),
            "brier": brier_score(truth, proba),
            "brier_uniform_baseline": brier_score(truth, np.full_like(proba, 1 / len(VOICES))),
            "reliability_complaint": reliability(truth, proba, "complaint"),
            "predicted_shares": {v: float(np.mean(predicted == v)) for v in VOICES},
            "rules_predicted_shares": {v: float(np.mean(rules_voice[test] == v))
                                       for v in VOICES},
        }
    return out
