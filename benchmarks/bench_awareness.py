"""Telling the two mechanisms apart (issue 21, item 6): awareness vs the answered one's learning.

Two kinds of simulated world (exogenous replies, true voice from the oracle):

* **awareness on, learning off**: ``awareness_effect`` > 0 (a brand's answered share of
  customers in ``t`` raises its other customers' complaint log-rate in ``t+1``) with γ = δ = 0
  (an answer changes nothing for the answered customer herself);
* **awareness off, learning on**: ``awareness_effect`` = 0 with the default γ and δ.

On each, the brand × period awareness test (:func:`~complaintpanel.estimate.awareness.
awareness_test`, randomisation inference) and the design-based effect of answering on the
answered customer's complaints and compliments in ``t+0`` (:func:`~complaintpanel.estimate.
answered_vs_unanswered`), with the design's truth on its kept customer-periods. The test's power
grows with the number of brand-periods, not customers (module docstring of
``estimate.awareness``), so these worlds have many brands and a long window and few customers.
In the awareness world the design's truth is exactly 0 (γ = δ = 0; answering one customer
does not change her own awareness term, which counts the *other* customers answered).

Writes benchmarks/results/awareness.json. Usage:
    python benchmarks/bench_awareness.py [--seeds N] [--customers C] [--brands B] [--weeks W]
    python benchmarks/bench_awareness.py --update-docs   # its table into docs/design.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS_DIR, replace_docs_block, write_result
from complaintpanel.config import SimulateConfig
from complaintpanel.estimate import add_model_columns, answered_vs_unanswered
from complaintpanel.estimate.awareness import awareness_test
from complaintpanel.model import default_params
from complaintpanel.panel import build_panel
from complaintpanel.simulate import simulate_world
from complaintpanel.simulate.oracle import voiced_from_truth
from complaintpanel.simulate.truth_effects import world_answer_effects

AWARENESS = 1.5


def one_world(kind: str, seed: int, customers: int, brands: int, weeks: int
              ) -> dict[str, Any]:
    """The awareness test and the design estimate on one world of ``kind``."""
    aware = kind == "awareness_on_learning_off"
    params = default_params().replace(gamma=0.0, delta=0.0) if aware else default_params()
    spec = SimulateConfig(customers=customers, brands=brands, weeks=weeks, seed=seed,
                          awareness_effect=AWARENESS if aware else 0.0)
    world = simulate_world(spec, params=params)
    data = add_model_columns(build_panel(voiced_from_truth(world)))
    out: dict[str, Any] = {"kind": kind, "seed": seed, "awareness_effect": spec.awareness_effect,
                           "gamma": params.gamma, "delta": params.delta}
    for group in ("silent", "never_answered"):
        test = awareness_test(data, group, seed=seed)
        term = test.terms.iloc[0]
        out[f"awareness_{group}"] = {
            "estimate": round(float(test.params.iloc[0]), 4),
            "se_randomisation": round(float(test.bse.iloc[0]), 4),
            "ci": [round(float(term["ci_lower_randomisation"]), 4),
                   round(float(term["ci_upper_randomisation"]), 4)],
            "pvalue": round(float(term["pvalue_randomisation"]), 4),
            "brand_periods": int(term["nobs"])}
    design = answered_vs_unanswered(data, horizon=0)
    truth = world_answer_effects(world, horizon=0, draws=5, rows=design.kept).set_index("lead")
    for outcome in ("complaints", "compliments"):
        term = design.term(outcome=outcome, lead=0)
        true_value = 0.0 if aware else float(truth.loc[0, f"effect_{outcome}"])
        out[f"design_{outcome}_t0"] = {
            "estimate": round(float(term["estimate"]), 4), "se": round(float(term["se"]), 4),
            "ci": [round(float(term["ci_lower"]), 4), round(float(term["ci_upper"]), 4)],
            "pvalue": round(float(term["pvalue"]), 4), "truth": round(true_value, 4),
            "truth_simulated": round(float(truth.loc[0, f"effect_{outcome}"]), 4),
            "covered": bool(term["ci_lower"] <= true_value <= term["ci_upper"])}
    return out


def docs_table(payload: dict[str, Any]) -> str:
    """Markdown of the json's worlds (the block of docs/design.md)."""
    lines = [f"{payload['customers']:,} customers × {payload['brands']} brands × "
             f"{payload['weeks']} weeks per world; awareness effect when on "
             f"{payload['awareness_effect_when_on']}.", "",
             "| world | seed | awareness test (silent): β [95% CI], p | (never answered): β, p "
             "| design, complaints t+0: estimate [95% CI] / truth "
             "| design, compliments t+0: estimate / truth |",
             "|---|---|---|---|---|---|"]
    for w in payload["worlds"]:
        a, n = w["awareness_silent"], w["awareness_never_answered"]
        c, p = w["design_complaints_t0"], w["design_compliments_t0"]
        lines.append(
            f"| {w['kind'].replace('_', ' ')} | {w['seed']} "
            f"| {a['estimate']} [{a['ci'][0]}, {a['ci'][1]}], {a['pvalue']} "
            f"| {n['estimate']}, {n['pvalue']} "
            f"| {c['estimate']} [{c['ci'][0]}, {c['ci'][1]}] / {c['truth']} "
            f"| {p['estimate']} / {p['truth']} |")
    lines += ["", f"Wall time {payload['seconds']} s."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--brands", type=int, default=10)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--update-docs", action="store_true",
                        help="only write the table of results/awareness.json into "
                             "docs/design.md")
    args = parser.parse_args()
    if args.update_docs:
        payload = json.loads((RESULTS_DIR / "awareness.json").read_text(encoding="utf-8"))
        print(replace_docs_block("design.md", "bench_awareness", docs_table(payload)))
        return
    started = time.perf_counter()
    worlds = []
    for kind in ("awareness_on_learning_off", "awareness_off_learning_on"):
        for seed in range(7, 7 + args.seeds):
            worlds.append(one_world(kind, seed, args.customers, args.brands, args.weeks))
            print(f"{kind} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    path = write_result("awareness", {
        "description": __doc__.split("\n\n")[0],
        "customers": args.customers, "brands": args.brands, "weeks": args.weeks,
        "awareness_effect_when_on": AWARENESS, "seconds": round(time.perf_counter() - started),
        "worlds": worlds})
    print(f"awareness benchmark → {path}")


if __name__ == "__main__":
    main()
