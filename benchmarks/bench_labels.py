"""Voice labelling: validity on human labels and on the simulator's truth, and throughput.

Writes benchmarks/results/labels.json (and confusion-matrix figures in
benchmarks/results/labels/). Run: ``.venv/bin/python benchmarks/bench_labels.py`` (about 15
minutes on 2 cores; ``--quick`` skips the cross-validation and uses 200,000 tweets).

Sections:
* ``airline`` — the human-labelled airline tweets (negative→complaint, positive→compliment,
  neutral→neutral; duplicated tweet ids dropped): the rules classifier, its threshold
  sensitivity, raw VADER for comparison, the trainable classifier (5-fold CV, identical texts
  kept in one fold) and a plain word+char TF-IDF logistic regression under the same folds;
* ``other_domains`` — there is no human-labelled complaint data outside airlines in
  ../shared/data/real; the hand-written multi-domain fixture is reported as a sanity check only;
* ``simulated_truth`` — the rules (and the airline-trained model) against the simulator's true
  voice, overall and for the ambiguous texts;
* ``throughput`` — the rules classifier on ≥ 1M simulated customer tweets (many repeated texts)
  and on 1M all-distinct texts, with 1 and 2 processes.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS_DIR, WORK_DIR, peak_rss_mb, write_result
from complaintpanel.config import SimulateConfig
from complaintpanel.label import RulesClassifier, evaluate_labels
from complaintpanel.label.evaluate import LabelReport, parse_mapping, read_labelled
from complaintpanel.label.trained import (
    TrainedClassifier,
    _groups,
    cross_validate_model,
    normalise_text,
    save_model,
    train_voice_model,
)
from complaintpanel.report.figures import fig_label_validity
from complaintpanel.runtime.io import sha256_file
from complaintpanel.simulate import simulate_world

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("COMPLAINTPANEL_SHARED_DATA", REPO.parent / "shared" / "data")) / "real"
AIRLINE = REAL / "airline-sentiment-2015" / "Tweets.csv"
MAPPING = "negative=complaint,positive=compliment,neutral=neutral"
FIGURES = RESULTS_DIR / "labels"
SIM_CUSTOMERS = 40_000  # ≈ 1.1M customer tweets over 26 weeks with the default calibration


def _summary(report: LabelReport, name: str | None = None, title: str = "") -> dict[str, Any]:
    out = report.to_dict()
    if name is not None:
        paths = fig_label_validity(report, FIGURES / name, title=title)
        out["figure"] = str(paths[1].relative_to(REPO))
    return out


def _vader_voice(texts: list[str]) -> np.ndarray:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    compound = np.array([analyzer.polarity_scores(t)["compound"] for t in texts])
    # VADER's own recommended cut-offs (±0.05).
    return np.where(compound >= 0.05, "compliment",
                    np.where(compound <= -0.05, "complaint", "neutral")).astype(object)


def _plain_tfidf_lr_cv(texts: list[str], voices: list[str], folds: int) -> LabelReport:
    """Word 1-2 + char_wb 2-5 TF-IDF and logistic regression, same folds as the trained model."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import FeatureUnion, Pipeline

    x = np.asarray(texts, dtype=object)
    y = np.asarray(voices, dtype=object)
    predicted = np.empty(len(x), dtype=object)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
    for train, test in splitter.split(x, y, groups=_groups(texts)):
        model = Pipeline([
            ("features", FeatureUnion([
                ("words", TfidfVectorizer(preprocessor=normalise_text, ngram_range=(1, 2))),
                ("chars", TfidfVectorizer(preprocessor=normalise_text, analyzer="char_wb",
                                          ngram_range=(2, 5))),
            ])),
            ("lr", LogisticRegression(max_iter=2000)),
        ]).fit(x[train], y[train])
        predicted[test] = model.predict(x[test])
    return evaluate_labels(y, predicted)


def bench_airline(quick: bool) -> tuple[dict[str, Any], Path | None]:
    data = read_labelled(AIRLINE, "text", "airline_sentiment", parse_mapping(MAPPING))
    rows = len(data)
    data = data.drop_duplicates("tweet_id").reset_index(drop=True)
    texts, human = data["text"].tolist(), data["voice"].tolist()
    out: dict[str, Any] = {
        "file": str(AIRLINE.relative_to(REAL.parent.parent)),
        "sha256": sha256_file(AIRLINE),
        "rows": rows,
        "rows_used": len(data),
        "note": "155 duplicated tweet ids dropped (first kept); labels are crowd-sourced",
        "mapping": parse_mapping(MAPPING),
        "class_counts": data["voice"].value_counts().to_dict(),
    }
    rules = RulesClassifier(n_jobs=1)
    voice, _ = rules.predict(texts)
    out["rules"] = {"version": rules.version,
                    **_summary(evaluate_labels(human, voice), "airline_rules",
                               "rules on airline tweets")}
    out["rules_threshold_sensitivity"] = {}
    for threshold in (0.5, 0.75, 1.0, 1.5, 2.0):
        voice_t, _ = RulesClassifier(threshold=threshold, n_jobs=1).predict(texts)
        report = evaluate_labels(human, voice_t)
        out["rules_threshold_sensitivity"][f"{threshold:g}"] = {
            "macro_f1": report.macro_f1,
            "complaint_vs_not_macro_f1": report.binary()["macro_f1"],
            "complaint_f1": report.binary()["f1"],
            "complaint_share": float(np.mean(voice_t == "complaint")),
        }
    out["vader_baseline"] = _summary(evaluate_labels(human, _vader_voice(texts)))
    model_path = None
    if not quick:
        started = time.perf_counter()
        report, folds = cross_validate_model(texts, human, folds=5, seed=0)
        out["trained_cv"] = {"folds": 5, "grouped_by": "normalised text", "seed": 0,
                             "macro_f1_by_fold": folds,
                             "seconds": round(time.perf_counter() - started, 1),
                             **_summary(report, "airline_trained_cv",
                                        "trained (5-fold CV) on airline tweets")}
        started = time.perf_counter()
        baseline = _plain_tfidf_lr_cv(texts, human, folds=5)
        out["tfidf_lr_baseline_cv"] = {
            "model": "word 1-2 + char_wb 2-5 TF-IDF, LogisticRegression (defaults), same folds",
            "seconds": round(time.perf_counter() - started, 1), **_summary(baseline)}
        model, card = train_voice_model(texts, human, folds=0, source=AIRLINE)
        model_path, _ = save_model(model, card, WORK_DIR / "models" / "airline.joblib")
    return out, model_path


def bench_other_domains() -> dict[str, Any]:
    easy = pd.read_csv(REPO / "tests" / "fixtures" / "labels" / "easy_cases.csv")
    voice, _ = RulesClassifier(n_jobs=1).predict(easy["text"].tolist())
    listing = sorted(p.name for p in REAL.iterdir() if p.is_dir())
    return {
        "human_labelled_complaint_data_outside_airlines": False,
        "note": ("../shared/data/real holds no human-labelled complaint data outside the "
                 f"airline file (folders: {listing}); generality to other domains is checked "
                 "on a held-out set by the maintainers. The rules were written from general "
                 "customer-care language, not fitted to airline rows."),
        "hand_written_easy_cases": {
            "what": ("51 unambiguous texts written by the developer across 8 domains "
                     "(tests/fixtures/labels/easy_cases.csv); a sanity check, not a validity "
                     "estimate"),
            **evaluate_labels(easy["voice"], voice).to_dict(),
        },
    }


def _simulated_customer_tweets(customers: int) -> tuple[pd.DataFrame, float]:
    started = time.perf_counter()
    world = simulate_world(SimulateConfig(customers=customers, seed=11))
    seconds = time.perf_counter() - started
    tweets = world.tweets.loc[world.tweets["inbound"], ["tweet_id", "text"]]
    merged = tweets.merge(world.voice[["tweet_id", "voice", "ambiguous"]], on="tweet_id",
                          validate="one_to_one")
    return merged.reset_index(drop=True), seconds


def bench_simulated(sim: pd.DataFrame, model_path: Path | None) -> dict[str, Any]:
    rules = RulesClassifier(n_jobs=2)
    voice, _ = rules.predict(sim["text"].to_numpy(dtype=object))
    ambiguous = sim["ambiguous"].to_numpy()
    out: dict[str, Any] = {
        "customer_tweets": len(sim),
        "ambiguous_share": float(ambiguous.mean()),
        "note": ("texts come from the simulator's phrase banks; the rules were not written "
                 "from them. Ambiguous texts (sarcasm, polite complaints) are hard by design."),
        "rules": _summary(evaluate_labels(sim["voice"], voice), "simulated_rules",
                          "rules on simulated tweets (truth)"),
        "rules_plain_texts": evaluate_labels(sim["voice"][~ambiguous],
                                             voice[~ambiguous]).to_dict(),
        "rules_ambiguous_texts": evaluate_labels(sim["voice"][ambiguous],
                                                 voice[ambiguous]).to_dict(),
    }
    if model_path is not None:
        trained = TrainedClassifier(model_path)
        voice_t, _ = trained.predict(sim["text"].to_numpy(dtype=object))
        out["trained_on_airline"] = {
            "note": "model fitted on all airline tweets, applied to simulated multi-domain texts",
            **evaluate_labels(sim["voice"], voice_t).to_dict()}
    return out


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the forked workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _time_predict(texts: np.ndarray, n_jobs: int) -> dict[str, Any]:
    load = os.getloadavg()[0]
    cpu = _cpu_seconds()
    started = time.perf_counter()
    RulesClassifier(n_jobs=n_jobs).predict(texts)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    # Tweets per CPU-second is what the code costs whatever else the machine runs; the wall
    # clock depends on how much of the 2 cores other jobs leave free.
    return {"n_jobs": n_jobs, "seconds": round(seconds, 2),
            "tweets_per_second": round(len(texts) / seconds),
            "cpu_seconds": round(cpu, 2),
            "tweets_per_cpu_second": round(len(texts) / cpu) if cpu else None,
            "load_average_1m_before": round(load, 2)}


def bench_throughput(sim: pd.DataFrame, airline_texts: list[str], n: int) -> dict[str, Any]:
    repeated = sim["text"].to_numpy(dtype=object)[:n]
    distinct = int(pd.Series(repeated).nunique())
    # All-distinct texts: real airline tweets, each copy made distinct by a number at the end
    # (a token the rules ignore), so caching cannot help and the text lengths are real ones.
    base = np.asarray(airline_texts, dtype=object)
    unique = np.array([f"{base[k % len(base)]} {k}" for k in range(n)], dtype=object)
    tokens = {
        "simulated": float(np.mean([len(t.split()) for t in repeated[:20_000]])),
        "airline": float(np.mean([len(t.split()) for t in base])),
    }
    vader_sample = base[:5_000].tolist()
    started = time.perf_counter()
    _vader_voice(vader_sample)
    vader_rate = len(vader_sample) / (time.perf_counter() - started)
    return {
        "cpu_count": os.cpu_count(),
        "note": ("wall-clock on a machine shared with other jobs (see the load averages: "
                 "above 2 means the 2 cores were already busy); tweets_per_cpu_second is the "
                 "load-independent cost. The default classifier uses 2 forked processes for "
                 "≥ 50,000 distinct texts."),
        "mean_words_per_text": tokens,
        "simulated_with_repeats": {
            "tweets": len(repeated), "distinct_texts": distinct,
            "duplicate_share": 1 - distinct / len(repeated),
            "runs": [_time_predict(repeated, 2), _time_predict(repeated, 1)],
        },
        "all_distinct": {
            "tweets": len(unique), "distinct_texts": int(pd.Series(unique).nunique()),
            "duplicate_share": 0.0,
            "runs": [_time_predict(unique, 2), _time_predict(unique, 1)],
        },
        "raw_vader_single_process_tweets_per_second": round(vader_rate),
    }


def _targets(result: dict[str, Any]) -> dict[str, Any]:
    airline = result["airline"]
    best = {k: max(r["tweets_per_second"] for r in result["throughput"][k]["runs"]
                   if r["n_jobs"] == 2) for k in ("simulated_with_repeats", "all_distinct")}
    targets = {
        "rules_airline_complaint_vs_not_macro_f1": (
            0.75, airline["rules"]["complaint_vs_not"]["macro_f1"]),
        "rules_airline_3class_macro_f1": (0.60, airline["rules"]["macro_f1"]),
        "rules_tweets_per_second_2_cores_with_repeats": (50_000, best["simulated_with_repeats"]),
        "rules_tweets_per_second_2_cores_all_distinct": (50_000, best["all_distinct"]),
    }
    if "trained_cv" in airline:
        targets["trained_airline_5fold_cv_3class_macro_f1"] = (
            0.75, airline["trained_cv"]["macro_f1"])
    out = {name: {"target": t, "value": v, "met": bool(v >= t)} for name, (t, v) in
           targets.items()}
    out["rules_other_domains_complaint_f1"] = {
        "target": 0.70, "value": None, "met": None,
        "note": "measured by the maintainers on a held-out set; no such data here"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip CV; 200,000 tweets")
    args = parser.parse_args()
    FIGURES.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result: dict[str, Any] = {"quick": args.quick,
                              "load_average_at_start": list(os.getloadavg())}
    result["airline"], model_path = bench_airline(args.quick)
    print("airline done", flush=True)
    result["other_domains"] = bench_other_domains()
    customers = 8_000 if args.quick else SIM_CUSTOMERS
    sim, sim_seconds = _simulated_customer_tweets(customers)
    result["simulated_truth"] = bench_simulated(sim, model_path)
    result["simulated_truth"]["customers"] = customers
    result["simulated_truth"]["seconds_simulate"] = round(sim_seconds, 1)
    print("simulated done", flush=True)
    n = 200_000 if args.quick else 1_000_000
    if len(sim) < n:
        raise SystemExit(f"simulated world too small: {len(sim):,} customer tweets < {n:,}")
    airline_texts = pd.read_csv(AIRLINE)["text"].fillna("").astype(str).tolist()
    result["throughput"] = bench_throughput(sim, airline_texts, n)
    result["targets"] = _targets(result)
    result["load_average_at_end"] = list(os.getloadavg())
    result["seconds_total"] = round(time.perf_counter() - started, 1)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    path = write_result("labels", result)
    print(f"wrote {path}")
    for name, target in result["targets"].items():
        print(f"  {name}: {target['value']} (target {target['target']}, met {target['met']})")


if __name__ == "__main__":
    main()
