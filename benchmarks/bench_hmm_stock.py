"""The decaying redress stock (issue 16): binary-redress model vs the stock model on stock worlds.

Each world is drawn by the simulator (:func:`complaintpanel.simulate.simulate_world`, default
calibration, ``[simulate] redress = "stock"``, ρ = 0.7) with its own seed; the panel is the
world's true customer × week voice (``truth/states``, its ``redress`` column dropped so each
model builds its own from the answered history). Fits per world:

* ``binary``: today's model, redress binary and permanent (misspecified here);
* ``stock_fixed``: the stock with ρ fixed at the truth (``redress_decay=0.7``);
* ``stock_profiled``: ρ estimated by profile likelihood (``redress_decay="auto"``,
  ``redress_decay_method="profile"``), every ``--profile-every``-th world (it costs ~20
  refits);
* ``stock_joint``: ρ inside θ (``redress_decay="auto"``, the default joint method), standard
  errors from the joint observed information of (θ, ρ).

``--fits`` chooses among them (default: all). Reported: bias, empirical SD, mean SE and
95%-interval coverage of γ and δ for each fit; for the profiled fits the coverage of the true ρ
by the profile-likelihood interval and the mean ρ̂; for the joint fits the same for ρ with its
joint SE (Wald interval), and the coverage γ and δ would have with the SEs conditional on ρ̂.
The run log (``benchmarks/work/<name>.jsonl``) lets ``--resume`` add worlds; ``--minutes``
stops starting new worlds after that many minutes.

Writes benchmarks/results/hmm_stock.json. Run with one BLAS thread (the fits are many small
matrix operations; threaded BLAS on the shared 2-core machine made L-BFGS-B about 2× slower):
``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 nice -n 5 .venv/bin/python
benchmarks/bench_hmm_stock.py --worlds 200 --minutes 26``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import WORK_DIR, peak_rss_mb, write_result
from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import RelationshipHMM
from complaintpanel.model import default_params
from complaintpanel.simulate import simulate_world

HEADLINE = ("gamma", "delta")
FITS = ("binary", "stock_fixed", "stock_profiled", "stock_joint")
Z95 = 1.959963984540054


def one_world(seed: int, customers: int, weeks: int, rho: float, starts: int,
              profile: bool, fits: tuple[str, ...] = FITS) -> dict[str, Any]:
    """Draw one stock world and fit the binary and the stock models to it."""
    world = simulate_world(SimulateConfig(customers=customers, weeks=weeks, seed=seed,
                                          redress="stock", redress_decay=rho))
    panel = world.states.drop(columns=["redress"])
    settings: dict[str, dict[str, Any]] = {
        "binary": {}, "stock_fixed": {"redress": "stock", "redress_decay": rho},
        "stock_profiled": {"redress": "stock", "redress_decay": "auto",
                           "redress_decay_method": "profile"},
        "stock_joint": {"redress": "stock", "redress_decay": "auto",
                        "redress_decay_method": "joint"}}
    settings = {name: kwargs for name, kwargs in settings.items()
                if name in fits and (profile or name != "stock_profiled")}
    record: dict[str, Any] = {"seed": seed, "nobs": len(panel)}
    for name, kwargs in settings.items():
        started = time.perf_counter()
        res = RelationshipHMM(n_starts=starts, random_state=seed, **kwargs).fit(panel).results_
        fit: dict[str, Any] = {
            "params": {k: float(res.params[k]) for k in HEADLINE},
            "bse": {k: float(res.bse[k]) for k in HEADLINE},
            "loglike": res.loglike, "converged": res.converged,
            "seconds": time.perf_counter() - started}
        info = res.extra.get("redress", {})
        if info.get("estimated"):
            fit["rho_hat"] = info["decay"]
            fit["rho_conf_int"] = info["conf_int_95"]
        if info.get("estimated") and "profile" in info:
            fit["profile_evaluations"] = len(info["profile"])
            fit["profile_rounds"] = info["profile_rounds"]
        if info.get("estimated") and "se" in info:
            fit["rho_se"] = info["se"]
            fit["rho_at_bound"] = info["at_bound"]
            fit["joint_rounds"] = info["joint_rounds"]
            fit["bse_conditional"] = {k: info["bse_conditional"][k] for k in HEADLINE}
        record[name] = fit
    return record


def summarise(records: list[dict[str, Any]], rho: float) -> dict[str, Any]:
    """Bias, SD, mean SE and coverage by fit and parameter; ρ's coverage for profiled fits."""
    truth = default_params()
    true = {"gamma": truth.gamma, "delta": truth.delta}
    out: dict[str, Any] = {}
    for fit in FITS:
        rows = [r[fit] for r in records if fit in r]
        if not rows:
            continue
        block: dict[str, Any] = {"worlds": len(rows),
                                 "converged": int(sum(bool(r["converged"]) for r in rows)),
                                 "median_seconds": float(np.median([r["seconds"]
                                                                    for r in rows]))}
        for name in HEADLINE:
            est = np.array([r["params"][name] for r in rows])
            se = np.array([r["bse"][name] for r in rows])
            block[name] = {
                "truth": true[name], "mean": float(est.mean()),
                "bias": float(est.mean() - true[name]),
                "bias_se": float(est.std(ddof=1) / np.sqrt(est.size)) if est.size > 1 else None,
                "sd": float(est.std(ddof=1)) if est.size > 1 else None,
                "mean_se": float(se.mean()),
                "coverage_95": float(np.mean(np.abs(est - true[name]) <= Z95 * se))}
        if fit == "stock_profiled":
            hats = np.array([r["rho_hat"] for r in rows])
            ci = np.array([r["rho_conf_int"] for r in rows])
            block["rho"] = {"truth": rho, "mean_hat": float(hats.mean()),
                            "sd_hat": float(hats.std(ddof=1)) if hats.size > 1 else None,
                            "coverage_95_profile": float(np.mean((ci[:, 0] <= rho)
                                                                 & (rho <= ci[:, 1]))),
                            "mean_interval_width": float(np.mean(ci[:, 1] - ci[:, 0])),
                            "mean_profile_evaluations": float(np.mean(
                                [r["profile_evaluations"] for r in rows]))}
        if fit == "stock_joint":
            hats = np.array([r["rho_hat"] for r in rows])
            se = np.array([r["rho_se"] for r in rows])
            block["rho"] = {"truth": rho, "mean_hat": float(hats.mean()),
                            "bias": float(hats.mean() - rho),
                            "sd_hat": float(hats.std(ddof=1)) if hats.size > 1 else None,
                            "mean_se": float(se.mean()),
                            "coverage_95": float(np.mean(np.abs(hats - rho) <= Z95 * se)),
                            "at_bound": int(sum(bool(r["rho_at_bound"]) for r in rows))}
            for name in HEADLINE:  # what γ, δ would cover with SEs conditional on ρ̂
                est = np.array([r["params"][name] for r in rows])
                cond = np.array([r["bse_conditional"][name] for r in rows])
                block[name]["mean_se_conditional"] = float(cond.mean())
                block[name]["coverage_95_conditional"] = float(
                    np.mean(np.abs(est - true[name]) <= Z95 * cond))
        out[fit] = block
    return out


def main() -> None:
    """Run the study (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--weeks", type=int, default=20)
    parser.add_argument("--rho", type=float, default=0.7)
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--profile-every", type=int, default=3,
                        help="fit the profiled model on every n-th world (0: never)")
    parser.add_argument("--seed", type=int, default=1600)
    parser.add_argument("--minutes", type=float, default=None,
                        help="start no new world after this many minutes")
    parser.add_argument("--resume", action="store_true",
                        help="keep the worlds in the run log (same settings), run the rest")
    parser.add_argument("--fits", default=",".join(FITS),
                        help=f"comma-separated fits among {', '.join(FITS)}")
    parser.add_argument("--name", default="hmm_stock")
    args = parser.parse_args()
    fits = tuple(name for name in args.fits.split(",") if name)
    unknown = sorted(set(fits) - set(FITS))
    if unknown:
        parser.error(f"unknown fit(s) {unknown}")

    log = WORK_DIR / f"{args.name}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    if args.resume and log.exists():
        records = [json.loads(line) for line in log.read_text().splitlines() if line]
    done = {r["seed"] for r in records}
    deadline = time.time() + 60 * args.minutes if args.minutes else float("inf")
    started = time.time()
    with log.open("a" if args.resume else "w") as handle:
        for i in range(args.worlds):
            seed = args.seed + i
            if seed in done:
                continue
            if time.time() > deadline:
                break
            profile = args.profile_every > 0 and i % args.profile_every == 0
            record = one_world(seed, args.customers, args.weeks, args.rho, args.starts,
                               profile, fits)
            records.append(record)
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            print(f"world {seed}: " + ", ".join(
                f"{fit} gamma {record[fit]['params']['gamma']:.3f}" for fit in FITS
                if fit in record), flush=True)
    result = {
        "description": "Binary-redress vs decaying-stock relationship HMM on simulated stock "
                       "worlds (rho = truth): bias and 95% coverage of gamma and delta; the "
                       "profiled fit's coverage of rho by its profile-likelihood interval; "
                       "the joint fit's (rho in theta) coverage of gamma, delta and rho with "
                       "joint standard errors.",
        "settings": {"customers": args.customers, "weeks": args.weeks, "rho": args.rho,
                     "starts": args.starts, "profile_every": args.profile_every,
                     "first_seed": args.seed, "minutes_budget": args.minutes,
                     "fits": list(fits)},
        "worlds": len(records),
        "summary": summarise(records, args.rho),
        "wall_seconds_this_run": time.time() - started,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(result["summary"], indent=2))
    write_result(args.name, result)


if __name__ == "__main__":
    main()
