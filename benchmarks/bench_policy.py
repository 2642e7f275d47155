"""Policy simulation: do the intervals of the estimated policy contrasts cover the truth? (issue 17)

Each world is drawn from the structural model (default calibration, DESIGN.md §5; 1,000
customers × 26 weeks, brands answering 20–80% of complaints, a share of the replies fast) and
fitted with the latency cut-off (δ_fast) on its true-count panel. On every world:

* the **estimate**: :func:`complaintpanel.hmm.policy.simulate_policies` from the fit, with the
  settings given (few parameter draws and paths, as ``make all`` runs it);
* the **truth**: the same function at the *true* parameters (no parameter uncertainty, many
  paths), on the same populations (the world's customers, filtered under the true parameters;
  a new cohort of the same size) and horizons.

For each contrast (all − none, targeted − random, learning on − off, …) and metric the
benchmark reports how often the estimate's 95% confidence interval covers the true contrast
(target band 0.90–0.98 over ≥ 100 worlds), with the mean error and the ratio of the mean
standard error to the spread of the errors. δ_fast's Wald 95% interval coverage is reported
separately for worlds without a fast-reply effect (δ_fast = 0) and with one.

Writes benchmarks/results/policy.json. Run (100 worlds: 75 min wall with 2 jobs on a loaded
machine; the json records the median time of a world and the load):
``nice -n 5 .venv/bin/python benchmarks/bench_policy.py --worlds 100 --jobs 2``

Customers who differ (``--complaint-re-sd 0.6``): each world's customers carry a normal random
effect of that sd in the complaint log-rate, the fit has random intercepts, and the truth is
the policy simulation at the true parameters *and* the true sd — observed customers drawing
their effect from their posterior and starting from their end state filtered given it. Writes
``policy_heterogeneity.json`` (log ``work/policy_heterogeneity.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logit
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import WORK_DIR, peak_rss_mb, write_result
from complaintpanel.hmm import RelationshipHMM
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.policy import simulate_policies
from complaintpanel.hmm.results import RelationshipHMMResults, StartReport
from complaintpanel.model import (
    AnswerByLogit,
    GeneratorDraws,
    ModelParams,
    ModelSpec,
    default_params,
    simulate_histories,
)

LATENCY_HOURS = 2.0
FAST_SHARE = np.array([0.3, 0.5, 0.7])  # share of each brand's replies within the cut-off
REPLY_PROBS = np.array([0.2, 0.5, 0.8])
HEADLINE_METRICS = ("complaints", "compliments", "share_best")
TARGET_BAND = (0.90, 0.98)


def true_params(delta_fast: float) -> ModelParams:
    """Default calibration with a fast-reply term (neutral tweets are not modelled)."""
    spec = ModelSpec(n_states=3, transition_covariates=("intervened", "peer_voice",
                                                         "fast_reply"),
                     latency_hours=LATENCY_HOURS)
    return default_params().replace(neutral=None).with_spec(spec).replace(
        delta_fast=delta_fast)


def world_panel(params: ModelParams, customers: int, weeks: int, seed: int,
                complaint_re_sd: float = 0.0) -> pd.DataFrame:
    """A true-count panel drawn from ``params`` (as :func:`hmm.sample_panel`, with latency).

    ``complaint_re_sd > 0``: customers differ, each with a normal random effect of that sd in
    the complaint log-rate (from a stream of its own, so the rest of the world is the one
    drawn without it).
    """
    rng = np.random.default_rng(seed)
    arrival = rng.integers(0, max(1, weeks // 3), size=customers)
    brand = rng.integers(0, REPLY_PROBS.size, size=customers)
    rule = AnswerByLogit(brand_logit=logit(REPLY_PROBS), fast_share=FAST_SHARE)
    effect = None
    if complaint_re_sd > 0:
        effect = np.zeros((customers, 2))
        effect[:, 0] = complaint_re_sd * np.random.default_rng([seed, 7]).standard_normal(
            customers)
    h = simulate_histories(params, arrival, brand, weeks, rule, GeneratorDraws(rng),
                           voice_effect=effect)
    i, t = np.nonzero(h.state >= 0)
    frame = pd.DataFrame({
        "customer_id": np.char.add("c", i.astype(str)),
        "brand": np.char.add("brand", brand[i].astype(str)),
        "period": t.astype(np.int64), "state": h.state[i, t].astype(np.int64),
        "complaints": h.complaints[i, t].astype(np.int64),
        "compliments": h.compliments[i, t].astype(np.int64),
        "answered_complaints": h.answered[i, t].astype(np.int64),
        "peer_complaints": h.peer_complaints[i, t].astype(np.int64),
        "peer_compliments": h.peer_compliments[i, t].astype(np.int64),
        "intervened": h.intervened[i, t].astype(np.int8),
        "redress": h.redress[i, t].astype(np.int8), "peer_voice": h.peer_voice[i, t]})
    # a fast reply comes within the cut-off, a slow one after it
    frame["reply_latency_h"] = np.where(frame["intervened"] > 0,
                                        np.where(h.fast[i, t] > 0, 0.5, 6.0), np.nan)
    frame["unanswered_complaints"] = frame["complaints"] - frame["answered_complaints"]
    return frame.sort_values(["customer_id", "brand", "period"]).reset_index(drop=True)


def results_at(params: ModelParams, complaint_re_sd: float | None = None,
               heterogeneity: dict | None = None) -> RelationshipHMMResults:
    """Results whose estimate is ``params`` (for the truth: no parameter uncertainty used).

    With ``complaint_re_sd`` the random-intercept sd is appended to θ and ``heterogeneity``
    (the fit's block: nodes, adaptivity) carried, so the truth integrates as the fit does.
    """
    theta = ParamLayout(params.spec).from_natural(params)
    extra: dict = {}
    if complaint_re_sd is not None:
        theta = np.concatenate([theta, [complaint_re_sd]])
        extra["heterogeneity"] = dict(heterogeneity or {})
    return RelationshipHMMResults(
        spec=params.spec, theta=theta, cov_theta=np.eye(theta.size) * 1e-6, loglike=0.0,
        nobs=1, n_sequences=1, n_customers=1,
        starts=[StartReport(loglike=0.0, converged=True, n_iter=0, n_eval=0, message="",
                            seconds=0.0)], extra=extra)


def one_world(task: tuple[int, float, dict]) -> dict:
    seed, delta_fast, opts = task
    started = time.perf_counter()
    truth = true_params(delta_fast)
    re_sd = float(opts.get("complaint_re_sd", 0.0))
    panel = world_panel(truth, opts["customers"], opts["weeks"], seed, re_sd)
    try:
        fit = RelationshipHMM(n_starts=opts["starts"], random_state=seed,
                              latency_hours=LATENCY_HOURS,
                              heterogeneity="random_intercepts" if re_sd else "none"
                              ).fit(panel)
    except Exception as error:  # a failed world is reported, never silently dropped
        return {"seed": seed, "delta_fast_true": delta_fast, "error": repr(error),
                "settings": opts}
    res = fit.results_
    fitted = time.perf_counter()
    common = {"horizon": opts["horizon"], "cohort_horizon": opts["cohort_horizon"],
              "budget": opts["budget"], "objective": opts["objective"]}
    estimate = simulate_policies(res, panel, n_draws=opts["draws"], n_paths=opts["paths"],
                                 random_state=seed, **common)
    simulated = time.perf_counter()
    at_truth = (results_at(truth.with_spec(res.spec)) if not re_sd else
                results_at(truth.with_spec(res.spec), re_sd, res.extra["heterogeneity"]))
    true_out = simulate_policies(at_truth, panel, n_draws=0,
                                 n_paths=opts["truth_paths"], parameter_uncertainty=False,
                                 random_state=seed + 10**6, **common)
    keys = ["population", "contrast", "metric"]
    # (the truth's own simulation error is bounded in summarise(): with no parameter draws
    # simulate_policies gives no se)
    truth_rows = true_out.contrasts[[*keys, "estimate"]].rename(
        columns={"estimate": "estimate_true"})
    merged = estimate.contrasts.merge(truth_rows, on=keys)
    return {"seed": seed, "delta_fast_true": delta_fast,
            "delta_fast": float(res.params["delta_fast"]),
            "delta_fast_se": float(res.bse["delta_fast"]),
            "gamma": float(res.params["gamma"]), "delta": float(res.params["delta"]),
            **({"sigma": float(res.params["sigma[complaint]"]),
                "sigma_se": float(res.bse["sigma[complaint]"])}
               if re_sd else {}),
            "converged": bool(res.converged),
            "contrasts": merged[[*keys, "estimate", "se", "lower", "upper",
                                 "estimate_true"]].to_dict(orient="records"),
            "settings": opts,
            "seconds_fit": fitted - started, "seconds_policy": simulated - fitted,
            "seconds": time.perf_counter() - started}


def summarise(records: list[dict]) -> dict:
    ok = [r for r in records if "error" not in r]
    rows = pd.DataFrame([{**c, "seed": r["seed"]} for r in ok for c in r["contrasts"]])
    rows["covered"] = (rows["lower"] <= rows["estimate_true"]) & (
        rows["estimate_true"] <= rows["upper"])
    rows["error"] = rows["estimate"] - rows["estimate_true"]
    table = rows.groupby(["population", "contrast", "metric"], sort=False).agg(
        coverage_95=("covered", "mean"), mean_true=("estimate_true", "mean"),
        mean_estimate=("estimate", "mean"), mean_error=("error", "mean"),
        sd_error=("error", "std"), mean_se=("se", "mean"), worlds=("covered", "size"))
    table["se_over_sd_error"] = table["mean_se"] / table["sd_error"]
    table["in_target_band"] = table["coverage_95"].between(*TARGET_BAND)
    headline = table.reset_index()
    headline = headline[headline["metric"].isin(HEADLINE_METRICS)]
    fast = pd.DataFrame([{k: r[k] for k in ("delta_fast_true", "delta_fast", "delta_fast_se")}
                         for r in ok])
    fast["covered"] = (fast["delta_fast"] - fast["delta_fast_true"]).abs() <= (
        1.959964 * fast["delta_fast_se"])
    delta_fast = {
        f"delta_fast_true={value:g}": {
            "worlds": len(group), "coverage_95": float(group["covered"].mean()),
            "mean_estimate": float(group["delta_fast"].mean()),
            "sd_estimate": float(group["delta_fast"].std(ddof=1)),
            "mean_se": float(group["delta_fast_se"].mean()),
            "share_significant_5pct": float(
                (group["delta_fast"].abs() > 1.959964 * group["delta_fast_se"]).mean())}
        for value, group in fast.groupby("delta_fast_true")}
    # The truth is itself a mean of simulated paths. Its simulation variance is the per-path
    # variance / truth_paths, while the estimate's se^2 holds at least the per-path variance /
    # paths (its own simulation error), so sd(truth) / se <= sqrt(paths / truth_paths): a 95%
    # interval judged against the noisy truth covers at least P(|Z| <= 1.96 / sqrt(1 + r^2)).
    opts = ok[0]["settings"] if ok else {}
    ratio = (float(np.sqrt(opts["paths"] / opts["truth_paths"]))
             if {"paths", "truth_paths"} <= set(opts) else float("nan"))
    floor = float(2 * norm.cdf(1.959964 / np.sqrt(1 + ratio**2)) - 1)
    return {
        "truth_noise": {"truth_sd_over_se_at_most": round(ratio, 4),
                        "coverage_of_an_exact_95pct_interval_at_least": round(floor, 4)},
        "n_worlds": len(records), "n_failed": len(records) - len(ok),
        "failures": [r for r in records if "error" in r],
        "share_converged": float(np.mean([r["converged"] for r in ok])),
        "headline_coverage": {
            f"{r.population}/{r.contrast}/{r.metric}": round(float(r.coverage_95), 3)
            for r in headline.itertuples()},
        "share_headline_in_target_band": float(headline["in_target_band"].mean()),
        "headline_coverage_min": float(headline["coverage_95"].min()),
        "headline_coverage_median": float(headline["coverage_95"].median()),
        "headline_coverage_max": float(headline["coverage_95"].max()),
        "contrasts": [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                      for row in table.reset_index().to_dict(orient="records")],
        "delta_fast": delta_fast,
        "seconds_per_world_median": float(np.median([r["seconds"] for r in ok])),
        "seconds_fit_median": float(np.median([r["seconds_fit"] for r in ok])),
        "seconds_policy_median": float(np.median([r["seconds_policy"] for r in ok])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--starts", type=int, default=1)
    parser.add_argument("--draws", type=int, default=20, help="as the package default")
    parser.add_argument("--paths", type=int, default=2)
    parser.add_argument("--truth-paths", type=int, default=48)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--cohort-horizon", type=int, default=26)
    parser.add_argument("--budget", type=float, default=0.1)
    parser.add_argument("--objective", default="good_share")
    parser.add_argument("--fast-effect", type=float, default=0.6,
                        help="δ_fast of the worlds with a fast-reply effect (half the worlds)")
    parser.add_argument("--complaint-re-sd", type=float, default=0.0,
                        help="customers differ: a complaint random effect of this sd in the "
                             "worlds, fitted with random intercepts; writes "
                             "policy_heterogeneity.json")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=5000)
    parser.add_argument("--resume", action="store_true",
                        help="reuse worlds already in the run log (same settings), run the rest")
    parser.add_argument("--summarise-only", action="store_true",
                        help="write the result from the worlds already in the run log")
    args = parser.parse_args()
    opts = {k: getattr(args, k) for k in ("customers", "weeks", "starts", "draws", "paths",
                                          "truth_paths", "horizon", "cohort_horizon",
                                          "budget", "objective")}
    name = "policy"
    if args.complaint_re_sd:
        opts["complaint_re_sd"] = args.complaint_re_sd
        name = "policy_heterogeneity"
    log = WORK_DIR / f"{name}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    tasks = [(args.first_seed + i, args.fast_effect if i % 2 else 0.0, opts)
             for i in range(args.worlds)]
    records: list[dict] = []
    if (args.resume or args.summarise_only) and log.exists():
        wanted = {task[0] for task in tasks}
        # only worlds run with these very settings (a log from other settings is not reused)
        records = [r for r in map(json.loads, log.read_text().splitlines())
                   if r["seed"] in wanted and r.get("settings") == opts]
        done = {r["seed"] for r in records}
        tasks = [task for task in tasks if task[0] not in done]
    reused = len(records)
    if args.summarise_only:
        tasks = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool, log.open(
            "a" if args.resume or args.summarise_only else "w") as handle:
        for record in pool.map(one_world, tasks):
            records.append(record)
            handle.write(json.dumps(record) + "\n")
            handle.flush()
    records.sort(key=lambda r: r["seed"])
    summary = summarise(records)
    result = {
        "settings": {**opts, "worlds_asked": args.worlds, "first_seed": args.first_seed,
                     "latency_hours": LATENCY_HOURS, "fast_share": FAST_SHARE.tolist(),
                     "reply_probs": REPLY_PROBS.tolist(),
                     "delta_fast_of_worlds": [0.0, args.fast_effect],
                     "panel": "true voice counts drawn from the structural model"
                              + (f"; customers differ: complaint random effect sd "
                                 f"{args.complaint_re_sd:g}, fitted with random intercepts"
                                 if args.complaint_re_sd else ""),
                     "truth": "simulate_policies at the true parameters, no parameter "
                              "uncertainty, truth_paths paths, same populations"},
        "target_coverage_band": list(TARGET_BAND),
        **summary,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "seconds_total_this_run": time.perf_counter() - started,
        "worlds_reused_from_log": reused,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    path = write_result(name, result)
    print(f"policy: {summary['n_worlds']} worlds; headline contrasts in the target band: "
          f"{summary['share_headline_in_target_band']:.2f}; δ_fast: "
          + ", ".join(f"{k} coverage {v['coverage_95']:.2f}"
                      for k, v in summary["delta_fast"].items()) + f" → {path}")


if __name__ == "__main__":
    main()
