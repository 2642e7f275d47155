"""``complaintpanel hmm`` and ``complaintpanel policy``: the structural model (DESIGN.md §4)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from complaintpanel.commands._common import (
    ConfigOption,
    echo_summary,
    labels_beside_truth,
    load,
    overridden,
)
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import (
    atomic_path,
    read_json,
    sha256_file,
    stage_outputs,
    verified_input,
    write_json,
)

if TYPE_CHECKING:  # imported inside the commands, so `complaintpanel --help` stays fast
    import numpy as np
    import pandas as pd

    from complaintpanel.config import HMMConfig
    from complaintpanel.model.measurement import ValidationCounts
    from complaintpanel.runtime.io import StageOutputs

# Answered tweets by label, which the reply process of the corrected fit needs.
REPLY_COLUMNS = ("answered_complaints", "answered_compliments", "answered_neutral")

# Starts of the homogeneous fit behind the heterogeneity comparison (at most; it runs on a
# subsample beside the main fit, whose n_starts starts have already located the states).
SELECTION_STARTS = 2

PANEL_HELP = ("Folder with panel.parquet (or a simulator folder with truth/states.parquet, "
              "or a Parquet file).")


def find_panel(directory: Path) -> Path:
    """Find the panel file behind ``directory`` (panel.parquet, truth/states.parquet, itself).

    The panel must be a complete output of its stage and have rows.
    """
    from complaintpanel.runtime.inputs import require_rows

    if directory.is_file():
        found = directory
    else:
        candidates = [c for c in (directory / "panel.parquet",
                                  directory / "truth" / "states.parquet") if c.exists()]
        if not candidates:
            raise PipelineError("has no panel.parquet (or truth/states.parquet); run "
                                "`complaintpanel panel` first", file=directory)
        found = candidates[0]
    require_rows(verified_input(found))
    return found


def _default_out(directory: Path) -> Path:
    name = directory.stem if directory.is_file() else directory.name
    return Path("results") / name


def _write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def hmm(
    directory: Annotated[Path, typer.Argument(help=PANEL_HELP, exists=True)],
    out: Annotated[Path | None, typer.Option(help="Output folder (default results/NAME).")] = None,
    states: Annotated[int | None, typer.Option(help="Number of latent states K.")] = None,
    starts: Annotated[int | None, typer.Option(help="Optimiser starts.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random starts.")] = None,
    jobs: Annotated[int | None, typer.Option(
        help="Processes for the starts (−1 = all cores).")] = None,
    cov_type: Annotated[str | None, typer.Option(help="oim, robust or bootstrap.")] = None,
    n_boot: Annotated[int | None, typer.Option(help="Bootstrap replications.")] = None,
    unanswered: Annotated[bool | None, typer.Option(
        "--unanswered/--no-unanswered", help="Unanswered complaints in transitions.")] = None,
    reply_model: Annotated[bool | None, typer.Option(
        "--reply-model/--no-reply-model",
        help="Model replies by state (for endogenous replies).")] = None,
    latency_hours: Annotated[float | None, typer.Option(
        help="Let a reply within this many hours have its own effect.")] = None,
    sentiment: Annotated[bool | None, typer.Option(
        "--sentiment/--no-sentiment", help="Gaussian sentiment emission.")] = None,
    validation: Annotated[Path | None, typer.Option(
        help="Coded validation sheet (CSV): correct the voice labels for misclassification, "
             "M estimated jointly (DESIGN.md §4.1). Without it the fit is naive.",
        exists=True, dir_okay=False)] = None,
    voiced: Annotated[Path | None, typer.Option(
        help="voiced.parquet the validation sample was drawn from (default: beside the "
             "panel).")] = None,
    heterogeneity: Annotated[str | None, typer.Option(
        help="none, random_intercepts (a customer random intercept in the complaint "
             "log-rate) or classes (latent customer classes in delta), DESIGN.md §4.2.")] = None,
    quadrature_nodes: Annotated[int | None, typer.Option(
        help="Gauss-Hermite nodes of the random intercepts.")] = None,
    redress: Annotated[str | None, typer.Option(
        help="binary or stock (a decaying redress stock, DESIGN.md §4.2).")] = None,
    redress_decay: Annotated[str | None, typer.Option(
        help="Decay rho of the redress stock in (0, 1], or auto (profile likelihood).")] = None,
    classes: Annotated[int | None, typer.Option(
        help="Number of latent classes (--heterogeneity classes).")] = None,
    select_heterogeneity: Annotated[bool | None, typer.Option(
        "--select-heterogeneity/--no-select-heterogeneity",
        help="Also compare none / random_intercepts / classes by BIC (hmm.json block "
             "heterogeneity_selection, hmm_heterogeneity.md).")] = None,
    select_customers: Annotated[int | None, typer.Option(
        help="Customers (drawn at random) for the BIC comparison; 0 = all.")] = None,
    config: ConfigOption = None,
) -> None:
    """Fit the relationship HMM: hmm.json, coefficient and transition tables.

    Every option overrides its key in the config's ``[hmm]`` section. With ``--validation``
    the voice labels are corrected for misclassification (the neutral tweets become a third
    emission and the observed label counts are Poisson with rates ``Mᵀ Λ``); hmm.json records
    the correction, the validation sample's size and the sheet's hash.
    """
    import pandas as pd

    started = time.perf_counter()
    settings = overridden(load(config).hmm, n_states=states, n_starts=starts, seed=seed,
                          jobs=jobs, cov_type=cov_type, n_boot=n_boot, unanswered=unanswered,
                          reply_model=reply_model, latency_hours=latency_hours,
                          sentiment=sentiment, heterogeneity=heterogeneity,
                          quadrature_nodes=quadrature_nodes, classes=classes,
                          select_heterogeneity=select_heterogeneity,
                          select_customers=select_customers, redress=redress,
                          redress_decay=_decay_option(redress_decay))
    panel_path = find_panel(directory)
    validation_path = validation if validation is not None else (
        Path(settings.validation) if settings.validation else None)
    out = out or _default_out(directory)
    with stage_outputs("hmm", out) as outputs:
        summary = _fit_hmm(pd.read_parquet(panel_path), panel_path, settings, outputs,
                           validation_path, voiced)
    echo_summary("hmm", f"{summary} → {out}", time.perf_counter() - started)


def _decay_option(value: str | None) -> float | str | None:
    """``--redress-decay``: ``auto`` or a number."""
    if value is None or value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"a number in (0, 1] or auto, not {value!r}",
                                 param_hint="--redress-decay") from None


def _load_validation(sheet: Path, voiced: Path | None, panel_path: Path) -> ValidationCounts:
    """Read the validation counts of a coded sheet against the tweets it was drawn from."""
    # imported on use, like every stage's libraries (keeps `complaintpanel --help` fast)
    from complaintpanel.label.validation import load_validation_counts

    voiced_path = voiced or panel_path.parent / "voiced.parquet"
    if not voiced_path.exists():
        raise PipelineError("the validation sample needs the labelled tweets it was drawn from "
                            "(voiced.parquet); give --voiced", file=voiced_path)
    return load_validation_counts(sheet, verified_input(voiced_path))


def _fit_hmm(panel: pd.DataFrame, panel_path: Path, settings: HMMConfig,
             outputs: StageOutputs, validation: Path | None = None,
             voiced: Path | None = None) -> str:
    """Fit the model and write hmm.json and its tables; return the summary line."""
    from complaintpanel.hmm import IdentificationError, RelationshipHMM
    from complaintpanel.results import NotEstimated

    source = {"panel": str(panel_path), "sha256": sha256_file(panel_path)}
    counts = None
    measurement: dict[str, object] = {"correction": "none (naive)"}
    # the reply process needs the answered tweets of every label (panels built since e85e183)
    replies = validation is not None and set(REPLY_COLUMNS) <= set(panel.columns)
    if validation is not None and replies:
        counts = _load_validation(validation, voiced, panel_path)
        measurement = {"correction": "misclassification + reply process",
                       "name": "corrected for misclassification, reply process modelled",
                       "validation_n": counts.n,
                       "validation_sheet": str(validation),
                       "validation_sha256": sha256_file(validation),
                       "assumes": "each tweet labelled independently given its true voice "
                                  "(errors independent of the state, customer, period); "
                                  "each tweet answered with a probability by true voice and "
                                  "brand, independently of its label and of the state",
                       "covariates": "intervened/redress latent: a true complaint answered "
                                     "(reply process, docs/measurement.md)",
                       "naive_fit": "block `naive`"}
    elif validation is not None:
        counts = _load_validation(validation, voiced, panel_path)
        measurement = {"correction": "misclassification", "validation_n": counts.n,
                       "validation_sheet": str(validation),
                       "validation_sha256": sha256_file(validation),
                       "assumes": "each tweet labelled independently given its true voice "
                                  "(errors independent of the state, customer, period)",
                       "covariates": "intervened/redress count brand replies to tweets "
                                     "labelled complaint (the panel lacks the answered tweets "
                                     f"by label, {list(REPLY_COLUMNS)}, that the reply "
                                     "process needs): a known source of bias in gamma and "
                                     "delta, docs/measurement.md",
                       "naive_fit": "block `naive`"}
    try:
        model = RelationshipHMM(
            n_states=settings.n_states, n_starts=settings.n_starts,
            random_state=settings.seed, n_jobs=settings.jobs, cov_type=settings.cov_type,
            n_boot=settings.n_boot, unanswered=settings.unanswered,
            reply_model=settings.reply_model, latency_hours=settings.latency_hours,
            sentiment=settings.sentiment, validation=counts,
            reply_process=replies,
            heterogeneity=settings.heterogeneity, quadrature_nodes=settings.quadrature_nodes,
            random_intercepts=settings.random_intercepts,
            bivariate_nodes=settings.bivariate_nodes,
            redress=settings.redress,
            redress_decay=settings.redress_decay if settings.redress == "stock" else None,
            classes=settings.classes, class_starts=settings.class_starts,
        ).fit(panel)
    except IdentificationError as error:
        # A small or one-sided excerpt: record why, like the reduced-form stage does, so the
        # report states what could not be estimated instead of the pipeline stopping.
        record = NotEstimated("not identified", str(error), "relationship_hmm").to_dict()
        write_json({**record, "input": source}, outputs.path("hmm.json"))
        note = f"Relationship HMM not identified on these data: {error}\n"
        _write_text(note, outputs.path("hmm_table.md"))
        _write_text(f"% {note}", outputs.path("hmm_table.tex"))
        return f"not identified ({error})"
    res = model.results_
    payload = res.to_dict()
    payload["input"] = source
    payload["measurement_correction"] = measurement
    if counts is not None:
        payload["naive"] = _naive_block(model, panel)
    # The panel's period ("week", …), recorded beside the panel, so reports can name it.
    panel_report = panel_path.parent / "panel_report.json"
    payload["period"] = (read_json(verified_input(panel_report)).get("period")
                         if panel_report.exists() else None)
    # Wall times belong in the results manifest (recorded by echo_summary), not in hmm.json,
    # which must be byte-identical between runs.
    payload.pop("fit_seconds", None)
    for start in payload["starts"]:
        start.pop("seconds", None)
    payload["extra"].get("redress", {}).pop("profile_seconds", None)
    heterogeneous = payload["extra"].get("heterogeneity")
    if heterogeneous:
        heterogeneous.pop("random_intercepts_seconds", None)
        heterogeneous.pop("classes_seconds", None)
        heterogeneous["homogeneous"].pop("fit_seconds", None)
    selection_note = ""
    if settings.select_heterogeneity:
        selection = _select_heterogeneity(panel, settings)
        payload["heterogeneity_selection"] = selection
        _write_text(_selection_markdown(selection), outputs.path("hmm_heterogeneity.md"))
        selection_note = f"; heterogeneity: BIC selects {selection.get('selected', 'none')}"
    write_json(payload, outputs.path("hmm.json"))
    _write_text(res.to_markdown(), outputs.path("hmm_table.md"))
    _write_text(res.to_latex(), outputs.path("hmm_table.tex"))
    _write_text(res.summary() + "\n", outputs.path("hmm_summary.txt"))
    ci = res.conf_int()
    effects = ", ".join(f"{name} {res.params[name]:+.3f} [{ci.loc[name, 'lower']:+.3f}, "
                        f"{ci.loc[name, 'upper']:+.3f}]"
                        for name in ("gamma", "delta", "sigma[complaint]",
                                     "sigma[compliment]", "corr[complaint,compliment]",
                                     "delta[class1]")
                        if name in res.params.index)
    if "heterogeneity" in res.extra:
        effects += f"; BIC selects {res.extra['heterogeneity']['bic_selects']}"
    if "redress" in res.extra:
        effects += f"; redress: {res.redress}"
    return (f"K={res.spec.n_states}, {effects}, logL {res.loglike:.1f}, "
            f"{res.n_starts_converged}/{res.n_starts} starts at best; {res.measurement}"
            f"{selection_note}")


def _select_heterogeneity(panel: pd.DataFrame, settings: HMMConfig) -> dict[str, object]:
    """Compare the heterogeneity candidates by BIC on a random subsample of customers.

    ``settings.select_candidates`` (default: none, a complaint random intercept, classes;
    correlated complaint and compliment intercepts on request).

    The candidates are fitted with the voice labels taken as the true voice (the
    heterogeneity models do not take the misclassification layer's reply process), on at
    most ``settings.select_customers`` customers drawn with ``settings.seed`` (all of a
    drawn customer's brands), so the block stays cheap in ``make all``.
    """
    import numpy as np

    from complaintpanel.hmm import IdentificationError
    from complaintpanel.hmm.heterogeneity import select_heterogeneity

    customers = np.sort(panel["customer_id"].unique())
    n_total = len(customers)
    limit = settings.select_customers
    subsample = bool(limit) and n_total > limit
    if subsample:
        rng = np.random.default_rng(settings.seed)
        kept = rng.choice(customers, size=limit, replace=False)
        panel = panel[panel["customer_id"].isin(kept)]
    block: dict[str, object] = {
        "customers": int(panel["customer_id"].nunique()), "customers_total": n_total,
        "subsample": subsample,
        "model": "labels taken as the true voice (no misclassification correction, no reply "
                 "process: the heterogeneity models do not take them)",
        "criterion": "BIC = -2 logL + p log(customer-periods); smallest is selected",
    }
    block["homogeneous_starts"] = min(settings.n_starts, SELECTION_STARTS)
    if subsample:
        block["note"] = (f"fitted on {limit:,} of {n_total:,} customers drawn at random "
                         f"(seed {settings.seed}) to keep the comparison cheap")
    try:
        table = select_heterogeneity(
            panel, classes=max(settings.classes, 2), n_states=settings.n_states,
            n_starts=min(settings.n_starts, SELECTION_STARTS), random_state=settings.seed,
            unanswered=settings.unanswered, latency_hours=settings.latency_hours,
            sentiment=settings.sentiment, quadrature_nodes=settings.quadrature_nodes,
            bivariate_nodes=settings.bivariate_nodes, class_starts=settings.class_starts,
            candidates=tuple(settings.select_candidates))
    except IdentificationError as error:
        return {**block, "status": "not identified", "reason": str(error)}
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as error:
        # an optional comparison: record the failure rather than stop the stage
        return {**block, "status": "failed", "reason": f"{type(error).__name__}: {error}"}
    fits = table.attrs["results"]
    extra_params = {}
    for name, res in fits.items():
        extra_params[name] = {k: float(v) for k, v in res.params.items()
                              if k in ("sigma[complaint]", "sigma[compliment]",
                                       "corr[complaint,compliment]", "gamma", "delta")
                              or "[class" in str(k)}
    records = table.drop(columns="best").to_dict(orient="records")
    for record in records:
        record["params"] = extra_params[record["heterogeneity"]]
    return {**block, "status": "estimated",
            "selected": str(table.loc[table["best"], "heterogeneity"].iloc[0]),
            "candidates": records}


def _selection_markdown(selection: dict[str, object]) -> str:
    """Render the heterogeneity comparison as a small Markdown table."""
    if selection.get("status") != "estimated":
        return f"Heterogeneity not compared: {selection.get('reason')}\n"
    rows = ["| heterogeneity | log-likelihood | parameters | BIC | gamma | delta | selected |",
            "|---|---:|---:|---:|---:|---:|:---:|"]
    candidates = selection["candidates"]
    assert isinstance(candidates, list)
    for row in candidates:
        mark = "yes" if row["heterogeneity"] == selection["selected"] else ""
        rows.append(f"| {row['description']} | {row['loglike']:.1f} | {row['n_params']} | "
                    f"{row['bic']:.1f} | {row['gamma']:.3f} | {row['delta']:.3f} | {mark} |")
    rows += ["", f"{selection['customers']:,} customers ({selection['model']}); "
             f"{selection['criterion']}."]
    if "note" in selection:
        rows[-1] += f" {selection['note']}."
    return "\n".join(rows) + "\n"


def _naive_block(corrected: object, panel: pd.DataFrame) -> dict[str, object]:
    """Fit the naive model (labels taken as the true voice) to sit beside a corrected one."""
    from complaintpanel.hmm import RelationshipHMM

    assert isinstance(corrected, RelationshipHMM)
    naive = getattr(corrected, "naive_", None)  # the corrected fit's start: the same fit
    params = corrected.get_params()
    if naive is not None and params["heterogeneity"] == "none" and not params["neutral"]:
        res = naive.results_
    else:
        settings = {**corrected.get_params(), "validation": None, "misclassification": None,
                    "reply_process": False}
        res = RelationshipHMM(**settings).fit(panel).results_
    from complaintpanel.hmm.results import json_number

    ci = res.conf_int()
    return {"measurement": res.measurement,
            "params": {k: float(v) for k, v in res.params.items()},
            "bse": {k: json_number(v) for k, v in res.bse.items()},
            "conf_int_95": {k: [json_number(ci.loc[k, "lower"]), json_number(ci.loc[k, "upper"])]
                            for k in res.params.index},
            "loglike": res.loglike, "n_starts": res.n_starts,
            "n_starts_converged": res.n_starts_converged, "converged": res.converged}


def policy(
    directory: Annotated[Path, typer.Argument(help=PANEL_HELP, exists=True)],
    out: Annotated[Path | None, typer.Option(help="Output folder (default results/NAME).")] = None,
    estimates: Annotated[Path | None, typer.Option(
        help="hmm.json from `complaintpanel hmm` (default OUT/hmm.json).")] = None,
    horizon: Annotated[int | None, typer.Option(
        help="Periods simulated after the data (observed customers).")] = None,
    cohort_horizon: Annotated[int | None, typer.Option(
        help="Periods simulated for a cohort of new customers.")] = None,
    draws: Annotated[int | None, typer.Option(
        help="Parameter draws for the confidence intervals.")] = None,
    paths: Annotated[int | None, typer.Option(
        help="Simulated paths per draw.")] = None,
    budget: Annotated[float | None, typer.Option(
        help="Share of complaints answered by the budget arms (random, targeted).")] = None,
    objective: Annotated[str | None, typer.Option(
        help="What the targeting rule maximises: good_share or net_voice.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    parameter_uncertainty: Annotated[bool | None, typer.Option(
        "--parameter-uncertainty/--no-parameter-uncertainty",
        help="Draw parameters from their sampling distribution (else fix them at the "
             "estimate: simulation noise only).")] = None,
    prediction: Annotated[bool | None, typer.Option(
        "--prediction/--no-prediction",
        help="Add prediction intervals (where this sample's outcome would fall).")] = None,
    truth: Annotated[Path | None, typer.Option(
        help="A simulated world's truth folder (params.json, voice.parquet): also write "
             "policy_truth.json, the same outcomes and contrasts at the true parameters.",
        file_okay=False)] = None,
    truth_paths: Annotated[int | None, typer.Option(
        help="Paths of the truth in all (default [policy] truth_paths, 48; split into "
             "independent runs for its Monte Carlo se).", min=1)] = None,
    config: ConfigOption = None,
) -> None:
    """Simulate reply policies (arms × learning on/off, observed customers and a new cohort).

    Writes policy.json (expected outcomes, contrasts with confidence intervals) and tables.
    Every option overrides its key in the config's ``[policy]`` section. With ``--truth`` (a
    simulated world) also policy_truth.json: the same arms, contrasts and metrics at the
    world's true parameters written in the fitted model's layout (true confusion and reply
    probabilities where the fit has them), no parameter draws, ``--truth-paths`` paths
    (``complaintpanel.hmm.policy_truth``); policy.json then names it (``truth_file``).
    """
    import pandas as pd

    from complaintpanel.hmm.policy import simulate_policies

    started = time.perf_counter()
    settings = overridden(load(config).policy, horizon=horizon, cohort_horizon=cohort_horizon,
                          draws=draws, paths=paths, budget=budget, objective=objective,
                          seed=seed, parameter_uncertainty=parameter_uncertainty,
                          prediction=prediction, truth_paths=truth_paths)
    panel_path = find_panel(directory)
    out = out or _default_out(directory)
    estimates = estimates or out / "hmm.json"
    if not estimates.exists():
        raise PipelineError("not found: run `complaintpanel hmm` first", file=estimates)
    from complaintpanel.hmm.results import read_hmm_results
    from complaintpanel.results import NotEstimated

    truth_json = None
    if truth is not None:
        truth_json = read_json(verified_input(truth / "params.json"))
    with stage_outputs("policy", out) as outputs:
        results = read_hmm_results(verified_input(estimates))
        if isinstance(results, NotEstimated) or results is None:
            reason = ("the structural model was not estimated: "
                      f"{getattr(results, 'reason', None)}")
            write_json(NotEstimated("not identified", reason, "policy").to_dict(),
                       outputs.path("policy.json"))
            _write_text(f"Policies not simulated: {reason}\n", outputs.path("policy_table.md"))
            _write_text(f"% Policies not simulated: {reason}\n",
                        outputs.path("policy_table.tex"))
            summary = f"not simulated ({reason})"
        else:
            panel = pd.read_parquet(panel_path)
            outcome = simulate_policies(
                results, panel, horizon=settings.horizon,
                cohort_horizon=settings.cohort_horizon, n_draws=settings.draws,
                n_paths=settings.paths, policies=settings.policies or None,
                populations=settings.populations, learning_off=settings.learning_off,
                budget=settings.budget, objective=settings.objective,
                parameter_uncertainty=settings.parameter_uncertainty,
                prediction=settings.prediction, random_state=settings.seed)
            payload = outcome.to_dict()
            payload["input"] = {"panel": str(panel_path), "estimates": str(estimates)}
            if truth is not None and truth_json is not None:
                truth_payload = _policy_truth(results, truth_json, truth, panel, panel_path,
                                              outcome.settings, settings.truth_paths, config)
                write_json(truth_payload, outputs.path("policy_truth.json"))
                payload["truth_file"] = "policy_truth.json"
            write_json(payload, outputs.path("policy.json"))
            _write_text(outcome.to_markdown(), outputs.path("policy_table.md"))
            _write_text(outcome.to_latex(), outputs.path("policy_table.tex"))
            contrasts = outcome.contrasts[outcome.contrasts["metric"] == "complaints"]
            text = ", ".join(f"{row.population} {row.contrast} {row.estimate:+.2f}"
                             for row in contrasts.itertuples()
                             if row.contrast in ("all_minus_none", "all_learning_on_minus_off"))
            summary = f"complaints per customer: {text}"
            if "truth_file" in payload:
                summary += (f"; truth: {truth_payload['status']}"
                            + (f" ({truth_payload['reason']})"
                               if truth_payload["status"] != "computed" else ""))
    echo_summary("policy", f"{summary} → {out}", time.perf_counter() - started)


def _policy_truth(results: object, truth_json: dict[str, Any], truth: Path,
                  panel: pd.DataFrame, panel_path: Path, settings: dict[str, Any],
                  paths: int | None, config: Path | None) -> dict[str, Any]:
    """Return policy_truth.json: the policies at the simulated world's true parameters.

    When the truth lies outside the fitted model (:class:`TruthNotInModel`) the file records
    why (``status`` "not computed") instead.
    """
    from complaintpanel.hmm.policy_truth import (
        TRUTH_PATHS,
        TRUTH_RUNS,
        TruthNotInModel,
        policy_truth,
    )
    from complaintpanel.hmm.results import RelationshipHMMResults

    assert isinstance(results, RelationshipHMMResults)
    paths = TRUTH_PATHS if paths is None else paths
    source = {"truth": str(truth / "params.json"),
              "truth_sha256": sha256_file(truth / "params.json")}
    try:
        m = (_true_misclassification(truth, panel_path, config)
             if results.spec.misclassified else None)
        payload = policy_truth(results, truth_json, panel, settings=settings,
                               misclassification=m, paths=paths,
                               runs=min(TRUTH_RUNS, paths))
    except TruthNotInModel as error:
        return {"status": "not computed", "reason": str(error), "input": source}
    payload["input"] = source
    return payload


def _true_misclassification(truth: Path, panel_path: Path, config: Path | None
                            ) -> np.ndarray:
    """Return the world's confusion M over every labelled tweet (voiced.parquet beside it).

    The labels carry keyed pseudonyms of the tweet ids; the truth's raw ids are hashed with
    the key of the interim folder the labels were made from (as ``label-validity`` does).
    """
    import pandas as pd

    from complaintpanel.hmm.policy_truth import true_misclassification

    voiced = panel_path.parent / "voiced.parquet"
    report = panel_path.parent / "label_report.json"
    if not voiced.exists() or not report.exists():
        raise PipelineError("the true confusion needs the labelled tweets (voiced.parquet) and "
                            "their label_report.json beside the panel", file=voiced)
    interim = Path(read_json(verified_input(report))["input"]).parent
    labelled = pd.read_parquet(verified_input(voiced), columns=["tweet_id", "voice"])
    merged = labels_beside_truth(labelled, verified_input(truth / "voice.parquet"), interim,
                                 config)
    return true_misclassification(merged["voice_true"], merged["voice_label"])


def register(app: typer.Typer) -> None:
    """Add the ``hmm`` and ``policy`` commands to ``app``."""
    app.command()(hmm)
    app.command()(policy)
