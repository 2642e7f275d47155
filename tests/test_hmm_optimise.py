"""The optimiser's numerical pieces against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from complaintpanel.hmm.likelihood import information_from_gradient


@pytest.mark.parametrize("scheme", ["central", "forward"])
def test_information_of_a_quadratic_is_its_matrix(scheme: str) -> None:
    """ℓ(θ) = −½ θ'Aθ + b'θ has information A exactly (the gradient is linear)."""
    rng = np.random.default_rng(0)
    root = rng.normal(size=(5, 5))
    a = root @ root.T + 5 * np.eye(5)
    b = rng.normal(size=5)
    theta = rng.normal(size=5) * 3
    information = information_from_gradient(lambda t: -a @ t + b, theta, scheme=scheme)
    np.testing.assert_allclose(information, a, rtol=1e-7, atol=1e-7)


def test_forward_differences_approach_the_analytic_hessian_with_the_step() -> None:
    """ℓ(θ) = −Σ exp(θ_i) − (θ_1 θ_2)²/2: forward error O(step), central O(step²)."""

    def gradient(t: np.ndarray) -> np.ndarray:
        g = -np.exp(t)
        g[0] -= t[0] * t[1] ** 2
        g[1] -= t[1] * t[0] ** 2
        return g

    theta = np.array([0.3, -0.7, 1.1])
    exact = np.diag(np.exp(theta))
    exact[0, 0] += theta[1] ** 2
    exact[1, 1] += theta[0] ** 2
    exact[0, 1] = exact[1, 0] = 2 * theta[0] * theta[1]
    error = {(scheme, step): np.abs(information_from_gradient(gradient, theta, step, scheme)
                                    - exact).max()
             for scheme in ("central", "forward") for step in (1e-3, 1e-4)}
    assert error[("central", 1e-4)] < 1e-7
    assert 1e-5 < error[("forward", 1e-3)] < 1e-2
    assert error[("forward", 1e-4)] == pytest.approx(error[("forward", 1e-3)] / 10, rel=0.05)
    with pytest.raises(ValueError, match="scheme"):
        information_from_gradient(gradient, theta, scheme="backward")
