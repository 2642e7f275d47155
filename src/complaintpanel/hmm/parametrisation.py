"""The map between the model's natural parameters and the optimiser's unconstrained vector.

The optimiser works on an unconstrained vector ``θ``; the likelihood works on *natural*
parameters (:class:`complaintpanel.model.ModelParams`: rates, coefficients, thresholds,
initial logits, with their :class:`~complaintpanel.model.ModelSpec`). Two blocks need a
transform:

* complaint log-rates ``a`` are **strictly decreasing** in the state index
  (``a_0 = θ_0``, ``a_k = a_{k-1} − exp(θ_k)``): state 0 complains most ("poor"), state K−1
  least ("good"). This fixes the labels (no label switching) and ties the ordered-logit
  direction to relationship quality, so δ > 0 means "moves the relationship up";
* each row of the thresholds ``τ_j·`` is **strictly increasing** (first cut free, then
  log-increments), as an ordered logit requires.

Everything else is identity. Two optional blocks come last: the neutral log-rates ``n_k``
(``ModelSpec.neutral``) and, when the specification carries a validation sample, the q-logits
of the misclassification layer (:func:`complaintpanel.model.measurement.q_from_logits`; ``M``
follows from them and the label census). The q-logits are not part of
:class:`~complaintpanel.model.ModelParams`: :meth:`ParamLayout.misclassification` gives ``M``.

Gradients with respect to natural parameters are mapped to ``θ`` by the chain rule
(:meth:`ParamLayout.gradient_to_theta`), so the analytic gradient of the likelihood carries
over exactly.
"""

from __future__ import annotations

import numpy as np

from complaintpanel.model import ModelParams, ModelSpec
from complaintpanel.model.measurement import VOICES, misclassification, q_from_logits, q_logits

__all__ = ["IdentificationError", "ParamLayout"]


class IdentificationError(ValueError):
    """The panel cannot identify the specification (e.g. no variation in intervention)."""


_BLOCKS = ("a", "c", "beta_c", "beta_p", "beta_tr", "tau", "init", "sent_mean", "sent_log_sd",
           "reply_brand", "reply_state", "neutral", "q_logits", "reply_logits")
_MODEL_BLOCKS = _BLOCKS[:-2]  # the blocks ModelParams holds


class ParamLayout:
    """Where each parameter block sits in ``θ`` and how it maps to natural parameters.

    Natural and unconstrained vectors share one layout (same blocks, same sizes, same order);
    only ``a`` and ``tau`` differ by a transform.

    Parameters
    ----------
    spec : ModelSpec
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        k = spec.n_states
        sizes = {
            "a": k,
            "c": k,
            "beta_c": len(spec.complaint_covariates),
            "beta_p": len(spec.compliment_covariates),
            "beta_tr": len(spec.transition_covariates),
            "tau": k * (k - 1),
            "init": (k - 1) * (1 + len(spec.initial_covariates)),
            "sent_mean": k if spec.sentiment else 0,
            "sent_log_sd": k if spec.sentiment else 0,
            "reply_brand": len(spec.brands) if spec.reply_model else 0,
            "reply_state": k - 1 if spec.reply_model else 0,
            "neutral": k if spec.neutral else 0,
            "q_logits": ((len(VOICES) - 1) * len(VOICES)
                         if spec.validation_counts is not None else 0),
            # reply process: logit p[v, b] of answering a tweet of true voice v, brand b
            "reply_logits": len(VOICES) * len(spec.brands) if spec.reply_process else 0,
        }
        if (spec.reply_model or spec.reply_process) and not spec.brands:
            raise ValueError("the reply model needs the brand labels (ModelSpec.with_brands)")
        self.slices: dict[str, slice] = {}
        start = 0
        for name in _BLOCKS:
            self.slices[name] = slice(start, start + sizes[name])
            start += sizes[name]
        self.n_params = start

    # ---------------------------------------------------------------- θ ↔ natural
    def to_natural(self, theta: np.ndarray) -> ModelParams:
        """Natural parameters from the unconstrained vector ``θ``."""
        theta = np.asarray(theta, dtype=float)
        k = self.spec.n_states
        blocks = {name: theta[s].copy() for name, s in self.slices.items()}
        raw_a = blocks["a"]
        blocks["a"] = raw_a[0] - np.concatenate([[0.0], np.cumsum(np.exp(raw_a[1:]))])
        raw_tau = blocks["tau"].reshape(k, k - 1)
        tau = raw_tau[:, :1] + np.concatenate(
            [np.zeros((k, 1)), np.cumsum(np.exp(raw_tau[:, 1:]), axis=1)], axis=1)
        blocks["tau"] = tau
        blocks["init"] = blocks["init"].reshape(k - 1, 1 + len(self.spec.initial_covariates))
        del blocks["q_logits"]
        del blocks["reply_logits"]
        neutral_block = blocks.pop("neutral")
        neutral = neutral_block if self.spec.neutral else None
        return ModelParams(spec=self.spec, neutral=neutral, **blocks)

    # ---------------------------------------------------------------- misclassification
    def q_logits(self, theta: np.ndarray) -> np.ndarray | None:
        """Return the q-logits (V−1, L) of the validation strata, or ``None``."""
        if self.spec.validation_counts is None:
            return None
        return np.asarray(theta, dtype=float)[self.slices["q_logits"]].reshape(
            len(VOICES) - 1, len(VOICES))

    def reply_logits(self, theta: np.ndarray) -> np.ndarray | None:
        """Return the reply process's logits ``logit p[v, b]`` (V, B), or ``None``."""
        if not self.spec.reply_process:
            return None
        return np.asarray(theta, dtype=float)[self.slices["reply_logits"]].reshape(
            len(VOICES), len(self.spec.brands))

    def misclassification(self, theta: np.ndarray) -> np.ndarray | None:
        """``M[v, ℓ] = P(label ℓ | true v)`` at ``θ`` (estimated or fixed), or ``None``."""
        spec = self.spec
        if spec.fixed_misclassification is not None:
            return np.asarray(spec.fixed_misclassification, dtype=float)
        logits = self.q_logits(theta)
        if logits is None:
            return None
        return misclassification(q_from_logits(logits),
                                 np.asarray(spec.validation_population, dtype=float))[0]

    def start_q_logits(self) -> np.ndarray:
        """q-logits at the validation sample's own estimate ``q̂`` (a start value)."""
        counts = np.asarray(self.spec.validation_counts, dtype=float)
        sizes = counts.sum(axis=0, keepdims=True)
        q_hat = np.divide(counts, sizes, out=np.full_like(counts, 1 / 3), where=sizes > 0)
        return q_logits(q_hat)

    def from_natural(self, nat: ModelParams, q_logit_values: np.ndarray | None = None
                     ) -> np.ndarray:
        """Unconstrained vector ``θ`` from natural parameters (inverse of :meth:`to_natural`).

        ``q_logit_values`` fill the misclassification block (default: the validation sample's
        own estimate).
        """
        if nat.spec != self.spec:
            raise ValueError("the parameters belong to another specification; use "
                             "ModelParams.with_spec first")
        theta = np.empty(self.n_params)
        a = np.asarray(nat.a, dtype=float)
        steps = -np.diff(a)
        tau = np.asarray(nat.tau, dtype=float)
        gaps = np.diff(tau, axis=1)
        if np.any(steps <= 0):
            raise ValueError("complaint log-rates must be strictly decreasing in the state")
        if np.any(gaps <= 0):
            raise ValueError("thresholds must increase along each row")
        theta[self.slices["a"]] = np.concatenate([[a[0]], np.log(steps)])
        theta[self.slices["tau"]] = np.concatenate([tau[:, :1], np.log(gaps)], axis=1).ravel()
        for name in _MODEL_BLOCKS:
            if name == "neutral" and not self.spec.neutral:
                continue
            if name not in ("a", "tau"):
                theta[self.slices[name]] = np.asarray(getattr(nat, name), dtype=float).ravel()
        if self.spec.validation_counts is not None:
            values = self.start_q_logits() if q_logit_values is None else q_logit_values
            theta[self.slices["q_logits"]] = np.asarray(values, dtype=float).ravel()
        # reply process: p = 1/2 until the estimator sets a data start
        theta[self.slices["reply_logits"]] = 0.0
        return theta

    def natural_vector(self, nat: ModelParams) -> np.ndarray:
        """Natural parameters flattened in block order."""
        return np.concatenate([np.asarray(getattr(nat, name), dtype=float).ravel()
                               for name in _MODEL_BLOCKS
                               if name != "neutral" or self.spec.neutral])

    def gradient_to_theta(self, theta: np.ndarray, grad_nat: np.ndarray) -> np.ndarray:
        """Chain rule: gradient w.r.t. natural parameters → gradient w.r.t. ``θ``.

        Parameters
        ----------
        theta : ndarray, shape (p,)
        grad_nat : ndarray, shape (p,) or (p, n)
            Gradient (or per-sequence gradients in columns) w.r.t. the natural vector.
        """
        k = self.spec.n_states
        out = np.array(grad_nat, dtype=float, copy=True)
        sa = self.slices["a"]
        ga = grad_nat[sa]
        # a_k = θ_0 − Σ_{m≤k} exp(θ_m): ∂/∂θ_0 = Σ_k g_k, ∂/∂θ_m = −exp(θ_m) Σ_{k≥m} g_k
        tail = np.cumsum(ga[::-1], axis=0)[::-1]
        scale_a = np.exp(theta[sa][1:])
        out[sa] = np.concatenate(
            [tail[:1], -(scale_a.reshape((-1,) + (1,) * (ga.ndim - 1)) * tail[1:])], axis=0)
        st = self.slices["tau"]
        gt = grad_nat[st].reshape((k, k - 1, *grad_nat.shape[1:]))
        tail_t = np.cumsum(gt[:, ::-1], axis=1)[:, ::-1]
        scale_t = np.exp(theta[st].reshape(k, k - 1)[:, 1:])
        scale_t = scale_t.reshape(scale_t.shape + (1,) * (gt.ndim - 2))
        out[st] = np.concatenate([tail_t[:, :1], scale_t * tail_t[:, 1:]],
                                 axis=1).reshape((-1, *grad_nat.shape[1:]))
        return out

    # ---------------------------------------------------------------- names and reporting
    def reported(self, theta: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Names and values of the parameters as reported (natural scale).

        See :meth:`complaintpanel.model.ModelParams.reported`: initial logits are reported as
        the probabilities π_k when there are no initial covariates, and the sentiment log
        standard deviations as σ_k.
        """
        listed = self.to_natural(theta).reported()
        names, values = list(listed.index), listed.to_numpy()
        m = self.misclassification(theta)
        if m is not None and self.spec.validation_counts is not None:
            names += [f"M[{v},{ell}]" for v in VOICES for ell in VOICES]
            values = np.concatenate([values, m.ravel()])
        reply = self.reply_logits(theta)
        if reply is not None:
            names += [f"reply[{v},{b}]" for v in VOICES for b in self.spec.brands]
            values = np.concatenate([values, 1.0 / (1.0 + np.exp(-reply.ravel()))])
        return names, values

    def reported_jacobian(self, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
        """Return ∂(reported values)/∂θ by central differences (a smooth, cheap map)."""
        _, base = self.reported(theta)
        jac = np.empty((base.size, self.n_params))
        for i in range(self.n_params):
            up, down = theta.copy(), theta.copy()
            up[i] += step
            down[i] -= step
            jac[:, i] = (self.reported(up)[1] - self.reported(down)[1]) / (2 * step)
        return jac

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Loose box bounds on ``θ`` that keep random starts away from overflow."""
        k = self.spec.n_states
        bounds: list[tuple[float | None, float | None]] = [(-30.0, 30.0)] * self.n_params
        sa = self.slices["a"]
        for i in range(sa.start + 1, sa.stop):
            bounds[i] = (-12.0, 4.0)  # log gap between adjacent complaint log-rates
        st = self.slices["tau"]
        for j in range(k):
            for m in range(1, k - 1):
                bounds[st.start + j * (k - 1) + m] = (-12.0, 4.0)  # log gap between cuts
        for name in ("beta_c", "beta_p", "beta_tr", "init", "reply_brand", "reply_state",
                     "q_logits", "reply_logits"):
            s = self.slices[name]
            for i in range(s.start, s.stop):
                bounds[i] = (-20.0, 20.0)
        s = self.slices["sent_log_sd"]
        for i in range(s.start, s.stop):
            bounds[i] = (-12.0, 6.0)
        return bounds
