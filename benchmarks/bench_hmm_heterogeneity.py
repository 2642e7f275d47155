"""Customers differ (issue 16): the random-intercept HMM against the homogeneous one.

Worlds are drawn by the simulator with a customer random effect of standard deviation ``sd``
in the complaint log-rate (``[simulate] complaint_re_sd``) and fitted on their true-count
panels (``truth/states``: oracle voice, so heterogeneity is isolated from misclassification),
first homogeneously, then with random intercepts from the homogeneous optimum (one
:class:`~complaintpanel.hmm.RelationshipHMM` fit with ``heterogeneity="random_intercepts"``
gives both). Per model and sd: 95%-interval coverage, bias, sd of the estimates and mean SE
of γ and δ; σ̂; how often BIC picks the random intercepts. Worlds with sd = 0 show σ̂ on
homogeneous worlds.

Speed: one log-likelihood + gradient of the random-intercept model (9 adaptive nodes) on a
20,000-customer × 26-week panel against the homogeneous evaluation (target ≤ 12×), and a full
fit on the default world (4,000 customers) with random intercepts (target ≤ 3 minutes).

Latent classes (``--classes N``, run on its own): N worlds with two δ classes
(``[simulate] delta_classes``, default 0.4 and 2.0, equal shares) fitted with
``heterogeneity="classes"``: per class, coverage of the 95% interval of δ, bias, the share of
worlds where both δ are within 3 SE (issue 16 target), and how often BIC picks the classes. It
updates the ``classes`` block of the json and keeps the rest.

Writes benchmarks/results/hmm_heterogeneity.json from the run log
benchmarks/work/hmm_heterogeneity.jsonl (git-ignored; one world a line, each with its own
truth γ, δ, σ). Run, and extend later with ``--resume`` (worlds already in the log are kept,
the same seeds follow):
``nice -n 5 .venv/bin/python benchmarks/bench_hmm_heterogeneity.py --worlds 100
--worlds-large 100 --worlds-homogeneous 100 --jobs 1 --sequential --resume``
(``--resume`` is the default when the log exists, ``--fresh`` starts over; ``--only-sd`` takes
one sd; ``--budget-minutes`` stops taking new worlds after that long; ``--summarise-only``
rewrites the json from the log.)
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
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS_DIR, WORK_DIR, peak_rss_mb, write_result
from complaintpanel import simulate
from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import ParamLayout, RelationshipHMM, prepare_panel, sample_panel
from complaintpanel.hmm.heterogeneity import (
    RandomIntercepts,
    fit_random_intercepts,
    start_from_homogeneous,
)
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.model import default_params

HEADLINE = ("gamma", "delta")
Z95 = 1.959964


def one_world(args: tuple[int, float, int, int]) -> dict[str, Any]:
    """Fit one world both ways; a failure is reported, never dropped."""
    seed, sd, customers, starts = args
    started, cpu_started = time.perf_counter(), time.process_time()
    world = simulate.simulate_world(SimulateConfig(customers=customers, seed=seed,
                                                   complaint_re_sd=sd))
    truth = world_truth(world)
    try:
        fit = RelationshipHMM(n_starts=starts, random_state=seed,
                              heterogeneity="random_intercepts").fit(world.states)
    except Exception as error:  # recorded in the results
        return {"seed": seed, "sd": sd, "truth": truth, "error": repr(error)}
    res = fit.results_
    info = res.extra["heterogeneity"]
    homogeneous = info["homogeneous"]
    names = [*HEADLINE, "sigma[complaint]"]
    return {
        "seed": seed, "sd": sd, "truth": truth,
        "random_intercepts": {"params": {k: float(res.params[k]) for k in names},
                              "bse": {k: float(res.bse[k]) for k in names},
                              "loglike": res.loglike, "bic": res.bic,
                              "converged": res.converged, "hessian_ok": res.hessian_ok,
                              "adaptation_rounds": info["adaptation_rounds"],
                              "optimiser": info["optimiser"],
                              "information": info["information"],
                              "n_iter": info["n_iter"], "n_eval": info["n_eval"],
                              "seconds": info["random_intercepts_seconds"]},
        "homogeneous": {"params": {k: homogeneous["params"][k] for k in HEADLINE},
                        "bse": {k: homogeneous["bse"][k] for k in HEADLINE},
                        "loglike": homogeneous["loglike"], "bic": homogeneous["bic"],
                        "seconds": homogeneous["fit_seconds"]},
        "bic_selects": info["bic_selects"],
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "load_average_1m": os.getloadavg()[0],
    }


def world_truth(world: simulate.World) -> dict[str, float]:
    """The world's own γ, δ and σ (the sd it was drawn with), and the drawn effects' sd."""
    truth = {"gamma": float(world.params.gamma), "delta": float(world.params.delta),
             "sigma[complaint]": float(world.spec.complaint_re_sd)}
    if world.customers is not None and "complaint_effect" in world.customers:
        effects = world.customers.drop_duplicates("customer_id")["complaint_effect"]
        truth["sigma_drawn"] = float(effects.std(ddof=1))
    return truth


def one_class_world(args: tuple[int, tuple[float, ...], int, int]) -> dict[str, Any]:
    """Fit one two-class δ world with the class model; a failure is reported, never dropped."""
    seed, deltas, customers, starts = args
    started = time.perf_counter()
    world = simulate.simulate_world(SimulateConfig(customers=customers, seed=seed,
                                                   delta_classes=deltas))
    try:
        fit = RelationshipHMM(n_starts=starts, random_state=seed, heterogeneity="classes",
                              classes=len(deltas)).fit(world.states)
    except Exception as error:  # recorded in the results
        return {"seed": seed, "deltas": list(deltas), "error": repr(error)}
    res = fit.results_
    info = res.extra["heterogeneity"]
    names = ["gamma", "delta", *[f"delta[class{c}]" for c in range(1, len(deltas))],
             *[f"share[class{c}]" for c in range(len(deltas))]]
    return {
        "seed": seed, "deltas": list(deltas),
        "classes": {"params": {k: float(res.params[k]) for k in names},
                    "bse": {k: float(res.bse[k]) for k in names},
                    "loglike": res.loglike, "bic": res.bic, "converged": res.converged,
                    "hessian_ok": res.hessian_ok, "start_loglikes": info["start_loglikes"],
                    "mean_max_posterior": info["mean_max_posterior"],
                    "seconds": info["classes_seconds"]},
        "homogeneous": {"params": {k: info["homogeneous"]["params"][k]
                                   for k in ("gamma", "delta")},
                        "bic": info["homogeneous"]["bic"],
                        "seconds": info["homogeneous"]["fit_seconds"]},
        "bic_selects": info["bic_selects"],
        "seconds": time.perf_counter() - started,
    }


def summarise_classes(records: list[dict[str, Any]], deltas: tuple[float, ...]
                      ) -> dict[str, Any]:
    """Coverage, bias and the within-3-SE share of each class's δ over the class worlds."""
    ok = [r for r in records if "classes" in r]
    out: dict[str, Any] = {"deltas": list(deltas), "n_worlds": len(ok),
                           "n_failed": len(records) - len(ok)}
    if not ok:
        return out
    within = np.ones(len(ok), dtype=bool)
    for c, truth in enumerate(deltas):
        name = "delta" if c == 0 else f"delta[class{c}]"
        est = np.array([r["classes"]["params"][name] for r in ok])
        se = np.array([r["classes"]["bse"][name] for r in ok])
        z = (est - truth) / se
        within &= np.abs(z) < 3
        out[f"class{c}"] = {
            "truth": truth, "mean": float(est.mean()), "bias": float(est.mean() - truth),
            "bias_mc_se": float(est.std(ddof=1) / np.sqrt(len(ok))) if len(ok) > 1 else None,
            "median": float(np.median(est)), "sd": float(est.std(ddof=1)) if len(ok) > 1
            else None, "mean_se": float(se.mean()), "median_se": float(np.median(se)),
            "coverage_95": float(np.mean(np.abs(z) < Z95)),
            "within_3se": float(np.mean(np.abs(z) < 3)),
        }
    shares = np.array([r["classes"]["params"]["share[class0]"] for r in ok])
    out["share_class0"] = {"mean": float(shares.mean()), "truth": 1 / len(deltas)}
    out["both_within_3se"] = float(within.mean())
    out["homogeneous_delta_mean"] = float(np.mean([r["homogeneous"]["params"]["delta"]
                                                   for r in ok]))
    out["bic_picks_classes"] = float(np.mean([r["bic_selects"] == "classes" for r in ok]))
    out["converged"] = float(np.mean([r["classes"]["converged"] for r in ok]))
    out["mean_seconds_classes_fit"] = float(np.mean([r["classes"]["seconds"] for r in ok]))
    return out


def run_classes(args: argparse.Namespace) -> None:
    """The ``--classes`` study: update the ``classes`` block of the json."""
    name = "hmm_heterogeneity"
    log = WORK_DIR / f"{name}_classes.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    deltas = tuple(args.class_deltas)
    load_before = os.getloadavg()
    started = time.perf_counter()
    tasks = [(args.first_seed + 5000 + i, deltas, args.customers, args.starts)
             for i in range(args.classes)]
    records: list[dict[str, Any]] = []
    deadline = started + 60 * args.budget_minutes
    with ProcessPoolExecutor(max_workers=args.jobs) as pool, log.open("w") as handle:
        queue = list(tasks)
        pending: set[Future[dict[str, Any]]] = set()
        while queue and len(pending) < args.jobs:
            pending.add(pool.submit(one_class_world, queue.pop(0)))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                record = future.result()
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                records.append(record)
                print(json.dumps(record)[:300], flush=True)
                if queue and time.perf_counter() < deadline:
                    pending.add(pool.submit(one_class_world, queue.pop(0)))
    previous = RESULTS_DIR / f"{name}.json"
    result = json.loads(previous.read_text()) if previous.exists() else {}
    result["classes"] = {
        "settings": {"customers": args.customers, "weeks": SimulateConfig().weeks,
                     "deltas": list(deltas), "shares": "equal",
                     "homogeneous_starts": args.starts, "class_starts": 2,
                     "first_seed": args.first_seed + 5000,
                     "panel": "truth/states (true voice counts: oracle labels)",
                     "planned_worlds": args.classes, "worlds_not_run_budget": len(queue),
                     "budget_minutes": args.budget_minutes},
        "summary": summarise_classes(records, deltas),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "seconds_total": time.perf_counter() - started,
    }
    path = write_result(name, result)
    print(json.dumps(result["classes"]["summary"]), flush=True)
    print(f"→ {path}")


def _timed(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = function(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def default_world_fit(args: tuple[float, int, bool]) -> dict[str, Any]:
    """Time a fit with random intercepts on the default world (4,000 customers).

    The homogeneous fit (5 starts) is what ``RelationshipHMM(heterogeneity=
    "random_intercepts").fit`` runs first; the random-intercept part is then run from its
    optimum as ``fit`` does (:func:`fit_random_intercepts`), timed by wall clock and CPU (one
    process: ``n_jobs=1``). With ``compare`` the earlier path (L-BFGS-B rounds,
    central-difference information) runs too, on the same homogeneous optimum, and the two
    optima are compared.
    """
    sd, seed, compare = args
    load_before = os.getloadavg()
    world = simulate.simulate_world(SimulateConfig(complaint_re_sd=sd))
    truth = world_truth(world)
    model, wall_h, cpu_h = _timed(RelationshipHMM(random_state=seed).fit, world.states)
    homogeneous = model.results_
    data = prepare_panel(world.states, model.spec_)
    chunks = data.chunks(model.chunk_size)
    res, wall, cpu = _timed(fit_random_intercepts, homogeneous, data, chunks)
    info = res.extra["heterogeneity"]
    out: dict[str, Any] = {
        "customers": SimulateConfig().customers, "complaint_re_sd": sd, "truth": truth,
        "n_starts_homogeneous": model.n_starts,
        "seconds_homogeneous": wall_h, "cpu_seconds_homogeneous": cpu_h,
        "seconds_random_intercepts": wall, "cpu_seconds_random_intercepts": cpu,
        "seconds_total": wall_h + wall, "cpu_seconds_total": cpu_h + cpu,
        "target_seconds": 180,
        "within_target_random_intercepts": bool(wall <= 180),
        "within_target_total": bool(wall_h + wall <= 180),
        "optimiser": info["optimiser"], "information": info["information"],
        "n_iter": info["n_iter"], "n_eval": info["n_eval"],
        "loglike": res.loglike,
        "gamma": float(res.params["gamma"]), "gamma_se": float(res.bse["gamma"]),
        "delta": float(res.params["delta"]), "delta_se": float(res.bse["delta"]),
        "sigma": float(res.params["sigma[complaint]"]),
        "sigma_se": float(res.bse["sigma[complaint]"]),
        "gamma_homogeneous": float(homogeneous.params["gamma"]),
        "bic_selects": info["bic_selects"], "adaptation_rounds": info["adaptation_rounds"],
        "converged": res.converged}
    if compare:
        old, wall_old, cpu_old = _timed(fit_random_intercepts, homogeneous, data, chunks,
                                        optimiser="lbfgsb", information="central")
        old_info = old.extra["heterogeneity"]
        out["earlier_path"] = {
            "optimiser": "lbfgsb", "information": "central",
            "seconds_random_intercepts": wall_old, "cpu_seconds_random_intercepts": cpu_old,
            "n_iter": old_info["n_iter"], "n_eval": old_info["n_eval"],
            "adaptation_rounds": old_info["adaptation_rounds"], "loglike": old.loglike,
            "speedup_wall": wall_old / wall, "speedup_cpu": cpu_old / cpu,
            "loglike_fast_minus_earlier": res.loglike - old.loglike,
            "max_abs_param_gap_in_se": float(np.max(np.abs(
                (res.params - old.params) / old.bse))),
            "max_rel_se_gap": float(np.max(np.abs(res.bse / old.bse - 1)))}
    out["load_average_before"] = list(load_before)
    out["load_average_after"] = list(os.getloadavg())
    return {"default_world_fit": out}


def speed(customers: int = 20_000, weeks: int = 26, repeats: int = 7) -> dict[str, Any]:
    """One log-likelihood + gradient: random intercepts (9 adaptive nodes) vs homogeneous."""
    params = default_params()
    panel = sample_panel(params, customers, weeks, random_state=1)
    model = RelationshipHMM()
    spec = model.make_spec()
    data = prepare_panel(panel, spec)
    layout = ParamLayout(spec)
    theta = layout.from_natural(params.with_spec(spec))
    chunks = data.chunks(model.chunk_size)
    intercepts = RandomIntercepts.from_data(layout, data, chunk_size=model.chunk_size)
    full = start_from_homogeneous(theta, layout, 0.6)
    intercepts.adapt(full)

    # interleaved, so both see the same load (the machine is shared)
    homogeneous_times, intercept_times = [], []
    for _ in range(repeats):
        begun = time.perf_counter()
        evaluate(theta, layout, chunks)
        homogeneous_times.append(time.perf_counter() - begun)
        begun = time.perf_counter()
        intercepts.evaluate(full)
        intercept_times.append(time.perf_counter() - begun)
    homogeneous = float(np.median(homogeneous_times))
    random_intercepts = float(np.median(intercept_times))
    ratio = float(np.median(np.asarray(intercept_times) / np.asarray(homogeneous_times)))
    return {"customers": customers, "weeks": weeks, "customer_periods": int(data.nobs),
            "quadrature_nodes": intercepts.n_nodes, "adaptive": True,
            "seconds_homogeneous_median": homogeneous,
            "seconds_random_intercepts_median": random_intercepts,
            "ratio_median_of_pairs": ratio, "ratio_of_minima": float(
                min(intercept_times) / min(homogeneous_times)),
            "target_ratio": 12.0, "within_target": bool(ratio <= 12.0),
            "repeats": repeats, "load_average_1m": os.getloadavg()[0]}


def summarise(records: list[dict[str, Any]], sd: float) -> dict[str, Any]:
    """Coverage, bias and spread of γ and δ for both models; σ̂; BIC's choice."""
    ok = [r for r in records if "error" not in r and r["sd"] == sd]
    failed = [r for r in records if "error" in r and r["sd"] == sd]
    out: dict[str, Any] = {"sd": sd, "n_worlds": len(ok) + len(failed),
                           "n_failed": len(failed), "failures": failed}
    if not ok:
        return out
    truth = pd.DataFrame([r["truth"] for r in ok])
    for model in ("random_intercepts", "homogeneous"):
        params = pd.DataFrame([r[model]["params"] for r in ok])
        bse = pd.DataFrame([r[model]["bse"] for r in ok])
        block: dict[str, Any] = {}
        for name in HEADLINE:
            error = params[name] - truth[name]  # each world against its own truth
            coverage = float((error.abs() <= Z95 * bse[name]).mean())
            block[name] = {
                "truth_mean": float(truth[name].mean()), "coverage_95": coverage,
                "coverage_mc_se": float(np.sqrt(max(coverage * (1 - coverage), 1e-12)
                                                / len(ok))),
                "bias": float(error.mean()),
                "bias_se": float(error.std(ddof=1) / np.sqrt(len(ok))) if len(ok) > 1 else None,
                "sd_estimates": float(params[name].std(ddof=1)) if len(ok) > 1 else None,
                "mean_se": float(bse[name].mean()),
                "in_target_band": bool(0.92 <= coverage <= 0.98),
            }
        out[model] = block
    sigma = np.array([r["random_intercepts"]["params"]["sigma[complaint]"] for r in ok])
    sigma_se = np.array([r["random_intercepts"]["bse"]["sigma[complaint]"] for r in ok])
    sigma_truth = truth["sigma[complaint]"].to_numpy()
    out["sigma"] = {"truth_mean": float(sigma_truth.mean()), "mean": float(sigma.mean()),
                    "bias": float((sigma - sigma_truth).mean()),
                    "sd_estimates": float(sigma.std(ddof=1)) if len(ok) > 1 else None,
                    "mean_se": float(sigma_se.mean()), "max": float(sigma.max()),
                    "coverage_95": float((np.abs(sigma - sigma_truth)
                                          <= Z95 * sigma_se).mean())}
    if "sigma_drawn" in truth:
        out["sigma"]["drawn_sd_mean"] = float(truth["sigma_drawn"].mean())
    out["share_bic_selects_random_intercepts"] = float(np.mean(
        [r["bic_selects"] == "random_intercepts" for r in ok]))
    out["share_converged"] = float(np.mean([r["random_intercepts"]["converged"] for r in ok]))
    out["share_hessian_ok"] = float(np.mean([r["random_intercepts"]["hessian_ok"] for r in ok]))
    out["seconds_per_world_median"] = float(np.median([r["seconds"] for r in ok]))
    out["cpu_seconds_per_world_median"] = float(np.median(
        [r.get("cpu_seconds", np.nan) for r in ok]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", type=int, default=100, help="worlds with sd = --sd")
    parser.add_argument("--sd", type=float, default=0.6)
    parser.add_argument("--worlds-large", type=int, default=100,
                        help="worlds with sd = --sd-large (0 = none)")
    parser.add_argument("--sd-large", type=float, default=1.0)
    parser.add_argument("--worlds-homogeneous", type=int, default=100,
                        help="worlds with sd = 0 (σ̂ on homogeneous worlds)")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=1600)
    parser.add_argument("--budget-minutes", type=float, default=30.0)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-default-fit", action="store_true")
    parser.add_argument("--only-sd", type=float, default=None,
                        help="run worlds of this sd only (one of --sd, --sd-large, 0); the "
                             "json still summarises every sd in the run log")
    parser.add_argument("--sequential", action="store_true",
                        help="run all worlds of --sd, then --sd-large, then 0 (default: "
                             "interleaved, so a cut run covers each sd)")
    parser.add_argument("--no-compare", action="store_true",
                        help="default-world fit: skip the earlier (L-BFGS-B) path")
    parser.add_argument("--log", type=Path, default=WORK_DIR / "hmm_heterogeneity.jsonl",
                        help="run log (JSONL, one world a line; git-ignored)")
    parser.add_argument("--fresh", action="store_true",
                        help="start a new run log (by default an existing one is resumed)")
    parser.add_argument("--summarise-only", action="store_true",
                        help="fit nothing: write the json from the run log")
    parser.add_argument("--resume", action="store_true",
                        help="keep the worlds (and default-world fit) already in the run log, "
                             "run the rest: extend a run cut by its budget (the default when "
                             "the log exists)")
    parser.add_argument("--classes", type=int, default=0,
                        help="run only the latent-class study on this many two-class δ worlds")
    parser.add_argument("--class-deltas", type=float, nargs="+", default=[0.4, 2.0])
    args = parser.parse_args()
    if args.classes:
        run_classes(args)
        return

    name = "hmm_heterogeneity"
    log = args.log.resolve()
    log.parent.mkdir(parents=True, exist_ok=True)
    if args.summarise_only:
        args.resume, args.skip_speed, args.skip_default_fit = True, True, True
    if log.exists() and log.stat().st_size and not args.fresh:
        args.resume = True  # a run log is extended, never overwritten, unless --fresh
    load_before = os.getloadavg()
    started = time.perf_counter()
    result: dict[str, Any] = {}
    previous = RESULTS_DIR / f"{name}.json"
    if not args.skip_speed:
        result["speed"] = speed()
        print("speed:", json.dumps(result["speed"]), flush=True)
    elif previous.exists():  # the evaluation is unchanged by --skip-speed runs: keep it
        result["speed"] = json.loads(previous.read_text()).get("speed")
    # seeds by sd: first_seed + 1000 k (k = 0 for --sd, 1 for --sd-large, 2 for 0), so a
    # world is the same whichever subset of sds a run takes
    plan = [(args.sd, args.worlds), (args.sd_large, args.worlds_large),
            (0.0, args.worlds_homogeneous)]
    queues = [[(args.first_seed + 1000 * k + i, sd, args.customers, args.starts)
               for i in range(n)] if args.only_sd is None or sd == args.only_sd else []
              for k, (sd, n) in enumerate(plan)]
    if args.only_sd is not None and not any(queues):
        parser.error(f"--only-sd {args.only_sd} is none of --sd, --sd-large, 0")
    tasks: list[tuple[int, float, int, int]] = []
    if args.sequential:
        tasks = [task for queue in queues for task in queue]
    while any(queues) and not args.sequential:  # interleave: a cut run still covers each sd
        for queue in queues:
            if queue:
                tasks.append(queue.pop(0))
    records: list[dict[str, Any]] = []
    if args.resume and log.exists():
        for line in log.read_text().splitlines():
            stored = json.loads(line)
            if "default_world_fit" in stored:
                result.update(stored)
            else:
                records.append(stored)
        done = {(r["seed"], r["sd"]) for r in records}
        tasks = [task for task in tasks if (task[0], task[1]) not in done]
    if args.summarise_only:
        tasks = []
    deadline = started + 60 * args.budget_minutes
    with ProcessPoolExecutor(max_workers=args.jobs) as pool, log.open(
            "a" if args.resume else "w") as handle:
        pending: set[Future[dict[str, Any]]] = set()
        if not args.skip_default_fit and "default_world_fit" not in result:
            pending.add(pool.submit(default_world_fit, (args.sd, 7, not args.no_compare)))
        queue = list(tasks)
        while queue and len(pending) < args.jobs:
            pending.add(pool.submit(one_world, queue.pop(0)))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                record = future.result()
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                if "default_world_fit" in record:
                    result.update(record)
                else:
                    records.append(record)
                print(json.dumps(record)[:300], flush=True)
                if queue and time.perf_counter() < deadline:
                    pending.add(pool.submit(one_world, queue.pop(0)))
    skipped = len(queue)
    if previous.exists() and "classes" in (before := json.loads(previous.read_text())):
        result["classes"] = before["classes"]  # the --classes study's block, kept
    result.update({
        "settings": {"customers": args.customers, "weeks": SimulateConfig().weeks,
                     "homogeneous_starts": args.starts, "quadrature_nodes": 9,
                     "adaptive_quadrature": True, "first_seed": args.first_seed,
                     "panel": "truth/states (true voice counts: oracle labels)",
                     "planned_worlds": {str(sd): n for sd, n in plan},
                     "worlds_not_run_budget": skipped,
                     "budget_minutes": args.budget_minutes, "resumed": args.resume,
                     "only_sd": args.only_sd, "sequential": args.sequential,
                     "optimiser": "polish (OPG-preconditioned BFGS)",
                     "information": "forward differences of the analytic gradient"},
        "target_coverage_band": [0.92, 0.98],
        "by_sd": [summarise(records, sd) for sd in sorted(
            {sd for sd, n in plan if n} | {r["sd"] for r in records},
            key=lambda sd: [p[0] for p in plan].index(sd) if sd in [p[0] for p in plan]
            else len(plan))],
        "n_worlds_in_run_log": len(records),
        "run_log": (str(log.relative_to(Path(__file__).resolve().parents[1]))
                    if log.is_relative_to(Path(__file__).resolve().parents[1]) else str(log)),
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "seconds_total": time.perf_counter() - started,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    })
    path = write_result(name, result)
    for block in result["by_sd"]:
        if "random_intercepts" in block:
            ri, ho = block["random_intercepts"], block["homogeneous"]
            print(f"sd {block['sd']}: {block['n_worlds']} worlds; random intercepts γ cov "
                  f"{ri['gamma']['coverage_95']:.2f} bias {ri['gamma']['bias']:+.3f}, δ cov "
                  f"{ri['delta']['coverage_95']:.2f} bias {ri['delta']['bias']:+.3f}; "
                  f"homogeneous γ bias {ho['gamma']['bias']:+.3f}, δ bias "
                  f"{ho['delta']['bias']:+.3f}; σ̂ {block['sigma']['mean']:.3f}")
    print(f"→ {path}")


if __name__ == "__main__":
    main()
