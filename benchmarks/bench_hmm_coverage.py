"""Relationship HMM: 95%-interval coverage and bias over many simulated worlds (issue 8).

Each world is drawn by the simulator with its own seed (default calibration, DESIGN.md §5)
and fitted on its true-count panel (``truth/states``) from several starts. For every parameter
the benchmark reports how often the Wald 95% interval (observed information) covers the truth,
the mean bias, the standard deviation of the estimates and the mean standard error. Target:
coverage of γ and δ within 0.92–0.98 over ≥ 100 worlds (with 100 worlds, a true 95% coverage
lands in 0.91–0.99 with 95% probability, so the target band is a check at that resolution).

Writes benchmarks/results/hmm_coverage.json. Run:
``.venv/bin/python benchmarks/bench_hmm_coverage.py --worlds 100 --customers 1000 --jobs 2``
(``--endogenous`` draws worlds with state-dependent replies and fits the reply model).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import WORK_DIR, peak_rss_mb, write_result
from complaintpanel import simulate
from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import RelationshipHMM
from complaintpanel.model import default_params

HEADLINE = ("gamma", "delta")


def truth_series(endogenous: bool) -> pd.Series:
    truth = default_params().reported()  # named as the estimator reports its parameters
    if endogenous:
        shift = simulate.ENDOGENOUS_LOGIT_SHIFT
        for brand in simulate.brand_policies(SimulateConfig().brands):
            truth[f"rho[{brand.handle}]"] = float(logit(brand.reply_prob)) + shift
        truth["psi[fair]"] = -shift
        truth["psi[good]"] = -2 * shift
    return truth


def one_world(args: tuple[int, int, int, bool]) -> dict:
    seed, customers, starts, endogenous = args
    started = time.perf_counter()
    world = simulate.simulate_world(SimulateConfig(customers=customers, seed=seed,
                                                   endogenous_replies=endogenous))
    try:
        fit = RelationshipHMM(n_starts=starts, random_state=seed,
                              reply_model=endogenous).fit(world.states)
    except Exception as error:  # a failed world is reported, never silently dropped
        return {"seed": seed, "error": repr(error)}
    res = fit.results_
    return {"seed": seed, "params": res.params.to_dict(), "bse": res.bse.to_dict(),
            "loglike": res.loglike, "n_starts_converged": res.n_starts_converged,
            "n_starts": res.n_starts,
            "converged": res.converged, "hessian_ok": res.hessian_ok,
            "seconds": time.perf_counter() - started}


def summarise(records: list[dict], truth: pd.Series) -> dict:
    ok = [r for r in records if "error" not in r]
    params = pd.DataFrame([r["params"] for r in ok])
    bse = pd.DataFrame([r["bse"] for r in ok])
    truth = truth.reindex(params.columns)
    z = (params - truth) / bse
    table = pd.DataFrame({
        "truth": truth,
        "coverage_95": (z.abs() <= 1.959964).mean(),
        "bias": (params - truth).mean(),
        "bias_se": (params - truth).std(ddof=1) / np.sqrt(len(params)),
        "sd_estimates": params.std(ddof=1),
        "mean_se": bse.mean(),
        "median_abs_z": z.abs().median(),
    })
    table["se_over_sd"] = table["mean_se"] / table["sd_estimates"]
    headline = {name: {"coverage_95": float(table.loc[name, "coverage_95"]),
                       "bias": float(table.loc[name, "bias"]),
                       "bias_se": float(table.loc[name, "bias_se"]),
                       "mean_se": float(table.loc[name, "mean_se"]),
                       "sd_estimates": float(table.loc[name, "sd_estimates"]),
                       "in_target_band": bool(0.92 <= table.loc[name, "coverage_95"] <= 0.98)}
                for name in HEADLINE}
    return {
        "n_worlds": len(records), "n_failed": len(records) - len(ok),
        "failures": [r for r in records if "error" in r],
        "share_all_starts_at_best": float(np.mean([r["n_starts_converged"] == r["n_starts"]
                                                   for r in ok])),
        "share_converged": float(np.mean([r["converged"] for r in ok])),
        "headline": headline,
        "per_parameter": {name: {k: float(v) for k, v in row.items()}
                          for name, row in table.iterrows()},
        "seconds_per_world_median": float(np.median([r["seconds"] for r in ok])),
        "seconds_worlds_sum": float(np.sum([r["seconds"] for r in ok])),
        # consecutive blocks of 100 worlds, to show how much coverage moves by chance alone
        "coverage_by_block_of_100": [
            {name: float((z[name].iloc[start:start + 100].abs() <= 1.959964).mean())
             for name in HEADLINE} | {"first_seed": int(ok[start]["seed"]),
                                      "worlds": len(z.iloc[start:start + 100])}
            for start in range(0, len(ok), 100)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--endogenous", action="store_true")
    parser.add_argument("--resume", action="store_true",
                        help="reuse worlds already in the run log (same settings), run the rest")
    args = parser.parse_args()

    name = "hmm_coverage" + ("_endogenous" if args.endogenous else "")
    log = WORK_DIR / f"{name}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    tasks = [(args.first_seed + i, args.customers, args.starts, args.endogenous)
             for i in range(args.worlds)]
    records = []
    if args.resume and log.exists():
        wanted = {task[0] for task in tasks}
        records = sorted((r for r in map(json.loads, log.read_text().splitlines())
                          if r["seed"] in wanted), key=lambda r: r["seed"])
        done = {r["seed"] for r in records}
        tasks = [task for task in tasks if task[0] not in done]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool, log.open(
            "a" if args.resume else "w") as handle:
        reused = len(records)
        for record in pool.map(one_world, tasks):
            records.append(record)
            handle.write(json.dumps(record) + "\n")
            handle.flush()
    records.sort(key=lambda r: r["seed"])
    summary = summarise(records, truth_series(args.endogenous))
    result = {
        "settings": {"worlds": args.worlds, "customers": args.customers,
                     "weeks": SimulateConfig().weeks, "starts": args.starts,
                     "first_seed": args.first_seed, "endogenous_replies": args.endogenous,
                     "reply_model": args.endogenous, "cov_type": "oim",
                     "panel": "truth/states (true voice counts)"},
        "target_coverage_band": [0.92, 0.98],
        **summary,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "seconds_total_this_run": time.perf_counter() - started,
        "worlds_reused_from_log": reused,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    path = write_result(name, result)
    head = summary["headline"]
    print(f"{name}: {summary['n_worlds']} worlds × {args.customers} customers; coverage γ "
          f"{head['gamma']['coverage_95']:.2f} (bias {head['gamma']['bias']:+.4f}), δ "
          f"{head['delta']['coverage_95']:.2f} (bias {head['delta']['bias']:+.4f}) → {path}")


if __name__ == "__main__":
    main()
