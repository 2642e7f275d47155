"""Cost and accuracy of the bivariate random intercepts (issue 16, complaint and compliment).

Three measurements, each printed as JSON (and written with ``--write``):

* ``speed``: one log-likelihood + gradient on a 20,000 × 26 panel: homogeneous, univariate
  intercept with 9 adaptive nodes, bivariate with 5², 7², 9² adaptive nodes (interleaved
  repeats, medians; the machine is shared, so ratios of pairs are reported beside);
* ``accuracy``: the adaptive bivariate log-likelihood at the truth of a 1,000-customer world
  (complaint sd 0.6, compliment sd 0.5, corr 0.3) by nodes per dimension, against 13²;
* ``fit``: a bivariate fit (7² nodes, 2 starts) on a 1,000-customer world, wall and CPU time.

Run: ``PYTHONPATH=src nice -n 5 python -m benchmarks.bench_hmm_bivariate [speed|accuracy|fit]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from benchmarks._common import write_result
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


def main() -> None:
    """Run one measurement and print it (``--write`` also stores it under results/)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("speed", "accuracy", "fit"))
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--nodes", type=int, nargs="+", default=[7],
                        help="fit: nodes per dimension (one fit each, same world)")
    parser.add_argument("--customers", type=int, default=1000, help="fit: world size")
    args = parser.parse_args()
    if args.what == "fit":
        result = {"fits": [fit(args.customers, n) for n in args.nodes]}
    else:
        result = {"speed": speed, "accuracy": accuracy}[args.what]()
    print(json.dumps(result, indent=2))
    if args.write:
        write_result(f"hmm_bivariate_{args.what}", result)


if __name__ == "__main__":
    main()
