"""Tables of the reduced-form results (Table 1 descriptives, PPML, FE, design-based)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from complaintpanel.report.tables import fmt, write_table

__all__ = ["write_estimate_tables", "write_robustness_table"]

_TREATMENT_LABELS = {
    "replied": "Replied in t−1",
    "replied_within": "Replied within H hours in t−1",
    "answered_complaint": "Answered a complaint in t−1",
    "replies_cumulative": "Cumulative replies before t",
}


def _effect_cell(entry: dict[str, Any], term: str | None = None) -> tuple[str, str]:
    if entry.get("status") != "estimated":
        return "not identified", ""
    terms = entry["terms"]
    values = terms[term] if term else next(iter(terms.values()))
    stars = "***" if values["pvalue"] < 0.01 else "**" if values["pvalue"] < 0.05 else (
        "*" if values["pvalue"] < 0.1 else "")
    return f"{fmt(values['estimate'])}{stars}", f"({fmt(values['se'])})"


def _descriptives(results: dict[str, Any]) -> pd.DataFrame:
    d = results["descriptives"]
    rows = {
        "Customers": fmt(d["customers"]), "Brands": fmt(d["brands"]),
        "Periods": fmt(d["periods"]), "Customer–brand pairs": fmt(d["customer_brand_pairs"]),
        "Pair-periods (panel rows)": fmt(d["panel_rows"]),
        "Customer tweets": fmt(d["customer_tweets"]),
        "Complaint share of tweets": fmt(d["complaint_share"]),
        "Compliment share of tweets": fmt(d["compliment_share"]),
        "Share of tweets answered": fmt(d["reply_rate"]),
        "Share of complaints answered": fmt(d["complaint_reply_rate"]),
        "Share of pair-periods silent": fmt(d["share_periods_silent"]),
        "Reply latency, median (h)": fmt(d["latency_h_median"], 2),
        "Reply latency, 90th percentile (h)": fmt(d["latency_h_p90"], 2),
    }
    return pd.DataFrame({"Value": rows}).rename_axis("Statistic")


def _by_treatment(results: dict[str, Any], models: dict[str, str]) -> pd.DataFrame:
    rows = []
    for treatment, label in _TREATMENT_LABELS.items():
        estimates, errors = {}, {}
        for column, key in models.items():
            estimates[column], errors[column] = _effect_cell(results[key][treatment])
        rows.append(pd.Series(estimates, name=label))
        rows.append(pd.Series(errors, name=""))
    nobs = {column: fmt(results[key][results["settings"]["main_treatment"]].get("nobs"))
            for column, key in models.items()}
    rows.append(pd.Series(nobs, name="Observations (main treatment)"))
    return pd.DataFrame(rows).rename_axis("Treatment")


def _design(results: dict[str, Any]) -> pd.DataFrame:
    entry = results["design"]
    if entry.get("status") != "estimated":
        return pd.DataFrame({"Result": {"Answered vs unanswered": entry["reason"]}})
    leads = sorted({int(t.split("[t+")[1].rstrip("]")) for t in entry["terms"]})
    rows = {}
    for lead in leads:
        cells = {}
        for outcome, label in (("complaints", "Complaints"), ("compliments", "Compliments")):
            term = f"{outcome}[t+{lead}]"
            if term in entry["terms"]:
                estimate, se = _effect_cell(entry, term)
                cells[label] = f"{estimate} {se}"
            else:
                cells[label] = "–"
        cells["N"] = fmt(entry["info"]["nobs_by_term"].get(f"complaints[t+{lead}]"))
        rows[f"t+{lead}"] = cells
    return pd.DataFrame(rows).T.rename_axis("Outcome week")


def write_estimate_tables(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write every reduced-form table as Markdown and LaTeX into ``out_dir``."""
    out_dir = Path(out_dir)
    within = results["settings"]["reply_within_h"]
    written = []
    written += write_table(_descriptives(results), out_dir / "descriptives",
                           "Descriptive statistics of the customer × brand × period panel")
    written += write_table(
        _by_treatment(results, {"Complaints (PPML)": "ppml_complaints"}),
        out_dir / "ppml_complaints", "Complaints after a brand's reply: PPML",
        f"Poisson pseudo-maximum likelihood with customer–brand and brand × period fixed "
        f"effects; standard errors clustered by customer in parentheses; H = {within:g} h. "
        "*** p<0.01, ** p<0.05, * p<0.1. The pair fixed effect cannot absorb a relationship "
        "that moves over time, so these are associations, not causal effects.")
    written += write_table(
        _by_treatment(results, {"Sentiment (FE)": "fe_sentiment_mean",
                                "Compliment share (FE)": "fe_compliment_share"}),
        out_dir / "fe_sentiment", "Sentiment and compliments after a brand's reply: linear FE",
        "Linear regressions with customer–brand and brand × period fixed effects on "
        "pair-periods with at least one tweet; standard errors clustered by customer. "
        "*** p<0.01, ** p<0.05, * p<0.1.")
    written += write_table(
        _design(results), out_dir / "design_answered",
        "Effect of answering a complaint: answered vs unanswered complaints (AIPW)",
        "Among customer-periods with a complaint in t−1: doubly robust estimate of the effect "
        "of the brand answering on the number of complaints and compliments in later weeks; "
        "controls: brand × number of complaints in t−1, redress history, brand × period; "
        "standard errors clustered by customer.")
    return written


def write_robustness_table(records: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write the robustness table (one row per specification) as Markdown and LaTeX."""
    rows = {}
    for record in records:
        cells = {}
        for key, label in (("ppml_complaints", "Complaints, PPML"),
                           ("fe_sentiment", "Sentiment, FE"),
                           ("answered_complaints_t0", "Answered: complaints t"),
                           ("answered_compliments_t0", "Answered: compliments t")):
            entry = record.get(key)
            if entry is None:
                cells[label] = "–"
            elif entry["status"] != "estimated":
                cells[label] = "n.i."
            else:
                cells[label] = f"{fmt(entry['estimate'])} ({fmt(entry['se'])})"
        rows[record["label"]] = cells
    frame = pd.DataFrame(rows).T.rename_axis("Specification")
    return write_table(
        frame, Path(out_dir) / "robustness", "Robustness of the main estimates",
        "Each row changes one choice of the main specification (weekly periods, all pairs, "
        "the configured classifier, treatment = the brand answered a complaint in t−1). "
        "PPML and FE: coefficient on the treatment with pair and brand × period fixed effects; "
        "Answered: AIPW effect of answering a complaint in t−1 on the next period's counts. "
        "Standard errors clustered by customer in parentheses; n.i. = not identified.")
