"""Relationship HMM on classifier labels: the misclassification correction over many worlds.

Each world is drawn by the simulator with its own seed (default calibration, DESIGN.md §5) and
written as text; every customer tweet is labelled by the rules classifier
(:class:`complaintpanel.label.rules.RulesClassifier`), the labelled exchanges
(:func:`complaintpanel.simulate.oracle.voiced_from_truth` with the labels) are aggregated to the
weekly panel (:func:`complaintpanel.panel.build_panel`), and an oracle codes a validation
sample of 1,000 tweets stratified by predicted label (equal allocation, coded from the
simulator's true voice). Two fits per world:

* ``naive``: today's model on the labels (no neutral emission, labels taken as the truth);
* ``corrected``: the misclassification layer (DESIGN.md §4.1), ``M`` estimated jointly with
  the validation sample, started from the naive optimum (``naive_start``; its time includes
  the naive search); intervention and redress from replies to tweets *labelled* complaint;
* ``corrected_reply``: the same with the reply process modelled
  (:mod:`complaintpanel.hmm.reply_process`: every tweet answered with a probability by true
  voice and brand, intervention and redress latent), what ``complaintpanel hmm --validation``
  fits.

``--isolation`` runs instead the study of what biases the corrected fit (labels, covariates
and ``M`` swapped one at a time; ``benchmarks/results/hmm_measurement_isolation.json``).

Reported: 95%-interval coverage and bias of γ and δ for each (targets for the corrected fit:
coverage 0.92–0.98, |bias γ| ≤ 0.01), and the median fit times (target: corrected ≤ 2× naive).
Small worlds (1,000 customers by default) keep 100 worlds within a few hours on 1 core.

Writes benchmarks/results/hmm_measurement.json. Run:
``nice -n 10 .venv/bin/python benchmarks/bench_hmm_measurement.py --worlds 100 --jobs 1``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS_DIR, WORK_DIR, peak_rss_mb, write_result
from complaintpanel import simulate
from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import RelationshipHMM
from complaintpanel.label.rules import RulesClassifier
from complaintpanel.model import add_hmm_covariates, default_params
from complaintpanel.model.measurement import VOICES, ValidationCounts
from complaintpanel.panel import build_panel
from complaintpanel.simulate.oracle import voiced_from_truth

HEADLINE = ("gamma", "delta")
FITS = ("naive", "corrected", "corrected_reply")


def classifier_labels(world: simulate.World) -> pd.Series:
    """Rules-classifier voice of every customer tweet, by ``tweet_id``."""
    customer = world.tweets[world.tweets["inbound"]]
    voice, _ = RulesClassifier(n_jobs=1).predict(customer["text"].tolist())
    return pd.Series(np.asarray(voice), index=customer["tweet_id"].to_numpy())


def stratified_validation(labels: pd.Series, truth: pd.Series, size: int,
                          rng: np.random.Generator) -> ValidationCounts:
    """Oracle-coded validation sample: ``size`` tweets, equal allocation over predicted labels."""
    per_stratum = size // len(VOICES)
    counts = np.zeros((len(VOICES), len(VOICES)), dtype=np.int64)
    population = np.array([(labels == voice).sum() for voice in VOICES], dtype=np.int64)
    for ell, voice in enumerate(VOICES):
        ids = labels.index[labels.to_numpy() == voice]
        take = min(per_stratum + (1 if ell < size % len(VOICES) else 0), len(ids))
        drawn = rng.choice(ids.to_numpy(), size=take, replace=False)
        coded = truth.loc[drawn].to_numpy()
        for v, true_voice in enumerate(VOICES):
            counts[v, ell] = int((coded == true_voice).sum())
    return ValidationCounts(counts=counts, population=population)


def one_world(args: tuple[int, int, int, int, float]) -> dict[str, Any]:
    seed, customers, starts, validation_size, deadline = args
    if time.time() > deadline:  # the run's time budget is spent: this world is not started
        return {"seed": seed, "skipped": True}
    world = simulate.simulate_world(SimulateConfig(customers=customers, seed=seed))
    labels = classifier_labels(world)
    truth = world.voice.set_index("tweet_id")["voice"]
    accuracy = float((truth.loc[labels.index].to_numpy() == labels.to_numpy()).mean())
    panel = build_panel(voiced_from_truth(world, labels))
    validation = stratified_validation(labels, truth, validation_size,
                                       np.random.default_rng(seed + 7_000_000))
    record: dict[str, Any] = {"seed": seed, "classifier_accuracy": accuracy,
                              "validation_counts": validation.counts.tolist(),
                              "validation_population": validation.population.tolist()}
    settings: dict[str, dict[str, Any]] = {
        "naive": {}, "corrected": {"validation": validation},
        "corrected_reply": {"validation": validation, "reply_process": True}}
    for name, extra in settings.items():
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            res = RelationshipHMM(n_starts=starts, random_state=seed, **extra).fit(panel).results_
        except Exception as error:  # a failed fit is reported, never silently dropped
            record[name] = {"error": repr(error)}
            continue
        record[name] = {"params": res.params.to_dict(), "bse": res.bse.to_dict(),
                        "loglike": res.loglike, "converged": res.converged,
                        "n_starts_converged": res.n_starts_converged,
                        "hessian_ok": res.hessian_ok,
                        "seconds": time.perf_counter() - started,
                        # n_jobs=1: the fit runs in this process, so its CPU time is here
                        "cpu_seconds": time.process_time() - cpu_started}
    return record


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    truth = default_params().reported()
    out: dict[str, Any] = {}
    for fit in FITS:
        ok = [r[fit] for r in records if "error" not in r.get(fit, {"error": 1})]
        if not ok:
            out[fit] = {"n_ok": 0}
            continue
        params = pd.DataFrame([r["params"] for r in ok])
        bse = pd.DataFrame([r["bse"] for r in ok])
        block: dict[str, Any] = {"n_ok": len(ok), "n_failed": len(records) - len(ok),
                                 "seconds_median": float(np.median([r["seconds"] for r in ok])),
                                 "cpu_seconds_median": (
                                     float(np.median([r["cpu_seconds"] for r in ok]))
                                     if all("cpu_seconds" in r for r in ok) else None),
                                 "share_converged": float(np.mean([r["converged"] for r in ok]))}
        for name in HEADLINE:
            est, se = params[name], bse[name]
            z = (est - truth[name]) / se
            block[name] = {"truth": float(truth[name]),
                           "coverage_95": float((z.abs() <= 1.959964).mean()),
                           "bias": float((est - truth[name]).mean()),
                           "bias_se": float((est - truth[name]).std(ddof=1) / np.sqrt(len(est))),
                           "mean_se": float(se.mean()), "sd_estimates": float(est.std(ddof=1)),
                           "in_target_band": bool(0.92 <= (z.abs() <= 1.959964).mean() <= 0.98)}
        out[fit] = block
    if out["naive"].get("n_ok") and out["corrected"].get("n_ok"):
        out["time_ratio_corrected_over_naive"] = (out["corrected"]["seconds_median"]
                                                  / out["naive"]["seconds_median"])
    if out["naive"].get("n_ok") and out["corrected_reply"].get("n_ok"):
        out["time_ratio_corrected_reply_over_naive"] = (
            out["corrected_reply"]["seconds_median"] / out["naive"]["seconds_median"])
        if out["naive"]["cpu_seconds_median"] and out["corrected_reply"]["cpu_seconds_median"]:
            out["cpu_time_ratio_corrected_reply_over_naive"] = (
                out["corrected_reply"]["cpu_seconds_median"]
                / out["naive"]["cpu_seconds_median"])
    both = [r for r in records if "params" in r.get("naive", {})
            and "params" in r.get("corrected_reply", {})]
    if both:  # world by world: the reply process's estimate minus the naive one
        out["paired_corrected_reply_minus_naive"] = {
            name: {"mean": float(np.mean(diff)), "min": float(np.min(diff)),
                   "max": float(np.max(diff)), "n": len(diff)}
            for name in HEADLINE
            for diff in [[r["corrected_reply"]["params"][name] - r["naive"]["params"][name]
                          for r in both]]}
    out["classifier_accuracy_mean"] = float(np.mean([r["classifier_accuracy"] for r in records]))
    return out


# ------------------------------------------------------------------------------ isolation study
# What biases the corrected fit? Each variant changes one ingredient of the panel or of M:
#   labels  ``truth`` (true voice) or ``classifier``;
#   covariates (intervened, redress, peer_voice) built from the labelled panel (``labelled``:
#     brand replies to tweets labelled complaint), from any brand reply (``replied``), or the
#     simulator's true ones (``true``: replies to true complaints, true peer voice);
#   M  ``none`` (naive), ``oracle`` (the world's own confusion of all tweets, held fixed) or
#     ``estimated`` (the validation sample, jointly).
ISOLATION_VARIANTS: dict[str, tuple[str, str, str]] = {
    "true_labels_naive": ("truth", "labelled", "none"),
    "naive": ("classifier", "labelled", "none"),
    "corrected_oracle_m": ("classifier", "labelled", "oracle"),
    "corrected": ("classifier", "labelled", "estimated"),
    "corrected_oracle_m_true_covariates": ("classifier", "true", "oracle"),
    "corrected_true_covariates": ("classifier", "true", "estimated"),
    "corrected_oracle_m_replied": ("classifier", "replied", "oracle"),
}


def _covariates(panel: pd.DataFrame, world: simulate.World, source: str) -> pd.DataFrame:
    base = panel.drop(columns=[c for c in ("intervened", "redress", "peer_voice") if c in panel])
    if source == "labelled":
        return add_hmm_covariates(base)
    if source == "replied":
        return add_hmm_covariates(base.assign(answered_complaints=base["replies"]))
    true = world.states[["customer_id", "brand", "period", "intervened", "redress",
                         "peer_voice"]]
    out = base.merge(true, on=["customer_id", "brand", "period"], how="left",
                     validate="one_to_one")
    if out["intervened"].isna().any():
        raise ValueError("panel rows without a simulator state")
    return out


def isolation_world(args: tuple[int, int, int, int]) -> dict[str, Any]:
    """Fit every isolation variant on one world; γ, δ, η with standard errors."""
    seed, customers, starts, validation_size = args
    world = simulate.simulate_world(SimulateConfig(customers=customers, seed=seed))
    labels = classifier_labels(world)
    truth = world.voice.set_index("tweet_id")["voice"]
    true_v, label_v = truth.loc[labels.index].to_numpy(), labels.to_numpy()
    oracle = np.array([[((true_v == v) & (label_v == ell)).sum() for ell in VOICES]
                       for v in VOICES], dtype=float)
    oracle /= oracle.sum(axis=1, keepdims=True)
    validation = stratified_validation(labels, truth, validation_size,
                                       np.random.default_rng(seed + 7_000_000))
    panels = {"classifier": build_panel(voiced_from_truth(world, labels)),
              "truth": build_panel(voiced_from_truth(world))}
    replied = panels["truth"]
    merged = replied.merge(world.states[["customer_id", "brand", "period", "intervened"]],
                           on=["customer_id", "brand", "period"])
    record: dict[str, Any] = {
        "seed": seed, "oracle_m": oracle.round(4).tolist(),
        "share_periods_replied": float((merged["replies"] > 0).mean()),
        "share_periods_intervened": float(merged["intervened"].mean()),
        "share_periods_replied_without_true_answered_complaint": float(
            ((merged["replies"] > 0) & (merged["intervened"] == 0)).mean())}
    for name, (label_source, covariates, m) in ISOLATION_VARIANTS.items():
        panel = _covariates(panels[label_source], world, covariates)
        extra: dict[str, Any] = ({"validation": validation} if m == "estimated" else
                                 {"misclassification": oracle} if m == "oracle" else {})
        started = time.perf_counter()
        res = RelationshipHMM(n_starts=starts, random_state=seed, **extra).fit(panel).results_
        record[name] = {k: {"estimate": float(res.params[k]), "se": float(res.bse[k])}
                        for k in ("gamma", "delta", "eta")}
        record[name]["seconds"] = time.perf_counter() - started
        print(seed, name, {k: round(v["estimate"], 3) for k, v in record[name].items()
                           if isinstance(v, dict)}, flush=True)
    return record


def run_isolation(seeds: list[int], customers: int, starts: int, validation: int) -> None:
    """Write benchmarks/results/hmm_measurement_isolation.json."""
    started = time.perf_counter()
    records = [isolation_world((seed, customers, starts, validation)) for seed in seeds]
    truth = default_params().reported()
    summary = {name: {k: {"mean": float(np.mean([r[name][k]["estimate"] for r in records])),
                          "truth": float(truth[k])}
                      for k in ("gamma", "delta", "eta")}
               for name in ISOLATION_VARIANTS}
    write_result("hmm_measurement_isolation", {
        "settings": {"seeds": seeds, "customers": customers, "starts": starts,
                     "validation_sample": validation,
                     "variants": {k: dict(zip(("labels", "covariates", "misclassification"), v,
                                              strict=True))
                                  for k, v in ISOLATION_VARIANTS.items()}},
        "summary": summary, "worlds": records,
        "seconds_total": time.perf_counter() - started})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--validation", type=int, default=1000)
    parser.add_argument("--first-seed", type=int, default=5000)
    parser.add_argument("--resume", action="store_true",
                        help="reuse worlds already in the run log (same settings), run the rest")
    parser.add_argument("--summarise-only", action="store_true",
                        help="summarise the worlds already in the run log and stop")
    parser.add_argument("--minutes", type=float, default=None,
                        help="start no new world after this many minutes (worlds in progress "
                             "finish); the summary covers the worlds done")
    parser.add_argument("--name", default="hmm_measurement",
                        help="result name (benchmarks/results/<name>.json, run log <name>.jsonl)")
    parser.add_argument("--isolation", action="store_true",
                        help="run the isolation study (what biases the corrected fit) on "
                             "--worlds worlds of --customers customers instead")
    args = parser.parse_args()
    if args.isolation:
        run_isolation([args.first_seed + i for i in range(args.worlds)], args.customers,
                      args.starts, args.validation)
        return

    log = WORK_DIR / f"{args.name}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    deadline = time.time() + 60 * args.minutes if args.minutes else float("inf")
    tasks = [(args.first_seed + i, args.customers, args.starts, args.validation, deadline)
             for i in range(args.worlds)]
    records: list[dict[str, Any]] = []
    if (args.resume or args.summarise_only) and log.exists():
        wanted = {task[0] for task in tasks}
        records = [r for r in map(json.loads, log.read_text().splitlines())
                   if r["seed"] in wanted]
        done = {r["seed"] for r in records}
        tasks = [task for task in tasks if task[0] not in done]
    reused = len(records)
    if not args.summarise_only:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool, log.open(
                "a" if args.resume else "w") as handle:
            for record in pool.map(one_world, tasks):
                if record.get("skipped"):
                    continue
                records.append(record)
                handle.write(json.dumps(record) + "\n")
                handle.flush()
    records.sort(key=lambda r: r["seed"])
    summary = summarise(records)
    result = {
        "settings": {"worlds_requested": args.worlds, "worlds_done": len(records),
                     "minutes_budget": args.minutes,
                     "customers": args.customers, "weeks": SimulateConfig().weeks,
                     "starts": args.starts, "first_seed": args.first_seed,
                     "validation_sample": args.validation,
                     "validation_design": "stratified by predicted label, equal allocation, "
                                          "coded by an oracle from the true voice",
                     "labels": "RulesClassifier on the simulated texts",
                     "panel": "build_panel(voiced_from_truth(world, labels))",
                     "cov_type": "oim",
                     "corrected_start": "naive search from `starts` starts, then one corrected "
                                        "optimisation from the naive optimum translated "
                                        "through M (RelationshipHMM naive_start=True)",
                     "covariates": "naive and corrected: intervened/redress from brand replies "
                                   "to tweets labelled complaint (answered_complaints); "
                                   "corrected_reply: latent (reply process)",
                     "note": "small worlds (1,000 customers) to fit >= 100 worlds in time"},
        "targets": {"coverage_95": [0.92, 0.98], "abs_bias_gamma": 0.01,
                    "time_ratio_corrected_over_naive": 2.0},
        **summary,
        "seconds_total_this_run": time.perf_counter() - started,
        "worlds_reused_from_log": reused,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    previous = RESULTS_DIR / f"{args.name}.json"
    if previous.exists():
        # keep the summary of an earlier run on other worlds (e.g. more worlds, fewer fits)
        old = json.loads(previous.read_text())
        if args.summarise_only:  # the run's own time, not this summary's
            result["seconds_total_this_run"] = old.get("seconds_total_this_run")
            result["settings"]["minutes_budget"] = old.get("settings", {}).get("minutes_budget")
        if old.get("previous_run"):
            result["previous_run"] = old["previous_run"]
        elif old.get("settings", {}).get("worlds_done") != len(records) or any(
                fit not in old for fit in FITS):
            result["previous_run"] = old.get("previous_run") or {
                key: old[key] for key in ("settings", "finished_at_unix", *FITS,
                                          "time_ratio_corrected_over_naive")
                if key in old}
    path = write_result(args.name, result)
    print(json.dumps({k: summary[k] for k in FITS}, indent=1)[:3000])
    print(f"hmm_measurement: {len(records)} worlds → {path}")


if __name__ == "__main__":
    main()
