"""One results shape for every estimator of the package, and the results files built from it.

Every estimator — the reduced-form PPML and fixed-effects regressions, the design-based AIPW
comparison, the event studies and (by subclassing :class:`EstimationResults`) the structural
HMM — returns an object in the statsmodels shape: ``params``, ``bse``, ``cov_params()``,
``conf_int(alpha)``, ``pvalues``, ``tvalues``, ``nobs``, ``summary()``, ``to_dict()`` /
``from_dict()``. Beside it sits a **term table** (:attr:`EstimationResults.terms`): one row per
parameter with the columns that describe it (``outcome``, ``lead``, ``treatment``,
``event_time``, ``estimator`` …), so that tables, figures and the paper select terms by those
columns and never parse a term's name. Terms fixed by a normalisation (the reference period of
an event study) are rows of the term table marked ``fixed`` — visible, but not parameters.

A model the data cannot identify is a :class:`NotEstimated` record with the reason.
:func:`compare` lays several results side by side, like linearmodels' ``compare``.
:func:`results_to_json` / :func:`results_from_json` (and :func:`write_results` /
:func:`read_results`) turn a tree of results — e.g. everything in ``estimates.json`` — into
plain JSON and back; a round trip through the file reproduces the file exactly.

This module is shared by the estimation and reporting stages, so that neither imports the
other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from complaintpanel.runtime.io import JSON_SIGNIFICANT_DIGITS, write_json

__all__ = [
    "ESTIMATION_FAILURES",
    "Comparison",
    "EffectResults",
    "EstimationResults",
    "NotEstimated",
    "NotIdentifiedError",
    "compare",
    "iter_results",
    "read_results",
    "register_results_kind",
    "results_from_json",
    "results_to_json",
    "write_results",
]


class NotIdentifiedError(ValueError):
    """The data cannot identify the requested model (e.g. the treatment never varies)."""


# What a whole-run driver records instead of stopping: a model the data cannot identify, or a
# numerical failure of the underlying library (e.g. pyfixest's demeaning not converging on a
# tiny, very unbalanced excerpt). The message is kept, so nothing fails silently.
ESTIMATION_FAILURES: tuple[type[Exception], ...] = (NotIdentifiedError, ValueError,
                                                    ArithmeticError)

# Columns of :meth:`EstimationResults.term_estimates` that hold numbers, not term descriptions.
ESTIMATE_COLUMNS = ("estimate", "se", "tvalue", "pvalue", "ci_lower", "ci_upper")


def _as_written(value: float) -> float:
    """``value`` as :func:`~complaintpanel.runtime.io.write_json` writes it."""
    return float(f"{value:.{JSON_SIGNIFICANT_DIGITS}g}") if value == value else value


def _plain(value: Any) -> Any:
    """Return a JSON-ready Python scalar (NumPy scalars unwrapped, missing as ``None``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


class EstimationResults:
    """Base of every results object: the statsmodels shape plus a term table.

    A subclass provides ``params`` (a Series indexed by parameter name), ``cov_params()`` and
    ``nobs``; everything else has a default here that it may override (e.g. standard errors
    stored as the estimator computed them). The class sets no instance attributes and defines
    no attribute named like a field of a dataclass subclass (``params``, ``nobs``, …), so a
    dataclass such as the HMM's results can derive from it unchanged.

    Attributes
    ----------
    model : str
        Short name of the model (e.g. ``"ppml_complaints"``).
    estimator : str
        How it was estimated (e.g. ``"pyfixest.fepois (PPML)"``).
    n_clusters : int or None
        Number of clusters of the standard errors (customers), if clustered.
    dof : float or None
        Degrees of freedom for t-based inference; ``None`` means normal inference.
    """

    model: str = ""
    estimator: str = ""
    n_clusters: int | None = None
    dof: float | None = None
    is_estimated: bool = True
    params: pd.Series
    nobs: int

    # ------------------------------------------------------------------ statsmodels shape
    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of :attr:`params` (rows and columns named like ``params``)."""
        raise NotImplementedError

    @property
    def bse(self) -> pd.Series:
        """Standard errors: square roots of the diagonal of :meth:`cov_params`."""
        cov = self.cov_params().to_numpy()
        return pd.Series(np.sqrt(np.clip(np.diag(cov), 0, None)), index=self.params.index)

    @property
    def tvalues(self) -> pd.Series:
        """Estimate divided by its standard error."""
        return self.params / self.bse

    def _distribution(self) -> Any:
        return stats.t(self.dof) if self.dof else stats.norm()

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values (t with ``dof`` degrees of freedom, else normal)."""
        return pd.Series(2 * self._distribution().sf(np.abs(self.tvalues.to_numpy())),
                         index=self.params.index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals at level ``1 − alpha``, columns ``lower`` and ``upper``."""
        q = self._distribution().ppf(1 - alpha / 2)
        return pd.DataFrame({"lower": self.params - q * self.bse,
                             "upper": self.params + q * self.bse})

    # ------------------------------------------------------------------ term table
    @property
    def terms(self) -> pd.DataFrame:
        """The term table: one row per term (index: name), columns describing it.

        Always has a boolean ``fixed`` column (a term normalised rather than estimated; its
        value is in ``fixed_value``). The default describes nothing but the names; estimators
        with structure (outcomes, leads, event times) supply their own.
        """
        return pd.DataFrame({"fixed": False}, index=self.params.index)

    def term_estimates(self, alpha: float = 0.05) -> pd.DataFrame:
        """Return the term table joined with ``estimate``, ``se``, ``tvalue``, ``pvalue``, CI.

        Fixed terms show their fixed value as ``estimate`` and no uncertainty (missing).
        """
        terms = self.terms
        ci = self.conf_int(alpha)
        numbers = pd.DataFrame({"estimate": self.params, "se": self.bse,
                                "tvalue": self.tvalues, "pvalue": self.pvalues,
                                "ci_lower": ci["lower"], "ci_upper": ci["upper"]})
        out = terms.join(numbers, how="left")
        if "fixed_value" in terms:
            out.loc[terms["fixed"], "estimate"] = terms.loc[terms["fixed"], "fixed_value"]
        return out

    def select(self, alpha: float = 0.05, **where: Any) -> pd.DataFrame:
        """Rows of :meth:`term_estimates` whose term-table columns equal ``where``.

        Examples
        --------
        ``design.select(outcome="complaints")`` gives the complaint terms at every lead.
        """
        return _matching(self.term_estimates(alpha), where)

    def term(self, alpha: float = 0.05, **where: Any) -> pd.Series:
        """Return the one estimated term matching ``where`` (see :meth:`select`).

        Raises
        ------
        KeyError
            When no estimated term, or more than one, matches.
        """
        rows = self.select(alpha, **where)
        rows = rows[~rows["fixed"].astype(bool)]
        if len(rows) != 1:
            raise KeyError(f"{len(rows)} estimated terms of {self.model or 'the model'} "
                           f"match {where}")
        return rows.iloc[0]

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation from which :meth:`from_dict` rebuilds the results."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EstimationResults:
        """Rebuild results from :meth:`to_dict` output."""
        raise NotImplementedError

    # ------------------------------------------------------------------ reporting
    def summary(self) -> str:
        """Plain-text table of estimates, SEs, p-values and 95% intervals, with a header."""
        frame = self.term_estimates()
        shown = frame[["estimate", "se", "pvalue", "ci_lower", "ci_upper"]].rename(columns={
            "estimate": "coef", "se": "std err",
            "pvalue": "P>|t|" if self.dof else "P>|z|", "ci_lower": "[0.025",
            "ci_upper": "0.975]"})
        header = [f"{self.model} — {self.estimator}",
                  f"observations: {self.nobs:,}"
                  + (f"; clusters (customers): {self.n_clusters:,}" if self.n_clusters else "")]
        header += [f"{k}: {v}" for k, v in getattr(self, "info", {}).items()
                   if isinstance(v, str | int | float)]
        if frame["fixed"].any():
            header.append("fixed (normalised, not estimated): "
                          + ", ".join(map(str, frame.index[frame["fixed"]])))
        return "\n".join(header) + "\n" + shown.to_string(
            float_format=lambda v: f"{v:.4f}", na_rep="(fixed)")

    def __str__(self) -> str:
        return self.summary()


def _matching(frame: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        if column not in frame:
            return frame.iloc[0:0]
        mask &= (frame[column] == value).to_numpy()
    return frame[mask]


class EffectResults(EstimationResults):
    """Results of a reduced-form estimator: estimates, full covariance and a term table.

    Parameters
    ----------
    model : str
        Short name of the model (e.g. ``"ppml_complaints"``).
    estimator : str
        How it was estimated (e.g. ``"pyfixest.fepois (PPML)"``).
    params : Series
        Point estimates, indexed by term name.
    bse : Series
        Standard errors as the estimator computed them (same index). Kept rather than
        recomputed from the covariance so that they are bit-for-bit the estimator's own.
    cov : DataFrame
        Covariance of ``params`` (index and columns: term names); its diagonal is ``bse²``.
    nobs : int
        Observations used.
    terms : DataFrame, optional
        Term table: index = term names — every name of ``params`` plus any fixed terms —
        columns describing each term. A boolean ``fixed`` column marks terms fixed by a
        normalisation, whose value is in ``fixed_value``. Default: names only.
    n_clusters : int, optional
        Number of clusters of the standard errors (customers).
    dof : float, optional
        Degrees of freedom for t-based inference; ``None`` means normal inference.
    cov_type : str
        How the covariance was estimated.
    info : dict, optional
        Anything else worth keeping (formula, fixed effects, treatment definition, notes);
        plain JSON values.
    """

    kind = "effects"

    def __init__(self, *, model: str, estimator: str, params: pd.Series, bse: pd.Series,
                 cov: pd.DataFrame, nobs: int, terms: pd.DataFrame | None = None,
                 n_clusters: int | None = None, dof: float | None = None,
                 cov_type: str = "", info: dict[str, Any] | None = None) -> None:
        self.model = model
        self.estimator = estimator
        self.params = params.astype(float)
        self._bse = bse.reindex(params.index).astype(float)
        self._cov = cov.loc[params.index, params.index].astype(float)
        self.nobs = int(nobs)
        self.n_clusters = None if n_clusters is None else int(n_clusters)
        self.dof = dof
        self.cov_type = cov_type
        self.info = dict(info or {})
        table = pd.DataFrame(index=params.index) if terms is None else terms.copy()
        if "fixed" not in table:
            table["fixed"] = False
        table["fixed"] = table["fixed"].astype(bool)
        if not table.index.is_unique:
            raise ValueError("term names must be unique (they label rows of the covariance)")
        estimated = table.index[~table["fixed"]]
        if list(estimated) != list(params.index):
            raise ValueError("the term table's estimated terms must be the parameters, in order:"
                             f" {list(estimated)} vs {list(params.index)}")
        self._terms = table

    @property
    def bse(self) -> pd.Series:
        """Standard errors (as the estimator computed them)."""
        return self._bse

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of :attr:`params`."""
        return self._cov.copy()

    @property
    def terms(self) -> pd.DataFrame:
        """The term table (see the class docstring)."""
        return self._terms.copy()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: header, one record per term, the covariance matrix and ``info``.

        ``terms`` is a list in term order; each record has the term's ``name``, its
        describing columns, ``fixed``, and ``estimate``, ``se``, ``pvalue``, ``ci_lower``,
        ``ci_upper`` (a fixed term has its fixed value as ``estimate`` and no uncertainty).
        ``cov_params`` is the covariance over the estimated terms, in the same order.
        p-values and intervals are computed from the estimates and SEs *as written*, so that
        the file is self-consistent and a round trip through it reproduces it exactly.
        """
        written = EffectResults(
            model=self.model, estimator=self.estimator,
            params=self.params.map(_as_written), bse=self.bse.map(_as_written), cov=self._cov,
            nobs=self.nobs, terms=self._terms, n_clusters=self.n_clusters, dof=self.dof)
        frame = written.term_estimates()
        describing = [c for c in self._terms.columns if c not in ("fixed", "fixed_value")]
        records = []
        for name, row in frame.iterrows():
            record: dict[str, Any] = {"name": str(name)}
            record.update({column: _plain(row[column]) for column in describing})
            record["fixed"] = bool(row["fixed"])
            record.update({column: _plain(row[column]) for column in
                           ("estimate", "se", "pvalue", "ci_lower", "ci_upper")})
            records.append(record)
        return {"status": "estimated", "kind": self.kind, "model": self.model,
                "estimator": self.estimator, "nobs": self.nobs, "n_clusters": self.n_clusters,
                "dof": self.dof, "cov_type": self.cov_type, "term_columns": describing,
                "terms": records, "cov_params": self._cov.to_numpy().tolist(),
                "info": self.info}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EffectResults:
        """Rebuild results from :meth:`to_dict` output (e.g. read back from a results file)."""
        records = list(values["terms"])
        names = [r["name"] for r in records]
        fixed = [bool(r["fixed"]) for r in records]
        estimated = [n for n, f in zip(names, fixed, strict=True) if not f]
        table = pd.DataFrame({c: [r.get(c) for r in records] for c in values["term_columns"]},
                             index=pd.Index(names, dtype=object))
        table["fixed"] = fixed
        if any(fixed):
            table["fixed_value"] = [r["estimate"] if f else np.nan
                                    for r, f in zip(records, fixed, strict=True)]
        by_name = {r["name"]: r for r in records}
        return cls(
            model=values["model"], estimator=values["estimator"],
            params=pd.Series([float(by_name[n]["estimate"]) for n in estimated],
                             index=estimated, dtype=float),
            bse=pd.Series([float(by_name[n]["se"]) for n in estimated], index=estimated,
                          dtype=float),
            cov=pd.DataFrame(np.asarray(values["cov_params"], dtype=float).reshape(
                len(estimated), len(estimated)), index=estimated, columns=estimated),
            nobs=int(values["nobs"]), terms=table, n_clusters=values.get("n_clusters"),
            dof=values.get("dof"), cov_type=values.get("cov_type", ""),
            info=dict(values.get("info", {})))


@dataclass(frozen=True)
class NotEstimated:
    """A model that was not estimated, with the reason.

    Attributes
    ----------
    status : {"not identified", "not estimated"}
        ``not identified``: the data cannot identify the model (e.g. the treatment never
        varies). ``not estimated``: the estimator failed numerically.
    reason : str
        What went wrong, in words.
    model : str
        Short name of the model, when known.
    """

    status: Literal["not identified", "not estimated"]
    reason: str
    model: str = ""

    is_estimated = False

    @classmethod
    def from_error(cls, error: Exception, model: str = "") -> NotEstimated:
        """Record an estimation failure (:data:`ESTIMATION_FAILURES`) instead of raising it."""
        if isinstance(error, NotIdentifiedError):
            return cls("not identified", str(error), model)
        return cls("not estimated", f"{type(error).__name__}: {error}", model)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (``status``, ``reason`` and ``model`` when known)."""
        out: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.model:
            out["model"] = self.model
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> NotEstimated:
        """Rebuild the record from :meth:`to_dict` output."""
        return cls(values["status"], values["reason"], values.get("model", ""))

    def __str__(self) -> str:
        return f"{self.model or 'model'}: {self.status} — {self.reason}"


# ---------------------------------------------------------------------- comparison
@dataclass(frozen=True)
class Comparison:
    """Several results side by side (the output of :func:`compare`).

    Attributes
    ----------
    terms : DataFrame
        Long table, one row per model and term: ``model``, ``term``, the term-table columns
        of every model (missing where a model lacks one), ``fixed``, and the estimate
        columns ``estimate``, ``se``, ``tvalue``, ``pvalue``, ``ci_lower``, ``ci_upper``.
    models : DataFrame
        One row per model (index: the names given to :func:`compare`): ``status``,
        ``estimator``, ``nobs``, ``n_clusters``, ``dof``, ``reason`` (object columns, so counts
        stay Python integers).
    """

    terms: pd.DataFrame
    models: pd.DataFrame

    def _wide(self, column: str) -> pd.DataFrame:
        estimated = self.terms[~self.terms["fixed"].astype(bool)]
        wide = estimated.pivot(index="term", columns="model", values=column)
        order = list(dict.fromkeys(estimated["term"]))
        columns = [m for m in self.models.index if m in wide.columns]
        return wide.reindex(index=order, columns=columns).rename_axis(index=None, columns=None)

    @property
    def params(self) -> pd.DataFrame:
        """Estimates: terms × models."""
        return self._wide("estimate")

    @property
    def bse(self) -> pd.DataFrame:
        """Standard errors: terms × models."""
        return self._wide("se")

    @property
    def tvalues(self) -> pd.DataFrame:
        """Return the t (or z) statistics: terms × models."""
        return self._wide("tvalue")

    @property
    def pvalues(self) -> pd.DataFrame:
        """p-values: terms × models."""
        return self._wide("pvalue")

    @property
    def nobs(self) -> pd.Series:
        """Observations per model (``None`` for models not estimated)."""
        return self.models["nobs"]

    @property
    def n_clusters(self) -> pd.Series:
        """Clusters per model (``None`` when not clustered or not estimated)."""
        return self.models["n_clusters"]

    def select(self, model: str | None = None, **where: Any) -> pd.DataFrame:
        """Rows of :attr:`terms` of ``model`` (any model if ``None``) matching ``where``."""
        frame = self.terms if model is None else self.terms[self.terms["model"] == model]
        return _matching(frame, where)

    def summary(self, stars: bool = True) -> str:
        """Plain-text table: each term's estimate with its SE below, then N and clusters."""
        params, bse, pvalues = self.params, self.bse, self.pvalues
        labels = [label for term in params.index for label in (str(term), f"{term} (se)")]
        table = pd.DataFrame("", index=labels, columns=list(self.models.index), dtype=object)
        for term in params.index:
            for model in params.columns:
                if not pd.isna(params.loc[term, model]):
                    marks = _stars(pvalues.loc[term, model]) if stars else ""
                    table.loc[str(term), model] = f"{params.loc[term, model]:.4f}{marks}"
                    table.loc[f"{term} (se)", model] = f"({bse.loc[term, model]:.4f})"
        for model, row in self.models.iterrows():
            if row["status"] != "estimated":
                table.loc[f"status ({model})"] = ""
                table.loc[f"status ({model})", model] = row["status"]
        table.loc["Estimator"] = [e or "" for e in self.models["estimator"]]
        table.loc["N"] = [f"{n:,}" if n is not None else "–" for n in self.models["nobs"]]
        table.loc["Clusters"] = [f"{n:,}" if n is not None else "–"
                                 for n in self.models["n_clusters"]]
        return table.to_string()

    def __str__(self) -> str:
        return self.summary()


def _stars(pvalue: float) -> str:
    if pvalue != pvalue:
        return ""
    return "***" if pvalue < 0.01 else "**" if pvalue < 0.05 else "*" if pvalue < 0.1 else ""


def _term_estimates(result: Any, alpha: float) -> pd.DataFrame:
    """Term estimates of anything with the results shape (``term_estimates`` if it has it)."""
    if hasattr(result, "term_estimates"):
        return result.term_estimates(alpha)
    ci = result.conf_int(alpha)
    frame = pd.DataFrame({"fixed": False, "estimate": result.params, "se": result.bse,
                          "tvalue": result.params / result.bse, "pvalue": result.pvalues,
                          "ci_lower": ci["lower"], "ci_upper": ci["upper"]})
    return frame


def compare(results: Mapping[str, Any], alpha: float = 0.05) -> Comparison:
    """Lay several results side by side, like linearmodels' ``compare``.

    Parameters
    ----------
    results : mapping
        Name → results. Anything with the results shape (``params``, ``bse``, ``pvalues``,
        ``conf_int()``, ``nobs``; a term table and ``n_clusters`` if it has them), a
        :class:`NotEstimated` record (listed with its status), or ``None`` (left out).
    alpha : float
        Intervals are at level ``1 − alpha``.

    Returns
    -------
    Comparison
        Long term table and per-model statistics; ``params``, ``bse``, ``pvalues`` as
        terms × models; ``summary()`` as text.
    """
    term_frames = []
    model_rows = {}
    for name, result in results.items():
        if result is None:
            continue
        if not getattr(result, "is_estimated", True):
            model_rows[name] = {"status": result.status, "estimator": None, "nobs": None,
                                "n_clusters": None, "dof": None, "reason": result.reason}
            continue
        frame = _term_estimates(result, alpha).rename_axis("term").reset_index()
        # Describing columns as objects, so that a count or a lead stays an integer when
        # models without that column leave it missing.
        describing = [c for c in frame.columns if c not in ("term", "fixed", *ESTIMATE_COLUMNS)]
        frame[describing] = frame[describing].astype(object)
        frame.insert(0, "model", name)
        term_frames.append(frame)
        model_rows[name] = {
            "status": "estimated", "estimator": getattr(result, "estimator", "") or None,
            "nobs": _plain(getattr(result, "nobs", None)),
            "n_clusters": _plain(getattr(result, "n_clusters", None)),
            "dof": _plain(getattr(result, "dof", None)), "reason": None}
    columns = ["model", "term", "fixed", *ESTIMATE_COLUMNS]
    terms = (pd.concat(term_frames, ignore_index=True) if term_frames
             else pd.DataFrame(columns=columns))
    terms["fixed"] = terms["fixed"].fillna(False).astype(bool)
    describing = [c for c in terms.columns if c not in columns]
    terms = terms[["model", "term", *describing, "fixed", *ESTIMATE_COLUMNS]]
    names = list(model_rows)
    models = pd.DataFrame({
        column: pd.Series([model_rows[n][column] for n in names], index=names, dtype=object)
        for column in ("status", "estimator", "nobs", "n_clusters", "dof", "reason")},
        index=pd.Index(names, dtype=object))
    return Comparison(terms=terms, models=models)


# ---------------------------------------------------------------------- results files
# Results classes by the "kind" tag their to_dict() writes; read_results uses it to rebuild them.
# Another results class joins by writing its own "kind" and calling register_results_kind (the
# structural model's does, in complaintpanel.hmm.results), so this module imports no stage.
RESULTS_KINDS: dict[str, type[EstimationResults]] = {"effects": EffectResults}


def register_results_kind(cls: type[EstimationResults]) -> type[EstimationResults]:
    """Let :func:`results_from_json` rebuild ``cls`` from entries whose ``kind`` is ``cls.kind``.

    Returns ``cls``, so it can serve as a class decorator.
    """
    kind = getattr(cls, "kind", "")
    if not kind:
        raise ValueError(f"{cls.__name__} has no `kind` to register under")
    RESULTS_KINDS[kind] = cls
    return cls

Tree = Any  # nested dicts / lists of results, NotEstimated records and plain JSON values


def results_to_json(tree: Tree) -> Any:
    """Turn a tree of results (dicts and lists of them, and plain values) into plain JSON.

    Results objects and :class:`NotEstimated` records become their ``to_dict()``; every other
    value is kept as it is.
    """
    if isinstance(tree, EstimationResults | NotEstimated):
        return tree.to_dict()
    if isinstance(tree, Mapping):
        return {key: results_to_json(value) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return [results_to_json(value) for value in tree]
    return tree


def results_from_json(tree: Any) -> Tree:
    """Inverse of :func:`results_to_json`: rebuild results objects and records.

    A dict with a ``status`` of ``estimated`` and a known ``kind`` becomes that results class;
    a dict whose ``status`` is ``not identified`` or ``not estimated`` becomes
    :class:`NotEstimated`; other dicts and lists are walked, other values kept.
    """
    if isinstance(tree, Mapping):
        status = tree.get("status")
        if status == "estimated" and tree.get("kind") in RESULTS_KINDS:
            return RESULTS_KINDS[tree["kind"]].from_dict(tree)
        if status in ("not identified", "not estimated") and "reason" in tree:
            return NotEstimated.from_dict(tree)
        return {key: results_from_json(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [results_from_json(value) for value in tree]
    return tree


def write_results(tree: Tree, path: str | os.PathLike[str]) -> Path | str:
    """Write a tree of results as JSON (see :func:`results_to_json`), atomically."""
    return write_json(results_to_json(tree), path)


def read_results(path: str | os.PathLike[str]) -> Tree:
    """Read a results file written by :func:`write_results`, rebuilding the objects."""
    return results_from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def iter_results(tree: Tree, path: tuple[str, ...] = ()
                 ) -> Iterator[tuple[tuple[str, ...], EstimationResults | NotEstimated]]:
    """Yield ``(path, item)`` for every results object and record in a tree.

    ``path`` is the tuple of keys (list positions as strings) leading to the item.
    """
    if isinstance(tree, EstimationResults | NotEstimated):
        yield path, tree
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from iter_results(value, (*path, str(key)))
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            yield from iter_results(value, (*path, str(i)))
