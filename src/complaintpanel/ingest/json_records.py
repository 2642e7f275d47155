"""Conversation JSON (e.g. IBM's customer-care data) → one string record per turn, in DuckDB.

A ``json_conversations`` mapping (``mappings/ibm_docpred.toml``) names, with dotted paths, where a
conversation keeps its brand and its turns; each turn becomes one record, numbered in file order
(the turns of the first conversation, then the second's, …). Who wrote a turn comes from which
key holds the author (``client``/``client1`` → customer, ``agent`` → brand) or from the mapping
(``author = "brand"``). Conversations are read with Python's ``json`` (such files are small);
the records then go through the same validation as CSV rows.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from complaintpanel.ingest.mapping import (
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    IngestError,
    Mapping,
)

__all__ = ["flatten_conversations", "load_json", "snowflake_time"]

_TWITTER_EPOCH_MS = 1_288_834_974_657  # snowflake ids: (id >> 22) ms after this instant


# ---------------------------------------------------------------------------------------------
def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def snowflake_time(tweet_id: str | None) -> str | None:
    """Creation time (ISO 8601, UTC, whole seconds) encoded in a Twitter snowflake id."""
    if tweet_id is None or not str(tweet_id).isdigit():
        return None
    millis = (int(tweet_id) >> 22) + _TWITTER_EPOCH_MS
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=millis // 1000)
    return (f"{when.year:04d}-{when.month:02d}-{when.day:02d}T"
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}+00:00")


def flatten_conversations(conversations: list[Any], mapping: Mapping
                          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Turn a list of conversations into one record per turn, numbered in file order.

    Returns
    -------
    records : list of dict
        Target fields as strings plus ``source_row``.
    rejects : list of dict
        Conversations that are not objects (one reject record each).
    """
    spec = mapping.conversation
    records: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    row = 0
    for position, conversation in enumerate(conversations):
        if not isinstance(conversation, dict):
            row += 1
            rejects.append({"source_row": row, "reason": "malformed_conversation",
                            "detail": f"element {position} is not an object"})
            continue
        brand = _scalar(_get(conversation, spec["brand"])) if "brand" in spec else None
        previous: str | None = None
        for turn_spec in spec["turns"]:
            found = _get(conversation, turn_spec["path"])
            turns = found if isinstance(found, list) else [] if found is None else [found]
            for turn in turns:
                row += 1
                rec = _turn_record(turn, turn_spec, brand)
                rec["source_row"] = row
                if spec.get("in_reply_to") == "previous_turn":
                    rec["in_reply_to"] = previous
                    previous = rec["tweet_id"]
                records.append(rec)
    return records, rejects


def _turn_record(turn: Any, spec: dict[str, Any], brand: str | None) -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys((*REQUIRED_FIELDS, *OPTIONAL_FIELDS))
    rec["brand"] = brand
    if not isinstance(turn, dict):
        return rec
    rec["tweet_id"] = _scalar(turn.get(spec["tweet_id"]))
    rec["text"] = _scalar(turn.get(spec.get("text", "text")))
    created = str(spec.get("created_at", "created_at"))
    if created.startswith("snowflake:"):
        rec["created_at"] = snowflake_time(_scalar(turn.get(created.split(":", 1)[1])))
    else:
        rec["created_at"] = _scalar(turn.get(created))
    if spec.get("author") == "brand":
        rec["author_id"], rec["inbound"] = brand, "false"
        return rec
    for key in spec.get("customer_keys", ()):
        if turn.get(key) is not None:
            rec["author_id"], rec["inbound"] = _scalar(turn[key]), "true"
            return rec
    for key in spec.get("brand_keys", ()):
        if turn.get(key) is not None:
            rec["author_id"], rec["inbound"] = _scalar(turn[key]), "false"
            return rec
    return rec


def load_json(con: duckdb.DuckDBPyConnection, path: Path, mapping: Mapping) -> dict[str, int]:
    """Create ``records`` and ``parse_rejects`` from a JSON list of conversations.

    Returns
    -------
    dict
        ``{"conversations": n}``.

    Raises
    ------
    IngestError
        When the file is not valid JSON or not a list.
    """
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except UnicodeDecodeError as error:
        raise IngestError(f"not valid JSON: not UTF-8 text (byte {error.start}); a JSON file "
                          "is one document, read whole or not at all", file=path) from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise IngestError(f"not valid JSON ({str(error)[:200]})", file=path) from None
    if not isinstance(data, list):
        raise IngestError(f"expected a JSON list of conversations, found a "
                          f"{type(data).__name__}", file=path)
    records, rejects = flatten_conversations(data, mapping)
    fields = ["source_row", *REQUIRED_FIELDS, *OPTIONAL_FIELDS]
    table = pa.table({f: pa.array([r[f] for r in records],
                                  type=pa.int64() if f == "source_row" else pa.string())
                      for f in fields})
    con.register("json_records", table)
    con.execute("CREATE TABLE records AS SELECT * FROM json_records")
    con.unregister("json_records")
    con.execute("CREATE TABLE parse_rejects (source_row BIGINT, reason VARCHAR, detail VARCHAR)")
    if rejects:
        con.register("json_rejects", pa.Table.from_pylist(rejects))
        con.execute("INSERT INTO parse_rejects SELECT source_row, reason, detail FROM json_rejects")
        con.unregister("json_rejects")
    return {"conversations": len(data)}
