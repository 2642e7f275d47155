"""Whole-run drivers that chain several stages with one choice varied.

* :mod:`.robustness` — label → panel → estimate again for each robustness specification
  (period length, activity filter, classifier, treatment definition).
"""
