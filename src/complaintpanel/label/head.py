"""The voice head: a calibrated linear model over rule scores and hashed n-grams.

``complaintpanel label-train-head`` (``make head``) fits :class:`VoiceHead` on every
human-labelled tweet set in ``../shared/data`` pooled (:mod:`complaintpanel.label.corpora`) and
writes it into the package (``label/models/voice_head.npz`` with a JSON and a Markdown model
card beside it); ``[label] classifier = "head"`` labels with it. The 2 MB of coefficients are
generated, not committed: training is deterministic (same data and seed, same file; its
SHA-256 is recorded in ``benchmarks/results/labels.json``), and the default classifier (rules)
does not need it.

The model
---------
Features of a text (after :func:`~complaintpanel.label.trained.normalise_text`: lower case,
links and @handles replaced by placeholders, so it learns how customers write, not whom they
address):

* the rules classifier's scores (:data:`~complaintpanel.label.rules.SCORE_COLUMNS`),
  standardised — the hand-written customer-care knowledge;
* word 1–2-grams, counted by scikit-learn's
  :class:`~sklearn.feature_extraction.text.HashingVectorizer` (MurmurHash3: the same text gives
  the same columns in every process and on every platform, and no vocabulary needs storing),
  sublinear TF-IDF weighted and L2-normalised.

A multinomial logistic regression with class-balanced weights (so that no training set's label
mix is learned as a prior) maps them to the three voices; a single temperature, fitted by
maximum likelihood on out-of-fold logits (identical texts kept in one fold), calibrates the
probabilities (Guo et al. 2017). Voice is the most probable class; ``sentiment`` is
``p_compliment - p_complaint``.

Why not sentence embeddings? Measured leave-one-dataset-out (``benchmarks/bench_labels.py``,
docs/classifier.md), wordllama's static embeddings added nothing to the rule scores and n-grams
across domains while halving the speed, and MiniLM (PyTorch) ran at ~160 tweets per CPU-second.

The file format is a NumPy ``.npz`` of arrays only (loaded with ``allow_pickle=False``: loading
cannot run code) and a JSON card; both carry :data:`HEAD_FORMAT`, and loading refuses any other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize_scalar

from complaintpanel.label.base import VOICES
from complaintpanel.label.rules import SCORE_COLUMNS, RulesClassifier, score_texts
from complaintpanel.label.trained import normalise_text
from complaintpanel.runtime.io import atomic_path, sha256_file

__all__ = [
    "DEFAULT_HEAD_PATH",
    "HEAD_FORMAT",
    "HeadClassifier",
    "HeadFormatError",
    "VoiceHead",
    "load_head",
]

# Bump when the feature definition or the file layout changes; a file of another format is
# refused on load (never silently misread).
HEAD_FORMAT = "complaintpanel-voice-head/1"
DEFAULT_HEAD_PATH = Path(__file__).resolve().parent / "models" / "voice_head.npz"

_WORD_PATTERN = r"(?u)[\w@']+|[!?]"


class HeadFormatError(ValueError):
    """The head file's format or the rules it was trained with differ from this package's."""


def _hasher(n_features: int) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=n_features, ngram_range=(1, 2), alternate_sign=False,
                             norm=None, token_pattern=_WORD_PATTERN, lowercase=False)


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF (1 + log tf) times IDF, rows L2-normalised (as scikit-learn's transformer)."""
    from sklearn.preprocessing import normalize

    weighted = counts.astype(np.float64, copy=True)
    weighted.data = 1.0 + np.log(weighted.data)
    weighted = weighted @ sp.diags(idf)
    return normalize(weighted, norm="l2", copy=False).tocsr()


def _idf(counts: sp.csr_matrix) -> np.ndarray:
    """Smoothed IDF, ``log((1 + n) / (1 + df)) + 1`` (scikit-learn's default)."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return np.log((1.0 + n) / (1.0 + df)) + 1.0


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class VoiceHead:
    """Class-balanced, temperature-calibrated logistic regression on rule scores and n-grams.

    Parameters
    ----------
    C : float, default 1.0
        Inverse L2 penalty of the logistic regression.
    n_features : int, default 2**18
        Hashed columns of the word n-grams.
    calibration_folds : int, default 5
        Folds of the out-of-fold logits the temperature is fitted on (0: temperature 1).
    seed : int, default 0
        Seed of the folds (the solver, L-BFGS, is deterministic).

    Attributes
    ----------
    classes_ : tuple of str
        :data:`VOICES`, the order of the probability columns.
    coef_ : ndarray, shape (3, n_columns)
    intercept_ : ndarray, shape (3,)
    rules_mean_, rules_scale_ : ndarray
        Standardisation of the rule scores.
    idf_words_ : ndarray
        IDF of the hashed columns.
    temperature_ : float
        Logits are divided by it before the softmax.
    """

    def __init__(self, C: float = 1.0, n_features: int = 2**18, calibration_folds: int = 5,
                 seed: int = 0) -> None:
        self.C = C
        self.n_features = n_features
        self.calibration_folds = calibration_folds
        self.seed = seed
        self.classes_: tuple[str, ...] = VOICES

    # -- features ------------------------------------------------------------------------
    def _counts(self, texts: Sequence[str]) -> tuple[np.ndarray, sp.csr_matrix]:
        rules = score_texts(list(texts), n_jobs=1).to_numpy(dtype=np.float64)
        normalised = [normalise_text(t) for t in texts]
        return rules, _hasher(self.n_features).transform(normalised).tocsr()

    def _design(self, rules: np.ndarray, words: sp.csr_matrix) -> sp.csr_matrix:
        standard = (rules - self.rules_mean_) / self.rules_scale_
        return sp.hstack([sp.csr_matrix(standard), _tfidf(words, self.idf_words_)],
                         format="csr")

    def _fit_linear(self, x: sp.csr_matrix, y: np.ndarray) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000,
                                  solver="lbfgs").fit(x, y)

    # -- fitting -------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], voices: Sequence[str]) -> VoiceHead:
        """Fit on labelled texts (each voice one of :data:`VOICES`); returns ``self``."""
        texts = [str(t) for t in texts]
        y = np.asarray([str(v) for v in voices], dtype=object)
        unknown = sorted(set(y) - set(VOICES))
        if unknown:
            raise ValueError(f"training labels {unknown} are not voices {list(VOICES)}")
        missing = sorted(set(VOICES) - set(y))
        if missing:
            raise ValueError(f"no training example of voice(s) {missing}")
        rules, words = self._counts(texts)
        codes = np.array([VOICES.index(v) for v in y])
        self.temperature_ = (self._temperature(texts, rules, words, codes)
                             if self.calibration_folds else 1.0)
        self._fit_all(rules, words, codes)
        self.n_train_ = len(texts)
        return self

    def _fit_all(self, rules: np.ndarray, words: sp.csr_matrix, codes: np.ndarray) -> None:
        self.rules_mean_ = rules.mean(axis=0)
        scale = rules.std(axis=0)
        self.rules_scale_ = np.where(scale > 0, scale, 1.0)
        self.idf_words_ = _idf(words)
        model = self._fit_linear(self._design(rules, words), codes)
        self.coef_ = model.coef_.astype(np.float64)
        self.intercept_ = model.intercept_.astype(np.float64)

    def _temperature(self, texts: list[str], rules: np.ndarray, words: sp.csr_matrix,
                     codes: np.ndarray) -> float:
        """Maximum-likelihood temperature of out-of-fold logits (identical texts in one fold)."""
        from sklearn.model_selection import StratifiedGroupKFold

        groups, _ = pd.factorize(pd.Series([normalise_text(t).strip() for t in texts]))
        logits = np.zeros((len(texts), len(VOICES)))
        splitter = StratifiedGroupKFold(n_splits=self.calibration_folds, shuffle=True,
                                        random_state=self.seed)
        for train, test in splitter.split(rules, codes, groups=groups):
            fold = VoiceHead(C=self.C, n_features=self.n_features, calibration_folds=0)
            fold._fit_all(rules[train], words[train], codes[train])
            logits[test] = fold._logits(rules[test], words[test])
        self.oof_logits_ = logits
        return fit_temperature(logits, codes)

    # -- prediction ----------------------------------------------------------------------
    def _logits(self, rules: np.ndarray, words: sp.csr_matrix) -> np.ndarray:
        x = self._design(rules, words)
        return np.asarray(x @ self.coef_.T) + self.intercept_

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, shape (n, 3), columns in :data:`VOICES` order.

        Identical texts are scored once.
        """
        values = pd.Series(list(texts), dtype=object).fillna("").astype(str)
        codes, uniques = pd.factorize(values)
        if len(uniques) == 0:
            return np.zeros((0, len(VOICES)))
        logits = self._logits(*self._counts(list(uniques)))
        return _softmax(logits / self.temperature_)[codes]

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Most probable voice per text."""
        return np.asarray(VOICES, dtype=object)[self.predict_proba(texts).argmax(axis=1)]

    # -- persistence ---------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """Return the fitted parameters as named arrays (what :meth:`save` writes)."""
        return {
            "format": np.array(HEAD_FORMAT),
            "classes": np.array(self.classes_),
            "score_columns": np.array(SCORE_COLUMNS),
            "coef": self.coef_.astype(np.float32),
            "intercept": self.intercept_,
            "rules_mean": self.rules_mean_,
            "rules_scale": self.rules_scale_,
            "idf_words": self.idf_words_.astype(np.float32),
            "temperature": np.array(self.temperature_),
            "hyper": np.array([self.C, self.n_features, self.calibration_folds, self.seed]),
        }

    def save(self, path: str | Path, card: dict[str, Any]) -> tuple[Path, Path, Path]:
        """Write ``path`` (.npz), its JSON card and a Markdown card beside it.

        Returns
        -------
        npz, json, md : Path
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **self.arrays())  # type: ignore[arg-type]
        card = {"format": HEAD_FORMAT, **card, "file": path.name,
                "file_sha256": sha256_file(path), "file_bytes": path.stat().st_size}
        card_path = path.with_suffix(".json")
        card_path.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
        markdown_path = path.with_suffix(".md")
        markdown_path.write_text(model_card_markdown(card))
        return path, card_path, markdown_path

    @classmethod
    def load(cls, path: str | Path) -> VoiceHead:
        """Read a head written by :meth:`save`; :class:`HeadFormatError` on a format mismatch."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"no voice head at {path}; make one with `complaintpanel label-train-head`")
        with np.load(path, allow_pickle=False) as stored:
            found = str(stored["format"]) if "format" in stored.files else "(none)"
            if found != HEAD_FORMAT:
                raise HeadFormatError(
                    f"{path} has head format {found!r}; this complaintpanel reads "
                    f"{HEAD_FORMAT!r}. Retrain it with `complaintpanel label-train-head`.")
            columns = tuple(str(c) for c in stored["score_columns"])
            if columns != SCORE_COLUMNS:
                raise HeadFormatError(
                    f"{path} was trained on rule scores {columns}, this package computes "
                    f"{SCORE_COLUMNS}; retrain it with `complaintpanel label-train-head`.")
            C, n_features, folds, seed = stored["hyper"].tolist()
            head = cls(C=float(C), n_features=int(n_features), calibration_folds=int(folds),
                       seed=int(seed))
            head.classes_ = tuple(str(c) for c in stored["classes"])
            if head.classes_ != VOICES:
                raise HeadFormatError(f"{path} has classes {head.classes_}, not {VOICES}")
            head.coef_ = stored["coef"].astype(np.float64)
            head.intercept_ = stored["intercept"].astype(np.float64)
            head.rules_mean_ = stored["rules_mean"]
            head.rules_scale_ = stored["rules_scale"]
            head.idf_words_ = stored["idf_words"].astype(np.float64)
            head.temperature_ = float(stored["temperature"])
        return head


def fit_temperature(logits: np.ndarray, codes: np.ndarray) -> float:
    """Temperature ``T`` maximising the likelihood of ``softmax(logits / T)`` (Guo et al. 2017).

    Parameters
    ----------
    logits : ndarray, shape (n, k)
    codes : ndarray of int, shape (n,)
        Index of the true class of each row.

    Returns
    -------
    float
        In [0.05, 20].
    """
    rows = np.arange(len(codes))

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        return float(np.mean(log_norm - scaled[rows, codes]))

    best = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                           options={"xatol": 1e-6})
    return float(np.exp(best.x))


def model_card_markdown(card: dict[str, Any]) -> str:
    """Return the Markdown model card written beside the head (from its JSON card)."""
    lines = [f"# Voice head `{card.get('file', 'voice_head.npz')}`", "",
             f"Format `{card['format']}`; SHA-256 `{card.get('file_sha256', '')}`; "
             f"{card.get('file_bytes', 0) / 1e6:.1f} MB.", "",
             "## Model", "", str(card.get("model", "")), "",
             "## Training command", "", f"    {card.get('command', '')}", "",
             "## Training data", "",
             "| set | texts | complaint | compliment | neutral | source | licence |",
             "|---|---|---|---|---|---|---|"]
    for name, info in card.get("training_data", {}).items():
        counts = info.get("class_counts", {})
        lines.append(f"| {name} | {info.get('texts', '')} | {counts.get('complaint', '')} | "
                     f"{counts.get('compliment', '')} | {counts.get('neutral', '')} | "
                     f"{info.get('source', '')} | {info.get('licence', '')} |")
    lines += ["", "## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in card.get("versions", {}).items()]
    lines += ["", f"Temperature: {card.get('temperature', '')}; trained in "
                  f"{card.get('seconds', '')} s.", "",
              "Validity (leave one dataset out), speed and install size: "
              "`benchmarks/results/labels.json` and docs/classifier.md.", ""]
    return "\n".join(lines)


def load_head(path: str | Path | None = None) -> VoiceHead:
    """Load the head at ``path`` (default ``label/models/voice_head.npz``, from ``make head``)."""
    return VoiceHead.load(DEFAULT_HEAD_PATH if path is None else path)


class HeadClassifier:
    """The voice head as a :class:`~complaintpanel.label.base.VoiceClassifier`.

    Parameters
    ----------
    model_path : str or Path, optional
        A head written by ``label-train-head`` (default: the packaged one).
    """

    name = "head"

    def __init__(self, model_path: str | Path | None = None) -> None:
        path = Path(model_path) if model_path is not None else DEFAULT_HEAD_PATH
        self.head = load_head(path)
        self.model_path = path
        self.version = f"head-{sha256_file(path)[:12]}+rules-{RulesClassifier().version}"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities (n, 3) in :data:`VOICES` order."""
        return self.head.predict_proba(texts)

    def predict_with_proba(
            self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voice, sentiment (``p_compliment - p_complaint``) and probabilities per text."""
        proba = self.predict_proba(texts)
        voice = np.asarray(VOICES, dtype=object)[proba.argmax(axis=1)] if len(proba) else \
            np.array([], dtype=object)
        sentiment = proba[:, VOICES.index("compliment")] - proba[:, VOICES.index("complaint")]
        return voice, np.clip(sentiment, -1.0, 1.0), proba

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Voice and sentiment per text (the ``VoiceClassifier`` interface)."""
        voice, sentiment, _ = self.predict_with_proba(texts)
        return voice, sentiment


def versions() -> dict[str, str]:
    """Versions of the libraries the head's features and solver come from."""
    return {name: _package_version(name) for name in
            ("complaintpanel", "scikit-learn", "numpy", "scipy", "vaderSentiment")} | {
        "rules": RulesClassifier().version, "head_format": HEAD_FORMAT}


def train_head(labelled: Path, real: Path, C: float = 1.0, seed: int = 0,
               command: str = "", n_features: int = 2**18, per_set: int | None = None,
               ) -> tuple[VoiceHead, dict[str, Any]]:
    """Fit the head on every voice-labelled set pooled and describe it (the model card).

    Parameters
    ----------
    labelled, real : Path
        The shared data folders (``../shared/data/labelled`` and ``../shared/data/real``).
    C : float
        See :class:`VoiceHead`.
    seed : int
        Seed of the calibration folds.
    command : str
        The command line that trained it (recorded on the card).
    n_features : int
        Hashed word n-gram columns (see :class:`VoiceHead`).
    per_set : int, optional
        Train on a random sample of this many texts per labelled set (quick heads for tests
        and trials); all texts by default.

    Returns
    -------
    head : VoiceHead
    card : dict
        JSON-ready: model, data provenance and licences, command, versions, temperature.
    """
    from complaintpanel.label.corpora import LABELLED_SETS, read_labelled_sets

    started = time.perf_counter()
    pooled = read_labelled_sets(Path(labelled), Path(real))
    if per_set is not None:
        pooled = pooled.groupby("set").sample(per_set, random_state=seed).reset_index(drop=True)
    head = VoiceHead(C=C, n_features=n_features, seed=seed)
    head.fit(pooled["text"].tolist(), pooled["voice"].tolist())
    training_data = {}
    for name, info in LABELLED_SETS.items():
        part = pooled[pooled["set"] == name]
        counts = part["voice"].value_counts()
        training_data[name] = {
            **info, "texts": len(part),
            "class_counts": {v: int(counts.get(v, 0)) for v in VOICES},
        }
    card: dict[str, Any] = {
        "classifier": "head",
        "model": (f"Multinomial logistic regression (L2, C={C}, class_weight=balanced, "
                  "L-BFGS) on standardised rule scores + hashed word 1-2-gram sublinear TF-IDF "
                  f"(2^{int(np.log2(head.n_features))} columns, MurmurHash3); probabilities "
                  f"calibrated by one temperature fitted on {head.calibration_folds}-fold "
                  "out-of-fold logits (identical texts in one fold)."),
        "command": command,
        "n_train": head.n_train_,
        "training_data": training_data,
        "not_trained_on": ("the simulator's phrase banks (simulate/phrases.py); Preoţiuc-Pietro "
                           "et al. (2019) complaints data and sets derived from it; TweetEval "
                           "irony (measured only)"),
        "temperature": round(head.temperature_, 6),
        "C": C,
        "seed": seed,
        "versions": versions(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return head, card
