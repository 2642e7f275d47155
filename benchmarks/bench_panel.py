"""Panel and reduced-form estimates: speed at TWCS scale, and coverage of the true effects.

Part 1 (speed): a simulated world of about 2.8M tweets (78,000 customers × 26 weeks), its
labelled exchanges from the truth (complaintpanel.simulate.oracle), then the panel build and
the PPML with one fixed effect per customer–brand pair. Targets: panel ≤ 30 s; PPML ≤ 60 s with
≥ 500k pair effects (the 2.8M-tweet world has one brand per customer, so 78,000 pairs; a second
world of 520,000 customers × 6 weeks supplies the ≥ 500k pair effects); peak RSS ≤ 6 GB.

Part 2 (statistics): over N_WORLDS simulated worlds (3,000 customers × 20 weeks each), the
coverage of the true answering effects by the design-based 95% intervals at every lead the
paper reports (t+0 … t+HORIZON, HORIZON = the estimate stage's default), with the true voice
and with the default classifier's labels (when the label stage is installed), the distance of
the fixed-effects PPML from the same truth, and the same with --endogenous-replies. The truth
is computed for each estimand's own population: the customer-periods the estimator kept (after
trimming for overlap), each lead on those whose outcome period is inside the panel; with the
classifier's labels, the classified complaints (``require_complaint=False``: a "complaint"
that is in truth neutral has an effect of exactly 0 and dilutes the average as it does in the
estimate).

Part 3 (event study, exogenous worlds, true voice): the Poisson event study's (ETWFE)
post-period log rate ratios and their coverage of the true effect of the first reply, computed
on the first-reply customer-periods: log(E[complaints | answered] / E[complaints | that reply
withheld]) at event time k = lead k−1, with later replies following the brand's policy in both
arms; the truth at event time 0 is 0 (in the simulator a reply moves the relationship from the
next period on). The event study's own counterfactual (never answered) differs from this one
when later replies matter, and its parallel-trends assumption fails by construction (a first
reply follows a complaint, i.e. a bad spell): the benchmark measures by how much.

Part 4 (``--complaint-event-study``, alone): the complaint-anchored Poisson event study
(:mod:`complaintpanel.estimate.complaint_event_study`) on exogenous and endogenous worlds, true
voice, against its own estimand on its own population
(:func:`complaintpanel.simulate.truth_effects.anchor_effects`: answering the pair's first
complaint vs withholding it, on the answered anchors that inform the estimate, cohorts weighted
as the estimator weights them). Each world's rows are appended to
benchmarks/results/panel_complaint_event_study_rows.csv as it finishes and worlds already there
are skipped (resumable); the summary goes to benchmarks/results/panel_complaint_event_study.json
(``--complaint-event-study --update-docs`` writes its table into docs/design.md).

Writes benchmarks/results/panel.json. Usage: python benchmarks/bench_panel.py [--worlds N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS_DIR, peak_rss_mb, replace_docs_block, write_result
from complaintpanel.config import EstimateConfig, SimulateConfig
from complaintpanel.estimate import add_model_columns, answered_vs_unanswered, fit_ppml
from complaintpanel.estimate.complaint_event_study import informed_answered_rows
from complaintpanel.estimate.event_study import event_study
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth
from complaintpanel.simulate.truth_effects import anchor_effects, world_answer_effects

HORIZON = EstimateConfig().horizon  # every lead the estimate stage (and the paper) reports
WINDOW = EstimateConfig().event_window


def speed(customers: int, weeks: int) -> dict[str, float]:
    world = simulate_world(SimulateConfig(customers=customers, weeks=weeks, seed=1))
    voiced = voiced_from_truth(world)
    del world
    started = time.perf_counter()
    panel = build_panel(voiced)
    panel_s = time.perf_counter() - started
    data = add_model_columns(panel)
    started = time.perf_counter()
    ppml = fit_ppml(data, "answered_complaint")
    ppml_s = time.perf_counter() - started
    return {"labelled_tweets": len(voiced), "panel_rows": len(panel),
            "pair_fixed_effects": int(data["pair_id"].nunique()),
            "panel_seconds": round(panel_s, 2), "ppml_seconds": round(ppml_s, 2),
            "ppml_nobs": ppml.nobs}


def _classifier_labels(world) -> pd.Series | None:
    try:
        from complaintpanel.label import get_classifier
    except ImportError:
        return None
    customer = world.tweets[world.tweets["inbound"]]
    voice, _ = get_classifier("rules").predict(customer["text"].tolist())
    return pd.Series(np.asarray(voice), index=customer["tweet_id"].to_numpy())


def one_world(seed: int, endogenous: bool, with_classifier: bool) -> list[dict[str, object]]:
    world = simulate_world(SimulateConfig(customers=3000, weeks=20, seed=seed,
                                          endogenous_replies=endogenous))
    rows = []
    labellings = {"truth": None}
    if with_classifier:
        labels = _classifier_labels(world)
        if labels is not None:
            labellings["classifier"] = labels
    for labelling, voice in labellings.items():
        data = add_model_columns(build_panel(voiced_from_truth(world, voice)))
        design = answered_vs_unanswered(data, horizon=HORIZON)
        truth = world_answer_effects(world, horizon=HORIZON, draws=10, rows=design.kept,
                                     require_complaint=labelling == "truth")
        truth = truth.set_index("lead")
        ppml = fit_ppml(data, "answered_complaint")
        for outcome in ("complaints", "compliments"):
            for lead in range(HORIZON + 1):
                # picked by its outcome and lead; its name ("complaints[t+0]") keys the summary
                term = design.term(outcome=outcome, lead=lead)
                true_value = float(truth.loc[lead, f"effect_{outcome}"])
                rows.append({
                    "seed": seed, "endogenous": endogenous, "labels": labelling,
                    "term": str(term.name), "estimate": float(term["estimate"]),
                    "se": float(term["se"]), "truth": true_value,
                    "covered": bool(term["ci_lower"] <= true_value <= term["ci_upper"]),
                })
        # PPML's β is a log rate ratio; compare it with the truth on the same scale.
        base = truth.loc[0, "mean_complaints_unanswered"]
        true_log_ratio = float(np.log((base + truth.loc[0, "effect_complaints"]) / base))
        beta = ppml.term(treatment="answered_complaint")
        rows.append({"seed": seed, "endogenous": endogenous, "labels": labelling,
                     "term": "ppml_log_ratio[t+0]", "estimate": float(beta["estimate"]),
                     "se": float(beta["se"]), "truth": true_log_ratio,
                     "covered": bool(beta["ci_lower"] <= true_log_ratio <= beta["ci_upper"])})
        if labelling == "truth" and not endogenous:
            rows += _poisson_event_study(world, data, seed)
    return rows


def _poisson_event_study(world, data: pd.DataFrame, seed: int) -> list[dict[str, object]]:
    """Poisson ETWFE post-period log rate ratios against the first reply's true effect."""
    fit = event_study(data, "complaints", window=WINDOW, estimators=("poisson",))["poisson"]
    first = (data.dropna(subset=["first_reply_period"])
             .groupby("pair_id").first()[["customer_id", "first_reply_period"]]
             .rename(columns={"first_reply_period": "period"}).astype({"period": "int64"}))
    truth = world_answer_effects(world, horizon=WINDOW - 1, draws=10, rows=first).set_index(
        "lead")
    band = fit.info["sup_t_critical_95"]
    rows = []
    for k in range(WINDOW + 1):
        true_value = 0.0 if k == 0 else float(np.log(
            truth.loc[k - 1, "mean_complaints_answered"]
            / truth.loc[k - 1, "mean_complaints_unanswered"]))
        term = fit.term(event_time=k)
        rows.append({"seed": seed, "endogenous": False, "labels": "truth",
                     "term": f"poisson_event_study[k={k}]", "estimate": float(term["estimate"]),
                     "se": float(term["se"]), "truth": true_value,
                     "covered": bool(term["ci_lower"] <= true_value <= term["ci_upper"]),
                     "covered_sup_t": bool(abs(term["estimate"] - true_value)
                                           <= band * term["se"])})
    return rows


def complaint_event_study_world(seed: int, endogenous: bool) -> list[dict[str, object]]:
    """Complaint-anchored Poisson event study of one world against its own truth."""
    world = simulate_world(SimulateConfig(customers=3000, weeks=20, seed=seed,
                                          endogenous_replies=endogenous))
    data = add_model_columns(build_panel(voiced_from_truth(world)))
    fit = event_study(data, "complaints", WINDOW, ("poisson_complaint",))["poisson_complaint"]
    truth = anchor_effects(world, informed_answered_rows(data, "complaints", WINDOW),
                           draws=10).set_index("event_time")
    band = fit.info["sup_t_critical_95"]
    placebo = fit.info["placebo_test"]
    rows = []
    for k in fit.term_estimates()["event_time"]:
        term = fit.term(event_time=int(k))
        true_value = float(truth.loc[int(k), "truth"])
        of_means = float(truth.loc[int(k), "truth_ratio_of_means"])
        rows.append({"seed": seed, "endogenous": endogenous, "labels": "truth",
                     "term": f"poisson_complaint_event_study[k={int(k)}]",
                     "estimate": float(term["estimate"]), "se": float(term["se"]),
                     "truth": true_value,
                     "covered": bool(term["ci_lower"] <= true_value <= term["ci_upper"]),
                     "truth_ratio_of_means": of_means,
                     "covered_ratio_of_means": bool(term["ci_lower"] <= of_means
                                                    <= term["ci_upper"]),
                     "covered_sup_t": bool(abs(term["estimate"] - true_value)
                                           <= band * term["se"]),
                     "placebo_p_compliments": placebo.get("compliments", {}).get("pvalue"),
                     "placebo_p_neutral": placebo.get("neutral", {}).get("pvalue"),
                     "set_aside_zero_cells": fit.info["set_aside_zero_cells"]})
    return rows


def run_complaint_event_study(worlds: int, endogenous_worlds: int, first_world: int) -> None:
    """Part 4 alone, resumable (module docstring); writes its own json."""
    rows_path = RESULTS_DIR / "panel_complaint_event_study_rows.csv"
    done = pd.read_csv(rows_path) if rows_path.exists() else pd.DataFrame()
    seen = set(zip(done["seed"], done["endogenous"], strict=True)) if len(done) else set()
    started = time.perf_counter()
    plan = [(1000 + i, False) for i in range(first_world, first_world + worlds)] \
        + [(5000 + i, True) for i in range(first_world, first_world + endogenous_worlds)]
    for seed, endogenous in plan:
        if (seed, endogenous) in seen:
            continue
        frame = pd.DataFrame(complaint_event_study_world(seed, endogenous))
        frame.to_csv(rows_path, mode="a", header=not rows_path.exists(), index=False)
        print(f"world {seed} ({'endogenous' if endogenous else 'exogenous'}) "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    frame = pd.read_csv(rows_path)
    by_term = summarise(frame)
    for (endogenous, term), rows in frame.groupby(["endogenous", "term"]):
        key = f"{'endogenous' if endogenous else 'exogenous'}/truth/{term}"
        by_term[key]["placebo_rejects_5pct_compliments"] = round(float(
            (rows["placebo_p_compliments"] < 0.05).mean()), 3)
        by_term[key]["placebo_rejects_5pct_neutral"] = round(float(
            (rows["placebo_p_neutral"] < 0.05).mean()), 3)
        by_term[key]["coverage_of_ratio_of_means"] = round(float(
            rows["covered_ratio_of_means"].mean()), 3)
        by_term[key]["mean_truth_ratio_of_means"] = round(float(
            rows["truth_ratio_of_means"].mean()), 4)
    # the sup-t band is simultaneous: a world is covered when every event time is
    joint = {("endogenous" if endogenous else "exogenous"): round(float(
        rows.groupby("seed")["covered_sup_t"].all().mean()), 3)
        for endogenous, rows in frame.groupby("endogenous")}
    placebo = {("endogenous" if endogenous else "exogenous"): {
        f"rejects_5pct_{outcome}": round(float(
            (rows.groupby("seed")[f"placebo_p_{outcome}"].first() < 0.05).mean()), 3)
        for outcome in ("compliments", "neutral")}
        for endogenous, rows in frame.groupby("endogenous")}
    result = {
        "worlds_exogenous": int(frame.loc[~frame["endogenous"], "seed"].nunique()),
        "worlds_endogenous": int(frame.loc[frame["endogenous"], "seed"].nunique()),
        "world": "3,000 customers x 20 weeks, default calibration, true voice",
        "event_window": WINDOW,
        "estimator": "complaint-anchored Poisson event study (pyfixest fepois; stratum x event "
                     "time effects; answered x anchor cohort x event time; CRV1 by customer)",
        "truth": "log rate ratio of complaints at event time k with the first complaint "
                 "answered vs withheld (later replies by the brand's policy in both arms) over "
                 "the answered anchors that inform the estimate, strata and cohorts weighted "
                 "as the Poisson fit weights them (simulate.truth_effects.anchor_effects, 10 "
                 "paired continuations); truth_ratio_of_means: per cohort the log ratio of "
                 "those anchors' mean rates, cohorts weighted by rows",
        "target_coverage": [0.90, 0.98],
        "coverage_sup_t_band_all_event_times": joint,
        "placebo_by_world": placebo,
        "seconds_this_run": round(time.perf_counter() - started, 1),
        "by_term": by_term}
    print(f"complaint event study → {write_result('panel_complaint_event_study', result)}")


def complaint_event_study_docs(payload: dict[str, object]) -> str:
    """Markdown table of panel_complaint_event_study.json for docs/design.md."""
    lines = [f"{payload['worlds_exogenous']} exogenous and {payload['worlds_endogenous']} "
             f"endogenous-replies worlds ({payload['world']}); 95% intervals.", "",
             "| world | k | mean estimate | mean truth | bias | sd(estimate − truth) | mean SE "
             "| coverage | coverage of the ratio-of-means truth (mean) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key, row in sorted(payload["by_term"].items()):
        world, _, term = key.split("/")
        k = term.split("k=")[1].rstrip("]")
        lines.append(f"| {world} | {k} | {row['mean_estimate']} | {row['mean_truth']} "
                     f"| {row['bias']} | {row['sd_estimate_minus_truth']} | {row['mean_se']} "
                     f"| {row['coverage']} | {row['coverage_of_ratio_of_means']} "
                     f"({row['mean_truth_ratio_of_means']}) |")
    joint, placebo = payload["coverage_sup_t_band_all_event_times"], payload["placebo_by_world"]
    lines += ["", "Sup-t band covering the whole path: "
              + ", ".join(f"{w} {v}" for w, v in joint.items())
              + ". Placebo rejecting at 5% (share of worlds): "
              + "; ".join(f"{w}: compliments {v['rejects_5pct_compliments']}, neutral "
                          f"{v['rejects_5pct_neutral']}" for w, v in placebo.items()) + "."]
    return "\n".join(lines)


def summarise(frame: pd.DataFrame) -> dict[str, object]:
    out = {}
    for (endogenous, labels, term), rows in frame.groupby(["endogenous", "labels", "term"]):
        key = f"{'endogenous' if endogenous else 'exogenous'}/{labels}/{term}"
        out[key] = {"worlds": len(rows), "coverage": round(float(rows["covered"].mean()), 3),
                    "mean_estimate": round(float(rows["estimate"].mean()), 4),
                    "mean_truth": round(float(rows["truth"].mean()), 4),
                    "bias": round(float((rows["estimate"] - rows["truth"]).mean()), 4),
                    "mean_se": round(float(rows["se"].mean()), 4),
                    "sd_estimate_minus_truth": round(float(
                        (rows["estimate"] - rows["truth"]).std(ddof=1)), 4)
                    if len(rows) > 1 else None}  # JSON has no NaN
        if "covered_sup_t" in rows and rows["covered_sup_t"].notna().any():
            out[key]["coverage_sup_t_band"] = round(float(
                rows["covered_sup_t"].dropna().astype(bool).mean()), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--endogenous-worlds", type=int, default=30)
    parser.add_argument("--skip-speed", action="store_true",
                        help="keep the speed study already in the results file")
    parser.add_argument("--skip-coverage", action="store_true",
                        help="keep the coverage study already in the results file")
    parser.add_argument("--first-world", type=int, default=0,
                        help="index of the first world (to split the study into shards)")
    parser.add_argument("--rows-out", type=Path,
                        help="write this shard's per-world rows here (CSV) and stop")
    parser.add_argument("--merge", type=Path, nargs="+",
                        help="summarise the rows of these shards instead of running worlds")
    parser.add_argument("--complaint-event-study", action="store_true",
                        help="run only the complaint-anchored Poisson event study (Part 4; "
                             "resumable) and write panel_complaint_event_study.json")
    parser.add_argument("--update-docs", action="store_true",
                        help="with --complaint-event-study: only write the table of "
                             "results/panel_complaint_event_study.json into docs/design.md")
    args = parser.parse_args()
    if args.complaint_event_study and args.update_docs:
        payload = json.loads((RESULTS_DIR / "panel_complaint_event_study.json").read_text(
            encoding="utf-8"))
        print(replace_docs_block("design.md", "complaint_event_study",
                                 complaint_event_study_docs(payload)))
        return
    if args.complaint_event_study:
        run_complaint_event_study(args.worlds, args.endogenous_worlds, args.first_world)
        return
    result: dict[str, object] = {}
    previous = RESULTS_DIR / "panel.json"
    if args.skip_coverage and previous.exists():
        result["coverage_study"] = json.loads(previous.read_text())["coverage_study"]
    if args.skip_speed and previous.exists():  # keep the speed study already in the file
        kept = json.loads(previous.read_text())
        result.update({key: kept[key] for key in ("speed_2_8m_tweets", "speed_500k_pairs",
                                                  "peak_rss_mb_speed") if key in kept})
    if not args.skip_speed:
        result["speed_2_8m_tweets"] = speed(78_000, 26)
        result["speed_500k_pairs"] = speed(520_000, 6)
        result["peak_rss_mb_speed"] = round(peak_rss_mb(), 1)
    if args.skip_coverage:
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        print(f"panel benchmark → {write_result('panel', result)}")
        return
    started = time.perf_counter()
    if args.merge:
        frame = pd.concat([pd.read_csv(path) for path in args.merge], ignore_index=True)
        args.worlds = int(frame.loc[~frame["endogenous"], "seed"].nunique())
        args.endogenous_worlds = int(frame.loc[frame["endogenous"], "seed"].nunique())
    else:
        rows = []
        for i in range(args.first_world, args.first_world + args.worlds):
            rows += one_world(1000 + i, endogenous=False, with_classifier=True)
        for i in range(args.first_world, args.first_world + args.endogenous_worlds):
            rows += one_world(5000 + i, endogenous=True, with_classifier=False)
        frame = pd.DataFrame(rows)
        if args.rows_out:
            frame.to_csv(args.rows_out, index=False)
            print(f"rows → {args.rows_out}")
            return
    result["coverage_study"] = {
        "worlds_exogenous": args.worlds, "worlds_endogenous": args.endogenous_worlds,
        "world": "3,000 customers x 20 weeks, default calibration", "horizon": HORIZON,
        "event_window": WINDOW,
        "truth_populations": "design: the kept customer-periods, per lead those with the "
                             "outcome period in the panel; classifier labels: classified "
                             "complaints (true effect 0 where no true complaint); Poisson event "
                             "study: first-reply customer-periods, that reply withheld",
        "target_coverage": [0.93, 0.97],
        "seconds": None if args.merge else round(time.perf_counter() - started, 1),
        "shards": [path.name for path in args.merge] if args.merge else None,
        "by_term": summarise(frame)}
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    path = write_result("panel", result)
    print(f"panel benchmark → {path}")


if __name__ == "__main__":
    main()
