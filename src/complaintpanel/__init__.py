"""complaintpanel: customer voice and firm intervention on Twitter.

A reproduction package for Ma, Sun & Kekre (2015), "The Squeaky Wheel Gets the Grease",
*Marketing Science* 34(5). The data flow is one-directional::

    raw → tweets → exchanges → voiced → panel → estimates → figures/tables → paper

with one module per stage (``ingest``, ``thread``, ``label``, ``panel``, ``estimate``, ``hmm``,
``report``) and a simulator (``simulate``) that provides the embedded default data.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("complaintpanel")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
