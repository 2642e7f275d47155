"""Progress reporting for long stages: a tqdm bar on a terminal, plain lines in logs.

``make all`` is often run with its output sent to a log file, where a redrawn bar turns into
noise; there each step prints one line (``hmm starts: 2/5``) instead.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["track"]

T = TypeVar("T")


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items`` while reporting progress on standard error.

    Parameters
    ----------
    items : iterable
    description : str
        What is being counted, e.g. ``"hmm starts"``.
    total : int, optional
        Number of items, when ``items`` has no length.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        yield from tqdm(items, desc=description, total=total, leave=False)
        return
    for done, item in enumerate(items, start=1):
        yield item
        print(f"{description}: {done}/{total if total is not None else '?'}", file=sys.stderr,
              flush=True)
