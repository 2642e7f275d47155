"""Relationship HMM: speed, correctness against hmmlearn, and parameter recovery (issue 8).

Figures written to benchmarks/results/hmm.json:

* one log-likelihood + gradient evaluation on 20,000 customers × 26 weeks (K = 3) against
  hmmlearn's ``PoissonHMM.score`` (a likelihood only) on the same sequences, same run: ratio;
* the absolute difference of the two log-likelihoods for the no-covariate model (must be
  < 1e-6) and the gradient's largest relative error against central finite differences;
* the fit (all starts, ``--jobs`` processes) on the same 20,000-customer world: wall time,
  starts at the best optimum, estimates against the truth;
* recovery on the default world (3,000 customers) on the panel the pipeline builds from the
  true voice labels (simulate → ingest → thread → label --truth → panel), the same with the
  default classifier's labels (bias), and with endogenous replies with and without the
  reply model.

Run: ``.venv/bin/python benchmarks/bench_hmm.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import WORK_DIR, peak_rss_mb, write_result
from complaintpanel import simulate
from complaintpanel.config import SimulateConfig
from complaintpanel.hmm import ModelSpec, ParamLayout, RelationshipHMM, prepare_panel
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.model import default_params, transition_matrices

CLI = Path(sys.executable).with_name("complaintpanel")


def _timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def _sequences(panel: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    ordered = panel.sort_values(["customer_id", "brand", "period"])
    lengths = ordered.groupby(["customer_id", "brand"], sort=False).size().to_numpy()
    return ordered[["complaints", "compliments"]].to_numpy(), lengths


def speed_and_equality(states: pd.DataFrame, repeats: int) -> dict:
    """One ll + gradient evaluation vs hmmlearn's score, and the equality check."""
    from hmmlearn.hmm import PoissonHMM

    params = default_params()
    spec = ModelSpec()
    layout = ParamLayout(spec)
    data = prepare_panel(states, spec)
    chunks = data.chunks(4096)
    theta = layout.from_natural(params.with_spec(spec))
    evaluate(theta, layout, chunks)  # warm-up
    ours = _timed(lambda: evaluate(theta, layout, chunks), repeats)
    ours_ll = _timed(lambda: evaluate(theta, layout, chunks, gradient=False), repeats)

    homogeneous = params.replace(gamma=0.0, delta=0.0, eta=0.0)
    spec0 = ModelSpec(complaint_covariates=(), transition_covariates=(), first_contact="none")
    layout0 = ParamLayout(spec0)
    data0 = prepare_panel(states, spec0)
    chunks0 = data0.chunks(4096)
    theta0 = layout0.from_natural(homogeneous.with_spec(spec0))
    ours0 = _timed(lambda: evaluate(theta0, layout0, chunks0), repeats)
    reference = PoissonHMM(n_components=3)
    reference.startprob_ = homogeneous.initial_probs
    reference.transmat_ = transition_matrices(homogeneous.tau, 0.0)
    reference.lambdas_ = np.exp(np.c_[homogeneous.a, homogeneous.c])
    x, lengths = _sequences(states)
    hmmlearn_times = _timed(lambda: reference.score(x, lengths), max(3, repeats // 2))
    ll_ours0 = evaluate(theta0, layout0, chunks0, gradient=False).loglik
    ll_hmmlearn = float(reference.score(x, lengths))
    return {
        "customers": int(data.n_sequences), "customer_periods": int(data.nobs),
        "periods": int(data.n_periods), "n_states": 3,
        "seconds_loglike_grad_median": float(np.median(ours)),
        "seconds_loglike_grad_min": float(np.min(ours)),
        "seconds_loglike_only_median": float(np.median(ours_ll)),
        "seconds_loglike_grad_no_covariates_median": float(np.median(ours0)),
        "seconds_hmmlearn_score_median": float(np.median(hmmlearn_times)),
        "seconds_hmmlearn_score_min": float(np.min(hmmlearn_times)),
        "ratio_hmmlearn_score_over_ours_loglike_grad": float(
            np.median(hmmlearn_times) / np.median(ours)),
        "target_ratio": 5.0,
        "loglike_ours_no_covariates": ll_ours0, "loglike_hmmlearn": ll_hmmlearn,
        "abs_loglike_difference_vs_hmmlearn": abs(ll_ours0 - ll_hmmlearn),
    }


def gradient_check(states: pd.DataFrame) -> dict:
    """Largest relative error of the analytic gradient against central differences."""
    spec = ModelSpec()
    layout = ParamLayout(spec)
    customers = states["customer_id"].drop_duplicates().iloc[:500]
    data = prepare_panel(states[states["customer_id"].isin(customers)], spec)
    chunks = data.chunks(4096)
    theta = layout.from_natural(default_params().with_spec(spec))
    theta = theta + np.random.default_rng(0).normal(0, 0.2, theta.size)
    grad = evaluate(theta, layout, chunks).grad
    numeric = np.empty_like(grad)
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += 1e-6
        down[i] -= 1e-6
        numeric[i] = (evaluate(up, layout, chunks, gradient=False).loglik
                      - evaluate(down, layout, chunks, gradient=False).loglik) / 2e-6
    return {"max_relative_error": float(np.max(np.abs(grad - numeric) / (1 + np.abs(numeric)))),
            "customers": 500, "step": 1e-6}


def recovery_table(results, truth: pd.Series) -> dict:
    table = pd.DataFrame({"truth": truth.reindex(results.params.index),
                          "estimate": results.params, "se": results.bse})
    table["z"] = (table["estimate"] - table["truth"]) / table["se"]
    ci = results.conf_int()
    return {
        "table": {name: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
                  for name, row in table.iterrows()},
        "max_abs_z": float(table["z"].abs().max()),
        "all_within_3se": bool((table["z"].abs() <= 3).all()),
        "gamma_ci": ci.loc["gamma"].tolist(), "delta_ci": ci.loc["delta"].tolist(),
        "gamma_detected": bool(ci.loc["gamma", "lower"] > 0),
        "delta_detected": bool(ci.loc["delta", "lower"] > 0),
        "loglike": results.loglike, "n_starts_converged": results.n_starts_converged,
        "n_starts": results.n_starts, "fit_seconds": results.fit_seconds,
        "dropped_rows": results.dropped_rows,
    }


def fit_large(states: pd.DataFrame, starts: int, jobs: int) -> dict:
    started = time.perf_counter()
    model = RelationshipHMM(n_starts=starts, n_jobs=jobs, random_state=0).fit(states)
    seconds = time.perf_counter() - started
    res = model.results_
    truth = default_params().reported()
    return {
        "seconds_fit_all_starts": seconds, "target_seconds": 120.0, "n_jobs": jobs,
        "starts": [s.to_dict() for s in res.starts],
        "seconds_per_start": [s.seconds for s in res.starts],
        "n_starts": res.n_starts, "n_starts_converged": res.n_starts_converged,
        "converged": res.converged, "recovery": recovery_table(res, truth),
    }


def _cli(*args: str) -> None:
    subprocess.run([str(CLI), *args], check=True, capture_output=True, text=True)


def pipeline_panels(customers: int, endogenous: bool) -> dict[str, Path]:
    """Simulate and run the pipeline with true labels and with the default classifier."""
    root = WORK_DIR / f"hmm_world_{customers}{'_endogenous' if endogenous else ''}"
    shutil.rmtree(root, ignore_errors=True)
    raw, interim = root / "raw", root / "interim"
    _cli("simulate", "--out", str(raw), "--customers", str(customers),
         *(["--endogenous-replies"] if endogenous else []))
    _cli("ingest", str(raw / "twcs.csv"), "--out", str(interim))
    _cli("thread", str(interim))
    _cli("label", str(interim), "--out", str(root / "truth_labels"), "--truth",
         str(raw / "truth" / "voice.parquet"))
    _cli("panel", str(root / "truth_labels"))
    _cli("label", str(interim), "--out", str(root / "classifier_labels"))
    _cli("panel", str(root / "classifier_labels"))
    return {"truth_states": raw / "truth" / "states.parquet",
            "truth_labels": root / "truth_labels" / "panel.parquet",
            "classifier_labels": root / "classifier_labels" / "panel.parquet"}


def recovery(customers: int, starts: int, jobs: int) -> dict:
    truth = default_params().reported()
    out: dict = {"customers": customers}
    panels = pipeline_panels(customers, endogenous=False)
    for name in ("truth_labels", "classifier_labels"):
        fit = RelationshipHMM(n_starts=starts, n_jobs=jobs, random_state=0).fit(
            pd.read_parquet(panels[name]))
        out[name] = recovery_table(fit.results_, truth)
    for name in ("gamma", "delta", "eta"):
        out.setdefault("classifier_bias", {})[name] = (
            out["classifier_labels"]["table"][name]["estimate"] - truth[name])
        out.setdefault("truth_label_error", {})[name] = (
            out["truth_labels"]["table"][name]["estimate"] - truth[name])

    endogenous = pipeline_panels(customers, endogenous=True)
    panel = pd.read_parquet(endogenous["truth_labels"])
    shift = simulate.ENDOGENOUS_LOGIT_SHIFT
    extra = {f"rho[{b.handle}]": float(logit(b.reply_prob)) + shift
             for b in simulate.brand_policies(SimulateConfig().brands)}
    extra.update({"psi[fair]": -shift, "psi[good]": -2 * shift})
    truth_reply = pd.concat([truth, pd.Series(extra)])
    with_model = RelationshipHMM(n_starts=starts, n_jobs=jobs, random_state=0,
                                 reply_model=True).fit(panel)
    without = RelationshipHMM(n_starts=starts, n_jobs=jobs, random_state=0).fit(panel)
    out["endogenous_with_reply_model"] = recovery_table(with_model.results_, truth_reply)
    out["endogenous_without_reply_model"] = recovery_table(without.results_, truth)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--recovery-customers", type=int, default=3_000)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.customers, args.recovery_customers, args.starts, args.repeats = 2000, 800, 2, 3

    load_before = os.getloadavg()
    started = time.perf_counter()
    world = simulate.simulate_world(SimulateConfig(customers=args.customers, seed=1))
    states = world.states
    result = {
        "load_average_before": list(load_before),
        "speed": speed_and_equality(states, args.repeats),
        "gradient_check": gradient_check(states),
        "fit": fit_large(states, args.starts, args.jobs),
    }
    result["load_average_after_fit"] = list(os.getloadavg())
    result["recovery_default_world"] = recovery(args.recovery_customers, min(args.starts, 3),
                                                args.jobs)
    result["load_average_after"] = list(os.getloadavg())
    result["seconds_total"] = time.perf_counter() - started
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["quick"] = args.quick
    path = write_result("hmm" if not args.quick else "hmm_quick", result)
    speed, fit = result["speed"], result["fit"]
    print(f"hmm: ll+grad {speed['seconds_loglike_grad_median']:.3f} s vs hmmlearn score "
          f"{speed['seconds_hmmlearn_score_median']:.3f} s "
          f"(×{speed['ratio_hmmlearn_score_over_ours_loglike_grad']:.1f}); fit "
          f"{fit['seconds_fit_all_starts']:.1f} s ({fit['n_starts_converged']}/{fit['n_starts']} "
          f"starts at best); |Δll| vs hmmlearn "
          f"{speed['abs_loglike_difference_vs_hmmlearn']:.2e} → {path}")


if __name__ == "__main__":
    main()
