"""Results of a relationship-HMM fit, in the statsmodels shape.

``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int(alpha)``, ``cov_params()``,
``summary()``, ``llf`` / ``loglike``, ``aic``, ``bic``, plus what an HMM adds: transition
matrices with and without intervention, how many random starts reached the best optimum, and
export to JSON (``to_dict``), Markdown and LaTeX tables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.model import (
    COEFFICIENT_NAMES,
    ModelParams,
    ModelSpec,
    state_names,
    transition_matrices,
)
from complaintpanel.results import EstimationResults, NotEstimated, register_results_kind

__all__ = ["RelationshipHMMResults", "StartReport", "read_hmm_results"]

# What the two effects of a reply mean, for tables and summaries (DESIGN.md §4).
EFFECT_LABELS: dict[str, str] = {
    "gamma": "squeaky wheel (redress → complaint rate)",
    "delta": "relationship effect (reply → better state)",
    "eta": "peer voice → better state",
    "kappa": "unanswered complaint → state",
    "delta_fast": "fast reply (extra) → better state",
    "sigma[complaint]": "customers differ (sd of the complaint random intercept)",
    "sigma[compliment]": "customers differ (sd of the compliment random intercept)",
    "corr[complaint,compliment]": "correlation of the two random intercepts",
}

# Parameters after the homogeneous model's vector in ``theta``, in order (issue 16: the
# standard deviation of the customers' random intercept in the complaint log-rate; with a
# bivariate intercept, the Cholesky elements (l11, l21, l22) reported as both standard
# deviations and the correlation).
RANDOM_EFFECT_NAMES: tuple[str, ...] = ("sigma[complaint]",)
BIVARIATE_EFFECT_NAMES: tuple[str, ...] = (
    "sigma[complaint]", "sigma[compliment]", "corr[complaint,compliment]")


@dataclass(frozen=True)
class StartReport:
    """Outcome of one optimiser start.

    Attributes
    ----------
    loglike : float
        Log-likelihood reached.
    converged : bool
        The optimiser reported convergence.
    n_iter, n_eval : int
        Iterations and likelihood evaluations.
    message : str
        Optimiser message.
    seconds : float
        Wall time of the start.
    n_iter_warm_up : int
        Iterations of the warm-up on a subsample (0 when none); ``n_iter`` and ``n_eval``
        count the full-panel optimisation.
    """

    loglike: float
    converged: bool
    n_iter: int
    n_eval: int
    message: str
    seconds: float
    n_iter_warm_up: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return {"loglike": self.loglike, "converged": self.converged, "n_iter": self.n_iter,
                "n_eval": self.n_eval, "message": self.message, "seconds": self.seconds,
                "n_iter_warm_up": self.n_iter_warm_up}


def json_number(value: Any) -> float | None:
    """Return ``value`` as a float for JSON, or ``None`` (null) where it is NaN."""
    value = float(value)
    return None if np.isnan(value) else value


@dataclass
class RelationshipHMMResults(EstimationResults):
    """Estimates of the relationship HMM and their uncertainty.

    Parameters
    ----------
    spec : ModelSpec
    theta : ndarray
        Unconstrained estimate (optimiser scale).
    cov_theta : ndarray
        Covariance of ``theta`` (inverse observed information, sandwich or bootstrap).
    loglike : float
        Maximised log-likelihood.
    nobs : int
        Customer–brand periods used.
    n_sequences, n_customers : int
    starts : list of StartReport
        One entry per random start.
    cov_type : str
        ``"oim"`` (observed information), ``"robust"`` (customer-clustered sandwich) or
        ``"bootstrap"`` (customer-clustered bootstrap).
    reported_cov : ndarray, optional
        Covariance of the reported parameters when not from the delta method (bootstrap).
    optimum_tol : float
        Log-likelihood distance within which a start counts as reaching the best optimum.
    fit_seconds : float
    dropped_rows : int
        Leading periods without voice dropped for first-contact conditioning.
    hessian_ok : bool
        The observed information was positive definite.
    extra : dict
        Anything else worth recording (e.g. number of bootstrap replications).
    """

    spec: ModelSpec
    theta: np.ndarray
    cov_theta: np.ndarray
    loglike: float
    nobs: int
    n_sequences: int
    n_customers: int
    starts: list[StartReport]
    cov_type: str = "oim"
    reported_cov: np.ndarray | None = None
    optimum_tol: float = 0.05
    fit_seconds: float = float("nan")
    dropped_rows: int = 0
    hessian_ok: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.theta = np.asarray(self.theta, dtype=float)
        self.cov_theta = np.asarray(self.cov_theta, dtype=float)
        self.layout = ParamLayout(self.spec)
        names, values = self.layout.reported(self.theta)
        p = self.layout.n_params
        n_extra = self.theta.size - p  # σ of the random intercepts, or the classes
        info = self.extra.get("heterogeneity") or {}
        extra_names: list[str] = []
        if info.get("kind") == "classes":
            extra_names, extra_values, extra_jac = _class_reported(
                self.theta, p, tuple(info["class_blocks"]), int(info["classes"]))
        elif n_extra and len(info.get("effects", ())) == 2:
            from complaintpanel.hmm.heterogeneity import bivariate_reported
            extra_names = list(BIVARIATE_EFFECT_NAMES)
            extra_values, chol_jac = bivariate_reported(self.theta[p:])
            extra_jac = np.hstack([np.zeros((n_extra, p)), chol_jac])
        elif n_extra:
            sigma = self.theta[p:]
            extra_names = [RANDOM_EFFECT_NAMES[i] for i in range(n_extra)]
            extra_values = np.abs(sigma)
            # |σ| has derivative sign(σ) (the likelihood is even in σ)
            extra_jac = np.hstack([np.zeros((n_extra, p)),
                                   np.diag(np.where(sigma < 0, -1.0, 1.0))])
        if extra_names:
            names = names + extra_names
            values = np.concatenate([values, extra_values])
        self.params = pd.Series(values, index=names, name="params")
        if self.reported_cov is None:
            jac = self.layout.reported_jacobian(self.theta)
            if extra_names:
                jac = np.vstack([np.hstack([jac, np.zeros((jac.shape[0], n_extra))]),
                                 extra_jac])
            cov = jac @ self.cov_theta @ jac.T
            # A parameter moved by a coordinate held at the edge has no standard error.
            at_edge = np.abs(jac[:, self._edge_coordinates()]).sum(axis=1) > 0
            cov[at_edge, :] = np.nan
            cov[:, at_edge] = np.nan
        else:
            cov = np.asarray(self.reported_cov, dtype=float)
        self._cov = pd.DataFrame(cov, index=names, columns=names)

    def _edge_coordinates(self) -> np.ndarray:
        """Coordinates of ``θ`` held at their estimate (a zero row of the covariance).

        See :func:`complaintpanel.hmm.estimator._invert_information`.
        """
        if self.cov_type == "bootstrap":
            return np.zeros(0, dtype=int)
        return np.flatnonzero(~np.any(self.cov_theta != 0, axis=1))

    @property
    def held_at_edge(self) -> list[str]:
        """Reported parameters estimated at the edge of the parameter space.

        The log-likelihood is flat in them at the optimum (e.g. a threshold far out: a
        transition probability of 0), so they have no Wald standard error (NaN); the other
        standard errors are conditional on them. Empty when every parameter is interior.
        """
        return [str(name) for name in self._cov.index[np.isnan(np.diag(self._cov.to_numpy()))]]

    # ------------------------------------------------------------------ statsmodels shape
    # bse, tvalues, pvalues (normal), conf_int, term_estimates, select and term come from
    # EstimationResults.
    model = "relationship_hmm"
    estimator = "maximum likelihood (scaled forward algorithm, L-BFGS-B)"
    kind = "relationship_hmm"

    @property
    def terms(self) -> pd.DataFrame:
        """The term table: each parameter's block, equation, covariate, state, cut, brand.

        See :meth:`complaintpanel.model.ModelParams.reported_terms`; tables and figures select
        parameters by these columns (e.g. ``select(block="a")`` gives the complaint log-rates
        by state).
        """
        table = self.model_params().reported_terms().drop(columns="value")
        extra = [name for name in self.params.index if name not in table.index]
        if extra:  # the misclassification matrix M[true, label] of the correction, σ
            blocks = ["heterogeneity" if name in BIVARIATE_EFFECT_NAMES or "[class" in name
                      else "M" for name in extra]
            table = pd.concat([table, pd.DataFrame({"block": blocks}, index=extra)]).reindex(
                columns=table.columns)
            table["cut"] = table["cut"].astype("Int64")
        table["fixed"] = False
        return table

    @property
    def measurement(self) -> str:
        """How the voice labels were treated: corrected for misclassification, or naive."""
        spec = self.spec
        replies = ", reply process modelled" if spec.reply_process else ""
        if spec.validation_counts is not None:
            n = int(np.sum(spec.validation_counts))
            return f"corrected for misclassification{replies} (validation sample n = {n})"
        if spec.fixed_misclassification is not None:
            return f"corrected for misclassification{replies} (fixed M)"
        if spec.reply_process:
            return "reply process modelled (labels taken as the true voice)"
        return "naive (classifier labels taken as the true voice)"

    @property
    def misclassification(self) -> pd.DataFrame | None:
        """Estimated ``M[true voice, label]`` (rows sum to one), or ``None`` (naive)."""
        m = self.layout.misclassification(self.theta)
        if m is None:
            return None
        from complaintpanel.model.measurement import VOICES
        return pd.DataFrame(m, index=list(VOICES), columns=list(VOICES))

    @property
    def redress(self) -> str:
        """The redress history in the complaint rate: binary, or the stock's decay ρ."""
        info = self.extra.get("redress")
        if self.spec.redress_decay is None or not info:
            return "binary (a complaint answered in an earlier period)"
        if not info.get("estimated"):
            return f"decaying stock, rho = {info['decay']:.3f} (fixed)"
        lower, upper = info["conf_int_95"]
        if "se" in info:  # ρ in θ (redress_decay_method="joint")
            return (f"decaying stock, rho-hat = {info['decay']:.3f} (SE {info['se']:.3f}), "
                    f"95% Wald interval [{lower:.3f}, {upper:.3f}]; SEs joint with rho")
        return (f"decaying stock, rho-hat = {info['decay']:.3f}, 95% profile-likelihood "
                f"interval [{lower:.3f}, {upper:.3f}]; other SEs conditional on rho-hat")

    @property
    def heterogeneity(self) -> str:
        """How customers differ in the model: not at all, or by random intercepts."""
        info = self.extra.get("heterogeneity")
        if not info:
            return "no (homogeneous)"
        homogeneous_bic = info["homogeneous"]["bic"]
        if info["kind"] == "classes":
            chosen = "classes" if self.bic < homogeneous_bic else "homogeneous"
            return (f"{info['classes']} latent classes in {', '.join(info['class_blocks'])} "
                    f"(class 0 = parameters without a class suffix); BIC {self.bic:.1f} vs "
                    f"homogeneous {homogeneous_bic:.1f} selects {chosen}")
        chosen = "random intercepts" if self.bic < homogeneous_bic else "homogeneous"
        if len(info.get("effects", ())) == 2:
            n = info["quadrature_nodes"]
            return (f"correlated random intercepts in the complaint and compliment log-rates "
                    f"({n}x{n} Gauss-Hermite nodes); BIC {self.bic:.1f} vs homogeneous "
                    f"{homogeneous_bic:.1f} selects {chosen}")
        return (f"random intercept in the complaint log-rate ({info['quadrature_nodes']} "
                f"Gauss-Hermite nodes); BIC {self.bic:.1f} vs homogeneous "
                f"{homogeneous_bic:.1f} selects {chosen}")

    def _effect_labels(self) -> dict[str, str]:
        """Labels of the effects to list under the summary (classes included)."""
        labels = dict(EFFECT_LABELS)
        for name in self.params.index:
            block, _, rest = str(name).partition("[class")
            if not rest:
                continue
            c = rest.rstrip("]")
            labels[str(name)] = {"delta": f"relationship effect, class {c}",
                                 "a": f"complaint level (worst state), class {c}",
                                 "share": f"share of customers in class {c}"}.get(block, name)
        return labels

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the reported parameters."""
        return self._cov.copy()

    @property
    def llf(self) -> float:
        """Maximised log-likelihood (statsmodels name)."""
        return self.loglike

    @property
    def n_params(self) -> int:
        """Number of free parameters (with σ of random intercepts and an estimated decay ρ)."""
        return int(self.theta.size) + int(bool(self.extra.get("redress", {}).get("estimated")))

    @property
    def aic(self) -> float:
        """Akaike information criterion ``−2ℓ + 2p``."""
        return -2 * self.loglike + 2 * self.n_params

    @property
    def bic(self) -> float:
        """Bayesian information criterion ``−2ℓ + p log n``, n = customer–brand periods.

        The same convention as hmmlearn (n = number of observations); it is used to compare
        numbers of states on one panel, where the convention cancels out of differences
        except through ``p``.
        """
        return -2 * self.loglike + self.n_params * np.log(self.nobs)

    @property
    def n_starts(self) -> int:
        """Number of optimiser starts."""
        return len(self.starts)

    @property
    def n_starts_converged(self) -> int:
        """Starts whose log-likelihood is within :attr:`optimum_tol` of the best."""
        return sum(self.loglike - s.loglike <= self.optimum_tol for s in self.starts)

    @property
    def converged(self) -> bool:
        """The best start converged and its observed information is positive definite."""
        best = max(self.starts, key=lambda s: s.loglike)
        return bool(best.converged and self.hessian_ok)

    # ------------------------------------------------------------------ model quantities
    def model_params(self) -> ModelParams:
        """Return the estimates as :class:`~complaintpanel.model.ModelParams`."""
        return self.layout.to_natural(self.theta)

    def draw_model_params(self, random_state: int | np.random.Generator | None = None
                          ) -> ModelParams:
        """Draw parameters from the estimated sampling distribution of the estimate.

        ``θ ~ Normal(θ̂, cov_theta)`` on the unconstrained scale, which keeps the states
        ordered and the thresholds increasing; a (numerically) singular covariance is used
        through its non-negative eigenvalues.

        Parameters
        ----------
        random_state : int or Generator, optional
            A generator is used as is (one standard normal per parameter is taken from it).

        Returns
        -------
        ModelParams
        """
        return self.layout.to_natural(self.draw_theta(random_state))

    def draw_theta(self, random_state: int | np.random.Generator | None = None
                   ) -> np.ndarray:
        """Draw the whole unconstrained vector, σ or the classes included.

        As :meth:`draw_model_params`, which maps the draw's first part to natural parameters.
        """
        if not hasattr(self, "_theta_root"):
            cov = (self.cov_theta + self.cov_theta.T) / 2
            eigval, eigvec = np.linalg.eigh(cov)
            self._theta_root = eigvec * np.sqrt(np.clip(eigval, 0, None))
        rng = np.random.default_rng(random_state)
        return np.asarray(self.theta + self._theta_root @ rng.standard_normal(self.theta.size))

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the states, worst to best."""
        return state_names(self.spec.n_states)

    def transition_matrix(self, **covariates: float) -> pd.DataFrame:
        """Transition matrix at given covariate values (others 0).

        Parameters
        ----------
        **covariates : float
            Values of transition covariates by column name, e.g. ``intervened=1``.

        Returns
        -------
        DataFrame
            Rows: current state; columns: next state.
        """
        unknown = sorted(set(covariates) - set(self.spec.transition_covariates))
        if unknown:
            raise KeyError(f"not a transition covariate of this model: {unknown}")
        params = self.model_params()
        shift = params.transition_shift({col: float(covariates.get(col, 0.0))
                                         for col in self.spec.transition_covariates})
        matrix = transition_matrices(params.tau, float(shift))
        return pd.DataFrame(matrix, index=pd.Index(self.state_names, name="from"),
                            columns=pd.Index(self.state_names, name="to"))

    def transition_matrices(self) -> dict[str, pd.DataFrame]:
        """Transition matrices without and with intervention (peer voice and others at 0)."""
        out = {"no_intervention": self.transition_matrix()}
        if "intervened" in self.spec.transition_covariates:
            out["intervention"] = self.transition_matrix(intervened=1)
        return out

    # ------------------------------------------------------------------ reporting
    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Coefficient table: estimate, std. error, z, p-value, interval."""
        ci = self.conf_int(alpha)
        return pd.DataFrame({"coef": self.params, "std_err": self.bse, "z": self.tvalues,
                             "p_value": self.pvalues, "lower": ci["lower"],
                             "upper": ci["upper"]})

    def summary(self) -> str:
        """Plain-text summary (header, coefficient table, transition matrices)."""
        frame = self.summary_frame()
        best = max(self.starts, key=lambda s: s.loglike)
        lines = [
            "Relationship hidden Markov model (ordered-logit transitions, Poisson voice)",
            "=" * 78,
            f"States (K):           {self.spec.n_states:>10}   "
            f"Log-likelihood: {self.loglike:>16.3f}",
            f"Customer-periods:     {self.nobs:>10,}   AIC: {self.aic:>27.3f}",
            f"Customer-brand seqs:  {self.n_sequences:>10,}   BIC: {self.bic:>27.3f}",
            f"Parameters:           {self.n_params:>10}   Covariance: {self.cov_type:>20}",
            f"Starts at best optimum: {self.n_starts_converged}/{self.n_starts}"
            f"{'':>8}Converged: {self.converged!s:>21}",
            f"First contact: {self.spec.first_contact:<12} iterations (best start): "
            f"{best.n_iter}",
            f"Voice: {self.measurement}",
            *([f"Customers differ: {self.heterogeneity}"]
              if "heterogeneity" in self.extra else []),
            *([f"Redress: {self.redress}"] if "redress" in self.extra else []),
            *([f"At the edge of the parameter space (no standard error): "
               f"{', '.join(self.held_at_edge)}"] if self.held_at_edge else []),
            "-" * 78,
            frame.to_string(float_format=lambda v: f"{v:.4f}"),
            "-" * 78,
        ]
        for name, label in self._effect_labels().items():
            if name in self.params.index:
                lo, hi = self.conf_int().loc[name]
                lines.append(f"{name:<10} {label:<45} {self.params[name]:+.3f} "
                             f"[{lo:+.3f}, {hi:+.3f}]")
        for key, matrix in self.transition_matrices().items():
            lines += ["", f"Transition matrix, {key.replace('_', ' ')}:",
                      matrix.to_string(float_format=lambda v: f"{v:.3f}")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_markdown(self) -> str:
        """Coefficient table and transition matrices as Markdown."""
        frame = self.summary_frame()
        rows = ["| parameter | estimate | std. error | 95% interval |",
                "|---|---:|---:|---|"]
        for name, row in frame.iterrows():
            if np.isnan(row["std_err"]):  # held at the edge of the parameter space
                rows.append(f"| `{name}` | {row['coef']:.3f} | — | at the edge |")
                continue
            rows.append(f"| `{name}` | {row['coef']:.3f} | {row['std_err']:.3f} | "
                        f"[{row['lower']:.3f}, {row['upper']:.3f}] |")
        rows += ["", f"Log-likelihood {self.loglike:.2f}; BIC {self.bic:.2f}; "
                 f"{self.nobs:,} customer-periods; {self.n_sequences:,} customer-brand "
                 f"sequences; {self.n_starts_converged}/{self.n_starts} starts at the best "
                 f"optimum; standard errors: {self.cov_type}; voice: {self.measurement}"
                 + (f"; redress: {self.redress}" if "redress" in self.extra else "") + "."]
        for key, matrix in self.transition_matrices().items():
            rows += ["", f"Transition matrix, {key.replace('_', ' ')} (row: from, column: to):",
                     "", "| from \\ to | " + " | ".join(matrix.columns) + " |",
                     "|---|" + "---:|" * matrix.shape[1]]
            for state, values in matrix.iterrows():
                rows.append(f"| {state} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
        return "\n".join(rows) + "\n"

    def to_latex(self) -> str:
        """Coefficient table (booktabs) and transition matrices as LaTeX."""
        frame = self.summary_frame()

        def tex(name: str) -> str:
            base, _, rest = name.partition("[")
            symbol = {"gamma": r"\gamma", "delta": r"\delta", "eta": r"\eta",
                      "kappa": r"\kappa", "delta_fast": r"\delta_{\mathrm{fast}}",
                      "tau": r"\tau", "pi": r"\pi", "sigma": r"\sigma", "rho": r"\rho",
                      "psi": r"\psi", "corr": r"\mathrm{corr}"}.get(base, base.replace("_", r"\_"))
            sub = rest.rstrip("]").replace("_", r"\_")
            return f"${symbol}_{{\\mathrm{{{sub}}}}}$" if sub else f"${symbol}$"

        lines = [r"\begin{tabular}{lrrr}", r"\toprule",
                 r"Parameter & Estimate & Std.\ error & 95\% interval \\", r"\midrule"]
        for name, row in frame.iterrows():
            if np.isnan(row["std_err"]):  # held at the edge of the parameter space
                lines.append(f"{tex(str(name))} & {row['coef']:.3f} & --- & at the edge \\\\")
                continue
            lines.append(f"{tex(str(name))} & {row['coef']:.3f} & {row['std_err']:.3f} & "
                         f"[{row['lower']:.3f}, {row['upper']:.3f}] \\\\")
        lines += [r"\midrule",
                  f"Log-likelihood & \\multicolumn{{3}}{{r}}{{{self.loglike:.2f}}} \\\\",
                  f"BIC & \\multicolumn{{3}}{{r}}{{{self.bic:.2f}}} \\\\",
                  f"Customer-periods & \\multicolumn{{3}}{{r}}{{{self.nobs:,}}} \\\\",
                  *self._latex_redress(),
                  r"\bottomrule", r"\end{tabular}", ""]
        for key, matrix in self.transition_matrices().items():
            k = matrix.shape[1]
            lines += [f"% transition matrix, {key.replace('_', ' ')}",
                      r"\begin{tabular}{l" + "r" * k + "}", r"\toprule",
                      "from $\\backslash$ to & " + " & ".join(matrix.columns) + r" \\",
                      r"\midrule"]
            for state, values in matrix.iterrows():
                lines.append(f"{state} & " + " & ".join(f"{v:.3f}" for v in values) + r" \\")
            lines += [r"\bottomrule", r"\end{tabular}", ""]
        return "\n".join(lines)

    def _latex_redress(self) -> list[str]:
        """Return the redress stock's decay as a table row (none for binary redress)."""
        info = self.extra.get("redress")
        if not info:
            return []
        if not info.get("estimated"):
            return [f"Redress decay $\\rho$ (fixed) & \\multicolumn{{3}}{{r}}"
                    f"{{{info['decay']:.3f}}} \\\\"]
        lower, upper = info["conf_int_95"]
        if "se" in info:  # ρ in θ (redress_decay_method="joint"): SE and Wald interval
            return [f"Redress decay $\\hat\\rho$ & {info['decay']:.3f} & {info['se']:.3f} & "
                    f"[{lower:.3f}, {upper:.3f}] \\\\"]
        return [f"Redress decay $\\hat\\rho$ & {info['decay']:.3f} & & "
                f"[{lower:.3f}, {upper:.3f}] \\\\"]

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to report and to reuse the fit (policies), as plain JSON."""
        ci = self.conf_int()
        return {
            "status": "estimated",
            "kind": self.kind,
            "model": self.model,
            "spec": self.spec.to_dict(),
            "measurement": self.measurement,
            "state_names": list(self.state_names),
            "params": {k: float(v) for k, v in self.params.items()},
            # null, not NaN, for a parameter held at the edge: strict JSON (Typst reads it)
            "bse": {k: json_number(v) for k, v in self.bse.items()},
            "conf_int_95": {k: [json_number(ci.loc[k, "lower"]), json_number(ci.loc[k, "upper"])]
                            for k in self.params.index},
            "cov_params": [[json_number(v) for v in row] for row in self._cov.to_numpy()],
            "theta": self.theta.tolist(),
            "cov_theta": self.cov_theta.tolist(),
            "loglike": self.loglike,
            "aic": self.aic,
            "bic": self.bic,
            "n_params": self.n_params,
            "nobs": self.nobs,
            "n_sequences": self.n_sequences,
            "n_customers": self.n_customers,
            "cov_type": self.cov_type,
            "converged": self.converged,
            "hessian_ok": self.hessian_ok,
            "n_starts": self.n_starts,
            "n_starts_converged": self.n_starts_converged,
            "optimum_tol": self.optimum_tol,
            "starts": [s.to_dict() for s in self.starts],
            "fit_seconds": self.fit_seconds,
            "dropped_rows": self.dropped_rows,
            "transition_matrices": {key: m.to_numpy().tolist()
                                    for key, m in self.transition_matrices().items()},
            "effects": {name: label for name, label in self._effect_labels().items()
                        if name in self.params.index},
            "coefficient_names": COEFFICIENT_NAMES,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RelationshipHMMResults:
        """Rebuild results from :meth:`to_dict` output (e.g. a stored ``hmm.json``)."""
        spec = ModelSpec.from_dict(values["spec"])
        return cls(
            spec=spec, theta=np.asarray(values["theta"]),
            cov_theta=np.asarray(values["cov_theta"]), loglike=float(values["loglike"]),
            nobs=int(values["nobs"]), n_sequences=int(values["n_sequences"]),
            n_customers=int(values["n_customers"]),
            starts=[StartReport(**{"seconds": float("nan"), **s}) for s in values["starts"]],
            cov_type=values["cov_type"],
            reported_cov=(np.asarray(values["cov_params"], dtype=float)
                          if values["cov_type"] == "bootstrap" else None),
            optimum_tol=float(values["optimum_tol"]),
            fit_seconds=float(values.get("fit_seconds", "nan")),
            dropped_rows=int(values["dropped_rows"]), hessian_ok=bool(values["hessian_ok"]),
            extra=dict(values.get("extra", {})),
        )


register_results_kind(RelationshipHMMResults)


def _class_reported(theta: np.ndarray, p: int, blocks: tuple[str, ...], n_classes: int
                    ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Names, values and ∂values/∂θ of a class mixture's parameters after the first ``p``.

    Class values (δ, or the worst state's complaint log-rate) are reported as they are in
    ``θ``; the shares are ``softmax(0, η_1, …)``. See :mod:`complaintpanel.hmm.classes`.
    """
    c1 = n_classes - 1
    n_values = len(blocks) * c1
    names = [f"{block}[class{c}]" for block in blocks for c in range(1, n_classes)]
    names += [f"share[class{c}]" for c in range(n_classes)]
    logits = np.concatenate([[0.0], theta[p + n_values:]])
    shares = np.exp(logits - logits.max())
    shares /= shares.sum()
    jac = np.zeros((n_values + n_classes, theta.size))
    jac[:n_values, p:p + n_values] = np.eye(n_values)
    # ∂s_c/∂η_m = s_c (1{c = m} − s_m), m = 1 … C−1
    d_shares = np.diag(shares) - np.outer(shares, shares)
    jac[n_values:, p + n_values:] = d_shares[:, 1:]
    return names, np.concatenate([theta[p:p + n_values], shares]), jac


def read_hmm_results(path: str | Path) -> RelationshipHMMResults | NotEstimated | None:
    """Load ``hmm.json``: the fit, the record of why it was not estimated, or ``None``.

    Parameters
    ----------
    path : str or Path
        An ``hmm.json`` written by ``complaintpanel hmm`` (missing → ``None``).
    """
    path = Path(path)
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    if stored.get("status") == "estimated":
        return RelationshipHMMResults.from_dict(stored)
    return NotEstimated.from_dict({"model": "relationship_hmm", **stored})
