"""Declarative column mappings (TOML) that turn another layout into the TWCS fields.

A mapping names, for each target field, the source column that holds it (``[columns]``), or gives
a constant (``[constants]``, e.g. ``inbound = true`` for customer-only files), lists extra columns
to carry along verbatim (``[extra] columns``) and the brand handles to keep in text
(``[brands] handles``). ``format = "json_conversations"`` reads nested conversation JSON instead
(``[conversation]``, see ``mappings/ibm_docpred.toml``). Built-in mappings live in
``complaintpanel/ingest/mappings/*.toml``; a user passes their own file with ``--mapping PATH``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from complaintpanel.errors import PipelineError

__all__ = [
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "IngestError",
    "Mapping",
    "MappingError",
    "builtin_mappings",
    "load_mapping",
]

# Target fields of one raw record (DESIGN.md §2.1). `inbound` may be a constant instead of a column.
REQUIRED_FIELDS = ("tweet_id", "author_id", "inbound", "created_at")
OPTIONAL_FIELDS = ("text", "in_reply_to", "brand")
_TOP_KEYS = {"name", "description", "format", "columns", "constants", "extra", "brands",
             "conversation", "assume_timezone", "parent"}


class IngestError(PipelineError):
    """The input is not conversation data the reader can use; nothing has been written."""


class MappingError(PipelineError, ValueError):
    """A mapping file is malformed (unknown keys, missing fields)."""


@dataclass(frozen=True)
class Mapping:
    """How to read one source layout.

    Attributes
    ----------
    name : str
        Short name (the file stem for built-ins).
    format : {"table", "json_conversations"}
        ``table``: CSV (plain or gzip) or Parquet, one record per tweet.
    columns : dict
        Target field → source column.
    constants : dict
        Target field → constant value (``inbound = true``).
    extra_columns : tuple of str
        Source columns copied verbatim into ``tweets.parquet`` (and on into exchanges).
    brand_handles : tuple of str
        Brand handles kept in text and used to find the addressed brand.
    assume_timezone : str or None
        Offset (e.g. ``"+00:00"``) for timestamps written without one; ``None`` rejects them.
    conversation : dict
        The ``[conversation]`` table of a ``json_conversations`` mapping.
    parent_columns, parent_constants : dict
        For layouts whose records also describe the tweet they answer (reply pairs): the
        ``[parent.columns]`` and ``[parent.constants]`` of that tweet. Such parent tweets are
        added once each (first record wins) and flagged ``derived``; they are not records.
    """

    name: str
    format: Literal["table", "json_conversations"] = "table"
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    extra_columns: tuple[str, ...] = ()
    brand_handles: tuple[str, ...] = ()
    assume_timezone: str | None = None
    conversation: dict[str, Any] = field(default_factory=dict)
    parent_columns: dict[str, str] = field(default_factory=dict)
    parent_constants: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Source columns the input must contain (mapped fields and extras)."""
        return tuple(dict.fromkeys([*self.columns.values(), *self.parent_columns.values(),
                                    *self.extra_columns]))


def _from_dict(raw: dict[str, Any], source: str) -> Mapping:
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise MappingError(f"{source}: unknown key(s) {unknown}; known: {sorted(_TOP_KEYS)}")
    fmt = raw.get("format", "table")
    if fmt not in ("table", "json_conversations"):
        raise MappingError(f"{source}: format must be 'table' or 'json_conversations', not {fmt!r}")
    columns = dict(raw.get("columns", {}))
    constants = dict(raw.get("constants", {}))
    targets = set(REQUIRED_FIELDS) | set(OPTIONAL_FIELDS)
    bad = sorted((set(columns) | set(constants)) - targets)
    if bad:
        raise MappingError(f"{source}: unknown target field(s) {bad}; known: {sorted(targets)}")
    if fmt == "table":
        missing = [f for f in REQUIRED_FIELDS if f not in columns and f not in constants]
        if missing:
            raise MappingError(f"{source}: no column or constant for required field(s) {missing}")
    parent = raw.get("parent", {})
    if parent:
        given = set(parent.get("columns", {})) | set(parent.get("constants", {}))
        missing = [f for f in REQUIRED_FIELDS if f not in given]
        if missing or not given <= set(REQUIRED_FIELDS):
            raise MappingError(f"{source}: [parent] needs exactly {list(REQUIRED_FIELDS)}")
    if fmt == "json_conversations" and not raw.get("conversation", {}).get("turns"):
        raise MappingError(f"{source}: a json_conversations mapping needs [[conversation.turns]]")
    return Mapping(
        name=str(raw.get("name", Path(source).stem)),
        format=fmt,
        description=str(raw.get("description", "")),
        columns=columns,
        constants=constants,
        extra_columns=tuple(raw.get("extra", {}).get("columns", ())),
        brand_handles=tuple(raw.get("brands", {}).get("handles", ())),
        assume_timezone=raw.get("assume_timezone"),
        conversation=dict(raw.get("conversation", {})),
        parent_columns=dict(parent.get("columns", {})),
        parent_constants=dict(parent.get("constants", {})),
        source=source,
    )


def builtin_mappings() -> dict[str, Mapping]:
    """All mappings shipped in ``complaintpanel/ingest/mappings``, by name (``twcs`` first)."""
    folder = resources.files("complaintpanel.ingest") / "mappings"
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda p: (p.name != "twcs.toml", p.name)):
        if entry.name.endswith(".toml"):
            found[entry.name[:-5]] = _from_dict(tomllib.loads(entry.read_text()), entry.name)
    return found


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Load a built-in mapping by name (``twcs``, ``airline``, ``ibm_docpred``) or a TOML file.

    Raises
    ------
    MappingError
        When the file is malformed or the name is unknown.
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        with path.open("rb") as handle:
            return _from_dict(tomllib.load(handle), str(path))
    known = builtin_mappings()
    if str(name_or_path) not in known:
        raise MappingError(f"unknown mapping {name_or_path!r}; built-in: {sorted(known)}")
    return known[str(name_or_path)]
