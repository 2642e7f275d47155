"""A one-page Markdown summary of one dataset's results: what was and was not estimated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from complaintpanel.hmm.results import read_hmm_results
from complaintpanel.report.periods import period_words
from complaintpanel.results import NotEstimated, read_results

__all__ = ["summary_markdown"]


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _status_line(name: str, entry: Any, **where: Any) -> str:
    """One bullet: a model's status, or the term picked by ``where`` (term-table values)."""
    if entry is None:
        return f"- **{name}**: not run"
    if isinstance(entry, dict):  # one results object per estimator (event studies)
        entries = list(entry.values())
        if all(e.is_estimated for e in entries):
            return f"- **{name}**: estimated"
        entry = next(e for e in entries if not e.is_estimated)
    if not entry.is_estimated:
        return f"- **{name}**: {entry.status} — {entry.reason}"
    if not where:
        return f"- **{name}**: estimated"
    term = entry.term(**where)
    # the term's own observations where the term table has them (design: fewer at later leads)
    nobs = int(term["nobs"]) if "nobs" in term.index else entry.nobs
    return (f"- **{name}**: {term['estimate']:+.3f} (SE {term['se']:.3f}; 95% CI "
            f"{term['ci_lower']:+.3f} to {term['ci_upper']:+.3f}; N = {nobs:,})")


def summary_markdown(results: Path) -> str:
    """Summarise ``estimates.json``, ``hmm.json``, ``policy.json`` and ``robustness.json``.

    Models the data cannot identify are listed with the reason, so a run on a small excerpt
    states what it could and could not estimate.
    """
    lines = [f"# Results summary: {results.name}", ""]
    path = results / "estimates.json"
    estimates = read_results(path) if path.exists() else None
    if estimates is not None:
        d = estimates["descriptives"]
        words = period_words(estimates["settings"].get("period"))
        lines += ["## Data", "",
                  f"{d['customers']:,} customers, {d['brands']:,} brands, {d['periods']} "
                  f"{words.plural}, {d['customer_tweets']:,} customer tweets; "
                  f"{d['complaint_share']:.1%} complaints; {d['reply_rate']:.1%} of tweets "
                  "answered." if d["customer_tweets"] else "No customer tweets.", ""]
        if d["periods"] > 60:
            lines += [f"**Caution**: the observation window spans {d['periods']} "
                      f"{words.plural}, probably because a few tweets are much older than the "
                      "rest (ancestors of long reply chains in an excerpt). Set `window_start` "
                      "/ `window_end` in the `[panel]` section of the config to the period you "
                      "study.", ""]
        lines += ["## Reduced form", ""]
        main = estimates["settings"]["main_treatment"]
        lines.append(_status_line(f"Complaints, PPML (treatment: {main})",
                                  estimates["ppml_complaints"].get(main), treatment=main))
        lines.append(_status_line(f"Sentiment, FE (treatment: {main})",
                                  estimates["fe_sentiment_mean"].get(main), treatment=main))
        lines.append(_status_line(
            f"Answered vs unanswered complaints: complaints next {words.noun}",
            estimates["design"], outcome="complaints", lead=0))
        for outcome, entry in estimates.get("event_study", {}).items():
            lines.append(_status_line(f"Event study ({outcome})", entry))
        for outcome, entry in estimates.get("event_study_complaint_anchored", {}).items():
            lines.append(_status_line(
                f"Complaint-anchored Poisson event study ({outcome}): answered vs unanswered "
                f"first complaint, {words.noun} 1 after it", entry, event_time=1))
        missing = [f"{model} / {key}" for model in ("ppml_complaints", "fe_sentiment_mean",
                                                     "fe_compliment_share")
                   for key, entry in estimates[model].items() if not entry.is_estimated]
        if missing:
            lines += ["", "Not identified on these data: " + "; ".join(missing) + "."]
    hmm = read_hmm_results(results / "hmm.json")
    lines += ["", "## Structural model", ""]
    if hmm is None:
        lines.append("- not run")
    elif isinstance(hmm, NotEstimated):
        lines.append(f"- {hmm.status} — {hmm.reason}")
    else:
        coefficients = hmm.select(block="coefficient").set_index("covariate")
        for covariate, label in (("redress", "Squeaky-wheel effect γ"),
                                 ("intervened", "Relationship effect δ"),
                                 ("peer_voice", "Peer voice η")):
            if covariate in coefficients.index:
                row = coefficients.loc[covariate]
                lines.append(f"- **{label}**: {row['estimate']:+.3f} "
                             f"(95% CI {row['ci_lower']:+.3f} to {row['ci_upper']:+.3f})")
        lines.append(f"- log-likelihood {hmm.loglike:.1f}, BIC {hmm.bic:.1f}, "
                     f"{hmm.n_starts_converged}/{hmm.n_starts} starts at the best optimum")
        if hmm.n_starts_converged * 2 <= hmm.n_starts or hmm.n_customers < 1000:
            lines.append(f"- **Caution**: {hmm.n_customers:,} customers and "
                         f"{hmm.n_starts_converged}/{hmm.n_starts} starts at the best "
                         "optimum — too little data for the structural model to be reliable; "
                         "treat these estimates as illustrative only.")
        selection = (_read(results / "hmm.json") or {}).get("heterogeneity_selection")
        if selection and selection.get("status") == "estimated":
            bics = ", ".join(f"{row['heterogeneity']} {row['bic']:.1f}"
                             for row in selection["candidates"])
            lines.append(f"- **Customers differ**: BIC selects {selection['selected']} "
                         f"(BIC {bics}; {selection['customers']:,} customers, labels taken "
                         "as the true voice)")
        elif selection:
            lines.append(f"- Customers differ: not compared — {selection.get('reason')}")
    policy = _read(results / "policy.json")
    if policy is not None and "contrasts" in policy:
        lines += ["", "## Counterfactual policies (expected complaints per customer over the "
                  "horizon, 95% CI from parameter draws)", ""]
        for row in policy["contrasts"]:
            if row["metric"] == "complaints" and row["contrast"] in (
                    "all_minus_none", "observed_minus_none", "targeted_minus_random",
                    "all_learning_on_minus_off"):
                lines.append(f"- {row['population']}, {row['contrast']}: "
                             f"{row['estimate']:+.2f} ({row['lower']:+.2f} to "
                             f"{row['upper']:+.2f})")
    return "\n".join(lines) + "\n"
