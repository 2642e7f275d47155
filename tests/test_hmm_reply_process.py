"""The reply process in the corrected HMM's likelihood (issue 15; hmm/reply_process.py).

Brands answer *true* complaints, so under misclassified labels intervention and redress are
latent and the replies are modelled: label × answered counts are independent Poisson, and
``P(I = 0 | counts, state)`` drives a data-dependent transition. Checked here: the likelihood
against an explicit sum over true counts, answered/labelled assignments and states; the
analytic gradient against finite differences; ``M = I`` against the naive model with a
neutral emission (exactly, up to a state-free binomial reply factor, and in the fitted γ, δ);
and recovery on a panel drawn tweet by tweet from the model's assumptions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, gammaln
from scipy.stats import binom, poisson

from complaintpanel.hmm import RelationshipHMM
from complaintpanel.hmm.data import prepare_panel
from complaintpanel.hmm.likelihood import evaluate
from complaintpanel.hmm.parametrisation import ParamLayout
from complaintpanel.hmm.reply_process import check_reply_spec
from complaintpanel.hmm.sampling import sample_panel
from complaintpanel.model import ModelParams, ModelSpec, default_params, transition_matrices
from complaintpanel.model.measurement import ValidationCounts

M_TEST = np.array([[0.80, 0.05, 0.15],
                   [0.05, 0.85, 0.10],
                   [0.10, 0.10, 0.80]])
BRANDS = ("b0", "b1")
VOICE_COLUMNS = ("complaints", "compliments", "neutral")
ANSWER_COLUMNS = ("answered_complaints", "answered_compliments", "answered_neutral")


def _tiny_panel() -> pd.DataFrame:
    """Three short sequences with small counts (every cell kind appears)."""
    rows = [
        # customer, brand, period, (labels c, p, n), (answered c, p, n), peer_voice
        ("c1", "b0", 0, (1, 0, 1), (1, 0, 0), 0.1),
        ("c1", "b0", 1, (1, 1, 0), (0, 1, 0), -0.2),
        ("c2", "b1", 3, (0, 1, 1), (0, 0, 1), 0.0),
        ("c2", "b1", 4, (2, 0, 0), (1, 0, 0), 0.3),
        ("c3", "b0", 1, (0, 0, 2), (0, 0, 1), 0.2),
        ("c3", "b0", 2, (1, 0, 1), (0, 0, 0), -0.1),
    ]
    frame = pd.DataFrame([{"customer_id": c, "brand": b, "period": t,
                           **dict(zip(VOICE_COLUMNS, lab, strict=True)),
                           **dict(zip(ANSWER_COLUMNS, ans, strict=True)),
                           "peer_voice": pv, "intervened": 0, "redress": 0}
                          for c, b, t, lab, ans, pv in rows])
    return frame


def _tiny_spec(first_contact: str = "state", validation: bool = False) -> ModelSpec:
    counts = ((40, 3, 10), (2, 50, 4), (8, 5, 60))
    return ModelSpec(n_states=2, neutral=True, reply_process=True, brands=BRANDS,
                     first_contact=first_contact,  # type: ignore[arg-type]
                     validation_counts=counts if validation else None,
                     validation_population=(300, 400, 500) if validation else None,
                     fixed_misclassification=None if validation else tuple(
                         tuple(r) for r in M_TEST))


def _tiny_params(spec: ModelSpec) -> ModelParams:
    return ModelParams(spec=spec, a=np.array([0.2, -0.9]), c=np.array([-1.3, 0.1]),
                       beta_c=np.array([0.45]), beta_p=np.zeros(0),
                       beta_tr=np.array([1.1, 0.6]),
                       tau=np.array([[0.4], [-1.2]]), init=np.array([[0.3]]),
                       sent_mean=np.zeros(0), sent_log_sd=np.zeros(0),
                       reply_brand=np.zeros(0), reply_state=np.zeros(0),
                       neutral=np.array([-0.4, -0.2]))


REPLY_LOGITS = np.array([[0.3, -0.5], [-1.2, -0.8], [-0.2, 0.4]])  # (v, b)


def _theta(spec: ModelSpec) -> tuple[ParamLayout, np.ndarray]:
    layout = ParamLayout(spec)
    theta = layout.from_natural(_tiny_params(spec))
    theta[layout.slices["reply_logits"]] = REPLY_LOGITS.ravel()
    return layout, theta


def _splits(total: int, parts: int):
    """Every way of writing ``total`` as an ordered sum of ``parts`` non-negative integers."""
    for cut in itertools.combinations_with_replacement(range(total + 1), parts - 1):
        bounds = (0, *cut, total)
        yield tuple(bounds[i + 1] - bounds[i] for i in range(parts))


def _period_terms(labels, answered, lam, p, m, contact):
    """``P(observed counts, I = i | state, r)`` for i = 0, 1 by brute force.

    Sums over the split of each observed (label, answered) cell into true voices; each true
    voice count is Poisson, and its tweets spread over (label, answered) cells by a multinomial
    with probabilities ``P^a M[v, ℓ]``.
    """
    cells = [(ell, a) for ell in range(3) for a in range(2)]
    observed = {(ell, 1): answered[ell] for ell in range(3)}
    observed.update({(ell, 0): labels[ell] - answered[ell] for ell in range(3)})
    out = np.zeros(2)
    for split in itertools.product(*[list(_splits(observed[c], 3)) for c in cells]):
        table = {(v, c): split[j][v] for j, c in enumerate(cells) for v in range(3)}
        prob = 1.0
        for v in range(3):
            n_v = sum(table[(v, c)] for c in cells)
            probs = [(p[v] if a else 1 - p[v]) * m[v, ell] for ell, a in cells]
            counts = [table[(v, c)] for c in cells]
            # multinomial of n_v tweets over the six cells
            log_multi = gammaln(n_v + 1) - sum(gammaln(x + 1) for x in counts)
            with np.errstate(divide="ignore"):
                log_multi += sum(x * np.log(q) for x, q in zip(counts, probs, strict=True)
                                 if x > 0)
            prob *= poisson.pmf(n_v, lam[v]) * np.exp(log_multi)
        true_c = sum(table[(0, c)] for c in cells)
        true_p = sum(table[(1, c)] for c in cells)
        if contact and true_c + true_p == 0:
            continue
        intervened = int(sum(table[(0, (ell, 1))] for ell in range(3)) > 0)
        out[intervened] += prob
    if contact:
        out /= 1 - np.exp(-lam[0] - lam[1])
    return out


def _brute_force(spec: ModelSpec, panel: pd.DataFrame) -> float:
    nat = _tiny_params(spec)
    m = np.asarray(spec.fixed_misclassification, dtype=float)
    total = 0.0
    pi = np.exp(np.r_[0.0, nat.init[:, 0]])
    pi /= pi.sum()
    for _, seq in panel.groupby(["customer_id", "brand"], sort=False):
        seq = seq.sort_values("period")
        b = BRANDS.index(seq["brand"].iloc[0])
        p = expit(REPLY_LOGITS[:, b])
        # forward over (s, r) by explicit enumeration of state and intervention paths
        paths = {(s, 0): pi[s] for s in range(2)}  # P(path so far, data so far) by (s, r)
        for t, row in enumerate(seq.itertuples()):
            labels = [getattr(row, col) for col in VOICE_COLUMNS]
            answered = [getattr(row, col) for col in ANSWER_COLUMNS]
            new: dict[tuple[int, int], float] = {}
            for (s, r), weight in paths.items():
                lam = [np.exp(nat.a[s] + nat.beta_c[0] * r), np.exp(nat.c[s]),
                       np.exp(nat.neutral[s])]
                terms = _period_terms(labels, answered, lam, p, m,
                                      contact=(t == 0 and spec.first_contact == "state"))
                for i in range(2):
                    if t == len(seq) - 1:
                        new[(s, r)] = new.get((s, r), 0.0) + weight * terms[i]
                        continue
                    shift = nat.beta_tr[0] * i + nat.beta_tr[1] * row.peer_voice
                    move = transition_matrices(nat.tau, shift)[s]
                    for s_next in range(2):
                        key = (s_next, max(r, i))
                        new[key] = new.get(key, 0.0) + weight * terms[i] * move[s_next]
            paths = new
        total += np.log(sum(paths.values()))
    return total


@pytest.mark.parametrize("first_contact", ["state", "none"])
def test_likelihood_equals_brute_force_sum(first_contact: str) -> None:
    spec = _tiny_spec(first_contact)
    panel = _tiny_panel()
    layout, theta = _theta(spec)
    data = prepare_panel(panel, spec)
    got = evaluate(theta, layout, [data], gradient=False).loglik
    assert got == pytest.approx(_brute_force(spec, panel), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("first_contact", ["state", "none"])
def test_gradient_matches_finite_differences(first_contact: str) -> None:
    spec = _tiny_spec(first_contact, validation=True)
    panel = _tiny_panel()
    layout = ParamLayout(spec)
    theta = layout.from_natural(_tiny_params(spec))
    theta[layout.slices["reply_logits"]] = REPLY_LOGITS.ravel()
    data = prepare_panel(panel, spec)
    ev = evaluate(theta, layout, [data], scores=True)
    numeric = np.empty_like(theta)
    for j in range(theta.size):
        h = 1e-6
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        numeric[j] = (evaluate(up, layout, [data], gradient=False).loglik
                      - evaluate(down, layout, [data], gradient=False).loglik) / (2 * h)
    np.testing.assert_allclose(ev.gradient(), numeric, rtol=1e-6, atol=1e-6)
    # per-sequence scores add up to the panel's part of the gradient
    assert ev.scores is not None
    assert ev.scores.shape == (theta.size, data.n_sequences)


def _answered_panel(n_customers: int, seed: int, reply: np.ndarray, n_periods: int = 20
                    ) -> pd.DataFrame:
    """A panel from the model with every tweet answered with ``reply[v, b]`` (true voice)."""
    rng = np.random.default_rng(seed)
    truth = default_params()
    states = sample_panel(truth, n_customers, n_periods, n_brands=2,
                          reply_probs=tuple(reply[0]), random_state=seed)
    b = states["brand"].map({"brand0": 0, "brand1": 1}).to_numpy()
    states["answered_compliments"] = rng.binomial(states["compliments"], reply[1, b])
    states["answered_neutral"] = rng.binomial(states["neutral"], reply[2, b])
    return states


def test_identity_m_is_the_naive_model_times_a_state_free_reply_factor() -> None:
    panel = _answered_panel(300, 3, np.array([[0.6, 0.4], [0.2, 0.1], [0.5, 0.3]]))
    naive = RelationshipHMM(neutral=True).make_spec()
    reply = RelationshipHMM(neutral=True, reply_process=True).make_spec(("brand0", "brand1"))
    base = ModelParams(spec=naive, a=np.array([0.3, -0.6, -1.8]), c=np.array([-2.0, -0.8, 0.2]),
                       beta_c=np.array([0.35]), beta_p=np.zeros(0),
                       beta_tr=np.array([1.0, 0.5]),
                       tau=np.array([[1.0, 2.5], [-1.0, 1.5], [-2.0, -0.5]]),
                       init=np.array([[0.2], [-0.3]]), sent_mean=np.zeros(0),
                       sent_log_sd=np.zeros(0), reply_brand=np.zeros(0),
                       reply_state=np.zeros(0), neutral=np.array([-1.0, -0.7, -0.9]))
    naive_layout = ParamLayout(naive)
    naive_data = prepare_panel(panel, naive)
    naive_ll = evaluate(naive_layout.from_natural(base), naive_layout, [naive_data],
                        gradient=False).loglik
    layout = ParamLayout(reply)
    theta = layout.from_natural(base.with_spec(reply))
    logits = np.array([[0.2, -0.1], [-1.0, -1.5], [0.1, -0.6]])
    theta[layout.slices["reply_logits"]] = logits.ravel()
    data = prepare_panel(panel, reply)
    reply_ll = evaluate(theta, layout, [data], gradient=False).loglik
    # the state-free factor: Binomial(answered_ℓ; count_ℓ, p_ℓ,brand) for every label
    rows = data.frame
    code = rows["brand"].map({"brand0": 0, "brand1": 1}).to_numpy()
    factor = sum(binom.logpmf(rows[a], rows[c], expit(logits[v, code])).sum()
                 for v, (c, a) in enumerate(zip(VOICE_COLUMNS, ANSWER_COLUMNS, strict=True)))
    assert reply_ll == pytest.approx(naive_ll + factor, rel=1e-11)


def test_identity_m_fit_gives_the_naive_gamma_and_delta() -> None:
    panel = _answered_panel(200, 4, np.array([[0.6, 0.4], [0.2, 0.1], [0.5, 0.3]]),
                            n_periods=14)
    settings = {"neutral": True, "n_starts": 1, "random_state": 0, "gtol": 1e-8}
    naive = RelationshipHMM(**settings).fit(panel)
    reply = RelationshipHMM(**settings, reply_process=True).fit(panel)
    for name in ("gamma", "delta", "eta"):
        assert reply.params_[name] == pytest.approx(naive.params_[name], abs=2e-4)
        assert reply.bse_[name] == pytest.approx(naive.bse_[name], rel=2e-3)
    # the latent redress and intervention are observed under M = I: same state posteriors
    columns = ["p_poor", "p_fair", "p_good"]
    np.testing.assert_allclose(reply.predict_proba(panel)[columns].to_numpy(),
                               naive.predict_proba(panel)[columns].to_numpy(), atol=2e-3)


def test_unsupported_specifications_fail_clearly() -> None:
    with pytest.raises(ValueError, match="neutral"):
        ModelSpec(reply_process=True)
    with pytest.raises(ValueError, match="latent"):
        check_reply_spec(ModelSpec(reply_process=True, neutral=True, brands=BRANDS,
                                   transition_covariates=("intervened",
                                                          "unanswered_complaints")))
    with pytest.raises(ValueError, match="sentiment"):
        check_reply_spec(ModelSpec(reply_process=True, neutral=True, brands=BRANDS,
                                   sentiment="sentiment_mean"))


def test_spec_round_trips_with_the_reply_process() -> None:
    spec = _tiny_spec(validation=True)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert "reply_process" not in ModelSpec().to_dict()
    names, values = ParamLayout(spec).reported(_theta(spec)[1])
    reported = dict(zip(names, values, strict=True))
    assert reported["reply[complaint,b1]"] == pytest.approx(expit(REPLY_LOGITS[0, 1]))
    assert isinstance(ValidationCounts, type)


def _labelled_answered_panel(n_customers: int, seed: int, reply: np.ndarray, m: np.ndarray,
                             n_periods: int = 20) -> tuple[pd.DataFrame, ValidationCounts]:
    """Tweets answered by true voice and brand, then labelled with ``m``, tweet by tweet.

    Returns the labelled panel (label counts, answered tweets by label) and an oracle-coded
    validation sample of 600 tweets stratified by label (equal allocation).
    """
    rng = np.random.default_rng(seed + 100)
    panel = _answered_panel(n_customers, seed, reply, n_periods)
    labels = np.zeros((len(panel), 3), dtype=np.int64)
    answered = np.zeros((len(panel), 3), dtype=np.int64)
    joint = np.zeros((3, 3), dtype=np.int64)
    for v, (count, ans) in enumerate(zip(VOICE_COLUMNS, ANSWER_COLUMNS, strict=True)):
        yes = panel[ans].to_numpy()
        no = panel[count].to_numpy() - yes
        drawn_yes = rng.multinomial(yes, m[v])
        drawn_no = rng.multinomial(no, m[v])
        answered += drawn_yes
        labels += drawn_yes + drawn_no
        joint[v] += (drawn_yes + drawn_no).sum(axis=0)
    panel[list(VOICE_COLUMNS)] = labels
    panel[list(ANSWER_COLUMNS)] = answered
    panel = panel.drop(columns=["intervened", "redress", "unanswered_complaints"])
    counts = np.zeros((3, 3), dtype=np.int64)
    for ell in range(3):
        pool = np.repeat(np.arange(3), joint[:, ell])
        coded = rng.choice(pool, size=min(200, pool.size), replace=False)
        counts[:, ell] = np.bincount(coded, minlength=3)
    return panel, ValidationCounts(counts=counts, population=joint.sum(axis=0))


def test_cli_fits_the_reply_process_with_a_validation_sample(tmp_path, monkeypatch) -> None:
    """``complaintpanel hmm DIR --validation``: the reply process when the panel allows it.

    The command's wiring is tested, not the estimates: the optimiser is capped at a few
    iterations to keep the test short.
    """
    import json

    from typer.testing import CliRunner

    import complaintpanel.hmm
    from complaintpanel.cli import app
    from complaintpanel.commands import hmm as hmm_command

    class QuickHMM(RelationshipHMM):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **{**kwargs, "max_iter": 25})

    monkeypatch.setattr(complaintpanel.hmm, "RelationshipHMM", QuickHMM)

    panel, validation = _labelled_answered_panel(
        150, 7, np.array([[0.6, 0.4], [0.45, 0.3], [0.5, 0.3]]), M_TEST, n_periods=12)
    folder = tmp_path / "world"
    folder.mkdir()
    panel.to_parquet(folder / "panel.parquet")
    sheet = tmp_path / "coded.csv"
    sheet.write_text("tweet_id,voice\n1,complaint\n", encoding="utf-8")
    monkeypatch.setattr(hmm_command, "_load_validation", lambda *args: validation)
    out = tmp_path / "corrected"
    result = CliRunner().invoke(app, ["hmm", str(folder), "--out", str(out), "--starts", "1",
                                      "--validation", str(sheet)])
    assert result.exit_code == 0, result.output
    stored = json.loads((out / "hmm.json").read_text())
    assert stored["measurement"] == ("corrected for misclassification, reply process "
                                     f"modelled (validation sample n = {validation.n})")
    assert stored["measurement_correction"]["name"] == (
        "corrected for misclassification, reply process modelled")
    assert stored["spec"]["reply_process"] is True
    assert "reply[neutral,brand1]" in stored["params"]
    assert stored["naive"]["measurement"].startswith("naive")
