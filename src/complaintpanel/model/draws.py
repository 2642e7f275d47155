"""Where the model's random numbers come from: numpy generators or given uniforms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
from scipy.special import ndtri

__all__ = ["Draws", "GeneratorDraws", "UniformDraws", "categorical", "truncated_poisson"]

class Draws(Protocol):
    """Where :func:`step` gets its random numbers, by purpose.

    Purposes: ``"initial"`` (state at first contact), ``"transition"``, ``"complaints"``,
    ``"compliments"``, ``"neutral"``, ``"fast"`` (which answers are fast), ``"answer"``,
    ``"sentiment"``. Within one step they are asked for in that order (``"fast"`` before
    ``"answer"``), first-contact redraws repeating ``"initial"``/``"complaints"``/
    ``"compliments"``.
    """

    def uniform(self, purpose: str, size: int) -> np.ndarray:
        """Draw ``size`` uniforms on [0, 1)."""
        ...

    def poisson(self, purpose: str, rate: np.ndarray) -> np.ndarray:
        """Draw one Poisson count per rate."""
        ...

    def binomial(self, purpose: str, n: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Draw one binomial count per (n, p)."""
        ...

    def normal(self, purpose: str, size: int) -> np.ndarray:
        """Draw ``size`` standard normal values."""
        ...


class GeneratorDraws:
    """Draws from numpy generators, in the order asked.

    Parameters
    ----------
    source : Generator or mapping of str to Generator
        One generator for every purpose (the simulator's single sequential stream), or one
        per purpose (common random numbers: arms that consume one purpose differently still
        see the same numbers for every other purpose).
    """

    def __init__(self, source: np.random.Generator | Mapping[str, np.random.Generator]
                 ) -> None:
        self._source = source

    def _rng(self, purpose: str) -> np.random.Generator:
        if isinstance(self._source, np.random.Generator):
            return self._source
        try:
            return self._source[purpose]
        except KeyError:
            raise KeyError(f"no random stream for purpose {purpose!r}") from None

    def uniform(self, purpose: str, size: int) -> np.ndarray:
        """Draw ``size`` uniforms from the purpose's generator."""
        return self._rng(purpose).random(size)

    def poisson(self, purpose: str, rate: np.ndarray) -> np.ndarray:
        """Poisson counts from the purpose's generator."""
        return self._rng(purpose).poisson(rate)

    def binomial(self, purpose: str, n: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Binomial counts from the purpose's generator."""
        return self._rng(purpose).binomial(n, p)

    def normal(self, purpose: str, size: int) -> np.ndarray:
        """Draw standard normal values from the purpose's generator."""
        return self._rng(purpose).standard_normal(size)


class UniformDraws:
    """Draws by inverse CDF from given uniforms, one array per purpose (common random numbers).

    Each purpose's uniforms serve one request (one per unit), so two arms given the same
    uniforms draw the same counts wherever their rates agree and monotonically related counts
    where they do not. A first-contact redraw would need fresh uniforms and is an error.

    Conventions: Poisson counts are ``min{k : F(k) ≥ u}`` (small u, small count); a binomial
    count is the number of ``k ≥ 1`` with ``u < P(X ≥ k)``, so a single trial succeeds when
    ``u < p``, as ``rng.random() < p`` does; normal values are ``Φ⁻¹(u)``.

    Parameters
    ----------
    uniforms : mapping of str to ndarray
        Uniforms on (0, 1) by purpose.
    """

    def __init__(self, uniforms: Mapping[str, np.ndarray]) -> None:
        self._uniforms = dict(uniforms)
        self._used: set[str] = set()

    def uniform(self, purpose: str, size: int) -> np.ndarray:
        """Return the purpose's uniforms (exactly ``size`` of them)."""
        if purpose in self._used:
            raise ValueError(f"the uniforms for {purpose!r} were already used in this step")
        if purpose not in self._uniforms:
            raise KeyError(f"no uniforms for purpose {purpose!r}")
        u = np.asarray(self._uniforms[purpose])
        if u.shape != (size,):
            raise ValueError(f"{purpose!r} needs {size} uniforms, got shape {u.shape}")
        self._used.add(purpose)
        return u

    def poisson(self, purpose: str, rate: np.ndarray) -> np.ndarray:
        """Poisson counts by inverse CDF."""
        rate = np.asarray(rate, dtype=float)
        return _poisson_inverse(self.uniform(purpose, rate.size), rate)

    def binomial(self, purpose: str, n: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Binomial counts by inverse survival function (success when ``u < p``)."""
        n = np.asarray(n, dtype=np.int64)
        return _binomial_inverse(self.uniform(purpose, n.size), n,
                                 np.broadcast_to(np.asarray(p, dtype=float), n.shape))

    def normal(self, purpose: str, size: int) -> np.ndarray:
        """Return standard normal values ``Φ⁻¹(u)``."""
        return ndtri(self.uniform(purpose, size))


def _poisson_inverse(u: np.ndarray, rate: np.ndarray, max_count: int = 60) -> np.ndarray:
    """Poisson draws by inverse CDF from given uniforms."""
    # A cap keeps the loop finite where the CDF rounds to just below u; it lies far in the
    # tail of every rate this model produces (and grows with the largest rate).
    top = float(rate.max()) if rate.size else 0.0
    max_count = max(max_count, int(top + 20 * np.sqrt(top) + 20))
    pmf = np.exp(-rate)
    cdf = pmf.copy()
    count = np.zeros(u.shape, dtype=np.int64)
    for j in range(1, max_count + 1):
        below = u > cdf
        if not below.any():
            break
        count += below
        pmf = pmf * rate / j
        cdf = cdf + pmf
    return count


def truncated_poisson(u: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Poisson counts given that they are at least 1, by inverse CDF from uniforms ``u``.

    The count is the number of ``k ≥ 1`` with ``(1 − u)·P(N ≥ 1) < P(N ≥ k)`` (small u, small
    count, as in :class:`UniformDraws`); the tail probabilities are carried as
    ``P(N ≥ 1) = −expm1(−λ)`` minus the point masses, which keeps them accurate for rates far
    below 1 (where ``1 − F(k)`` would round to zero).
    """
    rate = np.asarray(rate, dtype=float)
    u = np.asarray(u, dtype=float)
    tail = -np.expm1(-rate)  # P(N ≥ 1)
    v = (1.0 - u) * tail
    pmf = np.exp(-rate) * rate  # P(N = 1)
    count = np.ones(u.shape, dtype=np.int64)
    k = 1
    while True:
        tail = tail - pmf  # P(N ≥ k + 1)
        more = v < tail
        if not more.any() or k > 1000:
            return count
        count += more
        k += 1
        pmf = pmf * rate / k  # P(N = k)


def _binomial_inverse(u: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Binomial draws from given uniforms: the number of k ≥ 1 with ``u < P(X ≥ k)``."""
    count = np.zeros(n.shape, dtype=np.int64)
    certain = p >= 1.0
    count[certain] = n[certain]
    q = 1.0 - p
    pmf = q ** n  # P(X = 0)
    tail = 1.0 - pmf  # P(X ≥ 1): a trial succeeds when u < p
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(certain, 0.0, p / q)
    k = 1
    while True:
        hit = ~certain & (k <= n) & (u < tail)
        if not hit.any():
            return count
        count += hit
        pmf = pmf * (n - k + 1) / k * odds  # P(X = k)
        tail = tail - pmf  # P(X ≥ k + 1)
        k += 1


def categorical(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """One category per row of an (n, K) probability array, by inverse CDF of ``u``."""
    return (u[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)
