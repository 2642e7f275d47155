"""The true voice of the answered week: ŵ, ĉ and the adjusted design-based estimate (issue 15).

Known answers: ŵ[ℓ, a] and its binomial standard errors on a hand-made coded sample (and a cell
without codes falling back to its label's share); ĉ on hand-made weeks; M̂ post-stratified for
a sample stratified by label × answered; old design records without the answered status read
it from voiced. And on a synthetic two-week world built so that the confounding is strong and
the adjustment's assumptions hold exactly (independent tweets, an outcome linear in TC,
constant effects), the adjusted estimate recovers the known effects on the true counts while
the M⁻ᵀ correction alone does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from complaintpanel.config import EstimateConfig
from complaintpanel.estimate import add_model_columns
from complaintpanel.estimate.measurement import (
    corrected_design_voice_control,
    link_coded_tweets,
    true_complaint_probability,
)
from complaintpanel.estimate.run import misclassification_estimates
from complaintpanel.label.validation import (
    CodedTweets,
    allocate,
    coded_tweets,
    draw_validation_sample,
    validation_counts,
)
from complaintpanel.model.measurement import VOICES
from complaintpanel.panel import build_panel


def _tweets(rows: list[tuple[str, bool, str, int]]) -> pd.DataFrame:
    """(label, answered, true voice, how many) → one row per coded tweet."""
    out = [(label, answered, voice) for label, answered, voice, k in rows for _ in range(k)]
    frame = pd.DataFrame(out, columns=["predicted", "answered", "voice"])
    frame["stratum"] = frame["predicted"]
    return frame


HAND = _tweets([
    ("complaint", True, "complaint", 18), ("complaint", True, "neutral", 2),
    ("complaint", False, "complaint", 27), ("complaint", False, "compliment", 3),
    ("compliment", True, "complaint", 1), ("compliment", True, "compliment", 3),
    ("compliment", False, "compliment", 20),
    ("neutral", False, "complaint", 5), ("neutral", False, "neutral", 15),
])
# N[ℓ, a]: unanswered, answered; answered neutral tweets exist but none was coded
HAND_CENSUS = np.array([[300, 200], [400, 40], [900, 100]])


def test_w_and_its_standard_errors_by_hand() -> None:
    coded = CodedTweets(HAND, pd.Series({v: int(n) for v, n in
                                         zip(VOICES, HAND_CENSUS.sum(axis=1), strict=True)}),
                        HAND_CENSUS)
    w, se = coded.complaint_probability()
    expected = np.array([[27 / 30, 18 / 20], [0 / 20, 1 / 4], [5 / 20, 5 / 20]])
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    np.testing.assert_allclose(se[0], [np.sqrt(0.9 * 0.1 / 30), np.sqrt(0.9 * 0.1 / 20)])
    np.testing.assert_allclose(se[1], [0.0, np.sqrt(0.25 * 0.75 / 4)])
    # the empty cell (neutral, answered) takes its label's pooled share: only the unanswered
    # cell was coded, so the share and its standard error are that cell's
    np.testing.assert_allclose(se[2], [np.sqrt(0.25 * 0.75 / 20)] * 2)


def test_c_hat_by_hand() -> None:
    w = np.array([[0.9, 0.95], [0.05, 0.2], [0.1, 0.3]])
    weeks = pd.DataFrame({
        "answered_complaints": [1, 0, 0, 2], "unanswered_complaints": [1, 0, 0, 0],
        "compliments": [2, 0, 1, 0], "answered_compliments": [1, 0, 0, 0],
        "neutral": [1, 0, 0, 1], "answered_neutral": [0, 0, 0, 1]})
    c_hat = true_complaint_probability(weeks, w).to_numpy()
    expected = [1 - 0.1 * 0.05 * 0.95 * 0.8 * 0.9, 0.0, 0.05, 1 - 0.05**2 * 0.7]
    np.testing.assert_allclose(c_hat, expected, rtol=1e-12)


def _voiced(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.choice(list(VOICES), size=n, p=[0.5, 0.2, 0.3])
    return pd.DataFrame({"tweet_id": [f"t{i}" for i in range(n)], "voice": labels,
                         "brand_replied": rng.random(n) < np.where(labels == "complaint", 0.6,
                                                                   0.05)})


def test_label_answered_design_is_post_stratified() -> None:
    voiced = _voiced(4000, 1)
    design = draw_validation_sample(voiced, 600, seed=3, strata="label_answered")
    cells = [(v, a) for v in VOICES for a in (False, True)]
    census = voiced.groupby(["voice", "brand_replied"]).size()
    sizes = allocate(np.array([census[cell] for cell in cells]), 600, "equal")
    assert sizes.sum() == 600 and min(sizes) < 100  # small strata taken whole
    drawn = design.sample.groupby(["predicted", "answered"]).size()
    assert [int(drawn[cell]) for cell in cells] == sizes.tolist()
    assert design.extra["strata"] == "label_answered"
    # code: a true complaint exactly when answered (so the strata differ sharply)
    coded = pd.DataFrame({"tweet_id": design.sample["tweet_key"],
                          "voice": np.where(design.sample["answered"], "complaint", "neutral")})
    counts = validation_counts(coded, design)
    for ell, label in enumerate(VOICES):
        share_answered = census[(label, True)] / census[label].sum()
        q = counts.q_hat()[:, ell]
        assert q[0] == pytest.approx(share_answered, rel=1e-12)  # not the sample's 1/2
        assert q[2] == pytest.approx(1 - share_answered, rel=1e-12)
    # a label-stratified draw is unchanged by the answered status (same seed, same sample)
    plain = draw_validation_sample(voiced.drop(columns="brand_replied"), 600, seed=3)
    with_answered = draw_validation_sample(voiced, 600, seed=3)
    assert plain.sample["tweet_key"].tolist() == with_answered.sample["tweet_key"].tolist()
    assert "answered" in with_answered.sample


def test_old_design_without_answered_reads_it_from_voiced() -> None:
    voiced = _voiced(2000, 2)
    design = draw_validation_sample(voiced, 300, seed=4)
    coded = pd.DataFrame({"tweet_id": design.sample["tweet_key"], "voice": "complaint"})
    new = coded_tweets(coded, design, voiced)
    old_design = type(design)(design.sample.drop(columns=["answered", "stratum"]),
                              design.population, design.allocated, design.allocation,
                              design.seed)
    old = coded_tweets(coded, old_design, voiced)
    pd.testing.assert_frame_equal(new.tweets, old.tweets)
    np.testing.assert_array_equal(old.cell_population, [
        [int(((voiced["voice"] == v) & (voiced["brand_replied"] == a)).sum())
         for a in (False, True)] for v in VOICES])


# A synthetic two-week world: week 0 holds the treated complaints, week 1 the outcomes.
M_TRUE = np.array([[0.85, 0.05, 0.10], [0.02, 0.90, 0.08], [0.25, 0.10, 0.65]])
ANSWER = {"complaint": 0.7, "compliment": 0.05, "neutral": 0.05}  # strong confounding by TC
EFFECT = {"complaint": -0.2, "compliment": 0.15}  # of answering, on next week's true counts
BASE = {"complaint": 0.2, "compliment": 0.3, "neutral": 0.3}
TC_SHIFT = {"complaint": 1.0, "compliment": -0.2, "neutral": 0.0}  # outcome given TC


def _labels(rng: np.random.Generator, true: np.ndarray) -> np.ndarray:
    """Each tweet labelled independently given its true voice, by M_TRUE."""
    cumulative = np.cumsum(M_TRUE[true], axis=1)
    return (rng.random(len(true))[:, None] > cumulative).sum(axis=1)


def _world(customers: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday
    # week 0: 1 + Poisson(0.5) tweets per customer, true voices iid, answered by true voice
    k = 1 + rng.poisson(0.5, customers)
    owner = np.repeat(np.arange(customers), k)
    order = np.arange(owner.size) - np.repeat(np.cumsum(k) - k, k)
    true0 = rng.choice(len(VOICES), size=owner.size, p=[0.40, 0.15, 0.45])
    answered = rng.random(owner.size) < np.array([ANSWER[v] for v in VOICES])[true0]
    label0 = _labels(rng, true0)
    has_complaint = np.bincount(owner, weights=true0 == 0, minlength=customers) > 0
    # the treatment: a tweet labelled complaint answered
    treated = np.bincount(owner, weights=answered & (label0 == 0), minlength=customers) > 0
    # week 1: true counts Poisson, shifted by TC and by the effect of answering
    owners1, true1 = [], []
    for i, voice in enumerate(VOICES):
        rate = BASE[voice] + TC_SHIFT[voice] * has_complaint + EFFECT.get(voice, 0.0) * treated
        n = rng.poisson(np.clip(rate, 0, None))
        owners1.append(np.repeat(np.arange(customers), n))
        true1.append(np.full(n.sum(), i))
    owner1, true_1 = np.concatenate(owners1), np.concatenate(true1)
    order1 = np.arange(owner1.size)  # distinct hours within the week
    voiced = pd.DataFrame({
        "customer_id": np.concatenate([owner, owner1]).astype(str),
        "created_at": np.concatenate([
            start + pd.to_timedelta(1 + 10 * order, unit="h"),
            start + pd.Timedelta(days=7) + pd.to_timedelta(order1 % 100, unit="min")]),
        "voice": np.array(VOICES)[np.concatenate([label0, _labels(rng, true_1)])],
        "brand_replied": np.concatenate([answered, np.zeros(owner1.size, dtype=bool)])})
    voiced["customer_id"] = "c" + voiced["customer_id"]
    voiced["tweet_id"] = [f"t{i}" for i in range(len(voiced))]
    voiced["brand"] = "acme"
    voiced["sentiment"] = 0.0
    voiced["reply_latency_h"] = np.where(voiced["brand_replied"], 1.0, np.nan)
    voiced["classifier"] = "synthetic"
    voiced["classifier_version"] = "0"
    truth = np.array(VOICES)[np.concatenate([true0, true_1])]
    return voiced, pd.DataFrame({"tweet_id": voiced["tweet_id"], "voice": truth})


@pytest.fixture(scope="module")
def synthetic():
    voiced, truth = _world(customers=12000, seed=7)
    week0 = voiced[voiced["created_at"] < pd.Timestamp("2024-01-08", tz="UTC")]
    design = draw_validation_sample(week0, 2400, seed=5)
    codes = truth.set_index("tweet_id").loc[design.sample["tweet_key"], "voice"]
    coded = coded_tweets(pd.DataFrame({"tweet_id": design.sample["tweet_key"],
                                       "voice": codes.to_numpy()}), design, week0)
    data = add_model_columns(build_panel(voiced))
    return data, coded


@pytest.fixture(scope="module")
def adjusted(synthetic):
    data, coded = synthetic
    return corrected_design_voice_control(data, coded, horizon=0)


def test_coded_tweets_link_to_their_week(synthetic) -> None:
    data, coded = synthetic
    rows = link_coded_tweets(coded.tweets, data)
    assert (rows >= 0).all()
    assert (data["period"].to_numpy()[rows] == 0).all()
    assert (data["customer_id"].to_numpy()[rows] == coded.tweets["customer_id"].to_numpy()).all()


def test_adjustment_recovers_the_effects_the_m_correction_alone_misses(synthetic,
                                                                       adjusted) -> None:
    """Known effects −0.2 (complaints) and +0.15 (compliments) on the true counts.

    Answered weeks hold far more true complaints (answer rate 0.6 vs 0.1), and a true
    complaint raises next week's complaints by 0.6 and lowers compliments by 0.2: the M⁻ᵀ
    correction alone is biased by several standard errors; the adjusted estimate is within
    three of the truth.
    """
    data, coded = synthetic
    plain = corrected_design_voice_control(data, coded, horizon=0, replicates=10,
                                           method="none")
    for outcome, effect in EFFECT.items():
        fixed = adjusted.term(outcome=f"{outcome}s", lead=0)
        raw = plain.term(outcome=f"{outcome}s", lead=0)
        assert abs(fixed["estimate"] - effect) < 3 * fixed["se"], (outcome, fixed)
        assert abs(raw["estimate"] - effect) > 3 * raw["se"], (outcome, raw)
    b_hat = adjusted.info["b_hat"]
    # b on the counts LABELLED complaint: Σ_v TC_SHIFT[v] M[v, complaint] = 0.846
    b_labelled = sum(TC_SHIFT[v] * M_TRUE[i, 0] for i, v in enumerate(VOICES))
    assert b_hat["complaints"][0] == pytest.approx(b_labelled, abs=0.25)
    # the validation sample's uncertainty is added to the panel's
    assert (adjusted.bse > plain.bse).all()


def test_run_reports_the_adjusted_estimate_beside_the_corrected_one(synthetic,
                                                                    adjusted) -> None:
    data, coded = synthetic
    settings = EstimateConfig(horizon=0)
    out = misclassification_estimates(data, coded.validation_counts(), settings,
                                      with_event_studies=False, validation_tweets=coded)
    reported = out["design_corrected_voice_adjusted"]
    assert reported.model == "answered_vs_unanswered_corrected_voice_adjusted"
    pd.testing.assert_series_equal(reported.params, adjusted.params)
    pd.testing.assert_series_equal(reported.bse, adjusted.bse)  # same bootstrap seed
    assert set(reported.params.index) == set(out["design_corrected"].params.index)
    assert "design_corrected_voice_adjusted" not in misclassification_estimates(
        data, coded.validation_counts(), settings, with_event_studies=False,
        naive_design=out["design_naive"])
