"""Sensitivity of the design-based estimate on the endogenous-replies world (issue 21, item 1).

With ``--endogenous-replies`` the simulated brands answer complaints at a logit shifted by
+1 for customers in the poor state and −1 in the good state, something the design's controls
cannot see, so its estimate is biased and its interval misses. Over many such worlds this
measures, per outcome and lead (t+0 … t+HORIZON; ``--horizon``, default 2):

* the coverage of the plain design interval (AIPW, normal, clustered by customer: expected
  to fail);
* the coverage of the marginal-sensitivity-model interval
  (:func:`complaintpanel.estimate.sensitivity.design_sensitivity`: augmented stabilised IPW,
  ZSB bounds, percentile cluster bootstrap) at a grid of Λ and at the Λ the world implies:
  the true answer probabilities (the simulator knows each customer's state) against the
  design's fitted propensity, over the design's customer-periods
  (:func:`complaintpanel.simulate.truth_effects.selection_odds_ratios`), at its median, 95th
  percentile (the headline "simulator's Λ") and maximum; target ≥ 0.90;
* the flip Λ and the covariate benchmarks.

The truth is the average effect of answering on the design's own customer-periods (kept after
the overlap cut), each lead on those with the outcome period in the panel
(:func:`complaintpanel.simulate.truth_effects.world_answer_effects`). The HMM with its reply
model on the same kind of world is not rerun: its coverage is read from
``benchmarks/results/hmm_coverage_endogenous.json`` and cited beside.

Writes benchmarks/results/sensitivity.json; each world's rows go to
benchmarks/work/sensitivity.jsonl so a run cut by ``--minutes`` is resumed with ``--resume``.
Run: ``nice -n 5 .venv/bin/python benchmarks/bench_sensitivity.py --worlds 100 --minutes 40``;
``--update-docs`` writes its table into docs/measurement.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS_DIR, WORK_DIR, peak_rss_mb, write_result
from complaintpanel.config import SimulateConfig
from complaintpanel.estimate import add_model_columns, answered_vs_unanswered
from complaintpanel.estimate.design import design_sample
from complaintpanel.estimate.sensitivity import DEFAULT_LAMBDAS, design_sensitivity
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth
from complaintpanel.simulate.truth_effects import (
    selection_lambda,
    selection_odds_ratios,
    world_answer_effects,
)
from complaintpanel.simulate.world import answer_rule

HORIZON = 2  # t+0 … t+2, the leads the paper's design table discusses (issue 21)
SIM_LAMBDAS = ("p50", "p95", "max")  # the world's implied Λ at which intervals are checked


def one_world(seed: int, customers: int, weeks: int, reps: int, horizon: int = HORIZON
              ) -> list[dict[str, Any]]:
    """Design estimate, sensitivity intervals and truth of one endogenous world."""
    world = simulate_world(SimulateConfig(customers=customers, weeks=weeks, seed=seed,
                                          endogenous_replies=True))
    data = add_model_columns(build_panel(voiced_from_truth(world)))
    sample = design_sample(data)
    rule = answer_rule(world.brands, True, world.params.n_states)
    handles = [b.handle for b in world.brands]
    kept = sample.base[["customer_id", "period"]]
    implied = selection_lambda(selection_odds_ratios(world.states, rule, handles, kept,
                                                     sample.propensity))
    oracle = selection_lambda(selection_odds_ratios(world.states, rule, handles, kept))
    lambdas = tuple(sorted({*DEFAULT_LAMBDAS, *(implied[q] for q in SIM_LAMBDAS)}))
    started = time.perf_counter()
    sens = design_sensitivity(data, horizon=horizon, lambdas=lambdas, reps=reps, seed=seed)
    seconds = time.perf_counter() - started
    design = answered_vs_unanswered(data, horizon=horizon)
    truth = world_answer_effects(world, horizon=horizon, draws=10, rows=sens.kept)
    truth = truth.set_index("lead")
    rows = []
    for term, bounds in sens.bounds.groupby("term", sort=False):
        outcome, lead = str(bounds["outcome"].iloc[0]), int(bounds["lead"].iloc[0])
        true_value = float(truth.loc[lead, f"effect_{outcome}"])
        plain = design.term(outcome=outcome, lead=lead)
        row: dict[str, Any] = {
            "seed": seed, "term": term, "outcome": outcome, "lead": lead, "truth": true_value,
            "design_estimate": float(plain["estimate"]), "design_se": float(plain["se"]),
            "design_covered": bool(plain["ci_lower"] <= true_value <= plain["ci_upper"]),
            "estimate_lambda_1": float(sens.params[term]),
            "flip_lambda": sens.flips.loc[term, "flip_lambda"],
            "sensitivity_seconds": seconds,
            **{f"lambda_sim_{q}": implied[q] for q in SIM_LAMBDAS},
            **{f"lambda_oracle_{q}": oracle[q] for q in SIM_LAMBDAS},
        }
        at = bounds.set_index("lambda")
        named = {f"{lam:.4g}": lam for lam in DEFAULT_LAMBDAS}
        named.update({f"sim_{q}": implied[q] for q in SIM_LAMBDAS})
        for label, lam in named.items():
            r = at.loc[lam]
            row[f"covered[{label}]"] = bool(r["ci_lower"] <= true_value <= r["ci_upper"])
            row[f"bounds_contain[{label}]"] = bool(r["lower"] <= true_value <= r["upper"])
            row[f"width[{label}]"] = float(r["ci_upper"] - r["ci_lower"])
        if isinstance(row["flip_lambda"], float) and not math.isfinite(row["flip_lambda"]):
            row["flip_lambda"] = None
        rows.append(row)
    return rows


def summarise(frame: pd.DataFrame) -> dict[str, Any]:
    """Coverage, widths and flips per outcome and lead."""
    labels = [c[len("covered["):-1] for c in frame.columns if c.startswith("covered[")]
    out: dict[str, Any] = {}
    for term, rows in frame.groupby("term", sort=False):
        flips = pd.to_numeric(rows["flip_lambda"], errors="coerce")
        entry: dict[str, Any] = {
            "worlds": len(rows), "mean_truth": round(float(rows["truth"].mean()), 4),
            "design_coverage": round(float(rows["design_covered"].mean()), 3),
            "design_mean_estimate": round(float(rows["design_estimate"].mean()), 4),
            "design_bias": round(float((rows["design_estimate"] - rows["truth"]).mean()), 4),
            "median_flip_lambda": round(float(flips.median()), 3),
            "sensitivity_coverage": {label: round(float(rows[f"covered[{label}]"].mean()), 3)
                                     for label in labels},
            "bounds_contain_truth": {label: round(float(
                rows[f"bounds_contain[{label}]"].mean()), 3) for label in labels},
            "mean_interval_width": {label: round(float(rows[f"width[{label}]"].mean()), 4)
                                    for label in labels},
        }
        out[term] = entry
    return out


def _hmm_citation() -> dict[str, Any] | None:
    path = RESULTS_DIR / "hmm_coverage_endogenous.json"
    if not path.exists():
        return None
    cited = json.loads(path.read_text())
    return {"source": "benchmarks/results/hmm_coverage_endogenous.json (not rerun here)",
            "worlds": cited.get("n_worlds"),
            "coverage_95": {name: values.get("coverage_95")
                            for name, values in cited.get("headline", {}).items()},
            "bias": {name: values.get("bias")
                     for name, values in cited.get("headline", {}).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--weeks", type=int, default=20)
    parser.add_argument("--reps", type=int, default=80, help="bootstrap replicates per world")
    parser.add_argument("--first-seed", type=int, default=7000)
    parser.add_argument("--horizon", type=int, default=HORIZON,
                        help="last lead; worlds run with a longer one are reused for these "
                             "leads (each lead's bounds and bootstrap draws do not depend on "
                             "the others)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="start no new world after this many minutes")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the worlds in the run log (same settings), run the rest")
    parser.add_argument("--summarise-only", action="store_true",
                        help="summarise the worlds in every run log (sensitivity*.jsonl: "
                             "shards run with --log-name) and stop")
    parser.add_argument("--log-name", default="sensitivity",
                        help="run log benchmarks/work/<name>.jsonl (a shard on other seeds "
                             "runs beside the main run with its own log)")
    args = parser.parse_args()
    log = WORK_DIR / f"{args.log_name}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    settings = {"customers": args.customers, "weeks": args.weeks, "reps": args.reps}
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    logs = sorted(WORK_DIR.glob("sensitivity*.jsonl")) if args.summarise_only else [log]
    done: set[int] = set()
    for path in logs if (args.resume or args.summarise_only) else []:
        for line in path.read_text().splitlines() if path.exists() else []:
            record = json.loads(line)
            if record["settings"] == settings and record["seed"] not in done:
                done.add(record["seed"])
                rows += [row for row in record["rows"] if row["lead"] <= args.horizon]
    reused = len(done)
    if not args.summarise_only:
        with log.open("a" if args.resume else "w") as handle:
            for i in range(args.worlds):
                seed = args.first_seed + i
                if seed in done:
                    continue
                if args.minutes is not None and time.perf_counter() - started > 60 * args.minutes:
                    break
                world_rows = one_world(seed, args.customers, args.weeks, args.reps,
                                       args.horizon)
                rows += world_rows
                handle.write(json.dumps({"settings": settings, "seed": seed,
                                         "rows": world_rows}) + "\n")
                handle.flush()
                print(f"world {seed}: {len(rows) // max(len(world_rows), 1)} done, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
    frame = pd.DataFrame(rows)
    worlds = int(frame["seed"].nunique())
    result = {
        "settings": {**settings, "worlds_requested": args.worlds, "worlds_done": worlds,
                     "first_seed": args.first_seed, "horizon": args.horizon,
                     "minutes_budget": args.minutes, "world": "--endogenous-replies, "
                     "default calibration, true voice (voiced_from_truth)",
                     "estimator": "augmented stabilised IPW, marginal sensitivity model "
                                  "(Tan 2006), ZSB 2019 bounds, percentile cluster bootstrap",
                     "simulator_lambda": "odds ratio between the true answer probability "
                                         "(state known) and the design's fitted propensity, "
                                         "over the design's customer-periods; sim_p95 = its "
                                         "95th percentile (headline), sim_max = its maximum",
                     "truth_population": "the design's kept customer-periods, per lead those "
                                         "with the outcome period in the panel"},
        "targets": {"sensitivity_coverage_at_sim_p95": 0.90},
        "simulator_lambda": {q: round(float(frame.groupby("seed")[f"lambda_sim_{q}"].first()
                                            .mean()), 3) for q in SIM_LAMBDAS},
        "simulator_lambda_oracle_propensity": {
            q: round(float(frame.groupby("seed")[f"lambda_oracle_{q}"].first().mean()), 3)
            for q in SIM_LAMBDAS},
        "by_term": summarise(frame),
        "median_sensitivity_seconds_per_world": round(float(
            frame.groupby("seed")["sensitivity_seconds"].first().median()), 2),
        "hmm_reply_model": _hmm_citation(),
        "seconds_total_this_run": round(time.perf_counter() - started, 1),
        "worlds_reused_from_log": reused,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    path = write_result("sensitivity", result)
    print(json.dumps(result["by_term"], indent=1)[:4000])
    print(f"sensitivity: {worlds} worlds → {path}")


DOCS = Path(__file__).resolve().parents[1] / "docs" / "measurement.md"
TABLE_START, TABLE_END = "<!-- bench_sensitivity:start -->", "<!-- bench_sensitivity:end -->"
SHOWN = (("1", "Λ = 1"), ("1.5", "Λ = 1.5"), ("2", "Λ = 2"), ("sim_p95", "Λ = sim p95"),
         ("sim_max", "Λ = sim max"))


def render_table(result: dict[str, Any]) -> str:
    """Markdown table and summary lines of sensitivity.json (for the docs)."""
    settings, lam = result["settings"], result["simulator_lambda"]
    lines = [f"{settings['worlds_done']} worlds with endogenous replies "
             f"({settings['customers']:,} customers × {settings['weeks']} weeks, true voice, "
             f"seeds {settings['first_seed']}…), "
             f"{settings['reps']} cluster-bootstrap replicates per world. The simulator's Λ "
             f"(true answer probability vs the design's fitted propensity, over the design's "
             f"customer-periods, mean over worlds): median {lam['p50']}, 95th percentile "
             f"{lam['p95']}, maximum {lam['max']}.", "",
             "| term | truth (mean) | design AIPW: cov / bias | "
             + " | ".join(f"{label}: cov" for _, label in SHOWN)
             + " | width at sim p95 | median flip Λ |",
             "|---|---|---|" + "---|" * len(SHOWN) + "---|---|"]
    for term, row in result["by_term"].items():
        cover = row["sensitivity_coverage"]
        lines.append(
            f"| {term} | {row['mean_truth']} | {row['design_coverage']} / "
            f"{row['design_bias']:+} | " + " | ".join(str(cover[key]) for key, _ in SHOWN)
            + f" | {row['mean_interval_width']['sim_p95']} | {row['median_flip_lambda']} |")
    hmm = result.get("hmm_reply_model") or {}
    if hmm.get("coverage_95"):
        lines += ["", "The HMM with its reply model on endogenous worlds "
                  f"({hmm['source'].split(' ')[0]}, {hmm['worlds']} worlds): coverage of γ "
                  f"{hmm['coverage_95'].get('gamma')}, of δ {hmm['coverage_95'].get('delta')}."]
    return "\n".join(lines)


def update_docs(result_path: Path, docs: Path = DOCS) -> None:
    """Replace the table between the markers of docs/measurement.md with the json's."""
    text = docs.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    table = render_table(json.loads(result_path.read_text(encoding="utf-8")))
    docs.write_text(text[:start] + "\n" + table + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update-docs"]:
        update_docs(RESULTS_DIR / "sensitivity.json")
    else:
        main()
