"""The observations a fixed-effects model can learn from (shared by the estimators).

An observation alone in one of its fixed-effect groups (a singleton) is fitted exactly by its
own effect and says nothing about the coefficients; in a Poisson model, so does a group whose
count is zero throughout (its effect is −∞). pyfixest drops them too — and when that leaves
nothing, its demeaning aborts the whole process (a panic in its Rust code, not a Python
exception), so the estimators check first, on the rows this module keeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["informative_rows"]


def informative_rows(sample: pd.DataFrame, effects: Sequence[str], outcome: str, *,
                     poisson: bool = False) -> pd.DataFrame:
    """Drop singletons (and all-zero groups for a Poisson model) until none is left.

    Parameters
    ----------
    sample : DataFrame
        The estimation sample.
    effects : sequence of str
        Columns of the fixed effects.
    outcome : str
        The outcome column (for the all-zero groups of a Poisson model).
    poisson : bool
        Also drop groups whose outcome is zero throughout.

    Returns
    -------
    DataFrame
        The rows that inform the coefficients (possibly none).
    """
    kept = sample
    while len(kept):
        drop = np.zeros(len(kept), dtype=bool)
        for effect in effects:
            groups = kept.groupby(effect)[outcome]
            drop |= (groups.transform("size") == 1).to_numpy()
            if poisson:
                drop |= (groups.transform("sum") == 0).to_numpy()
        if not drop.any():
            break
        kept = kept[~drop]
    return kept
