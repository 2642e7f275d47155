"""Sequences of very unequal length are evaluated in groups of similar length.

A real archive can hold a few customers whose first tweet is years older than the rest: padded
to the longest sequence, every customer's forward-backward then runs over hundreds of empty
periods (the SpotifyCares slice: 44x its customer-periods). :func:`length_groups` splits such a
block; the log-likelihood, the gradient and the per-sequence values must be those of the
unsplit block, in the block's own order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from complaintpanel.hmm import ParamLayout, prepare_panel, sample_panel
from complaintpanel.hmm import likelihood as lk
from complaintpanel.model import ModelSpec, default_params


def test_length_groups_known_answer() -> None:
    lengths = np.array([1, 5, 2, 20, 3, 18, 11, 10])
    assert lk.length_groups(lengths) is None  # 2.3x padding: below the default 4x
    groups = lk.length_groups(lengths, padding=1.5)
    assert groups is not None
    # sorted 20 18 11 | 10 | 5 3 | 2 | 1: a group ends before half its longest
    assert [g.tolist() for g in groups] == [[3, 5, 6], [7], [1, 4], [2], [0]]
    # each group's longest is less than twice its shortest: at most 2x padding per group
    for group in groups:
        assert lengths[group].max() < 2 * lengths[group].min()


def test_length_groups_leave_even_blocks_whole() -> None:
    assert lk.length_groups(np.array([26, 24, 22, 19, 26])) is None  # the simulated world
    assert lk.length_groups(np.array([4])) is None
    # padding: 120 cells for 25 customer-periods (4.8x): split
    assert lk.length_groups(np.array([20, 1, 1, 1, 1, 1])) is not None
    assert lk.length_groups(np.array([20, 1, 1, 1, 1, 1]), padding=5.0) is None


@pytest.fixture(scope="module")
def uneven_panel() -> pd.DataFrame:
    """A simulated panel cut so that most histories last 1-4 periods and six all 30."""
    params = default_params().replace(neutral=None)
    panel = sample_panel(params, 300, 30, random_state=4)
    keys = ["customer_id", "brand"]
    pairs = panel[keys].drop_duplicates().reset_index(drop=True)
    rng = np.random.default_rng(0)
    keep = rng.integers(1, 5, len(pairs))
    keep[::50] = 30  # six long histories, two in each block of 100
    pairs["keep"] = keep
    panel = panel.merge(pairs, on=keys)
    position = panel.sort_values("period").groupby(keys).cumcount()
    return panel[position.sort_index() < panel["keep"]].drop(columns="keep")


@pytest.mark.parametrize("first_contact", ["state", "joint"])
def test_grouped_evaluation_equals_whole_block(uneven_panel: pd.DataFrame, first_contact: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ModelSpec(first_contact=first_contact)
    layout = ParamLayout(spec)
    data = prepare_panel(uneven_panel, spec)
    chunks = data.chunks(100)  # several blocks, each split by length
    assert all(lk.length_groups(chunk.lengths) is not None for chunk in chunks)
    theta = np.random.default_rng(1).normal(0, 0.3, layout.n_params)
    grouped = lk.evaluate(theta, layout, chunks, scores=True)
    monkeypatch.setattr(lk, "length_groups", lambda lengths: None)
    whole = lk.evaluate(theta, layout, chunks, scores=True)
    np.testing.assert_allclose(grouped.loglik_seq, whole.loglik_seq, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grouped.scores, whole.scores, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grouped.grad, whole.grad, rtol=1e-10, atol=1e-10)
    assert grouped.loglik == pytest.approx(whole.loglik, rel=1e-13)
