"""The ``label`` stage (DESIGN.md §2.2): exchanges → voiced.

Pure functions: they take the exchanges table and a classifier (or the simulator's truth) and
return the voiced table — the exchanges without ``text``, plus ``voice``, ``sentiment``,
``classifier`` and ``classifier_version`` (docs/CONTRACTS.md). Reading and writing files is the
command layer's job (:mod:`complaintpanel.commands.label`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from complaintpanel.config import LabelConfig
from complaintpanel.label.base import VOICES, VoiceClassifier, check_prediction, get_classifier
from complaintpanel.label.truth import truth_labels

__all__ = [
    "VOICED_COLUMNS",
    "classifier_for",
    "label_exchanges",
    "label_exchanges_with_truth",
    "label_summary",
]

# Columns the stage adds to the exchanges (after removing ``text``).
VOICED_COLUMNS: tuple[str, ...] = ("voice", "sentiment", "classifier", "classifier_version")


def classifier_for(config: LabelConfig, **overrides: Any) -> VoiceClassifier:
    """Build the classifier a ``[label]`` config section names.

    Parameters
    ----------
    config : LabelConfig
    **overrides
        Replace ``classifier``, ``model_path`` or ``threshold`` (e.g. from the command line);
        ``None`` values are ignored.

    Returns
    -------
    VoiceClassifier
    """
    settings = {"classifier": config.classifier, "model_path": config.model_path,
                "threshold": config.threshold}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(settings) - {"classifier", "model_path", "threshold"})
    if unknown:
        raise TypeError(f"unknown label setting(s) {unknown}")
    name = str(settings["classifier"])
    # Each classifier gets only the settings that apply to it, so the config can hold a
    # threshold and a model path at once.
    if name == "rules":
        return get_classifier(name, threshold=settings["threshold"])
    if name == "trained":
        return get_classifier(name, model_path=settings["model_path"])
    return get_classifier(name)


def _voiced(exchanges: pd.DataFrame, voice: np.ndarray, sentiment: np.ndarray, name: str,
            version: str) -> pd.DataFrame:
    check_prediction(voice, sentiment, len(exchanges))
    voiced = exchanges.drop(columns=["text"], errors="ignore").reset_index(drop=True)
    voiced["voice"] = pd.array(np.asarray(voice, dtype=object), dtype="str")
    voiced["sentiment"] = np.asarray(sentiment, dtype=np.float64)
    voiced["classifier"] = pd.array([name] * len(voiced), dtype="str")
    voiced["classifier_version"] = pd.array([version] * len(voiced), dtype="str")
    return voiced


def label_exchanges(exchanges: pd.DataFrame, classifier: VoiceClassifier) -> pd.DataFrame:
    """Label every customer tweet with a classifier.

    Parameters
    ----------
    exchanges : DataFrame
        One row per customer tweet, with at least ``tweet_id`` and ``text``.
    classifier : VoiceClassifier

    Returns
    -------
    DataFrame
        ``exchanges`` in the same row order without ``text``, plus :data:`VOICED_COLUMNS`.
    """
    if "text" not in exchanges.columns:
        raise ValueError("exchanges have no 'text' column (labelling needs the interim table)")
    voice, sentiment = classifier.predict(exchanges["text"].to_numpy(dtype=object))
    return _voiced(exchanges, voice, sentiment, classifier.name, classifier.version)


def label_exchanges_with_truth(exchanges: pd.DataFrame, truth: pd.DataFrame,
                               version: str = "truth") -> pd.DataFrame:
    """Label every customer tweet with the simulator's true voice (classifier ``"truth"``).

    Parameters
    ----------
    exchanges : DataFrame
        One row per customer tweet, with at least ``tweet_id``.
    truth : DataFrame
        ``tweet_id``, ``voice`` (the simulator's ``truth/voice.parquet``).
    version : str
        Recorded as ``classifier_version`` (the command uses a hash of the truth file).

    Returns
    -------
    DataFrame
        As :func:`label_exchanges`. A tweet without truth is an error, never dropped.
    """
    voice, sentiment = truth_labels(exchanges["tweet_id"], truth)
    return _voiced(exchanges, voice, sentiment, "truth", version)


def label_summary(voiced: pd.DataFrame) -> dict[str, Any]:
    """Summarise counts and shares of each voice, mean sentiment and the classifier (JSON)."""
    n = len(voiced)
    counts = voiced["voice"].value_counts().reindex(list(VOICES), fill_value=0)
    return {
        "tweets": n,
        "voice_counts": {v: int(counts[v]) for v in VOICES},
        "voice_shares": {v: (float(counts[v]) / n if n else 0.0) for v in VOICES},
        "sentiment_mean": float(voiced["sentiment"].mean()) if n else None,
        "classifier": str(voiced["classifier"].iloc[0]) if n else None,
        "classifier_version": str(voiced["classifier_version"].iloc[0]) if n else None,
    }
