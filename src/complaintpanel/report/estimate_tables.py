"""Tables of the reduced-form results (Table 1 descriptives, PPML, FE, design-based, robustness).

Every table of estimates is made by one builder, :func:`coefficient_table`, from the output of
:func:`complaintpanel.results.compare`. A table is a layout of cells; a coefficient cell names
a model of the comparison and the term-table values that pick its term (``outcome=…,
lead=…``), so no table reads anything out of a term's name. Written by hand rather than with
pyfixest's ``etable``, which cannot take the AIPW or PanelOLS results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from complaintpanel.report.periods import period_words
from complaintpanel.report.tables import fmt, write_table
from complaintpanel.results import Comparison, compare

__all__ = ["Coef", "TermValue", "coefficient_table", "complaint_event_study_table",
           "event_study_table", "write_estimate_tables", "write_robustness_table"]

_TREATMENT_LABELS = {
    "replied": "Replied in t−1",
    "replied_within": "Replied within H hours in t−1",
    "answered_complaint": "Answered a complaint in t−1",
    "replies_cumulative": "Cumulative replies before t",
}


@dataclass(frozen=True)
class Coef:
    """A cell with one term's estimate and standard error.

    Attributes
    ----------
    model : str
        Name of the model in the comparison.
    where : dict
        Term-table values that pick the term (empty: the model's only estimated term).
    """

    model: str
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TermValue:
    """A cell with another column of a term's row (e.g. the term's own ``nobs``)."""

    model: str
    column: str
    where: Mapping[str, Any] = field(default_factory=dict)


Cell = Coef | TermValue | str


def _stars(pvalue: float) -> str:
    return "***" if pvalue < 0.01 else "**" if pvalue < 0.05 else "*" if pvalue < 0.1 else ""


def _term_row(comparison: Comparison, model: str, where: Mapping[str, Any]
              ) -> pd.Series | None:
    rows = comparison.select(model, **where)
    rows = rows[~rows["fixed"]]
    if len(rows) > 1:
        raise ValueError(f"{len(rows)} terms of {model} match {dict(where)}; a cell shows one")
    return rows.iloc[0] if len(rows) else None


def _coef_cell(comparison: Comparison, cell: Coef, stars: bool, not_estimated: str
               ) -> tuple[str, str]:
    if cell.model not in comparison.models.index:
        return "–", ""
    if comparison.models.loc[cell.model, "status"] != "estimated":
        return not_estimated, ""
    row = _term_row(comparison, cell.model, cell.where)
    if row is None:
        return "–", ""
    marks = _stars(row["pvalue"]) if stars else ""
    return f"{fmt(row['estimate'])}{marks}", f"({fmt(row['se'])})"


def coefficient_table(comparison: Comparison, rows: Mapping[str, Mapping[str, Cell]], *,
                      index_name: str, se: Literal["below", "beside"] = "below",
                      stars: bool = True, not_estimated: str = "not identified"
                      ) -> pd.DataFrame:
    """Lay out estimates of a comparison as a table of display strings.

    Parameters
    ----------
    comparison : Comparison
        Output of :func:`complaintpanel.results.compare`.
    rows : mapping
        Row label → column label → cell: a :class:`Coef` (estimate and SE of one term), a
        :class:`TermValue` (another column of a term's row) or a ready string.
    index_name : str
        Header of the label column.
    se : {"below", "beside"}
        Standard errors in parentheses on a row of their own under the estimates, or in the
        same cell after the estimate.
    stars : bool
        Mark estimates with *** p<0.01, ** p<0.05, * p<0.1.
    not_estimated : str
        What a cell of a model that was not identified or not estimated shows. A model
        missing from the comparison, or without the term, shows "–".

    Returns
    -------
    DataFrame
        Display strings, ready for :func:`~complaintpanel.report.tables.write_table`.
    """
    table = []
    for label, cells in rows.items():
        estimates: dict[str, str] = {}
        errors: dict[str, str] = {}
        for column, cell in cells.items():
            if isinstance(cell, Coef):
                estimate, error = _coef_cell(comparison, cell, stars, not_estimated)
                estimates[column] = f"{estimate} {error}" if se == "beside" and error \
                    else estimate
                errors[column] = error
            elif isinstance(cell, TermValue):
                row = _term_row(comparison, cell.model, cell.where)
                estimates[column] = fmt(None if row is None else row[cell.column])
                errors[column] = ""
            else:
                estimates[column], errors[column] = cell, ""
        table.append(pd.Series(estimates, name=label))
        if se == "below" and any(isinstance(cell, Coef) for cell in cells.values()):
            table.append(pd.Series(errors, name=""))
    return pd.DataFrame(table).rename_axis(index_name)


def _descriptives(results: dict[str, Any]) -> pd.DataFrame:
    d = results["descriptives"]
    words = period_words(results["settings"].get("period"))
    rows = {
        "Customers": fmt(d["customers"]), "Brands": fmt(d["brands"]),
        words.title_plural: fmt(d["periods"]),
        "Customer–brand pairs": fmt(d["customer_brand_pairs"]),
        f"Pair-{words.plural} (panel rows)": fmt(d["panel_rows"]),
        "Customer tweets": fmt(d["customer_tweets"]),
        "Complaint share of tweets": fmt(d["complaint_share"]),
        "Compliment share of tweets": fmt(d["compliment_share"]),
        "Share of tweets answered": fmt(d["reply_rate"]),
        "Share of complaints answered": fmt(d["complaint_reply_rate"]),
        f"Share of pair-{words.plural} silent": fmt(d["share_periods_silent"]),
        "Reply latency, median (h)": fmt(d["latency_h_median"], 2),
        "Reply latency, 90th percentile (h)": fmt(d["latency_h_p90"], 2),
    }
    return pd.DataFrame({"Value": rows}).rename_axis("Statistic")


def _by_treatment(results: dict[str, Any], models: dict[str, str]) -> pd.DataFrame:
    """Rows: treatment definitions; columns: models (one results object per cell)."""
    comparison = compare({f"{key}/{treatment}": results[key].get(treatment)
                          for key in models.values() for treatment in _TREATMENT_LABELS})
    rows: dict[str, dict[str, Cell]] = {
        label: {column: Coef(f"{key}/{treatment}") for column, key in models.items()}
        for treatment, label in _TREATMENT_LABELS.items()}
    main = results["settings"]["main_treatment"]
    nobs = comparison.nobs
    rows["Observations (main treatment)"] = {
        column: fmt(nobs.get(f"{key}/{main}")) for column, key in models.items()}
    return coefficient_table(comparison, rows, index_name="Treatment", se="below")


def _design(results: dict[str, Any], outcome_label: str) -> pd.DataFrame:
    design = results["design"]
    if not design.is_estimated:
        return pd.DataFrame({"Result": {"Answered vs unanswered": design.reason}})
    comparison = compare({"design": design})
    leads = sorted(int(lead) for lead in comparison.select("design")["lead"].unique())
    rows: dict[str, dict[str, Cell]] = {}
    for lead in leads:
        rows[f"t+{lead}"] = {
            "Complaints": Coef("design", {"outcome": "complaints", "lead": lead}),
            "Compliments": Coef("design", {"outcome": "compliments", "lead": lead}),
            "N": TermValue("design", "nobs", {"outcome": "complaints", "lead": lead}),
        }
    return coefficient_table(comparison, rows, index_name=outcome_label, se="beside")


def _sentiment(results: dict[str, Any]) -> pd.DataFrame | None:
    """Effects on signed tweet counts (AIPW) and Lee bounds on mean sentiment, by lead."""
    counts, bounds = results.get("design_signed_counts"), results.get("design_sentiment")
    if counts is None and bounds is None:
        return None
    frame = pd.DataFrame()
    if counts is not None and counts.is_estimated:
        comparison = compare({"signed": counts})
        leads = sorted(int(lead) for lead in comparison.select("signed")["lead"].unique())
        rows: dict[str, dict[str, Cell]] = {
            f"t+{lead}": {"Negative tweets": Coef("signed", {"outcome": "negative", "lead": lead}),
                          "Positive tweets": Coef("signed", {"outcome": "positive", "lead": lead})}
            for lead in leads}
        frame = coefficient_table(comparison, rows, index_name="Lead", se="beside")
    if isinstance(bounds, dict):
        lee = pd.DataFrame({
            f"t+{r['lead']}": {
                "Sentiment: Lee bounds": f"[{fmt(r['lower'])}, {fmt(r['upper'])}]",
                "Sentiment: 95% CI (Imbens–Manski)":
                    f"[{fmt(r['ci_lower'])}, {fmt(r['ci_upper'])}]",
                "Tweeting share answered / unanswered":
                    f"{fmt(r['share_answered'])} / {fmt(r['share_unanswered'])}",
                "Trimmed (arm)": f"{fmt(r['trimmed_share'])} ({r['trimmed_arm']})",
            } for r in bounds["leads"]}).T
        frame = lee if frame.empty else frame.join(lee, how="outer")
    elif bounds is not None and not frame.empty:
        frame["Sentiment: Lee bounds"] = bounds.reason
    return frame.fillna("").rename_axis("Lead")


def _awareness(results: dict[str, Any]) -> pd.DataFrame | None:
    """Tabulate the brand × period awareness test, one row per outcome group."""
    entry = results.get("awareness")
    if not entry:
        return None
    labels = {"silent": "No complaint and no reply in t",
              "never_answered": "… and never answered before"}
    rows = {}
    for group in sorted(entry, key=lambda g: list(labels).index(g) if g in labels else 99):
        result, label = entry[group], labels.get(group, group)
        if not result.is_estimated:
            rows[label] = {"Estimate": result.reason}
            continue
        term = result.terms.iloc[0]
        rows[label] = {
            "Estimate": fmt(float(result.params.iloc[0])),
            "SE (randomisation)": fmt(float(result.bse.iloc[0])),
            "95% CI (inverted test)": f"[{fmt(term['ci_lower_randomisation'])}, "
                                      f"{fmt(term['ci_upper_randomisation'])}]",
            "p (randomisation)": fmt(float(term["pvalue_randomisation"])),
            "Brand-periods": f"{int(term['nobs']):,}", "Brands": str(int(term["n_brands"])),
        }
    return pd.DataFrame.from_dict(rows, orient="index").fillna("").rename_axis(
        "Customers whose complaints in t+1")


_ESTIMATOR_LABELS = {"did2s": "Imputation (did2s)", "twfe": "Naive TWFE",
                     "poisson": "Poisson ETWFE"}


def event_study_table(studies: Mapping[str, Any]) -> pd.DataFrame:
    """One column pair per estimator: estimate (SE), and [sup-t band] with the Holm p-value.

    Rows: event times, then the shared N and the imputation-based pre-trend test (its leads
    and the joint p-value), which every estimator of one outcome shares.
    """
    columns: dict[str, dict[str, str]] = {}
    test: dict[str, Any] = {}
    nobs: dict[str, str] = {}
    for estimator, result in studies.items():
        label = _ESTIMATOR_LABELS.get(estimator, estimator)
        if not result.is_estimated:
            columns[label] = {"N": result.status}
            continue
        rows = result.term_estimates().sort_values("event_time")
        cells, bands = {}, {}
        for _, row in rows.iterrows():
            key = f"event time {int(row['event_time'])}"
            if bool(row["fixed"]):
                cells[key], bands[key] = "0 (reference)", ""
                continue
            cells[key] = f"{fmt(row['estimate'])} ({fmt(row['se'])})"
            bands[key] = (f"[{fmt(row['band_lower'])}, {fmt(row['band_upper'])}] "
                          f"p_Holm={fmt(row['pvalue_holm'])}")
        columns[label] = cells
        columns[f"{label}: sup-t band, Holm"] = bands
        nobs[label] = fmt(result.nobs)
        test = result.info.get("pretrend_test", test)
    frame = pd.DataFrame(columns)
    order = sorted(frame.index, key=lambda k: int(k.split()[-1]) if k.startswith("event")
                   else 10**6)
    frame = frame.reindex(order).fillna("")
    extra = {"N (one sample)": nobs}
    for lead in test.get("leads", []):
        extra[f"pre-trend lead {lead['event_time']} (untreated rows)"] = {
            next(iter(nobs), ""): f"{fmt(lead['estimate'])} ({fmt(lead['se'])})"}
    if test.get("pvalue") is not None:
        extra["pre-trend test: joint p (BJS)"] = {
            next(iter(nobs), ""): f"{fmt(test['pvalue'])} (χ²={fmt(test['wald'], 2)}, "
                                  f"df={test['df']})"}
    tail = pd.DataFrame.from_dict(extra, orient="index").reindex(columns=frame.columns)
    return pd.concat([frame, tail.astype(object).fillna("")]).rename_axis("Event time")


def complaint_event_study_table(result: Any) -> pd.DataFrame:
    """Tabulate the complaint-anchored event study: estimate (SE), sup-t band, Holm p, placebo.

    Rows: event times 1 … K after the anchoring (first) complaint, then N, the anchors and
    the pre-anchor placebo tests (joint p per outcome).
    """
    if not result.is_estimated:
        return pd.DataFrame({"Estimate (SE)": {"status": f"{result.status}: {result.reason}"}})
    rows: dict[str, dict[str, str]] = {}
    for _, row in result.term_estimates().sort_values("event_time").iterrows():
        rows[f"event time {int(row['event_time'])}"] = {
            "Estimate (SE)": f"{fmt(row['estimate'])} ({fmt(row['se'])})",
            "sup-t band, Holm": f"[{fmt(row['band_lower'])}, {fmt(row['band_upper'])}] "
                                f"p_Holm={fmt(row['pvalue_holm'])}"}
    info = result.info
    rows["N (informative rows)"] = {"Estimate (SE)": fmt(info.get("nobs_informative"))}
    rows["anchors (answered)"] = {
        "Estimate (SE)": f"{fmt(info.get('anchors'))} ({fmt(info.get('anchors_answered'))})"}
    for outcome, test in info.get("placebo_test", {}).items():
        if isinstance(test, dict) and test.get("pvalue") is not None:
            rows[f"placebo before the anchor: {outcome}, joint p"] = {
                "Estimate (SE)": f"{fmt(test['pvalue'])} (χ²={fmt(test['wald'], 2)}, "
                                 f"df={test['df']})"}
    return pd.DataFrame.from_dict(rows, orient="index").fillna("").rename_axis("Event time")


def _heterogeneity(results: dict[str, Any]) -> pd.DataFrame | None:
    entry = results.get("design_heterogeneity")
    if not entry:
        return None
    models = {f"{group}/{key}": result for group in ("by_brand", "by_latency")
              for key, result in entry.get(group, {}).items()}
    comparison = compare(models)
    rows: dict[str, dict[str, Cell]] = {}
    for name in models:
        group, key = name.split("/", 1)
        label = f"Brand {key}" if group == "by_brand" else f"Reply latency {key}"
        rows[label] = {
            "Complaints t": Coef(name, {"outcome": "complaints", "lead": 0}),
            "Compliments t": Coef(name, {"outcome": "compliments", "lead": 0}),
            "N": TermValue(name, "nobs", {"outcome": "complaints", "lead": 0}),
        }
    return coefficient_table(comparison, rows, index_name="Subgroup", se="beside")


def _sensitivity(results: dict[str, Any]) -> tuple[pd.DataFrame, str] | None:
    entry = results.get("sensitivity")
    if entry is None:
        return None
    if not isinstance(entry, dict):  # a NotEstimated record
        return pd.DataFrame({"Result": {"Sensitivity": entry.reason}}), ""
    bounds = pd.DataFrame(entry["bounds"])
    flips = {row["outcome"] + str(row["lead"]): row["flip_lambda"] for row in entry["flips"]}
    rows = {}
    for (outcome, lead), group in bounds.groupby(["outcome", "lead"], sort=False):
        row = {f"Λ = {lam:.3g}": f"[{lo:+.3f}, {hi:+.3f}]" for lam, lo, hi in zip(
            group["lambda"], group["ci_lower"], group["ci_upper"], strict=True)}
        flip = flips.get(f"{outcome}{lead}")
        row["Flip Λ"] = (f"{flip:.2f}" if flip is not None
                         else f"> {entry['info'].get('flip_max', 50):g}")
        rows[f"{outcome.capitalize()} t+{lead}"] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "Outcome"
    bench = "; ".join(f"{b['control']} {b['lambda_max']:.2f} (95th pct {b['lambda_p95']:.2f})"
                      for b in entry.get("benchmarks", []))
    note = (f"{entry['info']['bootstrap_reps']} bootstrap replicates. "
            + (f"Λ implied by leaving each observed control out of the propensity score "
               f"(largest odds ratio): {bench}." if bench else ""))
    return table, note


def write_estimate_tables(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write every reduced-form table as Markdown and LaTeX into ``out_dir``.

    Parameters
    ----------
    results : dict
        Output of :func:`complaintpanel.estimate.run.run_estimates`, or ``estimates.json``
        read back with :func:`complaintpanel.results.read_results`.
    out_dir : str or Path
        Folder for ``descriptives``, ``ppml_complaints``, ``fe_sentiment`` and
        ``design_answered`` (``.md`` and ``.tex``).
    """
    out_dir = Path(out_dir)
    within = results["settings"]["reply_within_h"]
    words = period_words(results["settings"].get("period"))
    written = []
    written += write_table(_descriptives(results), out_dir / "descriptives",
                           f"Descriptive statistics of the customer × brand × {words.noun} panel")
    written += write_table(
        _by_treatment(results, {"Complaints (PPML)": "ppml_complaints"}),
        out_dir / "ppml_complaints", "Complaints after a brand's reply: PPML",
        f"Poisson pseudo-maximum likelihood with customer–brand and brand × {words.noun} fixed "
        f"effects; standard errors clustered by customer in parentheses; H = {within:g} h. "
        "*** p<0.01, ** p<0.05, * p<0.1. The pair fixed effect cannot absorb a relationship "
        "that moves over time, so these are associations, not causal effects.")
    written += write_table(
        _by_treatment(results, {"Sentiment (FE)": "fe_sentiment_mean",
                                "Compliment share (FE)": "fe_compliment_share"}),
        out_dir / "fe_sentiment", "Sentiment and compliments after a brand's reply: linear FE",
        f"Linear regressions with customer–brand and brand × {words.noun} fixed effects on "
        f"pair-{words.plural} with at least one tweet; standard errors clustered by customer. "
        "*** p<0.01, ** p<0.05, * p<0.1. Wild cluster bootstrap p-values (restricted, "
        "Rademacher weights by customer) of the main treatment: "
        + _wild_note(results) + ".")
    written += write_table(
        _design(results, f"Outcome {words.noun}"), out_dir / "design_answered",
        "Effect of answering a complaint: answered vs unanswered complaints (AIPW)",
        f"Among customer-{words.plural} with a complaint in t−1: doubly robust estimate of the "
        "effect of the brand answering on the number of complaints and compliments in later "
        f"{words.plural}; controls: brand × number of complaints in t−1, redress history, "
        f"brand × {words.noun}; standard errors clustered by customer. p_Holm: Holm-adjusted "
        "across the leads of each outcome: " + _holm_note(results) + ".")
    sentiment = _sentiment(results)
    if sentiment is not None and not sentiment.empty:
        written += write_table(
            sentiment, out_dir / "design_sentiment",
            "Effect of answering a complaint on later sentiment",
            f"Same customer-{words.plural} and propensity as the design-based table. Negative / "
            "positive tweets: AIPW effect on the counts of tweets with a negative / positive "
            "sentiment score (SE clustered by customer). Mean sentiment exists only when the "
            "customer tweets, and answering may change whether she does: Lee (2009) bounds on "
            "the effect among customers who would tweet either way, assuming monotonicity "
            "(answering moves everyone's tweeting the same way), trimming the arm with the "
            "higher tweeting share, on inverse-propensity-weighted arms; 95% interval for the "
            "effect by Imbens & Manski (2004) from a bootstrap over customers.")
    awareness = _awareness(results)
    if awareness is not None:
        written += write_table(
            awareness, out_dir / "awareness",
            "The rival mechanism: do a brand's answers raise other customers' complaints?",
            f"Brand × {words.noun} regression of the mean complaints in t+1 of the brand's "
            "customers it could not have answered in t on the share of its customers it "
            f"answered in t, with brand and {words.noun} fixed effects and a brand-specific "
            "slope on complaints per customer in t, weighted by group size (Sun, Gao & Rui "
            "2021's awareness mechanism). Randomisation inference: which complaining "
            "customers were answered is redrawn at the brand's answer rate (valid when "
            "brands answer complaints without regard to who sends them); the interval "
            "inverts the test. Power grows with the number of brand-periods, not customers.")
    heterogeneity = _heterogeneity(results)
    if heterogeneity is not None:
        written += write_table(
            heterogeneity, out_dir / "design_heterogeneity",
            "Effect of answering a complaint by brand and by reply latency (AIPW)",
            f"As the design-based table, next {words.noun} only, on one brand's complaints, or "
            "comparing the complaints answered with the fastest reply of the period in one "
            "latency bin (terciles) with the unanswered ones (a dose–response in latency).")
    sensitivity = _sensitivity(results)
    if sensitivity is not None:
        table, note = sensitivity
        written += write_table(
            table, out_dir / "design_sensitivity",
            "Sensitivity of the design-based estimate to selection on the unobserved",
            "Marginal sensitivity model (Tan 2006): the true odds of being answered may differ "
            "from the fitted propensity's by a factor up to Λ. Cells: 95% sensitivity "
            "interval of the effect (bounds of the augmented stabilised IPW estimate, Zhao, "
            "Small & Bhattacharya 2019; percentile bootstrap over customers); Λ = 1 is the "
            "design's own assumption. Flip Λ: the smallest Λ whose interval contains 0. "
            + note)
    for outcome, result in results.get("event_study_complaint_anchored", {}).items():
        written += write_table(
            complaint_event_study_table(result),
            out_dir / f"event_study_complaint_anchored_{outcome}",
            f"Complaint-anchored Poisson event study of {outcome.replace('_', ' ')}",
            f"Event time counted from each customer–brand pair's first complaint; pairs whose "
            f"first complaint the brand answered against those whose it did not, within strata "
            f"of brand × {words.noun} of the complaint × its number of complaints (fixed "
            f"effects: stratum × event time); log rate ratios (Poisson, one coefficient per "
            f"anchor cohort × event time, averaged with the answered rows' weights). Later "
            f"replies follow the brand's policy in both groups: the total effect of one "
            f"answer. Placebo: the same model on compliments and neutral tweets in the "
            f"{words.noun}s before the first complaint. SEs clustered by customer.")
    for outcome, studies in results.get("event_study", {}).items():
        if not isinstance(studies, dict):
            continue
        written += write_table(
            event_study_table(studies), out_dir / f"event_study_{outcome}",
            f"Event study of {outcome.replace('_', ' ')} around the first reply",
            "All estimators on one sample (pairs with at least one unanswered "
            f"{words.noun}) with customer–brand and brand × {words.noun} fixed effects; the "
            "first reply is treated as absorbing. Imputation: Borusyak–Jaravel–Spiess / "
            "Gardner; Poisson ETWFE: cohort × event-time effects averaged, a log rate ratio. "
            "Sup-t: 95% simultaneous band over the event times; p_Holm: Holm-adjusted across "
            "them. The pre-trend test regresses the outcome on the leads −K … −1 with the "
            "fixed effects on unanswered rows only (BJS Test 1). SEs clustered by customer.")
    return written


def _wild_note(results: dict[str, Any]) -> str:
    main = results["settings"]["main_treatment"]
    parts = []
    for key, label in (("fe_sentiment_mean", "sentiment"),
                       ("fe_compliment_share", "compliment share")):
        entry = results.get(key, {}).get(main)
        if entry is not None and entry.is_estimated and \
                "pvalue_wild_bootstrap" in entry.terms:
            row = entry.term_estimates().iloc[0]
            parts.append(f"{label} p={fmt(row['pvalue_wild_bootstrap'])} (CRV1 "
                         f"p={fmt(row['pvalue'])})")
    return "; ".join(parts) or "not computed"


def _holm_note(results: dict[str, Any]) -> str:
    design = results["design"]
    if not design.is_estimated or "pvalue_holm" not in design.terms:
        return "not computed"
    rows = design.term_estimates()
    return "; ".join(f"{r['outcome']} t+{int(r['lead'])} {fmt(r['pvalue_holm'])}"
                     for _, r in rows.iterrows())


# Why the estimates in the robustness table may differ in sign: they measure different things.
SIGN_NOTE = (
    "Signs may differ across rows because the estimands differ. The PPML and FE coefficients "
    "compare a pair's periods after a reply with its other periods: brands reply when a "
    "customer complains, i.e. when the relationship is bad, so a reply marks a bad spell and "
    "the association is positive for complaints even when answering lowers them. The "
    "cumulative-replies treatment compares pairs at different totals of past replies, a "
    "slower-moving dose that the pair effect partly absorbs, so its sign follows the long-run "
    "drift of a relationship rather than the spell. With daily periods, t−1 and t are hours "
    "apart and the next period often still holds the same conversation (the effect of the "
    "answer has not arrived yet), while monthly periods average the spell and the recovery "
    "in one period. The design-based 'Answered' columns compare answered with unanswered "
    "complaints of the same kind and are the causal estimate under its assumption.")


def write_robustness_table(records: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write the robustness table (one row per specification) as Markdown and LaTeX.

    Parameters
    ----------
    records : list of dict
        Output of :func:`complaintpanel.pipeline.robustness.robustness_checks` (or the
        ``specifications`` of ``robustness.json`` read back with
        :func:`complaintpanel.results.read_results`).
    out_dir : str or Path
        Folder for ``robustness.md`` and ``robustness.tex``.
    """
    comparison = compare({f"{i}/{key}": record.get(key) for i, record in enumerate(records)
                          for key in ("ppml_complaints", "fe_sentiment", "answered")})
    rows: dict[str, dict[str, Cell]] = {
        record["label"]: {
            "Complaints, PPML": Coef(f"{i}/ppml_complaints"),
            "Sentiment, FE": Coef(f"{i}/fe_sentiment"),
            "Answered: complaints t": Coef(f"{i}/answered", {"outcome": "complaints",
                                                             "lead": 0}),
            "Answered: compliments t": Coef(f"{i}/answered", {"outcome": "compliments",
                                                              "lead": 0}),
        } for i, record in enumerate(records)}
    frame = coefficient_table(comparison, rows, index_name="Specification", se="beside",
                              stars=False, not_estimated="n.i.")
    main = next((r for r in records if r["dimension"] == "main"), records[0] if records else {})
    words = period_words(main.get("period"))
    treatment = _TREATMENT_LABELS.get(main.get("treatment", ""), main.get("treatment", ""))
    return write_table(
        frame, Path(out_dir) / "robustness", "Robustness of the main estimates",
        f"Each row changes one choice of the main specification ({words.adjective} periods, "
        f"all pairs, the configured classifier, treatment: {treatment.lower()}), the same as "
        "the headline tables. PPML and FE: coefficient on the treatment with pair and brand × "
        "period fixed effects; Answered: AIPW effect of answering a complaint in t−1 on the "
        "next period's counts. Standard errors clustered by customer in parentheses; n.i. = "
        "not identified. " + SIGN_NOTE)
