"""Deliberate errors in the estimators, the panel and the likelihood: each must fail a test.

A test guards an estimator only if it fails when the estimator is wrong. This benchmark
applies, one at a time, the errors a reviewer worries about — a lead for a lag, a
contemporaneous treatment, event times off by one, the naive TWFE in place of the robust event
study, standard errors not clustered by customer, the AIPW augmentation dropped, a cumulative
count that includes the current period, the sign of the intervention flipped in the transition
likelihood — runs the test modules that should catch it, records which tests failed, and
restores the file. Results: ``benchmarks/results/mutations.json`` (every mutation must be
caught). A generic mutation tool (mutmut) would try thousands of syntactic changes; this list
is the semantic errors the package's tests are meant to catch, each named.

Run: ``python benchmarks/bench_mutations.py`` (about 15 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import write_result

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

# (name, file, original text, mutated text); the original must occur exactly once.
MUTATIONS = [
 ("lead instead of lag", "src/complaintpanel/estimate/treatments.py",
  'return series.groupby(out["pair_id"], sort=False).shift(1).where(~first)',
  'return series.groupby(out["pair_id"], sort=False).shift(-1).where(~first)'),
 ("contemporaneous treatment", "src/complaintpanel/estimate/treatments.py",
  'out["treat_replied"] = lagged(out["replied"].astype(float))',
  'out["treat_replied"] = out["replied"].astype(float).where(~first)'),
 ("event time off by one", "src/complaintpanel/estimate/event_study.py",
  'rel = (sample["t"] - sample["g"]).where(sample["g"] > 0)',
  'rel = (sample["t"] - sample["g"] + 1).where(sample["g"] > 0)'),
 ("did2s replaced by TWFE", "src/complaintpanel/estimate/event_study.py",
  'def _did2s(sample: pd.DataFrame, outcome: str, window: int) -> EffectResults:',
  'def _did2s(sample: pd.DataFrame, outcome: str, window: int) -> EffectResults:\n'
  '    return _twfe(sample, outcome, window)'),
 ("PPML SE not clustered", "src/complaintpanel/estimate/fixed_effects.py",
  'fit = pf.fepois(formula, data=sample, vcov={"CRV1": "customer_id"}',
  'fit = pf.fepois(formula, data=sample, vcov="hetero"'),
 ("FE SE not clustered", "src/complaintpanel/estimate/fixed_effects.py",
  'fit = pf.feols(formula, data=sample, vcov={"CRV1": "customer_id"}',
  'fit = pf.feols(formula, data=sample, vcov="hetero"'),
 ("design SE not clustered", "src/complaintpanel/estimate/design.py",
  'customers = base["customer_id"].to_numpy()',
  'customers = np.arange(len(base))'),
 ("AIPW augmentation dropped", "src/complaintpanel/estimate/design.py",
  'psi = mu1 - mu0 + do * (yo - mu1) / eo - (~do) * (yo - mu0) / (1 - eo)',
  'psi = mu1 - mu0'),
 ("replies_before counts the current period", "src/complaintpanel/panel.py",
  'ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS replies_before',
  'ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), 0) AS replies_before'),
 ("sign of intervention in the transition likelihood", "src/complaintpanel/hmm/transitions.py",
  '        out += coef * values\n    return out',
  '        out -= coef * values\n    return out'),
]
TESTS = ["tests/test_estimate_known_answers.py", "tests/test_estimate.py", "tests/test_results.py",
         "tests/test_panel.py", "tests/test_hmm_core.py", "tests/test_hmm_estimator.py",
         "tests/test_pipeline_truth.py"]


def run_tests() -> list[str]:
    """Run :data:`TESTS` on two workers; return the ids of the failed tests."""
    run = subprocess.run([PYTHON, "-m", "pytest", "-q", "-n", "2", "--no-header",
                          "-p", "no:warnings", *TESTS], cwd=REPO, capture_output=True,
                         text=True)
    return [line.split(" ")[1] for line in run.stdout.splitlines()
            if line.startswith("FAILED")]


def main() -> None:
    """Apply each mutation, run the tests, restore the file, write the results."""
    # No options: --help says what the script does (and does not start it).
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    started = time.perf_counter()
    baseline = run_tests()
    if baseline:
        raise SystemExit(f"the tests fail before any mutation: {baseline}")
    records = []
    for name, path, original, mutated in MUTATIONS:
        file = REPO / path
        text = file.read_text()
        if text.count(original) != 1:
            raise SystemExit(f"{name}: the original text occurs {text.count(original)} times "
                             f"in {path}; update the mutation")
        file.write_text(text.replace(original, mutated))
        try:
            failed = run_tests()
        finally:
            file.write_text(text)
        records.append({"mutation": name, "file": path, "caught": bool(failed),
                        "failed_tests": failed})
        print(f"{name}: {'caught' if failed else 'MISSED'} by {len(failed)} test(s)",
              flush=True)
    write_result("mutations", {
        "description": "Each deliberate error must make at least one test fail.",
        "tests_run": TESTS, "mutations": records,
        "caught": sum(r["caught"] for r in records), "total": len(records),
        "seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
