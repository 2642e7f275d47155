"""Validation of raw string records on the engine: typed values and a reason for every reject.

Creates ``checked`` from ``records`` (see :mod:`complaintpanel.ingest.sources`): the typed
``tweet_id_value``, ``is_customer``, ``created_ts``, ``irt_value``, the first failing check
(``reason``) and the first failing check of every field (``detail``). The checks, in order:

* ids must be plain non-negative integers (``3`` or ``3.0``); spreadsheet scientific notation
  (``5.70306E+17``) is rejected as such, never expanded;
* ``inbound`` must spell a boolean (True/False/TRUE/FALSE/true/1/0/yes/no …);
* ``created_at`` must be Twitter's ``Tue Oct 31 22:10:47 +0000 2017`` or ISO 8601 with a UTC
  offset (a mapping may declare the offset of naive times); day-first dates are never guessed;
  and it must lie within the hard bounds of ``[ingest]`` (:mod:`complaintpanel.ingest.dates`);
* an author on the mapping's ``[brands] authors`` list writes brand tweets, whatever the
  layout says;
* a tweet may not answer itself; a later record repeating a kept ``tweet_id`` is a duplicate.

Most records are valid, so one cheap test lets them skip the chain of diagnostic checks, and
numbers take a fast round-trip path before any regular expression.

The SQL is DuckDB's dialect, kept to what :mod:`complaintpanel.runtime.engines` runs unchanged
in meaning on Spark: timestamps are brought to one canonical ISO form before a cast (the
engines' casts accept different spellings), and Twitter's weekday is checked by pattern and
cut off before the rest is parsed (Spark's parser cannot parse weekday names).
"""

from __future__ import annotations

from complaintpanel.ingest.mapping import Mapping
from complaintpanel.runtime.engines import DuckDBEngine, Engine

__all__ = ["REJECT_REASONS", "RESPONSE_LIST_ISSUES", "derive_parents",
           "response_list_issue_sql", "validate"]

# Every reason a record can be rejected for, roughly in the order the checks run (layouts with
# parent tweets add "parent_"-prefixed reasons to the report, never to rejects).
REJECT_REASONS = (
    "too_few_fields", "too_many_fields", "bad_quoting", "invalid_encoding", "nul_byte",
    "record_too_long", "unparseable_record", "malformed_conversation",
    "tweet_id_missing", "tweet_id_scientific_notation", "tweet_id_invalid",
    "author_id_missing", "author_id_scientific_notation",
    "inbound_missing", "inbound_invalid",
    "created_at_missing", "created_at_no_timezone", "created_at_unparseable",
    "created_at_out_of_range",
    "in_reply_to_scientific_notation", "in_reply_to_invalid", "in_reply_to_self",
    "duplicate_tweet_id", "duplicate_across_files", "duplicate_conflicting",
)

_SCI = r"[+-]?[0-9]*\.?[0-9]+[eE][+-]?[0-9]+"
_INT = r"[0-9]{1,19}(\.0*)?"
_OFFSET = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)"
_ISO = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
# Twitter's own format: "Tue Oct 31 22:10:47 +0000 2017".
_TWITTER = (r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} "
            r"[+-][0-9]{4} [0-9]{4}")
# A reply id is given unless empty or a spelling of "missing".
_irt_given = "irt IS NOT NULL AND lower(trim(irt)) NOT IN ('', 'nan', 'null', 'none')"
_FIELDS = ("tweet_id", "author_id", "inbound", "created_at", "in_reply_to")
_TRUE = ("true", "t", "1", "1.0", "yes", "y")
_FALSE = ("false", "f", "0", "0.0", "no", "n")


def _tidy(expr: str) -> str:
    """Return SQL for ``expr`` without surrounding spaces (``trim`` only where needed)."""
    return (f"CASE WHEN starts_with({expr}, ' ') OR ends_with({expr}, ' ') THEN trim({expr}) "
            f"ELSE {expr} END")


def _int_sql(expr: str) -> str:
    """Return SQL for ``expr`` as BIGINT if a plain integer (``3`` or ``3.0``), else NULL."""
    # DuckDB's cast is lenient ('5.70306E+17', '0x1F', '1_000' all cast), so a value counts only
    # if it prints back as the same text (the fast, common case) or matches the strict pattern.
    # pandas writes float columns as "3.0": strip that suffix before the round trip.
    base = (f"CASE WHEN ends_with({expr}, '.0') THEN left({expr}, length({expr}) - 2) "
            f"ELSE {expr} END")
    value = f"try_cast({base} AS BIGINT)"
    return (f"CASE WHEN {value} >= 0 AND {value}::VARCHAR = {base} THEN {value} "
            f"WHEN regexp_full_match(trim({expr}), '{_INT}') "
            f"THEN try_cast(split_part(trim({expr}), '.', 1) AS BIGINT) END")


def _offset_sql(offset: str) -> str:
    """Return SQL normalising a UTC offset (``Z``, ``+05``, ``+0530``, ``+05:30``) to ``+05:30``."""
    digits = f"replace({offset}, ':', '')"
    return (f"CASE WHEN {offset} = 'Z' THEN '+00:00' ELSE left({digits}, 3) || ':' || "
            f"CASE WHEN length({digits}) = 5 THEN right({digits}, 2) ELSE '00' END END")


def _iso_sql(value: str, offset: str) -> str:
    """Return SQL casting an ISO date-time ``value`` with ``offset`` via one canonical form.

    ``YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM`` is read alike by DuckDB and Spark; ``T`` becomes a
    space and missing seconds become ``:00``.
    """
    date = f"left({value}, 10)"
    clock = f"substr({value}, 12)"
    clock = f"CASE WHEN length({clock}) = 5 THEN {clock} || ':00' ELSE {clock} END"
    return f"try_cast({date} || ' ' || {clock} || {_offset_sql(offset)} AS TIMESTAMPTZ)"


def _typed_sql(prefix: str, assume: str | None, brand_authors: tuple[str, ...] = ()) -> str:
    """Typed values of the fields ``{prefix}tid`` … (``prefix`` is "" or "p_" for parents)."""
    p = prefix
    cat = f"trim({p}cat)"
    # Group 1: the date-time; group 4: the offset (groups 2-3 are inside _ISO).
    iso_value = f"regexp_extract({cat}, '^({_ISO}) ?{_OFFSET}$', 1)"
    iso_offset = f"regexp_extract({cat}, '^({_ISO}) ?{_OFFSET}$', 4)"
    naive_ts = _iso_sql(cat, f"'{assume}'") if assume else "NULL"
    truthy = ", ".join(f"'{v}'" for v in _TRUE)
    falsy = ", ".join(f"'{v}'" for v in _FALSE)
    parsed = (f"CASE WHEN {p}inb = 'True'::VARCHAR THEN true "
              f"WHEN {p}inb = 'False'::VARCHAR THEN false "
              f"WHEN lower(trim({p}inb)) IN ({truthy}) THEN true "
              f"WHEN lower(trim({p}inb)) IN ({falsy}) THEN false END")
    brands = sorted({h.lower().replace("'", "''") for h in brand_authors})
    if brands:  # brand accounts on the mapping's list write brand tweets, whatever the layout says
        listed = ", ".join(f"'{h}'" for h in brands)
        parsed = (f"CASE WHEN lower({p}aid) IN ({listed}) AND ({parsed}) IS NOT NULL THEN false "
                  f"ELSE {parsed} END")
    return f"""
        {_int_sql(f"{p}tid")} AS {p}tweet_id_value,
        {parsed} AS {p}is_customer,
        CASE WHEN regexp_full_match({p}cat, '{_TWITTER}')  -- the common case: no trimming
                 THEN try_strptime(substr({p}cat, 5), '%b %d %H:%M:%S %z %Y')
             WHEN regexp_full_match({cat}, '{_TWITTER}')
                 THEN try_strptime(substr({cat}, 5), '%b %d %H:%M:%S %z %Y')
             WHEN regexp_full_match({cat}, '{_ISO} ?{_OFFSET}')
                 THEN {_iso_sql(iso_value, iso_offset)}
             WHEN regexp_full_match({cat}, '{_ISO}') THEN {naive_ts}
        END AS {p}created_ts"""


def _reason_sql(prefix: str, bounds: tuple[int, int]) -> list[tuple[str, str]]:
    """(condition, reason) pairs in the order the checks run, for fields with ``prefix``.

    ``bounds`` are the earliest and latest plausible ``created_at`` in epoch microseconds.
    """
    p = prefix
    low, high = bounds
    return [
        (f"{p}tid IS NULL OR trim({p}tid) = ''", "tweet_id_missing"),
        (f"regexp_full_match(trim({p}tid), '{_SCI}')", "tweet_id_scientific_notation"),
        (f"{p}tweet_id_value IS NULL", "tweet_id_invalid"),
        (f"{p}aid IS NULL OR {p}aid = ''", "author_id_missing"),
        (f"regexp_full_match({p}aid, '{_SCI}')", "author_id_scientific_notation"),
        (f"{p}inb IS NULL OR trim({p}inb) = ''", "inbound_missing"),
        (f"{p}is_customer IS NULL", "inbound_invalid"),
        (f"{p}cat IS NULL OR trim({p}cat) = ''", "created_at_missing"),
        (f"{p}created_ts IS NULL AND regexp_full_match(trim({p}cat), '{_ISO}')",
         "created_at_no_timezone"),
        (f"{p}created_ts IS NULL", "created_at_unparseable"),
        (f"NOT (epoch_us({p}created_ts) BETWEEN {low} AND {high})", "created_at_out_of_range"),
    ]


# Flags of a response-id list (``[checks] response_list``), which is never used for links.
RESPONSE_LIST_ISSUES = ("thousands_separated", "hash_marks", "scientific_notation",
                        "not_a_list")


def response_list_issue_sql(expr: str) -> str:
    """Return SQL naming what is wrong with the response-id list ``expr`` (NULL when nothing).

    A spreadsheet reads a list such as ``1775,1776`` as the number 17751776 and writes it back
    with thousands separators (``"17,751,776"``): the ids cannot be recovered from the field.
    A value of one to three digits followed by groups of exactly three is flagged
    ``thousands_separated``; a genuine list of three-digit ids after the first (ids below 1000
    only) reads the same and is flagged too, which costs nothing since the field is never used.
    ``#####`` (a column too narrow to display) is ``hash_marks``.
    """
    # Most values are empty or one id (printed back the same: DuckDB's cast also takes 1E+3):
    # those skip the regular expressions.
    return (f"CASE WHEN {expr} IS NULL OR {expr} = '' THEN NULL "
            f"WHEN NOT contains({expr}, ',') AND try_cast({expr} AS BIGINT) >= 0 "
            f"AND try_cast({expr} AS BIGINT)::VARCHAR = {expr} THEN NULL "
            f"WHEN trim({expr}) IN ('', 'nan', 'NaN', 'None', 'null') THEN NULL "
            f"WHEN regexp_full_match(trim({expr}), '[0-9]{{1,3}}(,[0-9]{{3}})+') "
            f"THEN 'thousands_separated' "
            f"WHEN regexp_full_match({expr}, ' *[0-9]+(\\.0)?( *, *[0-9]+(\\.0)?)* *') "
            f"THEN NULL "
            f"WHEN regexp_full_match(trim({expr}), '#+') THEN 'hash_marks' "
            f"WHEN regexp_full_match(trim({expr}), '{_SCI}') THEN 'scientific_notation' "
            f"ELSE 'not_a_list' END")


def validate(engine: Engine, mapping: Mapping, bounds: tuple[int, int]) -> None:
    """Create ``checked``: typed values, the first failing check (``reason``) and all of them.

    Parameters
    ----------
    engine : Engine
        Holds ``records`` (see :mod:`complaintpanel.ingest.sources`).
    mapping : Mapping
        The layout (timezone of naive times, brand authors, parent columns).
    bounds : tuple of int
        Earliest and latest plausible ``created_at``, microseconds since 1970-01-01 UTC
        (:func:`complaintpanel.ingest.dates.bounds_us`).
    """
    extras = "".join(f', "x_{c}"' for c in mapping.extra_columns)
    has_parent = bool(mapping.parent_columns)
    parent_cols = (f", p_tweet_id AS p_tid, {_tidy('p_author_id')} AS p_aid, "
                   "p_inbound AS p_inb, p_created_at AS p_cat"
                   if has_parent else "")
    parent_typed = ("," + _typed_sql("p_", mapping.assume_timezone, mapping.brand_authors)
                    if has_parent else "")
    checks = [*_reason_sql("", bounds),
              (f"{_irt_given} AND regexp_full_match(trim(irt), '{_SCI}')",
               "in_reply_to_scientific_notation"),
              (f"{_irt_given} AND irt_value IS NULL", "in_reply_to_invalid"),
              ("irt_value = tweet_id_value", "in_reply_to_self")]
    first = " ".join(f"WHEN {cond} THEN '{reason}'" for cond, reason in checks)
    # `detail` lists the first failing check of every field (a record can fail several).
    groups: dict[str, list[tuple[str, str]]] = {}
    for cond, reason in checks:
        field = next(f for f in _FIELDS if reason.startswith(f))
        groups.setdefault(field, []).append((cond, reason))
    every = ", ".join(
        "CASE " + " ".join(f"WHEN {c} THEN '{r}'" for c, r in group) + " END"
        for group in groups.values())
    # Most records are valid: one cheap test lets them skip the chain of diagnostic checks.
    valid = (f"tweet_id_value IS NOT NULL AND aid <> '' AND is_customer IS NOT NULL "
             f"AND created_ts IS NOT NULL "
             f"AND epoch_us(created_ts) BETWEEN {bounds[0]} AND {bounds[1]} "
             f"AND (irt_value IS NOT NULL OR NOT ({_irt_given})) "
             f"AND coalesce(irt_value <> tweet_id_value, true) "
             f"AND NOT ((contains(aid, 'e') OR contains(aid, 'E')) "
             f"AND regexp_full_match(aid, '{_SCI}'))")
    parent_reason = ""
    if has_parent:
        p_first = " ".join(f"WHEN {cond} THEN 'parent_{reason}'"
                           for cond, reason in _reason_sql("p_", bounds))
        parent_reason = f", CASE {p_first} END AS p_reason"
    parent_out = (", p_tid, p_aid, p_tweet_id_value, p_is_customer, p_created_ts, p_reason"
                  if has_parent else "")
    has_responses = "responses" in engine.columns("records")
    responses_in = ", responses" if has_responses else ""
    responses_out = (f", {response_list_issue_sql('responses')} AS response_list_issue"
                     if has_responses else "")
    engine.create_table("checked_first", f"""
        SELECT source_row, tid, aid, brand{extras}, text, tweet_id_value, is_customer, created_ts,
               irt_value, reason{parent_out}{responses_out},
               CASE WHEN reason IS NOT NULL THEN nullif(concat_ws(';', {every}), '') END
               AS detail
        FROM (
            SELECT *, CASE WHEN {valid} THEN NULL ELSE CASE {first} END END AS reason
                   {parent_reason}
            FROM (
                SELECT *, {_typed_sql("", mapping.assume_timezone, mapping.brand_authors)},
                    {_int_sql("irt")} AS irt_value
                    {parent_typed}
                FROM (
                    SELECT source_row, tweet_id AS tid, {_tidy("author_id")} AS aid,
                           inbound AS inb, created_at AS cat, text, in_reply_to AS irt,
                           nullif({_tidy("brand")}, '') AS brand
                           {extras}{parent_cols}{responses_in}
                    FROM records
                )
            )
        )
    """)
    # Duplicates among otherwise valid records: keep the first in file order.
    engine.create_table("duplicate_ids", """
        SELECT tweet_id_value, min(source_row) AS first_row FROM checked_first
        WHERE reason IS NULL GROUP BY tweet_id_value HAVING count(*) > 1
    """)
    if engine.rows("SELECT count(*) FROM duplicate_ids")[0][0] == 0:  # the common case
        engine.drop("duplicate_ids")
        engine.rename("checked_first", "checked")
        return
    if isinstance(engine, DuckDBEngine):
        # A few records among millions: marked in place (rewriting the table copies every
        # text). ingest() turns off DuckDB's automatic checkpoint, which an UPDATE after a
        # large load would trigger (compressing every in-memory table).
        engine.con.execute("""
            UPDATE checked_first c
            SET reason = 'duplicate_tweet_id',
                detail = 'first kept at record ' || CAST(d.first_row AS VARCHAR)
            FROM duplicate_ids d
            WHERE d.tweet_id_value = c.tweet_id_value AND c.reason IS NULL
              AND c.source_row <> d.first_row
        """)
        engine.drop("duplicate_ids")
        engine.rename("checked_first", "checked")
        return
    columns = [c for c in engine.columns("checked_first") if c not in ("reason", "detail")]
    duplicate = "d.first_row IS NOT NULL AND c.source_row <> d.first_row"
    engine.create_table("checked", f"""
        SELECT {", ".join(f'c."{name}"' for name in columns)},
               CASE WHEN {duplicate} THEN 'duplicate_tweet_id' ELSE c.reason END AS reason,
               CASE WHEN {duplicate} THEN 'first kept at record ' || CAST(d.first_row AS VARCHAR)
                    ELSE c.detail END AS detail
        FROM checked_first c
        LEFT JOIN duplicate_ids d ON d.tweet_id_value = c.tweet_id_value AND c.reason IS NULL
    """)
    engine.drop("checked_first")
    engine.drop("duplicate_ids")


def derive_parents(engine: Engine, mapping: Mapping) -> dict[str, int]:
    """Create ``parents``: tweets that kept records answer, described by the record (pairs layouts).

    Each parent id is added once (its first record wins) unless it is itself a kept record.
    """
    if not mapping.parent_columns:
        engine.create_table("parents", """
            SELECT CAST(NULL AS BIGINT) AS source_row, CAST(NULL AS BIGINT) AS tweet_id_value,
                   CAST(NULL AS VARCHAR) AS aid, CAST(NULL AS BOOLEAN) AS is_customer,
                   CAST(NULL AS TIMESTAMPTZ) AS created_ts
            FROM checked WHERE false
        """)
        return {}
    engine.create_table("parents", """
        SELECT source_row, tweet_id_value, aid, is_customer, created_ts
        FROM (
            SELECT c.source_row, c.p_tweet_id_value AS tweet_id_value, c.p_aid AS aid,
                   c.p_is_customer AS is_customer, c.p_created_ts AS created_ts,
                   row_number() OVER (PARTITION BY c.p_tweet_id_value ORDER BY c.source_row)
                       AS nth
            FROM checked c
            LEFT JOIN (SELECT DISTINCT tweet_id_value FROM checked WHERE reason IS NULL) k
                   ON k.tweet_id_value = c.p_tweet_id_value
            WHERE c.reason IS NULL AND c.p_reason IS NULL AND k.tweet_id_value IS NULL
        ) WHERE nth = 1
    """)
    (invalid_parents, distinct_descriptions, distinct_ids), = engine.rows("""
        SELECT (SELECT count(*) FROM checked WHERE reason IS NULL AND p_reason IS NOT NULL),
               (SELECT count(*) FROM (
                    SELECT DISTINCT p_tweet_id_value, p_aid, p_is_customer, p_created_ts
                    FROM checked WHERE reason IS NULL AND p_reason IS NULL)),
               (SELECT count(DISTINCT p_tweet_id_value) FROM checked
                WHERE reason IS NULL AND p_reason IS NULL)
    """)
    invalid = dict(engine.rows("SELECT p_reason, count(*) FROM checked WHERE reason IS NULL "
                               "AND p_reason IS NOT NULL GROUP BY p_reason ORDER BY p_reason"))
    return {"parents_invalid": invalid_parents,
            "parents_conflicting": distinct_descriptions - distinct_ids,
            "parents_invalid_by_reason": invalid}
