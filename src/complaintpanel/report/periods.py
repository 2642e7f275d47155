"""Words for the panel's period ("week", "month", "day") in table and figure labels.

The panel stage records its period in ``panel_report.json``; the estimate stage copies it into
``estimates.json`` (``settings.period``). Reports name it instead of assuming weeks, so a
monthly panel gives tables that say "Outcome month" and "customer-months".
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PeriodWords", "period_words"]

_ADJECTIVES = {"day": "daily", "week": "weekly", "month": "monthly"}


@dataclass(frozen=True)
class PeriodWords:
    """How to say the panel's period.

    Attributes
    ----------
    noun : str
        ``"day"``, ``"week"``, ``"month"``, or ``"period"`` when unknown.
    """

    noun: str

    @property
    def plural(self) -> str:
        """``"weeks"``."""
        return f"{self.noun}s"

    @property
    def title(self) -> str:
        """``"Week"``."""
        return self.noun.capitalize()

    @property
    def title_plural(self) -> str:
        """``"Weeks"``."""
        return self.plural.capitalize()

    @property
    def adjective(self) -> str:
        """``"weekly"`` (``"per-period"`` when the period is unknown)."""
        return _ADJECTIVES.get(self.noun, f"per-{self.noun}")


def period_words(period: str | None) -> PeriodWords:
    """Words for ``period`` (a panel's ``"day"``, ``"week"`` or ``"month"``; else "period")."""
    return PeriodWords(period if period in _ADJECTIVES else "period")
