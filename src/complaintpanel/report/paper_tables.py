"""The paper's regression tables, built from the results JSON with :class:`RegressionTable`.

* :func:`reduced_table` — the paper-style panel regressions (``estimates.json``): one column
  per outcome model, one row per treatment definition (each row its own regression), and the
  footer rows of a regression table: fixed effects, clustering, number of clusters, N and,
  when the results record it, the dependent-variable mean of each column.
* :func:`hmm_table` — the structural model (``hmm.json``) beside the same model on the true
  labels and the simulated truth, with readable parameter names, the transition thresholds τ,
  the initial distribution π, log-likelihood, BIC and N.

:func:`write_paper_tables` writes both as ``.typ`` (``#include``-d by ``paper/paper.typ``),
``.tex`` and ``.md``. Every number is read from the results files; terms are picked by the
columns of their term tables (block, state, covariate, treatment), never by parsing names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from complaintpanel.report.periods import period_words
from complaintpanel.report.regression_table import Estimate, Heading, RegressionTable, Row, number

__all__ = ["REDUCED_MODELS", "TREATMENT_LABELS", "hmm_table", "reduced_table",
           "robustness_table", "write_paper_tables"]

TREATMENT_LABELS = {
    "replied": "Replied in t−1",
    "replied_within": "Replied within {h} h in t−1",
    "answered_complaint": "Answered a complaint in t−1",
    "replies_cumulative": "Replies before t (count)",
}
# results key → column header
REDUCED_MODELS = {"ppml_complaints": "Complaints (PPML)",
                  "fe_sentiment_mean": "Sentiment (FE)",
                  "fe_compliment_share": "Compliment share (FE)"}


def _estimated(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("status") == "estimated"


def _term(entry: dict[str, Any], **where: Any) -> dict[str, Any] | None:
    rows = [t for t in entry.get("terms", []) if not t.get("fixed")
            and all(t.get(k) == v for k, v in where.items())]
    if len(rows) > 1:
        raise ValueError(f"{len(rows)} terms match {where}; a cell shows one")
    return rows[0] if rows else None


def _column_value(entries: list[dict[str, Any]], key: str, digits: int = 3) -> str:
    """One footer cell from the column's regressions: their common value, or the range."""
    values = sorted({value for e in entries
                     if (value := e.get(key, e.get("info", {}).get(key))) is not None})
    if not values:
        return ""
    if len(values) == 1:
        return number(values[0], digits)
    return f"{number(values[0], digits)}–{number(values[-1], digits)}"


def reduced_table(estimates: dict[str, Any]) -> RegressionTable:
    """Build the paper-style panel regressions as a regression table.

    Parameters
    ----------
    estimates : dict
        ``estimates.json`` as plain JSON.

    Returns
    -------
    RegressionTable
        Columns: the outcome models of :data:`REDUCED_MODELS` present in the results; rows:
        the treatments; footer: fixed effects, clustering, clusters, N, and the dependent-
        variable mean where an entry records ``dep_var_mean``. A footer cell shows the range
        when the column's regressions differ (e.g. N across treatments).
    """
    settings = estimates["settings"]
    words = period_words(settings.get("period"))
    models = {key: label for key, label in REDUCED_MODELS.items() if key in estimates}
    treatments = [t for t in TREATMENT_LABELS
                  if any(t in estimates[key] for key in models)]
    body: list[Row | Heading] = []
    for treatment in treatments:
        cells: list[Estimate | str | None] = []
        for key in models:
            entry = estimates[key].get(treatment)
            if entry is None:
                cells.append(None)
            elif not _estimated(entry):
                cells.append("n.i.")
            else:
                term = _term(entry, treatment=treatment)
                cells.append(None if term is None else Estimate(term["estimate"], term["se"]))
        label = TREATMENT_LABELS[treatment].format(h=number(settings.get("reply_within_h"), 0))
        body.append(Row(label, tuple(cells)))
    fitted = {key: [e for e in estimates[key].values() if _estimated(e)] for key in models}
    footer = []
    fixed_effects = {key: {e.get("info", {}).get("fixed_effects", "") for e in fitted[key]}
                     for key in models}
    for needle, label in (("pair", "Customer–brand fixed effects"),
                          ("brand × period", f"Brand × {words.noun} fixed effects")):
        footer.append(Row(label, tuple(
            "yes" if fixed_effects[key] and all(needle in fe for fe in fixed_effects[key])
            else "no" for key in models)))
    clustering = []
    for key in models:
        kinds = {e.get("cov_type", "") for e in fitted[key]}
        clustering.append("customer" if kinds and all("customer" in k for k in kinds)
                          else "; ".join(sorted(kinds)))
    footer.append(Row("Standard errors clustered by", tuple(clustering)))
    footer.append(Row("Clusters", tuple(_column_value(fitted[k], "n_clusters") for k in models)))
    footer.append(Row("Observations", tuple(_column_value(fitted[k], "nobs") for k in models)))
    if any(_column_value(fitted[k], "dep_var_mean") for k in models):
        footer.append(Row("Mean of the dependent variable",
                          tuple(_column_value(fitted[k], "dep_var_mean") for k in models)))
    notes = (f"Each cell is its own regression of the column's outcome on one treatment "
             f"(row), with customer–brand and brand × {words.noun} fixed effects; standard "
             "errors clustered by customer in parentheses. PPML: a log rate ratio on "
             f"customer-{words.plural}; FE: linear, on customer-{words.plural} with at least one "
             "tweet. n.i.: not identified.")
    return RegressionTable(stub=f"Treatment ({words.noun} t)", columns=list(models.values()),
                           body=body, footer=footer, notes=notes)


_ROBUSTNESS_MODELS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("ppml_complaints", "Complaints (PPML)", {}),
    ("fe_sentiment", "Sentiment (FE)", {}),
    ("answered", "Answered: complaints t (AIPW)", {"outcome": "complaints", "lead": 0}))


def robustness_table(specifications: list[dict[str, Any]]) -> RegressionTable:
    """Build the robustness table: one row per specification, its N on the row below.

    Parameters
    ----------
    specifications : list of dict
        ``robustness.json``'s ``specifications`` as plain JSON.

    Returns
    -------
    RegressionTable
        Columns: PPML complaints, FE sentiment and the design-based effect on next-period
        complaints; each specification's row holds estimate (SE) on its treatment, and the
        row under it the N of each model. An empty cell: the specification does not change
        that model (the design-based estimate does not depend on the treatment definition).
    """
    body: list[Row | Heading] = []
    for spec in specifications:
        cells: list[Estimate | str | None] = []
        counts: list[Estimate | str | None] = []
        for key, _, where in _ROBUSTNESS_MODELS:
            entry = spec.get(key)
            if entry is None:
                cells.append(None)
                counts.append(None)
                continue
            if not _estimated(entry):
                cells.append("n.i.")
                counts.append(None)
                continue
            term = _term(entry, **(where or {"treatment": spec.get("treatment")}))
            cells.append(None if term is None else Estimate(term["estimate"], term["se"]))
            counts.append(number(entry.get("nobs")))
        body.append(Row(spec["label"], tuple(cells)))
        body.append(Row("N", tuple(counts)))
    footer = [Row("Customer–brand and brand × period fixed effects", ("yes", "yes", "no")),
              Row("Standard errors clustered by", ("customer",) * 3)]
    notes = ("Estimate (SE) on the row's treatment, its N on the line below. Each row changes "
             "one choice of the main specification. The design-based column compares "
             "answered with unanswered complaints with controls rather than fixed effects, "
             "whatever the treatment definition, so the treatment rows leave it empty. "
             "n.i.: not identified.")
    return RegressionTable(stub="Specification", columns=[m[1] for m in _ROBUSTNESS_MODELS],
                           body=body, footer=footer, notes=notes, se_below=False)


# Readable names of the structural model's blocks and coefficients (DESIGN.md §4).
_COEFFICIENTS = {"redress": "Squeaky wheel γ: redress → complaint log-rate",
                 "intervened": "Relationship effect δ: answer → better state",
                 "peer_voice": "Peer voice η: peers' net voice → better state",
                 "unanswered_complaints": "Unanswered complaints κ → transition",
                 "fast_reply": "Fast reply → transition"}
_BLOCKS = (("a", "Complaint log-rate by state"), ("c", "Compliment log-rate by state"),
           ("n", "Neutral-tweet log-rate by state"),
           ("tau", "Transition thresholds τ (ordered logit, from state)"),
           ("pi", "Initial state distribution π"))


def _hmm_rows(terms: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """Rows of a term table keyed by (block, readable row label)."""
    keyed: dict[tuple[str, str], pd.Series] = {}
    for _, row in terms.iterrows():
        block = str(row["block"])
        if block == "coefficient":
            covariate = str(row["covariate"])
            label = _COEFFICIENTS.get(covariate, f"{covariate} → {row['equation']}")
        elif block == "tau":
            label = f"From {row['state']}, cut {int(row['cut'])}"
        elif block in {"a", "c", "n", "pi"}:
            label = str(row["state"]).capitalize()
        else:  # misclassification, reply probabilities, …: in hmm.json, not in the table
            continue
        keyed[(block, label)] = row
    return keyed


def hmm_table(fits: dict[str, Any], truth: pd.DataFrame | None = None) -> RegressionTable:
    """Build the table of structural estimates beside each other and beside the truth.

    Parameters
    ----------
    fits : dict
        Column header → :class:`~complaintpanel.hmm.results.RelationshipHMMResults`, or a
        dict read from ``hmm.json`` with ``params``, ``bse``, ``loglike``, … and the term
        table's describing columns (use :func:`complaintpanel.hmm.results.read_hmm_results`).
    truth : DataFrame, optional
        :meth:`complaintpanel.model.ModelParams.reported_terms` of the simulated world: a
        column "Truth" (no standard errors, no fit statistics).

    Returns
    -------
    RegressionTable
        Rows grouped by block (effects, state rates, τ, π); footer: log-likelihood, BIC,
        free parameters, customer-periods (N), customers. A cell is empty where a model
        does not have the parameter (e.g. neutral rates are estimated only with the
        misclassification layer).
    """
    tables = {name: _hmm_rows(fit.term_estimates()) for name, fit in fits.items()}
    truth_rows = (_hmm_rows(truth.rename(columns={"value": "estimate"}).assign(se=None))
                  if truth is not None else None)
    columns = list(fits) + (["Truth"] if truth_rows is not None else [])
    sources = list(tables.values()) + ([truth_rows] if truth_rows is not None else [])
    body: list[Row | Heading] = []
    at_edge = False
    order = [("coefficient", "Effects of a reply and of peers"), *_BLOCKS]
    for block, heading in order:
        labels = list(dict.fromkeys(label for source in sources for (b, label) in source
                                    if b == block))
        if not labels:
            continue
        if block == "coefficient":  # the paper's order: γ, δ, η, then the rest
            rank = list(_COEFFICIENTS.values())
            labels.sort(key=lambda s: rank.index(s) if s in rank else len(rank))
        body.append(Heading(heading))
        for label in labels:
            cells: list[Estimate | str | None] = []
            for source in sources:
                row = source.get((block, label))
                se = None if row is None or row["se"] is None or pd.isna(row["se"]) \
                    else float(row["se"])
                at_edge |= (row is not None and source is not truth_rows and se is None)
                cells.append(None if row is None else Estimate(float(row["estimate"]), se))
            body.append(Row(label, tuple(cells)))
    blank = ("",) if truth_rows is not None else ()

    def stat(attribute: str, digits: int = 1) -> tuple[str, ...]:
        values = []
        for fit in fits.values():
            value = getattr(fit, attribute, None)
            values.append(number(value, digits) if value is not None else "")
        return tuple(values) + blank

    starts = []
    for fit in fits.values():
        start = (getattr(fit, "extra", None) or {}).get("start")
        if start:
            starts.append(f"{start['naive_starts_at_optimum']} / {start['naive_starts']} "
                          "(naive search)")
        else:
            starts.append(f"{fit.n_starts_converged} / {fit.n_starts}")
    footer = [Row("Log-likelihood", stat("loglike")), Row("BIC", stat("bic")),
              Row("Starts at the best optimum", tuple(starts) + blank),
              Row("Free parameters", stat("n_params")),
              Row("Customer-periods (N)", stat("nobs")),
              Row("Customers", stat("n_customers"))]
    notes = ("Estimates with standard errors from the observed information in parentheses. "
             "The columns' likelihoods are of different data (with the misclassification "
             "layer: counts by label and by answered; with true labels: counts by true "
             "voice), so their log-likelihoods and BICs compare models only within a "
             "column. Empty cell: not a parameter of that column's model. The "
             "misclassification matrix and the reply probabilities are in hmm.json."
             + (" An estimate without a standard error lies at the edge of the parameter "
                "space (e.g. a transition probability of 0): the log-likelihood is flat in "
                "it, and the other standard errors hold it there." if at_edge else ""))
    return RegressionTable(stub="Parameter", columns=columns, body=body, footer=footer,
                           notes=notes, se_below=False)


def write_paper_tables(results: Path, out_dir: Path, truth: Path | None = None) -> list[Path]:
    """Write ``reduced``, ``robust`` and ``hmm`` (``.typ``, ``.tex``, ``.md``) from results.

    Parameters
    ----------
    results : Path
        Results folder (``estimates.json``, ``robustness.json``, ``hmm.json``,
        ``truth-labels/hmm.json``).
    out_dir : Path
        Folder of the tables (``paper/tables``).
    truth : Path, optional
        The simulated world's ``truth/params.json``: a "Truth" column in the HMM table.

    Returns
    -------
    list of Path
        The files written (a table whose inputs are missing is skipped).
    """
    from complaintpanel.hmm.results import RelationshipHMMResults, read_hmm_results

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if (results / "estimates.json").exists():
        estimates = json.loads((results / "estimates.json").read_text())
        written += reduced_table(estimates).write(
            out_dir / "reduced", "Paper-style panel regressions")
    if (results / "robustness.json").exists():
        robustness = json.loads((results / "robustness.json").read_text())
        if robustness.get("specifications"):
            written += robustness_table(robustness["specifications"]).write(
                out_dir / "robust", "Robustness of the main estimates")
    if (results / "hmm.json").exists():
        hmm = read_hmm_results(results / "hmm.json")
        if isinstance(hmm, RelationshipHMMResults):
            name = ("Classifier labels, corrected"
                    if getattr(hmm, "extra", {}).get("measurement") else "Classifier labels")
            fits: dict[str, Any] = {name: hmm}
            truth_fit_path = results / "truth-labels" / "hmm.json"
            if truth_fit_path.exists():
                truth_fit = read_hmm_results(truth_fit_path)
                if isinstance(truth_fit, RelationshipHMMResults):
                    fits["True labels"] = truth_fit
            truth_terms = None
            if truth is not None and truth.exists():
                from complaintpanel.model import ModelParams

                truth_terms = ModelParams.from_dict(
                    json.loads(truth.read_text())["model"]).reported_terms()
            written += hmm_table(fits, truth_terms).write(
                out_dir / "hmm", "Structural estimates")
    return written
