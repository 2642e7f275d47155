"""The truth of the design-based estimate on its own population, in a simulated world.

``truth/answer_effects.json`` (written by ``complaintpanel simulate``) averages the true effect
of answering over *every* customer-week with a true complaint. The design-based estimate
(:func:`complaintpanel.estimate.answered_vs_unanswered`) averages over another population: the
customer-weeks ``t−1`` with a *classified* complaint whose propensity lies in the overlap range
(its attribute ``kept``), each lead ``h`` on those whose week ``t+h`` is in the panel. This
module computes the truth on exactly those customer-weeks, as the coverage studies of
``benchmarks/bench_panel.py`` do world by world: the same continuations with common random
numbers (:func:`complaintpanel.simulate.truth_effects.world_answer_effects`) with
``require_complaint=False``, so a classified complaint that is in truth a neutral tweet or a
compliment has an effect of exactly 0 and dilutes the average as it does in the estimate.

The panel knows its customers only by keyed pseudonyms (:mod:`complaintpanel.ingest.pseudonymise`:
``"c"`` + 16 hex digits of HMAC-SHA256 of the lower-cased raw id) and its weeks by their index
since the start of its window. :func:`world_rows` hashes the world's raw customer ids with the
ingest key to join the two, and reads the world's week off the start date of the panel's week.
Every kept customer-week must be one of the world's: a customer or week that does not join
(another world, another key) is an error, never a silent truth of 0.

The world is read back from its truth files (:func:`read_truth`): the states, the parameters,
the brands' answer policies and the world's settings are all the truth effects use, so the
numbers are those a run on the simulated :class:`~complaintpanel.simulate.World` gives (same
seed: the world's seed + 1, as ``answer_effects.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from complaintpanel.config import SimulateConfig
from complaintpanel.ingest.pseudonymise import pseudonym
from complaintpanel.model import ModelParams
from complaintpanel.simulate.truth_effects import world_answer_effects
from complaintpanel.simulate.world import BrandPolicy

__all__ = ["DRAWS", "TruthWorld", "design_truth", "design_truth_record", "read_truth",
           "world_rows"]

# Continuations per customer-week and arm: as truth/answer_effects.json (World.answer_effects).
DRAWS = 20
_OUTCOMES = ("complaints", "compliments")


@dataclass(frozen=True)
class TruthWorld:
    """What the truth effects need of a simulated world, read back from its truth files.

    Attributes
    ----------
    states : DataFrame
        ``truth/states.parquet``: one row per customer × week from arrival.
    params : ModelParams
        ``truth/params.json``'s ``model``.
    brands : list of BrandPolicy
        ``truth/params.json``'s ``brands`` (their answer rule).
    spec : SimulateConfig
        ``truth/params.json``'s ``world`` (seed, endogenous replies, awareness).
    """

    states: pd.DataFrame
    params: ModelParams
    brands: list[BrandPolicy]
    spec: SimulateConfig


def read_truth(truth_dir: str | os.PathLike[str]) -> TruthWorld:
    """Read a simulated world's truth folder (``params.json`` and ``states.parquet``).

    Parameters
    ----------
    truth_dir : path-like
        The ``truth`` folder that ``complaintpanel simulate`` wrote.

    Returns
    -------
    TruthWorld
    """
    folder = Path(truth_dir)
    truth = json.loads((folder / "params.json").read_text(encoding="utf-8"))
    known = {f.name for f in fields(SimulateConfig)}
    world: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                             for k, v in truth["world"].items() if k in known}
    return TruthWorld(
        states=pd.read_parquet(folder / "states.parquet"),
        params=ModelParams.from_dict(truth["model"]),
        brands=[BrandPolicy(**brand) for brand in truth["brands"]],
        spec=SimulateConfig(**world))


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def world_rows(kept: pd.DataFrame, periods: pd.DataFrame, states: pd.DataFrame,
               key: bytes) -> pd.DataFrame:
    """Map the estimate's customer-weeks (pseudonyms, panel weeks) to the world's.

    Parameters
    ----------
    kept : DataFrame
        ``customer_id`` (keyed pseudonym), ``brand`` and ``period`` (the panel's index) of
        each customer-week, e.g. the design estimate's ``kept``.
    periods : DataFrame
        The panel's ``period`` and ``period_start`` (any number of rows per period).
    states : DataFrame
        The world's ``truth/states.parquet`` (raw ``customer_id``, ``brand``, ``period``,
        ``period_start``, ``complaints``).
    key : bytes
        The pseudonymisation key ingest hashed the customers with.

    Returns
    -------
    DataFrame
        One row per row of ``kept``, in order: the world's ``customer_id`` and ``period``, and
        ``true_complaints`` (the customer's true complaints that week).

    Raises
    ------
    ValueError
        When two world customers share a pseudonym, when a customer of ``kept`` is none of the
        world's under ``key``, when a week of ``kept`` has no start date in ``periods`` or is
        not one of the customer's weeks in the world, or when the brands disagree.
    """
    raw_ids = pd.unique(states["customer_id"].astype(str))
    by_pseudonym = {pseudonym(raw, key): raw for raw in raw_ids}
    if len(by_pseudonym) != len(raw_ids):
        raise ValueError(f"{len(raw_ids) - len(by_pseudonym)} world customers share a "
                         "pseudonym with another")
    customer = kept["customer_id"].astype(str).map(by_pseudonym)
    if customer.isna().any():
        missing = kept.loc[customer.isna(), "customer_id"].nunique()
        raise ValueError(f"{missing:,} of {kept['customer_id'].nunique():,} customers of the "
                         "estimate are none of the world's customers under this key (another "
                         "world, or another key?)")
    start_of = periods.drop_duplicates("period").set_index("period")["period_start"]
    if start_of.index.duplicated().any():
        raise ValueError("the panel gives one period several start dates")
    start = kept["period"].map(start_of)
    if start.isna().any():
        raise ValueError(f"{int(start.isna().sum()):,} customer-weeks of the estimate have a "
                         "period the panel does not date")
    world = states.assign(customer_id=states["customer_id"].astype(str),
                          period_start=_utc(states["period_start"]))
    world = world.set_index(["customer_id", "period_start"])
    if world.index.duplicated().any():
        raise ValueError("the world's states repeat a customer-week")
    at = pd.MultiIndex.from_arrays([customer.to_numpy(), _utc(start).to_numpy()])
    found = world.reindex(at)
    lost = found["period"].isna().to_numpy()
    if lost.any():
        raise ValueError(f"{int(lost.sum()):,} of {len(kept):,} customer-weeks of the estimate "
                         "are not weeks of that customer in the world (another world, or a "
                         "different week calendar?)")
    wrong_brand = found["brand"].to_numpy() != kept["brand"].astype(str).to_numpy()
    if wrong_brand.any():
        raise ValueError(f"{int(wrong_brand.sum()):,} customer-weeks of the estimate name "
                         "another brand than the world's customer")
    return pd.DataFrame({"customer_id": customer.to_numpy(),
                         "period": found["period"].to_numpy(dtype="int64"),
                         "true_complaints": found["complaints"].to_numpy(dtype="int64")},
                        index=kept.index)


def design_truth(kept: pd.DataFrame, periods: pd.DataFrame, world: TruthWorld | Any,
                 key: bytes, horizon: int, draws: int = DRAWS) -> tuple[pd.DataFrame, int]:
    """Compute the true effects of answering, averaged over the estimate's own customer-weeks.

    Parameters
    ----------
    kept : DataFrame
        The estimate's customer-weeks ``t−1`` (:func:`world_rows`).
    periods : DataFrame
        The panel's ``period`` and ``period_start``.
    world : TruthWorld or World
        The simulated world (``states``, ``params``, ``brands``, ``spec``).
    key : bytes
        The pseudonymisation key of the panel's customers.
    horizon : int
        Last lead reported.
    draws : int
        Continuations per customer-week and arm.

    Returns
    -------
    effects : DataFrame
        :func:`~complaintpanel.simulate.truth_effects.answer_effects`' table, one row per lead
        (``n_eligible``: the kept customer-weeks whose week ``t+lead`` is in the world).
    true_complaint_weeks : int
        How many of the kept customer-weeks have a true complaint.
    """
    rows = world_rows(kept, periods, world.states, key)
    effects = world_answer_effects(world, horizon=horizon, draws=draws, rows=rows,
                                   require_complaint=False)
    return effects, int((rows["true_complaints"] > 0).sum())


def design_truth_record(estimate: Any, effects: pd.DataFrame, true_complaint_weeks: int,
                        draws: int = DRAWS, seed: int | None = None) -> dict[str, Any]:
    """Return the truth of ``estimate`` as plain JSON, checked against its own counts.

    Parameters
    ----------
    estimate : EffectResults
        The design-based estimate (its term table has ``outcome``, ``lead`` and ``nobs``).
    effects : DataFrame
        :func:`design_truth`'s effects of the same customer-weeks.
    true_complaint_weeks : int
        :func:`design_truth`'s count.
    draws : int
        Continuations per customer-week and arm (recorded).
    seed : int, optional
        Seed of the common random numbers (recorded).

    Returns
    -------
    dict
        ``effects`` (one record per lead, as ``truth/answer_effects.json``), ``terms`` (one
        record per reported term, with its ``outcome`` and ``lead``: its estimate, interval
        and truth, and whether the interval holds the truth; select by outcome and lead, the
        name ``term`` is a label), ``kept_customer_weeks``, ``true_complaint_weeks`` and a
        description.

    Raises
    ------
    ValueError
        When a reported term has no truth, or the truth averages over another number of
        customer-weeks than the term (the populations differ).
    """
    by_lead = effects.set_index("lead")
    table = estimate.term_estimates() if hasattr(estimate, "term_estimates") else None
    terms: list[dict[str, Any]] = []
    for name, term in estimate.terms.iterrows():
        outcome, lead = str(term["outcome"]), int(term["lead"])
        if outcome not in _OUTCOMES:
            continue
        if lead not in by_lead.index:
            raise ValueError(f"no truth at lead {lead} (term {name})")
        n_truth = int(by_lead.loc[lead, "n_eligible"])
        if n_truth != int(term["nobs"]):
            raise ValueError(f"the truth of {name} averages over {n_truth:,} customer-weeks, "
                             f"the estimate over {int(term['nobs']):,}: not the same population")
        truth = float(by_lead.loc[lead, f"effect_{outcome}"])
        record: dict[str, Any] = {"term": str(name), "outcome": outcome, "lead": lead,
                                  "nobs": n_truth,
                                  "truth": truth,
                                  "truth_mc_se": float(by_lead.loc[lead, f"se_{outcome}"])}
        if table is not None:
            row = table.loc[name]
            record |= {"estimate": float(row["estimate"]), "ci_lower": float(row["ci_lower"]),
                       "ci_upper": float(row["ci_upper"]),
                       "covered": bool(row["ci_lower"] <= truth <= row["ci_upper"])}
        terms.append(record)
    if not terms:
        raise ValueError("the estimate reports no complaint or compliment term")
    kept = int(estimate.nobs)
    return {
        "description": "True average effect of answering a complaint in t-1 on the expected "
                       "number of complaints and compliments in t+lead, over the customer-"
                       "weeks the design-based estimate (estimates.json, block design) kept: a "
                       "classified complaint and a propensity inside the overlap range; each "
                       "lead over those whose week t+lead is in the panel. A classified "
                       "complaint without a true one has an effect of 0 (common random "
                       "numbers; simulate/design_truth.py).",
        "estimate": "design",
        "status": "estimated",
        "kept_customer_weeks": kept,
        "true_complaint_weeks": true_complaint_weeks,
        "true_complaint_share": true_complaint_weeks / kept if kept else None,
        "draws": draws,
        "seed": seed,
        "effects": [{k: (int(v) if isinstance(v, (np.integer, int)) else float(v))
                     for k, v in record.items()}
                    for record in effects.to_dict(orient="records")],
        "terms": terms,
    }
