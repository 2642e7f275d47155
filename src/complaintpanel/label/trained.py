"""A trainable voice classifier for users who have labelled tweets of their own.

``complaintpanel label-train LABELS.csv`` fits :func:`build_model` — word 1–2-gram and
character 2–5-gram TF-IDF plus the rules classifier's scores (:func:`~complaintpanel.label.
rules.score_texts`) as extra features, with a class-balanced linear support-vector machine —
reports its stratified k-fold cross-validated validity, and saves it with a JSON card beside it.
``label`` then uses it with ``[label] classifier = "trained"``.

Cross-validation keeps identical texts (after normalisation) in the same fold, so retweets and
copied texts cannot leak from training into test folds.

The model file is a joblib pickle: load only files you made yourself (pickles can run code).
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Sequence
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from complaintpanel.label.base import DEFAULT_MODEL_PATH, VOICES
from complaintpanel.label.evaluate import LabelReport, evaluate_labels
from complaintpanel.label.rules import RulesClassifier, score_texts
from complaintpanel.runtime.io import atomic_path, read_json, sha256_file, write_json

__all__ = [
    "DEFAULT_MODEL_PATH",
    "RuleFeatures",
    "TrainedClassifier",
    "build_model",
    "cross_validate_model",
    "normalise_text",
    "save_model",
    "train_voice_model",
]

_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_HANDLE_RE = re.compile(r"@\w+")


def normalise_text(text: str) -> str:
    """Lower-case, unescape HTML entities, and replace links and @handles by placeholders.

    Handles are replaced so that the model learns how customers write, not which brand (or
    pseudonymised customer) they address — it must transfer to other brands.
    """
    text = html.unescape(text)
    text = _URL_RE.sub(" http ", text)
    text = _HANDLE_RE.sub(" @user ", text)
    return text.lower()


class RuleFeatures(TransformerMixin, BaseEstimator):
    """Scores of the rules classifier (:data:`~complaintpanel.label.rules.SCORE_COLUMNS`)."""

    def fit(self, texts: Sequence[str], y: Any = None) -> RuleFeatures:
        """Nothing to learn; present for the scikit-learn interface."""
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """One row of rule scores per text."""
        return score_texts(list(texts), n_jobs=1).to_numpy()


def build_model(C: float = 0.1, seed: int = 0) -> Pipeline:
    """Build the unfitted pipeline: TF-IDF words + characters + rule scores → linear SVM.

    Parameters
    ----------
    C : float, default 0.1
        Inverse regularisation strength of the SVM (chosen by 5-fold CV on the airline tweets
        over {0.1, 0.3}; smaller is smoother).
    seed : int
        Random state of the solver.
    """
    features = FeatureUnion([
        ("words", TfidfVectorizer(preprocessor=normalise_text, ngram_range=(1, 2), min_df=2,
                                  sublinear_tf=True, token_pattern=r"(?u)[\w@']+|[!?]")),
        ("chars", TfidfVectorizer(preprocessor=normalise_text, analyzer="char_wb",
                                  ngram_range=(2, 5), min_df=2, sublinear_tf=True)),
        ("rules", make_pipeline(RuleFeatures(), StandardScaler())),
    ])
    # class_weight="balanced": macro-F1 weighs the rarer compliments and neutrals equally.
    svm = LinearSVC(C=C, class_weight="balanced", random_state=seed, max_iter=10_000)
    return Pipeline([("features", features), ("svm", svm)])


def _sentiment_from_decision(decision: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    # A softmax of the SVM margins: a monotone score in (-1, 1), not a calibrated probability.
    z = decision - decision.max(axis=1, keepdims=True)
    weights = np.exp(z)
    weights /= weights.sum(axis=1, keepdims=True)
    classes = list(classes)
    return weights[:, classes.index("compliment")] - weights[:, classes.index("complaint")]


def _groups(texts: Sequence[str] | np.ndarray) -> np.ndarray:
    codes, _ = pd.factorize(pd.Series([normalise_text(t).strip() for t in texts], dtype=object))
    return codes


def cross_validate_model(texts: Sequence[str], voices: Sequence[str], folds: int = 5,
                         seed: int = 0, C: float = 0.1) -> tuple[LabelReport, list[float]]:
    """Out-of-fold validity of :func:`build_model` on labelled texts.

    Parameters
    ----------
    texts, voices : sequence of str
        Texts and their human voices.
    folds : int, default 5
        Stratified folds; identical normalised texts are kept in one fold.
    seed : int
        Shuffling seed of the folds and the solver.
    C : float
        See :func:`build_model`.

    Returns
    -------
    report : LabelReport
        Pooled out-of-fold predictions against the human labels.
    fold_macro_f1 : list of float
        Macro-F1 of each fold.
    """
    text_array = np.asarray(list(texts), dtype=object)
    voice_array = np.asarray(list(voices), dtype=object)
    predicted = np.empty(len(text_array), dtype=object)
    fold_scores = []
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(text_array, voice_array, groups=_groups(text_array)):
        model = build_model(C=C, seed=seed).fit(text_array[train], voice_array[train])
        predicted[test] = model.predict(text_array[test])
        fold_scores.append(evaluate_labels(voice_array[test], predicted[test]).macro_f1)
    return evaluate_labels(voice_array, predicted), fold_scores


def train_voice_model(texts: Sequence[str], voices: Sequence[str], folds: int = 5,
                      seed: int = 0, C: float = 0.1,
                      source: str | Path | None = None) -> tuple[Pipeline, dict[str, Any]]:
    """Cross-validate, then fit on all labelled texts.

    Parameters
    ----------
    texts, voices : sequence of str
        Training texts and their voices (each one of :data:`VOICES`).
    folds : int, default 5
        Folds for the validity estimate; ``0`` skips cross-validation.
    seed : int
        Seed of folds and solver.
    C : float
        See :func:`build_model`.
    source : path, optional
        Training file, whose SHA-256 is recorded on the card.

    Returns
    -------
    model : Pipeline
        Fitted on every text.
    card : dict
        What the model is, what it was trained on and how valid it is (JSON-ready).
    """
    texts = [str(t) for t in texts]
    voices = [str(v) for v in voices]
    unknown = sorted(set(voices) - set(VOICES))
    if unknown:
        raise ValueError(f"training labels {unknown} are not voices {list(VOICES)}")
    missing = sorted(set(VOICES) - set(voices))
    if missing:
        raise ValueError(f"no training example of voice(s) {missing}")
    card: dict[str, Any] = {
        "classifier": "trained",
        "model": ("TF-IDF word 1-2-grams + char_wb 2-5-grams (min_df 2, sublinear tf) + "
                  f"rule scores; LinearSVC(C={C}, class_weight=balanced)"),
        "n_train": len(texts),
        "class_counts": {v: voices.count(v) for v in VOICES},
        "seed": seed,
        "C": C,
        "sklearn_version": _package_version("scikit-learn"),
        "rules_version": RulesClassifier().version,
        "training_file": str(source) if source is not None else None,
        "training_file_sha256": sha256_file(source) if source is not None else None,
    }
    if folds:
        report, fold_scores = cross_validate_model(texts, voices, folds=folds, seed=seed, C=C)
        card["cv"] = {"folds": folds, "grouped_by": "normalised text",
                      "macro_f1_by_fold": fold_scores, **report.to_dict()}
    model = build_model(C=C, seed=seed).fit(np.asarray(texts, dtype=object), voices)
    return model, card


def save_model(model: Pipeline, card: dict[str, Any], path: str | Path) -> tuple[Path, Path]:
    """Write the model (joblib) and its card (same name, ``.json``) atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        joblib.dump(model, tmp, compress=3)
    card = {**card, "model_sha256": sha256_file(path)}
    card_path = Path(write_json(card, path.with_suffix(".json")))
    return path, card_path


class TrainedClassifier:
    """A model saved by ``label-train`` (:func:`save_model`).

    Parameters
    ----------
    model_path : str or Path
        The ``.joblib`` file; its card (``.json``) must sit beside it.
    """

    name = "trained"

    def __init__(self, model_path: str | Path = DEFAULT_MODEL_PATH) -> None:
        path = Path(model_path)
        if not path.exists():
            raise FileNotFoundError(
                f"no trained voice model at {path}; make one with "
                "`complaintpanel label-train LABELS.csv --out {path}`")
        self.model_path = path
        self.card = read_json(path.with_suffix(".json"))
        installed = _package_version("scikit-learn")
        if self.card.get("sklearn_version") != installed:
            warnings.warn(f"{path} was trained with scikit-learn {self.card.get('sklearn_version')}"
                          f", this is {installed}; retrain if results look wrong", stacklevel=2)
        self.model: Pipeline = joblib.load(path)
        self.version = f"trained-{sha256_file(path)[:12]}+sklearn-{installed}"

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Voice and sentiment per text (the ``VoiceClassifier`` interface)."""
        values = pd.Series(list(texts), dtype=object).fillna("").astype(str)
        codes, uniques = pd.factorize(values)  # identical texts are labelled once
        if len(uniques) == 0:
            return np.array([], dtype=object), np.array([], dtype=np.float64)
        unique_texts = np.asarray(uniques, dtype=object)
        voice = self.model.predict(unique_texts).astype(object)
        decision = self.model.decision_function(unique_texts)
        sentiment = _sentiment_from_decision(decision, self.model.classes_)
        return voice[codes], sentiment[codes]
