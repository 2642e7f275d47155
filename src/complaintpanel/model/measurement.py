"""Voice measured with error: the misclassification matrix and the validation sample behind it.

Every real application labels tweets with a classifier, and every classifier errs
(DESIGN.md §4.1). With a hand-coded validation sample, the misclassification matrix

    ``M[v, ℓ] = P(label ℓ | true voice v)``

is estimated, and every estimate is corrected through it: true voice counts that are
independent Poisson with rates ``Λ`` become, tweet by tweet independently mislabelled,
observed label counts that are independent Poisson with rates ``Mᵀ Λ`` (thinning and
superposition of Poisson processes, exact); effects on expected counts map the same way.

**Sampling design.** The validation sample is stratified by the predicted label: ``n_ℓ`` tweets
drawn at random from the ``N_ℓ`` tweets the classifier labelled ``ℓ``, each coded by a person
(or, on a simulated world, by an oracle from the truth). Within stratum ℓ the codes estimate
``q[v | ℓ] = P(true v | label ℓ)``; with the census of labels ``P_ℓ = N_ℓ / N`` (known exactly:
every tweet was labelled) they give the joint ``P(v, ℓ) = q[v | ℓ] P_ℓ``, the true voice shares
``π_v = Σ_ℓ P(v, ℓ)`` and ``M[v, ℓ] = P(v, ℓ) / π_v``. The stratification weights
(``N_ℓ / n_ℓ``) are honoured by construction: each stratum is weighted by its census share.

**Parametrisation.** ``q[· | ℓ]`` is a probability vector per stratum; :func:`q_from_logits`
maps unconstrained logits (against the first voice) to it, so a likelihood can carry them as
free parameters and add the validation sample's multinomial log-likelihood
(:meth:`ValidationCounts.loglike`) to its own.

**Uncertainty.** Within stratum ℓ the codes are multinomial, so ``q̂[· | ℓ]`` has covariance
``(diag(q) − q qᵀ) / n_ℓ`` and strata are independent; ``M`` and ``π`` are smooth functions of
``q̂`` given the census, so their covariance follows by the delta method
(:func:`misclassification_jacobian`, :meth:`ValidationCounts.misclassification_cov`). The finite
population correction ``(N_ℓ − n_ℓ)/(N_ℓ − 1)`` is left out: the target is the classifier's
error process, not the errors of this finite set of tweets, and with ``n_ℓ ≪ N_ℓ`` it is ≈ 1.
Arrays over ``(v, ℓ)`` are vectorised row by row (NumPy's ``ravel``): index ``v·L + ℓ``.

**Assumption.** A tweet's label depends on its true voice only, not on the customer's latent
state or anything else (errors independent of the state given the true voice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["VOICES", "ValidationCounts", "misclassification", "misclassification_jacobian",
           "misclassification_logit_jacobian", "q_covariance", "q_from_logits", "q_logits",
           "validation_description", "validation_score"]

# Order of the voices in every array of this module (true voice v on rows, label ℓ on columns);
# the same order as complaintpanel.label.base.VOICES.
VOICES: tuple[str, ...] = ("complaint", "compliment", "neutral")


def q_from_logits(logits: np.ndarray) -> np.ndarray:
    """``q[v | ℓ]`` from logits against the first voice.

    Parameters
    ----------
    logits : ndarray, shape (V-1, L)
        Column ℓ: log(q[v | ℓ] / q[0 | ℓ]) for v = 1 … V−1.

    Returns
    -------
    ndarray, shape (V, L)
        Columns sum to one.
    """
    logits = np.asarray(logits, dtype=float)
    full = np.vstack([np.zeros((1, logits.shape[1])), logits])
    full = full - full.max(axis=0, keepdims=True)
    weights = np.exp(full)
    return weights / weights.sum(axis=0, keepdims=True)


def q_logits(q: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Inverse of :func:`q_from_logits` (probabilities floored to keep logits finite)."""
    q = np.clip(np.asarray(q, dtype=float), floor, None)
    q = q / q.sum(axis=0, keepdims=True)
    return np.log(q[1:] / q[:1])


def misclassification(q: np.ndarray, population: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the misclassification matrix and the true voice shares from ``q`` and the census.

    Parameters
    ----------
    q : ndarray, shape (V, L)
        ``q[v | ℓ] = P(true v | label ℓ)``; columns sum to one.
    population : ndarray, shape (L,)
        ``N_ℓ``: how many tweets of the population the classifier labelled ℓ.

    Returns
    -------
    M : ndarray, shape (V, L)
        ``M[v, ℓ] = P(label ℓ | true v)``; rows sum to one.
    shares : ndarray, shape (V,)
        ``π_v``, the true voice shares of the population.
    """
    census = np.asarray(population, dtype=float)
    joint = np.asarray(q, dtype=float) * (census / census.sum())[None, :]
    shares = joint.sum(axis=1)
    return joint / shares[:, None], shares


def misclassification_jacobian(q: np.ndarray, population: np.ndarray
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Differentiate ``vec(M)`` and ``π`` with respect to ``vec(q)`` (census held fixed).

    With ``p_ℓ = N_ℓ / N``, ``M[v, ℓ] = q[v, ℓ] p_ℓ / π_v`` and ``π_v = Σ_ℓ q[v, ℓ] p_ℓ``:

        ∂M[v, ℓ] / ∂q[v', ℓ'] = 1{v = v'} (1{ℓ = ℓ'} p_ℓ / π_v − q[v, ℓ] p_ℓ p_ℓ' / π_v²),
        ∂π_v / ∂q[v', ℓ'] = 1{v = v'} p_ℓ'.

    Parameters
    ----------
    q : ndarray, shape (V, L)
    population : ndarray, shape (L,)

    Returns
    -------
    d_m : ndarray, shape (V·L, V·L)
        Row ``v·L + ℓ`` (entry of M), column ``v'·L + ℓ'`` (entry of q).
    d_shares : ndarray, shape (V, V·L)
    """
    q = np.asarray(q, dtype=float)
    n_voices, n_labels = q.shape
    census = np.asarray(population, dtype=float)
    share = census / census.sum()
    pi = (q * share[None, :]).sum(axis=1)
    d_m = np.zeros((n_voices * n_labels, n_voices * n_labels))
    d_shares = np.zeros((n_voices, n_voices * n_labels))
    for v in range(n_voices):
        block = (np.diag(share / pi[v])
                 - np.outer(q[v] * share, share) / pi[v] ** 2)
        rows = slice(v * n_labels, (v + 1) * n_labels)
        d_m[rows, rows] = block
        d_shares[v, rows] = share
    return d_m, d_shares


def q_covariance(counts: np.ndarray) -> np.ndarray:
    """Covariance of ``vec(q̂)`` under stratified multinomial sampling.

    Parameters
    ----------
    counts : ndarray, shape (V, L)
        ``n[v, ℓ]``.

    Returns
    -------
    ndarray, shape (V·L, V·L)
        ``Cov(q̂[v, ℓ], q̂[v', ℓ]) = (1{v = v'} q[v, ℓ] − q[v, ℓ] q[v', ℓ]) / n_ℓ``; zero across
        strata and for empty strata.
    """
    counts = np.asarray(counts, dtype=float)
    n_voices, n_labels = counts.shape
    sizes = counts.sum(axis=0)
    cov = np.zeros((n_voices * n_labels, n_voices * n_labels))
    for ell in range(n_labels):
        if sizes[ell] == 0:
            continue
        q = counts[:, ell] / sizes[ell]
        block = (np.diag(q) - np.outer(q, q)) / sizes[ell]
        at = np.arange(n_voices) * n_labels + ell
        cov[np.ix_(at, at)] = block
    return cov


@dataclass(frozen=True)
class ValidationCounts:
    """A coded validation sample, reduced to what estimation needs.

    Attributes
    ----------
    counts : ndarray of int, shape (V, L)
        ``n[v, ℓ]``: sampled tweets labelled ℓ by the classifier and coded v by a person.
    population : ndarray of int, shape (L,)
        ``N_ℓ``: tweets of the population (those the estimates use) labelled ℓ.
    """

    counts: np.ndarray
    population: np.ndarray

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts)
        population = np.asarray(self.population)
        v = len(VOICES)
        if counts.shape != (v, v) or population.shape != (v,):
            raise ValueError(f"counts must be {v} × {v} and the population of length {v}")
        if np.any(counts < 0) or np.any(population < 0):
            raise ValueError("counts must not be negative")
        sampled = counts.sum(axis=0)
        empty = [VOICES[ell] for ell in range(v) if population[ell] > 0 and sampled[ell] == 0]
        if empty:
            raise ValueError(f"no coded tweet in the stratum of label(s) {empty}, which the "
                             "population has: their misclassification cannot be estimated")
        if np.any(sampled > population):
            raise ValueError("a stratum has more coded tweets than the population it came from")

    @property
    def n(self) -> int:
        """Number of coded tweets."""
        return int(np.asarray(self.counts).sum())

    def q_hat(self) -> np.ndarray:
        """Maximum-likelihood ``q[v | ℓ]``: the proportions of each stratum (uniform if empty)."""
        counts = np.asarray(self.counts, dtype=float)
        sizes = counts.sum(axis=0, keepdims=True)
        return np.divide(counts, sizes, out=np.full_like(counts, 1 / counts.shape[0]),
                         where=sizes > 0)

    def loglike(self, q: np.ndarray) -> float:
        """Multinomial log-likelihood of the codes within each stratum at ``q`` (no constant)."""
        counts = np.asarray(self.counts, dtype=float)
        with np.errstate(divide="ignore"):
            logs = np.log(np.asarray(q, dtype=float))
        return float(np.sum(np.where(counts > 0, counts * logs, 0.0)))

    def misclassification(self) -> tuple[np.ndarray, np.ndarray]:
        """Estimated ``M`` and true voice shares (:func:`misclassification` at ``q̂``)."""
        return misclassification(self.q_hat(), np.asarray(self.population))

    def misclassification_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Delta-method covariance of ``vec(M̂)`` (row by row) and of the shares ``π̂``.

        Returns
        -------
        cov_m : ndarray, shape (V·V, V·V)
        cov_shares : ndarray, shape (V, V)
        """
        d_m, d_shares = misclassification_jacobian(self.q_hat(), np.asarray(self.population))
        cov_q = q_covariance(np.asarray(self.counts))
        return d_m @ cov_q @ d_m.T, d_shares @ cov_q @ d_shares.T


def validation_description(validation: ValidationCounts, alpha: float = 0.05,
                           **extra: Any) -> dict[str, Any]:
    """Plain-JSON description of the validation sample, ``M̂`` and ``π̂`` with uncertainty.

    Standard errors by the delta method (:meth:`ValidationCounts.misclassification_cov`);
    intervals are normal (estimate ± z·SE) clipped to [0, 1].
    """
    from scipy.stats import norm

    m, shares = validation.misclassification()
    cov_m, cov_shares = validation.misclassification_cov()
    se_m = np.sqrt(np.clip(np.diag(cov_m), 0, None)).reshape(m.shape)
    se_shares = np.sqrt(np.clip(np.diag(cov_shares), 0, None))
    z = float(norm.ppf(1 - alpha / 2))
    counts = np.asarray(validation.counts)
    population = np.asarray(validation.population)
    coded = counts.sum(axis=0)
    return {
        "voices": list(VOICES), "n_coded": validation.n,
        "design": "stratified by predicted label; strata weighted by their census N_l",
        "population_by_label": population.astype(int).tolist(),
        "coded_by_label": coded.astype(int).tolist(),
        "weights_by_label": [float(population[i] / coded[i]) if coded[i] else None
                             for i in range(len(VOICES))],
        "counts_true_by_label": counts.astype(int).tolist(),
        "misclassification": m.tolist(),
        "misclassification_se": se_m.tolist(),
        "misclassification_ci_lower": np.clip(m - z * se_m, 0, 1).tolist(),
        "misclassification_ci_upper": np.clip(m + z * se_m, 0, 1).tolist(),
        "true_shares": shares.tolist(),
        "true_shares_se": se_shares.tolist(),
        "true_shares_ci_lower": np.clip(shares - z * se_shares, 0, 1).tolist(),
        "true_shares_ci_upper": np.clip(shares + z * se_shares, 0, 1).tolist(),
        "confidence_level": 1 - alpha,
        "uncertainty": "delta method over the stratified multinomial validation sample "
                       "(no finite-population correction)",
        **extra,
    }

# ------------------------------------------------------------------------------------------
# Derivatives for likelihoods that estimate M jointly (the relationship HMM's misclassification
# layer, complaintpanel.hmm.emissions). Kept in a block of their own.
# ------------------------------------------------------------------------------------------
def misclassification_logit_jacobian(logits: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Jacobian of ``M`` (:func:`misclassification`) with respect to the q-logits.

    Parameters
    ----------
    logits : ndarray, shape (V-1, L)
        q-logits against the first voice (:func:`q_from_logits`).
    population : ndarray, shape (L,)
        Label census ``N_ℓ``.

    Returns
    -------
    ndarray, shape (V, L, V-1, L)
        ``∂M[v, ℓ] / ∂logits[u, ℓ']``.

    Notes
    -----
    With ``J[v, ℓ] = q[v | ℓ] c_ℓ`` and ``π_v = Σ_ℓ J[v, ℓ]``: ``∂M[v, ℓ] = ∂J[v, ℓ] / π_v −
    M[v, ℓ] Σ_m ∂J[v, m] / π_v``, and the softmax gives ``∂q[v | ℓ] / ∂logits[u, ℓ] =
    q[v | ℓ] (1{v = u+1} − q[u+1 | ℓ])``.
    """
    q = q_from_logits(logits)
    v_count, l_count = q.shape
    census = np.asarray(population, dtype=float)
    census = census / census.sum()
    m, shares = misclassification(q, population)
    # dq[v, l, u] = ∂q[v | l] / ∂logits[u, l]
    dq = q[:, :, None] * (np.eye(v_count)[:, None, 1:] - q[1:].T[None, :, :])
    d_joint = np.zeros((v_count, l_count, v_count - 1, l_count))
    for ell in range(l_count):
        d_joint[:, ell, :, ell] = dq[:, ell, :] * census[ell]
    d_shares = d_joint.sum(axis=1)  # (V, V-1, L)
    return (d_joint - m[:, :, None, None] * d_shares[:, None, :, :]) / shares[:, None, None, None]


def validation_score(counts: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Gradient of :meth:`ValidationCounts.loglike` with respect to the q-logits.

    Returns
    -------
    ndarray, shape (V-1, L)
        ``n[u+1, ℓ] − n_ℓ q[u+1 | ℓ]``.
    """
    counts = np.asarray(counts, dtype=float)
    q = q_from_logits(logits)
    return counts[1:] - counts.sum(axis=0, keepdims=True) * q[1:]
