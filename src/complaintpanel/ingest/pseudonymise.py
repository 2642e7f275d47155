"""Keyed pseudonyms for customers: HMAC-SHA256 of the lower-cased handle, in Python and in SQL.

Customer identifiers (``author_id`` of customer tweets, and every ``@handle`` in tweet text that is
not a known brand handle) are replaced by ``pseudonym(handle)`` = ``"c"`` + the first 16 hex digits
of HMAC-SHA256(key, lower(handle)) before anything is written. Lower-casing follows Twitter, whose
screen names are case-insensitive, so ``@JohnDoe`` in a reply and the author ``johndoe`` get the
same pseudonym. 64 bits make a collision among a million customers about a 1-in-30-million event.

The key comes, in this order, from an explicit argument, from the environment variable named by
:attr:`complaintpanel.config.IngestConfig.key_env` (``COMPLAINTPANEL_KEY``), or from a key file that
is generated once beside the data (``<parent of the output folder>/pseudonymisation.key``, e.g.
``data/interim/pseudonymisation.key``; git ignores ``*.key``). The same key always gives the same
pseudonyms, so runs are reproducible and a simulator's truth can be joined by hashing its raw ids.

Decisions (``docs/privacy.md`` has the user's side: rotation, a lost key):

* A key must have at least :data:`MIN_KEY_BYTES` (16 bytes, 128 bits) once surrounding white
  space is removed, from whichever source; anything shorter — an empty key file, a variable set
  but empty, ``COMPLAINTPANEL_KEY=x`` — is refused with :class:`PseudonymisationKeyError`, since
  HMAC under a guessable key is a hash anyone can recompute from the handles they know. A
  generated key is 32 random bytes written as 64 hex digits (the digits themselves are the key).
* The key file appears whole or not at all: the key is written to a temporary file in the same
  folder (owner-only permissions), flushed to disk, then hard-linked to its final name, which
  fails if the name exists — so concurrent first runs agree on one key, a reader never sees a
  partly written file, and an existing key is never overwritten. On file systems without hard
  links the temporary file is renamed into place only if no key file exists yet.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import re
import secrets
import string
import tempfile
from pathlib import Path

from complaintpanel.errors import PipelineError

__all__ = [
    "KEY_FILE_NAME",
    "MIN_KEY_BYTES",
    "PSEUDONYM_HEX_DIGITS",
    "PseudonymisationKeyError",
    "is_brand_sql",
    "key_file_for",
    "pseudonym",
    "pseudonym_sql",
    "pseudonymise_text_query",
    "pseudonymise_texts",
    "resolve_key",
]

KEY_FILE_NAME = "pseudonymisation.key"
# Shortest key accepted (bytes, after removing surrounding white space): 128 bits.
MIN_KEY_BYTES = 16
_GENERATED_KEY_BYTES = 32
PSEUDONYM_HEX_DIGITS = 16
_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)

# "@word" with an optional run of word characters glued to its front: a mention when that run is
# empty, part of an address ("name@host") otherwise, which is left alone. \w is ASCII in RE2, as
# in Twitter handles.
_MENTION_PATTERN = r"\w*@\w+"
# E-mail addresses are masked as a whole (the IBM data contains some), before handles are looked at.
_EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
EMAIL_MASK = "<email>"
# For Python (re.ASCII: \w is ASCII, as in RE2): the e-mail pattern, the run of word
# characters after an "@", and the characters a word run and an address's local part are made of.
_EMAIL_RE = re.compile(_EMAIL_PATTERN, re.ASCII)
_WORD_RUN = re.compile(r"\w+", re.ASCII)
_WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + "._%+-")


def key_file_for(out_dir: str | os.PathLike[str]) -> Path:
    """Return where a generated key lives for ``out_dir``: beside it, in its parent folder."""
    return Path(out_dir).resolve().parent / KEY_FILE_NAME


class PseudonymisationKeyError(PipelineError):
    """The pseudonymisation key is too short, or its file cannot be read or created."""


def resolve_key(
    out_dir: str | os.PathLike[str],
    key_env: str = "COMPLAINTPANEL_KEY",
    key: bytes | str | None = None,
) -> tuple[bytes, str]:
    """Return the pseudonymisation key and a description of where it came from.

    Parameters
    ----------
    out_dir : path-like
        The ingest output folder; a generated key is stored in its parent folder.
    key_env : str
        Name of the environment variable that may hold the key (any string; used as UTF-8
        bytes). A variable that is set, even to an empty string, is used (and checked).
    key : bytes or str, optional
        An explicit key, which wins over the environment and the key file.

    Returns
    -------
    key : bytes
    source : str
        ``"argument"``, ``"env:NAME"`` or ``"file:PATH"`` (never the key itself).

    Raises
    ------
    PseudonymisationKeyError
        When the key has fewer than :data:`MIN_KEY_BYTES` bytes (surrounding white space aside),
        or the key file cannot be read or created.
    """
    if key is not None:
        value = key.encode() if isinstance(key, str) else bytes(key)
        return _checked(value, "the key given as an argument"), "argument"
    from_env = os.environ.get(key_env)
    if from_env is not None:
        return _checked(from_env.encode(), f"${key_env}"), f"env:{key_env}"
    path = key_file_for(out_dir)
    try:
        if not path.exists():
            _create_key_file(path)
        stored = path.read_bytes().strip()
    except OSError as error:
        raise PseudonymisationKeyError(
            f"cannot read or create the pseudonymisation key file ({error.strerror or error})",
            file=path) from None
    return _checked(stored, "the key file", file=path), f"file:{path}"


def _checked(value: bytes, where: str, file: Path | None = None) -> bytes:
    """Return ``value`` if it is long enough to be a key, else raise (never echoing it)."""
    length = len(value.strip())
    if length >= MIN_KEY_BYTES:
        return value
    fix = ("delete the file to have a new random key generated (pseudonyms made with a short "
           "key are guessable: ingest every dataset again)" if file is not None
           else "use a random key, e.g. python -c 'import secrets; print(secrets.token_hex(32))'")
    raise PseudonymisationKeyError(
        f"{where} is {'empty' if length == 0 else f'{length} bytes'}; a pseudonymisation key "
        f"needs at least {MIN_KEY_BYTES} bytes ({8 * MIN_KEY_BYTES} bits): {fix}", file=file)


def _create_key_file(path: Path) -> None:
    """Create ``path`` holding a new random key, atomically; keep a key file that exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with owner-only permissions (0600).
    handle, temporary = tempfile.mkstemp(prefix=f".{KEY_FILE_NAME}.", dir=path.parent)
    try:
        os.write(handle, (secrets.token_hex(_GENERATED_KEY_BYTES) + "\n").encode())
        os.fsync(handle)
        os.close(handle)
        handle = -1
        try:
            os.link(temporary, path)  # fails if a key file exists: it is never replaced
        except FileExistsError:
            pass  # another run created it first; everyone uses that one
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if not path.exists():  # no hard links here (e.g. FAT, some network shares)
                os.rename(temporary, path)
        _sync_folder(path.parent)
    finally:
        if handle >= 0:
            os.close(handle)
        Path(temporary).unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk, so a new key file survives a crash (POSIX only)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def pseudonym(handle: str, key: bytes) -> str:
    """Keyed pseudonym of one customer handle (same result as the SQL macro).

    Parameters
    ----------
    handle : str
        Customer ``author_id`` or screen name, without the leading ``@``.
    key : bytes
        Pseudonymisation key.

    Returns
    -------
    str
        ``"c"`` followed by 16 lower-case hex digits.
    """
    digest = hmac.new(key, handle.lower().encode(), hashlib.sha256).hexdigest()
    return "c" + digest[:PSEUDONYM_HEX_DIGITS]


def _padded_keys(key: bytes) -> tuple[str, str]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in key)
    outer = bytes(b ^ 0x5C for b in key)
    return inner.hex(), outer.hex()


def pseudonym_sql(handle: str, key: bytes) -> str:
    """Return SQL computing :func:`pseudonym` of the SQL expression ``handle``.

    HMAC is written out from its definition (RFC 2104) with the engine's SHA-256 on binary
    strings, so that millions of handles are hashed inside the engine instead of one Python call
    per handle. The expression is DuckDB SQL that SQLGlot translates for Spark
    (:mod:`complaintpanel.runtime.engines`); it is inlined rather than a macro because Spark
    has none.
    """
    inner, outer = _padded_keys(key)
    return (f"('c' || left(sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') "
            f"|| encode(lower({handle}))))), {PSEUDONYM_HEX_DIGITS}))")


def _addressable(handles: list[str] | tuple[str, ...]) -> set[str]:
    """Lower-cased handles that can be addressed with ``@`` (plain word characters)."""
    return {h.lower() for h in handles if h and re.fullmatch(r"\w+", h)}


def is_brand_sql(handle: str, handles: list[str] | tuple[str, ...]) -> str:
    """Return SQL testing whether the SQL expression ``handle`` is one of ``handles``.

    Any case matches. Handles that are not plain word characters cannot be addressed with
    ``@`` and are ignored.
    """
    cleaned = sorted(_addressable(handles))
    if not cleaned:
        return "false"
    # One compiled alternation is faster than a list lookup per token.
    return f"regexp_full_match(lower({handle}), '{'|'.join(cleaned)}')"


def pseudonymise_texts(texts: list[str], key: bytes, brand_handles: list[str] | tuple[str, ...]
                       ) -> tuple[list[str], list[str | None]]:
    r"""Pseudonymise texts in Python exactly as :func:`pseudonymise_text_query` does in SQL.

    E-mail addresses are masked, then every ``@handle`` that is not a brand handle becomes ``@``
    + :func:`pseudonym` (each distinct handle hashed once); the same regular expressions, ASCII
    ``\w`` as in RE2. Used on DuckDB for the few texts with a mention after their start, whose
    rewriting in SQL (split, list lambdas, one HMAC per mention) costs several times more.

    Parameters
    ----------
    texts : list of str
        Texts to rewrite.
    key : bytes
        Pseudonymisation key.
    brand_handles : list of str
        Handles that stay as they are (any case).

    Returns
    -------
    texts : list of str
        The rewritten texts.
    brand_mentions : list of str or None
        The lower-cased first brand handle each text addresses, or ``None``.
    """
    brands = _addressable(brand_handles)
    keys: dict[str, str] = {}
    # HMAC from its definition with the padded keys hashed once (RFC 2104), as pseudonym().
    inner_pad, outer_pad = (bytes.fromhex(h) for h in _padded_keys(key))
    inner, outer = hashlib.sha256(inner_pad), hashlib.sha256(outer_pad)
    rewritten: list[str] = []
    mentioned: list[str | None] = []
    for text in texts:
        at = text.find("@")
        # An address needs a local-part character just before an "@": only then the pattern.
        while at >= 0:
            if at > 0 and text[at - 1] in _LOCAL_CHARS:
                text = _EMAIL_RE.sub(EMAIL_MASK, text)
                break
            at = text.find("@", at + 1)
        # The matches of _MENTION_PATTERN (\w*@\w+, leftmost, not overlapping), found from the
        # "@"s: a match runs from the word run before its "@" (not reaching back into the
        # previous match) through the word run after it; with a word run before, it is part of
        # an address and stays as it is.
        pieces: list[str] = []
        first_brand = None
        copied = matched_to = 0
        at = text.find("@")
        while at >= 0:
            run = _WORD_RUN.match(text, at + 1)
            if run is None:  # no word character after this "@": no match starts before it
                at = text.find("@", at + 1)
                continue
            end = run.end()
            if not (at > matched_to and text[at - 1] in _WORD_CHARS):
                handle = run.group().lower()
                if handle in brands:
                    first_brand = first_brand or handle
                else:
                    key_of = keys.get(handle)
                    if key_of is None:
                        hashed, outer_hash = inner.copy(), outer.copy()
                        hashed.update(handle.encode())
                        outer_hash.update(hashed.digest())
                        key_of = keys[handle] = ("@c"
                                                 + outer_hash.hexdigest()[:PSEUDONYM_HEX_DIGITS])
                    pieces += (text[copied:at], key_of)
                    copied = end
            matched_to = end
            at = text.find("@", end)
        rewritten.append("".join((*pieces, text[copied:])) if pieces else text)
        mentioned.append(first_brand)
    return rewritten, mentioned


def pseudonymise_text_query(
    source: str,
    text_col: str,
    keep: list[str],
    key: bytes,
    brand_handles: list[str] | tuple[str, ...],
    lookup: str | None = None,
    rewritten: str | None = None,
) -> str:
    """Build the SQL query that pseudonymises the handles in ``text_col`` of ``source``.

    E-mail addresses are masked as ``<email>``; every ``@handle`` that is not a brand handle becomes
    ``@`` + its pseudonym; everything else is left byte for byte. Texts without ``@`` pass through,
    and texts whose only ``@`` opens them (most tweets: ``@brand …`` or ``@customer …``) take a
    fast path of plain string operations; the rest are split into mentions and the text between.

    Parameters
    ----------
    source : str
        Relation (table or subquery) to read.
    text_col : str
        Name of the text column in ``source``.
    keep : list of str
        Other columns of ``source`` to pass through.
    key : bytes
        Pseudonymisation key.
    brand_handles : list of str
        Handles that stay as they are (any case).
    lookup : str, optional
        Table ``(handle, pseudonym)`` of lower-cased handles already hashed (e.g. the customer
        authors); the handle opening a text is looked up there before being hashed.
    rewritten : str, optional
        Relation ``(pre_row, pre_text, pre_brand)`` holding, for every text with an ``@``
        after its start, the result of :func:`pseudonymise_texts` keyed by the first ``keep``
        column; those texts are then taken from it instead of being rewritten in SQL.

    Returns
    -------
    str
        A query (DuckDB dialect, portable to Spark) with the ``keep`` columns, ``text``
        (pseudonymised) and ``brand_mention`` (the lower-cased first brand handle addressed in
        the text, or NULL).
    """
    cols = ", ".join(keep)
    lead_key = pseudonym_sql("lead_handle", key)
    lookup_join = ""
    if lookup:
        lead_key = f"coalesce(known.pseudonym, {lead_key})"
        lookup_join = f"LEFT JOIN {lookup} known ON known.handle = lower(lead_handle)"
    # The masked text and its mentions are computed once per text (kind 2 only), then reused.
    masked = f"regexp_replace(raw_text, '{_EMAIL_PATTERN}', '{EMAIL_MASK}', 'g')"
    mentions = f"regexp_extract_all(masked, '{_MENTION_PATTERN}', 0)"
    is_brand_tok = is_brand_sql("substr(tok, 2)", brand_handles)
    rewrite = (f"lambda tok: CASE WHEN left(tok, 1) <> '@' OR {is_brand_tok} THEN tok "
               f"ELSE '@' || {pseudonym_sql('substr(tok, 2)', key)} END")
    # The text is the pieces between mentions, interleaved with the rewritten mentions (one
    # fewer); lists are indexed with list_extract, 1-based in DuckDB and (translated) Spark.
    general_text = ("array_to_string(list_transform(generate_series(1, array_length(parts)), "
                    "lambda i: list_extract(parts, i) || coalesce(list_extract(rewritten, i), '')"
                    "), '')")
    general_brand = (f"lower(substr(list_extract(list_filter(mentions, "
                     f"lambda tok: left(tok, 1) = '@' AND {is_brand_tok}), 1), 2))")
    lead_brand = is_brand_sql("lead_handle", brand_handles)
    # 0: no @; 1: one leading @handle only; 2: any other @ (both queries start from this)
    staged = f"""WITH staged AS (
        SELECT {cols}, {text_col} AS raw_text,
               CASE WHEN {text_col} IS NULL OR NOT contains({text_col}, '@') THEN 0
                    WHEN starts_with({text_col}, '@') AND {text_col} NOT LIKE '@%@%' THEN 1
                    ELSE 2 END AS at_kind
        FROM {source}
    ),"""
    if rewritten:
        return f"""
    {staged} flagged AS (
        SELECT *, coalesce(lead_handle <> '' AND {lead_brand}, false) AS lead_brand
        FROM (SELECT *, CASE WHEN at_kind = 1 THEN regexp_extract(raw_text, '^@(\\w+)', 1) END
                        AS lead_handle
              FROM staged)
    )
    SELECT {cols},
           CASE at_kind WHEN 0 THEN raw_text
                WHEN 1 THEN CASE WHEN lead_handle = '' OR lead_brand THEN raw_text
                                 ELSE '@' || {lead_key}
                                      || substr(raw_text, length(lead_handle) + 2) END
                ELSE pre.pre_text END AS text,
           CASE at_kind WHEN 1 THEN CASE WHEN lead_brand THEN lower(lead_handle) END
                WHEN 2 THEN pre.pre_brand END AS brand_mention
    FROM flagged {lookup_join}
    LEFT JOIN {rewritten} pre ON pre.pre_row = flagged.{keep[0]} AND flagged.at_kind = 2
    """
    return f"""
    {staged} with_lead AS (
        SELECT *, CASE WHEN at_kind = 1 THEN regexp_extract(raw_text, '^@(\\w+)', 1) END
                  AS lead_handle,
               CASE WHEN at_kind = 2 THEN {masked} END AS masked
        FROM staged
    ), with_mentions AS (
        SELECT *, CASE WHEN at_kind = 2 THEN string_split_regex(masked, '{_MENTION_PATTERN}')
                    END AS parts,
               CASE WHEN at_kind = 2 THEN {mentions} END AS mentions
        FROM with_lead
    ), with_rewritten AS (
        SELECT *, CASE WHEN at_kind = 2 THEN list_transform(mentions, {rewrite}) END
                  AS rewritten,
               CASE WHEN at_kind = 2 THEN {general_brand} END AS general_brand
        FROM with_mentions
    ), flagged AS (
        SELECT *, coalesce(lead_handle <> '' AND {lead_brand}, false) AS lead_brand
        FROM with_rewritten
    )
    SELECT {cols},
           CASE at_kind WHEN 0 THEN raw_text
                WHEN 1 THEN CASE WHEN lead_handle = '' OR lead_brand THEN raw_text
                                 ELSE '@' || {lead_key}
                                      || substr(raw_text, length(lead_handle) + 2) END
                ELSE {general_text} END AS text,
           CASE at_kind WHEN 1 THEN CASE WHEN lead_brand THEN lower(lead_handle) END
                WHEN 2 THEN general_brand END AS brand_mention
    FROM flagged {lookup_join}
    """
