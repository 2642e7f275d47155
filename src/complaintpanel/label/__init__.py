"""Voice labelling (DESIGN.md §2.2): complaint / compliment / neutral and sentiment per tweet.

* :mod:`~complaintpanel.label.base` — the :class:`VoiceClassifier` interface and the registry
  (:func:`get_classifier`);
* :mod:`~complaintpanel.label.rules` — the default: VADER's lexicon plus customer-care cues;
* :mod:`~complaintpanel.label.head` — the voice head (``make head``): a calibrated linear
  model over rule scores and hashed n-grams, trained on public human-labelled tweets
  (:mod:`~complaintpanel.label.corpora`);
* :mod:`~complaintpanel.label.trained` — a scikit-learn model fitted on the user's own labels;
* :mod:`~complaintpanel.label.truth` — the simulator's true voice, for validation;
* :mod:`~complaintpanel.label.evaluate` — validity against human labels;
* :mod:`~complaintpanel.label.stage` — the pure ``label`` stage: exchanges → voiced.
"""

from __future__ import annotations

from pathlib import Path

from complaintpanel.label.base import (
    DEFAULT_MODEL_PATH,
    VOICES,
    VoiceClassifier,
    available_classifiers,
    get_classifier,
    register_classifier,
)
from complaintpanel.label.evaluate import LabelReport, evaluate_labels
from complaintpanel.label.rules import RulesClassifier, score_texts
from complaintpanel.label.stage import (
    classifier_for,
    label_exchanges,
    label_exchanges_with_truth,
    label_summary,
)

__all__ = [
    "DEFAULT_MODEL_PATH",
    "VOICES",
    "LabelReport",
    "RulesClassifier",
    "VoiceClassifier",
    "available_classifiers",
    "classifier_for",
    "evaluate_labels",
    "get_classifier",
    "label_exchanges",
    "label_exchanges_with_truth",
    "label_summary",
    "register_classifier",
    "score_texts",
]


@register_classifier("trained")
def _make_trained(model_path: str | Path | None = None) -> VoiceClassifier:
    # Imported on use: scikit-learn is not needed to label with the rules.
    from complaintpanel.label.trained import TrainedClassifier

    return TrainedClassifier(model_path if model_path is not None else DEFAULT_MODEL_PATH)


@register_classifier("head")
def _make_head(model_path: str | Path | None = None) -> VoiceClassifier:
    # Imported on use, like "trained".
    from complaintpanel.label.head import HeadClassifier

    return HeadClassifier(model_path)
