"""Sentiment, causally (issue 21, item 5): coverage over small simulated worlds.

For each world (exogenous replies, true voice from the oracle, so a tweet's sentiment is
fixed by its voice and the signed counts equal the complaint and compliment counts):

* the design-based AIPW effect of answering on the counts of negative and positive tweets in
  ``t+0 … t+H``, and whether its 95% interval covers the truth computed on the customer-
  periods the estimator kept (:func:`~complaintpanel.simulate.truth_effects.
  world_answer_effects`, the complaint and compliment effects);
* the Lee bounds on the effect on mean sentiment when the customer tweets, and whether the
  identified interval and its Imbens–Manski 95% interval contain the truth: the effect among
  the always-tweeters of the same customer-periods, from paired continuations with common
  random numbers (:func:`~complaintpanel.simulate.truth_effects.world_sentiment_effects`,
  which also reports how often the pairs violate monotonicity);
* the bounds without monotonicity (:func:`~complaintpanel.estimate.sentiment.defier_bounds`)
  at the world's *true* defier share ``κ`` — the share of paired continuations that tweet
  only in the arm the bounds treat as the low-tweeting one (only unanswered when the
  estimate trims the answered arm, only answered otherwise) — and whether they and their
  Imbens–Manski interval contain the truth; and the breakdown ``κ`` of each world.

Writes benchmarks/results/sentiment.json. Usage:
    python benchmarks/bench_sentiment.py [--worlds N] [--customers C] [--weeks W]
        [--minutes T] [--log benchmarks/work/sentiment.jsonl]
    python benchmarks/bench_sentiment.py --update-docs   # its table into docs/design.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS_DIR, WORK_DIR, replace_docs_block, write_result
from complaintpanel.config import EstimateConfig, SimulateConfig
from complaintpanel.estimate import add_model_columns, answered_vs_unanswered
from complaintpanel.estimate.sentiment import DEFIER_SHARES, sentiment_lee_bounds
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import TRUE_SENTIMENT, voiced_from_truth
from complaintpanel.simulate.truth_effects import world_answer_effects, world_sentiment_effects

HORIZON = EstimateConfig().horizon
TRUTH_DRAWS = 10


def one_world(seed: int, customers: int, weeks: int) -> list[dict[str, Any]]:
    """Estimates, truths and coverage of one world, one row per quantity and lead."""
    world = simulate_world(SimulateConfig(customers=customers, weeks=weeks, seed=seed))
    data = add_model_columns(build_panel(voiced_from_truth(world)))
    assert (data["negative"] == data["complaints"]).all()  # the oracle's sentiment is by voice
    counts = answered_vs_unanswered(data, outcomes=("negative", "positive"), horizon=HORIZON)
    # the kept customer-periods (the design sample) do not depend on the κ grid
    kept = sentiment_lee_bounds(data, horizon=HORIZON, seed=seed, bootstrap_draws=2,
                                defier_shares=()).kept
    truth = world_answer_effects(world, horizon=HORIZON, draws=TRUTH_DRAWS,
                                 rows=counts.kept).set_index("lead")
    truth_sentiment = world_sentiment_effects(world, TRUE_SENTIMENT, horizon=HORIZON,
                                              draws=TRUTH_DRAWS, rows=kept
                                              ).set_index("lead")
    true_kappas = sorted({float(truth_sentiment.loc[lead, column])
                          for lead in truth_sentiment.index
                          for column in ("share_only_answered", "share_only_unanswered")})
    bounds = sentiment_lee_bounds(data, horizon=HORIZON, seed=seed,
                                  defier_shares=sorted({*DEFIER_SHARES, *true_kappas}))
    defiers = bounds.defiers.set_index(["lead", "defier_share"])
    rows = []
    for outcome, true_name in (("negative", "complaints"), ("positive", "compliments")):
        for lead in range(HORIZON + 1):
            term = counts.term(outcome=outcome, lead=lead)
            true_value = float(truth.loc[lead, f"effect_{true_name}"])
            rows.append({"seed": seed, "quantity": f"{outcome}[t+{lead}]",
                         "estimate": float(term["estimate"]), "se": float(term["se"]),
                         "truth": true_value,
                         "covered": bool(term["ci_lower"] <= true_value <= term["ci_upper"])})
    for lead, row in bounds.table.iterrows():
        true_row = truth_sentiment.loc[lead]
        true_value = float(true_row["effect_sentiment_always"])
        true_kappa = float(true_row["share_only_unanswered"] if row["trimmed_arm"] == "answered"
                           else true_row["share_only_answered"])
        at_kappa = defiers.loc[(lead, true_kappa)]
        rows.append({
            "seed": seed, "quantity": f"sentiment_lee[t+{lead}]",
            "lower": float(row["lower"]), "upper": float(row["upper"]),
            "ci_lower": float(row["ci_lower"]), "ci_upper": float(row["ci_upper"]),
            "truth": true_value,
            "truth_tweeters": float(true_row["difference_tweeters"]),
            "in_bounds": bool(row["lower"] <= true_value <= row["upper"]),
            "covered": bool(row["ci_lower"] <= true_value <= row["ci_upper"]),
            "difference_in_means": float(row["difference_in_means"]),
            "trimmed_share": float(row["trimmed_share"]),
            "true_share_answered": float(true_row["share_tweeting_answered"]),
            "true_share_unanswered": float(true_row["share_tweeting_unanswered"]),
            "share_against_monotone": float(true_row["share_against_monotone"]),
            "true_kappa": true_kappa,
            "kappa_lower": float(at_kappa["lower"]), "kappa_upper": float(at_kappa["upper"]),
            "kappa_ci_lower": float(at_kappa["ci_lower"]),
            "kappa_ci_upper": float(at_kappa["ci_upper"]),
            "kappa_in_bounds": bool(at_kappa["lower"] <= true_value <= at_kappa["upper"]),
            "kappa_covered": bool(at_kappa["ci_lower"] <= true_value <= at_kappa["ci_upper"]),
            "breakdown_kappa": float(row["breakdown_defier_share"]),
            "breakdown_kappa_ci": float(row["breakdown_defier_share_ci"]),
            "trimmed_arm": str(row["trimmed_arm"]),
            "true_direction_agrees": bool(
                (row["trimmed_arm"] == "answered")
                == (true_row["share_tweeting_answered"] >= true_row["share_tweeting_unanswered"])),
            **{f"grid_covered[{k}]": bool(defiers.loc[(lead, k), "ci_lower"] <= true_value
                                          <= defiers.loc[(lead, k), "ci_upper"])
               for k in DEFIER_SHARES},
        })
    return rows


def summarise(frame: pd.DataFrame) -> dict[str, Any]:
    """Coverage, bias and widths per quantity."""
    out: dict[str, Any] = {}
    for quantity, rows in frame.groupby("quantity", sort=False):
        entry: dict[str, Any] = {"worlds": len(rows),
                                 "coverage": round(float(rows["covered"].mean()), 3),
                                 "mean_truth": round(float(rows["truth"].mean()), 4)}
        if str(quantity).startswith("sentiment_lee"):
            entry.update({
                "truth_in_bounds": round(float(rows["in_bounds"].mean()), 3),
                "mean_lower": round(float(rows["lower"].mean()), 4),
                "mean_upper": round(float(rows["upper"].mean()), 4),
                "mean_width_bounds": round(float((rows["upper"] - rows["lower"]).mean()), 4),
                "mean_width_ci": round(float((rows["ci_upper"] - rows["ci_lower"]).mean()), 4),
                "mean_difference_in_means": round(float(rows["difference_in_means"].mean()), 4),
                **({"mean_truth_tweeters": round(float(rows["truth_tweeters"].mean()), 4)}
                   if "truth_tweeters" in rows else {}),
                "mean_trimmed_share": round(float(rows["trimmed_share"].mean()), 4),
                "mean_share_against_monotone": round(
                    float(rows["share_against_monotone"].mean()), 4)})
            if "true_kappa" in rows:
                entry["defiers"] = {
                    "mean_true_kappa": round(float(rows["true_kappa"].mean()), 4),
                    "max_true_kappa": round(float(rows["true_kappa"].max()), 4),
                    "truth_in_bounds_at_true_kappa": round(float(rows["kappa_in_bounds"].mean()),
                                                           3),
                    "coverage_at_true_kappa": round(float(rows["kappa_covered"].mean()), 3),
                    "mean_lower_at_true_kappa": round(float(rows["kappa_lower"].mean()), 4),
                    "mean_upper_at_true_kappa": round(float(rows["kappa_upper"].mean()), 4),
                    "mean_width_ci_at_true_kappa": round(float(
                        (rows["kappa_ci_upper"] - rows["kappa_ci_lower"]).mean()), 4),
                    "median_breakdown_kappa": round(float(rows["breakdown_kappa"].median()), 4),
                    "share_breakdown_below_true_kappa": round(float(
                        (rows["breakdown_kappa"] <= rows["true_kappa"]).mean()), 3),
                    "median_breakdown_kappa_ci": round(float(
                        rows["breakdown_kappa_ci"].median()), 4),
                    "share_direction_agrees": round(float(
                        rows["true_direction_agrees"].mean()), 3),
                    "coverage_on_grid": {str(k): round(float(rows[f"grid_covered[{k}]"].mean()),
                                                       3) for k in DEFIER_SHARES},
                }
        else:
            entry.update({
                "mean_estimate": round(float(rows["estimate"].mean()), 4),
                "bias": round(float((rows["estimate"] - rows["truth"]).mean()), 4),
                "mean_se": round(float(rows["se"].mean()), 4),
                "sd_estimate_minus_truth": round(float(
                    (rows["estimate"] - rows["truth"]).std(ddof=1)), 4)})
        out[str(quantity)] = entry
    return out


def docs_table(payload: dict[str, Any]) -> str:
    """Markdown of the json's coverage (the block of docs/design.md)."""
    summary = payload["summary"]
    lines = [f"{payload['worlds']} worlds ({payload['customers']:,} customers × "
             f"{payload['weeks']} weeks, exogenous replies, true voice; seeds "
             f"{payload['first_seed']}…), truth from {payload['truth_draws']} paired "
             "continuations per customer-week.", "",
             "| lead | negative tweets: truth / cov / bias | positive tweets: truth / cov / bias "
             "| sentiment: truth (always-tweeters) | Lee bounds (mean) | truth in bounds "
             "| truth in 95% CI | naive difference (mean) / its truth | trimmed "
             "| against monotone |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for lead in range(payload["horizon"] + 1):
        neg, pos = summary[f"negative[t+{lead}]"], summary[f"positive[t+{lead}]"]
        lee = summary[f"sentiment_lee[t+{lead}]"]
        lines.append(
            f"| t+{lead} | {neg['mean_truth']} / {neg['coverage']} / {neg['bias']:+} "
            f"| {pos['mean_truth']} / {pos['coverage']} / {pos['bias']:+} "
            f"| {lee['mean_truth']} | [{lee['mean_lower']}, {lee['mean_upper']}] "
            f"| {lee['truth_in_bounds']} | {lee['coverage']} "
            f"| {lee['mean_difference_in_means']} / {lee.get('mean_truth_tweeters', '—')} "
            f"| {lee['mean_trimmed_share']} "
            f"| {lee['mean_share_against_monotone']} |")
    first = summary.get("sentiment_lee[t+0]", {})
    if "defiers" in first:
        grid = list(first["defiers"]["coverage_on_grid"])
        lines += ["", "Without monotonicity (`defier_bounds`), at each world's true defier share κ "
                  "(paired continuations that tweet only in the arm the bounds treat as the "
                  "low-tweeting one), and the 95% intervals' coverage at fixed κ of the grid:", "",
                  "| lead | true κ: mean / max | bounds at true κ (mean) | truth in bounds "
                  "| truth in 95% CI | CI width | breakdown κ: median (bounds / CI) "
                  "| breakdown κ ≤ true κ | "
                  + " | ".join(f"CI cov. κ = {k}" for k in grid) + " |",
                  "|" + "---|" * (8 + len(grid))]
        for lead in range(payload["horizon"] + 1):
            d = summary[f"sentiment_lee[t+{lead}]"]["defiers"]
            lines.append(
                f"| t+{lead} | {d['mean_true_kappa']} / {d['max_true_kappa']} "
                f"| [{d['mean_lower_at_true_kappa']}, {d['mean_upper_at_true_kappa']}] "
                f"| {d['truth_in_bounds_at_true_kappa']} | {d['coverage_at_true_kappa']} "
                f"| {d['mean_width_ci_at_true_kappa']} "
                f"| {d['median_breakdown_kappa']} / {d['median_breakdown_kappa_ci']} "
                f"| {d['share_breakdown_below_true_kappa']} | "
                + " | ".join(str(d["coverage_on_grid"][k]) for k in grid) + " |")
    lines += ["", f"Wall time {payload['seconds']} s."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=14)
    parser.add_argument("--first-seed", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=None,
                        help="stop starting new worlds after this many minutes")
    parser.add_argument("--log", type=Path, default=WORK_DIR / "sentiment_v3.jsonl",
                        help="JSON-lines log of finished worlds, reused by a later run of the "
                             "same size (resume)")
    parser.add_argument("--update-docs", action="store_true",
                        help="only write the table of results/sentiment.json into "
                             "docs/design.md")
    args = parser.parse_args()
    if args.update_docs:
        payload = json.loads((RESULTS_DIR / "sentiment.json").read_text(encoding="utf-8"))
        print(replace_docs_block("design.md", "bench_sentiment", docs_table(payload)))
        return
    started = time.perf_counter()
    done: dict[int, list[dict[str, Any]]] = {}
    if args.log.exists():
        for line in args.log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if (entry["customers"], entry["weeks"]) == (args.customers, args.weeks):
                done[int(entry["seed"])] = entry["rows"]
    args.log.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    worlds = 0
    for i in range(args.worlds):
        seed = args.first_seed + i
        if seed not in done:
            if args.minutes is not None and time.perf_counter() - started > 60 * args.minutes:
                break
            done[seed] = one_world(seed, args.customers, args.weeks)
            with args.log.open("a", encoding="utf-8") as log:
                log.write(json.dumps({"seed": seed, "customers": args.customers,
                                      "weeks": args.weeks, "rows": done[seed]}) + "\n")
            print(f"world {i + 1}: {time.perf_counter() - started:.0f} s", flush=True)
        rows += done[seed]
        worlds += 1
    frame = pd.DataFrame(rows)
    path = write_result("sentiment", {
        "description": __doc__.split("\n\n")[0],
        "worlds": worlds, "customers": args.customers, "weeks": args.weeks,
        "horizon": HORIZON, "truth_draws": TRUTH_DRAWS, "first_seed": args.first_seed,
        "sentiment_by_voice": TRUE_SENTIMENT,
        "seconds": round(time.perf_counter() - started, 1),
        "summary": summarise(frame),
    })
    print(f"sentiment benchmark ({worlds} worlds) → {path}")


if __name__ == "__main__":
    main()
