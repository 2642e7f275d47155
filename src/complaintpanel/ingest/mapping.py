"""Declarative column mappings (TOML) that turn another layout into the TWCS fields.

A mapping names, for each target field, the source column that holds it (``[columns]``), or gives
a constant (``[constants]``, e.g. ``inbound = true`` for customer-only files), lists extra columns
to carry along verbatim (``[extra] columns``), the brand handles to keep in text
(``[brands] handles``) and the handles that are brand accounts whatever the layout says of their
tweets (``[brands] authors``, e.g. a brand's main account answering inside a care conversation).
``[checks] response_list`` names a column of reply ids that is never used (reply links come from
the parent column) but, when the file has it, is checked for spreadsheet damage (e.g.
``"17,751,776"`` for ``1775,1776``) and flagged per row.
``format = "json_conversations"`` reads nested conversation JSON instead (``[conversation]``,
see ``mappings/ibm_docpred.toml``). Built-in mappings live in
``complaintpanel/ingest/mappings/*.toml``; a user passes their own file with ``--mapping PATH``.

Source column names match the file's header in any case, surrounding spaces ignored
(``tweet_id`` reads a column ``TWEET_ID``); a file with two columns that differ only in case
where the mapping needs one is refused as ambiguous, naming both. A malformed mapping (a TOML
syntax error, with its line; a key of the wrong type; a missing file) is a :class:`MappingError`.
"""

from __future__ import annotations

import re
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
             "conversation", "assume_timezone", "parent", "checks"}


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
    brand_authors : tuple of str
        Handles that are brand accounts (any case): their tweets are brand tweets even where
        the layout marks them as a customer's, and they are kept in text.
    assume_timezone : str or None
        Offset (e.g. ``"+00:00"``) for timestamps written without one; ``None`` rejects them.
    conversation : dict
        The ``[conversation]`` table of a ``json_conversations`` mapping.
    parent_columns, parent_constants : dict
        For layouts whose records also describe the tweet they answer (reply pairs): the
        ``[parent.columns]`` and ``[parent.constants]`` of that tweet. Such parent tweets are
        added once each (first record wins) and flagged ``derived``; they are not records.
    response_list : str or None
        Optional source column of response ids (``[checks] response_list``): read only when the
        file has it, never used for links, checked for spreadsheet damage and flagged per row.
    """

    name: str
    format: Literal["table", "json_conversations"] = "table"
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    extra_columns: tuple[str, ...] = ()
    brand_handles: tuple[str, ...] = ()
    brand_authors: tuple[str, ...] = ()
    assume_timezone: str | None = None
    conversation: dict[str, Any] = field(default_factory=dict)
    parent_columns: dict[str, str] = field(default_factory=dict)
    parent_constants: dict[str, Any] = field(default_factory=dict)
    response_list: str | None = None
    source: str = ""

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Source columns the input must contain (mapped fields and extras)."""
        return tuple(dict.fromkeys([*self.columns.values(), *self.parent_columns.values(),
                                    *self.extra_columns]))


def _table(raw: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise MappingError(f"[{key}] must be a table, not {type(value).__name__}", file=source)
    return value


def _strings(table: dict[str, Any], key: str, where: str, source: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MappingError(f"{where}.{key} must be a list of strings", file=source)
    return tuple(value)


def _column_names(table: dict[str, Any], where: str, source: str) -> dict[str, str]:
    for target, column in table.items():
        if not isinstance(column, str):
            raise MappingError(f"{where}.{target} must be a string (a column name), not "
                               f"{type(column).__name__}", file=source)
    return dict(table)


def _from_dict(raw: dict[str, Any], source: str) -> Mapping:
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise MappingError(f"unknown key(s) {unknown}; known: {sorted(_TOP_KEYS)}", file=source)
    fmt = raw.get("format", "table")
    if fmt not in ("table", "json_conversations"):
        raise MappingError(f"format must be 'table' or 'json_conversations', not {fmt!r}",
                           file=source)
    columns = _column_names(_table(raw, "columns", source), "columns", source)
    constants = _table(raw, "constants", source)
    targets = set(REQUIRED_FIELDS) | set(OPTIONAL_FIELDS)
    bad = sorted((set(columns) | set(constants)) - targets)
    if bad:
        raise MappingError(f"unknown target field(s) {bad}; known: {sorted(targets)}",
                           file=source)
    if fmt == "table":
        missing = [f for f in REQUIRED_FIELDS if f not in columns and f not in constants]
        if missing:
            raise MappingError(f"no column or constant for required field(s) {missing}",
                               file=source)
    parent = _table(raw, "parent", source)
    parent_columns = _column_names(_table(parent, "columns", source), "parent.columns", source)
    parent_constants = _table(parent, "constants", source)
    if parent:
        given = set(parent_columns) | set(parent_constants)
        missing = [f for f in REQUIRED_FIELDS if f not in given]
        if missing or not given <= set(REQUIRED_FIELDS):
            raise MappingError(f"[parent] needs exactly {list(REQUIRED_FIELDS)}", file=source)
    conversation = _table(raw, "conversation", source)
    if fmt == "json_conversations" and not conversation.get("turns"):
        raise MappingError("a json_conversations mapping needs [[conversation.turns]]",
                           file=source)
    brands = _table(raw, "brands", source)
    timezone = raw.get("assume_timezone")
    if timezone is not None and not isinstance(timezone, str):
        raise MappingError("assume_timezone must be a string such as \"+00:00\"", file=source)
    checks = _table(raw, "checks", source)
    response_list = checks.get("response_list")
    if set(checks) - {"response_list"} or not isinstance(response_list, str | None):
        raise MappingError("[checks] takes one key, response_list = \"column name\"",
                           file=source)
    return Mapping(
        name=str(raw.get("name", Path(source).stem)),
        format=fmt,
        description=str(raw.get("description", "")),
        columns=columns,
        constants=constants,
        extra_columns=_strings(_table(raw, "extra", source), "columns", "extra", source),
        brand_handles=_strings(brands, "handles", "brands", source),
        brand_authors=_strings(brands, "authors", "brands", source),
        assume_timezone=timezone,
        conversation=dict(conversation),
        parent_columns=parent_columns,
        parent_constants=dict(parent_constants),
        response_list=response_list,
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
    """Load a built-in mapping by name (see :func:`builtin_mappings`) or a TOML file.

    Raises
    ------
    MappingError
        When the file is missing or malformed (a TOML syntax error names its line) or the name
        is unknown.
    """
    path = Path(name_or_path)
    known = sorted(builtin_mappings())
    if path.suffix == ".toml" or path.exists() or str(name_or_path).endswith(("/", "\\")):
        if path.is_dir():
            raise MappingError(f"is a folder, not a mapping file (TOML); built-in mappings: "
                               f"{', '.join(known)}", file=path)
        try:
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
        except FileNotFoundError:
            raise MappingError(f"no such mapping file; built-in mappings: {', '.join(known)}",
                               file=path) from None
        except OSError as error:
            raise MappingError(f"cannot read the mapping file ({error.strerror or error})",
                               file=path) from None
        except UnicodeDecodeError:
            raise MappingError("is not a TOML file (not UTF-8 text)", file=path) from None
        except tomllib.TOMLDecodeError as error:
            raise MappingError(_toml_problem(error), file=path) from None
        return _from_dict(raw, str(path))
    if str(name_or_path) not in known:
        raise MappingError(f"unknown mapping {name_or_path!r}; built-in: {known}, or give the "
                           "path of a TOML file")
    return builtin_mappings()[str(name_or_path)]


def _toml_problem(error: tomllib.TOMLDecodeError) -> str:
    """``TOML syntax error at line L, column C: what`` from the parser's message."""
    message = str(error)
    where = re.search(r"\(at line (\d+), column (\d+)\)", message)
    what = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    if where:
        return f"TOML syntax error at line {where[1]}, column {where[2]}: {what}"
    return f"TOML syntax error: {message}"
