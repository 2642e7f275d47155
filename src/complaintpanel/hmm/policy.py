"""Counterfactual reply policies simulated from the fitted relationship HMM (DESIGN.md §4).

**Arms.** Each arm is a reply policy run forward with the structural model's own step
(:func:`complaintpanel.model.step`; engine in :mod:`.policy_sim`):

``none``
    the brand answers no complaint;
``observed``
    each complaint answered at the brand's observed rate (with the reply model: with the
    fitted state-dependent probability), fast with the brand's observed share of fast replies;
``all``
    every complaint answered (at the observed speed);
``fast``
    every complaint answered within the latency cut-off H (only for a model fitted with
    ``latency_hours``);
``random``
    a budget: each complaint answered with probability ``budget``;
``targeted``
    the same budget, spent by a targeting rule on the customers with the largest expected gain
    in a stated objective, ranked from each customer's filtered state and redress history
    (:class:`.policy_sim.TargetedRule`).

Each answering arm runs twice: with **learning on** (the model as fitted) and with **learning
off for the redress the policy creates**: customers keep the redress history they start with
(those already redressed in the data keep their γ-term; under the decaying redress stock that
history decays at ρ as it would without new answers), and only the policy's new answers raise
no later complaints. The two agree in every period before the policy has answered
anyone; their difference is the squeaky wheel the policy itself creates.

**Populations.** ``observed``: the customers of the data, from their filtered end states
(``P(s_T | y_{≤T})`` under each parameter draw; when customers differ, given each customer's
drawn effect or class, :class:`CustomerHeterogeneity`), over ``horizon`` periods. ``cohort``:
as many new customers, with the same brands, entering at first contact with a state drawn from
π, over ``cohort_horizon`` periods.

**Uncertainty.** An outcome is an *expected* outcome: the average over ``n_paths`` simulated
paths (and over customers). It is computed at the estimate θ̂ (the point estimate) and at
``n_draws`` parameter draws from the estimate's sampling distribution
(:meth:`RelationshipHMMResults.draw_model_params`), each draw on random numbers of its own; the
standard error is the standard deviation across draws — parameter uncertainty plus the
simulation error of ``n_paths`` paths, the two parts of the estimate's own error — and the
interval is estimate ± t·se, Student's t with ``n_draws − 1`` degrees of freedom
(:func:`draw_path_summary`). Contrasts between arms (same draws, common random numbers across
arms) get their interval the same way. Prediction intervals — where this sample's realised
outcome would fall, path noise included — are added only when asked (``prediction=True``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from complaintpanel.hmm.estimator import RelationshipHMM
from complaintpanel.hmm.policy_sim import OBJECTIVES, PATH_METRICS, Population, run_arm
from complaintpanel.hmm.results import RelationshipHMMResults
from complaintpanel.model import ModelParams, update_redress

__all__ = ["ARMS", "CONTRASTS", "OBJECTIVES", "POLICIES", "POPULATIONS", "PolicyResult",
           "draw_path_summary", "simulate_policies"]

ARMS: dict[str, str] = {
    "none": "answer no complaint",
    "observed": "answer as observed",
    "all": "answer every complaint",
    "fast": "answer every complaint within the latency cut-off",
    "random": "answer a random share of complaints (budget)",
    "targeted": "answer the budget's complaints by the targeting rule",
}
POLICIES = ARMS  # the name used before arms were crossed with learning
POPULATIONS: dict[str, str] = {
    "observed": "observed customers, from their filtered end states",
    "cohort": "a cohort of new customers, from the initial distribution",
}
TOTALS: dict[str, str] = {
    "complaints": "complaints per customer over the horizon",
    "compliments": "compliments per customer over the horizon",
    "net_voice": "compliments minus complaints per customer over the horizon",
    "share_best": "share in the best state, averaged over the horizon",
    "share_best_end": "share in the best state in the last period",
    "answered": "answered complaints per customer over the horizon",
}
# name → (arm, learning) minus (arm, learning); "learning on − off" is added per answering arm
CONTRASTS: dict[str, tuple[tuple[str, bool], tuple[str, bool]]] = {
    "all_minus_none": (("all", True), ("none", True)),
    "observed_minus_none": (("observed", True), ("none", True)),
    "all_minus_observed": (("all", True), ("observed", True)),
    "fast_minus_all": (("fast", True), ("all", True)),
    "targeted_minus_random": (("targeted", True), ("random", True)),
}
_SUPPORTED_TRANSITION = {"intervened", "peer_voice", "unanswered_complaints", "fast_reply"}


def _learning_label(learning: bool) -> str:
    return "on" if learning else "off"


@dataclass
class PolicyResult:
    """Expected outcomes of reply policies, with intervals from parameter draws.

    Attributes
    ----------
    periods : DataFrame
        ``population``, ``arm``, ``learning`` (``on``/``off``), ``period``, ``metric``,
        ``estimate``, ``lower``, ``upper`` (per customer), plus ``pred_lower``/``pred_upper``
        when prediction intervals were asked for.
    totals : DataFrame
        Per population, arm and learning, the outcomes of :data:`TOTALS` with ``se``.
    contrasts : DataFrame
        ``population``, ``contrast``, ``metric``, ``estimate``, ``se``, ``lower``, ``upper``.
    settings : dict
    """

    periods: pd.DataFrame
    totals: pd.DataFrame
    contrasts: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return {"status": "estimated", "settings": self.settings,
                "periods": self.periods.to_dict(orient="records"),
                "totals": self.totals.to_dict(orient="records"),
                "contrasts": self.contrasts.to_dict(orient="records")}

    def total(self, population: str, arm: str, metric: str, learning: str = "on") -> pd.Series:
        """One row of :attr:`totals`."""
        t = self.totals
        rows = t[(t["population"] == population) & (t["arm"] == arm)
                 & (t["learning"] == learning) & (t["metric"] == metric)]
        return rows.iloc[0]

    def contrast(self, population: str, name: str, metric: str) -> pd.Series:
        """One row of :attr:`contrasts`."""
        c = self.contrasts
        return c[(c["population"] == population) & (c["contrast"] == name)
                 & (c["metric"] == metric)].iloc[0]

    def _cells(self, metrics: tuple[str, ...]) -> list[tuple[str, str, list[str]]]:
        rows = []
        for (population, arm, learning), group in self.totals.groupby(
                ["population", "arm", "learning"], sort=False):
            values = group.set_index("metric")
            label = ARMS.get(str(arm), str(arm)) + (
                "" if learning == "on" else ", no squeaky wheel from its own replies")
            rows.append((str(population), label,
                         [f"{values.loc[m, 'estimate']:.3f} [{values.loc[m, 'lower']:.3f}, "
                          f"{values.loc[m, 'upper']:.3f}]" for m in metrics]))
        return rows

    def _note(self) -> str:
        s = self.settings
        return (f"Expected outcomes per customer over {s.get('horizon')} periods (observed "
                f"customers) and {s.get('cohort_horizon')} periods (new cohort); estimate at "
                f"the fitted parameters with a {100 * s.get('level', 0.95):.0f}% confidence "
                f"interval from {s.get('n_draws')} parameter draws × {s.get('n_paths')} paths "
                f"({'with' if s.get('parameter_uncertainty') else 'without'} parameter "
                f"uncertainty); budget {s.get('budget')} of complaints.")

    def to_markdown(self) -> str:
        """Policies and their contrasts as Markdown tables."""
        metrics = ("complaints", "compliments", "share_best", "answered")
        rows = ["| population | policy | complaints | compliments | share in best state | "
                "answered complaints |", "|---|---|---:|---:|---:|---:|"]
        rows += [f"| {pop} | {label} | " + " | ".join(cells) + " |"
                 for pop, label, cells in self._cells(metrics)]
        rows += ["", "| population | contrast | complaints | compliments | share in best state |",
                 "|---|---|---:|---:|---:|"]
        for (pop, name), group in self.contrasts.groupby(["population", "contrast"], sort=False):
            values = group.set_index("metric")
            rows.append(f"| {pop} | {name} | " + " | ".join(
                f"{values.loc[m, 'estimate']:+.3f} [{values.loc[m, 'lower']:+.3f}, "
                f"{values.loc[m, 'upper']:+.3f}]" for m in metrics[:3]) + " |")
        rows += ["", self._note()]
        return "\n".join(rows) + "\n"

    def to_latex(self) -> str:
        """Policies (learning on and off) as a LaTeX (booktabs) table."""
        metrics = ("complaints", "compliments", "share_best")
        lines = [r"\begin{tabular}{llrrr}", r"\toprule",
                 r"Population & Policy & Complaints & Compliments & Share best \\", r"\midrule"]
        lines += [f"{pop} & {label} & " + " & ".join(cells) + r" \\"
                  for pop, label, cells in self._cells(metrics)]
        lines += [r"\bottomrule", r"\end{tabular}", ""]
        return "\n".join(lines)


def _start_facts(frame: pd.DataFrame, results: RelationshipHMMResults
                 ) -> tuple[Population, tuple[str, ...], np.ndarray, np.ndarray]:
    """Return the observed population, brand names, answer rates and fast-reply shares."""
    spec = results.spec
    last = frame.groupby(["customer_id", "brand"], sort=False).tail(1)
    # Brand indices as the fitted model numbers them (its reply model's ρ_brand), else sorted.
    brands = spec.brands or tuple(sorted(map(str, frame["brand"].unique())))
    index = {b: i for i, b in enumerate(brands)}
    row_brand = np.array([index.get(str(b), -1) for b in frame["brand"]], dtype=np.int64)
    codes = np.array([index.get(str(b), -1) for b in last["brand"]], dtype=np.int64)
    n_brands = max(int(codes.max()) + 1, len(brands))
    answered_last = last["answered_complaints"].to_numpy()
    redress = last["redress"].to_numpy(float) if "redress" in last else np.zeros(len(last))
    columns = {col: last[col].to_numpy(dtype=float) for col in spec.transition_covariates}
    complaints = np.bincount(row_brand, weights=frame["complaints"].to_numpy(float),
                             minlength=n_brands)
    answered = np.bincount(row_brand, weights=frame["answered_complaints"].to_numpy(float),
                           minlength=n_brands)
    answer_rate = np.divide(answered, complaints, out=np.zeros(n_brands), where=complaints > 0)
    fast_share = np.zeros(n_brands)
    if "fast_reply" in frame:
        n_int = np.bincount(row_brand, weights=frame["intervened"].to_numpy(float),
                            minlength=n_brands)
        n_fast = np.bincount(row_brand, weights=frame["fast_reply"].to_numpy(float),
                             minlength=n_brands)
        fast_share = np.divide(n_fast, n_int, out=np.zeros(n_brands), where=n_int > 0)
    population = Population(name="observed", brand=codes,
                            redress=update_redress(redress, answered_last, spec.redress_decay),
                            shift_columns=columns, horizon=0)
    return population, brands, answer_rate, fast_share


@dataclass(frozen=True)
class CustomerHeterogeneity:
    """How simulated customers differ under a fit with random intercepts or classes.

    Observed customers draw their effect (or class) from their posterior given their data at
    the estimate (random intercepts: over the adaptive quadrature nodes; classes: the
    posterior class probabilities), one draw per customer and path, shared by the
    customer's brand sequences, and each of her sequences starts from its end state filtered
    *given that effect or class* (:meth:`start_probs`), so the pair (effect, start state) is
    drawn from its joint posterior: a customer whose complaints her effect explains is not
    also taken to be in a bad state for them. New customers draw it from the population
    distribution (``u ~ Normal(0, 1)``; class ``c`` with its share). The effect's size (σ)
    and the classes' values and shares come from each parameter draw.

    Attributes
    ----------
    kind : {"random_intercepts", "classes"}
    layout_size : int
        Length of the homogeneous part of ``θ``.
    group : ndarray of int, shape (N,)
        Customer of each observed sequence (column of ``posterior``).
    support : ndarray, shape (Q, G) or (Q, G, 2)
        Random intercepts: node ``u_iq`` of each customer (complaint and compliment
        intercepts: the standard-normal ``z_iq``, scaled by each draw's Cholesky factor);
        classes: unused (class index).
    posterior : ndarray, shape (Q or C, G)
        Each customer's posterior over the nodes or classes.
    blocks : tuple of str
        Class-specific blocks (classes).
    index : dict of str to int
        Position of each class block's coordinate in ``θ``.
    integrated : RandomIntercepts, BivariateRandomIntercepts or LatentClasses, optional
        The fitted panel's integrated likelihood, which filters the observed sequences given
        an effect or class (:meth:`start_probs`); without it (hand-built cases) the
        observed customers start from the common parameters' filter.
    """

    kind: str
    layout_size: int
    group: np.ndarray
    support: np.ndarray
    posterior: np.ndarray
    blocks: tuple[str, ...] = ()
    index: dict[str, int] = field(default_factory=dict)
    integrated: Any = None

    @property
    def bivariate(self) -> bool:
        """Correlated complaint and compliment intercepts (``support`` of shape (Q, G, 2))."""
        return self.kind == "random_intercepts" and self.support.ndim == 3

    def observed_picks(self, n_paths: int, seed: int) -> np.ndarray:
        """Node or class of each observed sequence on each path, (n_paths, N).

        Drawn from each customer's posterior with the stream of :meth:`draw` (its first
        numbers), so :meth:`draw` and :meth:`start_probs` see the same picks.
        """
        rng = np.random.default_rng([seed, 2**29])
        cdf = np.cumsum(self.posterior, axis=0)
        uniform = rng.random((n_paths, self.posterior.shape[1]))
        pick = np.minimum((uniform[:, None, :] > cdf[None, :, :]).sum(axis=1),
                          self.posterior.shape[0] - 1)  # (paths, G)
        return pick[:, self.group]

    def start_probs(self, theta: np.ndarray, n_paths: int, seed: int) -> np.ndarray | None:
        """Each observed unit's end-state probabilities given its drawn effect or class.

        Parameters
        ----------
        theta : ndarray
            One parameter draw (the homogeneous part, then σ, the Cholesky factor or the
            classes).
        n_paths, seed : int
            As in :meth:`draw`.

        Returns
        -------
        ndarray of shape (n_paths · N, K), or None
            Path-major, as :func:`~complaintpanel.hmm.policy_sim.run_arm` takes it; ``None``
            without :attr:`integrated`.
        """
        if self.integrated is None:
            return None
        p = self.layout_size
        if self.kind == "classes":
            by_node = self.integrated.filtered_last(theta)
        elif self.bivariate:
            from complaintpanel.hmm.heterogeneity import cholesky_factor

            shifts = self.support @ cholesky_factor(theta[p:p + 3]).T  # b = L z, (Q, G, 2)
            by_node = self.integrated.filtered_last(theta[:p], shifts)
        else:
            by_node = self.integrated.filtered_last(theta[:p], abs(float(theta[p]))
                                                    * self.support)
        picks = self.observed_picks(n_paths, seed)  # (paths, N)
        units = np.arange(picks.shape[1])
        return by_node[picks, units[None, :], :].reshape(-1, by_node.shape[2])

    def draw(self, theta: np.ndarray, population: Population, n_paths: int, seed: int
             ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Each unit's voice effect (n_paths·N, 2) and own δ (n_paths·N,) for one draw.

        From a stream of its own (``[seed, 2**29]``), so the model's other random numbers
        are those of the homogeneous simulation.
        """
        rng = np.random.default_rng([seed, 2**29])
        n = population.size
        p = self.layout_size
        bivariate = self.bivariate
        if population.entering:  # new customers: the population distribution
            if bivariate:
                u = rng.standard_normal((n_paths, n, 2))
            elif self.kind == "random_intercepts":
                u = rng.standard_normal((n_paths, n))
            else:
                shares = _class_shares(theta, p, len(self.blocks), self.posterior.shape[0])
                cls = rng.choice(shares.size, size=(n_paths, n), p=shares)
        else:  # observed customers: each from her posterior, shared by her sequences
            picks = self.observed_picks(n_paths, seed)  # (paths, units)
            customer = self.group[None, :]
            if bivariate:  # z of each unit's customer at her drawn node: (paths, units, 2)
                u = self.support[picks, customer, :]
            elif self.kind == "random_intercepts":
                u = self.support[picks, customer]
            else:
                cls = picks
        if bivariate:  # b = L z, L from this draw's (l11, l21, l22)
            from complaintpanel.hmm.heterogeneity import cholesky_factor

            return u.reshape(n_paths * n, 2) @ cholesky_factor(theta[p:p + 3]).T, None
        if self.kind == "random_intercepts":
            shifts = np.zeros((n_paths * n, 2))
            shifts[:, 0] = abs(float(theta[p])) * u.ravel()
            return shifts, None
        values = _class_values(theta, p, self.blocks, self.index, self.posterior.shape[0])
        delta = values["delta"][cls].ravel() if "delta" in values else None
        effect: np.ndarray | None = None
        if "a" in values:
            effect = np.zeros((n_paths * n, 2))
            effect[:, 0] = (values["a"][cls] - values["a"][0]).ravel()
        return effect, delta


def _class_shares(theta: np.ndarray, p: int, n_blocks: int, n_classes: int) -> np.ndarray:
    logits = np.concatenate([[0.0], theta[p + n_blocks * (n_classes - 1):]])
    shares = np.exp(logits - logits.max())
    return np.asarray(shares / shares.sum())


def _class_values(theta: np.ndarray, p: int, blocks: tuple[str, ...], index: dict[str, int],
                  n_classes: int) -> dict[str, np.ndarray]:
    c1 = n_classes - 1
    return {block: np.concatenate([[theta[index[block]]],
                                   theta[p + b * c1: p + (b + 1) * c1]])
            for b, block in enumerate(blocks)}


def customer_heterogeneity(results: RelationshipHMMResults, model: RelationshipHMM,
                           panel: pd.DataFrame, frame: pd.DataFrame
                           ) -> CustomerHeterogeneity | None:
    """Posterior effects or classes of the observed customers (``None``: homogeneous fit).

    Parameters
    ----------
    results : RelationshipHMMResults
    model : RelationshipHMM
        Built from ``results``.
    panel : DataFrame
        The panel the model was fitted on.
    frame : DataFrame
        ``model.model_frame(panel)`` (its sequences, in order, are the observed population).
    """
    info = results.extra.get("heterogeneity") or {}
    kind = info.get("kind")
    if kind not in ("random_intercepts", "classes"):
        return None
    from complaintpanel.hmm.data import prepare_panel

    data = prepare_panel(panel, results.spec)
    last = frame.groupby(["customer_id", "brand"], sort=False).tail(1)
    customers = last["customer_id"]
    # the integrated likelihood filters data's sequences, the policy simulates frame's
    if not (np.array_equal(data.sequences["customer_id"].to_numpy(), customers.to_numpy())
            and np.array_equal(data.sequences["brand"].astype(str).to_numpy(),
                               last["brand"].astype(str).to_numpy())):
        raise AssertionError("the prepared panel's sequences are not the model frame's")
    groups, uniques = pd.factorize(data.sequences["customer_id"].to_numpy())
    position = {c: g for g, c in enumerate(uniques)}
    group = np.array([position[c] for c in customers], dtype=np.int64)
    p = results.layout.n_params
    if kind == "random_intercepts" and len(info.get("effects", ["complaint"])) == 2:
        from complaintpanel.hmm.heterogeneity import BivariateRandomIntercepts

        grid = BivariateRandomIntercepts(results.layout, data.chunks(model.chunk_size), groups,
                                         len(uniques), int(info["quadrature_nodes"]),
                                         adaptive=bool(info.get("adaptive", True)))
        ev = grid.adapt(results.theta)
        nodes, _ = grid.node_positions()  # (Q, G, 2): each customer's z at her nodes
        return CustomerHeterogeneity(kind, p, group, nodes, ev.node_posterior, integrated=grid)
    if kind == "random_intercepts":
        from complaintpanel.hmm.heterogeneity import RandomIntercepts

        quadrature = RandomIntercepts(results.layout, data.chunks(model.chunk_size), groups,
                                      len(uniques), int(info["quadrature_nodes"]),
                                      adaptive=bool(info.get("adaptive", True)))
        ev = quadrature.adapt(results.theta)
        support = quadrature.mean[None, :] + quadrature.sd[None, :] * quadrature.nodes[:, None]
        return CustomerHeterogeneity(kind, p, group, support, ev.node_posterior,
                                     integrated=quadrature)
    from complaintpanel.hmm.classes import LatentClasses

    classes = LatentClasses(results.layout, data.chunks(model.chunk_size), groups,
                            len(uniques), int(info["classes"]), tuple(info["class_blocks"]))
    posterior = classes.evaluate(results.theta, gradient=False).class_posterior
    return CustomerHeterogeneity(kind, p, group, np.empty((0, 0)), posterior, classes.blocks,
                                 dict(classes.index), integrated=classes)


def draw_path_summary(per_path: np.ndarray, *, level: float = 0.95,
                      prediction: bool = False) -> dict[str, float]:
    """Summarise draws × paths: the estimate's expected outcome and its interval.

    ``per_path[d, p]`` is the outcome of path ``p`` under parameter set ``d`` (``d = 0``: the
    estimate θ̂, then the draws); every draw has random numbers of its own. The expected
    outcome is the mean of a row; the standard error is the spread of the draws' means,
    which holds both what parameter uncertainty does to the outcome and the simulation error
    of a mean of ``n_paths`` paths — exactly the two parts of the estimate's own error, so
    the spread is an unbiased estimate of its variance. Its degrees of freedom are
    ``n_draws − 1`` (Student's t). The prediction interval (where one realised path falls) is
    the quantiles of all draws' paths.

    (Common random numbers across draws would remove the simulation noise from the draws'
    spread, but then the estimate's own noise must be measured from its ``n_paths`` paths
    alone, with ``n_paths − 1`` degrees of freedom; with a few paths that is worse.)

    Parameters
    ----------
    per_path : ndarray, shape (1 + n_draws, n_paths)
    level : float
    prediction : bool
        Add ``pred_lower``/``pred_upper``.

    Returns
    -------
    dict
        ``estimate``, ``se``, ``lower``, ``upper`` (``nan`` with fewer than two draws) and the
        prediction bounds when asked.
    """
    means = per_path.mean(axis=1)
    n_draws = per_path.shape[0] - 1
    estimate = float(means[0])
    se = float(means[1:].std(ddof=1)) if n_draws >= 2 else float("nan")
    half = _t_quantile(0.5 + level / 2, max(n_draws - 1, 1)) * se
    out = {"estimate": estimate, "se": se, "lower": estimate - half, "upper": estimate + half}
    if prediction:
        lower, upper = np.quantile(per_path, [(1 - level) / 2, (1 + level) / 2])
        out["pred_lower"], out["pred_upper"] = float(lower), float(upper)
    return out


@functools.lru_cache(maxsize=64)
def _t_quantile(q: float, df: int) -> float:
    """Student's t quantile, remembered.

    A run summarises some 10,000 outcomes with a few (level, df) pairs, and scipy's ppf costs
    0.2 ms a call (2 s of the policy stage).
    """
    return float(student_t.ppf(q, df=df))


def _draw_seeds(rng: np.random.Generator, n: int) -> list[int]:
    """One seed per parameter set (estimate first), independent of the parameter draws."""
    root = int(rng.integers(2**62))
    return [int(np.random.SeedSequence([root, d]).generate_state(1, np.uint64)[0] >> 2)
            for d in range(n)]


def available_arms(results: RelationshipHMMResults) -> list[str]:
    """Arms the fitted model supports (``fast`` needs a model with latency)."""
    return [a for a in ARMS if a != "fast" or "fast_reply" in results.spec.transition_covariates]


def simulate_policies(results: RelationshipHMMResults, panel: pd.DataFrame, *,
                      horizon: int = 12, cohort_horizon: int = 26,
                      policies: tuple[str, ...] | None = None,
                      populations: tuple[str, ...] = ("observed", "cohort"),
                      learning_off: bool = True, n_draws: int = 20, n_paths: int = 2,
                      budget: float = 0.1, objective: str = "good_share",
                      parameter_uncertainty: bool = True, prediction: bool = False,
                      level: float = 0.95, random_state: int | None = None) -> PolicyResult:
    """Simulate reply policies: expected outcomes per arm, contrasts, intervals.

    Parameters
    ----------
    results : RelationshipHMMResults
        A fit of the core specification (complaint covariate ``redress``; transition
        covariates among intervention, peer voice, unanswered complaints, fast reply).
    panel : DataFrame
        The panel the model was fitted on.
    horizon : int
        Periods simulated after the data for the observed customers.
    cohort_horizon : int
        Periods simulated for the cohort of new customers.
    policies : tuple of str, optional
        Arms (:data:`ARMS`); default all that the model supports.
    populations : tuple of str
        Among :data:`POPULATIONS`.
    learning_off : bool
        Also run every answering arm with learning off for the redress it creates.
    n_draws : int
        Parameter draws for the intervals (besides the estimate itself); 0 computes the
        expected outcomes at the estimate only (intervals then need
        ``parameter_uncertainty=False``: simulation error only).
    n_paths : int
        Simulated paths per parameter draw, averaged into the expected outcome.
    budget : float
        Share of complaints answered by the ``random`` and ``targeted`` arms.
    objective : {"good_share", "net_voice"}
        What the targeting rule maximises.
    parameter_uncertainty : bool
        Draw parameters from their estimated sampling distribution (else every draw is the
        estimate: the interval is simulation error only).
    prediction : bool
        Add prediction intervals (quantiles of single paths over draws and paths).
    level : float
        Confidence level of the intervals.
    random_state : int, optional

    Returns
    -------
    PolicyResult
    """
    spec = results.spec
    unsupported = (set(spec.transition_covariates) - _SUPPORTED_TRANSITION) | (
        set(spec.complaint_covariates) - {"redress"}) | set(spec.compliment_covariates)
    if unsupported:
        raise ValueError(f"policy simulation cannot project covariate(s) {sorted(unsupported)}")
    available = available_arms(results)
    arms = tuple(policies or available)
    for arm in arms:
        if arm not in available:
            raise ValueError(f"policy {arm!r} is not available for this model "
                             f"(available: {available}; 'fast' needs latency_hours)")
    for name in populations:
        if name not in POPULATIONS:
            raise ValueError(f"unknown population {name!r} (known: {list(POPULATIONS)})")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r} (known: {list(OBJECTIVES)})")
    if horizon < 1 or cohort_horizon < 1 or n_draws < 0 or n_paths < 1:
        raise ValueError("horizons and n_paths must be positive, n_draws non-negative")
    if not 0 < budget <= 1:
        raise ValueError("budget must be a share of complaints in (0, 1]")
    model = RelationshipHMM.from_results(results)
    frame = model.model_frame(panel)
    if "answered_complaints" not in frame:
        raise KeyError("policy simulation needs `answered_complaints` for observed reply rates")
    observed, brands, answer_rate, fast_share = _start_facts(frame, results)
    has_fast = "fast_reply" in spec.transition_covariates
    squeaky = "redress" in spec.complaint_covariates
    runs = [(arm, True) for arm in arms] + [
        (arm, False) for arm in arms if learning_off and squeaky and arm != "none"]

    rng = np.random.default_rng(random_state)
    # A seed per parameter set (arms share it: common random numbers across arms), drawn
    # before the parameters, so a draw's paths do not depend on parameter uncertainty.
    seeds = _draw_seeds(rng, n_draws + 1)
    heterogeneity = customer_heterogeneity(results, model, panel, frame)
    drawn: list[ModelParams] = [results.model_params()]
    thetas: list[np.ndarray] = [results.theta]
    for _ in range(n_draws):
        theta_d = results.draw_theta(rng) if parameter_uncertainty else results.theta
        thetas.append(theta_d)
        drawn.append(results.layout.to_natural(theta_d))
    # Each draw starts from the states filtered under its own parameters.
    filtered = model.filtered_last_proba(panel, params=drawn)
    state_columns = [f"p_{s}" for s in model.state_names_]
    start_probs = filtered[state_columns].to_numpy().reshape(len(drawn), observed.size, -1)

    pops = {"observed": Population("observed", observed.brand, observed.redress,
                                   observed.shift_columns, horizon),
            "cohort": Population("cohort", observed.brand, np.zeros(observed.size), None,
                                 cohort_horizon)}
    # values[pop][(arm, learning)][metric]: (draws, paths, periods)
    values: dict[str, dict[tuple[str, bool], dict[str, np.ndarray]]] = {}
    for name in populations:
        pop = pops[name]
        values[name] = {run: {m: np.empty((len(drawn), n_paths, pop.horizon))
                              for m in PATH_METRICS} for run in runs}
        for d, (params, seed) in enumerate(zip(drawn, seeds, strict=True)):
            probs = (start_probs[d] if name == "observed"
                     else np.broadcast_to(params.initial_probs, (pop.size, params.n_states)))
            effect, own_delta = (None, None) if heterogeneity is None else (
                heterogeneity.draw(thetas[d], pop, n_paths, seed))
            # observed customers' true start states given their drawn effect or class (the
            # brand's beliefs stay the common filter in ``probs``)
            given_effect = (heterogeneity.start_probs(thetas[d], n_paths, seed)
                            if heterogeneity is not None and name == "observed" else None)
            for arm, learning in runs:
                out = run_arm(arm, learning, params, pop, probs, n_paths=n_paths,
                              seed=seed, answer_rate=answer_rate,
                              fast_share=fast_share if has_fast else None, budget=budget,
                              objective=objective, voice_effect=effect, delta=own_delta,
                              start_probs=given_effect)
                for metric in PATH_METRICS:
                    values[name][(arm, learning)][metric][d] = out[metric]

    def summary(per_path: np.ndarray) -> dict[str, float]:
        return draw_path_summary(per_path, level=level, prediction=prediction)

    def totals_of(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"complaints": v["complaints"].sum(axis=2),
                "compliments": v["compliments"].sum(axis=2),
                "net_voice": (v["compliments"] - v["complaints"]).sum(axis=2),
                "share_best": v["share_best"].mean(axis=2),
                "share_best_end": v["share_best"][:, :, -1],
                "answered": v["answered"].sum(axis=2)}

    period_rows, total_rows, contrast_rows = [], [], []
    for name in populations:
        totals = {run: totals_of(values[name][run]) for run in runs}
        for arm, learning in runs:
            keys = {"population": name, "arm": arm, "learning": _learning_label(learning)}
            for metric in PATH_METRICS:
                series = values[name][(arm, learning)][metric]
                for h in range(series.shape[2]):
                    row = summary(series[:, :, h])
                    row.pop("se")
                    period_rows.append({**keys, "period": h + 1, "metric": metric, **row})
            for metric, per_path in totals[(arm, learning)].items():
                total_rows.append({**keys, "metric": metric, **summary(per_path)})
        pairs = dict(CONTRASTS)
        for arm in arms:
            if (arm, False) in totals:
                pairs[f"{arm}_learning_on_minus_off"] = ((arm, True), (arm, False))
        for contrast, (a, b) in pairs.items():
            if a not in totals or b not in totals:
                continue
            for metric in TOTALS:
                row = summary(totals[a][metric] - totals[b][metric])
                contrast_rows.append({"population": name, "contrast": contrast,
                                      "metric": metric, **row})
    settings = {
        "horizon": horizon, "cohort_horizon": cohort_horizon, "n_draws": n_draws,
        "n_paths": n_paths, "arms": list(arms), "populations": list(populations),
        "learning_off": learning_off and squeaky, "budget": budget, "objective": objective,
        "parameter_uncertainty": parameter_uncertainty, "prediction": prediction,
        "level": level, "random_state": random_state, "n_sequences": observed.size,
        "share_redressed_at_start": float(np.mean(observed.redress > 0)),
        "observed_answer_rate_by_brand": dict(zip(brands, answer_rate.tolist(), strict=False)),
        "metrics": TOTALS, "arm_labels": {a: ARMS[a] for a in arms},
        "population_labels": {p: POPULATIONS[p] for p in populations},
        "objective_label": OBJECTIVES[objective],
        "redress": ("binary" if spec.redress_decay is None else
                    f"decaying stock, rho = {spec.redress_decay:.3f} (held at its estimate in "
                    "every parameter draw: its uncertainty is not propagated)"),
        "heterogeneity": ("none" if heterogeneity is None else
                          f"{heterogeneity.kind}: observed customers draw their effect or "
                          "class from their posterior at the estimate and start from their "
                          "end states filtered given it, new customers from the population "
                          "distribution; the targeting rule's beliefs use the common "
                          "parameters"),
    }
    return PolicyResult(periods=pd.DataFrame(period_rows), totals=pd.DataFrame(total_rows),
                        contrasts=pd.DataFrame(contrast_rows), settings=settings)
