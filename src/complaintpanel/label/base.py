"""The voice-classifier interface and the registry that picks one by name.

A voice classifier is any object with a ``name``, a ``version`` and a method
``predict(texts) -> (voice, sentiment)``. The stage (:mod:`complaintpanel.label.stage`) only
relies on that interface, so a user can plug in another model by registering a factory::

    from complaintpanel.label import register_classifier

    @register_classifier("mine")
    def _make(**opts):
        return MyClassifier(**opts)

and setting ``[label] classifier = "mine"`` in the config.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from complaintpanel.config import DEFAULT_MODEL_PATH

__all__ = [
    "DEFAULT_MODEL_PATH",
    "VOICES",
    "VoiceClassifier",
    "available_classifiers",
    "check_prediction",
    "get_classifier",
    "register_classifier",
]

# Order used everywhere (confusion matrices, reports): the two voices the paper counts, then
# the rest.
VOICES: tuple[str, ...] = ("complaint", "compliment", "neutral")



@runtime_checkable
class VoiceClassifier(Protocol):
    """What the ``label`` stage needs from a classifier.

    Attributes
    ----------
    name : str
        Short registry name (``"rules"``, ``"trained"``, ...), recorded in ``voiced.parquet``.
    version : str
        Changes whenever the classifier's behaviour can change (rules, lexicon, model file), so
        that a result can always be traced to the instrument that measured it.
    """

    name: str
    version: str

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Label texts.

        Parameters
        ----------
        texts : sequence of str
            Tweet bodies, in any order; missing values are treated as empty text.

        Returns
        -------
        voice : ndarray of str, shape (n,)
            Each entry one of :data:`VOICES`.
        sentiment : ndarray of float64, shape (n,)
            Each entry in [-1, 1].
        """
        ...


_REGISTRY: dict[str, Callable[..., VoiceClassifier]] = {}


def register_classifier(
    name: str,
) -> Callable[[Callable[..., VoiceClassifier]], Callable[..., VoiceClassifier]]:
    """Register a factory ``factory(**opts) -> VoiceClassifier`` under ``name`` (decorator)."""

    def decorate(factory: Callable[..., VoiceClassifier]) -> Callable[..., VoiceClassifier]:
        _REGISTRY[name] = factory
        return factory

    return decorate


def available_classifiers() -> list[str]:
    """Names accepted by :func:`get_classifier`, sorted."""
    return sorted(_REGISTRY)


def get_classifier(name: str, **opts: Any) -> VoiceClassifier:
    """Build the classifier registered under ``name``.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"rules"`` (default, no downloads) or ``"trained"``.
    **opts
        Passed to the factory (e.g. ``threshold`` for rules, ``model_path`` for trained).
        Options a factory does not take are an error, never silently ignored.

    Returns
    -------
    VoiceClassifier
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown classifier {name!r}; available: {available_classifiers()}")
    return _REGISTRY[name](**opts)


def check_prediction(voice: np.ndarray, sentiment: np.ndarray, n: int) -> None:
    """Raise ``ValueError`` unless ``(voice, sentiment)`` honours the interface for ``n`` texts."""
    voice = np.asarray(voice)
    sentiment = np.asarray(sentiment)
    if voice.shape != (n,) or sentiment.shape != (n,):
        raise ValueError(
            f"classifier returned shapes {voice.shape}, {sentiment.shape}; want ({n},)")
    unknown = set(pd.unique(pd.Series(voice, dtype=object)).tolist()) - set(VOICES)
    if unknown:
        raise ValueError(
            f"classifier returned unknown voice(s) {sorted(map(repr, unknown))}; allowed {VOICES}")
    if n and not (np.all(np.isfinite(sentiment)) and np.abs(sentiment).max() <= 1.0):
        raise ValueError("classifier returned sentiment outside [-1, 1] or not finite")
