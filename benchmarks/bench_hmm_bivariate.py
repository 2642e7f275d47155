"""Cost and accuracy of the bivariate random intercepts (issue 16, complaint and compliment).

Four measurements, each printed as JSON (and written with ``--write``):

* ``speed``: one log-likelihood + gradient on a 20,000 × 26 panel: homogeneous, univariate
  intercept with 9 adaptive nodes, bivariate with 5², 7², 9² adaptive nodes (interleaved
  repeats, medians; the machine is shared, so ratios of pairs are reported beside);
* ``accuracy``: the adaptive bivariate log-likelihood at the truth of a 1,000-customer world
  (complaint sd 0.6, compliment sd 0.5, corr 0.3) by nodes per dimension, against 13²;
* ``fit``: a bivariate fit (7² nodes, 2 starts) on a 1,000-customer world, wall and CPU time;
* ``coverage``: many 1,000-customer worlds drawn with those intercepts, each fitted with the
  bivariate model (7² nodes, 2 starts): how often the 95 % interval of each reported parameter
  (γ, δ, both σ, their correlation) covers that world's truth — γ and δ of the world, σ and
  the correlation the intercepts were drawn with — with the Monte Carlo SE of the coverage, the
  bias, the spread of the estimates beside the mean SE, and the share converged. Worlds go to a
  log (``benchmarks/work/hmm_bivariate_coverage.jsonl``; a rerun adds worlds to it) and stop
  being started after ``--budget-minutes``; a failed fit is counted, never dropped.

Run: ``nice -n 5 .venv/bin/python benchmarks/bench_hmm_bivariate.py
[speed|accuracy|fit|coverage] [--write]`` (coverage: ``--worlds 100 --jobs 2 --budget-minutes
50``); with no measurement named (``make bench``) all four run and are written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script by `make bench`

from benchmarks._common import WORK_DIR, write_result
from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import ParamLayout, RelationshipHMM, prepare_panel, sample_panel
from complaintpanel.hmm.heterogeneity import (
    BivariateRandomIntercepts,
    RandomIntercepts,
    start_from_homogeneous,
    start_from_homogeneous_bivariate,
)
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.model import default_params
from complaintpanel.simulate import simulate_world

SD_C, SD_P, CORR = 0.6, 0.5, 0.3
CHOL = (SD_C, CORR * SD_P, float(np.sqrt(1 - CORR**2)) * SD_P)


def speed(customers: int = 20_000, weeks: int = 26, repeats: int = 3,
          grids: tuple[int, ...] = (5, 7, 9)) -> dict[str, Any]:
    """Seconds of one log-likelihood + gradient by model (medians of interleaved repeats)."""
    params = default_params()
    panel = sample_panel(params, customers, weeks, random_state=1)
    model = RelationshipHMM()
    spec = model.make_spec()
    data = prepare_panel(panel, spec)
    layout = ParamLayout(spec)
    theta = layout.from_natural(params.with_spec(spec))
    chunks = data.chunks(model.chunk_size)
    runs: dict[str, Any] = {"homogeneous": lambda: evaluate(theta, layout, chunks)}
    uni = RandomIntercepts.from_data(layout, data, chunk_size=model.chunk_size, n_nodes=9)
    uni_theta = start_from_homogeneous(theta, layout, SD_C)
    uni.adapt(uni_theta)
    runs["univariate_9"] = lambda: uni.evaluate(uni_theta)
    bi_theta = start_from_homogeneous_bivariate(theta, layout, CHOL)
    for n in grids:
        bi = BivariateRandomIntercepts.from_data(layout, data, chunk_size=model.chunk_size,
                                                 n_nodes=n)
        bi.adapt(bi_theta)
        runs[f"bivariate_{n}x{n}"] = (lambda m=bi: m.evaluate(bi_theta))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            begun = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - begun)
    base = np.asarray(times["homogeneous"])
    return {"customers": customers, "weeks": weeks, "customer_periods": int(data.nobs),
            "seconds_median": {k: float(np.median(v)) for k, v in times.items()},
            "ratio_to_homogeneous_median_of_pairs": {
                k: float(np.median(np.asarray(v) / base)) for k, v in times.items()},
            "repeats": repeats, "load_average_1m": os.getloadavg()[0]}


def accuracy(customers: int = 1000, nodes: tuple[int, ...] = (3, 5, 7, 9, 11),
             reference: int = 13) -> dict[str, Any]:
    """Adaptive bivariate log-likelihood at the truth by nodes per dimension."""
    world = simulate_world(SimulateConfig(customers=customers, seed=3, complaint_re_sd=SD_C,
                                          compliment_re_sd=SD_P, re_corr=CORR))
    spec = RelationshipHMM().make_spec()
    data = prepare_panel(world.states, spec)
    layout = ParamLayout(spec)
    theta = np.append(layout.from_natural(default_params().with_spec(spec)), CHOL)
    out: dict[str, float] = {}
    for n in (*nodes, reference):
        model = BivariateRandomIntercepts.from_data(layout, data, n_nodes=n)
        out[str(n)] = model.adapt(theta).loglik
        plain = BivariateRandomIntercepts.from_data(layout, data, n_nodes=n, adaptive=False)
        out[f"{n}_plain"] = plain.evaluate(theta, gradient=False).loglik
    ref = out[str(reference)]
    return {"customers": customers, "loglik": out,
            "error_vs_reference": {k: v - ref for k, v in out.items()}}


def fit(customers: int = 1000, nodes: int = 7, seed: int = 1) -> dict[str, Any]:
    """Time a bivariate fit (homogeneous starts first, then the random-intercept fit)."""
    world = simulate_world(SimulateConfig(customers=customers, seed=seed,
                                          complaint_re_sd=SD_C, compliment_re_sd=SD_P,
                                          re_corr=CORR))
    wall, cpu = time.perf_counter(), time.process_time()
    model = RelationshipHMM(heterogeneity="random_intercepts",
                            random_intercepts=("complaint", "compliment"),
                            bivariate_nodes=nodes, n_starts=2, random_state=0)
    res = model.fit(world.states).results_
    info = res.extra["heterogeneity"]
    names = ["gamma", "delta", "sigma[complaint]", "sigma[compliment]",
             "corr[complaint,compliment]"]
    return {"customers": customers, "nodes": nodes,
            "wall_seconds": time.perf_counter() - wall,
            "cpu_seconds": time.process_time() - cpu,
            "homogeneous_seconds": info["homogeneous"]["fit_seconds"],
            "random_intercepts_seconds": info["random_intercepts_seconds"],
            "rounds": info["adaptation_rounds"], "n_iter": info["n_iter"],
            "n_eval": info["n_eval"], "hessian_ok": res.hessian_ok,
            "params": {k: float(res.params[k]) for k in names},
            "bse": {k: float(res.bse[k]) for k in names},
            "bic": res.bic, "bic_homogeneous": info["homogeneous"]["bic"],
            "load_average_1m": os.getloadavg()[0]}


NAMES = ("gamma", "delta", "sigma[complaint]", "sigma[compliment]",
         "corr[complaint,compliment]")
Z95 = 1.959964
COVERAGE_LOG = WORK_DIR / "hmm_bivariate_coverage.jsonl"
# The band every HMM coverage study of the project is judged against (set before it ran).
TARGET_BAND = (0.92, 0.98)


def coverage_world(args: tuple[int, int, int]) -> dict[str, Any]:
    """Fit one world drawn with the bivariate intercepts; a failure is recorded, not dropped."""
    seed, customers, nodes = args
    started, cpu_started = time.perf_counter(), time.process_time()
    world = simulate_world(SimulateConfig(customers=customers, seed=seed,
                                          complaint_re_sd=SD_C, compliment_re_sd=SD_P,
                                          re_corr=CORR))
    truth = {"gamma": float(world.params.gamma), "delta": float(world.params.delta),
             "sigma[complaint]": SD_C, "sigma[compliment]": SD_P,
             "corr[complaint,compliment]": CORR}
    try:
        res = RelationshipHMM(heterogeneity="random_intercepts",
                              random_intercepts=("complaint", "compliment"),
                              bivariate_nodes=nodes, n_starts=2,
                              random_state=seed).fit(world.states).results_
    except Exception as error:  # counted in the summary
        return {"seed": seed, "truth": truth, "error": repr(error)}
    return {"seed": seed, "truth": truth,
            "params": {k: float(res.params[k]) for k in NAMES},
            "bse": {k: float(res.bse[k]) for k in NAMES},
            "converged": bool(res.converged), "hessian_ok": bool(res.hessian_ok),
            "held_at_edge": list(res.held_at_edge),
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started}


def summarise_coverage(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage of each parameter's 95 % interval, each world against its own truth."""
    ok = [r for r in records if "error" not in r]
    out: dict[str, Any] = {"n_worlds": len(records), "n_failed": len(records) - len(ok),
                           "failures": [r for r in records if "error" in r]}
    if not ok:
        return out
    for name in NAMES:
        est = np.array([r["params"][name] for r in ok])
        se = np.array([r["bse"][name] for r in ok])
        truth = np.array([r["truth"][name] for r in ok])
        finite = np.isfinite(se)
        cover = float((np.abs(est - truth)[finite] <= Z95 * se[finite]).mean())
        n = int(finite.sum())
        out[name] = {"truth_mean": float(truth.mean()), "coverage_95": cover,
                     "coverage_mc_se": float(np.sqrt(max(cover * (1 - cover), 1e-12) / n)),
                     "worlds_with_se": n, "bias": float((est - truth).mean()),
                     "bias_se": float((est - truth).std(ddof=1) / np.sqrt(len(ok))),
                     "sd_estimates": float(est.std(ddof=1)),
                     "mean_se": float(se[finite].mean()),
                     "in_target_band": bool(TARGET_BAND[0] <= cover <= TARGET_BAND[1])}
    out["share_converged"] = float(np.mean([r["converged"] for r in ok]))
    out["share_hessian_ok"] = float(np.mean([r["hessian_ok"] for r in ok]))
    out["cpu_seconds_per_world_median"] = float(np.median([r["cpu_seconds"] for r in ok]))
    return out


def coverage(worlds: int, customers: int, nodes: int, jobs: int, budget_minutes: float,
             first_seed: int = 2000) -> dict[str, Any]:
    """Run worlds (resuming the log) until ``worlds`` are done or the budget is spent."""
    COVERAGE_LOG.parent.mkdir(parents=True, exist_ok=True)
    done = ([json.loads(line) for line in COVERAGE_LOG.read_text().splitlines() if line]
            if COVERAGE_LOG.exists() else [])
    seen = {r["seed"] for r in done}
    queue = [(seed, customers, nodes) for seed in range(first_seed, first_seed + worlds)
             if seed not in seen]
    deadline = time.monotonic() + 60 * budget_minutes
    with ProcessPoolExecutor(max_workers=jobs) as pool, COVERAGE_LOG.open("a") as log:
        running: set[Future[dict[str, Any]]] = set()
        while queue or running:
            while queue and len(running) < jobs and time.monotonic() < deadline:
                running.add(pool.submit(coverage_world, queue.pop(0)))
            if not running:
                break
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                record = future.result()
                done.append(record)
                log.write(json.dumps(record) + "\n")
                log.flush()
    asked = range(first_seed, first_seed + worlds)
    summary = summarise_coverage([r for r in done if r["seed"] in asked])  # the log may hold more
    return {"design": {"customers": customers, "nodes": nodes, "starts": 2,
                       "sd_complaint": SD_C, "sd_compliment": SD_P, "corr": CORR,
                       "planned_worlds": worlds, "worlds_not_run_budget": len(queue),
                       "budget_minutes": budget_minutes, "first_seed": first_seed},
            "target_coverage_band": list(TARGET_BAND),
            **summary}


def main() -> None:
    """Run one measurement and print it (``--write`` also stores it under results/).

    Without a measurement (``make bench``) all four run and are written: the fit with 7, 5 and
    9 nodes per dimension, the coverage study resumed from its log.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="all",
                        choices=("all", "speed", "accuracy", "fit", "coverage"))
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--nodes", type=int, nargs="+", default=None,
                        help="fit: nodes per dimension (one fit each, same world; default 7, "
                             "and 7 5 9 when all run); coverage: the first (default 7)")
    parser.add_argument("--customers", type=int, default=1000, help="fit, coverage: world size")
    parser.add_argument("--worlds", type=int, default=200, help="coverage: worlds")
    parser.add_argument("--jobs", type=int, default=2, help="coverage: worlds at once")
    parser.add_argument("--budget-minutes", type=float, default=50.0,
                        help="coverage: start no world after this long")
    args = parser.parse_args()
    every = args.what == "all"
    for what in ("speed", "accuracy", "fit", "coverage") if every else (args.what,):
        if what == "fit":
            nodes = args.nodes or ([7, 5, 9] if every else [7])
            result = {"fits": [fit(args.customers, n) for n in nodes]}
        elif what == "coverage":
            result = coverage(args.worlds, args.customers, (args.nodes or [7])[0], args.jobs,
                              args.budget_minutes)
        else:
            result = {"speed": speed, "accuracy": accuracy}[what]()
        print(json.dumps(result, indent=2))
        if args.write or every:
            write_result(f"hmm_bivariate_{what}", result)


if __name__ == "__main__":
    main()
