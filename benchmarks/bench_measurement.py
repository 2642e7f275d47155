"""Coverage of the misclassification-corrected design-based estimate (issue 15, part A).

Over N simulated worlds (small: CUSTOMERS customers × WEEKS weeks each, default calibration):
the rules classifier labels the simulated texts (as in bench_panel.py), the labelled exchanges
come from the truth (complaintpanel.simulate.oracle.voiced_from_truth), an oracle codes a
stratified 1,000-tweet validation sample (equal allocation), and the design-based estimate
(answered vs unanswered, t+0 … t+2) is computed naive and corrected through M̂. Both are
compared with the truth of the SAME estimand: the effect of answering on the true complaint and
compliment counts among the customer-periods the estimate kept on CLASSIFIED labels
(complaintpanel.simulate.truth_effects.world_answer_effects, require_complaint=False).
Target: corrected coverage ≥ 0.90 for complaints and compliments at t+0 … t+2.

What M⁻ᵀ cannot fix: the POPULATION and the TREATMENT are classified too. Among the
customer-weeks with a classified complaint in t−1, some had no true complaint (a neutral tweet or
a compliment read as one); answering them changes nothing, and their customers complain less the
next week. Brands answer true complaints more than other tweets, so the answered arm holds more
weeks with a true complaint than the unanswered one (``true_complaint_share_t_minus_1``), and
the comparison is confounded by the true voice of t−1 — a bias no correction of the OUTCOME
counts removes. The method ``true_outcomes`` measures that bound: the same estimate with the
outcomes counted from the truth (classified population and treatment). Any outcome-side
correction — one M, or one M per arm, estimated from any validation sample — has the
expectation of ``true_outcomes`` at best (with each arm's true M, W_d y has the expectation of
the true counts of arm d), so its bias is the floor of the corrected estimate's.

Writes benchmarks/results/measurement.json. Usage:
    python benchmarks/bench_measurement.py [--worlds N] [--customers C] [--minutes T]
    python benchmarks/bench_measurement.py --update-docs   # its table into docs/measurement.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import peak_rss_mb, write_result
from complaintpanel.config import SimulateConfig
from complaintpanel.estimate import add_model_columns, answered_vs_unanswered
from complaintpanel.estimate.measurement import corrected_design, corrected_design_voice_control
from complaintpanel.label.validation import (
    coded_tweets,
    draw_validation_sample,
    oracle_code,
    validation_counts,
)
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth
from complaintpanel.simulate.truth_effects import world_answer_effects

HORIZON = 2
VALIDATION_N = 1000
REPLICATES = 30  # bootstrap replicates of the validation sample (true-voice control)
OUTCOMES = ("complaints", "compliments", "neutral")
TRUE_OUTCOMES = tuple(f"true_{outcome}" for outcome in OUTCOMES)
NOTES = ("M⁻ᵀ corrects the misclassified OUTCOME counts. The population and the treatment "
         "(a classified complaint in t−1, answered or not) are classified too: answered weeks "
         "hold more true complaints than unanswered ones (true_complaint_share_t_minus_1), "
         "and weeks without a true complaint have fewer complaints and more compliments "
         "next week, so the comparison is confounded by the true voice of t−1. "
         "'true_outcomes' (the same estimate on the true outcome counts) is the floor of any "
         "outcome-side correction, including one M per treatment arm; its bias is the part "
         "no such correction removes. 'corrected_voice_adjusted' removes the confounding by "
         "TC = 1{true complaint in t−1}: the AIPW of y − b̂·ĉ, with ĉ = E[TC | counts by label "
         "× answered] (ŵ from the validation sample) and b̂ the effect of TC on y estimated "
         "from the coded tweets' codes (c̃ − ĉ innovations); validation uncertainty (ŵ, b̂, M̂) "
         "by a bootstrap over the validation sample's strata. 'corrected_voice_control' puts ĉ "
         "in the outcome models instead (as first proposed; its coefficient is identified only "
         "by the other labels' counts within an arm). 'corrected_true_tc_control' and "
         "'corrected_true_count_control' (oracle diagnostics) control for the TRUE indicator / "
         "number of true complaints in t−1: the best any estimate of those controls can do.")


def classifier_labels(world) -> pd.Series:
    from complaintpanel.label import get_classifier

    customer = world.tweets[world.tweets["inbound"]]
    voice, _ = get_classifier("rules").predict(customer["text"].tolist())
    return pd.Series(np.asarray(voice), index=customer["tweet_id"].to_numpy())


def one_world(seed: int, customers: int, weeks: int) -> tuple[list[dict[str, object]],
                                                               dict[str, object]]:
    world = simulate_world(SimulateConfig(customers=customers, weeks=weeks, seed=seed))
    labels = classifier_labels(world)
    voiced = voiced_from_truth(world, labels)
    design = draw_validation_sample(voiced, VALIDATION_N, seed=seed)
    sample = design.sample.assign(tweet_id=design.sample["tweet_key"])
    coded = oracle_code(sample[["tweet_id"]].assign(voice=""), world.voice)
    counts = validation_counts(coded, design)
    coded_sample = coded_tweets(coded, design, voiced)
    data = with_true_counts(add_model_columns(build_panel(voiced)), world)
    naive = answered_vs_unanswered(data, outcomes=OUTCOMES, horizon=HORIZON)
    fits = {"naive": naive, "corrected": corrected_design(naive, counts),
            "corrected_known_m": corrected_design(naive, counts, with_m_uncertainty=False),
            # Bound for ANY correction of the outcomes (one M, or one M per arm): the same
            # population and treatment (classified), the outcomes counted from the truth.
            "true_outcomes": answered_vs_unanswered(data, outcomes=TRUE_OUTCOMES,
                                                    horizon=HORIZON),
            # Issue 15's true-voice adjustment (default): the AIPW of y − b̂·ĉ, ĉ = E[true
            # complaint in t−1 | counts by label × answered], ŵ and b̂ from the coded tweets.
            "corrected_voice_adjusted": corrected_design_voice_control(
                data, coded_sample, horizon=HORIZON, replicates=REPLICATES, seed=seed),
            # ... as first proposed: ĉ as a control of the outcome models (kept for the record).
            "corrected_voice_control": corrected_design_voice_control(
                data, coded_sample, horizon=HORIZON, replicates=10, seed=seed,
                method="outcome_control"),
            # Diagnostics (oracle): the control with the TRUE indicator / TRUE number of
            # complaints in t−1, the best any estimate of them can do.
            "corrected_true_count_control": corrected_design(answered_vs_unanswered(
                data, outcomes=OUTCOMES, horizon=HORIZON,
                outcome_controls=data[["true_complaints"]].astype(float)), counts),
            "corrected_true_tc_control": corrected_design(answered_vs_unanswered(
                data, outcomes=OUTCOMES, horizon=HORIZON,
                outcome_controls=(data[["true_complaints"]] > 0).astype(float)), counts)}
    truth = world_answer_effects(world, horizon=HORIZON, draws=10, rows=naive.kept,
                                 require_complaint=False).set_index("lead")
    rows = []
    for method, fit in fits.items():
        for outcome in ("complaints", "compliments"):
            for lead in range(HORIZON + 1):
                term = fit.term(outcome=f"true_{outcome}" if method == "true_outcomes"
                                else outcome, lead=lead)
                true_value = float(truth.loc[lead, f"effect_{outcome}"])
                rows.append({"seed": seed, "method": method, "term": str(term.name),
                             "estimate": float(term["estimate"]), "se": float(term["se"]),
                             "truth": true_value,
                             "covered": bool(term["ci_lower"] <= true_value <= term["ci_upper"])})
    true_labels = world.voice.set_index("tweet_id").loc[labels.index, "voice"]
    accuracy = float((true_labels.to_numpy() == labels.to_numpy()).mean())
    m_hat, _ = counts.misclassification()
    # Composition of the arms in t−1: share of kept customer-periods with a TRUE complaint.
    kept = naive.kept.merge(data, on=["customer_id", "brand", "period"], how="left")
    treated = (kept["answered_complaints"] > 0).to_numpy()
    has_true = (kept["true_complaints"] > 0).to_numpy()
    # ... and what those weeks' customers tweet in t+0 (unanswered arm): the confounder's pull
    following = kept[["customer_id", "brand", "period"]].assign(period=kept["period"] + 1).merge(
        data[["customer_id", "brand", "period", "true_complaints", "true_compliments"]],
        on=["customer_id", "brand", "period"], how="left")
    info: dict[str, object] = {
        "seed": seed, "accuracy": accuracy, "m_hat": m_hat.tolist(),
        "customer_tweets": len(voiced), "kept": int(naive.nobs),
        "true_complaint_share_answered": float(has_true[treated].mean()),
        "true_complaint_share_unanswered": float(has_true[~treated].mean())}
    for outcome in ("complaints", "compliments"):
        values = following[f"true_{outcome}"].to_numpy(dtype=float)
        for label, rows_of in (("with", ~treated & has_true), ("without", ~treated & ~has_true)):
            info[f"unanswered_{label}_true_complaint_{outcome}_t0"] = float(
                np.nanmean(values[rows_of]))
    return rows, info


def with_true_counts(data: pd.DataFrame, world) -> pd.DataFrame:
    """Add ``true_<outcome>``: the panel's counts from the true voice (0 where no tweet)."""
    true_panel = build_panel(voiced_from_truth(world))[["customer_id", "brand", "period",
                                                        *OUTCOMES]]
    out = data.merge(true_panel.rename(columns={o: f"true_{o}" for o in OUTCOMES}),
                     on=["customer_id", "brand", "period"], how="left")
    for outcome in TRUE_OUTCOMES:
        out[outcome] = out[outcome].fillna(0.0)
    return out


def summarise(frame: pd.DataFrame) -> dict[str, object]:
    out = {}
    for (method, term), rows in frame.groupby(["method", "term"]):
        out[f"{method}/{term}"] = {
            "worlds": len(rows), "coverage": round(float(rows["covered"].mean()), 3),
            "mean_estimate": round(float(rows["estimate"].mean()), 4),
            "mean_truth": round(float(rows["truth"].mean()), 4),
            "bias": round(float((rows["estimate"] - rows["truth"]).mean()), 4),
            "mean_se": round(float(rows["se"].mean()), 4),
            "sd_estimate_minus_truth": round(float((rows["estimate"] - rows["truth"])
                                                   .std(ddof=1)), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=None,
                        help="stop starting new worlds after this many minutes")
    parser.add_argument("--first-seed", type=int, default=3000)
    parser.add_argument("--log", type=Path, default=None,
                        help="append each world's rows to this JSON-lines file and reuse the "
                             "worlds already in it (same customers/weeks), so a run cut by "
                             "--minutes can be extended")
    args = parser.parse_args()
    started = time.perf_counter()
    rows: list[dict[str, object]] = []
    worlds: list[dict[str, object]] = []
    logged = _read_log(args.log, args.customers, args.weeks)
    for i in range(args.worlds):
        seed = args.first_seed + i
        if seed in logged:
            world_rows, world_info = logged[seed]
        else:
            if args.minutes is not None and time.perf_counter() - started > 60 * args.minutes:
                break
            world_rows, world_info = one_world(seed, args.customers, args.weeks)
            _append_log(args.log, seed, args.customers, args.weeks, world_rows, world_info)
        rows += world_rows
        worlds.append(world_info)
        print(f"world {i + 1}: {time.perf_counter() - started:.0f} s", flush=True)
        if (i + 1) % 10 == 0:
            _write(rows, worlds, args, started, final=False)
    path = _write(rows, worlds, args, started, final=True)
    print(f"measurement benchmark → {path}")


def _read_log(path: Path | None, customers: int, weeks: int) -> dict[int, tuple[list, dict]]:
    """Worlds already computed (seed → rows, info) in a JSON-lines log of the same size."""
    import json

    if path is None or not path.exists():
        return {}
    done = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["customers"] == customers and entry["weeks"] == weeks:
            done[int(entry["seed"])] = (entry["rows"], entry["info"])
    return done


def _append_log(path: Path | None, seed: int, customers: int, weeks: int,
                rows: list[dict[str, object]], info: dict[str, object]) -> None:
    """Append one world's rows to the JSON-lines log (nothing without ``--log``)."""
    import json

    if path is None:
        return
    entry = {"seed": seed, "customers": customers, "weeks": weeks, "rows": rows, "info": info}
    with path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry, default=_plain) + "\n")


def _plain(value: object) -> object:
    """JSON form of numpy scalars and arrays."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _write(rows, worlds, args, started, final: bool) -> Path:
    frame = pd.DataFrame(rows)
    result: dict[str, object] = {
        "study": "coverage of the corrected design-based estimate (classifier labels, "
                 "oracle-coded validation sample)",
        "worlds": len(worlds), "worlds_requested": args.worlds, "complete": final
        and len(worlds) == args.worlds,
        "world": f"{args.customers:,} customers x {args.weeks} weeks (small worlds), default "
                 f"calibration, seeds {args.first_seed}…",
        "classifier": "rules", "validation_sample": f"{VALIDATION_N} tweets, stratified by "
                      "predicted voice, equal allocation, oracle-coded from the truth",
        "horizon": HORIZON, "target_coverage_corrected": 0.90,
        "truth": "true effect on true counts among the customer-periods kept on classified "
                 "labels (require_complaint=False)",
        "mean_classifier_accuracy": round(float(np.mean([w["accuracy"] for w in worlds])), 4),
        "mean_m_hat": np.round(np.mean([w["m_hat"] for w in worlds], axis=0), 4).tolist(),
        "true_complaint_share_t_minus_1": {
            arm: round(float(np.mean([w[f"true_complaint_share_{arm}"] for w in worlds])), 4)
            for arm in ("answered", "unanswered")},
        "unanswered_true_counts_t0_by_true_complaint_in_t_minus_1": {
            f"{outcome}_{label}": round(float(np.mean(
                [w[f"unanswered_{label}_true_complaint_{outcome}_t0"] for w in worlds])), 4)
            for outcome in ("complaints", "compliments") for label in ("with", "without")},
        "seconds": round(time.perf_counter() - started, 1),
        "notes": NOTES,
        "by_term": summarise(frame),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    return write_result("measurement", result)


DOCS = Path(__file__).resolve().parents[1] / "docs" / "measurement.md"
TABLE_START, TABLE_END = "<!-- bench_measurement:start -->", "<!-- bench_measurement:end -->"
ARMS = (("naive", "naive: cov / bias"), ("corrected", "corrected (M⁻ᵀ): cov / bias / SE"),
        ("corrected_voice_adjusted", "**+ true-voice adjustment**: cov / bias / SE"),
        ("corrected_voice_control", "ĉ as outcome control: cov / bias / SE"),
        ("corrected_true_tc_control", "oracle: true TC control: cov / bias"),
        ("true_outcomes", "true outcomes (floor): cov / bias"))


def render_table(result: dict[str, object]) -> str:
    """Markdown table and summary lines of a measurement.json result (for the docs)."""
    by_term = result["by_term"]
    assert isinstance(by_term, dict)
    lines = [f"{result['worlds']} worlds ({result['world']}; complete: {result['complete']}), "
             f"rules classifier (mean accuracy {result['mean_classifier_accuracy']}), "
             f"{result['validation_sample']}.", "",
             "| term | truth (mean) | " + " | ".join(label for _, label in ARMS) + " |",
             "|---|---|" + "---|" * len(ARMS)]
    for outcome in ("complaints", "compliments"):
        for lead in range(HORIZON + 1):
            term = f"{outcome}[t+{lead}]"
            cells = []
            for arm, label in ARMS:
                row = by_term[f"{arm}/{'true_' if arm == 'true_outcomes' else ''}{term}"]
                cell = f"{row['coverage']} / {row['bias']:+}"
                if "SE" in label:
                    cell += f" / {row['mean_se']}"
                cells.append(cell)
            truth = by_term[f"corrected/{term}"]["mean_truth"]
            lines.append(f"| {term} | {truth} | " + " | ".join(cells) + " |")
    shares = result["true_complaint_share_t_minus_1"]
    following = result["unanswered_true_counts_t0_by_true_complaint_in_t_minus_1"]
    assert isinstance(shares, dict) and isinstance(following, dict)
    lines += ["", f"Share of the population's periods with a true complaint in t−1: answered "
              f"{shares['answered']}, unanswered {shares['unanswered']}; true counts in t+0 of "
              f"unanswered periods with / without one: complaints "
              f"{following['complaints_with']} / {following['complaints_without']}, "
              f"compliments {following['compliments_with']} / "
              f"{following['compliments_without']}. Wall time {result['seconds']} s."]
    return "\n".join(lines)


def update_docs(result_path: Path, docs: Path = DOCS) -> None:
    """Replace the table between the markers of docs/measurement.md with the json's."""
    import json

    text = docs.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    table = render_table(json.loads(result_path.read_text(encoding="utf-8")))
    docs.write_text(text[:start] + "\n" + table + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update-docs"]:
        update_docs(Path(__file__).resolve().parent / "results" / "measurement.json")
    else:
        main()
